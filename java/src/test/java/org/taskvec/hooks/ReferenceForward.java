package org.taskvec.hooks;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.taskvec.gguf.GgufFile;
import org.taskvec.gguf.GgufReader;
import org.taskvec.gguf.Half;

/**
 * An independent forward pass of a GGUF text model in plain Java (F32 weights, double accumulation), written from
 * the architectures' definitions, not from taskvec's code, for the families taskvec generates:
 * <ul>
 *   <li>{@code llama}: RMSNorm, RoPE on adjacent pairs (theta_i = base^(-2i/d)), grouped-query causal attention,
 *       SwiGLU;</li>
 *   <li>{@code qwen2vl}: as llama, plus q/k/v biases and M-RoPE: NeoX pairs (i, i + d/2), and the pair's position
 *       taken from one of four sections (time, height, width, extra; a text token has its position in all four, an
 *       image row its time / row / column);</li>
 *   <li>{@code gemma3}: embeddings of tokens scaled by sqrt(n_embd) (image rows not), per-head RMSNorm of q and k,
 *       NeoX RoPE with another base on sliding-window layers, queries scaled by 1/sqrt(head_dim), a norm after the
 *       attention and after the MLP before each residual add ("sandwich"), GELU-gated MLP, sliding-window attention
 *       on all layers but every n-th, attention in both directions within an image, and soft-capped logits.
 *       GELU is computed as ggml's CPU kernels compute it: from a table of FP16 inputs and FP16 outputs (the exact
 *       function differs by up to ~1e-3 relative);</li>
 * </ul>
 * and {@code qwen3vl}: q/k norms, interleaved M-RoPE (sections alternate t, h, w pair by pair), and DeepStack: an
 * image row carries extra features, one slice added to the residual stream after each of the first layers.
 * The output matrix is {@code output.weight}, or {@code token_embd.weight} when the model ties them.
 */
final class ReferenceForward {
    enum Rope { NORMAL, NEOX, MROPE, IMROPE }

    final String arch;
    final int nEmbd, nLayer, nHead, nHeadKv, headDim, nFf, nVocab;
    final float eps, ropeBase, ropeBaseSwa, softcap;
    final Rope rope;
    final int[] sections;          // M-RoPE sections (pairs per section), else null
    final boolean gemma;           // sandwich norms, q/k norms, embedding scale, GELU
    final int swaWindow;           // 0: no sliding window
    final int nDeepstack;          // Qwen3-VL: layers after which an image row's extra features are added
    final boolean[] swa;           // per layer: sliding-window layer
    final float[] tokEmbd, outputNorm, output;
    final float[][] attnNorm, wq, wk, wv, wo, bq, bk, bv, bo, qNorm, kNorm, attnPostNorm;
    final float[][] ffnNorm, wGate, wUp, wDown, ffnPostNorm;

    /** Which sub-layer outputs to zero, per layer (for ablation references). */
    boolean[] zeroMlp;

    /** Results of one pass, [layer][position][n_embd]. */
    static final class Result {
        float[][][] residPre;
        float[][][] residPost;
        float[][][] residMid;
        float[][][] attnOut;
        float[][][] mlpOut;
        float[][] logits; // [position][vocab]
    }

    /**
     * One position of the input: a token, or an embedding row (an image row), at a position of four components
     * (time, height, width, extra; equal for text and for models without M-RoPE).
     */
    record Input(int token, float[] embedding, int[] pos) {
        static Input token(int token, int p) {
            return new Input(token, null, new int[] {p, p, p, p});
        }
    }

    ReferenceForward(Path file) throws Exception {
        GgufFile g = GgufReader.read(file);
        arch = g.getString("general.architecture").orElseThrow();
        String a = arch + ".";
        nEmbd = (int) (long) g.getLong(a + "embedding_length").orElseThrow();
        nLayer = (int) (long) g.getLong(a + "block_count").orElseThrow();
        nHead = (int) (long) g.getLong(a + "attention.head_count").orElseThrow();
        nHeadKv = (int) (long) g.getLong(a + "attention.head_count_kv").orElseThrow();
        nFf = (int) (long) g.getLong(a + "feed_forward_length").orElseThrow();
        headDim = (int) (long) g.getLong(a + "attention.key_length").orElse((long) (nEmbd / nHead));
        eps = (float) g.get(a + "attention.layer_norm_rms_epsilon").orElseThrow().asDouble();
        ropeBase = g.get(a + "rope.freq_base").map(v -> (float) v.asDouble()).orElse(10000f);
        ropeBaseSwa = g.get(a + "rope.freq_base_swa").map(v -> (float) v.asDouble()).orElse(ropeBase);
        softcap = g.get(a + "final_logit_softcapping").map(v -> (float) v.asDouble()).orElse(0f);
        gemma = arch.equals("gemma3");
        switch (arch) {
            case "llama": rope = Rope.NORMAL; break;
            case "qwen2vl": rope = Rope.MROPE; break;
            case "qwen3vl": rope = Rope.IMROPE; break;
            case "gemma3": case "qwen2": rope = Rope.NEOX; break;
            default: throw new IllegalArgumentException("no reference for architecture " + arch);
        }
        if (rope == Rope.MROPE || rope == Rope.IMROPE) {
            Object s = g.get(a + "rope.dimension_sections").orElseThrow().value();
            sections = s instanceof int[] i ? i.clone() : java.util.Arrays.stream((long[]) s).mapToInt(v -> (int) v).toArray();
        } else {
            sections = null;
        }
        nDeepstack = (int) (long) g.getLong(a + "n_deepstack_layers").orElse(0L);
        swaWindow = gemma ? (int) (long) g.getLong(a + "attention.sliding_window").orElse(0L) : 0;
        int pattern = gemma ? (int) (long) g.getLong(a + "attention.sliding_window_pattern").orElse(6L) : 0;
        swa = new boolean[nLayer];
        for (int l = 0; l < nLayer; l++) {
            // llama.cpp's set_swa_pattern: every pattern-th layer (the last of each group) attends globally
            swa[l] = swaWindow > 0 && (pattern == 0 || l % pattern < pattern - 1);
        }
        tokEmbd = t(g, "token_embd.weight");
        nVocab = tokEmbd.length / nEmbd;
        outputNorm = t(g, "output_norm.weight");
        output = g.tensor("output.weight").isPresent() ? t(g, "output.weight") : tokEmbd;
        attnNorm = new float[nLayer][];
        wq = new float[nLayer][];
        wk = new float[nLayer][];
        wv = new float[nLayer][];
        wo = new float[nLayer][];
        bq = new float[nLayer][];
        bk = new float[nLayer][];
        bv = new float[nLayer][];
        bo = new float[nLayer][];
        qNorm = new float[nLayer][];
        kNorm = new float[nLayer][];
        attnPostNorm = new float[nLayer][];
        ffnNorm = new float[nLayer][];
        wGate = new float[nLayer][];
        wUp = new float[nLayer][];
        wDown = new float[nLayer][];
        ffnPostNorm = new float[nLayer][];
        for (int l = 0; l < nLayer; l++) {
            String p = "blk." + l + ".";
            attnNorm[l] = t(g, p + "attn_norm.weight");
            wq[l] = t(g, p + "attn_q.weight");
            wk[l] = t(g, p + "attn_k.weight");
            wv[l] = t(g, p + "attn_v.weight");
            wo[l] = t(g, p + "attn_output.weight");
            bq[l] = opt(g, p + "attn_q.bias");
            bk[l] = opt(g, p + "attn_k.bias");
            bv[l] = opt(g, p + "attn_v.bias");
            bo[l] = opt(g, p + "attn_output.bias");
            qNorm[l] = opt(g, p + "attn_q_norm.weight");
            kNorm[l] = opt(g, p + "attn_k_norm.weight");
            attnPostNorm[l] = opt(g, p + "post_attention_norm.weight");
            ffnNorm[l] = t(g, p + "ffn_norm.weight");
            wGate[l] = t(g, p + "ffn_gate.weight");
            wUp[l] = t(g, p + "ffn_up.weight");
            wDown[l] = t(g, p + "ffn_down.weight");
            ffnPostNorm[l] = opt(g, p + "post_ffw_norm.weight");
            if (gemma && (qNorm[l] == null || kNorm[l] == null || attnPostNorm[l] == null || ffnPostNorm[l] == null)) {
                throw new IllegalStateException("gemma3 block " + l + " lacks a q/k or post norm");
            }
        }
        zeroMlp = new boolean[nLayer];
    }

    private static float[] t(GgufFile g, String name) throws Exception {
        return GgufReader.readTensor(g, g.tensor(name).orElseThrow(() -> new IllegalStateException(name)));
    }

    private static float[] opt(GgufFile g, String name) throws Exception {
        return g.tensor(name).isPresent() ? t(g, name) : null;
    }

    /** y = W x for a ggml matrix of shape [nIn, nOut] (row o holds the weights of output o), plus bias b. */
    static float[] matvec(float[] w, float[] x, int nIn, int nOut, float[] b) {
        float[] y = new float[nOut];
        for (int o = 0; o < nOut; o++) {
            double acc = 0;
            int base = o * nIn;
            for (int i = 0; i < nIn; i++) {
                acc += (double) w[base + i] * x[i];
            }
            y[o] = (float) (b == null ? acc : acc + b[o]);
        }
        return y;
    }

    static float[] matvec(float[] w, float[] x, int nIn, int nOut) {
        return matvec(w, x, nIn, nOut, null);
    }

    /** RMSNorm of each consecutive group of w.length values of x (a whole vector, or each head). */
    float[] rmsNorm(float[] x, float[] w) {
        int n = w.length;
        float[] y = new float[x.length];
        for (int g = 0; g < x.length; g += n) {
            double ss = 0;
            for (int i = g; i < g + n; i++) {
                ss += (double) x[i] * x[i];
            }
            float scale = (float) (1.0 / Math.sqrt(ss / n + eps));
            for (int i = g; i < g + n; i++) {
                y[i] = x[i] * scale * w[i - g];
            }
        }
        return y;
    }

    /** RoPE of each head of v at position pos (four components), with base. */
    void rope(float[] v, int nHeads, int[] pos, float base) {
        int half = headDim / 2;
        for (int h = 0; h < nHeads; h++) {
            for (int i = 0; i < half; i++) {
                int p = pos[0];
                if (rope == Rope.MROPE || rope == Rope.IMROPE) {
                    int sectDims = sections[0] + sections[1] + sections[2] + sections[3];
                    int sector = i % sectDims;
                    if (rope == Rope.MROPE) {  // sections one after another
                        p = sector < sections[0] ? pos[0] : sector < sections[0] + sections[1] ? pos[1]
                                : sector < sections[0] + sections[1] + sections[2] ? pos[2] : pos[3];
                    } else {                   // interleaved: t, h, w, t, h, w, ... while each section lasts
                        p = sector % 3 == 1 && sector < 3 * sections[1] ? pos[1]
                                : sector % 3 == 2 && sector < 3 * sections[2] ? pos[2]
                                : sector % 3 == 0 && sector < 3 * sections[0] ? pos[0] : pos[3];
                    }
                }
                double theta = p * Math.pow(base, -2.0 * i / headDim);
                double c = Math.cos(theta);
                double s = Math.sin(theta);
                int a = h * headDim + (rope == Rope.NORMAL ? 2 * i : i);
                int b = rope == Rope.NORMAL ? a + 1 : a + half;
                double x0 = v[a];
                double x1 = v[b];
                v[a] = (float) (x0 * c - x1 * s);
                v[b] = (float) (x0 * s + x1 * c);
            }
        }
    }

    /** GELU (tanh form) as ggml's CPU kernels compute it: FP16 input, FP16 table entry. */
    static float geluAsGgml(float x) {
        if (x <= -10f) {
            return 0f;
        }
        if (x >= 10f) {
            return x;
        }
        double h = Half.toFloat(Half.fromFloat(x));
        double gelu = 0.5 * h * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (h + 0.044715 * h * h * h)));
        return Half.toFloat(Half.fromFloat((float) gelu));
    }

    Result forward(int[] tokens) {
        List<Input> in = new ArrayList<>();
        for (int p = 0; p < tokens.length; p++) {
            in.add(Input.token(tokens[p], p));
        }
        return forward(in, List.of());
    }

    /**
     * A pass over inputs; bidirectional lists [start, end) index ranges whose positions attend to each other in
     * both directions (an image, for models that decode images without a causal mask).
     */
    Result forward(List<Input> inputs, List<int[]> bidirectional) {
        int n = inputs.size();
        Result r = new Result();
        r.residPost = new float[nLayer][n][];
        r.residPre = new float[nLayer][n][];
        r.residMid = new float[nLayer][n][];
        r.attnOut = new float[nLayer][n][];
        r.mlpOut = new float[nLayer][n][];
        float[][] x = new float[n][];
        float embScale = (float) Math.sqrt(nEmbd);  // sqrtf(n_embd), as a float
        for (int p = 0; p < n; p++) {
            Input i = inputs.get(p);
            if (i.embedding() != null) {
                x[p] = java.util.Arrays.copyOf(i.embedding(), nEmbd);  // Qwen3-VL: the rest is deepstack features
            } else {
                x[p] = new float[nEmbd];
                System.arraycopy(tokEmbd, i.token() * nEmbd, x[p], 0, nEmbd);
                if (gemma) {
                    for (int k = 0; k < nEmbd; k++) {
                        x[p][k] *= embScale;
                    }
                }
            }
        }
        int[] last = new int[n];  // the last position each query may attend to
        for (int p = 0; p < n; p++) {
            last[p] = p;
        }
        for (int[] range : bidirectional) {
            for (int p = range[0]; p < range[1]; p++) {
                last[p] = range[1] - 1;
            }
        }
        int qDim = nHead * headDim;
        int kvDim = nHeadKv * headDim;
        int group = nHead / nHeadKv;
        double kqScale = gemma ? 1.0 : 1.0 / Math.sqrt(headDim);
        float qScale = (float) (1.0 / Math.sqrt(headDim));
        for (int l = 0; l < nLayer; l++) {
            for (int p = 0; p < n; p++) {
                r.residPre[l][p] = x[p].clone();
            }
            float base = swa[l] ? ropeBaseSwa : ropeBase;
            float[][] q = new float[n][];
            float[][] k = new float[n][];
            float[][] v = new float[n][];
            for (int p = 0; p < n; p++) {
                float[] h = rmsNorm(x[p], attnNorm[l]);
                q[p] = matvec(wq[l], h, nEmbd, qDim, bq[l]);
                k[p] = matvec(wk[l], h, nEmbd, kvDim, bk[l]);
                v[p] = matvec(wv[l], h, nEmbd, kvDim, bv[l]);
                if (qNorm[l] != null) {
                    q[p] = rmsNorm(q[p], qNorm[l]);
                    k[p] = rmsNorm(k[p], kNorm[l]);
                }
                int[] pos = inputs.get(p).pos();
                rope(q[p], nHead, pos, base);
                rope(k[p], nHeadKv, pos, base);
                if (gemma) {
                    for (int i = 0; i < qDim; i++) {
                        q[p][i] *= qScale;
                    }
                }
            }
            for (int p = 0; p < n; p++) {
                float[] z = new float[qDim];
                int pq = inputs.get(p).pos()[0];
                for (int h = 0; h < nHead; h++) {
                    int kvh = h / group;
                    double[] s = new double[last[p] + 1];
                    boolean[] visible = new boolean[last[p] + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= last[p]; j++) {
                        // sliding window on the time position (llama.cpp: masked when p_query - p_key >= window)
                        visible[j] = !swa[l] || pq - inputs.get(j).pos()[0] < swaWindow;
                        if (!visible[j]) {
                            continue;
                        }
                        double dot = 0;
                        for (int d = 0; d < headDim; d++) {
                            dot += (double) q[p][h * headDim + d] * k[j][kvh * headDim + d];
                        }
                        s[j] = dot * kqScale;
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= last[p]; j++) {
                        s[j] = visible[j] ? Math.exp(s[j] - max) : 0;
                        sum += s[j];
                    }
                    for (int d = 0; d < headDim; d++) {
                        double acc = 0;
                        for (int j = 0; j <= last[p]; j++) {
                            acc += s[j] / sum * v[j][kvh * headDim + d];
                        }
                        z[h * headDim + d] = (float) acc;
                    }
                }
                float[] attn = matvec(wo[l], z, qDim, nEmbd, bo[l]);
                r.attnOut[l][p] = attnPostNorm[l] != null ? rmsNorm(attn, attnPostNorm[l]) : attn;
            }
            for (int p = 0; p < n; p++) {
                float[] y = new float[nEmbd];
                for (int i = 0; i < nEmbd; i++) {
                    y[i] = x[p][i] + r.attnOut[l][p][i];
                }
                r.residMid[l][p] = y.clone();
                float[] h = rmsNorm(y, ffnNorm[l]);
                float[] g = matvec(wGate[l], h, nEmbd, nFf);
                float[] u = matvec(wUp[l], h, nEmbd, nFf);
                float[] a = new float[nFf];
                for (int i = 0; i < nFf; i++) {
                    a[i] = gemma ? geluAsGgml(g[i]) * u[i] : (float) (g[i] / (1 + Math.exp(-g[i])) * u[i]);
                }
                float[] f = zeroMlp[l] ? new float[nEmbd] : matvec(wDown[l], a, nFf, nEmbd);
                if (ffnPostNorm[l] != null && !zeroMlp[l]) {
                    f = rmsNorm(f, ffnPostNorm[l]);
                }
                r.mlpOut[l][p] = f;
                for (int i = 0; i < nEmbd; i++) {
                    y[i] += f[i];
                }
                x[p] = y;
                r.residPost[l][p] = y.clone();
                float[] e = inputs.get(p).embedding();
                if (l < nDeepstack && e != null) {  // the block's output plus the image row's features for it
                    x[p] = y.clone();
                    for (int c = 0; c < nEmbd; c++) {
                        x[p][c] += e[(l + 1) * nEmbd + c];
                    }
                }
            }
        }
        r.logits = new float[n][];
        for (int p = 0; p < n; p++) {
            float[] lg = matvec(output, rmsNorm(x[p], outputNorm), nEmbd, nVocab);
            if (softcap > 0) {
                for (int i = 0; i < lg.length; i++) {
                    lg[i] = (float) (softcap * Math.tanh(lg[i] / softcap));
                }
            }
            r.logits[p] = lg;
        }
        return r;
    }
}
