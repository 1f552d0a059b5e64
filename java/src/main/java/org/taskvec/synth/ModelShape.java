package org.taskvec.synth;

import org.taskvec.gguf.GgmlType;

/**
 * Shape of a generated model and its vision projector.
 *
 * <p>{@code tiny} is for tests (F32, runs in milliseconds); {@code 1b} has TinyLlama-1.1B's text shape and a
 * CLIP ViT-L/14-336 projector (576 image tokens), F16; {@code 7b} has LLaMA-7B's (LLaVA-1.5-7B's) text shape, Q8_0.
 * {@code organism} is the model organism's shape (organism/train.py trains it): width 128, 4 layers, 4 heads,
 * FFN 352, tied output embedding (no {@code output.weight}: llama.cpp's llama graph then uses
 * {@code token_embd.weight}), and a 3-block CLIP encoder of width 64 (FFN 256; libmtmd runs 2 of the blocks) on
 * 32px images in 8px patches: 16 image tokens, the layout organism-data uses by default. F32.
 * These are of {@link Family#LLAMA_LLAVA} and use the LLaMA SentencePiece vocabulary (32000 tokens).
 *
 * <p>The other families' tiny shapes (F32, width 64, 4 heads with 2 KV heads, FFN 128, tied output, a ViT of width
 * 32 with 2 heads and FFN 64; each writes and runs in about a second): {@code qwen25vl-tiny} (2 layers; 4 vision
 * blocks with window attention in blocks 0 and 2, 16 px patches merged 2x2: a 128 px image is 16 tokens, one of
 * 32 px is upscaled to Qwen's 8-token minimum, 96 px, 9 tokens), {@code gemma3-tiny} (4 layers, sliding window of 8
 * tokens in layers 0 and 2; 2 vision blocks on 64 px images in 8 px patches pooled 2x2: 16 tokens whatever the
 * image's size), {@code smolvlm-tiny} (2 layers; 2 vision blocks on 32 px tiles in 8 px patches, pixel-shuffled by
 * 2: 4 tokens a tile, and libmtmd cuts an image into 32 px tiles plus an overview tile: a 32 px image is 8 tokens),
 * {@code qwen3vl-tiny} (3 layers, the first 2 taking DeepStack features of vision blocks 1 and 2; 4 vision blocks,
 * 16 px patches merged 2x2 as Qwen2.5-VL's, without windows).
 * {@link #imageSize()} is the vision encoder's input size (Qwen's is nominal: it takes images of any size).
 */
public record ModelShape(
        String name,
        int nEmbd, int nLayer, int nHead, int nHeadKv, int nFf, int nCtx, GgmlType weightType,
        int imageSize, int patchSize, int vEmbd, int vLayer, int vHead, int vFf, GgmlType visionType,
        boolean tiedOutput, Family family) {

    /** A LLaVA-family shape. */
    public ModelShape(String name, int nEmbd, int nLayer, int nHead, int nHeadKv, int nFf, int nCtx,
            GgmlType weightType, int imageSize, int patchSize, int vEmbd, int vLayer, int vHead, int vFf,
            GgmlType visionType, boolean tiedOutput) {
        this(name, nEmbd, nLayer, nHead, nHeadKv, nFf, nCtx, weightType, imageSize, patchSize, vEmbd, vLayer, vHead,
                vFf, visionType, tiedOutput, Family.LLAMA_LLAVA);
    }

    /** A LLaVA-family shape with its own output matrix ({@code output.weight}). */
    public ModelShape(String name, int nEmbd, int nLayer, int nHead, int nHeadKv, int nFf, int nCtx,
            GgmlType weightType, int imageSize, int patchSize, int vEmbd, int vLayer, int vHead, int vFf,
            GgmlType visionType) {
        this(name, nEmbd, nLayer, nHead, nHeadKv, nFf, nCtx, weightType, imageSize, patchSize, vEmbd, vLayer, vHead,
                vFf, visionType, false);
    }

    public static final ModelShape TINY =
            new ModelShape("tiny", 64, 4, 4, 2, 128, 2048, GgmlType.F32, 32, 8, 32, 2, 2, 64, GgmlType.F32);
    public static final ModelShape ONE_B =
            new ModelShape("1b", 2048, 22, 32, 4, 5632, 2048, GgmlType.F16, 336, 14, 1024, 24, 16, 4096, GgmlType.F16);
    public static final ModelShape SEVEN_B =
            new ModelShape("7b", 4096, 32, 32, 32, 11008, 4096, GgmlType.Q8_0, 336, 14, 1024, 24, 16, 4096, GgmlType.F16);
    public static final ModelShape ORGANISM =
            new ModelShape("organism", 128, 4, 4, 4, 352, 2048, GgmlType.F32, 32, 8, 64, 3, 4, 256, GgmlType.F32, true);

    public static final ModelShape QWEN25VL_TINY = new ModelShape("qwen25vl-tiny", 64, 2, 4, 2, 128, 4096,
            GgmlType.F32, 128, 16, 32, 4, 2, 64, GgmlType.F32, true, Family.QWEN25VL);
    public static final ModelShape GEMMA3_TINY = new ModelShape("gemma3-tiny", 64, 4, 4, 2, 128, 4096,
            GgmlType.F32, 64, 8, 32, 2, 2, 64, GgmlType.F32, true, Family.GEMMA3);
    public static final ModelShape SMOLVLM_TINY = new ModelShape("smolvlm-tiny", 64, 2, 4, 2, 128, 4096,
            GgmlType.F32, 32, 8, 32, 2, 2, 64, GgmlType.F32, true, Family.SMOLVLM);
    public static final ModelShape QWEN3VL_TINY = new ModelShape("qwen3vl-tiny", 64, 3, 4, 2, 128, 4096,
            GgmlType.F32, 128, 16, 32, 4, 2, 64, GgmlType.F32, true, Family.QWEN3VL);

    /** The shape names {@link #byName} knows. */
    public static final java.util.List<String> NAMES =
            java.util.List.of("tiny", "1b", "7b", "organism", "qwen25vl-tiny", "gemma3-tiny", "smolvlm-tiny",
                    "qwen3vl-tiny");

    public static ModelShape byName(String name) {
        switch (name) {
            case "tiny": return TINY;
            case "1b": return ONE_B;
            case "7b": return SEVEN_B;
            case "organism": return ORGANISM;
            case "qwen25vl-tiny": return QWEN25VL_TINY;
            case "gemma3-tiny": return GEMMA3_TINY;
            case "smolvlm-tiny": return SMOLVLM_TINY;
            case "qwen3vl-tiny": return QWEN3VL_TINY;
            default: throw new IllegalArgumentException("unknown shape '" + name + "' ("
                    + String.join(", ", NAMES) + ")");
        }
    }

    /** The same shape with other text-model weights (F32, F16 or Q8_0). */
    public ModelShape withWeightType(GgmlType type) {
        return new ModelShape(name, nEmbd, nLayer, nHead, nHeadKv, nFf, nCtx, type, imageSize, patchSize, vEmbd, vLayer,
                vHead, vFf, visionType, tiedOutput, family);
    }

    /** The same shape with another number of text-model layers (e.g. a deeper model organism). */
    public ModelShape withLayers(int layers) {
        if (layers < 1 || layers > 256) {
            throw new org.taskvec.engine.InvalidInputException("layers must be 1..256, not " + layers);
        }
        return new ModelShape(name, nEmbd, layers, nHead, nHeadKv, nFf, nCtx, weightType, imageSize, patchSize, vEmbd,
                vLayer, vHead, vFf, visionType, tiedOutput, family);
    }

    public int headDim() {
        return nEmbd / nHead;
    }

    /**
     * Image tokens an image of imageSize x imageSize becomes: (imageSize / patchSize / merge)^2, and for SmolVLM
     * (Idefics3) twice that, the image being one tile plus the overview.
     */
    public int imageTokens() {
        int side = imageSize / patchSize / family.merge();
        return side * side * (family == Family.SMOLVLM ? 2 : 1);
    }
}
