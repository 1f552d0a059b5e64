package org.taskvec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.Color;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;

class PrefixReuseTest {
    static Model model;
    static final String EXAMPLES = "Q:France\nA:Paris\n\nQ:Japan\nA:Tokyo\n\nQ:Italy\nA:Rome\n\n";

    @BeforeAll
    static void load() {
        model = TestModels.loadTinyWithProjector();
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static Session session() {
        // F32 KV cache: reuse and re-evaluation must then agree to float rounding
        return model.newSession(SessionParams.defaults().withContextSize(512).withThreads(TestModels.threads())
                .withKvCacheType(SessionParams.KvCacheType.F32).withFlashAttention(SessionParams.FlashAttention.OFF));
    }

    @Test
    void sharedExamplesAreReusedAndGiveTheSameLogits() {
        Prompt first = Prompt.of(EXAMPLES + "Q:Spain\nA:");
        Prompt second = Prompt.of(EXAMPLES + "Q:Germany\nA:");
        float[] fresh;
        try (Session s = session()) {
            Session.Evaluation e = s.evaluate(second, false);
            assertEquals(0, e.reusedPositions());
            fresh = s.logits();
        }
        try (Session s = session()) {
            int[] a = s.layout(first);
            int[] b = s.layout(second);
            int common = 0;
            while (common < Math.min(a.length, b.length) && a[common] == b[common]) {
                common++;
            }
            int shared = model.tokenize(EXAMPLES + "Q:", true).length;
            assertTrue(common >= shared - 1 && common < b.length, "common prefix " + common + ", shared " + shared);
            s.evaluate(first);
            Session.Evaluation e = s.evaluate(second);
            // exactly the positions the two prompts share (the last position is always evaluated afresh)
            assertEquals(b.length, e.positions());
            assertEquals(Math.min(common, b.length - 1), e.reusedPositions(),
                    "reused " + e.reusedPositions() + " of " + e.positions() + ", shared prefix " + common);
            float[] reused = s.logits();
            assertTrue(maxRelDiff(fresh, reused) < 1e-4, "reuse equals re-evaluation: " + maxRelDiff(fresh, reused));

            // the identical prompt again: everything but the last position comes from the cache
            Session.Evaluation again = s.evaluate(second);
            assertEquals(again.positions() - 1, again.reusedPositions());
            assertTrue(maxRelDiff(fresh, s.logits()) < 1e-4);
        }
    }

    @Test
    void imagesAreReusedWholeOrNotAtAll() {
        Image red = Image.of(ImagePromptTest.picture(Color.RED));
        Image blue = Image.of(ImagePromptTest.picture(Color.BLUE));
        Prompt a = Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:cat\n\nQ:Spain\nA:", List.of(red));
        Prompt b = Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:cat\n\nQ:Japan\nA:", List.of(red));
        Prompt c = Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:cat\n\nQ:Japan\nA:", List.of(blue));
        float[] freshB;
        float[] freshC;
        try (Session s = session()) {
            s.evaluate(b, false);
            freshB = s.logits();
            s.evaluate(c, false);
            freshC = s.logits();
        }
        try (Session s = session()) {
            s.evaluate(a);
            Session.Evaluation eb = s.evaluate(b);
            assertTrue(eb.reusedPositions() > 16, "the image and the text after it are reused: " + eb);
            assertTrue(maxRelDiff(freshB, s.logits()) < 1e-4);
            Session.Evaluation ec = s.evaluate(c);
            int bosAndQ = model.tokenize("Q:", true).length;
            assertEquals(bosAndQ, ec.reusedPositions(), "a different image is not reused");
            assertTrue(maxRelDiff(freshC, s.logits()) < 1e-4);
        }
    }

    @Test
    void anImageMetAgainIsNotEncodedAgain() {
        Image green = Image.of(ImagePromptTest.picture(Color.GREEN));
        Image pink = Image.of(ImagePromptTest.picture(Color.PINK));
        long[] before = model.imageCacheStats();
        float[] first;
        try (Session s = session()) {
            s.evaluate(Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:", List.of(green)), false);
            first = s.logits();
            s.evaluate(Prompt.withImages("Tell me:" + Prompt.MEDIA_MARKER, List.of(pink)), false);
        }
        try (Session s = session()) { // another session, another prompt around the same image
            s.evaluate(Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:", List.of(green)), false);
            assertArrayEquals(first, s.logits(), "cached embeddings give the same result");
        }
        long[] after = model.imageCacheStats();
        assertEquals(2, after[1] - before[1], "two distinct images encoded");
        assertEquals(1, after[0] - before[0], "the green image served from the cache");
        try (Model noCache = Model.load(TestModels.tinyModel(), ModelParams.defaults()
                .withProjector(TestModels.tinyProjector()).withImageCacheBytes(0));
             Session s = noCache.newSession(SessionParams.defaults().withContextSize(256).withThreads(TestModels.threads()))) {
            for (int k = 0; k < 2; k++) {
                s.evaluate(Prompt.withImages("Q:" + Prompt.MEDIA_MARKER, List.of(green)), false);
            }
            assertArrayEquals(new long[] {0, 2}, noCache.imageCacheStats());
        }
    }

    static double maxRelDiff(float[] a, float[] b) {
        double d = 0;
        double m = 0;
        for (int k = 0; k < a.length; k++) {
            d = Math.max(d, Math.abs(a[k] - b[k]));
            m = Math.max(m, Math.abs(a[k]));
        }
        return d / m;
    }
}
