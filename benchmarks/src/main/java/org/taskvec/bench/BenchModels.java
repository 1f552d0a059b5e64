package org.taskvec.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.taskvec.synth.ModelShape;
import org.taskvec.synth.ModelSynthesizer;

/**
 * The model a benchmark runs on: {@code -Dtaskvec.bench.model=PATH}, or a generated model of
 * {@code -Dtaskvec.bench.shape} (default 1b, the TinyLlama-1.1B shape, F16) kept in the taskvec cache folder.
 */
final class BenchModels {
    private BenchModels() {}

    static Path model() {
        String explicit = System.getProperty("taskvec.bench.model");
        if (explicit != null && !explicit.isEmpty()) {
            return Path.of(explicit);
        }
        String shape = System.getProperty("taskvec.bench.shape", "1b");
        Path dir = cacheDir().resolve("models").resolve(shape + "-" + ModelSynthesizer.DEFAULT_SEED);
        Path model = dir.resolve(ModelSynthesizer.MODEL_FILE);
        if (!Files.exists(model)) {
            try {
                Files.createDirectories(dir);
                new ModelSynthesizer(ModelShape.byName(shape), ModelSynthesizer.DEFAULT_SEED).writeTextModel(model);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return model;
    }

    static Path cacheDir() {
        String env = System.getenv("TASKVEC_CACHE_DIR");
        if (env != null && !env.isEmpty()) {
            return Path.of(env);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        return (xdg != null && !xdg.isEmpty() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache"))
                .resolve("taskvec");
    }
}
