package org.taskvec.synth;

import org.taskvec.gguf.TensorSource;

/**
 * Deterministic pseudo-random tensor values: value i of a tensor is a hash of (seed, tensor name, i), so every
 * tensor is reproducible on its own, in any order and in any chunking.
 */
final class SeededValues {
    private SeededValues() {}

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    static long tensorSeed(long seed, String name) {
        long h = seed;
        for (int i = 0; i < name.length(); i++) {
            h = mix(h + name.charAt(i));
        }
        return h;
    }

    /** Uniform values in [center - halfWidth, center + halfWidth]. */
    static TensorSource uniform(long seed, String name, float center, float halfWidth) {
        long ts = tensorSeed(seed, name);
        return (start, out, count) -> {
            for (int i = 0; i < count; i++) {
                long r = mix(ts + (start + i) * 0x9e3779b97f4a7c15L);
                float u = (r >>> 40) * 0x1.0p-24f; // [0, 1)
                out[i] = center + (2f * u - 1f) * halfWidth;
            }
        };
    }

    /** Uniform weights with variance gain^2 / fanIn (the usual initialisation scale). */
    static TensorSource weights(long seed, String name, long fanIn, float gain) {
        return uniform(seed, name, 0f, (float) (gain * Math.sqrt(3.0 / fanIn)));
    }
}
