package org.taskvec.gguf;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;

/**
 * Reads and structurally checks a GGUF file's header: magic, version, counts, every string and array length against
 * the bytes that remain, value and tensor types, shapes, and that each tensor's data lies inside the file, aligned
 * and without overlap. A file that passes cannot make llama.cpp read past its end or abort on its header.
 */
public final class GgufReader {
    public static final int MAGIC = 0x46554747; // "GGUF" little-endian
    static final int MAX_DIMS = 4;
    static final long MAX_COUNT = 1L << 24;
    static final long MAX_STRING = 1L << 26;
    static final int MAX_ARRAY_NESTING = 1;

    private final FileChannel channel;
    private final long fileSize;
    private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    private long bufStart; // file offset of buf's position 0
    private final Path path;

    private GgufReader(Path path, FileChannel channel) throws IOException {
        this.path = path;
        this.channel = channel;
        this.fileSize = channel.size();
        buf.limit(0);
    }

    /** Reads and checks the header of a GGUF file. */
    public static GgufFile read(Path path) throws IOException, GgufFormatException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return new GgufReader(path, ch).readHeader();
        }
    }

    private long position() {
        return bufStart + buf.position();
    }

    private void need(int n) throws IOException, GgufFormatException {
        if (buf.remaining() >= n) {
            return;
        }
        long pos = position();
        if (pos + n > fileSize) {
            throw new GgufFormatException("unexpected end of file at offset " + pos + " (file is " + fileSize
                    + " bytes; truncated?)");
        }
        buf.compact(); // unread bytes move to the front; position() = their count
        while (buf.position() < n) {
            if (channel.read(buf, pos + buf.position()) < 0) {
                throw new EOFException("end of file at offset " + (pos + buf.position()));
            }
        }
        buf.flip();
        bufStart = pos;
    }

    private int u8() throws IOException, GgufFormatException { need(1); return buf.get() & 0xff; }
    private int i32() throws IOException, GgufFormatException { need(4); return buf.getInt(); }
    private long u32() throws IOException, GgufFormatException { need(4); return buf.getInt() & 0xffffffffL; }
    private long i64() throws IOException, GgufFormatException { need(8); return buf.getLong(); }

    private long u64(String what) throws IOException, GgufFormatException {
        long v = i64();
        if (v < 0) {
            throw new GgufFormatException(what + " is absurd (" + Long.toUnsignedString(v) + ") at offset "
                    + (position() - 8));
        }
        return v;
    }

    private String string(String what) throws IOException, GgufFormatException {
        long at = position();
        long len = u64("length of " + what);
        if (len > MAX_STRING || at + 8 + len > fileSize) {
            throw new GgufFormatException("length of " + what + " (" + len + " bytes) at offset " + at
                    + " runs past the end of the file");
        }
        byte[] bytes = new byte[(int) len];
        int off = 0;
        while (off < len) {
            int chunk = (int) Math.min(len - off, buf.capacity() / 2);
            need(chunk);
            buf.get(bytes, off, chunk);
            off += chunk;
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new GgufFormatException(what + " at offset " + at + " is not valid UTF-8");
        }
    }

    private GgufFile readHeader() throws IOException, GgufFormatException {
        if (fileSize < 24) {
            throw new GgufFormatException(fileSize == 0 ? "file is empty" : "file is too short for a GGUF header ("
                    + fileSize + " bytes)");
        }
        int magic = i32();
        if (magic != MAGIC) {
            throw new GgufFormatException(String.format("not a GGUF file (magic 0x%08x, expected 0x%08x \"GGUF\")",
                    magic, MAGIC));
        }
        long version = u32();
        if (version != 2 && version != 3) {
            throw new GgufFormatException("unsupported GGUF version " + version + " (supported: 2, 3)");
        }
        long nTensors = u64("tensor count");
        long nKv = u64("metadata count");
        // every tensor info needs at least 8+4+8+4+8 bytes, every key/value at least 8+4+1
        if (nTensors > MAX_COUNT || nTensors * 32 > fileSize) {
            throw new GgufFormatException("tensor count " + nTensors + " is impossible for a file of " + fileSize
                    + " bytes");
        }
        if (nKv > MAX_COUNT || nKv * 13 > fileSize) {
            throw new GgufFormatException("metadata count " + nKv + " is impossible for a file of " + fileSize
                    + " bytes");
        }
        LinkedHashMap<String, GgufValue> meta = new LinkedHashMap<>();
        for (long i = 0; i < nKv; i++) {
            String key = string("metadata key " + i);
            if (key.isEmpty()) {
                throw new GgufFormatException("metadata key " + i + " is empty");
            }
            long typeId = u32();
            GgufValueType type = GgufValueType.byId(typeId);
            if (type == null) {
                throw new GgufFormatException("metadata " + key + " has unknown value type " + typeId);
            }
            if (meta.containsKey(key)) {
                throw new GgufFormatException("metadata key " + key + " appears twice");
            }
            meta.put(key, value(key, type, 0));
        }
        int alignment = 32;
        GgufValue al = meta.get("general.alignment");
        if (al != null) {
            if (al.type() != GgufValueType.UINT32 || al.asLong() <= 0 || Long.bitCount(al.asLong()) != 1
                    || al.asLong() > (1 << 20)) {
                throw new GgufFormatException("general.alignment must be a power of two UINT32, got " + al);
            }
            alignment = (int) al.asLong();
        }
        List<GgufTensorInfo> tensors = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (long i = 0; i < nTensors; i++) {
            String name = string("name of tensor " + i);
            long nDims = u32();
            if (nDims == 0 || nDims > MAX_DIMS) {
                throw new GgufFormatException("tensor " + name + " has " + nDims + " dimensions (1 to " + MAX_DIMS
                        + " allowed)");
            }
            long[] shape = new long[(int) nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++) {
                shape[d] = u64("dimension " + d + " of tensor " + name);
                if (shape[d] == 0 || shape[d] > (1L << 40)) {
                    throw new GgufFormatException("tensor " + name + " has dimension " + d + " = " + shape[d]);
                }
                if (elements > Long.MAX_VALUE / shape[d]) {
                    throw new GgufFormatException("tensor " + name + " has an element count that overflows");
                }
                elements *= shape[d];
            }
            long typeId = u32();
            GgmlType type = GgmlType.byId(typeId);
            if (type == null) {
                throw new GgufFormatException("tensor " + name + " has unknown type " + typeId);
            }
            if (shape[0] % type.blockSize != 0) {
                throw new GgufFormatException("tensor " + name + " of type " + type + " has a row of " + shape[0]
                        + " elements, not a multiple of the block size " + type.blockSize);
            }
            long offset = u64("data offset of tensor " + name);
            if (offset % alignment != 0) {
                throw new GgufFormatException("tensor " + name + " has data offset " + offset + ", not aligned to "
                        + alignment);
            }
            if (!names.add(name)) {
                throw new GgufFormatException("tensor " + name + " appears twice");
            }
            tensors.add(new GgufTensorInfo(name, shape, type, offset));
        }
        long dataOffset = (position() + alignment - 1) / alignment * alignment;
        long dataSize = fileSize - dataOffset;
        List<GgufTensorInfo> byOffset = new ArrayList<>(tensors);
        byOffset.sort((a, b) -> Long.compare(a.offset(), b.offset()));
        long end = 0;
        for (GgufTensorInfo t : byOffset) {
            long size = t.byteSize();
            if (t.offset() < end) {
                throw new GgufFormatException("tensor " + t.name() + " overlaps the data of another tensor");
            }
            if (t.offset() > dataSize || size > dataSize - t.offset()) {
                throw new GgufFormatException("tensor " + t.name() + " (" + size + " bytes at data offset "
                        + t.offset() + ") runs past the end of the file; the data section has " + Math.max(0, dataSize)
                        + " bytes (truncated file?)");
            }
            end = t.offset() + size;
        }
        return new GgufFile(path, (int) version, meta, tensors, dataOffset, alignment);
    }

    private GgufValue value(String key, GgufValueType type, int depth) throws IOException, GgufFormatException {
        switch (type) {
            case UINT8: return new GgufValue(type, null, u8());
            case INT8: return new GgufValue(type, null, (int) (byte) u8());
            case UINT16: need(2); return new GgufValue(type, null, buf.getShort() & 0xffff);
            case INT16: need(2); return new GgufValue(type, null, (int) buf.getShort());
            case UINT32: return new GgufValue(type, null, u32());
            case INT32: return new GgufValue(type, null, i32());
            case FLOAT32: need(4); return new GgufValue(type, null, buf.getFloat());
            case BOOL: {
                int b = u8();
                if (b > 1) {
                    throw new GgufFormatException("metadata " + key + " is a BOOL with value " + b);
                }
                return new GgufValue(type, null, b == 1);
            }
            case STRING: return new GgufValue(type, null, string("value of " + key));
            case UINT64: return new GgufValue(type, null, i64());
            case INT64: return new GgufValue(type, null, i64());
            case FLOAT64: need(8); return new GgufValue(type, null, buf.getDouble());
            case ARRAY: return array(key, depth);
            default: throw new GgufFormatException("metadata " + key + " has unsupported type " + type);
        }
    }

    private GgufValue array(String key, int depth) throws IOException, GgufFormatException {
        long at = position();
        long typeId = u32();
        GgufValueType et = GgufValueType.byId(typeId);
        if (et == null) {
            throw new GgufFormatException("array " + key + " has unknown element type " + typeId);
        }
        if (et == GgufValueType.ARRAY && depth >= MAX_ARRAY_NESTING) {
            throw new GgufFormatException("array " + key + " nests arrays deeper than allowed");
        }
        long n = u64("length of array " + key);
        long minElement = et.size > 0 ? et.size : 8;
        if (n > MAX_COUNT * 4 || n * minElement > fileSize - position()) {
            throw new GgufFormatException("array " + key + " at offset " + at + " claims " + n + " elements of "
                    + et + ", more than the file holds");
        }
        int len = (int) n;
        switch (et) {
            case STRING: {
                List<String> out = new ArrayList<>(len);
                for (int i = 0; i < len; i++) {
                    out.add(string("element " + i + " of " + key));
                }
                return new GgufValue(GgufValueType.ARRAY, et, out);
            }
            case FLOAT32: {
                float[] out = new float[len];
                for (int i = 0; i < len; i++) { need(4); out[i] = buf.getFloat(); }
                return new GgufValue(GgufValueType.ARRAY, et, out);
            }
            case INT32: case UINT32: {
                int[] out = new int[len];
                for (int i = 0; i < len; i++) { out[i] = i32(); }
                return new GgufValue(GgufValueType.ARRAY, et, out);
            }
            case INT64: case UINT64: {
                long[] out = new long[len];
                for (int i = 0; i < len; i++) { out[i] = i64(); }
                return new GgufValue(GgufValueType.ARRAY, et, out);
            }
            case FLOAT64: {
                double[] out = new double[len];
                for (int i = 0; i < len; i++) { need(8); out[i] = buf.getDouble(); }
                return new GgufValue(GgufValueType.ARRAY, et, out);
            }
            case BOOL: case UINT8: case INT8: {
                byte[] out = new byte[len];
                for (int i = 0; i < len; i++) { out[i] = (byte) u8(); }
                return new GgufValue(GgufValueType.ARRAY, et, out);
            }
            case UINT16: case INT16: {
                int[] out = new int[len];
                for (int i = 0; i < len; i++) {
                    need(2);
                    out[i] = et == GgufValueType.UINT16 ? buf.getShort() & 0xffff : buf.getShort();
                }
                return new GgufValue(GgufValueType.ARRAY, et, out);
            }
            case ARRAY: {
                List<GgufValue> out = new ArrayList<>(len);
                for (int i = 0; i < len; i++) {
                    out.add(array(key + "[" + i + "]", depth + 1));
                }
                return new GgufValue(GgufValueType.ARRAY, et, out);
            }
            default:
                throw new GgufFormatException("array " + key + " has unsupported element type " + et);
        }
    }

    /** Reads a tensor's data as float32 (F32, F16, BF16 and Q8_0 supported). */
    public static float[] readTensor(GgufFile file, GgufTensorInfo t) throws IOException {
        long n = t.elementCount();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IOException("tensor " + t.name() + " is too large to read into one array");
        }
        ByteBuffer data = ByteBuffer.allocate(Math.toIntExact(t.byteSize())).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(file.path(), StandardOpenOption.READ)) {
            long pos = file.dataOffset() + t.offset();
            while (data.hasRemaining()) {
                if (ch.read(data, pos + data.position()) < 0) {
                    throw new EOFException("tensor " + t.name() + " is truncated");
                }
            }
        }
        data.flip();
        float[] out = new float[(int) n];
        switch (t.type()) {
            case F32 -> data.asFloatBuffer().get(out);
            case F16 -> { for (int i = 0; i < n; i++) out[i] = Half.toFloat(data.getShort()); }
            case BF16 -> { for (int i = 0; i < n; i++) out[i] = Float.intBitsToFloat((data.getShort() & 0xffff) << 16); }
            case Q8_0 -> {
                for (int b = 0; b < n / 32; b++) {
                    float d = Half.toFloat(data.getShort());
                    for (int j = 0; j < 32; j++) {
                        out[b * 32 + j] = d * data.get();
                    }
                }
            }
            default -> throw new IOException("reading tensors of type " + t.type() + " is not supported");
        }
        return out;
    }
}
