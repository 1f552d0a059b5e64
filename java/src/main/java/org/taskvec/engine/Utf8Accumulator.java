package org.taskvec.engine;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Collects the bytes of generated token pieces and releases text only up to the last complete UTF-8 character,
 * since one character may be split across tokens.
 */
final class Utf8Accumulator {
    private byte[] bytes = new byte[256];
    private int length;
    private int released;

    void append(byte[] piece) {
        if (length + piece.length > bytes.length) {
            bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, length + piece.length));
        }
        System.arraycopy(piece, 0, bytes, length, piece.length);
        length += piece.length;
    }

    /** Text completed since the last call ("" when none). */
    String release() {
        int end = completeEnd();
        if (end <= released) {
            return "";
        }
        String s = new String(bytes, released, end - released, StandardCharsets.UTF_8);
        released = end;
        return s;
    }

    /** All text so far (an incomplete trailing character decodes as U+FFFD). */
    String text() {
        return new String(bytes, 0, length, StandardCharsets.UTF_8);
    }

    private int completeEnd() {
        // Walk back over at most 3 continuation bytes to the start of the last character.
        int i = length - 1;
        int back = 0;
        while (i >= released && back < 4 && (bytes[i] & 0xC0) == 0x80) {
            i--;
            back++;
        }
        if (i < released) {
            return length;
        }
        int lead = bytes[i] & 0xFF;
        int need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        return length - i >= need ? length : i;
    }
}
