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
        cfg.put("several_images", config.severalImages());
        cfg.put("max_test_items", config.maxTestItems());
        root.put("chosen_layer", r.chosenLayer());
        ObjectNode sweep = root.putObject("layer_sweep_val_accuracy");
        r.sweep().forEach((l, a) -> sweep.put(String.valueOf(l), a));
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
        ObjectNode timing = root.putObject("timing");
        timing.put("seconds", r.seconds());
        timing.put("predictions", r.predictions());
        timing.put("predictions_per_second", r.predictions() / Math.max(1e-9, r.seconds()));
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
                .append(config.caseSensitive() ? "case-sensitive" : "case-insensitive").append("  \n");
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
