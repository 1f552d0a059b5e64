package org.taskvec.vectors;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** NumPy {@code .npy} files of float32 (little-endian, C order): what {@code numpy.load} reads. */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");
    private static final Pattern DESCR = Pattern.compile("'descr':\\s*'([^']*)'");
    private static final Pattern ORDER = Pattern.compile("'fortran_order':\\s*(True|False)");

    private Npy() {}

    /** A float32 array and its shape. */
    public record Array(int[] shape, float[] data) {
        public Array {
            long n = 1;
            for (int d : shape) {
                n *= d;
            }
            if (n != data.length) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + n
                        + " values, data has " + data.length);
            }
        }

        /** Row i of a 2-D array. */
        public float[] row(int i) {
            int w = shape[shape.length - 1];
            return Arrays.copyOfRange(data, i * w, (i + 1) * w);
        }
    }

    public static void write(Path path, int[] shape, float[] data) throws IOException {
        new Array(shape, data); // checks the shape
        StringBuilder dims = new StringBuilder();
        for (int d : shape) {
            dims.append(d).append(", ");
        }
        String shapeText = shape.length == 1 ? shape[0] + "," : dims.substring(0, dims.length() - 2);
        String header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shapeText + "), }";
        int total = MAGIC.length + 2 + 2 + header.length() + 1;
        int pad = (64 - total % 64) % 64;
        header = header + " ".repeat(pad) + "\n";
        ByteBuffer buf = ByteBuffer.allocate(MAGIC.length + 4 + header.length() + data.length * 4)
                .order(ByteOrder.LITTLE_ENDIAN);
        buf.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) header.length());
        buf.put(header.getBytes(StandardCharsets.US_ASCII));
        buf.asFloatBuffer().put(data);
        Files.write(path, buf.array());
    }

    public static Array read(Path path) throws IOException {
        byte[] all = Files.readAllBytes(path);
        ByteBuffer buf = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        if (all.length < 10 || !Arrays.equals(Arrays.copyOf(all, 6), MAGIC)) {
            throw new IOException(path + " is not a .npy file");
        }
        int major = all[6];
        int headerLen;
        int start;
        if (major == 1) {
            headerLen = buf.getShort(8) & 0xffff;
            start = 10;
        } else if (major == 2 || major == 3) {
            headerLen = buf.getInt(8);
            start = 12;
        } else {
            throw new IOException(path + ": unsupported .npy version " + major);
        }
        if (start + (long) headerLen > all.length) {
            throw new IOException(path + ": truncated .npy header");
        }
        String header = new String(all, start, headerLen, StandardCharsets.US_ASCII);
        Matcher d = DESCR.matcher(header);
        Matcher o = ORDER.matcher(header);
        Matcher s = SHAPE.matcher(header);
        if (!d.find() || !o.find() || !s.find()) {
            throw new IOException(path + ": unreadable .npy header " + header.strip());
        }
        if (!d.group(1).equals("<f4") && !d.group(1).equals("<f8")) {
            throw new IOException(path + ": dtype " + d.group(1) + " is not float32 or float64");
        }
        if (o.group(1).equals("True")) {
            throw new IOException(path + ": Fortran-order arrays are not supported");
        }
        int[] shape = Arrays.stream(s.group(1).split(",")).map(String::trim).filter(x -> !x.isEmpty())
                .mapToInt(Integer::parseInt).toArray();
        long n = 1;
        for (int dim : shape) {
            n *= dim;
        }
        int width = d.group(1).equals("<f4") ? 4 : 8;
        int dataStart = start + headerLen;
        if (dataStart + n * width != all.length) {
            throw new IOException(path + ": data has " + (all.length - dataStart) + " bytes, shape "
                    + Arrays.toString(shape) + " needs " + n * width);
        }
        float[] data = new float[(int) n];
        buf.position(dataStart);
        for (int i = 0; i < n; i++) {
            data[i] = width == 4 ? buf.getFloat() : (float) buf.getDouble();
        }
        return new Array(shape, data);
    }
}
