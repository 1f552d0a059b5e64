package org.taskvec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.taskvec.TestImages;

/** Images in the less common encodings become the right RGB pixels, not just "some" pixels. */
@Tag("reliability")
class ImageFormatsTest {
    // C 200, M 10, Y 20, K 30 -> light left: R (255-200)(255-30)/255 = 48, G 216, B 207
    private static final int[] EXPECTED = {48, 216, 207};

    @Test
    void plainCmykJpegIsConvertedToItsColour() throws Exception {
        assertColour(Image.read(new ByteArrayInputStream(TestImages.cmykJpeg(200, 10, 20, 30, false)), "plain.jpg"));
    }

    @Test
    void adobeInvertedCmykJpegIsConvertedToTheSameColour() throws Exception {
        assertColour(Image.read(new ByteArrayInputStream(TestImages.cmykJpeg(200, 10, 20, 30, true)), "adobe.jpg"));
    }

    @Test
    void sixteenBitRgbPngKeepsItsColour() throws Exception {
        var cm = new java.awt.image.ComponentColorModel(java.awt.color.ColorSpace.getInstance(
                java.awt.color.ColorSpace.CS_sRGB), false, false, java.awt.Transparency.OPAQUE,
                java.awt.image.DataBuffer.TYPE_USHORT);
        BufferedImage img = new BufferedImage(cm, cm.createCompatibleWritableRaster(4, 4), false, null);
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 4; x++) {
                img.getRaster().setPixel(x, y, new int[] {48 * 257, 216 * 257, 207 * 257});
            }
        }
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(img, "png", png));
        assertColour(Image.read(new ByteArrayInputStream(png.toByteArray()), "rgb16.png"));
    }

    /**
     * Grey and grey+alpha PNGs keep their levels (as Pillow and stb_image read them): ImageIO's getRGB would turn
     * grey 177 into 217 (linear grey to sRGB), and the PyTorch mirror (organism/) saw other pixels than libmtmd.
     */
    @Test
    void greyPngsKeepTheirLevels() throws Exception {
        for (int bits : new int[] {8, 16}) {
            for (boolean alpha : new boolean[] {false, true}) {
                var cm = new java.awt.image.ComponentColorModel(java.awt.color.ColorSpace.getInstance(
                        java.awt.color.ColorSpace.CS_GRAY), alpha, false,
                        alpha ? java.awt.Transparency.TRANSLUCENT : java.awt.Transparency.OPAQUE,
                        bits == 8 ? java.awt.image.DataBuffer.TYPE_BYTE : java.awt.image.DataBuffer.TYPE_USHORT);
                BufferedImage img = new BufferedImage(cm, cm.createCompatibleWritableRaster(3, 2), false, null);
                int[] levels = {0, 40, 128, 177, 200, 255};
                for (int i = 0; i < 6; i++) {
                    int v = bits == 8 ? levels[i] : levels[i] * 257;
                    img.getRaster().setPixel(i % 3, i / 3, alpha ? new int[] {v, bits == 8 ? 100 : 100 * 257}
                            : new int[] {v});
                }
                ByteArrayOutputStream png = new ByteArrayOutputStream();
                assertTrue(ImageIO.write(img, "png", png));
                Image read = Image.read(new ByteArrayInputStream(png.toByteArray()), "grey.png");
                byte[] rgb = read.rgb();
                for (int i = 0; i < 6; i++) {
                    for (int ch = 0; ch < 3; ch++) {
                        assertEquals(levels[i], rgb[i * 3 + ch] & 0xFF, bits + "-bit grey" + (alpha ? "+alpha" : "")
                                + " pixel " + i + " channel " + ch);
                    }
                }
            }
        }
    }

    private static void assertColour(Image img) {
        byte[] rgb = img.rgb();
        int mid = (img.height() / 2 * img.width() + img.width() / 2) * 3;
        for (int ch = 0; ch < 3; ch++) {
            int v = rgb[mid + ch] & 0xFF;
            assertTrue(Math.abs(v - EXPECTED[ch]) <= 6, "channel " + ch + ": " + v + ", expected ~" + EXPECTED[ch]);
        }
    }
}
