package org.taskvec.cli;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import org.taskvec.engine.Generation;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.HookPhase;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.Positions;
import org.taskvec.vectors.VectorFiles;
import org.taskvec.vectors.VectorSet;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code taskvec patch}: the continuation of a prompt with and without a vector written into it. */
@Command(name = "patch", mixinStandardHelpOptions = true,
        description = "Print the continuation of a prompt without and with a vector patched into the residual "
                + "stream (replace or add) at a layer and position.")
final class PatchCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @Mixin
    PromptOptions promptOptions;

    @Option(names = "--vector", required = true, paramLabel = "FILE", description = ".npy or control-vector .gguf")
    Path vector;

    @Option(names = "--layer", required = true, paramLabel = "L", description = "block whose output is patched")
    int layer;

    @Option(names = "--position", defaultValue = "last", paramLabel = "SPEC",
            description = "last, i (negative: from the end), image:K or token:TEXT:N; with --phase generation: last "
                    + "(every generated position) or offsets of the continuation (0 = the first generated token) "
                    + "(default ${DEFAULT-VALUE})")
    String position;

    @Option(names = "--mode", defaultValue = "replace", paramLabel = "replace|add", description = "default ${DEFAULT-VALUE}")
    String mode;

    @Option(names = "--scale", defaultValue = "1", paramLabel = "S", description = "factor for --mode add")
    float scale;

    @Option(names = "--phase", defaultValue = "prompt", paramLabel = "prompt|generation|both",
            description = "patch the prompt, every generated position, or both (default ${DEFAULT-VALUE})")
    String phase;

    @Option(names = "--point", defaultValue = "resid_post", paramLabel = "KIND", description = "default ${DEFAULT-VALUE}")
    String point;

    @Option(names = "--max-tokens", defaultValue = "16", paramLabel = "N", description = "default ${DEFAULT-VALUE}")
    int maxTokens;

    @Override
    public Integer call() throws Exception {
        VectorSet set = VectorFiles.load(vector);
        float[] v = set.layers().length == 1 ? set.vectors()[0] : set.forLayer(layer);
        HookPhase ph = switch (phase) {
            case "prompt" -> HookPhase.PROMPT;
            case "generation" -> HookPhase.GENERATION;
            case "both" -> HookPhase.BOTH;
            default -> throw new org.taskvec.engine.InvalidInputException("--phase must be prompt, generation or both");
        };
        String at = "blocks." + layer + "." + point;
        Hooks hooks = switch (mode) {
            case "replace" -> Hooks.create().replace(at, Positions.parse(position), v, ph);
            case "add" -> Hooks.create().add(at, Positions.parse(position), v, scale, ph);
            default -> throw new org.taskvec.engine.InvalidInputException("--mode must be replace or add");
        };
        try (Model model = modelOptions.load(promptOptions); Session session = promptOptions.session(model)) {
            Prompt prompt = promptOptions.prompt();
            GenerationParams gp = GenerationParams.greedy(maxTokens);
            Generation plain = session.generate(prompt, gp);
            Generation patched = HookedRun.generate(session, prompt, gp, hooks).generation();
            System.out.println("vector:  " + vector + " " + describe(set.metadata()));
            System.out.println("patch:   " + mode + (mode.equals("add") ? " x" + scale : "") + " at " + at + ", position "
                    + position + ", " + phase);
            System.out.println("plain:   " + quote(plain.text()));
            System.out.println("patched: " + quote(patched.text()));
        }
        return 0;
    }

    private static String describe(Map<String, String> meta) {
        return meta.isEmpty() ? "" : meta.toString();
    }

    private static String quote(String s) {
        return "\"" + s.replace("\n", "\\n") + "\"";
    }
}
