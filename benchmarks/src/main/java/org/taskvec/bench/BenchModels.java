package org.taskvec.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import org.taskvec.synth.GeneratedModels;
import org.taskvec.synth.ModelShape;
import org.taskvec.synth.ModelSynthesizer;

/**
 * The model a benchmark runs on: {@code -Dtaskvec.bench.model=PATH}, or a generated model of
 * {@code -Dtaskvec.bench.shape} (default 1b, the TinyLlama-1.1B shape, F16) kept in the taskvec cache folder.
 */
final class BenchModels {
    private BenchModels() {}

    /** Session parameters of the benchmarks: a context of contextSize, threads (0 = the default). */
    static org.taskvec.engine.SessionParams params(int contextSize, int threads) {
        org.taskvec.engine.SessionParams p = org.taskvec.engine.SessionParams.defaults().withContextSize(contextSize);
        return threads > 0 ? p.withThreads(threads) : p;
    }

    static Path model() {
        String explicit = System.getProperty("taskvec.bench.model");
        if (explicit != null && !explicit.isEmpty()) {
            return Path.of(explicit);
        }
        ModelShape shape = ModelShape.byName(System.getProperty("taskvec.bench.shape", "1b"));
        try {
            return GeneratedModels.ensure(shape, ModelSynthesizer.DEFAULT_SEED, false)
                    .resolve(ModelSynthesizer.MODEL_FILE);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
