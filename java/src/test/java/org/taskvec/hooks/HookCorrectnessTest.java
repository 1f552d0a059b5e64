package org.taskvec.hooks;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;
import org.taskvec.engine.Image;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;

/** Hooks proven against an independent forward pass of the same GGUF file. */
class HookCorrectnessTest {
    static Model model;
    static ReferenceForward ref;
    static final String SHORT = "Q: What is the capital of France?\nA:";
    static final String LONG = "Q:France\nA:Paris\n\nQ:Japan\nA:Tokyo\n\nQ:Italy\nA:Rome\n\nQ:Kenya\nA:Nairobi\n\nQ:Peru\nA:";

    @BeforeAll
    static void load() throws Exception {
        model = TestModels.loadTinyWithProjector();
        ref = new ReferenceForward(TestModels.tinyModel());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** F32 KV cache, no flash attention, small micro-batches so that long prompts span several. */
    static Session exactSession() {
        return model.newSession(SessionParams.defaults().withContextSize(512).withThreads(TestModels.threads())
                .withBatchSize(64, 16).withKvCacheType(SessionParams.KvCacheType.F32)
                .withFlashAttention(SessionParams.FlashAttention.OFF));
    }

    static Session defaultSession() {
        return model.newSession(SessionParams.defaults().withContextSize(512).withThreads(TestModels.threads()));
    }

    /** max |a - b| over a layer / max |b|. */
    static double relError(float[][] got, float[][] want) {
        return org.taskvec.perf.GpuCheck.relError(got, want);
    }

    static double relError(float[] got, float[] want) {
        return relError(new float[][] {got}, new float[][] {want});
    }

    double worstResidError(Session s, String text) {
        Prompt prompt = Prompt.of(text);
        RunResult r = HookedRun.run(s, prompt, Hooks.create().captureLayers("resid_post", model.layers(),
                Positions.all()));
        ReferenceForward.Result want = ref.forward(r.layout());
        double worst = 0;
        for (int l = 0; l < model.layers(); l++) {
            Capture c = r.captures().get(l);
            assertEquals(r.layout().length, c.rows().length, "one row per position at layer " + l);
            worst = Math.max(worst, relError(c.rows(), want.residPost[l]));
        }
        return worst;
    }

    @Test
    void residualStreamMatchesTheReferenceAtEveryLayerAndPosition() {
        int n = model.tokenize(LONG, true).length;
        try (Session s = exactSession()) {
            assertTrue(n > 16, "the long prompt spans several micro-batches of 16: " + n);
            for (String text : List.of(SHORT, LONG, "Hello world")) {
                double err = worstResidError(s, text);
                System.out.printf("resid_post vs reference, F32 KV, flash attention off: rel error %.3g (%s)%n",
                        err, text.replace("\n", "\\n"));
                assertTrue(err <= 1e-5, "F32 KV, no flash attention: rel error " + err + " for '" + text + "'");
            }
        }
        try (Session s = defaultSession()) {
            for (String text : List.of(SHORT, LONG)) {
                double err = worstResidError(s, text);
                System.out.printf("resid_post vs reference, llama.cpp defaults: rel error %.3g%n", err);
                assertTrue(err <= 1e-3, "llama.cpp defaults: rel error " + err);
            }
        }
    }

    @Test
    void attentionAndMlpOutputsMatchTheReference() {
        try (Session s = exactSession()) {
            RunResult r = HookedRun.run(s, Prompt.of(SHORT), Hooks.create()
                    .capture("blocks.1.attn_out", Positions.all())
                    .capture("blocks.2.hook_mlp_out", Positions.all())
                    .capture("blocks.3.attn.hook_z", Positions.last()));
            ReferenceForward.Result want = ref.forward(r.layout());
            assertTrue(relError(r.capture("blocks.1.attn_out").rows(), want.attnOut[1]) <= 1e-5);
            assertTrue(relError(r.capture("blocks.2.mlp_out").rows(), want.mlpOut[2]) <= 1e-5);
            assertEquals(model.info().heads() * (model.embeddingSize() / model.info().heads()),
                    r.capture("blocks.3.attn_z").last().length);
        }
    }

    @Test
    void identityPatchGivesBitIdenticalLogits() {
        try (Session s = defaultSession()) {
            Prompt p = Prompt.of(SHORT);
            s.evaluate(p, false);
            float[] plain = s.logits();
            for (int layer : new int[] {0, 2, model.layers() - 1}) {
                // In the last layer, hooked positions become output rows; more output rows change the shape of
                // the output matmul and with it the last bits of the logits, so the last layer is patched at the
                // last position only (the one output row a plain run has).
                Positions at = layer == model.layers() - 1 ? Positions.last() : Positions.all();
                String point = "blocks." + layer + ".resid_post";
                // Each run evaluates the whole prompt in one batch, as the plain run did: a run that reuses the
                // cached prefix computes the rest in a smaller batch, equal only to float rounding.
                s.truncate(0);
                RunResult cap = HookedRun.run(s, p, Hooks.create().capture(point, at));
                s.truncate(0);
                HookedRun.run(s, p, Hooks.create().replaceRows(point, at, cap.capture(point).rows()));
                assertArrayEquals(plain, s.logits(), "identity patch at layer " + layer);
            }
            // add with scale 0 is a no-op
            s.truncate(0);
            HookedRun.run(s, p, Hooks.create().add("blocks.1.resid_post", Positions.all(),
                    new float[model.embeddingSize()], 0f));
            assertArrayEquals(plain, s.logits());
            float[] ones = new float[model.embeddingSize()];
            java.util.Arrays.fill(ones, 1f);
            s.truncate(0);
            HookedRun.run(s, p, Hooks.create().add("blocks.1.resid_post", Positions.all(), ones, 0f));
            assertArrayEquals(plain, s.logits(), "scale 0 of a non-zero vector");
            // hooks are gone after the run: a plain evaluation gives the plain logits
            HookedRun.run(s, p, Hooks.create().zero("blocks.1.resid_post", Positions.all()));
            assertFalse(java.util.Arrays.equals(plain, s.logits()), "zeroing changes the logits");
            s.evaluate(p, false);
            assertArrayEquals(plain, s.logits());
        }
    }

    @Test
    void lastLayerTransplantMakesTheTargetsLogitsTheSources() {
        int last = model.layers() - 1;
        String point = "blocks." + last + ".resid_post";
        try (Session s = defaultSession()) {
            RunResult a = HookedRun.run(s, Prompt.of(SHORT), Hooks.create().capture(point, Positions.last()));
            float[] sourceLogits = s.logits();
            HookedRun.run(s, Prompt.of("Hello world, how are you"), Hooks.create()
                    .replace(point, Positions.last(), a.capture(point).last()));
            assertArrayEquals(sourceLogits, s.logits());
            // a middle-layer cross patch changes the logits but does not make them equal
            RunResult mid = HookedRun.run(s, Prompt.of(SHORT), Hooks.create().capture("blocks.1.resid_post",
                    Positions.last()));
            s.evaluate(Prompt.of("Hello world, how are you"), false);
            float[] target = s.logits();
            HookedRun.run(s, Prompt.of("Hello world, how are you"), Hooks.create()
                    .replace("blocks.1.resid_post", Positions.last(), mid.capture("blocks.1.resid_post").last()));
            assertFalse(java.util.Arrays.equals(target, s.logits()));
        }
    }

    @Test
    void zeroAblationOfAnMlpEqualsTheReferenceWithItZeroed() {
        try (Session s = exactSession()) {
            RunResult r = HookedRun.run(s, Prompt.of(SHORT), Hooks.create()
                    .zero("blocks.1.mlp_out", Positions.all())
                    .captureLayers("resid_post", model.layers(), Positions.all()));
            ref.zeroMlp[1] = true;
            try {
                ReferenceForward.Result want = ref.forward(r.layout());
                for (int l = 0; l < model.layers(); l++) {
                    double err = relError(r.captures().get(l).rows(), want.residPost[l]);
                    assertTrue(err <= 1e-5, "layer " + l + " rel error " + err);
                }
                float[] got = s.logits();
                assertTrue(relError(got, want.logits[r.layout().length - 1]) <= 1e-5);
            } finally {
                ref.zeroMlp[1] = false;
            }
        }
    }

    @Test
    void logitLensOfTheLastLayerEqualsTheModelsLogits() {
        try (Session s = exactSession()) {
            String point = "blocks." + (model.layers() - 1) + ".resid_post";
            RunResult r = HookedRun.run(s, Prompt.of(SHORT), Hooks.create().capture(point, Positions.last()));
            float[] lens = model.logitLens(r.capture(point).last(), true);
            float[] logits = s.logits();
            double err = relError(lens, logits);
            assertTrue(err <= 1e-5, "lens vs logits: " + err);
            assertEquals(argmax(logits), argmax(lens));
        }
    }

    static int argmax(float[] v) {
        int a = 0;
        for (int i = 1; i < v.length; i++) {
            a = v[i] > v[a] ? i : a;
        }
        return a;
    }

    /** A 32x32 pattern of red and yellow diagonals. */
    static Image pattern(int side) {
        BufferedImage img = new BufferedImage(side, side, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < side; y++) {
            for (int x = 0; x < side; x++) {
                img.setRGB(x, y, (x + y) % 3 == 0 ? Color.RED.getRGB() : Color.YELLOW.getRGB());
            }
        }
        return Image.of(img);
    }

    @Test
    void imagePositionsMatchTheReferenceByValue() {
        java.util.List<Model.ImageEmbedding> chunks = model.imageEmbedding(pattern(32));
        assertEquals(1, chunks.size());
        Model.ImageEmbedding e = chunks.get(0);
        assertEquals(16, e.rows().length);
        assertEquals(model.embeddingSize(), e.rows()[0].length);
        assertEquals(16, e.advance());
        assertFalse(e.nonCausal());
        assertArrayEquals(new int[] {5, 5, 5}, e.positions()[5], "llama: one position per row");
        Prompt p = Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:Paris\n\nQ:France\nA:",
                List.of(pattern(32)));
        try (Session s = exactSession()) {
            java.util.Map<String, Double> worst = ReferenceChecks.worstErrors(model, s, p, ref);
            System.out.println("llama with an image vs reference: " + worst);
            worst.forEach((k, v) -> assertTrue(v <= 1e-5, k + " error " + v));
        }
    }

    @Test
    void imagePositionsCanBeCapturedAndPatched() {
        BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
                img.setRGB(x, y, (x + y) % 3 == 0 ? Color.RED.getRGB() : Color.YELLOW.getRGB());
            }
        }
        Prompt p = Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:", List.of(Image.of(img)));
        try (Session s = defaultSession()) {
            RunResult r = HookedRun.run(s, p, Hooks.create().capture("blocks.1.resid_post", Positions.image(0)));
            assertEquals(16, r.capture("blocks.1.resid_post").rows().length, "one row per image position");
            float[] plain = s.logits();
            HookedRun.run(s, p, Hooks.create().zero("blocks.1.resid_post", Positions.image(0)));
            assertFalse(java.util.Arrays.equals(plain, s.logits()), "patching the image changes the output");
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> HookedRun.run(s, p,
                    Hooks.create().capture("blocks." + (model.layers() - 1) + ".resid_post", Positions.image(0))));
            assertTrue(e.getMessage().contains("image position"), e.getMessage());
        }
    }

    @Test
    void badHooksAreRejectedBeforeTheRun() {
        try (Session s = defaultSession()) {
            Prompt p = Prompt.of(SHORT);
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> HookedRun.run(s, p, Hooks.create().capture("blocks.1.resid_side", Positions.last())));
            assertTrue(e.getMessage().contains("blocks.{0..3}.{resid_post, resid_mid, attn_out, mlp_out, attn_z}, "
                    + "blocks.{1..3}.resid_pre (block 0's on some architectures), final_norm"), e.getMessage());
            e = assertThrows(InvalidInputException.class,
                    () -> HookedRun.run(s, p, Hooks.create().capture("blocks.4.resid_post", Positions.last())));
            assertTrue(e.getMessage().contains("layer 4 is out of range"), e.getMessage());
            e = assertThrows(InvalidInputException.class,
                    () -> HookedRun.run(s, p, Hooks.create().capture("blocks.1.resid_post", Positions.of(500))));
            assertTrue(e.getMessage().contains("position 500 is out of range"), e.getMessage());
            e = assertThrows(InvalidInputException.class, () -> HookedRun.run(s, p,
                    Hooks.create().replace("blocks.1.resid_post", Positions.last(), new float[10])));
            assertTrue(e.getMessage().contains("length 10"), e.getMessage());
            e = assertThrows(InvalidInputException.class, () -> HookedRun.run(s, p,
                    Hooks.create().capture("blocks.1.resid_post", Positions.image(0))));
            assertTrue(e.getMessage().contains("no image 0"), e.getMessage());
            // the session is clean afterwards
            s.evaluate(p);
            assertEquals(model.vocabularySize(), s.logits().length);
        }
    }
}
