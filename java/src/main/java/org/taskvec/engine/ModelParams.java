package org.taskvec.engine;

import java.nio.file.Path;
import java.util.Optional;

/**
 * How to load a model. Immutable; start from {@link #defaults()}. {@code projectorFlashAttention}: libmtmd's flash
 * attention in the vision encoder (AUTO, its default, turns it on where the backend has it; on the CPU that rounds
 * K and V to F16, some 1e-3 relative in the image embeddings; OFF computes the encoder's attention in F32).
 */
public record ModelParams(int gpuLayers, boolean mmap, Path projector, int projectorThreads, long imageCacheBytes,
                          SessionParams.FlashAttention projectorFlashAttention) {
    public ModelParams {
        if (gpuLayers < -1) {
            throw new InvalidInputException("gpuLayers must be -1 (all), 0 (none) or a layer count, got " + gpuLayers);
        }
        if (imageCacheBytes < 0) {
            throw new InvalidInputException("imageCacheBytes must be >= 0, got " + imageCacheBytes);
        }
        if (projectorThreads <= 0 || projectorThreads > 1024) {
            throw new InvalidInputException("projectorThreads must be in [1, 1024], got " + projectorThreads);
        }
        if (projectorFlashAttention == null) {
            throw new InvalidInputException("projectorFlashAttention must be AUTO, ON or OFF, not null");
        }
    }

    public static ModelParams defaults() {
        return new ModelParams(0, true, null, Math.max(1, Math.min(8, Runtime.getRuntime().availableProcessors())),
                512L << 20, SessionParams.FlashAttention.AUTO);
    }

    /** With a vision projector (mmproj GGUF). */
    public ModelParams withProjector(Path mmproj) {
        return new ModelParams(gpuLayers, mmap, mmproj, projectorThreads, imageCacheBytes, projectorFlashAttention);
    }

    public ModelParams withGpuLayers(int n) {
        return new ModelParams(n, mmap, projector, projectorThreads, imageCacheBytes, projectorFlashAttention);
    }

    public ModelParams withMmap(boolean on) {
        return new ModelParams(gpuLayers, on, projector, projectorThreads, imageCacheBytes, projectorFlashAttention);
    }

    public ModelParams withProjectorThreads(int n) {
        return new ModelParams(gpuLayers, mmap, projector, n, imageCacheBytes, projectorFlashAttention);
    }

    /** Bytes of encoded images kept for reuse (0 = off); an image met again is not encoded again. */
    public ModelParams withImageCacheBytes(long bytes) {
        return new ModelParams(gpuLayers, mmap, projector, projectorThreads, bytes, projectorFlashAttention);
    }

    /** With the projector's flash attention AUTO (libmtmd's default), ON or OFF (F32 attention in the encoder). */
    public ModelParams withProjectorFlashAttention(SessionParams.FlashAttention fa) {
        return new ModelParams(gpuLayers, mmap, projector, projectorThreads, imageCacheBytes, fa);
    }

    public Optional<Path> projectorPath() {
        return Optional.ofNullable(projector);
    }
}
