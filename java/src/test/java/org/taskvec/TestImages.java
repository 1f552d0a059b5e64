package org.taskvec;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.zip.CRC32;

/** Crafted image bytes for the bad-input tests. */
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
}
