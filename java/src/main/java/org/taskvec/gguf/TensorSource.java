package org.taskvec.gguf;

/**
 * Produces a tensor's values in order (ggml order, fastest dimension first), chunk by chunk, so that large tensors
 * are written without being held in memory.
 */
@FunctionalInterface
public interface TensorSource {
    /** Fills out[0, count) with the values at flat indices [start, start + count). */
    void fill(long start, float[] out, int count);

    static TensorSource of(float[] values) {
        return (start, out, count) -> System.arraycopy(values, Math.toIntExact(start), out, 0, count);
    }

    static TensorSource constant(float value) {
        return (start, out, count) -> java.util.Arrays.fill(out, 0, count, value);
    }
}
