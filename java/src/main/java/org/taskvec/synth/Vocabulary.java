package org.taskvec.synth;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.taskvec.gguf.GgufFile;
import org.taskvec.gguf.GgufFormatException;
import org.taskvec.gguf.GgufReader;

/**
 * The LLaMA SentencePiece vocabulary (32000 tokens; LLaMA, Vicuna and LLaVA-1.5 use it), copied into the jar at
 * build time from llama.cpp's {@code models/ggml-vocab-llama-spm.gguf}.
 */
public final class Vocabulary {
    static final String RESOURCE = "ggml-vocab-llama-spm.gguf";
    public static final int SIZE = 32000;
    private static volatile GgufFile cached;

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
}
