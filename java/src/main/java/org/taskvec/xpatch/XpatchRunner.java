package org.taskvec.xpatch;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.tasks.Correctness;
import org.taskvec.tasks.IclPrompts;
import org.taskvec.tasks.Modality;
import org.taskvec.tasks.PromptStyle;
import org.taskvec.tasks.TaskData;
import org.taskvec.tasks.TaskItem;

/**
 * Runs the paper's cross-modal patching experiment: extracts task vectors (text examples, image examples, the
 * instruction) on the validation split, chooses the layer by a sweep of text-examples patching on validation image
 * queries (unless given; accuracy averaged over the seeds), and evaluates every condition on the test split for
 * every task and seed. The procedure details follow the official code unless {@link XpatchConfig#procedure()} says
 * otherwise.
 */
public final class XpatchRunner {
    private final Model model;
    private final Session session;
    private final XpatchConfig config;
    private final ProgressOutput output;
    private final java.nio.file.Path cacheDir;
    private final Session llmSession;
    private Progress progress;

    /**
     * @param progress receives plain progress lines with an ETA, about one per tenth of the work (may be null)
     * @param cacheDir where extracted vectors are kept between runs (null: no cache)
     */
    public XpatchRunner(Model model, Session session, XpatchConfig config, Consumer<String> progress,
                        java.nio.file.Path cacheDir) {
        this(model, session, null, config, progress == null ? ProgressOutput.none() : ProgressOutput.lines(progress),
                cacheDir);
    }

    /**
     * @param llmSession a session of a second model of the same width (the VLM's base LLM) for the LLM->VLM
     *     condition, or null
     * @param progress where progress lines go (a terminal line or plain lines)
     */
    public XpatchRunner(Model model, Session session, Session llmSession, XpatchConfig config,
                        ProgressOutput progress, java.nio.file.Path cacheDir) {
        if (config.conditions().contains(Condition.LLM_VLM_PATCH)) {
            if (llmSession == null) {
                throw new org.taskvec.engine.InvalidInputException("the llm-vlm-patch condition needs a second model "
                        + "(--llm)");
            }
            if (llmSession.model().embeddingSize() != model.embeddingSize()
                    || llmSession.model().layers() != model.layers()) {
                throw new org.taskvec.engine.InvalidInputException("the LLM (" + llmSession.model().layers()
                        + " layers, width " + llmSession.model().embeddingSize() + ") does not match the VLM ("
                        + model.layers() + " layers, width " + model.embeddingSize() + ")");
            }
        }
        this.llmSession = llmSession;
        this.model = model;
        this.session = session;
        this.config = config;
        this.output = progress == null ? ProgressOutput.none() : progress;
        this.cacheDir = cacheDir;
    }

    /** The progress of the last run (its total and the steps counted). */
    Progress progress() {
        return progress;
    }

    /** Test items of a task this run evaluates. */
    private List<TaskItem> testItems(TaskData task) {
        return config.maxTestItems() > 0 && task.test().size() > config.maxTestItems()
                ? task.test().subList(0, config.maxTestItems()) : task.test();
    }

    /** Rounds r of the sample-efficiency scan (r x nExamples examples). */
    private static int scanRounds(List<TaskData> tasks) {
        return Math.min(6, tasks.stream().mapToInt(t -> t.val().size()).min().orElse(0));
    }

    private record Key(String task, Modality modality, int seed) {}

    public XpatchResults run(List<TaskData> tasks) {
        long t0 = System.nanoTime();
        XpatchContext cx = new XpatchContext(model, session, style(model), config.procedure().patchMode());
        XpatchResults results = new XpatchResults();
        boolean needText = config.conditions().stream().anyMatch(c -> c.examples == Modality.TEXT
                && c.kind != Condition.Kind.PROMPT) || config.layer() < 0;
        boolean needImage = config.severalImages() && config.conditions().stream()
                .anyMatch(c -> c.examples == Modality.IMAGE && c.kind == Condition.Kind.PATCH);
        boolean needLlm = config.conditions().contains(Condition.LLM_VLM_PATCH);
        boolean needInstruction = config.conditions().stream()
                .anyMatch(c -> c.kind == Condition.Kind.INSTRUCTION || c.kind == Condition.Kind.ENSEMBLE);

        // the Examples Prompt conditions' example draws, checked before any work
        boolean prompted = config.conditions().stream().anyMatch(c -> c.kind == Condition.Kind.PROMPT && applicable(c));
        for (TaskData task : tasks) {
            if (prompted && !task.test().isEmpty()) {
                promptExamples(task, 0, config.nExamples(), config.seeds().get(0), config.procedure().promptExamples());
            }
        }

        // the work ahead, every step the run will count, for the progress line's ETA
        int seeds = config.seeds().size();
        long units = 0;
        for (TaskData task : tasks) {
            int nTest = testItems(task).size();
            units += (long) seeds * ((needText ? 1 : 0) + (needImage ? 1 : 0) + (needLlm ? 1 : 0));
            units += needInstruction ? 1 : 0;
            units += config.layer() < 0 ? (long) model.layers() * task.val().size() * sweepSeeds().size() : 0;
            units += config.lensPrompts() > 0 ? (needText ? 1 : 0) + (needImage ? 1 : 0) : 0;
            units += config.conditions().contains(Condition.ENSEMBLE_PATCH)
                    ? 1 + (1 + 2L * scanRounds(tasks)) * nTest : 0;
            units += (long) config.conditions().size() * seeds * nTest;
        }
        progress = new Progress(units, output);

        // 1. task vectors on the validation split (cached on disk between runs)
        VectorCache cache = new VectorCache(cacheDir);
        Map<Key, float[][]> vectors = new HashMap<>();
        Map<String, float[][]> instructions = new HashMap<>();
        Map<Key, float[][]> llmVectors = new HashMap<>();
        XpatchContext llmCx = needLlm ? new XpatchContext(llmSession.model(), llmSession, style(llmSession.model()),
                config.procedure().patchMode())
                : null;
        for (TaskData task : tasks) {
            if (needLlm) {
                for (int seed : config.seeds()) {
                    llmVectors.put(new Key(task.name(), Modality.TEXT, seed),
                            cache.examples(llmCx, task, Modality.TEXT, config.nExamples(), seed));
                    progress.step("extracted " + task.name() + " text examples in the LLM, seed " + seed);
                }
            }
            for (int seed : config.seeds()) {
                for (Modality m : new Modality[] {Modality.TEXT, Modality.IMAGE}) {
                    if (m == Modality.TEXT ? !needText : !needImage) {
                        continue;
                    }
                    vectors.put(new Key(task.name(), m, seed),
                            cache.examples(cx, task, m, config.nExamples(), seed));
                    progress.step("extracted " + task.name() + " " + m.name().toLowerCase() + " examples, seed " + seed);
                }
            }
            if (needInstruction) {
                instructions.put(task.name(), cache.instruction(cx, task.instruction()));
                progress.step("extracted " + task.name() + " instruction");
            }
        }
        results.vectorsExtracted = cache.misses();
        results.vectorsFromCache = cache.hits();

        // 2. the layer: given, or the best mean validation accuracy of text-examples patching (ties: lowest layer)
        int layer = config.layer();
        if (layer < 0) {
            layer = sweep(cx, tasks, vectors, results);
        } else if (layer >= model.layers()) {
            throw new org.taskvec.engine.InvalidInputException("layer " + layer + " is out of range: the model has "
                    + model.layers() + " layers");
        }
        results.chosenLayer = layer;
        if (needLlm) {
            for (TaskData task : tasks) {
                int seed = config.seeds().get(0);
                results.llmCosine.put(task.name(), Analyses.cosine(
                        llmVectors.get(new Key(task.name(), Modality.TEXT, seed))[layer],
                        vectors.get(new Key(task.name(), Modality.TEXT, seed))[layer]));
            }
        }
        if (config.lensPrompts() > 0) {
            analyse(cx, tasks, vectors, instructions, layer, results);
        }
        if (config.conditions().contains(Condition.ENSEMBLE_PATCH)) {
            scan(cx, tasks, instructions, layer, results);
        }

        // 3. every condition on the test split. The variants of one bare query (plain and every patched vector,
        // every seed) run back to back, so its prefix (and image) is evaluated once and each variant costs one token.
        for (TaskData task : tasks) {
            List<TaskItem> test = testItems(task);
            Map<String, int[]> correct = new java.util.LinkedHashMap<>(); // "condition|seed" -> {correct}
            for (Condition c : config.conditions()) {
                for (int seed : config.seeds()) {
                    correct.put(c.name() + "|" + seed, new int[1]);
                }
            }
            for (Modality queryModality : new Modality[] {Modality.TEXT, Modality.IMAGE}) {
                List<Condition> bare = config.conditions().stream().filter(c -> c.query == queryModality
                        && c.kind != Condition.Kind.PROMPT && applicable(c)).toList();
                if (bare.isEmpty()) {
                    continue;
                }
                for (TaskItem item : test) {
                    Prompt p = IclPrompts.query(item, queryModality, it -> cx.image(task, it), cx.style);
                    for (Condition c : bare) {
                        for (int seed : config.seeds()) {
                            float[] v = switch (c.kind) {
                                case NONE -> null;
                                case PATCH -> vectors.get(new Key(task.name(), c.examples, seed))[layer];
                                case INSTRUCTION -> instructions.get(task.name())[layer];
                                case OTHER_MODEL -> llmVectors.get(new Key(task.name(), Modality.TEXT, seed))[layer];
                                case ENSEMBLE -> TaskVectors.mean(
                                        new float[][] {vectors.get(new Key(task.name(), Modality.TEXT, seed))[layer]},
                                        new float[][] {instructions.get(task.name())[layer]})[0];
                                default -> throw new IllegalStateException(c.toString());
                            };
                            correct.get(c.name() + "|" + seed)[0] += predictCorrect(cx, p, item, v, layer, results,
                                    config.caseSensitive(), c.key() + " " + task.name());
                        }
                    }
                }
            }
            for (Condition c : config.conditions()) {
                for (int seed : config.seeds()) {
                    if (!applicable(c)) {
                        for (int k = 0; k < test.size(); k++) {
                            progress.step(c.key() + " on " + task.name() + ": not applicable");
                        }
                        results.rows.add(new XpatchResults.Row(c, task.name(), seed, layer, 0, 0, false));
                        continue;
                    }
                    int n = c.kind == Condition.Kind.PROMPT ? countPrompted(cx, task, test, c, seed, results)
                            : correct.get(c.name() + "|" + seed)[0];
                    results.rows.add(new XpatchResults.Row(c, task.name(), seed, layer, n, test.size(), true));
                }
            }
        }
        progress.finish();
        results.seconds = (System.nanoTime() - t0) / 1e9;
        return results;
    }

    /** The seeds whose vectors the layer sweep patches: all (official) or the first. */
    private List<Integer> sweepSeeds() {
        return config.procedure().sweepSeeds() == XpatchConfig.SweepSeeds.MEAN ? config.seeds()
                : List.of(config.seeds().get(0));
    }

    /**
     * The layer sweep on the validation split, as the official code's {@code get_best_layer}: each sweep seed's
     * text-examples vector patched on every validation image query at every layer; accuracy per task and seed, mean
     * over the seeds, then over the tasks; the best layer wins, ties toward the lowest. Query by query, all seeds
     * and layers back to back: the query's prefix is evaluated once, then one token per variant.
     */
    private int sweep(XpatchContext cx, List<TaskData> tasks, Map<Key, float[][]> vectors, XpatchResults results) {
        List<Integer> seeds = sweepSeeds();
        int nLayer = model.layers();
        double[][] perSeed = new double[seeds.size()][nLayer]; // mean over tasks of the per-task accuracy
        for (TaskData task : tasks) {
            int[][] correct = new int[seeds.size()][nLayer];
            for (TaskItem item : task.val()) {
                Prompt p = IclPrompts.query(item, Modality.IMAGE, it -> cx.image(task, it), cx.style);
                if (parallel(cx)) {
                    // every (seed, layer) variant of the query in the session's sequences, forked from one prefix
                    List<Prompt> ps = new ArrayList<>();
                    List<float[]> vs = new ArrayList<>();
                    List<Integer> ls = new ArrayList<>();
                    for (int s = 0; s < seeds.size(); s++) {
                        float[][] v = vectors.get(new Key(task.name(), Modality.TEXT, seeds.get(s)));
                        for (int l = 0; l < nLayer; l++) {
                            ps.add(p);
                            vs.add(v[l]);
                            ls.add(l);
                        }
                    }
                    String[] predictions = Predictor.predictBatch(cx, ps, vs, ls);
                    for (int k = 0; k < predictions.length; k++) {
                        results.predictions++;
                        progress.step("layer sweep " + task.name() + ", seed " + seeds.get(k / nLayer));
                        correct[k / nLayer][k % nLayer] += Correctness.correct(predictions[k], item.output(),
                                config.caseSensitive()) ? 1 : 0;
                    }
                    continue;
                }
                for (int s = 0; s < seeds.size(); s++) {
                    float[][] v = vectors.get(new Key(task.name(), Modality.TEXT, seeds.get(s)));
                    for (int l = 0; l < nLayer; l++) {
                        correct[s][l] += predictCorrect(cx, p, item, v[l], l, results, config.caseSensitive(),
                                "layer sweep " + task.name() + ", seed " + seeds.get(s));
                    }
                }
            }
            for (int s = 0; s < seeds.size(); s++) {
                for (int l = 0; l < nLayer; l++) {
                    perSeed[s][l] += (double) correct[s][l] / task.val().size() / tasks.size();
                }
            }
        }
        int best = -1;
        for (int l = 0; l < nLayer; l++) {
            double mean = 0;
            for (int s = 0; s < seeds.size(); s++) {
                mean += perSeed[s][l] / seeds.size();
            }
            results.sweep.put(l, mean);
            if (best < 0 || mean > results.sweep.get(best)) {
                best = l;
            }
        }
        for (int s = 0; s < seeds.size(); s++) {
            Map<Integer, Double> bySeed = new java.util.LinkedHashMap<>();
            for (int l = 0; l < nLayer; l++) {
                bySeed.put(l, perSeed[s][l]);
            }
            results.sweepPerSeed.put(seeds.get(s), bySeed);
        }
        return best;
    }

    /** Logit-lens phases, top tokens, cosines between specifications and the 2-D geometry at the chosen layer. */
    private void analyse(XpatchContext cx, List<TaskData> tasks, Map<Key, float[][]> vectors,
                         Map<String, float[][]> instructions, int layer, XpatchResults results) {
        List<String> labels = new ArrayList<>();
        List<float[]> points = new ArrayList<>();
        int firstSeed = config.seeds().get(0);
        for (TaskData task : tasks) {
            Map<String, Analyses.Phases> ph = new java.util.LinkedHashMap<>();
            Map<String, List<String>> top = new java.util.LinkedHashMap<>();
            Map<String, float[]> specs = new java.util.LinkedHashMap<>();
            for (Modality m : new Modality[] {Modality.TEXT, Modality.IMAGE}) {
                float[][] v = vectors.get(new Key(task.name(), m, firstSeed));
                if (v == null) {
                    continue;
                }
                String spec = m.name().toLowerCase();
                ph.put(spec, Analyses.phases(cx, task, m, config.nExamples(), config.lensPrompts(),
                        config.procedure().lensTokens()));
                progress.step("logit lens phases: " + task.name() + ", " + spec + " examples");
                top.put(spec, Analyses.topTokens(model, v[layer], 5));
                if (m == Modality.TEXT) {
                    List<List<String>> perLayer = new ArrayList<>();
                    for (float[] vl : v) {
                        perLayer.add(Analyses.topTokens(model, vl, 3));
                    }
                    results.topTokensPerLayer.put(task.name(), perLayer);
                }
                specs.put(spec, v[layer]);
                for (int seed : config.seeds()) {
                    labels.add(task.name() + " / " + spec + " / seed " + seed);
                    points.add(vectors.get(new Key(task.name(), m, seed))[layer]);
                }
            }
            float[][] inst = instructions.get(task.name());
            if (inst != null) {
                top.put("instruction", Analyses.topTokens(model, inst[layer], 5));
                specs.put("instruction", inst[layer]);
                labels.add(task.name() + " / instruction");
                points.add(inst[layer]);
            }
            Map<String, Double> cos = new java.util.LinkedHashMap<>();
            List<String> names = new ArrayList<>(specs.keySet());
            for (int a = 0; a < names.size(); a++) {
                for (int b = a + 1; b < names.size(); b++) {
                    cos.put(names.get(a) + " ~ " + names.get(b),
                            Analyses.cosine(specs.get(names.get(a)), specs.get(names.get(b))));
                }
            }
            results.phases.put(task.name(), ph);
            results.topTokens.put(task.name(), top);
            results.cosines.put(task.name(), cos);
        }
        if (points.size() >= 3) {
            double[][] xy = Analyses.pca2(points);
            for (int i = 0; i < labels.size(); i++) {
                results.geometry.put(labels.get(i), xy[i]);
            }
        }
    }

    /**
     * The paper's sample-efficiency scan: the per-prompt text-examples vectors are kept, and for r = 1..R a seeded
     * random subset of r of them (n = r x nExamples examples) is averaged, then patched alone and as a 50/50 ensemble
     * with the instruction vector; n = 0 is the instruction alone. Image queries of the test split, first seed;
     * prediction and answer lower-cased as the official scan (allow_lower_case=true) unless --scan-case-sensitive.
     */
    private void scan(XpatchContext cx, List<TaskData> tasks, Map<String, float[][]> instructions, int layer,
                      XpatchResults results) {
        int seed = config.seeds().get(0);
        int maxR = scanRounds(tasks);
        double[][] sums = new double[maxR + 1][2];
        for (TaskData task : tasks) {
            float[][] prompts = TaskVectors.perPrompt(cx, task, Modality.TEXT, config.nExamples(), seed, layer);
            progress.step("sample-efficiency scan: " + task.name() + ", per-prompt vectors");
            float[] inst = instructions.get(task.name())[layer];
            List<TaskItem> test = testItems(task);
            sums[0][1] += accuracy(cx, task, test, Modality.IMAGE, inst, layer, results);
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < prompts.length; i++) {
                order.add(i);
            }
            java.util.Collections.shuffle(order, new java.util.Random(seed * 31L + task.name().hashCode()));
            for (int r = 1; r <= maxR; r++) {
                float[] mean = new float[inst.length];
                for (int k = 0; k < r; k++) {
                    float[] v = prompts[order.get(k)];
                    for (int d = 0; d < mean.length; d++) {
                        mean[d] += v[d] / r;
                    }
                }
                float[] ensemble = new float[inst.length];
                for (int d = 0; d < mean.length; d++) {
                    ensemble[d] = (mean[d] + inst[d]) / 2f;
                }
                sums[r][0] += accuracy(cx, task, test, Modality.IMAGE, mean, layer, results);
                sums[r][1] += accuracy(cx, task, test, Modality.IMAGE, ensemble, layer, results);
            }
        }
        for (int r = 0; r <= maxR; r++) {
            results.scan.put(r * config.nExamples(), new double[] {r == 0 ? Double.NaN : sums[r][0] / tasks.size(),
                    sums[r][1] / tasks.size()});
        }
    }

    /** Accuracy of the sample-efficiency scan: lower-cased as the official scan unless --scan-case-sensitive. */
    private double accuracy(XpatchContext cx, TaskData task, List<TaskItem> items, Modality query, float[] vector,
                            int layer, XpatchResults results) {
        return (double) count(cx, task, items, query, vector, layer, results,
                config.procedure().scanCaseSensitive()) / items.size();
    }

    private PromptStyle style(Model m) {
        String t = config.chatTemplate();
        return t == null ? PromptStyle.plain(m) : PromptStyle.chat(m, t.equals("model") ? null : t);
    }

    /** Whether predictions go through the session's parallel sequences (one new token, more than one sequence). */
    private boolean parallel(XpatchContext cx) {
        return config.maxNewTokens() == 1 && cx.session.sequences() > 1;
    }

    private boolean applicable(Condition c) {
        return !(c.usesImageExamples() && !config.severalImages());
    }

    /** One prediction of a bare query (patched with vector at layer, or plain): 1 when correct. */
    private int predictCorrect(XpatchContext cx, Prompt p, TaskItem item, float[] vector, int layer,
                               XpatchResults results, boolean caseSensitive, String what) {
        String prediction = Predictor.predict(cx, p, vector, layer, config.maxNewTokens());
        results.predictions++;
        progress.step(what);
        return Correctness.correct(prediction, item.output(), caseSensitive) ? 1 : 0;
    }

    /** Bare queries, patched with vector at layer (or plain when vector is null). */
    private int count(XpatchContext cx, TaskData task, List<TaskItem> items, Modality query, float[] vector,
                      int layer, XpatchResults results, boolean caseSensitive) {
        int correct = 0;
        String what = (vector == null ? "plain " : "patched layer " + layer + " ") + task.name();
        if (parallel(cx)) {
            // the queries side by side in the session's sequences: one shared decode per chunk
            List<Prompt> ps = new ArrayList<>();
            for (TaskItem item : items) {
                ps.add(IclPrompts.query(item, query, it -> cx.image(task, it), cx.style));
            }
            String[] predictions = Predictor.predictBatch(cx, ps, java.util.Collections.nCopies(ps.size(), vector),
                    java.util.Collections.nCopies(ps.size(), layer));
            for (int k = 0; k < predictions.length; k++) {
                results.predictions++;
                progress.step(what);
                correct += Correctness.correct(predictions[k], items.get(k).output(), caseSensitive) ? 1 : 0;
            }
            return correct;
        }
        for (TaskItem item : items) {
            Prompt p = IclPrompts.query(item, query, it -> cx.image(task, it), cx.style);
            correct += predictCorrect(cx, p, item, vector, layer, results, caseSensitive, what);
        }
        return correct;
    }

    /**
     * The in-context examples of an Examples Prompt condition for the test query at queryIndex of the test split:
     * nExamples other test items (official) or nExamples validation items, drawn reproducibly from (seed, query),
     * never the query itself.
     */
    static List<TaskItem> promptExamples(TaskData task, int queryIndex, int nExamples, int seed,
                                         XpatchConfig.ExampleSplit from) {
        List<TaskItem> test = task.test();
        if (queryIndex < 0 || queryIndex >= test.size()) {
            throw new org.taskvec.engine.InvalidInputException("query index " + queryIndex + " is outside the test "
                    + "split of " + task.name() + " (" + test.size() + " items)");
        }
        if (from == XpatchConfig.ExampleSplit.TEST) {
            if (test.size() < nExamples + 1) {
                throw new org.taskvec.engine.InvalidInputException("task " + task.name() + " has " + test.size()
                        + " test items; prompts with " + nExamples + " examples from the other test items need "
                        + (nExamples + 1) + " (or draw them from the validation split: --prompt-examples-from val)");
            }
            return TaskVectors.examplesFor(test, queryIndex, nExamples, seed);
        }
        List<TaskItem> pool = new ArrayList<>(task.val());
        pool.remove(test.get(queryIndex));
        pool.add(test.get(queryIndex)); // the query is never its own example
        if (pool.size() < nExamples + 1) {
            throw new org.taskvec.engine.InvalidInputException("task " + task.name() + " has " + (pool.size() - 1)
                    + " validation items other than the query; prompts with " + nExamples + " examples from the "
                    + "validation split need " + nExamples);
        }
        return TaskVectors.examplesFor(pool, pool.size() - 1, nExamples, seed * 7919L + queryIndex);
    }

    /** Examples and query in one context: nExamples items drawn with the seed (see promptExamples), then the query. */
    private int countPrompted(XpatchContext cx, TaskData task, List<TaskItem> items, Condition c, int seed,
                              XpatchResults results) {
        int correct = 0;
        Map<String, List<String>> drawn = results.promptExamples.computeIfAbsent(task.name(),
                k -> new java.util.LinkedHashMap<>()).computeIfAbsent(seed, k -> new java.util.LinkedHashMap<>());
        for (int i = 0; i < items.size(); i++) {
            List<TaskItem> examples = promptExamples(task, i, config.nExamples(), seed,
                    config.procedure().promptExamples());
            drawn.put(items.get(i).input(), examples.stream().map(TaskItem::input).toList());
            Prompt p = IclPrompts.build(examples, c.examples, items.get(i), c.query, it -> cx.image(task, it), cx.style);
            String prediction = Predictor.predict(cx, p, null, 0, config.maxNewTokens());
            results.predictions++;
            progress.step(c.key() + " " + task.name());
            correct += Correctness.correct(prediction, items.get(i).output(), config.caseSensitive()) ? 1 : 0;
        }
        return correct;
    }
}
