package org.taskvec.synth;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Generated models kept in the taskvec cache folder ({@code $TASKVEC_CACHE_DIR}, else
 * {@code $XDG_CACHE_HOME/taskvec}, else {@code ~/.cache/taskvec}) under {@code models/<shape>-<seed>/}, written
 * on first use.
 */
public final class GeneratedModels {
    private GeneratedModels() {}

    public static Path cacheDir() {
        String env = System.getenv("TASKVEC_CACHE_DIR");
        if (env != null && !env.isEmpty()) {
            return Path.of(env);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        return (xdg != null && !xdg.isEmpty() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache"))
                .resolve("taskvec");
    }

    /** The folder of a generated shape and seed (not necessarily written yet). */
    public static Path dir(ModelShape shape, long seed) {
        return cacheDir().resolve("models").resolve(shape.name() + "-" + seed);
    }

    /**
     * The folder holding model.gguf and, when withProjector, mmproj.gguf; written if absent, and rewritten if a
     * cached file is not sound GGUF (a corrupt cache entry is rebuilt, not trusted).
     */
    public static Path ensure(ModelShape shape, long seed, boolean withProjector) throws IOException {
        Path dir = dir(shape, seed);
        ModelSynthesizer synth = new ModelSynthesizer(shape, seed);
        Files.createDirectories(dir);
        if (!sound(dir.resolve(ModelSynthesizer.MODEL_FILE))) {
            synth.writeTextModel(dir.resolve(ModelSynthesizer.MODEL_FILE));
        }
        if (withProjector && !sound(dir.resolve(ModelSynthesizer.PROJECTOR_FILE))) {
            synth.writeProjector(dir.resolve(ModelSynthesizer.PROJECTOR_FILE));
        }
        return dir;
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
