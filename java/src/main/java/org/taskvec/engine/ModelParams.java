package org.taskvec.engine;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * How to load a model. Immutable; start from {@link #defaults()}. {@code projectorFlashAttention}: libmtmd's flash
 * attention in the vision encoder (AUTO, its default, turns it on where the backend has it; on the CPU that rounds
 * K and V to F16, some 1e-3 relative in the image embeddings; OFF computes the encoder's attention in F32).
 * {@code rpcServers}: ggml RPC servers ({@code taskvec rpc-server}, "host:port") whose devices take offloaded layers
 * (see {@link #withRpcServers}); {@code tensorSplit}: each device's share of the offloaded layers (empty: by free
 * memory).
 */
public record ModelParams(int gpuLayers, boolean mmap, Path projector, int projectorThreads, long imageCacheBytes,
                          SessionParams.FlashAttention projectorFlashAttention, List<String> rpcServers,
                          List<Float> tensorSplit) {
    public ModelParams {
        rpcServers = rpcServers == null ? List.of() : List.copyOf(rpcServers);
        tensorSplit = tensorSplit == null ? List.of() : List.copyOf(tensorSplit);
        for (String e : rpcServers) {
            RpcServers.checkEndpoint(e);
        }
        if (rpcServers.size() != rpcServers.stream().distinct().count()) {
            throw new InvalidInputException("an RPC server is listed twice: " + rpcServers);
        }
        double sum = 0;
        for (Float f : tensorSplit) {
            if (f == null || !(f >= 0) || f > 1e6f) {
                throw new InvalidInputException("tensor split shares must be finite numbers >= 0, got " + tensorSplit);
            }
            sum += f;
        }
        if (!tensorSplit.isEmpty() && sum <= 0) {
            throw new InvalidInputException("a tensor split that gives every device 0 places nothing: " + tensorSplit);
        }
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
                512L << 20, SessionParams.FlashAttention.AUTO, List.of(), List.of());
    }

    /** With a vision projector (mmproj GGUF). */
    public ModelParams withProjector(Path mmproj) {
        return new ModelParams(gpuLayers, mmap, mmproj, projectorThreads, imageCacheBytes, projectorFlashAttention,
                rpcServers, tensorSplit);
    }

    public ModelParams withGpuLayers(int n) {
        return new ModelParams(n, mmap, projector, projectorThreads, imageCacheBytes, projectorFlashAttention,
                rpcServers, tensorSplit);
    }

    public ModelParams withMmap(boolean on) {
        return new ModelParams(gpuLayers, on, projector, projectorThreads, imageCacheBytes, projectorFlashAttention,
                rpcServers, tensorSplit);
    }

    public ModelParams withProjectorThreads(int n) {
        return new ModelParams(gpuLayers, mmap, projector, n, imageCacheBytes, projectorFlashAttention,
                rpcServers, tensorSplit);
    }

    /** Bytes of encoded images kept for reuse (0 = off); an image met again is not encoded again. */
    public ModelParams withImageCacheBytes(long bytes) {
        return new ModelParams(gpuLayers, mmap, projector, projectorThreads, bytes, projectorFlashAttention,
                rpcServers, tensorSplit);
    }

    /** With the projector's flash attention AUTO (libmtmd's default), ON or OFF (F32 attention in the encoder). */
    public ModelParams withProjectorFlashAttention(SessionParams.FlashAttention fa) {
        return new ModelParams(gpuLayers, mmap, projector, projectorThreads, imageCacheBytes, fa,
                rpcServers, tensorSplit);
    }

    /**
     * With ggml RPC servers ("host:port", each a {@code taskvec rpc-server} or llama.cpp's rpc-server of the same
     * protocol): their devices come first in the model's device list, then this process's GPUs, and
     * {@link #gpuLayers} layers are spread over all of them (the rest stay on this process's CPU).
     */
    public ModelParams withRpcServers(List<String> endpoints) {
        return new ModelParams(gpuLayers, mmap, projector, projectorThreads, imageCacheBytes, projectorFlashAttention,
                endpoints, tensorSplit);
    }

    /** With each device's share of the offloaded layers, in the model's device order (RPC servers' devices first). */
    public ModelParams withTensorSplit(List<Float> shares) {
        return new ModelParams(gpuLayers, mmap, projector, projectorThreads, imageCacheBytes, projectorFlashAttention,
                rpcServers, shares);
    }

    public Optional<Path> projectorPath() {
        return Optional.ofNullable(projector);
    }
}
