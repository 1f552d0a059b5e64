package org.taskvec.synth;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.taskvec.engine.CacheFolder;

/**
 * The pinned llama.cpp source tree that the native build fetched, read for its {@code models/} folder (the
 * vocabularies {@code ggml-vocab-*.gguf} and their tokenizer test vectors {@code .inp}/{@code .out}), which the jar
 * does not carry. Found as cmake/llama-cpp.cmake finds it: the tree the user names ({@value #PROPERTY}, else
 * {@code $TASKVEC_LLAMA_CPP_DIR}), else {@code src/llama.cpp-<tag>-<commit>} in the taskvec cache folder, the pin read
 * from cmake/llama-cpp-pin.cmake (copied into the jar at build time). Both {@link CacheFolder#path()} and the
 * environment's cache folder are looked in (the tests point the first elsewhere; the native build used the second).
 */
public final class LlamaCppSource {
    /** The system property that names a llama.cpp source tree, ahead of the environment. */
    public static final String PROPERTY = "taskvec.llama.cpp.dir";
    static final String PIN_RESOURCE = "llama-cpp-pin.cmake";

    private LlamaCppSource() {}

    /** The source folder's name in the cache: {@code llama.cpp-<tag>-<commit>}. */
    public static String pinnedName() {
        String pin;
        try (InputStream in = LlamaCppSource.class.getResourceAsStream(PIN_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("resource " + PIN_RESOURCE + " is missing from the jar");
            }
            pin = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return "llama.cpp-" + pinValue(pin, "TASKVEC_LLAMA_CPP_TAG") + "-" + pinValue(pin, "TASKVEC_LLAMA_CPP_COMMIT");
    }

    static String pinValue(String pin, String name) {
        Matcher m = Pattern.compile("(?m)^set\\(" + name + " \"([^\"]+)\"").matcher(pin);
        if (!m.find()) {
            throw new IllegalStateException(PIN_RESOURCE + " does not set " + name);
        }
        return m.group(1);
    }

    /** The folders looked in, in order. */
    static List<Path> candidates() {
        List<Path> dirs = new ArrayList<>();
        String prop = System.getProperty(PROPERTY);
        String env = System.getenv("TASKVEC_LLAMA_CPP_DIR");
        if (prop != null && !prop.isEmpty()) {
            dirs.add(Path.of(prop));
        } else if (env != null && !env.isEmpty()) {
            dirs.add(Path.of(env));
        }
        String name = pinnedName();
        Path cached = CacheFolder.path().resolve("src").resolve(name);
        Path envCached = CacheFolder.environmentPath().resolve("src").resolve(name);
        dirs.add(cached);
        if (!envCached.equals(cached)) {
            dirs.add(envCached);
        }
        return dirs;
    }

    /**
     * A file of the source's models/ folder (e.g. {@code ggml-vocab-qwen2.gguf}), from the first candidate folder
     * that has it.
     *
     * @throws IllegalStateException naming the paths looked at, when none has it
     */
    public static Path modelsFile(String name) {
        List<Path> tried = new ArrayList<>();
        for (Path dir : candidates()) {
            Path f = dir.resolve("models").resolve(name);
            if (Files.isRegularFile(f)) {
                return f;
            }
            tried.add(f);
        }
        throw new IllegalStateException("llama.cpp's " + name + " is missing: looked at " + tried + ". It comes with "
                + "the pinned llama.cpp source that the native build fetches into the taskvec cache (mvn package), "
                + "or set " + PROPERTY + " or TASKVEC_LLAMA_CPP_DIR to a llama.cpp source tree of that release");
    }
}
