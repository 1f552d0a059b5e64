package org.taskvec.hooks;

import java.nio.file.Path;
import org.taskvec.gguf.GgufFile;
import org.taskvec.gguf.GgufReader;

/**
 * An independent forward pass of a llama-architecture GGUF model in plain Java (F32 weights, double
 * accumulation): RMSNorm, RoPE as llama.cpp applies it for llama (adjacent pairs, theta_i = base^(-2i/d)),
 * grouped-query causal attention, SwiGLU. Written from the architecture, not from taskvec's code.
 */
final class ReferenceForward {
    final int nEmbd, nLayer, nHead, nHeadKv, headDim, nFf, nVocab;
    final float eps, ropeBase;
    final float[] tokEmbd, outputNorm, output;
    final float[][] attnNorm, wq, wk, wv, wo, ffnNorm, wGate, wUp, wDown;

    /** Which sub-layer outputs to zero, per layer (for ablation references). */
    boolean[] zeroMlp;

    /** Results of one pass: [layer][position][n_embd] residuals after each block, and the attention outputs. */
    static final class Result {
        float[][][] residPost;
        float[][][] attnOut;
        float[][][] mlpOut;
        float[][] logits; // [position][vocab]
    }

    ReferenceForward(Path file) throws Exception {
        GgufFile g = GgufReader.read(file);
        nEmbd = (int) (long) g.getLong("llama.embedding_length").orElseThrow();
        nLayer = (int) (long) g.getLong("llama.block_count").orElseThrow();
        nHead = (int) (long) g.getLong("llama.attention.head_count").orElseThrow();
        nHeadKv = (int) (long) g.getLong("llama.attention.head_count_kv").orElseThrow();
        nFf = (int) (long) g.getLong("llama.feed_forward_length").orElseThrow();
        headDim = nEmbd / nHead;
        eps = (float) g.get("llama.attention.layer_norm_rms_epsilon").orElseThrow().asDouble();
        ropeBase = g.get("llama.rope.freq_base").map(v -> (float) v.asDouble()).orElse(10000f);
        tokEmbd = t(g, "token_embd.weight");
        nVocab = tokEmbd.length / nEmbd;
        outputNorm = t(g, "output_norm.weight");
        output = t(g, "output.weight");
        attnNorm = new float[nLayer][];
        wq = new float[nLayer][];
        wk = new float[nLayer][];
        wv = new float[nLayer][];
        wo = new float[nLayer][];
        ffnNorm = new float[nLayer][];
        wGate = new float[nLayer][];
        wUp = new float[nLayer][];
        wDown = new float[nLayer][];
        for (int l = 0; l < nLayer; l++) {
            String p = "blk." + l + ".";
            attnNorm[l] = t(g, p + "attn_norm.weight");
            wq[l] = t(g, p + "attn_q.weight");
            wk[l] = t(g, p + "attn_k.weight");
            wv[l] = t(g, p + "attn_v.weight");
            wo[l] = t(g, p + "attn_output.weight");
            ffnNorm[l] = t(g, p + "ffn_norm.weight");
            wGate[l] = t(g, p + "ffn_gate.weight");
            wUp[l] = t(g, p + "ffn_up.weight");
            wDown[l] = t(g, p + "ffn_down.weight");
        }
        zeroMlp = new boolean[nLayer];
    }

    private static float[] t(GgufFile g, String name) throws Exception {
        return GgufReader.readTensor(g, g.tensor(name).orElseThrow(() -> new IllegalStateException(name)));
    }

    /** y = W x for a ggml matrix of shape [nIn, nOut] (row o holds the weights of output o). */
    static float[] matvec(float[] w, float[] x, int nIn, int nOut) {
        float[] y = new float[nOut];
        for (int o = 0; o < nOut; o++) {
            double acc = 0;
            int base = o * nIn;
            for (int i = 0; i < nIn; i++) {
                acc += (double) w[base + i] * x[i];
            }
            y[o] = (float) acc;
        }
        return y;
    }

    float[] rmsNorm(float[] x, float[] w) {
        double ss = 0;
        for (float v : x) {
            ss += (double) v * v;
        }
        float scale = (float) (1.0 / Math.sqrt(ss / x.length + eps));
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i] * scale * w[i];
        }
        return y;
    }

    /** llama's "normal" RoPE: each head's adjacent pairs (2i, 2i+1) rotate by p * base^(-2i/d). */
    void rope(float[] v, int nHeads, int p) {
        for (int h = 0; h < nHeads; h++) {
            for (int i = 0; i < headDim / 2; i++) {
                double theta = p * Math.pow(ropeBase, -2.0 * i / headDim);
                double c = Math.cos(theta);
                double s = Math.sin(theta);
                int a = h * headDim + 2 * i;
                double x0 = v[a];
                double x1 = v[a + 1];
                v[a] = (float) (x0 * c - x1 * s);
                v[a + 1] = (float) (x0 * s + x1 * c);
            }
        }
    }

    Result forward(int[] tokens) {
        int n = tokens.length;
        Result r = new Result();
        r.residPost = new float[nLayer][n][];
        r.attnOut = new float[nLayer][n][];
        r.mlpOut = new float[nLayer][n][];
        float[][] x = new float[n][];
        for (int p = 0; p < n; p++) {
            x[p] = new float[nEmbd];
            System.arraycopy(tokEmbd, tokens[p] * nEmbd, x[p], 0, nEmbd);
        }
        int kvDim = nHeadKv * headDim;
        int group = nHead / nHeadKv;
        for (int l = 0; l < nLayer; l++) {
            float[][] q = new float[n][];
            float[][] k = new float[n][];
            float[][] v = new float[n][];
            for (int p = 0; p < n; p++) {
                float[] h = rmsNorm(x[p], attnNorm[l]);
                q[p] = matvec(wq[l], h, nEmbd, nEmbd);
                k[p] = matvec(wk[l], h, nEmbd, kvDim);
                v[p] = matvec(wv[l], h, nEmbd, kvDim);
                rope(q[p], nHead, p);
                rope(k[p], nHeadKv, p);
            }
            for (int p = 0; p < n; p++) {
                float[] z = new float[nEmbd];
                for (int h = 0; h < nHead; h++) {
                    int kvh = h / group;
                    double[] s = new double[p + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= p; j++) {
                        double dot = 0;
                        for (int d = 0; d < headDim; d++) {
                            dot += (double) q[p][h * headDim + d] * k[j][kvh * headDim + d];
                        }
                        s[j] = dot / Math.sqrt(headDim);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= p; j++) {
                        s[j] = Math.exp(s[j] - max);
                        sum += s[j];
                    }
                    for (int d = 0; d < headDim; d++) {
                        double acc = 0;
                        for (int j = 0; j <= p; j++) {
                            acc += s[j] / sum * v[j][kvh * headDim + d];
                        }
                        z[h * headDim + d] = (float) acc;
                    }
                }
                r.attnOut[l][p] = matvec(wo[l], z, nEmbd, nEmbd);
            }
            for (int p = 0; p < n; p++) {
                float[] y = new float[nEmbd];
                for (int i = 0; i < nEmbd; i++) {
                    y[i] = x[p][i] + r.attnOut[l][p][i];
                }
                float[] h = rmsNorm(y, ffnNorm[l]);
                float[] g = matvec(wGate[l], h, nEmbd, nFf);
                float[] u = matvec(wUp[l], h, nEmbd, nFf);
                float[] a = new float[nFf];
                for (int i = 0; i < nFf; i++) {
                    a[i] = (float) (g[i] / (1 + Math.exp(-g[i])) * u[i]);
                }
                float[] f = zeroMlp[l] ? new float[nEmbd] : matvec(wDown[l], a, nFf, nEmbd);
                r.mlpOut[l][p] = f;
                for (int i = 0; i < nEmbd; i++) {
                    y[i] += f[i];
                }
                x[p] = y;
                r.residPost[l][p] = y.clone();
            }
        }
        r.logits = new float[n][];
        for (int p = 0; p < n; p++) {
            r.logits[p] = matvec(output, rmsNorm(x[p], outputNorm), nEmbd, nVocab);
        }
        return r;
    }
}
