package org.taskvec.synth;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Generated models kept in the taskvec cache folder ({@code $TASKVEC_CACHE_DIR}, else
 * {@code $XDG_CACHE_HOME/taskvec}, else {@code ~/.cache/taskvec}) under {@code models/<shape>-<seed>/}, written
 * on first use.
 */
public final class GeneratedModels {
    private GeneratedModels() {}

    /** The taskvec cache folder ({@link org.taskvec.engine.CacheFolder}). */
    public static Path cacheDir() {
        return org.taskvec.engine.CacheFolder.path();
    }

    /** The folder of a generated shape and seed (not necessarily written yet). */
    public static Path dir(ModelShape shape, long seed) {
        return dir(cacheDir(), shape, seed);
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
        return ensure(cacheDir(), shape, seed, withProjector);
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
        Files.writeString(sidecar, Files.size(file) + " " + sha256(file) + "\n");
    }

    /** Whether a cached file matches its recorded size and SHA-256 and passes the GGUF structural check. */
    static boolean verified(Path file) throws IOException {
        Path sidecar = sidecar(file);
        if (!Files.isRegularFile(file) || !Files.isRegularFile(sidecar)) {
            return false;
        }
        String[] rec = Files.readString(sidecar).strip().split(" ");
        return rec.length == 2 && rec[0].equals(String.valueOf(Files.size(file))) && rec[1].equals(sha256(file))
                && sound(file);
    }

    private static Path sidecar(Path file) {
        return file.resolveSibling(file.getFileName() + ".sha256");
    }

    static String sha256(Path file) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            try (InputStream in = Files.newInputStream(file)) {
                byte[] buf = new byte[1 << 20];
                for (int n; (n = in.read(buf)) > 0; ) {
                    md.update(buf, 0, n);
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
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
