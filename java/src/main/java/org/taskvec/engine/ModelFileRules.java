package org.taskvec.engine;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.taskvec.gguf.GgufFile;
import org.taskvec.gguf.GgufTensorInfo;
import org.taskvec.gguf.GgufValue;

/**
 * Metadata values of a language model that llama.cpp trusts without checking (it aborts or asserts on them, which
 * kills the JVM), checked in Java before a file reaches it. Found by the bad-input corpus and the GGUF fuzzer:
 * a layer count of 0 or past llama.cpp's limit, a layer count that does not match the blocks the file holds, a
 * vocabulary with a token text twice, a norm epsilon that is negative or not a number (ggml asserts), and a RoPE
 * frequency base of 0 or NaN (the model decodes to NaN logits).
 */
final class ModelFileRules {
    /** llama.cpp's LLAMA_MAX_LAYERS. */
    static final int MAX_LAYERS = 512;
    private static final Pattern BLOCK = Pattern.compile("^blk\\.(\\d+)\\.");

    private ModelFileRules() {}

    static void check(GgufFile f) {
        String arch = f.architecture();
        Optional<GgufValue> layers = f.get(arch + ".block_count");
        if (layers.isPresent()) {
            long n = integer(f, arch + ".block_count", layers.get());
            if (n < 1 || n > MAX_LAYERS) {
                throw new InvalidModelFileException(f.path() + ": " + arch + ".block_count = " + n
                        + " is outside 1.." + MAX_LAYERS);
            }
            int blocks = 0;
            for (GgufTensorInfo t : f.tensors()) {
                Matcher m = BLOCK.matcher(t.name());
                if (m.find()) {
                    blocks = (int) Math.max(blocks, Math.min(Integer.MAX_VALUE, Long.parseLong(m.group(1)) + 1));
                }
            }
            if (blocks > 0 && n > blocks) {
                throw new InvalidModelFileException(f.path() + ": " + arch + ".block_count = " + n
                        + " but the file holds tensors of " + blocks + " blocks");
            }
        }
        // ggml_rms_norm / ggml_norm assert eps >= 0 (an abort, which NaN fails too)
        for (String key : new String[] {arch + ".attention.layer_norm_rms_epsilon",
                arch + ".attention.layer_norm_epsilon"}) {
            f.get(key).ifPresent(v -> {
                double eps = number(f, key, v);
                if (!(eps >= 0 && eps < Double.POSITIVE_INFINITY)) {
                    throw new InvalidModelFileException(f.path() + ": " + key + " = " + eps
                            + " is not a finite number >= 0");
                }
            });
        }
        // RoPE's angles are position * base^(-2i/d): a base of 0 or NaN makes them infinite or NaN, and every
        // logit NaN (the model loads and decodes garbage)
        f.get(arch + ".rope.freq_base").ifPresent(v -> {
            double base = number(f, arch + ".rope.freq_base", v);
            if (!(base > 0 && base < Double.POSITIVE_INFINITY)) {
                throw new InvalidModelFileException(f.path() + ": " + arch + ".rope.freq_base = " + base
                        + " is not a positive finite number");
            }
        });
        f.get("tokenizer.ggml.tokens").ifPresent(v -> uniqueTokens(f, v));
    }

    private static double number(GgufFile f, String key, GgufValue v) {
        try {
            return v.asDouble();
        } catch (IllegalStateException e) {
            throw new InvalidModelFileException(f.path() + ": " + key + " is a " + v.type() + ", not a number");
        }
    }

    private static long integer(GgufFile f, String key, GgufValue v) {
        try {
            return v.asLong();
        } catch (IllegalStateException e) {
            throw new InvalidModelFileException(f.path() + ": " + key + " is a " + v.type() + ", not an integer");
        }
    }

    /**
     * llama.cpp asserts that every token text is distinct (it maps texts to ids), reading each as a C string (up to
     * a NUL byte) and renaming empty ones.
     */
    private static void uniqueTokens(GgufFile f, GgufValue v) {
        if (!(v.value() instanceof List<?> tokens)) {
            throw new InvalidModelFileException(f.path() + ": tokenizer.ggml.tokens is not an array of strings");
        }
        Map<String, Integer> seen = new HashMap<>(tokens.size() * 2);
        for (int i = 0; i < tokens.size(); i++) {
            String text = String.valueOf(tokens.get(i));
            int nul = text.indexOf('\0');
            if (nul >= 0) {
                text = text.substring(0, nul); // llama.cpp reads token texts as C strings
            }
            if (text.isEmpty()) {
                text = "[EMPTY_" + i + "]";
            }
            Integer before = seen.putIfAbsent(text, i);
            if (before != null) {
                throw new InvalidModelFileException(f.path() + ": the vocabulary has a duplicate token: entries "
                        + before + " and " + i + " are both '" + text + "'");
            }
        }
    }
}
