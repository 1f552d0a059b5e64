package org.taskvec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;

class ModelTest {
    static Model model;

    @BeforeAll
    static void load() {
        model = TestModels.loadTinyWithProjector();
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void metadataMatchesTheGeneratedShape() {
        ModelInfo i = model.info();
        assertEquals("llama", i.architecture());
        assertEquals("taskvec-synth-tiny", i.name());
        assertEquals(4, i.layers());
        assertEquals(64, i.embeddingSize());
        assertEquals(4, i.heads());
        assertEquals(2, i.kvHeads());
        assertEquals(32000, i.vocabularySize());
        assertEquals(2048, i.trainingContext());
        assertTrue(i.hasProjector());
        assertTrue(i.parameters() > 32000L * 64 * 2, "embedding and output matrices alone exceed this");
        assertEquals(1, model.bosToken());
        assertEquals(2, model.eosToken());
        assertTrue(model.isEndOfGeneration(2));
        assertFalse(model.isEndOfGeneration(100));
        assertEquals("llama", model.metadata("general.architecture").orElseThrow());
        assertEquals("64", model.metadata("llama.embedding_length").orElseThrow());
        assertTrue(model.metadata("no.such.key").isEmpty());
        assertTrue(model.metadata().containsKey("tokenizer.ggml.model"));
        assertEquals(16, model.imageTokens(32, 32), "32 px image, 8 px patches");
    }

    @Test
    void tokenizerMatchesLlamaCppReferenceVectors() throws Exception {
        List<String> inputs = readVectors("ggml-vocab-llama-spm.gguf.inp", true);
        List<String> outputs = readVectors("ggml-vocab-llama-spm.gguf.out", false);
        assertEquals(inputs.size(), outputs.size());
        assertTrue(inputs.size() > 20, "test vectors present");
        for (int k = 0; k < inputs.size(); k++) {
            String expected = outputs.get(k).trim();
            int[] want = expected.isEmpty() ? new int[0]
                    : Arrays.stream(expected.split("\\s+")).mapToInt(Integer::parseInt).toArray();
            int[] got = model.tokenize(inputs.get(k), false, false);
            assertArrayEquals(want, got, "tokenization of vector " + k + ": '" + inputs.get(k) + "'");
        }
    }

    /** llama.cpp's test-tokenizer-0 format: inputs separated by "\n__ggml_vocab_test__\n", outputs one per line. */
    private static List<String> readVectors(String name, boolean inputs) throws Exception {
        try (var in = ModelTest.class.getResourceAsStream(name)) {
            assertNotNull(in, name + " test resource");
            String all = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            if (inputs) {
                List<String> r = new ArrayList<>(Arrays.asList(all.split("\n__ggml_vocab_test__\n", -1)));
                if (r.get(r.size() - 1).isEmpty()) {
                    r.remove(r.size() - 1);
                }
                return r;
            }
            List<String> r = new ArrayList<>();
            try (BufferedReader br = new BufferedReader(new InputStreamReader(
                    new java.io.ByteArrayInputStream(all.getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8))) {
                String line;
                while ((line = br.readLine()) != null) {
                    r.add(line);
                }
            }
            return r;
        }
    }

    @Test
    void tokenizeDetokenizeRoundTrip() {
        for (String s : List.of("Hello world", "Q: What is the capital of France?\nA: Paris", "Äpfel und Birnen",
                "emoji 🦙 and 日本語", "  leading spaces", "a\tb\nc")) {
            int[] t = model.tokenize(s, false);
            assertTrue(t.length > 0);
            assertEquals(s, model.detokenize(t), s);
        }
        int[] withBos = model.tokenize("Hello world", true);
        assertEquals(1, withBos[0], "BOS first");
        assertArrayEquals(new int[] {1, 15043, 3186}, withBos);
        assertEquals("Hello", model.tokenText(15043).strip());
    }
}
