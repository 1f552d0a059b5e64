package org.taskvec.engine;

import java.awt.image.Raster;
import java.io.IOException;
import javax.imageio.ImageReader;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import org.w3c.dom.NodeList;

/**
 * Four-channel (CMYK or YCCK) JPEGs, as print workflows and Photoshop write them. ImageIO decodes them but converts
 * the colours wrongly, so the raw channels are read and converted here: with an Adobe APP14 marker the channels are
 * stored inverted (Photoshop's convention; transform 2 means YCCK: YCbCr-coded inverted CMY plus inverted K),
 * without one they are plain CMYK. The conversion is the naive one without an ICC profile, enough for a model's
 * input.
 */
final class CmykJpeg {
    private static final String FORMAT = "javax_imageio_jpeg_image_1.0";

    private CmykJpeg() {}

    /** The image converted to RGB, or null when the JPEG does not have four channels. */
    static Image readIfFourChannel(ImageReader reader, int w, int h) throws IOException {
        IIOMetadata md = reader.getImageMetadata(0);
        if (md == null || !java.util.Arrays.asList(md.getMetadataFormatNames()).contains(FORMAT)) {
            return null;
        }
        IIOMetadataNode root = (IIOMetadataNode) md.getAsTree(FORMAT);
        NodeList components = root.getElementsByTagName("componentSpec");
        if (components.getLength() != 4) {
            return null;
        }
        NodeList adobe = root.getElementsByTagName("app14Adobe");
        int transform = -1; // no Adobe marker
        if (adobe.getLength() > 0) {
            String t = ((IIOMetadataNode) adobe.item(0)).getAttribute("transform");
            transform = t == null || t.isEmpty() ? 0 : Integer.parseInt(t);
        }
        Raster r = reader.readRaster(0, null);
        if (r.getNumBands() != 4 || r.getWidth() != w || r.getHeight() != h) {
            throw new ImageFormatException("four-channel JPEG decoded to " + r.getNumBands() + " bands of "
                    + r.getWidth() + "x" + r.getHeight());
        }
        byte[] rgb = new byte[Math.multiplyExact(Math.multiplyExact(w, h), 3)];
        int[] px = new int[4 * w];
        for (int y = 0; y < h; y++) {
            r.getPixels(r.getMinX(), r.getMinY() + y, w, 1, px);
            for (int x = 0, o = y * w * 3; x < w; x++, o += 3) {
                int a = px[4 * x], b = px[4 * x + 1], c = px[4 * x + 2], k = px[4 * x + 3];
                int cr, cg, cb; // the amount of light left by the C, M and Y inks, 0..255
                if (transform == 2) { // YCCK: YCbCr of the inverted C, M, Y; K inverted
                    cr = clamp(a + 1.402 * (c - 128));
                    cg = clamp(a - 0.344136 * (b - 128) - 0.714136 * (c - 128));
                    cb = clamp(a + 1.772 * (b - 128));
                } else if (transform >= 0) { // Adobe CMYK: stored inverted
                    cr = a;
                    cg = b;
                    cb = c;
                } else {
                    cr = 255 - a;
                    cg = 255 - b;
                    cb = 255 - c;
                    k = 255 - k;
                }
                rgb[o] = (byte) (cr * k / 255);
                rgb[o + 1] = (byte) (cg * k / 255);
                rgb[o + 2] = (byte) (cb * k / 255);
            }
        }
        return Image.ownRgb(w, h, rgb);
    }

    private static int clamp(double v) {
        return (int) Math.max(0, Math.min(255, Math.round(v)));
    }
}
