package org.taskvec.xpatch;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.OptionalDouble;
import org.taskvec.engine.ModelInfo;
import org.taskvec.tasks.TaskData;

/**
 * Writes a run's {@code results.json} (everything), {@code results.csv} (one row per condition, task and seed) and
 * {@code report.md} (a table laid out like the paper's Table 3: tasks as columns, conditions as rows, average last).
 */
public final class ReportWriter {
    private ReportWriter() {}

    /** Column titles of the paper's table. */
    static String title(String task) {
        return switch (task) {
            case "country-capital" -> "Capital";
            case "country-currency" -> "Currency";
            case "animal-latin" -> "Latin";
            case "animal-young" -> "Young";
            case "food-color" -> "Color";
            case "food-flavor" -> "Flavor";
            default -> task;
        };
    }

    static String cell(OptionalDouble v) {
        return v.isPresent() ? String.format(Locale.ROOT, "%.2f", v.getAsDouble()) : "–";
    }

    /** The Table-3-style markdown table. */
    public static String table(XpatchResults r, XpatchConfig config) {
        StringBuilder sb = new StringBuilder("| condition |");
        for (String t : config.tasks()) {
            sb.append(' ').append(title(t)).append(" |");
        }
        sb.append(" **Avg** |\n|---|");
        sb.append("---|".repeat(config.tasks().size() + 1)).append('\n');
        for (Condition c : config.conditions()) {
            sb.append("| ").append(c.title).append(" |");
            for (String t : config.tasks()) {
                sb.append(' ').append(cell(r.accuracy(c, t))).append(" |");
            }
            sb.append(" **").append(cell(r.average(c, config.tasks()))).append("** |\n");
        }
        return sb.toString();
    }

    /** Draws a run's figures until one fails because the runtime cannot draw; then says so once, in the report. */
    private static final class Figures {
        private final StringBuilder md;
        private String unavailable;

        Figures(StringBuilder md) {
            this.md = md;
        }

        interface Drawing {
            void draw() throws IOException;
        }

        /** Draws; true if the PNG was written. */
        boolean draw(Drawing d) throws IOException {
            if (unavailable != null) {
                return false;
            }
            try {
                d.draw();
                return true;
            } catch (Charts.UnavailableException e) {
                unavailable = e.getMessage();
                System.err.println("taskvec: figures not drawn: " + unavailable + "; the numbers are in results.json"
                        + " and report.md");
                return false;
            }
        }

        void note() {
            if (unavailable != null) {
                md.append("Figures not drawn: ").append(unavailable).append(". Their numbers are in the tables above "
                        + "and in results.json.\n\n");
            }
        }
    }

    /** The PNG figures and the report sections that go with them. */
    private static void figures(Path out, XpatchResults r, StringBuilder md) throws IOException {
        Figures fig = new Figures(md);
        if (!r.sweep().isEmpty()) {
            double[] acc = r.sweep().values().stream().mapToDouble(Double::doubleValue).toArray();
            boolean drawn = fig.draw(() -> Charts.lines(out.resolve("layer-sweep.png"),
                    "Text-examples patching on validation image queries", "accuracy (mean over tasks)",
                    java.util.Map.of("xPatch (val)", acc), 1.0));
            md.append("## Layer sweep\n\n").append(drawn ? "![layer sweep](layer-sweep.png)\n\n" : "")
                    .append("| layer | val accuracy |\n|---|---|\n");
            r.sweep().forEach((l, a) -> md.append(String.format(Locale.ROOT, "| %d | %.3f |%n", l, a)));
            md.append('\n');
        }
        if (!r.phases().isEmpty()) {
            md.append("## Logit lens: input -> task -> answer\n\nAt the ':' of the last example's A:, each layer's "
                    + "residual decoded through the final norm and output matrix; probabilities of the input token '"
                    + Analyses.INPUT_TOKEN + "', the task token and the answer token, normalised over the three, "
                    + "averaged over the prompts. Peak layer of each:\n\n| task | specification | input | task | "
                    + "answer | figure |\n|---|---|---|---|---|---|\n");
            for (var e : r.phases().entrySet()) {
                java.util.Map<String, double[]> series = new java.util.LinkedHashMap<>();
                java.util.List<String> rows = new java.util.ArrayList<>();
                for (var s : e.getValue().entrySet()) {
                    Analyses.Phases ph = s.getValue();
                    series.put(s.getKey() + ": input", ph.input());
                    series.put(s.getKey() + ": task (" + Analyses.TASK_TOKENS.getOrDefault(e.getKey(), e.getKey())
                            + ")", ph.task());
                    series.put(s.getKey() + ": answer", ph.answer());
                    rows.add(String.format("| %s | %s examples | %d | %d | %d |", e.getKey(), s.getKey(),
                            argmax(ph.input()), argmax(ph.task()), argmax(ph.answer())));
                }
                boolean drawn = fig.draw(() -> Charts.lines(out.resolve("lens-" + e.getKey() + ".png"),
                        "Logit lens phases: " + e.getKey(), "relative probability", series, 1.0));
                for (String row : rows) {
                    md.append(row).append(drawn ? " lens-" + e.getKey() + ".png |\n" : " – |\n");
                }
            }
            md.append('\n');
        }
        if (!r.topTokens().isEmpty()) {
            md.append("## Top logit-lens tokens of the task vectors (chosen layer)\n\n| task | specification | tokens |"
                    + "\n|---|---|---|\n");
            r.topTokens().forEach((task, bySpec) -> bySpec.forEach((spec, toks) -> md.append("| ").append(task)
                    .append(" | ").append(spec).append(" | ").append(String.join(", ", toks)).append(" |\n")));
            md.append("\n## Cosine similarity between specifications of the same task (chosen layer, first seed)\n\n"
                    + "| task | pair | cosine |\n|---|---|---|\n");
            r.cosines().forEach((task, pairs) -> pairs.forEach((pair, c) -> md.append(String.format(Locale.ROOT,
                    "| %s | %s | %.3f |%n", task, pair, c))));
            md.append('\n');
        }
        if (!r.scan().isEmpty()) {
            md.append("## Sample efficiency (instruction ensembles)\n\nText-examples vectors averaged over a seeded subset "
                    + "of the validation prompts (n examples in all), patched alone and as a 50/50 ensemble with the "
                    + "instruction vector (n = 0: the instruction alone); image queries, mean over tasks.\n\n"
                    + "| examples n | examples only | ensemble |\n|---|---|---|\n");
            r.scan().forEach((n, acc) -> md.append(String.format(Locale.ROOT, "| %d | %s | %.3f |%n", n,
                    Double.isNaN(acc[0]) ? "–" : String.format(Locale.ROOT, "%.3f", acc[0]), acc[1])));
            md.append(fig.draw(() -> Charts.scan(out.resolve("sample-efficiency.png"), r.scan()))
                    ? "\n![sample efficiency](sample-efficiency.png)\n\n" : "\n");
        }
        if (!r.llmCosine().isEmpty()) {
            md.append("## LLM -> VLM\n\nCosine similarity between the LLM's and the VLM's text-examples task vectors "
                    + "at the chosen layer (first seed; the paper: 0.95 Vicuna vs LLaVA-1.5, 0.89 Mistral vs Idefics2)"
                    + ":\n\n| task | cosine |\n|---|---|\n");
            r.llmCosine().forEach((t, c) -> md.append(String.format(Locale.ROOT, "| %s | %.3f |%n", t, c)));
            md.append('\n');
        }
        if (!r.geometry().isEmpty()) {
            java.util.Map<String, java.util.List<double[]>> groups = new java.util.LinkedHashMap<>();
            r.geometry().forEach((label, xy) -> groups.computeIfAbsent(label.replaceAll(" / seed \\d+$", ""),
                    k -> new java.util.ArrayList<>()).add(xy));
            boolean drawn = fig.draw(() -> Charts.scatter(out.resolve("geometry.png"),
                    "Task vectors at the chosen layer (PCA)", groups));
            md.append("## Geometry\n\n").append(drawn ? "![geometry](geometry.png)\n\n" : "")
                    .append("Two principal components of every task vector at the chosen layer, one series per task "
                            + "and specification (results.json: geometry_2d).\n\n");
        }
        fig.note();
    }

    /** The report's statement of the procedure choices: the official code's, or this project's earlier ones. */
    static String procedure(XpatchConfig config) {
        XpatchConfig.Procedure p = config.procedure();
        boolean sweep = config.layer() < 0;
        boolean prompted = config.conditions().stream().anyMatch(c -> c.kind == Condition.Kind.PROMPT);
        boolean scan = config.conditions().contains(Condition.ENSEMBLE_PATCH);
        boolean lens = config.lensPrompts() > 0;
        StringBuilder sb = new StringBuilder("Procedure (").append(p.equals(XpatchConfig.Procedure.OFFICIAL)
                ? "the official code's throughout" : "differs from the official code where marked").append("):\n\n");
        sb.append("- Layer sweep: ").append(p.sweepSeeds() == XpatchConfig.SweepSeeds.MEAN
                ? "each seed's vector patched, validation accuracy averaged over the seeds " + config.seeds()
                        + " (official; `--sweep-seeds mean`)"
                : "the first seed's vector only, seed " + config.seeds().get(0) + " (deviation; `--sweep-seeds first`)")
                .append(sweep ? "" : "; not run, the layer was given").append('\n');
        sb.append("- In-context examples of the Examples Prompt conditions: ").append(
                p.promptExamples() == XpatchConfig.ExampleSplit.TEST
                ? "other test items, never the query, drawn per seed (official; `--prompt-examples-from test`)"
                : "validation items, drawn per seed (deviation; `--prompt-examples-from val`)")
                .append(prompted ? "" : "; no such condition in this run").append('\n');
        sb.append("- Metric: prefix match, ").append(config.caseSensitive() ? "case-sensitive (official main runs)"
                : "lower-cased (deviation for the main runs; `--ignore-case`)").append("; the sample-efficiency "
                + "scan: ").append(p.scanCaseSensitive() ? "case-sensitive (deviation; `--scan-case-sensitive`)"
                : "prediction and answer lower-cased (official `allow_lower_case=true`)")
                .append(scan ? "" : "; no scan in this run").append('\n');
        sb.append("- Patch: ").append(p.patchMode() == XpatchConfig.PatchMode.REPLACE
                ? "the vector replaces the residual at the query's final ':' (official)"
                : "the vector is added to the residual at the query's final ':' (deviation; `--patch-mode add`, as "
                        + "function vectors: the query's own state is kept)").append('\n');
        sb.append("- Logit-lens tokens: ").append(p.lensTokens() == XpatchConfig.LensTokens.AFTER_COLON
                ? "the first token of each word as it follows `A:` in a prompt (`--lens-tokens after-colon`)"
                : "the first token of each word tokenized alone (`--lens-tokens bare`; with SentencePiece this is "
                        + "the word with a leading space, not the token that follows `A:`)")
                .append(lens ? "" : "; no lens analysis in this run").append('\n');
        return sb.toString();
    }

    private static int argmax(double[] v) {
        int a = 0;
        for (int i = 1; i < v.length; i++) {
            a = v[i] > v[a] ? i : a;
        }
        return a;
    }

    public static void write(Path out, XpatchResults r, XpatchConfig config, ModelInfo model, String modelPath,
                             List<TaskData> tasks) throws IOException {
        Files.createDirectories(out);
        // results.csv
        StringBuilder csv = new StringBuilder("condition,task,seed,layer,correct,total,accuracy,applicable\n");
        for (XpatchResults.Row row : r.rows()) {
            csv.append(String.format(Locale.ROOT, "%s,%s,%d,%d,%d,%d,%.4f,%s%n", row.condition().key(), row.task(),
                    row.seed(), row.layer(), row.correct(), row.total(), row.accuracy(), row.applicable()));
        }
        Files.writeString(out.resolve("results.csv"), csv);

        // results.json
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        ObjectNode m = root.putObject("model");
        m.put("path", modelPath);
        m.put("architecture", model.architecture());
        m.put("name", model.name());
        m.put("layers", model.layers());
        m.put("embedding_size", model.embeddingSize());
        ObjectNode cfg = root.putObject("config");
        cfg.putPOJO("tasks", config.tasks());
        cfg.putPOJO("conditions", config.conditions().stream().map(Condition::key).toList());
        cfg.put("layer", config.layer() < 0 ? "auto" : String.valueOf(config.layer()));
        cfg.putPOJO("seeds", config.seeds());
        cfg.put("examples", config.nExamples());
        cfg.put("max_new_tokens", config.maxNewTokens());
        cfg.put("case_sensitive", config.caseSensitive());
        XpatchConfig.Procedure proc = config.procedure();
        ObjectNode pr = cfg.putObject("procedure");
        pr.put("sweep_seeds", proc.sweepSeeds().key());
        pr.put("prompt_examples_from", proc.promptExamples().key());
        pr.put("scan_case_sensitive", proc.scanCaseSensitive());
        pr.put("lens_tokens", proc.lensTokens().key());
        pr.put("patch_mode", proc.patchMode().key());
        pr.put("official", proc.equals(XpatchConfig.Procedure.OFFICIAL));
        cfg.put("several_images", config.severalImages());
        cfg.put("max_test_items", config.maxTestItems());
        cfg.put("chat_template", config.chatTemplate() == null ? "none (the paper's plain prompts)"
                : config.chatTemplate());
        root.put("chosen_layer", r.chosenLayer());
        ObjectNode sweep = root.putObject("layer_sweep_val_accuracy");
        r.sweep().forEach((l, a) -> sweep.put(String.valueOf(l), a));
        ObjectNode sweepSeeds = root.putObject("layer_sweep_val_accuracy_per_seed");
        r.sweepPerSeed().forEach((seed, byLayer) -> {
            ObjectNode o = sweepSeeds.putObject(String.valueOf(seed));
            byLayer.forEach((l, a) -> o.put(String.valueOf(l), a));
        });
        root.putPOJO("prompt_examples", r.promptExamples());
        ArrayNode data = root.putArray("data");
        for (TaskData t : tasks) {
            ObjectNode d = data.addObject();
            d.put("task", t.name());
            d.put("source", t.source());
            d.put("val", t.val().size());
            d.put("test", config.maxTestItems() > 0 ? Math.min(config.maxTestItems(), t.test().size())
                    : t.test().size());
            d.put("instruction", t.instruction());
        }
        ArrayNode rows = root.putArray("rows");
        for (XpatchResults.Row row : r.rows()) {
            ObjectNode o = rows.addObject();
            o.put("condition", row.condition().key());
            o.put("task", row.task());
            o.put("seed", row.seed());
            o.put("layer", row.layer());
            o.put("correct", row.correct());
            o.put("total", row.total());
            o.put("applicable", row.applicable());
            if (row.applicable()) {
                o.put("accuracy", row.accuracy());
            }
        }
        ObjectNode summary = root.putObject("summary");
        for (Condition c : config.conditions()) {
            ObjectNode s = summary.putObject(c.key());
            for (String t : config.tasks()) {
                OptionalDouble a = r.accuracy(c, t);
                if (a.isPresent()) {
                    s.put(t, a.getAsDouble());
                } else {
                    s.putNull(t);
                }
            }
            OptionalDouble avg = r.average(c, config.tasks());
            if (avg.isPresent()) {
                s.put("average", avg.getAsDouble());
            } else {
                s.putNull("average");
            }
        }
        ObjectNode phases = root.putObject("logit_lens_phases");
        r.phases().forEach((task, bySpec) -> {
            ObjectNode t = phases.putObject(task);
            bySpec.forEach((spec, ph) -> {
                ObjectNode o = t.putObject(spec);
                o.put("prompts", ph.prompts());
                o.putPOJO("input", ph.input());
                o.putPOJO("task", ph.task());
                o.putPOJO("answer", ph.answer());
            });
        });
        root.putPOJO("top_lens_tokens", r.topTokens());
        root.putPOJO("top_lens_tokens_per_layer", r.topTokensPerLayer());
        root.putPOJO("cosine_between_specifications", r.cosines());
        root.putPOJO("geometry_2d", r.geometry());
        root.putPOJO("llm_vlm_cosine", r.llmCosine());
        ObjectNode scan = root.putObject("sample_efficiency");
        r.scan().forEach((n, acc) -> {
            ObjectNode o = scan.putObject(String.valueOf(n));
            if (!Double.isNaN(acc[0])) {
                o.put("examples", acc[0]);
            }
            o.put("ensemble", acc[1]);
        });
        ObjectNode timing = root.putObject("timing");
        timing.put("seconds", r.seconds());
        timing.put("predictions", r.predictions());
        timing.put("predictions_per_second", r.predictions() / Math.max(1e-9, r.seconds()));
        timing.put("vectors_extracted", r.vectorsExtracted());
        timing.put("vectors_from_cache", r.vectorsFromCache());
        json.writerWithDefaultPrettyPrinter().writeValue(out.resolve("results.json").toFile(), root);

        // report.md
        StringBuilder md = new StringBuilder("# Cross-modal task vectors: results\n\n");
        md.append("Model: `").append(modelPath).append("` (").append(model.architecture()).append(", ")
                .append(model.layers()).append(" layers, width ").append(model.embeddingSize()).append(")\n\n");
        md.append("Patched layer: ").append(r.chosenLayer()).append(config.layer() < 0
                ? " (chosen by the best mean validation accuracy of text-examples patching on image queries)"
                : " (given)").append("  \n");
        md.append("Seeds: ").append(config.seeds()).append("; examples per prompt: ").append(config.nExamples())
                .append("; new tokens: ").append(config.maxNewTokens()).append("; metric: prefix match, ")
                .append(config.caseSensitive() ? "case-sensitive" : "case-insensitive").append("; prompts: ")
                .append(config.chatTemplate() == null ? "plain, no chat template (as the paper)"
                        : "wrapped in the chat template " + config.chatTemplate() + " (deviation from the paper)")
                .append("  \n");
        md.append('\n').append(procedure(config)).append('\n');
        md.append("Data: ");
        for (TaskData t : tasks) {
            md.append(t.name()).append(" (").append(t.val().size()).append(" val, ")
                    .append(config.maxTestItems() > 0 ? Math.min(config.maxTestItems(), t.test().size())
                            : t.test().size()).append(" test) ");
        }
        md.append("— ").append(tasks.get(0).source()).append("\n\n");
        md.append(table(r, config)).append('\n');
        if (!config.severalImages()) {
            md.append("Conditions with image examples are not applicable (–): the model takes one image per "
                    + "context, as the paper reports for LLaVA-1.5.\n\n");
        }
        figures(out, r, md);
        md.append(String.format(Locale.ROOT, "Run time %.1f s, %d predictions (%.1f per second).%n%n",
                r.seconds(), r.predictions(), r.predictions() / Math.max(1e-9, r.seconds())));
        md.append("Deviations from the paper: quantized GGUF models through llama.cpp instead of 4-bit bitsandbytes "
                + "models in transformers; the KV cache keeps shared prefixes (the official code recomputes every "
                + "prompt), which changes results only by float rounding; images go to the model's own projector "
                + "preprocessing without the official pipeline's resize to width 224; the built-in data are the "
                + "project's own (entities with an emoji image), not the paper's annotations, unless --data names "
                + "them.\n");
        Files.writeString(out.resolve("report.md"), md);
    }
}
