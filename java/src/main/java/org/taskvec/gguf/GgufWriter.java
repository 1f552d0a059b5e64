package org.taskvec.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes GGUF version 3 files: metadata, then tensors encoded as F32, F16 or Q8_0 from a {@link TensorSource}.
 * The file appears atomically (written to a temporary name, then moved).
 */
public final class GgufWriter {
    private static final int ALIGNMENT = 32;
    private static final int CHUNK = 1 << 16; // elements per encode step (a multiple of every block size used)

    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<Pending> tensors = new ArrayList<>();

    private record Pending(String name, long[] shape, GgmlType type, TensorSource source) {}

    public GgufWriter put(String key, GgufValue value) {
        metadata.put(key, value);
        return this;
    }

    /** Copies all metadata whose key starts with prefix from another file. */
    public GgufWriter putAll(GgufFile from, String prefix) {
        from.metadata().forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                metadata.put(k, v);
            }
        });
        return this;
    }

    /** Adds a tensor; shape in ggml order (fastest first). */
    public GgufWriter tensor(String name, GgmlType type, TensorSource source, long... shape) {
        if (type != GgmlType.F32 && type != GgmlType.F16 && type != GgmlType.Q8_0) {
            throw new IllegalArgumentException("the writer encodes F32, F16 and Q8_0, not " + type);
        }
        if (shape[0] % type.blockSize != 0) {
            throw new IllegalArgumentException(name + ": row of " + shape[0] + " is not a multiple of " + type.blockSize);
        }
        tensors.add(new Pending(name, shape.clone(), type, source));
        return this;
    }

    public void write(Path path) throws IOException {
        Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            Out out = new Out(ch);
            out.i32(GgufReader.MAGIC);
            out.i32(3);
            out.i64(tensors.size());
            out.i64(metadata.size());
            for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
                out.string(e.getKey());
                out.i32(e.getValue().type().id);
                value(out, e.getValue());
            }
            long offset = 0;
            for (Pending t : tensors) {
                out.string(t.name);
                out.i32(t.shape.length);
                for (long d : t.shape) {
                    out.i64(d);
                }
                out.i32(t.type.id);
                out.i64(offset);
                offset = align(offset + size(t));
            }
            out.pad();
            float[] chunk = new float[CHUNK];
            for (Pending t : tensors) {
                long n = elements(t.shape);
                for (long start = 0; start < n; start += CHUNK) {
                    int count = (int) Math.min(CHUNK, n - start);
                    t.source.fill(start, chunk, count);
                    encode(out, t.type, chunk, count);
                }
                out.pad();
            }
            out.flush();
        }
        Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    private static long size(Pending t) {
        return elements(t.shape) / t.type.blockSize * t.type.blockBytes;
    }

    private static long align(long x) {
        return (x + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }

    private static void encode(Out out, GgmlType type, float[] v, int count) throws IOException {
        switch (type) {
            case F32 -> { for (int i = 0; i < count; i++) out.f32(v[i]); }
            case F16 -> { for (int i = 0; i < count; i++) out.i16(Half.fromFloat(v[i])); }
            case Q8_0 -> {
                for (int b = 0; b < count; b += 32) {
                    float amax = 0;
                    for (int j = 0; j < 32; j++) {
                        amax = Math.max(amax, Math.abs(v[b + j]));
                    }
                    float d = amax / 127f;
                    float id = d != 0 ? 1f / d : 0f;
                    out.i16(Half.fromFloat(d));
                    for (int j = 0; j < 32; j++) {
                        out.i8((byte) Math.round(v[b + j] * id));
                    }
                }
            }
            default -> throw new IllegalStateException(type.toString());
        }
    }

    @SuppressWarnings("unchecked")
    private static void value(Out out, GgufValue v) throws IOException {
        Object o = v.value();
        switch (v.type()) {
            case UINT8, INT8 -> out.i8((byte) ((Number) o).intValue());
            case UINT16, INT16 -> out.i16((short) ((Number) o).intValue());
            case UINT32, INT32 -> out.i32(((Number) o).intValue());
            case UINT64, INT64 -> out.i64(((Number) o).longValue());
            case FLOAT32 -> out.f32(((Number) o).floatValue());
            case FLOAT64 -> out.f64(((Number) o).doubleValue());
            case BOOL -> out.i8((byte) (((Boolean) o) ? 1 : 0));
            case STRING -> out.string((String) o);
            case ARRAY -> {
                GgufValueType et = v.elementType();
                out.i32(et.id);
                switch (et) {
                    case STRING -> { List<String> l = (List<String>) o; out.i64(l.size()); for (String s : l) out.string(s); }
                    case FLOAT32 -> { float[] a = (float[]) o; out.i64(a.length); for (float x : a) out.f32(x); }
                    case INT32, UINT32 -> { int[] a = (int[]) o; out.i64(a.length); for (int x : a) out.i32(x); }
                    case INT16, UINT16 -> { int[] a = (int[]) o; out.i64(a.length); for (int x : a) out.i16((short) x); }
                    case INT64, UINT64 -> { long[] a = (long[]) o; out.i64(a.length); for (long x : a) out.i64(x); }
                    case FLOAT64 -> { double[] a = (double[]) o; out.i64(a.length); for (double x : a) out.f64(x); }
                    case BOOL, UINT8, INT8 -> { byte[] a = (byte[]) o; out.i64(a.length); for (byte x : a) out.i8(x); }
                    case ARRAY -> {
                        List<GgufValue> l = (List<GgufValue>) o;
                        out.i64(l.size());
                        for (GgufValue x : l) value(out, x);
                    }
                    default -> throw new IllegalStateException(et.toString());
                }
            }
            default -> throw new IllegalStateException(v.type().toString());
        }
    }

    /** Little-endian buffered output to a channel, tracking the file position. */
    private static final class Out {
        private final FileChannel ch;
        private final ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        private long written;

        Out(FileChannel ch) {
            this.ch = ch;
        }

        private void room(int n) throws IOException {
            if (buf.remaining() < n) {
                flush();
            }
        }

        void flush() throws IOException {
            buf.flip();
            while (buf.hasRemaining()) {
                written += ch.write(buf);
            }
            buf.clear();
        }

        long position() {
            return written + buf.position();
        }

        void i8(byte v) throws IOException { room(1); buf.put(v); }
        void i16(short v) throws IOException { room(2); buf.putShort(v); }
        void i32(int v) throws IOException { room(4); buf.putInt(v); }
        void i64(long v) throws IOException { room(8); buf.putLong(v); }
        void f32(float v) throws IOException { room(4); buf.putFloat(v); }
        void f64(double v) throws IOException { room(8); buf.putDouble(v); }

        void string(String s) throws IOException {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            for (int off = 0; off < b.length; ) {
                room(1);
                int n = Math.min(buf.remaining(), b.length - off);
                buf.put(b, off, n);
                off += n;
            }
        }

        void pad() throws IOException {
            while (position() % ALIGNMENT != 0) {
                i8((byte) 0);
            }
        }
    }
}
