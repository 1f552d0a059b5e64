package org.taskvec.synth;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.taskvec.engine.CacheFolder;

/**
 * Generated models kept in the taskvec cache folder ({@code $TASKVEC_CACHE_DIR}, else
 * {@code $XDG_CACHE_HOME/taskvec}, else {@code ~/.cache/taskvec}) under {@code models/<shape>-<seed>/}, written
 * on first use.
 */
public final class GeneratedModels {
    private GeneratedModels() {}

    /** The folder of a generated shape and seed (not necessarily written yet). */
    public static Path dir(ModelShape shape, long seed) {
        return dir(CacheFolder.path(), shape, seed);
    }

    static Path dir(Path cache, ModelShape shape, long seed) {
        return cache.resolve("models").resolve(shape.name() + "-" + seed);
    }

    /**
     * The folder holding model.gguf and, when withProjector, mmproj.gguf; written if absent, and rewritten if a
     * cached file does not match the size and SHA-256 recorded when it was written or is not sound GGUF (a corrupt
     * cache entry is rebuilt, not trusted).
     */
    public static Path ensure(ModelShape shape, long seed, boolean withProjector) throws IOException {
        return ensure(CacheFolder.path(), shape, seed, withProjector);
    }

    static Path ensure(Path cache, ModelShape shape, long seed, boolean withProjector) throws IOException {
        Path dir = dir(cache, shape, seed);
        ModelSynthesizer synth = new ModelSynthesizer(shape, seed);
        Files.createDirectories(dir);
        Path model = dir.resolve(ModelSynthesizer.MODEL_FILE);
        if (!verified(model)) {
            writeChecked(model, synth::writeTextModel);
        }
        Path projector = dir.resolve(ModelSynthesizer.PROJECTOR_FILE);
        if (withProjector && !verified(projector)) {
            writeChecked(projector, synth::writeProjector);
        }
        return dir;
    }

    private interface Writer {
        void write(Path path) throws IOException;
    }

    /** Writes to a temporary file, moves it in place, then records its size and SHA-256 beside it. */
    private static void writeChecked(Path file, Writer writer) throws IOException {
        Path sidecar = sidecar(file);
        Files.deleteIfExists(sidecar);
        Path tmp = Files.createTempFile(file.getParent(), file.getFileName().toString(), ".tmp");
        try {
            writer.write(tmp);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
        Files.writeString(sidecar, Files.size(file) + " " + CacheFolder.sha256(file) + "\n");
    }

    /** Whether a cached file matches its recorded size and SHA-256 and passes the GGUF structural check. */
    static boolean verified(Path file) throws IOException {
        Path sidecar = sidecar(file);
        if (!Files.isRegularFile(file) || !Files.isRegularFile(sidecar)) {
            return false;
        }
        String[] rec = Files.readString(sidecar).strip().split(" ");
        return rec.length == 2 && rec[0].equals(String.valueOf(Files.size(file)))
                && rec[1].equals(CacheFolder.sha256(file))
                && sound(file);
    }

    private static Path sidecar(Path file) {
        return file.resolveSibling(file.getFileName() + ".sha256");
    }

    /** Whether a file exists and passes the GGUF structural check. */
    static boolean sound(Path file) {
        if (!Files.isRegularFile(file)) {
            return false;
        }
        try {
            org.taskvec.gguf.GgufReader.read(file);
            return true;
        } catch (IOException | org.taskvec.gguf.GgufFormatException e) {
            return false;
        }
    }
}
