package org.taskvec.engine;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Collects the bytes of generated token pieces; text is decoded only up to the last complete UTF-8 character,
 * since one character may be split across tokens.
 */
final class Utf8Accumulator {
    private byte[] bytes = new byte[256];
    private int length;

    void append(byte[] piece) {
        if (length + piece.length > bytes.length) {
            bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, length + piece.length));
        }
        System.arraycopy(piece, 0, bytes, length, piece.length);
        length += piece.length;
    }

    /** The text of all complete characters so far. */
    String complete() {
        return new String(bytes, 0, completeEnd(), StandardCharsets.UTF_8);
    }

    /** All text so far (an incomplete trailing character decodes as U+FFFD). */
    String text() {
        return new String(bytes, 0, length, StandardCharsets.UTF_8);
    }

    private int completeEnd() {
        // Walk back over at most 3 continuation bytes to the start of the last character.
        int i = length - 1;
        int back = 0;
        while (i >= 0 && back < 4 && (bytes[i] & 0xC0) == 0x80) {
            i--;
            back++;
        }
        if (i < 0) {
            return length;
        }
        int lead = bytes[i] & 0xFF;
        int need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        return length - i >= need ? length : i;
    }
}
