package org.taskvec.hooks;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.taskvec.TestModels;
import org.taskvec.engine.HookPointUnavailableException;
import org.taskvec.engine.Image;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelParams;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.synth.ModelShape;
import org.taskvec.synth.ModelSynthesizer;

/**
 * Hooks on the generated models of each family (Qwen2.5-VL, Gemma 3, SmolVLM, Qwen3-VL): captures at every layer and
 * position against the independent reference (image positions by value), the logit lens of the last layer against
 * the model's logits, identity patches bit-exact, a last-layer transplant exact, the residual stream decomposing
 * exactly, and the graph nodes behind each point.
 */
class FamilyHooksTest {
    static final String TEXT = "Q:France\nA:Paris\n\nQ:Japan\nA:Tokyo\n\nQ:Italy\nA:";

    static Model load(String shape) {
        Path dir = TestModels.generated(ModelShape.byName(shape));
        return Model.load(dir.resolve(ModelSynthesizer.MODEL_FILE),
                ModelParams.defaults().withProjector(dir.resolve(ModelSynthesizer.PROJECTOR_FILE)));
    }

    static Session exact(Model m) {
        return m.newSession(SessionParams.defaults().withContextSize(512).withThreads(TestModels.threads())
                .withKvCacheType(SessionParams.KvCacheType.F32).withFlashAttention(SessionParams.FlashAttention.OFF));
    }

    /**
     * An image whose side suits the family: Qwen's 16 px patches need 128 px for 16 tokens; SmolVLM slices a 64 px
     * image into four 32 px tiles and an overview (five chunks, distinct contents); Gemma takes any size.
     */
    static Image image(String shape, int seed) {
        int side = shape.startsWith("qwen") ? 128 : shape.startsWith("smolvlm") ? 64 : 32;
        BufferedImage img = new BufferedImage(side, side, BufferedImage.TYPE_INT_RGB);
        java.util.Random r = new java.util.Random(seed);
        for (int y = 0; y < side; y++) {
            for (int x = 0; x < side; x++) {
                img.setRGB(x, y, ((x / 4 + y / 4 + seed) % 3 == 0) ? Color.RED.getRGB() : r.nextInt(0xffffff));
            }
        }
        return Image.of(img);
    }

    static Prompt imagePrompt(String shape) {
        return Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:Paris\n\nQ:" + Prompt.MEDIA_MARKER + "\nA:",
                List.of(image(shape, 1), image(shape, 2)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen25vl-tiny", "gemma3-tiny", "smolvlm-tiny", "qwen3vl-tiny"})
    void capturesMatchTheReferenceAtEveryLayerAndPositionImagesByValue(String shape) throws Exception {
        try (Model m = load(shape); Session s = exact(m)) {
            ReferenceForward ref = new ReferenceForward(TestModels.generated(ModelShape.byName(shape))
                    .resolve(ModelSynthesizer.MODEL_FILE));
            for (Prompt p : List.of(Prompt.of(TEXT), imagePrompt(shape))) {
                s.truncate(0);
                Map<String, Double> worst = ReferenceChecks.worstErrors(m, s, p, ref);
                System.out.println(shape + (p.imageCount() > 0 ? " with images" : " text") + " vs reference: "
                        + worst);
                worst.forEach((k, v) -> assertTrue(v <= tolerance(shape, k), shape + " " + k + " error " + v));
            }
        }
    }

    /**
     * 1e-5 (F32 KV cache, flash attention off), except Gemma's points after an MLP: ggml's CPU GELU reads a table
     * of FP16 inputs, so where the reference's gate value (equal to ~1e-6) falls on the other side of an FP16
     * rounding step than the engine's, that element differs by one FP16 step (~1e-3 relative); measured up to
     * 9.8e-5 on a point, 3x margin. The attention (before any MLP) and the soft-capped logits stay within 1e-5.
     */
    static double tolerance(String shape, String kind) {
        boolean afterMlp = !kind.equals("attn_out") && !kind.equals("logits");
        return shape.startsWith("gemma3") && afterMlp ? 3e-4 : 1e-5;
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen25vl-tiny", "gemma3-tiny", "smolvlm-tiny", "qwen3vl-tiny"})
    void theLensOfTheLastLayerIsTheModelsLogits(String shape) {
        try (Model m = load(shape); Session s = exact(m)) {
            String last = "blocks." + (m.layers() - 1) + ".resid_post";
            RunResult r = HookedRun.run(s, Prompt.of(TEXT), Hooks.create().capture(last, Positions.last())
                    .capture("final_norm", Positions.last()));
            float[] logits = s.logits();
            float[] lens = LogitLens.read(m, new float[][] {r.capture(last).last()}).get(0).logits();
            double err = HookCorrectnessTest.relError(lens, logits);
            System.out.println(shape + " lens of the last layer vs logits: " + err);
            assertTrue(err <= 1e-5, shape + " lens error " + err);
            assertEquals(argmax(logits), argmax(lens));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen25vl-tiny", "gemma3-tiny", "smolvlm-tiny", "qwen3vl-tiny"})
    void identityPatchesAreBitExactAndALastLayerTransplantIsExact(String shape) {
        try (Model m = load(shape); Session s = m.newSession(SessionParams.defaults().withContextSize(512)
                .withThreads(TestModels.threads()))) {
            Prompt p = imagePrompt(shape);
            s.evaluate(p, false);
            float[] plain = s.logits();
            int lastLayer = m.layers() - 1;
            List<String> points = new ArrayList<>();
            for (int l = 0; l < m.layers(); l++) {
                points.add("blocks." + l + ".resid_post");
            }
            points.add("blocks.0.attn_out");   // an unnamed wo product on the Qwen models
            points.add("blocks.0.mlp_out");
            points.add("blocks.0.resid_mid");
            points.add("blocks.1.resid_pre"); // deepstack_out on Qwen3-VL
            for (String point : points) {
                // the last block: the last position only (more output rows change the output matmul's rounding)
                Positions at = point.startsWith("blocks." + lastLayer + ".") ? Positions.last() : Positions.all();
                s.truncate(0);
                RunResult cap = HookedRun.run(s, p, Hooks.create().capture(point, at));
                s.truncate(0);
                HookedRun.run(s, p, Hooks.create().replaceRows(point, at, cap.capture(point).rows()));
                assertArrayEquals(plain, s.logits(), shape + ": identity patch of " + point);
                s.truncate(0);
                HookedRun.run(s, p, Hooks.create().zero(point, at));
                assertFalse(java.util.Arrays.equals(plain, s.logits()), shape + ": zeroing " + point + " acts");
            }
            // the last layer's state at the last position decides the next token, whatever came before
            String last = "blocks." + lastLayer + ".resid_post";
            s.truncate(0);
            RunResult a = HookedRun.run(s, Prompt.of(TEXT), Hooks.create().capture(last, Positions.last()));
            float[] source = s.logits();
            HookedRun.run(s, p, Hooks.create().replace(last, Positions.last(), a.capture(last).last()));
            assertArrayEquals(source, s.logits(), shape + ": last-layer transplant");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen25vl-tiny", "gemma3-tiny", "smolvlm-tiny", "qwen3vl-tiny"})
    void theResidualStreamDecomposesExactlyInEveryBlock(String shape) {
        try (Model m = load(shape); Session s = exact(m)) {
            Prompt p = imagePrompt(shape);
            int n = s.layout(p).length;
            Hooks h = Hooks.create();
            for (int l = 0; l < m.layers() - 1; l++) {  // the last block's residuals hold output rows only
                for (String k : new String[] {"resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post"}) {
                    if (!(l == 0 && k.equals("resid_pre"))) {
                        h.capture("blocks." + l + "." + k, Positions.all());
                    }
                }
            }
            RunResult r = HookedRun.run(s, p, h);
            for (int l = 1; l < m.layers() - 1; l++) {
                float[][] pre = r.capture("blocks." + l + ".resid_pre").rows();
                float[][] attn = r.capture("blocks." + l + ".attn_out").rows();
                float[][] mid = r.capture("blocks." + l + ".resid_mid").rows();
                float[][] mlp = r.capture("blocks." + l + ".mlp_out").rows();
                float[][] post = r.capture("blocks." + l + ".resid_post").rows();
                assertEquals(n, post.length);
                for (int i = 0; i < n; i++) {
                    for (int k = 0; k < m.embeddingSize(); k++) {
                        assertEquals(pre[i][k] + attn[i][k], mid[i][k], 0f, shape + " resid_mid, block " + l);
                        assertEquals(mid[i][k] + mlp[i][k], post[i][k], 0f, shape + " resid_post, block " + l);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen25vl-tiny", "gemma3-tiny", "smolvlm-tiny", "qwen3vl-tiny"})
    void eachPointIsTheNodeItsArchitectureAddsToTheResidualStream(String shape) {
        Map<String, List<String>> expected = Map.of(
                // point: node at block 1 (resid_pre: block 1's input), block 0's input
                "qwen25vl-tiny", List.of("ffn_inp-1", "mul_mat(blk.1.attn_output.weight)", "ffn_out-1", "l_out-0",
                        "embd"),
                "gemma3-tiny", List.of("sa_out-1", "attn_post_norm-1", "ffn_post_norm-1", "l_out-0", "inp_scaled"),
                "smolvlm-tiny", List.of("ffn_inp-1", "attn_out-1", "ffn_out-1", "l_out-0", "embd"),
                "qwen3vl-tiny", List.of("ffn_inp-1", "mul_mat(blk.1.attn_output.weight)", "ffn_out-1",
                        "deepstack_out-0", ""));
        try (Model m = load(shape); Session s = exact(m)) {
            int n = m.layers();
            List<String> want = expected.get(shape);
            assertEquals(want.get(0), HookPoint.parse("blocks.1.resid_mid", n).node(s).orElseThrow());
            assertEquals(want.get(1), HookPoint.parse("blocks.1.attn_out", n).node(s).orElseThrow());
            assertEquals(want.get(2), HookPoint.parse("blocks.1.mlp_out", n).node(s).orElseThrow());
            assertEquals(want.get(3), HookPoint.parse("blocks.1.resid_pre", n).node(s).orElseThrow());
            assertEquals(want.get(4), HookPoint.parse("blocks.0.resid_pre", n).node(s).orElse(""));
            if (shape.equals("qwen3vl-tiny")) {
                // Qwen3-VL's block-0 input is a view of a wider input (token embedding + deepstack features), not
                // a row-addressable node: refused before the run, with what the model offers
                HookPointUnavailableException e = assertThrows(HookPointUnavailableException.class, () ->
                        HookedRun.run(s, Prompt.of(TEXT), Hooks.create().capture("blocks.0.resid_pre",
                                Positions.last())));
                assertEquals("this model's graph (architecture qwen3vl) has no node for hook point resid_pre of "
                        + "block 0; it offers: resid_post (blocks 0-2), attn_out (blocks 0-2), mlp_out (blocks 0-2), "
                        + "attn_z (blocks 0-2), final_norm, resid_mid (blocks 0-2), resid_pre (blocks 1-2)",
                        e.getMessage());
                assertEquals(0, s.positions(), "nothing evaluated");
            }
            if (want.get(4).equals("embd")) {
                // "embd" is the token embeddings' node; image rows enter block 0 as an input tensor
                InvalidInputException e = assertThrows(InvalidInputException.class, () -> HookedRun.run(s,
                        imagePrompt(shape), Hooks.create().capture("blocks.0.resid_pre", Positions.all())));
                assertTrue(e.getMessage().contains("are an image: its rows enter block 0 as an input"),
                        e.getMessage());
            }
        }
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
