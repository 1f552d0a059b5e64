package org.taskvec;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.taskvec.synth.ModelShape;
import org.taskvec.synth.ModelSynthesizer;

/** Generated models shared by the tests: written once per JVM into target/test-models. */
public final class TestModels {
    private static Path dir;

    private TestModels() {}

    public static synchronized Path dir() {
        if (dir == null) {
            String base = System.getProperty("taskvec.test.models", "target/test-models");
            dir = Path.of(base);
            try {
                Path tiny = dir.resolve("tiny");
                if (!Files.exists(tiny.resolve(ModelSynthesizer.PROJECTOR_FILE))) {
                    new ModelSynthesizer(ModelShape.TINY, ModelSynthesizer.DEFAULT_SEED).writeAll(tiny);
                }
                // A second text model of the tiny shape with other weights: the "base LLM" of LLM->VLM runs.
                Path llm = dir.resolve("tiny-llm");
                if (!Files.exists(llm.resolve(ModelSynthesizer.MODEL_FILE))) {
                    Files.createDirectories(llm);
                    new ModelSynthesizer(ModelShape.TINY, 99).writeTextModel(llm.resolve(ModelSynthesizer.MODEL_FILE));
                }
                // A second tiny model of another width: its projector does not fit the first model.
                Path wide = dir.resolve("tiny-wide");
                if (!Files.exists(wide.resolve(ModelSynthesizer.PROJECTOR_FILE))) {
                    ModelShape w = new ModelShape("tiny-wide", 96, 2, 4, 4, 128, 1024,
                            org.taskvec.gguf.GgmlType.F32, 32, 8, 32, 1, 2, 64, org.taskvec.gguf.GgmlType.F32);
                    new ModelSynthesizer(w, 7).writeAll(wide);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return dir;
    }

    /** A generated model of a shape (another family's tiny shape), with its projector: written once per test folder. */
    public static synchronized Path generated(ModelShape shape) {
        Path d = dir().resolve(shape.name());
        try {
            if (!Files.exists(d.resolve(ModelSynthesizer.PROJECTOR_FILE))) {
                new ModelSynthesizer(shape, ModelSynthesizer.DEFAULT_SEED).writeAll(d);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return d;
    }

    public static Path tinyModel() {
        return dir().resolve("tiny").resolve(ModelSynthesizer.MODEL_FILE);
    }

    public static Path tinyProjector() {
        return dir().resolve("tiny").resolve(ModelSynthesizer.PROJECTOR_FILE);
    }

    public static Path tinyLlm() {
        return dir().resolve("tiny-llm").resolve(ModelSynthesizer.MODEL_FILE);
    }

    public static Path wideModel() {
        return dir().resolve("tiny-wide").resolve(ModelSynthesizer.MODEL_FILE);
    }

    public static Path wideProjector() {
        return dir().resolve("tiny-wide").resolve(ModelSynthesizer.PROJECTOR_FILE);
    }

    /** The tiny model with its projector (callers close it). */
    public static org.taskvec.engine.Model loadTinyWithProjector() {
        return org.taskvec.engine.Model.load(tinyModel(),
                org.taskvec.engine.ModelParams.defaults().withProjector(tinyProjector()));
    }

    public static int threads() {
        return Integer.getInteger("taskvec.test.threads", 2);
    }
}
