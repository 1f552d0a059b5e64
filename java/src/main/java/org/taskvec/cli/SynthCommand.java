package org.taskvec.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.taskvec.synth.ModelShape;
import org.taskvec.synth.ModelSynthesizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code taskvec synth}: writes a generated random-weight model and projector. */
@Command(name = "synth", mixinStandardHelpOptions = true,
        description = "Write a generated random-weight model (model.gguf) and vision projector (mmproj.gguf).")
final class SynthCommand implements Callable<Integer> {
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "output folder")
    Path out;

    @Option(names = "--shape", defaultValue = "tiny", paramLabel = "SHAPE",
            description = "tiny (tests), 1b (TinyLlama-1.1B + CLIP ViT-L/14-336, F16), 7b (LLaMA-7B, Q8_0), "
                    + "organism (the model organism's template: width 128, 4 layers, tied output, 16 image tokens), "
                    + "or another family's tiny model: qwen25vl-tiny (Qwen2.5-VL), gemma3-tiny (Gemma 3), "
                    + "smolvlm-tiny (SmolVLM); default ${DEFAULT-VALUE}")
    String shape;

    @Option(names = "--seed", defaultValue = "" + ModelSynthesizer.DEFAULT_SEED, description = "weight seed")
    long seed;

    @Option(names = "--type", paramLabel = "F32|F16|Q8_0",
            description = "text-model weight type written directly (default: the shape's)")
    org.taskvec.gguf.GgmlType type;

    @Option(names = "--quantize", split = ",", paramLabel = "TYPE,TYPE",
            description = "also write model-TYPE.gguf for each type (Q8_0, Q4_K_M, ...), quantized by llama.cpp")
    java.util.List<String> quantize = new java.util.ArrayList<>();

    @Option(names = "--layers", paramLabel = "N", description = "text-model layers (default: the shape's)")
    Integer layers;

    @Override
    public Integer call() throws Exception {
        ModelShape s = ModelShape.byName(shape);
        if (layers != null) {
            s = s.withLayers(layers);
        }
        if (type != null) {
            if (type != org.taskvec.gguf.GgmlType.F32 && type != org.taskvec.gguf.GgmlType.F16
                    && type != org.taskvec.gguf.GgmlType.Q8_0) {
                throw new org.taskvec.engine.InvalidInputException("--type: the generator writes F32, F16 or Q8_0; "
                        + "use --quantize for " + type);
            }
            s = s.withWeightType(type);
        }
        long t0 = System.nanoTime();
        new ModelSynthesizer(s, seed).writeAll(out);
        Path m = out.resolve(ModelSynthesizer.MODEL_FILE);
        Path p = out.resolve(ModelSynthesizer.PROJECTOR_FILE);
        System.out.printf("%s (%.1f MB)%n%s (%.1f MB)%n", m, Files.size(m) / 1e6, p, Files.size(p) / 1e6);
        for (String type : quantize) {
            Path q = out.resolve("model-" + type + ".gguf");
            org.taskvec.engine.Model.quantize(m, q, type, 0);
            System.out.printf("%s (%.1f MB)%n", q, Files.size(q) / 1e6);
        }
        System.out.printf("shape %s: %s, %d layers, width %d, %d heads (%d KV), %s; projector %s, %dpx/%dpx "
                        + "patches -> %d image tokens; seed %d; random weights; %.1f s%n", s.name(),
                s.family().architecture(), s.nLayer(), s.nEmbd(), s.nHead(), s.nHeadKv(), s.weightType(),
                s.family().projectorType(), s.imageSize(), s.patchSize(), s.imageTokens(), seed,
                (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
