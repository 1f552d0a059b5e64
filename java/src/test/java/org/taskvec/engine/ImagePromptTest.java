package org.taskvec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;

class ImagePromptTest {
    static Model model;

    @BeforeAll
    static void load() {
        model = TestModels.loadTinyWithProjector();
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static BufferedImage picture(Color fg) {
        BufferedImage img = new BufferedImage(48, 40, BufferedImage.TYPE_INT_ARGB);
        for (int y = 0; y < 40; y++) {
            for (int x = 0; x < 48; x++) {
                img.setRGB(x, y, ((x / 8 + y / 8) % 2 == 0 ? fg : Color.WHITE).getRGB());
            }
        }
        return img;
    }

    static Session session() {
        return model.newSession(SessionParams.defaults().withContextSize(512).withThreads(TestModels.threads()));
    }

    @Test
    void imageTakesItsTokenCountOfPositionsAtTheMarker() {
        try (Session s = session()) {
            Prompt p = Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:", List.of(Image.of(picture(Color.RED))));
            s.evaluate(p);
            int[] tokens = s.tokens();
            int expectedImage = model.imageTokens(48, 40);
            assertEquals(16, expectedImage);
            int bosAndQ = model.tokenize("Q:", true).length;
            int tail = model.tokenize("\nA:", false).length;
            assertEquals(bosAndQ + expectedImage + tail, tokens.length);
            for (int k = 0; k < tokens.length; k++) {
                boolean inImage = k >= bosAndQ && k < bosAndQ + expectedImage;
                assertEquals(inImage, tokens[k] == Session.IMAGE_POSITION, "position " + k);
            }
        }
    }

    @Test
    void imageChangesTheLogitsAndDifferentImagesDiffer() {
        try (Session s = session()) {
            s.evaluate(Prompt.of("Q:\nA:"));
            float[] none = s.logits();
            s.evaluate(Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:", List.of(Image.of(picture(Color.RED)))));
            float[] red = s.logits();
            s.evaluate(Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:", List.of(Image.of(picture(Color.BLUE)))));
            float[] blue = s.logits();
            assertTrue(maxDiff(none, red) > 1e-2, "image changes the logits: " + maxDiff(none, red));
            assertTrue(maxDiff(red, blue) > 1e-3, "the image's content matters: " + maxDiff(red, blue));
            // no marker: the image goes first, and a generation runs end to end
            Generation g = s.generate(Prompt.withImages("Q:", List.of(Image.of(picture(Color.GREEN)))),
                    GenerationParams.greedy(5));
            assertEquals(5, g.tokens().length);
            assertEquals(Session.IMAGE_POSITION, s.tokens()[1], "BOS, then the image");
        }
    }

    @Test
    void imagesReadFromPngAndJpegFiles(@TempDir Path tmp) throws Exception {
        Path png = tmp.resolve("a.png");
        Path jpg = tmp.resolve("a.jpg");
        ImageIO.write(picture(Color.RED), "png", png.toFile());
        BufferedImage rgb = new BufferedImage(48, 40, BufferedImage.TYPE_INT_RGB);
        rgb.getGraphics().drawImage(picture(Color.RED), 0, 0, null);
        ImageIO.write(rgb, "jpg", jpg.toFile());
        Image a = Image.read(png);
        Image b = Image.read(jpg);
        assertEquals(48, a.width());
        assertEquals(40, b.height());
        byte[] px = a.rgb();
        assertEquals((byte) 255, px[0]);
        assertEquals(0, px[1]);
        assertEquals(a.digest(), Image.of(picture(Color.RED)).digest());
        try (Session s = session()) {
            Generation g = s.generate(Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:", List.of(b)),
                    GenerationParams.greedy(3));
            assertEquals(3, g.tokens().length);
        }
    }

    static double maxDiff(float[] a, float[] b) {
        double d = 0;
        for (int k = 0; k < a.length; k++) {
            d = Math.max(d, Math.abs(a[k] - b[k]));
        }
        return d;
    }
}
