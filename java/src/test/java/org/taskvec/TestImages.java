package org.taskvec;

import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.zip.CRC32;

/** Crafted image bytes for the bad-input and image tests. */
public final class TestImages {
    private TestImages() {}

    /** A PNG signature and IHDR chunk claiming the given size, with no image data. */
    public static byte[] pngHeader(int w, int h) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bos);
        out.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10});
        ByteArrayOutputStream chunk = new ByteArrayOutputStream();
        DataOutputStream c = new DataOutputStream(chunk);
        c.writeBytes("IHDR");
        c.writeInt(w);
        c.writeInt(h);
        c.write(new byte[] {8, 2, 0, 0, 0});
        byte[] body = chunk.toByteArray();
        out.writeInt(13);
        out.write(body);
        CRC32 crc = new CRC32();
        crc.update(body);
        out.writeInt((int) crc.getValue());
        return bos.toByteArray();
    }

    /**
     * A 16x16 four-channel JPEG of one colour. adobe: with an Adobe APP14 marker (transform 0, CMYK) and the channels
     * stored inverted, as Photoshop writes them; otherwise plain CMYK without a marker.
     */
    public static byte[] cmykJpeg(int c, int m, int y, int k, boolean adobe) throws IOException {
        WritableRaster r = Raster.createInterleavedRaster(DataBuffer.TYPE_BYTE, 16, 16, 4, null);
        int[] px = adobe ? new int[] {255 - c, 255 - m, 255 - y, 255 - k} : new int[] {c, m, y, k};
        for (int j = 0; j < 16; j++) {
            for (int i = 0; i < 16; i++) {
                r.setPixel(i, j, px);
            }
        }
        javax.imageio.ImageWriter w = javax.imageio.ImageIO.getImageWritersByFormatName("jpeg").next();
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (javax.imageio.stream.ImageOutputStream os = javax.imageio.ImageIO.createImageOutputStream(bos)) {
            w.setOutput(os);
            w.write(null, new javax.imageio.IIOImage(r, null, null), null);
        } finally {
            w.dispose();
        }
        byte[] jpeg = bos.toByteArray();
        if (!adobe) {
            return jpeg;
        }
        // APP14 "Adobe": version 100, flags 0, 0, transform 0, spliced in after SOI
        byte[] app14 = {(byte) 0xFF, (byte) 0xEE, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0};
        byte[] out = new byte[jpeg.length + app14.length];
        System.arraycopy(jpeg, 0, out, 0, 2);
        System.arraycopy(app14, 0, out, 2, app14.length);
        System.arraycopy(jpeg, 2, out, 2 + app14.length, jpeg.length - 2);
        return out;
    }
}
