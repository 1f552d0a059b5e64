package org.taskvec.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.taskvec.engine.Model;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.tasks.PaperTasks;
import org.taskvec.tasks.TaskData;
import org.taskvec.tasks.TaskLoader;
import org.taskvec.xpatch.Condition;
import org.taskvec.xpatch.ProgressOutput;
import org.taskvec.xpatch.ReportWriter;
import org.taskvec.xpatch.XpatchConfig;
import org.taskvec.xpatch.XpatchResults;
import org.taskvec.xpatch.XpatchRunner;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code taskvec xpatch}: the paper's cross-modal patching experiment. */
@Command(name = "xpatch", mixinStandardHelpOptions = true,
        description = "Run the cross-modal task-vector experiment (tasks x conditions x seeds) and write "
                + "results.json, results.csv and report.md.")
final class XpatchCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--llm", paramLabel = "M2", description = "the VLM's base LLM (same width and depth): adds the "
            + "LLM->VLM condition")
    Path llm;

    @Option(names = "--data", paramLabel = "DIR", description = "tasks in the paper's format, as its download_data.sh leaves data/ "
            + "(annotations/{task}_{val,test}.json; images relative to DIR or DIR/images); default: built-in data")
    Path data;

    @Option(names = "--tasks", split = ",", paramLabel = "T,T", description = "default: the paper's six")
    List<String> tasks = new ArrayList<>(PaperTasks.NAMES);

    @Option(names = "--conditions", split = ",", paramLabel = "C,C", description = "default: all")
    List<String> conditions = new ArrayList<>();

    @Option(names = "--layer", defaultValue = "auto", paramLabel = "auto|L", description = "default ${DEFAULT-VALUE}")
    String layer;

    @Option(names = "--seeds", defaultValue = "3", paramLabel = "N", description = "seeds 1..N (default ${DEFAULT-VALUE})")
    int seeds;

    @Option(names = "--examples", defaultValue = "5", paramLabel = "N", description = "default ${DEFAULT-VALUE}")
    int examples;

    @Option(names = "--max-new-tokens", defaultValue = "1", paramLabel = "N", description = "default ${DEFAULT-VALUE}")
    int maxNewTokens;

    @Option(names = "--ignore-case", description = "case-insensitive main metric (the official main runs compare "
            + "case)")
    boolean ignoreCase;

    @Option(names = "--sweep-seeds", defaultValue = "mean", paramLabel = "mean|first",
            description = "layer sweep: every seed's vector, accuracies averaged over the seeds (official), or the "
                    + "first seed's only; default ${DEFAULT-VALUE}")
    String sweepSeeds;

    @Option(names = "--prompt-examples-from", defaultValue = "test", paramLabel = "test|val",
            description = "in-context examples of the Examples Prompt conditions: other test items (official) or "
                    + "validation items; default ${DEFAULT-VALUE}")
    String promptExamplesFrom;

    @Option(names = "--patch-mode", defaultValue = "replace", paramLabel = "replace|add",
            description = "how a task vector is written into the query: replace the residual (official) or add to "
                    + "it (as function vectors); default ${DEFAULT-VALUE}")
    String patchMode;

    @Option(names = "--scan-case-sensitive", description = "sample-efficiency scan compares case (the official "
            + "scan lower-cases prediction and answer)")
    boolean scanCaseSensitive;

    @Option(names = "--lens-tokens", defaultValue = "after-colon", paramLabel = "after-colon|bare",
            description = "logit-lens tokens: each word's first token as it follows 'A:' in a prompt, or as the "
                    + "word tokenized alone; default ${DEFAULT-VALUE}")
    String lensTokens;

    @Option(names = "--several-images", defaultValue = "auto", paramLabel = "auto|yes|no",
            description = "whether the model takes several images per context (auto: not for LLaVA-1.5 'mlp' projectors)")
    String severalImages;

    @Option(names = "--parallel", defaultValue = "8", paramLabel = "N",
            description = "queries and patched variants evaluated together as parallel sequences (one decode for "
                    + "all of them; 1 = one after another); default ${DEFAULT-VALUE}")
    int parallel;

    @Option(names = "--max-test", defaultValue = "0", paramLabel = "N", description = "at most N test items per task (0 = all)")
    int maxTest;

    @Option(names = "--chat-template", arity = "0..1", fallbackValue = "model", paramLabel = "NAME",
            description = "wrap prompts in the model's chat template (or a named one, e.g. vicuna); default: none")
    String chatTemplate;

    @Option(names = "--lens-prompts", defaultValue = "30", paramLabel = "N",
            description = "prompts per task for the logit-lens phases (0: skip the analyses); default ${DEFAULT-VALUE}")
    int lensPrompts;

    @Option(names = "--no-cache", description = "extract task vectors afresh instead of reusing cached ones")
    boolean noCache;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads")
    Integer threads;

    @Option(names = "--out", defaultValue = "xpatch-out", paramLabel = "DIR", description = "default ${DEFAULT-VALUE}")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (seeds < 1) {
            throw new org.taskvec.engine.InvalidInputException("--seeds must be >= 1");
        }
        List<Condition> conds = conditions.isEmpty()
                ? (llm != null ? List.of(Condition.values()) : Condition.withoutSecondModel())
                : conditions.stream().map(Condition::parse).toList();
        List<Integer> seedList = java.util.stream.IntStream.rangeClosed(1, seeds).boxed().toList();
        XpatchConfig.Procedure procedure = new XpatchConfig.Procedure(
                XpatchConfig.Procedure.parse(XpatchConfig.SweepSeeds.class, "--sweep-seeds", sweepSeeds,
                        XpatchConfig.SweepSeeds::key),
                XpatchConfig.Procedure.parse(XpatchConfig.ExampleSplit.class, "--prompt-examples-from",
                        promptExamplesFrom, XpatchConfig.ExampleSplit::key),
                scanCaseSensitive,
                XpatchConfig.Procedure.parse(XpatchConfig.LensTokens.class, "--lens-tokens", lensTokens,
                        XpatchConfig.LensTokens::key),
                XpatchConfig.Procedure.parse(XpatchConfig.PatchMode.class, "--patch-mode", patchMode,
                        XpatchConfig.PatchMode::key));
        try (Model model = modelOptions.load()) {
            boolean several = switch (severalImages) {
                case "yes" -> true;
                case "no" -> false;
                case "auto" -> model.projectorHeader().flatMap(h -> h.getString("clip.projector_type"))
                        .map(t -> !t.equals("mlp")).orElse(false);
                default -> throw new org.taskvec.engine.InvalidInputException("--several-images must be auto, yes or no");
            };
            if (!model.hasProjector() && conds.stream().anyMatch(c -> c.query == org.taskvec.tasks.Modality.IMAGE)) {
                throw new org.taskvec.engine.InvalidInputException("image-query conditions need --mmproj");
            }
            XpatchConfig config = new XpatchConfig(tasks, conds, layer.equals("auto") ? -1 : Integer.parseInt(layer),
                    seedList, examples, maxNewTokens, !ignoreCase, several, maxTest, lensPrompts, chatTemplate,
                    procedure);
            List<TaskData> taskData = new ArrayList<>();
            for (String t : tasks) {
                taskData.add(data == null ? TaskLoader.builtin(t) : TaskLoader.paperFormat(data, t));
            }
            if (parallel < 1 || parallel > 64) {
                throw new org.taskvec.engine.InvalidInputException("--parallel must be 1..64, got " + parallel);
            }
            // each sequence holds one query (an image is up to ~600 positions); a forked prefix shares its cells
            SessionParams sp = SessionParams.defaults().withContextSize(Math.max(4096, 1024 * parallel))
                    .withSequences(parallel);
            if (threads != null) {
                sp = sp.withThreads(threads);
            }
            try (Session session = model.newSession(sp);
                 Model llmModel = llm == null ? null : modelOptions.loadWithoutProjector(llm);
                 Session llmSession = llmModel == null ? null : llmModel.newSession(sp)) {
                XpatchResults r = new XpatchRunner(model, session, llmSession, config,
                        ProgressOutput.stream(System.err, "[xpatch] ", System.console() != null),
                        noCache ? null : org.taskvec.engine.CacheFolder.path().resolve("vectors"))
                        .run(taskData);
                ReportWriter.write(out, r, config, model.info(), model.path().toString(), taskData);
                System.out.println("layer " + r.chosenLayer() + ", " + r.predictions() + " predictions in "
                        + String.format("%.1f s", r.seconds()) + "; task vectors: " + r.vectorsExtracted()
                        + " extracted, " + r.vectorsFromCache() + " from the cache");
                System.out.print(ReportWriter.table(r, config));
                System.out.println("wrote " + out.resolve("report.md") + ", results.json, results.csv");
            }
        }
        return 0;
    }
}
