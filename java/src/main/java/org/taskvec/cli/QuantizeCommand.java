package org.taskvec.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.taskvec.engine.Model;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code taskvec quantize}: llama.cpp's quantization of a GGUF model, without llama.cpp's tools installed. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Quantize a GGUF model with llama.cpp (llama_model_quantize): Q4_K_M, Q8_0, F16, ...")
final class QuantizeCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "IN", description = "GGUF model (F32, F16 or Q8_0)")
    Path in;

    @Parameters(index = "1", paramLabel = "OUT", description = "GGUF file to write")
    Path out;

    @Parameters(index = "2", paramLabel = "TYPE", description = "Q4_K_M, Q5_K_M, Q6_K, Q8_0, Q4_0, F16, ...")
    String type;

    @Option(names = "--threads", defaultValue = "0", paramLabel = "N", description = "0: all cores")
    int threads;

    @Override
    public Integer call() {
        long t0 = System.nanoTime();
        Model.quantize(in, out, type, threads);
        try {
            System.out.printf("%s (%.1f MB, %s) in %.1f s%n", out, Files.size(out) / 1e6, type,
                    (System.nanoTime() - t0) / 1e9);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return 0;
    }
}
