package org.taskvec.hooks;

import org.taskvec.engine.HookPhase;
import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;
import org.taskvec.engine.Generation;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.vectors.Npy;
import org.taskvec.vectors.VectorFiles;
import org.taskvec.vectors.VectorSet;

class HookFeaturesTest {
    static Model model;
    static final Prompt PROMPT = Prompt.of("Q:France\nA:Paris\n\nQ:Japan\nA:");

    @BeforeAll
    static void load() {
        model = TestModels.loadTinyWithProjector();
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static Session session() {
        return model.newSession(SessionParams.defaults().withContextSize(512).withThreads(TestModels.threads()));
    }

    @Test
    void positionSelectorsResolveAgainstThePrompt() {
        try (Session s = session()) {
            int[] layout = s.layout(PROMPT);
            assertArrayEquals(new int[] {layout.length - 1}, Positions.last().resolve(layout, model));
            assertArrayEquals(new int[] {0, 2}, Positions.of(2, 0, 2).resolve(layout, model));
            assertNull(Positions.all().resolve(layout, model));
            // the paper's delimiter: ":" occurrences; -1 is the query's "A:", -3 the last example's "A:"
            int[] colons = java.util.stream.IntStream.range(0, layout.length)
                    .filter(i -> model.tokenText(layout[i]).strip().equals(":")).toArray();
            assertEquals(4, colons.length);
            assertArrayEquals(new int[] {colons[3]}, Positions.occurrence(":", -1).resolve(layout, model));
            assertArrayEquals(new int[] {colons[1]}, Positions.parse("token::: -3".replace(" ", "")).resolve(layout,
                    model));
            assertArrayEquals(new int[] {3, layout.length - 2}, Positions.parse("3,-2").resolve(layout, model));
            assertThrows(InvalidInputException.class, () -> Positions.parse("first"));
        }
    }

    @Test
    void generationPhaseHooksApplyAtEveryNewPosition() {
        float[] push = new float[model.embeddingSize()];
        for (int i = 0; i < push.length; i++) {
            push[i] = (i % 3) - 1f;
        }
        GenerationParams gp = GenerationParams.greedy(6);
        try (Session s = session()) {
            Generation plain = s.generate(PROMPT, gp);
            RunResult promptOnly = HookedRun.generate(s, PROMPT, gp, Hooks.create()
                    .add("blocks.1.resid_post", Positions.last(), push, 4f, HookPhase.PROMPT));
            RunResult everyStep = HookedRun.generate(s, PROMPT, gp, Hooks.create()
                    .add("blocks.1.resid_post", Positions.last(), push, 4f, HookPhase.BOTH)
                    .capture("blocks.2.resid_post", Positions.last(), HookPhase.GENERATION));
            assertEquals(promptOnly.generation().tokens()[0], everyStep.generation().tokens()[0],
                    "the first token comes from the (equally patched) prompt");
            assertFalse(java.util.Arrays.equals(plain.tokens(), promptOnly.generation().tokens()));
            assertFalse(java.util.Arrays.equals(promptOnly.generation().tokens(), everyStep.generation().tokens()),
                    "steering every step changes what follows");
            Capture c = everyStep.capture("blocks.2.resid_post");
            // each generated token is evaluated right after it is sampled: one row per generated token
            assertEquals(everyStep.generation().tokens().length, c.rows().length);
            assertEquals(everyStep.layout().length, c.positions()[0]);
            // generation without hooks afterwards is plain again
            assertArrayEquals(plain.tokens(), s.generate(PROMPT, gp).tokens());
        }
    }

    @Test
    void generationPhaseExplicitPositionsAreOffsetsOfTheContinuation() {
        GenerationParams gp = GenerationParams.greedy(6);
        try (Session s = session()) {
            RunResult r = HookedRun.generate(s, PROMPT, gp, Hooks.create()
                    .capture("blocks.1.resid_post", Positions.all(), HookPhase.GENERATION)
                    .capture("blocks.2.resid_post", Positions.all(), HookPhase.GENERATION)
                    .capture("blocks.2.resid_post", Positions.of(2, 0, 40), HookPhase.GENERATION));
            int n = r.layout().length;
            Capture every = r.captures().get(1);
            Capture some = r.captures().get(2);
            assertEquals(6, every.rows().length);
            // offsets 0 and 2 of the continuation; 40 was never generated, so it is not owed
            assertArrayEquals(new int[] {n, n + 2, n + 40}, some.positions());
            assertEquals(2, some.rows().length);
            assertArrayEquals(every.rows()[0], some.rows()[0]);
            assertArrayEquals(every.rows()[2], some.rows()[1]);
            // offset 1 patched: the continuation changes from the token after it on, not before
            float[] zero = new float[model.embeddingSize()];
            RunResult patched = HookedRun.generate(s, PROMPT, gp, Hooks.create()
                    .replace("blocks.1.resid_post", Positions.of(1), zero, HookPhase.GENERATION)
                    .capture("blocks.1.resid_post", Positions.all(), HookPhase.GENERATION));
            float[][] rows = patched.captures().get(0).rows();
            assertArrayEquals(r.captures().get(0).rows()[0], rows[0], "offset 0 untouched");
            assertArrayEquals(zero, rows[1], "offset 1 replaced");
            for (String bad : new String[] {"image:0", "token:::-1", "-1,2"}) {
                InvalidInputException e = assertThrows(InvalidInputException.class, () -> HookedRun.generate(s, PROMPT,
                        gp, Hooks.create().capture("blocks.1.resid_post", Positions.parse(bad), HookPhase.GENERATION)));
                assertTrue(e.getMessage().contains("generation-phase positions"), e.getMessage());
            }
        }
    }

    @Test
    void positionsAHookWroteAreNotReusedAsACleanPrefix() {
        float[] zero = new float[model.embeddingSize()];
        float[] clean;
        try (Session fresh = session()) {
            fresh.evaluate(PROMPT);
            clean = fresh.logits();
        }
        try (Session s = session()) {
            int n = s.layout(PROMPT).length;
            // a replace in the middle of the prompt: every later position depends on it
            HookedRun.run(s, PROMPT, Hooks.create().replace("blocks.1.resid_post", Positions.of(3), zero));
            assertEquals(3, s.writtenFrom());
            assertFalse(java.util.Arrays.equals(clean, s.logits()), "the patch changed the last logits");
            Session.Evaluation ev = s.evaluate(PROMPT);
            assertEquals(3, ev.reusedPositions(), "only the positions before the written one are reused");
            assertEquals(n, ev.positions());
            assertArrayEquals(clean, s.logits(), "the same prompt unpatched gives the clean logits");
            assertEquals(-1, s.writtenFrom());
            // captures write nothing: the next evaluation reuses the prefix as usual
            HookedRun.run(s, PROMPT, Hooks.create().capture("blocks.1.resid_post", Positions.of(3)));
            assertEquals(-1, s.writtenFrom());
            assertEquals(n - 1, s.evaluate(PROMPT).reusedPositions());
        }
    }

    @Test
    void aHookThatDidNotTouchItsRowsIsAnError() {
        HookedRun.requireFired("a replace", "blocks.3.resid_post", 1, 1, false, false);
        HookedRun.requireFired("a capture", "blocks.3.resid_post", 5, 1, true, true);
        HookNotFiredException e = assertThrows(HookNotFiredException.class,
                () -> HookedRun.requireFired("a replace", "blocks.3.attn_out", 0, 1, false, false));
        assertEquals("a replace hook at blocks.3.attn_out touched 0 of the 1 row it should have in the prompt: this "
                + "model's graph has no such node, or does not compute it at those positions", e.getMessage());
        assertThrows(HookNotFiredException.class,
                () -> HookedRun.requireFired("an add", "blocks.0.resid_post", 2, 3, false, true));
        assertThrows(HookNotFiredException.class,
                () -> HookedRun.requireFired("a capture", "blocks.0.resid_post", 0, 1, true, false));
    }

    @Test
    void residualPointsDecomposeEachBlockExactly() {
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(32, 32,
                java.awt.image.BufferedImage.TYPE_INT_RGB);
        for (int i = 0; i < 32; i++) {
            img.setRGB(i, (i * 7) % 32, 0xC02020);
        }
        Prompt p = Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:", java.util.List.of(
                org.taskvec.engine.Image.of(img)));
        int n = model.layers();
        try (Session s = session()) {
            for (int l = 0; l < n; l++) {
                // the last block keeps only output rows from its attention residual on: the last position there
                Positions at = l == n - 1 ? Positions.last() : Positions.all();
                Hooks h = Hooks.create().capture("blocks." + l + ".resid_mid", at)
                        .capture("blocks." + l + ".attn_out", at).capture("blocks." + l + ".mlp_out", at)
                        .capture("blocks." + l + ".resid_post", at);
                if (l > 0) {
                    h.capture("blocks." + l + ".resid_pre", at).capture("blocks." + (l - 1) + ".resid_post", at);
                }
                RunResult r = HookedRun.run(s, p, h);
                float[][] mid = r.captures().get(0).rows();
                float[][] attn = r.captures().get(1).rows();
                float[][] mlp = r.captures().get(2).rows();
                float[][] post = r.captures().get(3).rows();
                assertEquals(l == n - 1 ? 1 : r.layout().length, mid.length, "rows at layer " + l);
                for (int i = 0; i < mid.length; i++) {
                    for (int k = 0; k < mid[i].length; k++) {
                        assertEquals(mid[i][k] + mlp[i][k], post[i][k], 0f, "resid_post = resid_mid + mlp_out, layer "
                                + l + " row " + i);
                    }
                }
                if (l > 0) {
                    float[][] pre = r.captures().get(4).rows();
                    float[][] before = r.captures().get(5).rows();
                    for (int i = 0; i < mid.length; i++) {
                        assertArrayEquals(before[i], pre[i], 0f, "resid_pre is the previous block's resid_post");
                        for (int k = 0; k < mid[i].length; k++) {
                            assertEquals(pre[i][k] + attn[i][k], mid[i][k], 0f, "resid_mid = resid_pre + attn_out, "
                                    + "layer " + l + " row " + i);
                        }
                    }
                }
            }
            // block 0's input on llama: the token embeddings' node ("embd"), the rows of token_embd.weight
            s.truncate(0);
            RunResult emb = HookedRun.run(s, Prompt.of("Q:France\nA:Paris"), Hooks.create()
                    .capture("blocks.0.hook_resid_pre", Positions.all()));
            // image rows enter block 0 as an input, not through that node: refused, not skipped
            s.truncate(0);
            InvalidInputException onImage = assertThrows(InvalidInputException.class, () -> HookedRun.run(s, p,
                    Hooks.create().capture("blocks.0.resid_pre", Positions.image(0))));
            assertTrue(onImage.getMessage().contains("are an image: its rows enter block 0 as an input"),
                    onImage.getMessage());
            int[] layout = emb.layout();
            try {
                org.taskvec.gguf.GgufFile g = org.taskvec.gguf.GgufReader.read(TestModels.tinyModel());
                float[] table = org.taskvec.gguf.GgufReader.readTensor(g, g.tensor("token_embd.weight").orElseThrow());
                int d = model.embeddingSize();
                for (int i = 0; i < layout.length; i++) {
                    assertArrayEquals(java.util.Arrays.copyOfRange(table, layout[i] * d, (layout[i] + 1) * d),
                            emb.capture("blocks.0.resid_pre").rows()[i], 0f, "embedding row of position " + i);
                }
            } catch (Exception ex) {
                throw new AssertionError(ex);
            }
            assertEquals("embd", HookPoint.parse("blocks.0.resid_pre", 4).node(s).orElseThrow());
            // the nodes behind the points on llama, read from its graph
            assertEquals("l_out-0", HookPoint.parse("blocks.1.resid_pre", 4).node(s).orElseThrow());
            assertEquals("ffn_inp-2", HookPoint.parse("blocks.2.resid_mid", 4).node(s).orElseThrow());
            assertEquals("attn_out-3", HookPoint.parse("blocks.3.attn_out", 4).node(s).orElseThrow());
            assertEquals("ffn_out-3", HookPoint.parse("blocks.3.mlp_out", 4).node(s).orElseThrow());
            assertEquals("kqv_out-0", HookPoint.parse("blocks.0.attn_z", 4).node(s).orElseThrow());
            assertEquals("result_norm", HookPoint.parse("final_norm", 4).node(s).orElseThrow());
            assertEquals(6 * 4 + 1, HookPoint.offered(s, 4).size(), "six per-block kinds in four blocks, and final_norm");
        }
    }

    @Test
    void meanAblationUsesThePromptsMeanOrAGivenOne() {
        try (Session s = session()) {
            RunResult all = HookedRun.run(s, PROMPT, Hooks.create().capture("blocks.1.resid_post", Positions.all()));
            float[] mean = all.capture("blocks.1.resid_post").mean();
            s.truncate(0);
            HookedRun.run(s, PROMPT, Hooks.create().meanAblate("blocks.1.resid_post", Positions.last()));
            float[] own = s.logits();
            s.truncate(0);
            HookedRun.run(s, PROMPT, Hooks.create().replace("blocks.1.resid_post", Positions.last(), mean));
            float[] given = s.logits();
            float max = 0;
            for (int i = 0; i < own.length; i++) {
                max = Math.max(max, Math.abs(own[i] - given[i]));
            }
            assertTrue(max < 1e-4, "mean ablation equals replacing with the captured mean: " + max);
            s.truncate(0);
            HookedRun.run(s, PROMPT, Hooks.create().meanAblate("blocks.1.resid_post", Positions.last(), mean));
            assertArrayEquals(given, s.logits());
        }
    }

    @Test
    void vectorFilesRoundTripWithMetadata(@TempDir Path tmp) throws Exception {
        float[][] v = {{1f, -2f, 3.5f}, {0.25f, 0f, -1f}};
        VectorSet set = new VectorSet(new int[] {3, 7}, v, Map.of(VectorSet.MODEL, "m.gguf", VectorSet.POINT,
                "resid_post", VectorSet.PROVENANCE, "test"));
        Path npy = tmp.resolve("v.npy");
        VectorFiles.save(npy, set);
        Npy.Array raw = Npy.read(npy);
        assertArrayEquals(new int[] {2, 3}, raw.shape());
        VectorSet back = VectorFiles.load(npy);
        assertArrayEquals(new int[] {3, 7}, back.layers());
        assertArrayEquals(v[1], back.forLayer(7));
        assertEquals("test", back.metadata().get(VectorSet.PROVENANCE));
        Path cv = tmp.resolve("v.gguf");
        VectorFiles.save(cv, set);
        VectorSet fromGguf = VectorFiles.load(cv);
        assertArrayEquals(v[0], fromGguf.forLayer(3));
        assertEquals("m.gguf", fromGguf.metadata().get(VectorSet.MODEL));
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> VectorFiles.save(
                tmp.resolve("zero.gguf"), VectorSet.single(0, v[0], Map.of())));
        assertTrue(e.getMessage().contains("from 1"), e.getMessage());
        assertThrows(InvalidInputException.class, () -> VectorFiles.load(tmp.resolve("none.npy")));
    }

    @Test
    void controlVectorFilesLoadInLlamaCppsLayout(@TempDir Path tmp) throws Exception {
        // llama.cpp's own loader requires direction.<n> with n >= 1, 1-D F32 tensors of one width
        float[] dir = new float[model.embeddingSize()];
        dir[5] = 1f;
        Path cv = tmp.resolve("steer.gguf");
        VectorFiles.save(cv, VectorSet.single(2, dir, Map.of("architecture", "llama")));
        org.taskvec.gguf.GgufFile g = org.taskvec.gguf.GgufReader.read(cv);
        assertEquals("controlvector", g.architecture());
        assertEquals("llama", g.getString("controlvector.model_hint").orElseThrow());
        assertEquals(1, g.tensors().size());
        assertEquals("direction.2", g.tensors().get(0).name());
        assertArrayEquals(new long[] {model.embeddingSize()}, g.tensors().get(0).shape());
    }
}
