package org.taskvec.xpatch;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.taskvec.engine.Model;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.LogitLens;
import org.taskvec.hooks.RunResult;
import org.taskvec.tasks.IclPrompts;
import org.taskvec.tasks.Modality;
import org.taskvec.tasks.TaskData;
import org.taskvec.tasks.TaskItem;

/**
 * The paper's analyses of task vectors: the logit lens "three phases" (input -> task -> answer) at the task-vector
 * position, the top lens tokens of a task vector, and the geometry of vectors from different specifications.
 */
public final class Analyses {
    /** The paper's input token (the same for every task) and task tokens. */
    public static final String INPUT_TOKEN = "auf";
    public static final Map<String, String> TASK_TOKENS = Map.of("country-capital", "capital",
            "country-currency", "currency", "animal-latin", "species", "animal-young", "baby", "food-color",
            "color", "food-flavor", "flavor");

    private Analyses() {}

    /** Per layer, the mean relative probability (normalised over the three) of the input, task and answer tokens. */
    public record Phases(double[] input, double[] task, double[] answer, int prompts) {}

    /** First token of a word as the model writes it after a space. */
    static int firstToken(Model model, String word) {
        int[] t = model.tokenize(word, false, false);
        return t[0];
    }

    /**
     * The three phases for a task over its first nPrompts validation prompts (examples in modality, seed 1): at
     * the ":" of the last example's A:, each layer's residual through the logit lens; the answer token is that
     * example's label.
     */
    static Phases phases(XpatchContext cx, TaskData task, Modality modality, int nExamples, int nPrompts) {
        Model model = cx.model;
        int nLayer = model.layers();
        int input = firstToken(model, INPUT_TOKEN);
        int taskTok = firstToken(model, TASK_TOKENS.getOrDefault(task.name(), task.name()));
        double[] in = new double[nLayer];
        double[] tk = new double[nLayer];
        double[] an = new double[nLayer];
        List<TaskItem> val = task.val();
        int n = Math.min(nPrompts, val.size());
        for (int i = 0; i < n; i++) {
            List<TaskItem> examples = TaskVectors.examplesFor(val, i, nExamples, 1);
            var prompt = IclPrompts.build(examples, modality, val.get(i), modality, it -> cx.image(task, it), cx.style);
            RunResult r = HookedRun.run(cx.session, prompt, Hooks.create()
                    .captureLayers("resid_post", nLayer, IclPrompts.taskVectorPosition(true, cx.style)));
            float[][] vectors = new float[nLayer][];
            for (int l = 0; l < nLayer; l++) {
                vectors[l] = r.captures().get(l).last();
            }
            int answer = firstToken(model, examples.get(examples.size() - 1).output());
            List<LogitLens.Reading> readings = LogitLens.read(model, vectors);
            for (int l = 0; l < nLayer; l++) {
                double pi = readings.get(l).probability(input);
                double pt = readings.get(l).probability(taskTok);
                double pa = readings.get(l).probability(answer);
                double sum = pi + pt + pa;
                if (sum > 0) {
                    in[l] += pi / sum / n;
                    tk[l] += pt / sum / n;
                    an[l] += pa / sum / n;
                }
            }
        }
        return new Phases(in, tk, an, n);
    }

    /** The k most probable lens tokens of a vector. */
    static List<String> topTokens(Model model, float[] vector, int k) {
        List<String> out = new ArrayList<>();
        for (LogitLens.TokenProb tp : LogitLens.read(model, new float[][] {vector}).get(0).top(model, k)) {
            out.add(tp.text().strip());
        }
        return out;
    }

    static double cosine(float[] a, float[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }

    /** Projects vectors onto their first two principal components (centred; power iteration). */
    static double[][] pca2(List<float[]> vectors) {
        int n = vectors.size();
        int d = vectors.get(0).length;
        double[] mean = new double[d];
        for (float[] v : vectors) {
            for (int i = 0; i < d; i++) {
                mean[i] += v[i] / (double) n;
            }
        }
        double[][] x = new double[n][d];
        for (int k = 0; k < n; k++) {
            for (int i = 0; i < d; i++) {
                x[k][i] = vectors.get(k)[i] - mean[i];
            }
        }
        double[][] comps = new double[2][];
        for (int c = 0; c < 2; c++) {
            double[] w = new double[d];
            java.util.Random rnd = new java.util.Random(17 + c);
            for (int i = 0; i < d; i++) {
                w[i] = rnd.nextGaussian();
            }
            for (int it = 0; it < 200; it++) {
                double[] next = new double[d];
                for (double[] row : x) {
                    double proj = dot(row, w);
                    for (int i = 0; i < d; i++) {
                        next[i] += proj * row[i];
                    }
                }
                for (int prev = 0; prev < c; prev++) { // stay orthogonal to earlier components
                    double p = dot(next, comps[prev]);
                    for (int i = 0; i < d; i++) {
                        next[i] -= p * comps[prev][i];
                    }
                }
                double norm = Math.sqrt(dot(next, next));
                if (norm == 0) {
                    break;
                }
                for (int i = 0; i < d; i++) {
                    w[i] = next[i] / norm;
                }
            }
            comps[c] = w;
        }
        double[][] out = new double[n][2];
        for (int k = 0; k < n; k++) {
            out[k][0] = dot(x[k], comps[0]);
            out[k][1] = dot(x[k], comps[1]);
        }
        return out;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }
}
