package org.taskvec.engine;

import java.nio.file.Path;
import java.util.Optional;

/** How to load a model. Immutable; start from {@link #defaults()}. */
public record ModelParams(int gpuLayers, boolean mmap, Path projector, int projectorThreads, long imageCacheBytes) {
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
    }

    public static ModelParams defaults() {
        return new ModelParams(0, true, null, Math.max(1, Math.min(8, Runtime.getRuntime().availableProcessors())),
                512L << 20);
    }

    /** With a vision projector (mmproj GGUF). */
    public ModelParams withProjector(Path mmproj) {
        return new ModelParams(gpuLayers, mmap, mmproj, projectorThreads, imageCacheBytes);
    }

    public ModelParams withGpuLayers(int n) {
        return new ModelParams(n, mmap, projector, projectorThreads, imageCacheBytes);
    }

    public ModelParams withMmap(boolean on) {
        return new ModelParams(gpuLayers, on, projector, projectorThreads, imageCacheBytes);
    }

    public ModelParams withProjectorThreads(int n) {
        return new ModelParams(gpuLayers, mmap, projector, n, imageCacheBytes);
    }

    /** Bytes of encoded images kept for reuse (0 = off); an image met again is not encoded again. */
    public ModelParams withImageCacheBytes(long bytes) {
        return new ModelParams(gpuLayers, mmap, projector, projectorThreads, bytes);
    }

    public Optional<Path> projectorPath() {
        return Optional.ofNullable(projector);
    }
}
