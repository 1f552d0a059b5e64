package org.taskvec.engine;

import org.bytedeco.javacpp.IntPointer;

/** Reads an int array from a native call that reports the length it needs (the tokenizer's convention). */
final class NativeInts {
    /** A native call writing up to capacity ints into out; returns the full count, or a negative status. */
    @FunctionalInterface
    interface Call {
        int fill(IntPointer out, int capacity);
    }

    private NativeInts() {}

    /** Calls, retrying with a buffer of the reported size when the first was too small. */
    static int[] read(int initialCapacity, Call call) {
        int cap = Math.max(1, initialCapacity);
        while (true) {
            try (IntPointer out = new IntPointer(cap)) {
                int n = call.fill(out, cap);
                if (n < 0) {
                    NativeLibrary.check(-n);
                }
                if (n <= cap) {
                    int[] r = new int[n];
                    out.get(r);
                    return r;
                }
                cap = n;
            }
        }
    }
}
