package org.taskvec.engine;

import org.taskvec.gguf.GgufFile;
import org.taskvec.gguf.GgufTensorInfo;

/**
 * Chooses how many layers to offload to a GPU for "auto": the model's per-layer weights (read from the GGUF
 * directory), the KV cache of the context, the projector and a compute reserve are counted against the GPU's free
 * memory; as many whole layers as fit go to the GPU (all of them, plus the output layer, when everything fits).
 */
public final class OffloadPlanner {
    /** Memory kept free for compute buffers and the CUDA context: 1 GiB plus 5% of the card. */
    static long reserve(long totalBytes) {
        return (1L << 30) + totalBytes / 20;
    }

    private OffloadPlanner() {}

    /** The plan and the numbers behind it. */
    public record Plan(int gpuLayers, int modelLayers, long perLayerBytes, long otherBytes, long kvBytes,
                       long projectorBytes, long freeBytes, String reason) {}

    /**
     * @param model the model's GGUF directory
     * @param projectorBytes size of the projector file, 0 without one
     * @param contextSize positions of the KV cache
     * @param kvBytesPerValue 2 for F16, 4 for F32
     * @param freeBytes free memory of the GPU
     * @param totalBytes total memory of the GPU
     */
    public static Plan plan(GgufFile model, long projectorBytes, int contextSize, int kvBytesPerValue, long freeBytes,
                            long totalBytes) {
        String arch = model.architecture();
        int nLayer = model.getLong(arch + ".block_count").orElse(0L).intValue();
        long nEmbd = model.getLong(arch + ".embedding_length").orElse(0L);
        long nHead = model.getLong(arch + ".attention.head_count").orElse(1L);
        long nHeadKv = model.getLong(arch + ".attention.head_count_kv").orElse(nHead);
        long[] layerBytes = new long[Math.max(1, nLayer)];
        long other = 0;
        for (GgufTensorInfo t : model.tensors()) {
            int layer = layerOf(t.name());
            if (layer >= 0 && layer < nLayer) {
                layerBytes[layer] += t.byteSize();
            } else {
                other += t.byteSize();
            }
        }
        long perLayer = 0;
        for (long b : layerBytes) {
            perLayer = Math.max(perLayer, b);
        }
        long kvPerLayer = 2L * contextSize * (nEmbd / Math.max(1, nHead) * nHeadKv) * kvBytesPerValue;
        long budget = freeBytes - reserve(totalBytes) - projectorBytes;
        if (nLayer == 0 || budget <= 0) {
            return new Plan(0, nLayer, perLayer, other, kvPerLayer * nLayer, projectorBytes, freeBytes,
                    "not enough free GPU memory for anything but the reserve");
        }
        long all = (perLayer + kvPerLayer) * nLayer + other;
        if (all <= budget) {
            return new Plan(-1, nLayer, perLayer, other, kvPerLayer * nLayer, projectorBytes, freeBytes,
                    "everything fits");
        }
        int fit = (int) Math.min(nLayer, budget / (perLayer + kvPerLayer));
        return new Plan(fit, nLayer, perLayer, other, kvPerLayer * fit, projectorBytes, freeBytes,
                fit + " of " + nLayer + " layers fit");
    }

    /** The block index of a tensor named blk.N.*, or -1. */
    static int layerOf(String name) {
        if (!name.startsWith("blk.")) {
            return -1;
        }
        int dot = name.indexOf('.', 4);
        try {
            return Integer.parseInt(name.substring(4, dot));
        } catch (RuntimeException e) {
            return -1;
        }
    }
}
