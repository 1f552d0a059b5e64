package org.taskvec.organism;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Integer .npy files (format 1.0, little-endian, C order) for the organism's data: int32 ({@code <i4}), int64
 * ({@code <i8}) and uint8 ({@code |u1}); the header written as numpy writes it (padded to 64 bytes), so that
 * {@code numpy.load} (also with {@code mmap_mode='r'}) reads them.
 */
public final class NpyArrays {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");
    private static final Pattern DESCR = Pattern.compile("'descr':\\s*'([^']*)'");

    /** An array read back: dtype ({@code <i4}, {@code <i8}, {@code |u1}), shape, values widened to long. */
    public record Array(String descr, long[] shape, long[] values) {
        public long size() {
            return values.length;
        }

        /** Element (i, j) of a 2-D array. */
        public long at(long i, int j) {
            return values[(int) (i * shape[1] + j)];
        }

        public int[] ints() {
            return Arrays.stream(values).mapToInt(Math::toIntExact).toArray();
        }
    }

    private NpyArrays() {}

    public static void writeInt32(Path path, long[] shape, int[] data, int n) throws IOException {
        check(shape, n);
        try (OutputStream out = open(path, "<i4", shape)) {
            ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) {
                if (b.remaining() < 4) {
                    flush(b, out);
                }
                b.putInt(data[i]);
            }
            flush(b, out);
        }
    }

    public static void writeInt64(Path path, long[] shape, long[] data, int n) throws IOException {
        check(shape, n);
        try (OutputStream out = open(path, "<i8", shape)) {
            ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) {
                if (b.remaining() < 8) {
                    flush(b, out);
                }
                b.putLong(data[i]);
            }
            flush(b, out);
        }
    }

    public static void writeUint8(Path path, long[] shape, byte[] data, int n) throws IOException {
        check(shape, n);
        try (OutputStream out = open(path, "|u1", shape)) {
            out.write(data, 0, n);
        }
    }

    private static void flush(ByteBuffer b, OutputStream out) throws IOException {
        out.write(b.array(), 0, b.position());
        b.clear();
    }

    private static void check(long[] shape, int n) {
        long total = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            }
            total *= d;
        }
        if (total != n) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + total + " values, not " + n);
        }
    }

    private static OutputStream open(Path path, String descr, long[] shape) throws IOException {
        StringBuilder dims = new StringBuilder();
        for (int i = 0; i < shape.length; i++) {
            dims.append(i == 0 ? "" : ", ").append(shape[i]);
        }
        if (shape.length == 1) {
            dims.append(',');
        }
        String header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
        int total = MAGIC.length + 2 + 2 + header.length() + 1;
        int pad = (64 - total % 64) % 64;
        header = header + " ".repeat(pad) + "\n";
        OutputStream out = new BufferedOutputStream(Files.newOutputStream(path), 1 << 16);
        out.write(MAGIC);
        out.write(new byte[] {1, 0, (byte) (header.length() & 0xff), (byte) (header.length() >> 8)});
        out.write(header.getBytes(StandardCharsets.US_ASCII));
        return out;
    }

    /** Reads an integer array written by this class (or by numpy with the same dtypes). */
    public static Array read(Path path) throws IOException {
        byte[] all = Files.readAllBytes(path);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        for (byte m : MAGIC) {
            if (b.get() != m) {
                throw new IOException(path + " is not a .npy file");
            }
        }
        b.get();
        b.get();
        int headerLength = Short.toUnsignedInt(b.getShort());
        String header = new String(all, b.position(), headerLength, StandardCharsets.US_ASCII);
        b.position(b.position() + headerLength);
        Matcher d = DESCR.matcher(header);
        Matcher s = SHAPE.matcher(header);
        if (!d.find() || !s.find() || header.contains("'fortran_order': True")) {
            throw new IOException(path + ": unsupported header " + header);
        }
        long[] shape = Arrays.stream(s.group(1).split(",")).map(String::strip).filter(x -> !x.isEmpty())
                .mapToLong(Long::parseLong).toArray();
        long total = 1;
        for (long x : shape) {
            total *= x;
        }
        long[] values = new long[Math.toIntExact(total)];
        for (int i = 0; i < values.length; i++) {
            values[i] = switch (d.group(1)) {
                case "<i4" -> b.getInt();
                case "<i8" -> b.getLong();
                case "|u1" -> Byte.toUnsignedInt(b.get());
                default -> throw new IOException(path + ": dtype " + d.group(1) + " is not read here");
            };
        }
        return new Array(d.group(1), shape, values);
    }
}
