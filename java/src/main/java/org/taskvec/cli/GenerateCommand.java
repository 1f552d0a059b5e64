package org.taskvec.cli;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.taskvec.engine.Generation;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Image;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code taskvec generate}: prints a continuation of a text or image prompt. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Print the model's continuation of a prompt. Images go where the prompt has the marker "
                + Prompt.MEDIA_MARKER + ", or before the text if it has none.")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "prompt text (\\n for newline)")
    String prompt;

    @Option(names = "--image", paramLabel = "FILE", description = "image file (PNG, JPEG); repeatable")
    List<Path> images = new ArrayList<>();

    @Option(names = "--max-tokens", defaultValue = "32", paramLabel = "N", description = "default ${DEFAULT-VALUE}")
    int maxTokens;

    @Option(names = "--temp", defaultValue = "0", paramLabel = "T", description = "temperature; 0 = greedy (default)")
    float temperature;

    @Option(names = "--top-k", defaultValue = "40", paramLabel = "K", description = "default ${DEFAULT-VALUE}")
    int topK;

    @Option(names = "--top-p", defaultValue = "0.95", paramLabel = "P", description = "default ${DEFAULT-VALUE}")
    float topP;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "sampling seed")
    int seed;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: cores, at most 8)")
    Integer threads;

    @Option(names = "--ctx", defaultValue = "4096", paramLabel = "N", description = "context size")
    int contextSize;

    @Option(names = "--stop", paramLabel = "STRING", description = "stop string; repeatable")
    List<String> stops = new ArrayList<>();

    @Override
    public Integer call() {
        String text = prompt.replace("\\n", "\n");
        List<Image> imgs = new ArrayList<>();
        for (Path p : images) {
            imgs.add(Image.read(p));
        }
        SessionParams sp = SessionParams.defaults().withContextSize(contextSize).withSeed(seed);
        if (threads != null) {
            sp = sp.withThreads(threads);
        }
        GenerationParams gp = GenerationParams.greedy(maxTokens).withSampling(temperature, topK, topP, seed)
                .withStopStrings(stops.stream().map(s -> s.replace("\\n", "\n")).toList());
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (Model model = modelOptions.load(); Session session = model.newSession(sp)) {
            long t0 = System.nanoTime();
            Generation g = session.generate(Prompt.withImages(text, imgs), gp, (token, piece) -> {
                out.print(piece);
                return true;
            });
            double s = (System.nanoTime() - t0) / 1e9;
            out.println();
            System.err.printf("[%d tokens, prompt %d positions, %.2f s, stop: %s]%n", g.tokens().length,
                    g.promptPositions(), s, g.stopReason().name().toLowerCase());
        }
        return 0;
    }
}
