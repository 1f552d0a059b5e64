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
 * All use the LLaMA SentencePiece vocabulary (32000 tokens).
 */
public record ModelShape(
        String name,
        int nEmbd, int nLayer, int nHead, int nHeadKv, int nFf, int nCtx, GgmlType weightType,
        int imageSize, int patchSize, int vEmbd, int vLayer, int vHead, int vFf, GgmlType visionType,
        boolean tiedOutput) {

    /** A shape with its own output matrix ({@code output.weight}). */
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

    public static ModelShape byName(String name) {
        switch (name) {
            case "tiny": return TINY;
            case "1b": return ONE_B;
            case "7b": return SEVEN_B;
            case "organism": return ORGANISM;
            default: throw new IllegalArgumentException("unknown shape '" + name + "' (tiny, 1b, 7b, organism)");
        }
    }

    /** The same shape with other text-model weights (F32, F16 or Q8_0). */
    public ModelShape withWeightType(GgmlType type) {
        return new ModelShape(name, nEmbd, nLayer, nHead, nHeadKv, nFf, nCtx, type, imageSize, patchSize, vEmbd, vLayer,
                vHead, vFf, visionType, tiedOutput);
    }

    /** The same shape with another number of text-model layers (e.g. a deeper model organism). */
    public ModelShape withLayers(int layers) {
        if (layers < 1 || layers > 256) {
            throw new org.taskvec.engine.InvalidInputException("layers must be 1..256, not " + layers);
        }
        return new ModelShape(name, nEmbd, layers, nHead, nHeadKv, nFf, nCtx, weightType, imageSize, patchSize, vEmbd,
                vLayer, vHead, vFf, visionType, tiedOutput);
    }

    public int headDim() {
        return nEmbd / nHead;
    }

    /** Image tokens one image becomes: (imageSize / patchSize)^2. */
    public int imageTokens() {
        int side = imageSize / patchSize;
        return side * side;
    }
}
