package org.taskvec.synth;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A vision-language model family that the generator writes: llama.cpp's text architecture, libmtmd's projector type
 * and the vocabulary (one of llama.cpp's {@code models/ggml-vocab-*.gguf}), with the special tokens the family's own
 * tokenizer adds to it where libmtmd marks images with them.
 */
public enum Family {
    /** LLaVA-1.5: {@code llama} text model, LLaMA SentencePiece vocabulary, CLIP ViT with an MLP projector. */
    LLAMA_LLAVA("llama", "mlp", "ggml-vocab-llama-spm.gguf", 1, Map.of(), List.of()),
    /**
     * Qwen2.5-VL: {@code qwen2vl} text model (q/k/v biases, M-RoPE), Qwen2 BPE vocabulary with Qwen2-VL's vision
     * tokens at their ids (the vocabulary file has placeholders {@code [PAD151652]}... there), and a ViT with window
     * attention, 2D RoPE and a 2x2 patch merger ({@code qwen2.5vl_merger}).
     */
    QWEN25VL("qwen2vl", "qwen2.5vl_merger", "ggml-vocab-qwen2.gguf", 2, qwenVisionTokens(), List.of()),
    /**
     * Gemma 3: {@code gemma3} text model, the Gemma 4 vocabulary (the only Gemma vocabulary llama.cpp ships; 262144
     * tokens) with Gemma 3's image delimiters at their ids (255999, 256000, where Gemma 4 has {@code <|image>} and
     * {@code <|audio>}), and a SigLIP ViT whose patches are average-pooled 2x2 then projected ({@code gemma3}).
     */
    GEMMA3("gemma3", "gemma3", "ggml-vocab-gemma-4.gguf", 2,
            Map.of(255999, "<start_of_image>", 256000, "<end_of_image>"), List.of()),
    /**
     * SmolVLM: {@code llama} text model (SmolLM2), the GPT-2 vocabulary with SmolVLM's added image tokens appended,
     * and a SigLIP ViT with a pixel-shuffle projector ({@code idefics3}); libmtmd cuts an image into tiles plus an
     * overview. GPT-2's, not llama-bpe's: SmolLM2's tokenizer is a GPT-2-style byte-level BPE of about the same size
     * (49152 tokens against 50257; llama-bpe has 128256), split by GPT-2's regex (llama.cpp's {@code smollm}
     * pre-tokenizer only adds single digits), where llama-bpe is Llama 3's with its own regex.
     */
    SMOLVLM("llama", "idefics3", "ggml-vocab-gpt-2.gguf", 2, Map.of(), idefics3Tokens()),
    /**
     * Qwen3-VL: {@code qwen3vl} text model (q/k norms, interleaved M-RoPE, DeepStack: image features of some vision
     * blocks added to the first layers' residual stream), the Qwen2 vocabulary with the vision tokens, and a ViT
     * with learned and 2D-rotary positions, a 2x2 patch merger and DeepStack mergers ({@code qwen3vl_merger}).
     */
    QWEN3VL("qwen3vl", "qwen3vl_merger", "ggml-vocab-qwen2.gguf", 2, qwenVisionTokens(), List.of());

    private final String architecture;
    private final String projectorType;
    private final String vocabularyFile;
    private final int merge;
    private final Map<Integer, String> namedTokens;
    private final List<String> addedTokens;

    Family(String architecture, String projectorType, String vocabularyFile, int merge,
            Map<Integer, String> namedTokens, List<String> addedTokens) {
        this.architecture = architecture;
        this.projectorType = projectorType;
        this.vocabularyFile = vocabularyFile;
        this.merge = merge;
        this.namedTokens = namedTokens;
        this.addedTokens = addedTokens;
    }

    /** general.architecture of the text model. */
    public String architecture() {
        return architecture;
    }

    /** clip.projector_type of the vision projector. */
    public String projectorType() {
        return projectorType;
    }

    /** The vocabulary's file in llama.cpp's models/ folder. */
    public String vocabularyFile() {
        return vocabularyFile;
    }

    /**
     * Patches merged into one image token along each side: Qwen's patch merger (2x2), Gemma 3's average pooling and
     * Idefics3's pixel shuffle (both the projector's {@code scale_factor}, 2 here); 1 for LLaVA.
     */
    public int merge() {
        return merge;
    }

    /** Control tokens that replace the vocabulary's placeholder at their id. */
    Map<Integer, String> namedTokens() {
        return namedTokens;
    }

    /** Control tokens appended to the vocabulary. */
    List<String> addedTokens() {
        return addedTokens;
    }

    /** Qwen2-VL's vision tokens (Qwen2.5-VL and Qwen3-VL keep them), where the Qwen2 vocabulary has placeholders. */
    private static Map<Integer, String> qwenVisionTokens() {
        return Map.of(151652, "<|vision_start|>", 151653, "<|vision_end|>", 151654, "<|vision_pad|>",
                151655, "<|image_pad|>", 151656, "<|video_pad|>");
    }

    /**
     * The tokens libmtmd puts around Idefics3 tiles (it looks the first ones up by text, and a missing one would
     * become an invalid token id): SmolVLM's added tokens, grid positions up to 6x6.
     */
    private static List<String> idefics3Tokens() {
        List<String> t = new ArrayList<>(List.of("<fake_token_around_image>", "<image>", "<end_of_utterance>",
                "<global-img>"));
        for (int r = 1; r <= 6; r++) {
            for (int c = 1; c <= 6; c++) {
                t.add("<row_" + r + "_col_" + c + ">");
            }
        }
        return List.copyOf(t);
    }
}
