package org.taskvec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;

class GenerationTest {
    static Model model;
    static final Prompt PROMPT = Prompt.of("Q: What is the capital of France?\nA:");

    @BeforeAll
    static void load() {
        model = Model.load(TestModels.tinyModel());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static SessionParams params() {
        return SessionParams.defaults().withContextSize(512).withThreads(TestModels.threads());
    }

    @Test
    void greedyGenerationIsDeterministicAcrossSessions() {
        int[] first;
        String firstText;
        try (Session s = model.newSession(params())) {
            Generation g = s.generate(PROMPT, GenerationParams.greedy(16));
            first = g.tokens();
            firstText = g.text();
            assertEquals(16, first.length);
            assertEquals(Generation.StopReason.MAX_TOKENS, g.stopReason());
            StringBuilder pieces = new StringBuilder();
            for (int t : first) {
                pieces.append(model.tokenText(t));
            }
            assertEquals(pieces.toString(), firstText);
            assertEquals(model.detokenize(first).strip(), firstText.strip());
            assertEquals(model.tokenize(PROMPT.toString(), true).length, g.promptPositions());
            assertEquals(1, s.tokens()[0], "BOS first");
        }
        try (Session s = model.newSession(params().withThreads(1))) {
            Generation g = s.generate(PROMPT, GenerationParams.greedy(16));
            assertArrayEquals(first, g.tokens());
            assertEquals(firstText, g.text());
        }
        // the greedy token is the argmax of the logits
        try (Session s = model.newSession(params())) {
            s.evaluate(PROMPT);
            float[] l = s.logits();
            int arg = 0;
            for (int k = 1; k < l.length; k++) {
                arg = l[k] > l[arg] ? k : arg;
            }
            assertEquals(first[0], arg);
            assertArrayEquals(first, s.generateTokens(GenerationParams.greedy(16)));
        }
    }

    @Test
    void samplingDependsOnTheSeedAndIsReproducible() {
        GenerationParams a = GenerationParams.greedy(24).withSampling(1.5f, 0, 1f, 11);
        GenerationParams b = GenerationParams.greedy(24).withSampling(1.5f, 0, 1f, 12);
        try (Session s = model.newSession(params())) {
            int[] x = s.generate(PROMPT, a).tokens();
            int[] y = s.generate(PROMPT, a).tokens();
            int[] z = s.generate(PROMPT, b).tokens();
            assertArrayEquals(x, y, "same seed, same tokens");
            assertFalse(java.util.Arrays.equals(x, z), "another seed draws other tokens");
        }
    }

    @Test
    void streamingDeliversTheSameTextAndCanStop() {
        try (Session s = model.newSession(params())) {
            StringBuilder streamed = new StringBuilder();
            List<Integer> tokens = new ArrayList<>();
            Generation g = s.generate(PROMPT, GenerationParams.greedy(10), (t, text) -> {
                streamed.append(text);
                tokens.add(t);
                return true;
            });
            assertEquals(g.text(), streamed.toString());
            assertEquals(10, tokens.size());

            Generation stopped = s.generate(PROMPT, GenerationParams.greedy(10), (t, text) -> false);
            assertEquals(1, stopped.tokens().length, "listener returning false stops after one token");
            assertEquals(Generation.StopReason.CANCELLED, stopped.stopReason());

            Iterator<String> it = s.stream(PROMPT, GenerationParams.greedy(10));
            StringBuilder iterated = new StringBuilder();
            it.forEachRemaining(iterated::append);
            assertEquals(g.text(), iterated.toString());
        }
    }

    @Test
    void stopStringsAndStopTokensEndGeneration() {
        try (Session s = model.newSession(params())) {
            Generation full = s.generate(PROMPT, GenerationParams.greedy(12));
            int[] t = full.tokens();
            // stop at the 4th token
            Generation byToken = s.generate(PROMPT, GenerationParams.greedy(12).withStopTokens(List.of(t[3])));
            assertEquals(Generation.StopReason.STOP_TOKEN, byToken.stopReason());
            // it ends at the first occurrence of that token (the 4th, or earlier if it came before), which it keeps
            int first = 0;
            while (t[first] != t[3]) {
                first++;
            }
            assertArrayEquals(java.util.Arrays.copyOf(t, first + 1), byToken.tokens());
            // stop at the text of the 3rd token: the result is cut before it
            String piece = model.tokenText(t[2]).strip();
            assertFalse(piece.isEmpty(), "the fixed model's 3rd token has visible text");
            {
                Generation byString = s.generate(PROMPT, GenerationParams.greedy(12).withStopStrings(List.of(piece)));
                assertEquals(Generation.StopReason.STOP_STRING, byString.stopReason());
                assertFalse(byString.text().contains(piece));
                assertTrue(full.text().startsWith(byString.text()));
                // streamed pieces never show the stop string, and add up to the final text
                StringBuilder streamed = new StringBuilder();
                Generation again = s.generate(PROMPT, GenerationParams.greedy(12).withStopStrings(List.of(piece)),
                        (tok, text) -> {
                            streamed.append(text);
                            return true;
                        });
                assertEquals(byString.text(), streamed.toString());
                assertEquals(byString.text(), again.text());
                // the library's C++ loop honours the same stop conditions
                s.evaluate(PROMPT);
                int[] native3 = s.generateTokens(GenerationParams.greedy(12).withStopStrings(List.of(piece)));
                assertArrayEquals(byString.tokens(), native3);
            }
            // a stop string spanning two tokens (end of token 5 + start of token 6) stops at token 6
            String text5 = model.tokenText(t[4]);
            String text6 = model.tokenText(t[5]);
            assertTrue(text5.length() >= 2 && text6.length() >= 2, "the fixed model's tokens 5 and 6 have text");
            String spanning = text5.substring(text5.length() - 2) + text6.substring(0, 2);
            Generation g = s.generate(PROMPT, GenerationParams.greedy(12).withStopStrings(List.of(spanning)));
            assertEquals(Generation.StopReason.STOP_STRING, g.stopReason());
            assertEquals(full.text().substring(0, full.text().indexOf(spanning)), g.text());
            // the text holds the stop string once token 6 is out: six tokens, the plain run's first six
            assertArrayEquals(java.util.Arrays.copyOf(t, 6), g.tokens());
        }
    }
}
