package org.taskvec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;

/**
 * Parallel sequences: several prompts decoded together, forked prefixes, per-sequence logits and hooks, against the
 * same prompts evaluated one at a time.
 */
class ParallelSequencesTest {
    static Model model;

    static final List<Prompt> PROMPTS = List.of(Prompt.of("Q:France\nA:Paris\n\nQ:Japan\nA:"),
            Prompt.of("Q:Italy\nA:Rome\n\nQ:Peru\nA:Lima\n\nQ:Kenya\nA:"), Prompt.of("Hello world, how are"));

    @BeforeAll
    static void load() {
        model = TestModels.loadTinyWithProjector();
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static SessionParams exact(int sequences) {
        return SessionParams.defaults().withContextSize(512).withThreads(TestModels.threads())
                .withKvCacheType(SessionParams.KvCacheType.F32).withFlashAttention(SessionParams.FlashAttention.OFF)
                .withSequences(sequences);
    }

    static float[] alone(Prompt p) {
        try (Session s = model.newSession(exact(1))) {
            s.evaluate(p);
            return s.logits();
        }
    }

    static double relError(float[] got, float[] want) {
        double d = 0;
        double m = 0;
        for (int i = 0; i < want.length; i++) {
            d = Math.max(d, Math.abs(got[i] - want[i]));
            m = Math.max(m, Math.abs(want[i]));
        }
        return d / m;
    }

    @Test
    void promptsDecodedTogetherGiveEachPromptsLogits() {
        try (Session s = model.newSession(exact(4))) {
            assertEquals(4, s.sequences());
            List<Session.Evaluation> e = s.evaluateAll(PROMPTS);
            for (int i = 0; i < PROMPTS.size(); i++) {
                assertEquals(s.layout(PROMPTS.get(i)).length, e.get(i).positions());
                assertEquals(e.get(i).positions(), s.positions(i));
                float[] want = alone(PROMPTS.get(i));
                double err = relError(s.logits(i), want);
                System.out.println("sequence " + i + " decoded with two others vs alone: " + err);
                // the rows of a sequence see other sequences' KV cells masked out; the longer rows change how the
                // attention's sums are split, so equality holds to float rounding, not bit for bit
                assertTrue(err <= 1e-5, "sequence " + i + ": " + err);
            }
            assertEquals(0, s.positions(3), "the fourth sequence holds nothing");
            TaskvecException none = assertThrows(TaskvecException.class, () -> s.logits(3));
            assertTrue(none.getMessage().contains("no logits"), none.getMessage());
            assertThrows(InvalidInputException.class, () -> s.logits(4));
            // sequence 0 is the single-sequence API's
            assertArrayEquals(s.logits(0), s.logits());
            assertEquals(s.positions(0), s.positions());
        }
    }

    @Test
    void aForkedPrefixIsReusedAndItsVariantsMatchFreshEvaluations() {
        Prompt prefix = Prompt.of("Q:France\nA:Paris\n\nQ:Japan\nA:Tokyo\n\nQ:");
        List<Prompt> variants = List.of(Prompt.of("Q:France\nA:Paris\n\nQ:Japan\nA:Tokyo\n\nQ:Italy\nA:"),
                Prompt.of("Q:France\nA:Paris\n\nQ:Japan\nA:Tokyo\n\nQ:Peru\nA:"),
                Prompt.of("Q:France\nA:Paris\n\nQ:Japan\nA:Tokyo\n\nQ:Kenya\nA:"));
        try (Session s = model.newSession(exact(3))) {
            int n = s.evaluate(prefix).positions();
            float[] prefixLogits = s.logits();
            s.fork(0, 1);
            s.fork(0, 2);
            assertEquals(n, s.positions(2));
            assertArrayEquals(prefixLogits, s.logits(2), "a whole fork takes the logits too");
            List<Session.Evaluation> e = s.evaluateAll(variants);
            for (int i = 0; i < 3; i++) {
                assertEquals(n, e.get(i).reusedPositions(), "the forked prefix is reused in sequence " + i);
                double err = relError(s.logits(i), alone(variants.get(i)));
                assertTrue(err <= 1e-5, "variant " + i + ": " + err);
            }
            // a partial fork drops what the destination held
            s.fork(1, 2, 4);
            assertEquals(4, s.positions(2));
            assertThrows(InvalidInputException.class, () -> s.fork(1, 1, 2));
            assertThrows(InvalidInputException.class, () -> s.fork(1, 5, 2));
        }
    }

    @Test
    void hooksAddressTheirSequence() {
        Prompt a = PROMPTS.get(0);
        Prompt b = PROMPTS.get(1);
        int lastB = model.tokenize("Q:Italy\nA:Rome\n\nQ:Peru\nA:Lima\n\nQ:Kenya\nA:", true).length - 1;
        float[] expected;
        try (Session s = model.newSession(exact(1))) {
            s.addHook(new HookSpec(PointKind.RESID_POST, 1, HookAction.CAPTURE, HookPhase.PROMPT, new int[] {lastB}, 1,
                    null, 1f));
            s.evaluate(b, false);
            expected = s.hookRows(0)[0];
        }
        try (Session s = model.newSession(exact(2))) {
            s.evaluateAll(List.of(a, b));
            float[] plainA = s.logits(0);
            s.truncate(0, 0);
            s.truncate(1, 0);
            int capture = s.addHook(new HookSpec(PointKind.RESID_POST, 1, HookAction.CAPTURE, HookPhase.PROMPT,
                    new int[] {lastB}, 1, null, 1f, 1));
            int zero = s.addHook(new HookSpec(PointKind.RESID_POST, 1, HookAction.ZERO, HookPhase.PROMPT,
                    new int[] {lastB}, 0, null, 1f, 1));
            s.evaluateAll(List.of(a, b), new int[] {0, 1}, false);
            assertEquals(1, s.hookRowsTouched(capture), "one row of sequence 1");
            assertEquals(1, s.hookRowsTouched(zero));
            assertTrue(relError(s.hookRows(capture)[0], expected) <= 1e-5, "the row sequence 1 had alone");
            assertTrue(relError(s.logits(0), plainA) <= 1e-6, "sequence 0 was not patched");
            s.clearHooks();
        }
    }

    @Test
    void sequencesGenerateTogetherAsTheyWouldAlone() {
        GenerationParams greedy = GenerationParams.greedy(12);
        List<Generation> alone = new java.util.ArrayList<>();
        for (Prompt p : PROMPTS) {
            try (Session s = model.newSession(exact(1))) {
                alone.add(s.generate(p, greedy));
            }
        }
        try (Session s = model.newSession(exact(3))) {
            s.evaluateAll(PROMPTS);
            List<Generation> together = s.generateAll(new int[] {0, 1, 2}, greedy);
            for (int i = 0; i < PROMPTS.size(); i++) {
                // greedy tokens from logits equal to float rounding: the same tokens unless two logits tie that
                // closely (measured: the same on these prompts)
                assertArrayEquals(alone.get(i).tokens(), together.get(i).tokens(), "sequence " + i);
                assertEquals(alone.get(i).text(), together.get(i).text());
                assertEquals(s.layout(PROMPTS.get(i)).length + 12, s.positions(i));
            }
            // per-sequence stop strings: each sequence stops at its own
            s.evaluateAll(PROMPTS);
            String first = alone.get(1).text().substring(0, Math.min(3, alone.get(1).text().length()));
            assertFalse(first.isEmpty(), "sequence 1 generated text to stop at");
            List<Generation> g = s.generateAll(new int[] {0, 1, 2}, GenerationParams.greedy(12)
                    .withStopStrings(List.of(first)));
            assertEquals(Generation.StopReason.STOP_STRING, g.get(1).stopReason());
            assertTrue(g.get(1).tokens().length <= alone.get(1).tokens().length);
            assertThrows(InvalidInputException.class, () -> s.generateAll(new int[] {0, 0}, greedy));
        }
    }
}
