package org.taskvec.engine;

/**
 * How to create a session. Immutable; start from {@link #defaults()}.
 *
 * @param contextSize positions the session holds (0: the model's training context)
 * @param batchSize logical batch size for prompt evaluation
 * @param microBatchSize physical batch size (rows of one graph evaluation)
 * @param threads threads for generation
 * @param batchThreads threads for prompt evaluation (0: same as threads)
 * @param flashAttention llama.cpp's flash attention switch
 * @param kvCacheType element type of the KV cache
 * @param seed seed of the sampler's random draws
 */
public record SessionParams(int contextSize, int batchSize, int microBatchSize, int threads, int batchThreads,
                            FlashAttention flashAttention, KvCacheType kvCacheType, int seed, int sequences) {
    /** llama.cpp's flash attention setting. */
    public enum FlashAttention { AUTO, ON, OFF }

    /** KV cache element type: F16 is llama.cpp's default; F32 gives reference-exact attention. */
    public enum KvCacheType { F16, F32 }

    public SessionParams {
        if (contextSize < 0 || contextSize > (1 << 24)) {
            throw new InvalidInputException("contextSize must be in [0, 16777216], got " + contextSize);
        }
        if (batchSize <= 0 || microBatchSize <= 0) {
            throw new InvalidInputException("batchSize and microBatchSize must be positive, got " + batchSize + " and "
                    + microBatchSize);
        }
        if (threads <= 0 || threads > 1024 || batchThreads < 0 || batchThreads > 1024) {
            throw new InvalidInputException("threads must be in [1, 1024] (batchThreads in [0, 1024]), got " + threads
                    + " and " + batchThreads);
        }
        if (flashAttention == null || kvCacheType == null) {
            throw new InvalidInputException("flashAttention and kvCacheType must not be null");
        }
        if (sequences < 1 || sequences > 256) {
            throw new InvalidInputException("sequences must be in [1, 256], got " + sequences);
        }
    }

    /** As before parallel sequences existed: one sequence. */
    public SessionParams(int contextSize, int batchSize, int microBatchSize, int threads, int batchThreads,
                         FlashAttention flashAttention, KvCacheType kvCacheType, int seed) {
        this(contextSize, batchSize, microBatchSize, threads, batchThreads, flashAttention, kvCacheType, seed, 1);
    }

    public static SessionParams defaults() {
        int threads = Math.max(1, Math.min(8, Runtime.getRuntime().availableProcessors()));
        return new SessionParams(4096, 512, 512, threads, 0, FlashAttention.AUTO, KvCacheType.F16, 0);
    }

    public SessionParams withContextSize(int n) {
        return new SessionParams(n, batchSize, microBatchSize, threads, batchThreads, flashAttention, kvCacheType, seed, sequences);
    }

    public SessionParams withBatchSize(int batch, int microBatch) {
        return new SessionParams(contextSize, batch, microBatch, threads, batchThreads, flashAttention, kvCacheType, seed, sequences);
    }

    public SessionParams withThreads(int n) {
        return new SessionParams(contextSize, batchSize, microBatchSize, n, batchThreads, flashAttention, kvCacheType, seed, sequences);
    }

    public SessionParams withFlashAttention(FlashAttention fa) {
        return new SessionParams(contextSize, batchSize, microBatchSize, threads, batchThreads, fa, kvCacheType, seed, sequences);
    }

    public SessionParams withKvCacheType(KvCacheType t) {
        return new SessionParams(contextSize, batchSize, microBatchSize, threads, batchThreads, flashAttention, t, seed, sequences);
    }

    public SessionParams withSeed(int s) {
        return new SessionParams(contextSize, batchSize, microBatchSize, threads, batchThreads, flashAttention, kvCacheType, s, sequences);
    }

    /**
     * n parallel sequences in one KV cache (ids 0..n-1; the single-sequence calls work on sequence 0): their text
     * is decoded together, one read of the weights for all of them ({@link Session#evaluateAll}).
     */
    public SessionParams withSequences(int n) {
        return new SessionParams(contextSize, batchSize, microBatchSize, threads, batchThreads, flashAttention,
                kvCacheType, seed, n);
    }
}
