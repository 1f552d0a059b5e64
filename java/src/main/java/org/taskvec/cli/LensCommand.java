package org.taskvec.cli;

import java.util.List;
import java.util.concurrent.Callable;
import org.taskvec.engine.Model;
import org.taskvec.engine.Session;
import org.taskvec.hooks.Capture;
import org.taskvec.hooks.HookPoint;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.LogitLens;
import org.taskvec.hooks.Positions;
import org.taskvec.hooks.RunResult;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code taskvec lens}: the logit lens of a position, layer by layer. */
@Command(name = "lens", mixinStandardHelpOptions = true,
        description = "Logit lens: the top tokens that each layer's residual stream at one position decodes to.")
final class LensCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @Mixin
    PromptOptions promptOptions;

    @Option(names = "--layers", defaultValue = "all", paramLabel = "all|A-B|L,L", description = "default ${DEFAULT-VALUE}")
    String layers;

    @Option(names = "--position", defaultValue = "last", paramLabel = "SPEC", description = "default ${DEFAULT-VALUE}")
    String position;

    @Option(names = "--top", defaultValue = "5", paramLabel = "K", description = "default ${DEFAULT-VALUE}")
    int top;

    @Option(names = "--token", paramLabel = "TEXT", description = "also print the probability of this token; repeatable")
    List<String> tokens = new java.util.ArrayList<>();

    @Override
    public Integer call() {
        if (top <= 0 || top > 100) {
            throw new org.taskvec.engine.InvalidInputException("--top must be in [1, 100]");
        }
        try (Model model = modelOptions.load(promptOptions); Session session = promptOptions.session(model)) {
            int[] ls = PromptOptions.parseLayers(layers, model.layers());
            Positions pos = Positions.parse(position);
            RunResult r = HookedRun.run(session, promptOptions.prompt(), Hooks.create()
                    .captureLayers(org.taskvec.engine.PointKind.RESID_POST.shortName, ls, pos));
            Capture c0 = r.captures().get(0);
            if (c0.positions().length != 1) {
                throw new org.taskvec.engine.InvalidInputException("--position must select one position, got "
                        + c0.positions().length);
            }
            float[][] vectors = new float[ls.length][];
            for (int i = 0; i < ls.length; i++) {
                vectors[i] = r.captures().get(i).rows()[0];
            }
            int[] chosen = tokens.stream().mapToInt(t -> {
                int[] ids = model.tokenize(t, false, false);
                return ids[ids.length - 1];
            }).toArray();
            int p = c0.positions()[0];
            int tok = r.layout()[p];
            System.out.printf("position %d (%s), top %d per layer%n", p,
                    tok >= 0 ? "'" + model.tokenText(tok).replace("\n", "\\n") + "'" : "<image " + (-1 - tok) + ">", top);
            List<LogitLens.Reading> readings = LogitLens.read(model, vectors);
            for (int i = 0; i < ls.length; i++) {
                StringBuilder sb = new StringBuilder(String.format("layer %3d:", ls[i]));
                for (LogitLens.TokenProb tp : readings.get(i).top(model, top)) {
                    sb.append(String.format("  %s %.3f", "'" + tp.text().replace("\n", "\\n") + "'", tp.probability()));
                }
                for (int k = 0; k < chosen.length; k++) {
                    sb.append(String.format("  | p('%s')=%.4f", tokens.get(k), readings.get(i).probability(chosen[k])));
                }
                System.out.println(sb);
            }
        }
        return 0;
    }
}
