package org.taskvec.synth;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.taskvec.TestModels;
import org.taskvec.engine.Generation;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Image;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelInfo;
import org.taskvec.engine.ModelParams;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;

/**
 * The generated models of the other families load in llama.cpp with their projectors in libmtmd, generate from text
 * and from images, give images the number of positions their projector's geometry says, and tokenize with their
 * family's vocabulary as llama.cpp's own test vectors do.
 */
class FamilyModelsTest {
    /**
     * A family's tiny model and what it should do.
     *
     * @param side the test image's side (px)
     * @param imageTokens the positions one such image takes
     * @param runs the runs of image positions one image makes (Idefics3: a tile, then the overview)
     * @param marker a special token libmtmd writes around images, and its id
     */
    record Case(ModelShape shape, String architecture, int side, int imageTokens, int runs, String marker,
                int markerId) {
        @Override
        public String toString() {
            return shape.name();
        }
    }

    static final List<Case> CASES = List.of(
            // 128 px: 8x8 patches of 16 px, merged 2x2: 4x4 tokens; attention windows of 3x3 tokens (112 px) cut
            // them into 4 windows
            new Case(ModelShape.QWEN25VL_TINY, "qwen2vl", 128, 16, 1, "<|vision_start|>", 151652),
            // any size: resized to 64 px, 8x8 patches of 8 px, average-pooled 2x2: 4x4 tokens
            new Case(ModelShape.GEMMA3_TINY, "gemma3", 64, 16, 1, "<start_of_image>", 255999),
            // 32 px: one 32 px tile and the overview, each 4x4 patches of 8 px pixel-shuffled by 2: 2 x 4 tokens
            new Case(ModelShape.SMOLVLM_TINY, "llama", 32, 8, 2, "<fake_token_around_image>", 50257),
            // as Qwen2.5-VL's; the image embedding is 3 x 64 wide (DeepStack), the text model's input width
            new Case(ModelShape.QWEN3VL_TINY, "qwen3vl", 128, 16, 1, "<|vision_start|>", 151652));

    private static final Map<Family, Model> MODELS = new EnumMap<>(Family.class);

    static Stream<Case> cases() {
        return CASES.stream();
    }

    static synchronized Model model(Case c) {
        return MODELS.computeIfAbsent(c.shape().family(), f -> {
            Path dir = TestModels.generated(c.shape());
            return Model.load(dir.resolve(ModelSynthesizer.MODEL_FILE), ModelParams.defaults()
                    .withProjector(dir.resolve(ModelSynthesizer.PROJECTOR_FILE)).withProjectorThreads(1));
        });
    }

    @AfterAll
    static void close() {
        MODELS.values().forEach(Model::close);
    }

    /** One thread: the models are tiny, and on a busy machine threads that wait on each other take seconds. */
    static Session session(Model m) {
        return m.newSession(SessionParams.defaults().withContextSize(512).withThreads(1));
    }

    static Image picture(int w, int h, int rgb) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, (x / 8 + y / 8) % 2 == 0 ? rgb : 0xffffff);
            }
        }
        return Image.of(img);
    }

    /** Lengths of the runs of image positions in a session's tokens. */
    static List<Integer> imageRuns(int[] tokens) {
        List<Integer> runs = new ArrayList<>();
        int run = 0;
        for (int t : tokens) {
            if (t == Session.IMAGE_POSITION) {
                run++;
            } else if (run > 0) {
                runs.add(run);
                run = 0;
            }
        }
        if (run > 0) {
            runs.add(run);
        }
        return runs;
    }

    @ParameterizedTest
    @MethodSource("cases")
    void loadsWithItsProjectorArchitectureAndVocabulary(Case c) {
        Model m = model(c);
        ModelInfo info = m.info();
        assertEquals(c.architecture(), info.architecture());
        assertEquals(c.architecture(), m.header().architecture());
        assertTrue(info.hasProjector());
        assertEquals(c.shape().family().projectorType(),
                m.projectorHeader().orElseThrow().getString("clip.projector_type").orElseThrow());
        assertEquals(c.shape().nEmbd(), info.embeddingSize());
        assertEquals(c.shape().nLayer(), info.layers());
        assertEquals(Vocabulary.of(c.shape().family()).size(), info.vocabularySize());
        assertEquals(info.vocabularySize(), m.header().tensor("token_embd.weight").orElseThrow().shape()[1]);
        assertArrayEquals(new int[] {c.markerId()}, m.tokenize(c.marker(), false, true), "a single control token");
    }

    @ParameterizedTest
    @MethodSource("cases")
    void generatesGreedilyFromText(Case c) {
        Model m = model(c);
        // about 40 positions: 5 sliding windows of Gemma's 8
        Prompt p = Prompt.of("Q: The quick brown fox jumps over the lazy dog, and then what does the dog do next "
                + "in the story that we are telling here?\nA:");
        int[] first;
        try (Session s = session(m)) {
            Generation g = s.generate(p, GenerationParams.greedy(8));
            first = g.tokens();
            assertEquals(8, first.length);
            assertTrue(g.promptPositions() >= 30, "prompt of " + g.promptPositions() + " positions");
        }
        try (Session s = session(m)) {
            assertArrayEquals(first, s.generate(p, GenerationParams.greedy(8)).tokens(), "deterministic");
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void oneImageTakesTheProjectorsTokenCount(Case c) {
        Model m = model(c);
        assertEquals(c.imageTokens(), m.imageTokens(c.side(), c.side()));
        assertEquals(c.imageTokens(), c.shape().imageTokens(), "ModelShape.imageTokens: an image of imageSize");
        float[] plain;
        try (Session s = session(m)) {
            s.evaluate(Prompt.of("Q:\nA:"));
            plain = s.logits();
        }
        try (Session s = session(m)) {
            Prompt p = Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:",
                    List.of(picture(c.side(), c.side(), 0xff2020)));
            s.evaluate(p);
            List<Integer> runs = imageRuns(s.tokens());
            assertEquals(c.runs(), runs.size(), "image runs " + runs);
            assertEquals(c.imageTokens(), runs.stream().mapToInt(Integer::intValue).sum(), "image positions");
            assertTrue(maxDiff(plain, s.logits()) > 1e-3, "the image changes the logits");
            Generation g = s.generate(p, GenerationParams.greedy(4));
            assertEquals(4, g.tokens().length);
        }
    }

    @Test
    void imageTokensFollowEachProjectorsPreprocessing() {
        // Qwen2.5-VL: sides rounded to 32 px (2x2 patches of 16 px), at least 8 tokens: 32 px becomes 96 px, 3x3
        Model qwen = model(CASES.get(0));
        assertEquals(9, qwen.imageTokens(32, 32));
        assertEquals(4 * 2, qwen.imageTokens(128, 64));
        // Gemma 3: every image resized to 64 px
        Model gemma = model(CASES.get(1));
        assertEquals(16, gemma.imageTokens(32, 32));
        assertEquals(16, gemma.imageTokens(200, 100));
        // SmolVLM: 32 px tiles (sides rounded to 32 px) and the overview, 4 tokens each
        Model smol = model(CASES.get(2));
        assertEquals((2 + 1) * 4, smol.imageTokens(64, 32));
        assertEquals((4 + 1) * 4, smol.imageTokens(64, 64));
    }

    @ParameterizedTest
    @MethodSource("cases")
    void twoImagesInOnePrompt(Case c) {
        Model m = model(c);
        try (Session s = session(m)) {
            Prompt p = Prompt.withImages("A:" + Prompt.MEDIA_MARKER + "\nB:" + Prompt.MEDIA_MARKER + "\nSame?",
                    List.of(picture(c.side(), c.side(), 0xff2020), picture(c.side(), c.side(), 0x2020ff)));
            Generation g = s.generate(p, GenerationParams.greedy(4));
            assertEquals(4, g.tokens().length);
            List<Integer> runs = imageRuns(s.tokens());
            assertEquals(2 * c.runs(), runs.size(), "image runs " + runs);
            assertEquals(2 * c.imageTokens(), runs.stream().mapToInt(Integer::intValue).sum());
        }
    }

    /**
     * A prompt that shares the image and some text with the one before reuses those positions and gives the logits
     * of a fresh evaluation: the session's positions stay right under M-RoPE (an image advances the position by its
     * grid's longer side, not its token count) and Gemma's sliding-window cache.
     */
    @ParameterizedTest
    @MethodSource("cases")
    void reusedPrefixGivesTheLogitsOfAFreshEvaluation(Case c) {
        Model m = model(c);
        List<Image> image = List.of(picture(c.side(), c.side(), 0xff2020));
        Prompt first = Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA: the quick brown fox jumps over the lazy "
                + "dog once", image);
        Prompt second = Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA: the quick brown fox jumps over the lazy "
                + "dog twice or more", image);
        float[] fresh;
        try (Session s = session(m)) {
            s.evaluate(second);
            fresh = s.logits();
        }
        try (Session s = session(m)) {
            s.evaluate(first);
            Session.Evaluation e = s.evaluate(second);
            assertTrue(e.reusedPositions() > c.imageTokens() + 8, "reused " + e.reusedPositions());
            assertEquals(0.0, maxDiff(fresh, s.logits()), 1e-4);
        }
    }

    /** The first cases of llama.cpp's test vectors for the family's vocabulary (test-tokenizer-0's format). */
    @ParameterizedTest
    @MethodSource("cases")
    void tokenizesAsLlamaCppsVocabularyTestVectors(Case c) throws Exception {
        Model m = model(c);
        String vocab = c.shape().family().vocabularyFile();
        String inp = Files.readString(LlamaCppSource.modelsFile(vocab + ".inp"), StandardCharsets.UTF_8);
        List<String> outs = Files.readAllLines(LlamaCppSource.modelsFile(vocab + ".out"), StandardCharsets.UTF_8);
        String[] ins = inp.split("\n__ggml_vocab_test__\n", -1);
        int n = 16;
        assertTrue(ins.length > n && outs.size() > n, vocab + " test vectors");
        for (int k = 0; k < n; k++) {
            String expected = outs.get(k).trim();
            int[] want = expected.isEmpty() ? new int[0]
                    : Arrays.stream(expected.split("\\s+")).mapToInt(Integer::parseInt).toArray();
            assertArrayEquals(want, m.tokenize(ins[k], false, false), vocab + " vector " + k + ": '" + ins[k] + "'");
        }
    }

    @Test
    void aMissingVocabularyNamesThePathsLookedAt() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> LlamaCppSource.modelsFile("ggml-vocab-none.gguf"));
        assertTrue(e.getMessage().contains(LlamaCppSource.pinnedName() + "/models/ggml-vocab-none.gguf"),
                e.getMessage());
        String pinned = LlamaCppSource.pinnedName();
        assertTrue(pinned.matches("llama\\.cpp-v[0-9.]+-[0-9a-f]{40}"), pinned);
    }

    static double maxDiff(float[] a, float[] b) {
        double d = 0;
        for (int k = 0; k < a.length; k++) {
            d = Math.max(d, Math.abs(a[k] - b[k]));
        }
        return d;
    }
}
