package org.taskvec.gguf;

/**
 * One tensor of a GGUF file: name, shape in ggml order (fastest-varying first), type, and where its data lies.
 *
 * @param offset offset of the data relative to the start of the data section
 */
public record GgufTensorInfo(String name, long[] shape, GgmlType type, long offset) {
    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public long byteSize() {
        return elementCount() / type.blockSize * type.blockBytes;
    }
}
