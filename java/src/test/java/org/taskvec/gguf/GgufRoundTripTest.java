package org.taskvec.gguf;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufRoundTripTest {
    @TempDir
    Path tmp;

    @Test
    void metadataAndTensorsSurviveAWriteAndRead() throws Exception {
        float[] values = new float[64 * 3];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) Math.sin(i * 0.37) * 3f;
        }
        Path f = tmp.resolve("t.gguf");
        new GgufWriter()
                .put("general.architecture", GgufValue.string("test"))
                .put("a.u32", GgufValue.uint32(4000000000L))
                .put("a.i32", GgufValue.int32(-7))
                .put("a.f32", GgufValue.float32(1.5f))
                .put("a.bool", GgufValue.bool(true))
                .put("a.strings", GgufValue.strings(List.of("x", "", "ünï")))
                .put("a.floats", GgufValue.float32s(new float[] {1f, -2f}))
                .put("a.ints", GgufValue.int32s(new int[] {3, 4, 5}))
                .tensor("f32", GgmlType.F32, TensorSource.of(values), 64, 3)
                .tensor("f16", GgmlType.F16, TensorSource.of(values), 64, 3)
                .tensor("q8", GgmlType.Q8_0, TensorSource.of(values), 64, 3)
                .write(f);
        GgufFile g = GgufReader.read(f);
        assertEquals(3, g.version());
        assertEquals("test", g.architecture());
        assertEquals(4000000000L, g.getLong("a.u32").orElseThrow());
        assertEquals(-7L, g.getLong("a.i32").orElseThrow());
        assertEquals(1.5, g.get("a.f32").orElseThrow().asDouble());
        assertTrue(g.get("a.bool").orElseThrow().asBoolean());
        assertEquals(List.of("x", "", "ünï"), g.get("a.strings").orElseThrow().value());
        assertArrayEquals(new float[] {1f, -2f}, (float[]) g.get("a.floats").orElseThrow().value());
        assertArrayEquals(new int[] {3, 4, 5}, (int[]) g.get("a.ints").orElseThrow().value());
        assertEquals(3, g.tensors().size());
        assertEquals(0, g.dataOffset() % 32);
        assertArrayEquals(values, GgufReader.readTensor(g, g.tensor("f32").orElseThrow()));
        float[] h = GgufReader.readTensor(g, g.tensor("f16").orElseThrow());
        float[] q = GgufReader.readTensor(g, g.tensor("q8").orElseThrow());
        for (int i = 0; i < values.length; i++) {
            assertEquals(values[i], h[i], 2e-3, "f16 at " + i);
            assertEquals(values[i], q[i], 3f / 127 * 0.5 + 3f * 1e-3, "q8_0 at " + i); // half a step + F16 scale
        }
        assertEquals(64L * 3 / 32 * 34, g.tensor("q8").orElseThrow().byteSize());
    }

    @Test
    void halfPrecisionRoundTripsEveryFiniteValue() {
        for (int bits = 0; bits < 0x10000; bits++) {
            short h = (short) bits;
            int exp = (bits >>> 10) & 0x1f;
            if (exp == 0x1f) {
                continue; // inf / NaN
            }
            float f = Half.toFloat(h);
            assertEquals(h, Half.fromFloat(f), "half bits " + Integer.toHexString(bits) + " -> " + f);
        }
        assertEquals(Half.fromFloat(1f), (short) 0x3c00);
        assertEquals(1f / 3f, Half.toFloat(Half.fromFloat(1f / 3f)), 1e-3);
        assertEquals(0x7c00, Half.fromFloat(1e6f) & 0xffff);
    }

    @Test
    void structuralCheckRejectsBrokenHeaders() throws Exception {
        Path f = tmp.resolve("ok.gguf");
        new GgufWriter().put("general.architecture", GgufValue.string("test"))
                .tensor("w", GgmlType.F32, TensorSource.constant(1f), 32, 4).write(f);
        byte[] good = Files.readAllBytes(f);
        GgufReader.read(f); // sanity

        // truncation anywhere must be reported, never accepted
        for (int cut = 0; cut < good.length; cut += 7) {
            Path t = tmp.resolve("cut" + cut + ".gguf");
            Files.write(t, java.util.Arrays.copyOf(good, cut));
            assertThrows(GgufFormatException.class, () -> GgufReader.read(t), "cut at " + cut);
        }
        byte[] bad = good.clone();
        bad[0] = 'X';
        assertMessage(bad, "not a GGUF file");
        bad = good.clone();
        bad[4] = 9; // version 9
        assertMessage(bad, "unsupported GGUF version 9");
        bad = good.clone();
        bad[8] = (byte) 0xff; bad[9] = (byte) 0xff; bad[10] = (byte) 0xff; // tensor count huge
        assertMessage(bad, "tensor count");
        bad = good.clone();
        bad[16] = (byte) 0xff; bad[17] = (byte) 0xff; bad[18] = (byte) 0xff; // kv count huge
        assertMessage(bad, "metadata count");
        bad = good.clone();
        bad[24 + 6] = 0x7f; // length of the first key: absurd
        assertMessage(bad, "runs past the end");
    }

    private void assertMessage(byte[] content, String expected) throws Exception {
        Path t = Files.createTempFile(tmp, "bad", ".gguf");
        Files.write(t, content);
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufReader.read(t));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }
}
