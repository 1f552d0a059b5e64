package org.taskvec.xpatch;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;

/** Accuracies of a run: one row per (condition, task, seed), plus the layer sweep and timings. */
public final class XpatchResults {
    /** One evaluated cell. correct / total over the test items; applicable false marks "not applicable". */
    public record Row(Condition condition, String task, int seed, int layer, int correct, int total,
                      boolean applicable) {
        public double accuracy() {
            return total == 0 ? 0 : (double) correct / total;
        }
    }

    final List<Row> rows = new ArrayList<>();
    /**
     * layer -> validation accuracy of text-examples patching, mean over the sweep's seeds and then the tasks (when
     * the layer was swept).
     */
    final Map<Integer, Double> sweep = new LinkedHashMap<>();
    /** seed -> layer -> validation accuracy of that seed's vector, mean over tasks (the seeds the sweep used). */
    final Map<Integer, Map<Integer, Double>> sweepPerSeed = new LinkedHashMap<>();
    /**
     * The in-context examples of the Examples Prompt conditions: task -> seed -> test query's input -> the
     * examples' inputs (the official code's {@code train_idxs}).
     */
    final Map<String, Map<Integer, Map<String, List<String>>>> promptExamples = new LinkedHashMap<>();
    int chosenLayer;
    /** task -> specification ("text", "image") -> the three phases per layer. */
    final Map<String, Map<String, Analyses.Phases>> phases = new LinkedHashMap<>();
    /** task -> specification -> top lens tokens of its vector at the chosen layer. */
    final Map<String, Map<String, List<String>>> topTokens = new LinkedHashMap<>();
    /** task -> top-3 lens tokens of the text-examples vector at every layer (first seed). */
    final Map<String, List<List<String>>> topTokensPerLayer = new LinkedHashMap<>();
    /** task -> "spec a ~ spec b" -> cosine similarity at the chosen layer (seed 1). */
    final Map<String, Map<String, Double>> cosines = new LinkedHashMap<>();
    /** task -> cosine between the LLM's and the VLM's text-examples vectors at the chosen layer (first seed). */
    final Map<String, Double> llmCosine = new LinkedHashMap<>();
    /**
     * Sample-efficiency scan (first seed, chosen layer): examples n (0 = instruction only) -> accuracy of
     * text-examples patching without ("examples") and with ("ensemble") the instruction, mean over tasks.
     */
    final Map<Integer, double[]> scan = new java.util.TreeMap<>();
    /** 2-D projection of every vector at the chosen layer: label "task / spec / seed" -> (x, y). */
    final Map<String, double[]> geometry = new LinkedHashMap<>();
    double seconds;
    long predictions;
    /** Task vectors (one per specification, seed and model, every layer) extracted, and read from the cache. */
    int vectorsExtracted;
    int vectorsFromCache;

    public int vectorsExtracted() {
        return vectorsExtracted;
    }

    public int vectorsFromCache() {
        return vectorsFromCache;
    }

    public List<Row> rows() {
        return rows;
    }

    public Map<Integer, Double> sweep() {
        return sweep;
    }

    public Map<Integer, Map<Integer, Double>> sweepPerSeed() {
        return sweepPerSeed;
    }

    public Map<String, Map<Integer, Map<String, List<String>>>> promptExamples() {
        return promptExamples;
    }

    public Map<String, Map<String, Analyses.Phases>> phases() {
        return phases;
    }

    public Map<String, Map<String, List<String>>> topTokens() {
        return topTokens;
    }

    public Map<String, List<List<String>>> topTokensPerLayer() {
        return topTokensPerLayer;
    }

    public Map<String, Map<String, Double>> cosines() {
        return cosines;
    }

    /** n -> {examples-only accuracy (NaN at n = 0), ensemble accuracy} */
    public Map<Integer, double[]> scan() {
        return scan;
    }

    public Map<String, Double> llmCosine() {
        return llmCosine;
    }

    public Map<String, double[]> geometry() {
        return geometry;
    }

    public int chosenLayer() {
        return chosenLayer;
    }

    public double seconds() {
        return seconds;
    }

    public long predictions() {
        return predictions;
    }

    /** Mean accuracy over seeds for a condition and task; empty when not applicable. */
    public OptionalDouble accuracy(Condition c, String task) {
        return rows.stream().filter(r -> r.condition == c && r.task.equals(task) && r.applicable)
                .mapToDouble(Row::accuracy).average();
    }

    /** Mean over tasks of the per-task means; empty when not applicable. */
    public OptionalDouble average(Condition c, List<String> tasks) {
        double sum = 0;
        for (String t : tasks) {
            OptionalDouble a = accuracy(c, t);
            if (a.isEmpty()) {
                return OptionalDouble.empty();
            }
            sum += a.getAsDouble();
        }
        return OptionalDouble.of(sum / tasks.size());
    }
}
