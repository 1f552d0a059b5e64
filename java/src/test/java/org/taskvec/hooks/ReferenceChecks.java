package org.taskvec.hooks;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.taskvec.engine.Image;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;

/**
 * Captures of a run against {@link ReferenceForward}: every layer, every position (image positions by value: the
 * reference takes the projector's rows as its input there), the residual points, attention and MLP outputs, and
 * the logits.
 */
final class ReferenceChecks {
    private ReferenceChecks() {}

    /**
     * The reference's inputs for a prompt: tokens and image rows, at the positions llama.cpp gives them. An image's
     * chunks (one, or slices and an overview) fill its runs of positions in the layout in order.
     */
    static List<ReferenceForward.Input> inputs(Model model, int[] layout, List<Image> images,
                                               List<int[]> bidirectional, boolean mrope) {
        List<ReferenceForward.Input> in = new ArrayList<>();
        Map<Integer, java.util.Iterator<Model.ImageEmbedding>> chunks = new java.util.HashMap<>();
        int p = 0;
        for (int i = 0; i < layout.length; ) {
            if (layout[i] >= 0) {
                in.add(ReferenceForward.Input.token(layout[i], p++));
                i++;
                continue;
            }
            int k = -1 - layout[i];
            Model.ImageEmbedding e = chunks.computeIfAbsent(k, x -> model.imageEmbedding(images.get(x)).iterator())
                    .next();
            for (int r = 0; r < e.rows().length; r++) {
                if (i + r >= layout.length || layout[i + r] != layout[i]) {
                    throw new IllegalStateException("image " + k + "'s chunk has " + e.rows().length
                            + " rows, the layout fewer");
                }
                int[] d = e.positions()[r];  // t, x, y relative to the chunk's first position
                int[] pos = mrope ? new int[] {p + d[0], p + d[2], p + d[1], 0}
                        : new int[] {p + d[0], p + d[0], p + d[0], p + d[0]};
                in.add(new ReferenceForward.Input(-1, e.rows()[r], pos));
            }
            if (e.nonCausal()) {
                bidirectional.add(new int[] {i, i + e.rows().length});
            }
            i += e.rows().length;
            p += e.advance();
        }
        return in;
    }

    /**
     * The worst relative error (max |got - want| / max |want| per layer) of each point kind and of the last
     * logits, for a run of prompt on s (a session with F32 KV cache and flash attention off).
     */
    static Map<String, Double> worstErrors(Model model, Session s, Prompt prompt, ReferenceForward ref) {
        List<Image> images = new ArrayList<>();
        for (Prompt.Part part : prompt.parts()) {
            if (part.isImage()) {
                images.add(part.image());
            }
        }
        int[] layout = s.layout(prompt);
        List<int[]> bidirectional = new ArrayList<>();
        List<ReferenceForward.Input> in = inputs(model, layout, images, bidirectional,
                ref.rope == ReferenceForward.Rope.MROPE || ref.rope == ReferenceForward.Rope.IMROPE);
        ReferenceForward.Result want = ref.forward(in, bidirectional);
        int nLayer = ref.nLayer;
        int[] text = java.util.stream.IntStream.range(0, layout.length).filter(i -> layout[i] >= 0).toArray();
        String[] kinds = {"resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"};
        int[] every = java.util.stream.IntStream.range(0, layout.length).toArray();
        // block 0's input: gemma's inp_scaled holds every row; elsewhere "embd" only text rows; Qwen3-VL has none
        String embed = HookPoint.parse("blocks.0.resid_pre", nLayer).node(s).orElse(null);
        Map<String, int[]> rowsOf = new LinkedHashMap<>();
        Hooks hooks = Hooks.create();
        for (int l = 0; l < nLayer; l++) {
            for (String kind : kinds) {
                // the last block keeps only output rows after the attention: text positions there
                int[] rows = l == nLayer - 1 || (l == 0 && kind.equals("resid_pre") && "embd".equals(embed))
                        ? text : every;
                if (l == 0 && kind.equals("resid_pre") && embed == null) {
                    continue;
                }
                rowsOf.put("blocks." + l + "." + kind, rows);
                hooks.capture("blocks." + l + "." + kind, Positions.of(rows));
            }
        }
        RunResult r = HookedRun.run(s, prompt, hooks);
        Map<String, Double> worst = new LinkedHashMap<>();
        for (int l = 0; l < nLayer; l++) {
            for (String kind : kinds) {
                int[] rows = rowsOf.get("blocks." + l + "." + kind);
                if (rows == null) {
                    continue;
                }
                float[][][] ref3 = switch (kind) {
                    case "resid_pre" -> want.residPre;
                    case "resid_mid" -> want.residMid;
                    case "resid_post" -> want.residPost;
                    case "attn_out" -> want.attnOut;
                    default -> want.mlpOut;
                };
                int layer = l;
                float[][] expected = new float[rows.length][];
                for (int i = 0; i < rows.length; i++) {
                    expected[i] = ref3[layer][rows[i]];
                }
                float[][] got = r.capture("blocks." + l + "." + kind).rows();
                if (got.length != rows.length) {
                    throw new AssertionError("blocks." + l + "." + kind + ": " + got.length + " rows, expected "
                            + rows.length);
                }
                worst.merge(kind, HookCorrectnessTest.relError(got, expected), Math::max);
                if (Boolean.getBoolean("taskvec.test.verbose")) {
                    System.out.printf("  %s@%d %.3g%n", kind, l, HookCorrectnessTest.relError(got, expected));
                }
            }
        }
        worst.put("logits", HookCorrectnessTest.relError(s.logits(), want.logits[layout.length - 1]));
        return worst;
    }
}
