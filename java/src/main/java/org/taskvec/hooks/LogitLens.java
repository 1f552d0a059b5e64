package org.taskvec.hooks;

import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import org.taskvec.engine.Model;

/**
 * The logit lens: what the model would predict if a captured state went straight to its output, through the
 * final norm and the output matrix. One call decodes several vectors (e.g. one per layer at one position).
 */
public final class LogitLens {
    /** A token and its probability under the lens. */
    public record TokenProb(int token, String text, float probability, float logit) {}

    /** The lens of one vector: its softmax over the vocabulary. */
    public record Reading(float[] logits, float[] probabilities) {
        /** The k most probable tokens. */
        public List<TokenProb> top(Model model, int k) {
            PriorityQueue<Integer> heap = new PriorityQueue<>((a, b) -> Float.compare(probabilities[a], probabilities[b]));
            for (int i = 0; i < probabilities.length; i++) {
                heap.add(i);
                if (heap.size() > k) {
                    heap.poll();
                }
            }
            List<TokenProb> out = new ArrayList<>();
            while (!heap.isEmpty()) {
                int t = heap.poll();
                out.add(0, new TokenProb(t, model.tokenText(t), probabilities[t], logits[t]));
            }
            return out;
        }

        public float probability(int token) {
            return probabilities[token];
        }
    }

    private LogitLens() {}

    /** Reads each vector (rows of the model's width) through the final norm and output matrix. */
    public static List<Reading> read(Model model, float[][] vectors) {
        int d = model.embeddingSize();
        float[] flat = new float[vectors.length * d];
        for (int i = 0; i < vectors.length; i++) {
            if (vectors[i].length != d) {
                throw new org.taskvec.engine.InvalidInputException("vector " + i + " has length " + vectors[i].length
                        + "; the model's width is " + d);
            }
            System.arraycopy(vectors[i], 0, flat, i * d, d);
        }
        float[] logits = model.logitLens(flat, true);
        int v = model.vocabularySize();
        List<Reading> out = new ArrayList<>();
        for (int i = 0; i < vectors.length; i++) {
            float[] l = java.util.Arrays.copyOfRange(logits, i * v, (i + 1) * v);
            out.add(new Reading(l, softmax(l)));
        }
        return out;
    }

    static float[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) {
            max = Math.max(max, x);
        }
        double sum = 0;
        float[] p = new float[logits.length];
        for (int i = 0; i < logits.length; i++) {
            double e = Math.exp(logits[i] - max);
            p[i] = (float) e;
            sum += e;
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }
}
