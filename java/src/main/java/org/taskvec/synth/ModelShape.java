package org.taskvec.synth;

import org.taskvec.gguf.GgmlType;

/**
 * Shape of a generated model and its vision projector.
 *
 * <p>{@code tiny} is for tests (F32, runs in milliseconds); {@code 1b} has TinyLlama-1.1B's text shape and a
 * CLIP ViT-L/14-336 projector (576 image tokens), F16; {@code 7b} has LLaMA-7B's (LLaVA-1.5-7B's) text shape, Q8_0.
 * All use the LLaMA SentencePiece vocabulary (32000 tokens).
 */
public record ModelShape(
        String name,
        int nEmbd, int nLayer, int nHead, int nHeadKv, int nFf, int nCtx, GgmlType weightType,
        int imageSize, int patchSize, int vEmbd, int vLayer, int vHead, int vFf, GgmlType visionType) {

    public static final ModelShape TINY =
            new ModelShape("tiny", 64, 4, 4, 2, 128, 2048, GgmlType.F32, 32, 8, 32, 2, 2, 64, GgmlType.F32);
    public static final ModelShape ONE_B =
            new ModelShape("1b", 2048, 22, 32, 4, 5632, 2048, GgmlType.F16, 336, 14, 1024, 24, 16, 4096, GgmlType.F16);
    public static final ModelShape SEVEN_B =
            new ModelShape("7b", 4096, 32, 32, 32, 11008, 4096, GgmlType.Q8_0, 336, 14, 1024, 24, 16, 4096, GgmlType.F16);

    public static ModelShape byName(String name) {
        switch (name) {
            case "tiny": return TINY;
            case "1b": return ONE_B;
            case "7b": return SEVEN_B;
            default: throw new IllegalArgumentException("unknown shape '" + name + "' (tiny, 1b, 7b)");
        }
    }

    /** The same shape with other text-model weights (F32, F16 or Q8_0). */
    public ModelShape withWeightType(GgmlType type) {
        return new ModelShape(name, nEmbd, nLayer, nHead, nHeadKv, nFf, nCtx, type, imageSize, patchSize, vEmbd, vLayer,
                vHead, vFf, visionType);
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
