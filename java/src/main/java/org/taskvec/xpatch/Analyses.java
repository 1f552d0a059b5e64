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

    /**
     * The token the lens tracks for a word. AFTER_COLON: the first token of the word as it follows {@code A:} in a
     * prompt, the token the model writes at the ":" position the lens reads (tokenize {@code "A:" + word} and take
     * the first token after those of {@code "A:"}). BARE: the first token of the word tokenized alone, which with a
     * SentencePiece vocabulary carries the leading-space marker ({@code "▁Paris"}) that a token right after ":"
     * does not have.
     */
    static int lensToken(Model model, String word, XpatchConfig.LensTokens how) {
        if (word == null || word.isEmpty()) {
            throw new org.taskvec.engine.InvalidInputException("the logit lens needs a non-empty word for its token");
        }
        if (how == XpatchConfig.LensTokens.BARE) {
            return model.tokenize(word, false, false)[0];
        }
        return tokenAfter(model, ANSWER_PREFIX, word);
    }

    /** What precedes an answer in the paper's prompts: the "A:" of {@code Q:{x}\nA:{y}}. */
    static final String ANSWER_PREFIX = "A" + IclPrompts.DELIMITER;

    /** The first token of word where it follows prefix in one text. */
    static int tokenAfter(Model model, String prefix, String word) {
        int[] head = model.tokenize(prefix, false, false);
        int[] full = model.tokenize(prefix + word, false, false);
        int k = 0;
        while (k < head.length && k < full.length && head[k] == full[k]) {
            k++;
        }
        if (k >= full.length) {
            throw new org.taskvec.engine.InvalidInputException("'" + word + "' adds no token after '" + prefix + "'");
        }
        // k < head.length only where the word merged with the prefix's end: the merged token is the one written
        return full[k];
    }

    /**
     * The three phases for a task over its first nPrompts validation prompts (examples in modality, seed 1): at
     * the ":" of the last example's A:, each layer's residual through the logit lens; the answer token is that
     * example's label. The three tokens are chosen as {@link #lensToken} says.
     */
    static Phases phases(XpatchContext cx, TaskData task, Modality modality, int nExamples, int nPrompts,
                         XpatchConfig.LensTokens how) {
        Model model = cx.model;
        int nLayer = model.layers();
        int input = lensToken(model, INPUT_TOKEN, how);
        int taskTok = lensToken(model, TASK_TOKENS.getOrDefault(task.name(), task.name()), how);
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
            int answer = lensToken(model, examples.get(examples.size() - 1).output(), how);
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
