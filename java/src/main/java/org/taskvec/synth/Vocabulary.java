package org.taskvec.synth;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.taskvec.gguf.GgufFile;
import org.taskvec.gguf.GgufFormatException;
import org.taskvec.gguf.GgufReader;
import org.taskvec.gguf.GgufValue;
import org.taskvec.gguf.GgufValueType;

/**
 * The vocabularies of the generated models. The LLaMA SentencePiece vocabulary (32000 tokens; LLaMA, Vicuna and
 * LLaVA-1.5 use it) is copied into the jar at build time from llama.cpp's {@code models/ggml-vocab-llama-spm.gguf};
 * the other families' are read from the pinned llama.cpp source when a model is written ({@link LlamaCppSource}),
 * so that the jar stays small.
 */
public final class Vocabulary {
    static final String RESOURCE = "ggml-vocab-llama-spm.gguf";
    public static final int SIZE = 32000;
    /** tokenizer.ggml.token_type of a control token (llama.cpp's LLAMA_TOKEN_TYPE_CONTROL). */
    static final int CONTROL = 3;
    private static volatile GgufFile cached;
    /** Vocabularies by file and special tokens (families that share both share one). */
    private static final Map<List<Object>, Tokens> CACHE = new java.util.HashMap<>();

    /**
     * A family's vocabulary as GGUF metadata (the {@code tokenizer.*} keys, in the file's order) and its size (the
     * text model's token_embd rows).
     */
    public record Tokens(Map<String, GgufValue> metadata, int size) {}

    private Vocabulary() {}

    /** The vocabulary file's header (its tokenizer.* metadata). */
    public static GgufFile llamaSpm() {
        GgufFile f = cached;
        if (f != null) {
            return f;
        }
        synchronized (Vocabulary.class) {
            if (cached == null) {
                try (InputStream in = Vocabulary.class.getResourceAsStream(RESOURCE)) {
                    if (in == null) {
                        throw new IllegalStateException("resource " + RESOURCE + " is missing from the jar");
                    }
                    Path tmp = Files.createTempFile("taskvec-vocab", ".gguf");
                    try {
                        Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                        cached = GgufReader.read(tmp);
                    } finally {
                        Files.deleteIfExists(tmp);
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                } catch (GgufFormatException e) {
                    throw new IllegalStateException("bundled vocabulary is corrupt: " + e.getMessage(), e);
                }
            }
            return cached;
        }
    }

    /** The vocabulary of a family, with the family's special tokens (cached). */
    public static Tokens of(Family family) {
        List<Object> key = List.of(family.vocabularyFile(), family.namedTokens(), family.addedTokens());
        synchronized (CACHE) {
            Tokens t = CACHE.get(key);
            if (t == null) {
                GgufFile base = family == Family.LLAMA_LLAVA ? llamaSpm() : read(family.vocabularyFile());
                t = withSpecialTokens(base, family);
                CACHE.put(key, t);
            }
            return t;
        }
    }

    private static GgufFile read(String file) {
        Path path = LlamaCppSource.modelsFile(file);
        try {
            return GgufReader.read(path);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (GgufFormatException e) {
            throw new IllegalStateException("vocabulary " + path + " is corrupt: " + e.getMessage(), e);
        }
    }

    /** The file's tokenizer.* metadata with the family's named tokens in place and its added tokens appended. */
    @SuppressWarnings("unchecked")
    static Tokens withSpecialTokens(GgufFile base, Family family) {
        Map<String, GgufValue> meta = new LinkedHashMap<>();
        base.metadata().forEach((k, v) -> {
            if (k.startsWith("tokenizer.")) {
                meta.put(k, v);
            }
        });
        List<String> tokens = new ArrayList<>((List<String>) meta.get("tokenizer.ggml.tokens").value());
        int size = tokens.size();
        if (family.namedTokens().isEmpty() && family.addedTokens().isEmpty()) {
            return new Tokens(Collections.unmodifiableMap(meta), size);
        }
        int[] types = (int[]) meta.get("tokenizer.ggml.token_type").value();
        GgufValue scoreValue = meta.get("tokenizer.ggml.scores");
        float[] scores = scoreValue == null ? null : (float[]) scoreValue.value();
        Set<String> present = new HashSet<>(tokens);
        int n = size + family.addedTokens().size();
        types = Arrays.copyOf(types, n);
        scores = scores == null ? null : Arrays.copyOf(scores, n);
        for (Map.Entry<Integer, String> e : family.namedTokens().entrySet()) {
            int id = e.getKey();
            if (id >= size || present.contains(e.getValue())) {
                throw new IllegalStateException(family.vocabularyFile() + ": cannot name token " + id + " "
                        + e.getValue());
            }
            present.remove(tokens.get(id));
            present.add(e.getValue());
            tokens.set(id, e.getValue());
            types[id] = CONTROL;
        }
        for (String added : family.addedTokens()) {
            if (!present.add(added)) {
                throw new IllegalStateException(family.vocabularyFile() + " already has " + added);
            }
            types[tokens.size()] = CONTROL;
            tokens.add(added);
        }
        meta.put("tokenizer.ggml.tokens", GgufValue.strings(tokens));
        meta.put("tokenizer.ggml.token_type", new GgufValue(GgufValueType.ARRAY,
                meta.get("tokenizer.ggml.token_type").elementType(), types));
        if (scores != null) {
            meta.put("tokenizer.ggml.scores", GgufValue.float32s(scores));
        }
        return new Tokens(Collections.unmodifiableMap(meta), tokens.size());
    }
}
