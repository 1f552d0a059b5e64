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
    /** layer -> mean validation accuracy of text-examples patching over tasks (when the layer was swept). */
    final Map<Integer, Double> sweep = new LinkedHashMap<>();
    int chosenLayer;
    double seconds;
    long predictions;

    public List<Row> rows() {
        return rows;
    }

    public Map<Integer, Double> sweep() {
        return sweep;
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
