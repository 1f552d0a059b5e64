package org.taskvec.engine;

import static org.taskvec.nativeapi.TaskvecNative.*;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import org.bytedeco.javacpp.Loader;
import java.nio.charset.StandardCharsets;
import org.bytedeco.javacpp.BytePointer;
import org.taskvec.nativeapi.TaskvecNative;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads the native libraries once per JVM, routes llama.cpp / ggml / libmtmd log lines to SLF4J (logger
 * {@code org.taskvec.native}) and turns native status codes into exceptions.
 */
public final class NativeLibrary {
    private static final Logger NATIVE_LOG = LoggerFactory.getLogger("org.taskvec.native");
    private static final Object LOCK = new Object();
    private static volatile boolean initialised;
    private static LogRouter router; // strongly held: native code keeps a pointer to it
    private static final ThreadLocal<String> FIRST_ERROR_LINE = new ThreadLocal<>();
    private static final java.util.List<java.util.function.BiConsumer<Integer, String>> LISTENERS =
            new java.util.concurrent.CopyOnWriteArrayList<>();

    /** Native log levels as delivered to listeners. */
    public static final int LOG_DEBUG = 1, LOG_INFO = 2, LOG_WARN = 3, LOG_ERROR = 4;

    private NativeLibrary() {}

    /** Loads and initialises the native layer; cheap after the first call. */
    public static void ensureLoaded() {
        if (initialised) {
            return;
        }
        synchronized (LOCK) {
            if (initialised) {
                return;
            }
            CacheFolder.configureJavaCpp();
            TaskvecNative.load();
            router = new LogRouter();
            tv_log_set(router);
            String dir = extractBackendModules();
            int status = tv_init(dir == null ? null : utf8(dir));
            check(status);
            initialised = true;
        }
    }

    /**
     * Also delivers every native log line (level, text) to listener, on the thread that logged it, besides SLF4J.
     * Returns a handle that removes the listener when closed.
     */
    public static AutoCloseable addLogListener(java.util.function.BiConsumer<Integer, String> listener) {
        ensureLoaded();
        LISTENERS.add(listener);
        return () -> LISTENERS.remove(listener);
    }

    /** Clears this thread's record of the last native error line; call before a native call that may fail. */
    static void clearNativeError() {
        FIRST_ERROR_LINE.remove();
    }

    /** The first error line llama.cpp logged on this thread since {@link #clearNativeError()}, or null. */
    static String firstNativeErrorLine() {
        return FIRST_ERROR_LINE.get();
    }

    /**
     * Portable builds carry ggml's CPU variants as modules that ggml chooses from at run time; they are listed in
     * ggml-backends.list. Extracts them next to each other and returns their folder, or null for builds that link
     * their backend directly.
     */
    private static String extractBackendModules() {
        String base = Loader.getPlatform() + "/";
        try (InputStream list = TaskvecNative.class.getResourceAsStream(base + "ggml-backends.list")) {
            if (list == null) {
                return null;
            }
            String dir = null;
            for (String name : new String(list.readAllBytes(), StandardCharsets.UTF_8).split("\\s+")) {
                if (!name.isEmpty()) {
                    File f = Loader.cacheResource(TaskvecNative.class, base + name);
                    dir = f.getParent();
                }
            }
            return dir;
        } catch (IOException e) {
            throw new NativeFailureException("cannot extract ggml backend modules: " + e.getMessage());
        }
    }

    /** llama.cpp's version string. */
    public static String llamaVersion() {
        ensureLoaded();
        return tv_llama_version().getString(StandardCharsets.UTF_8);
    }

    /** Whether this build can offload layers to a GPU (a CUDA build with a device and driver present). */
    public static boolean gpuOffloadSupported() {
        ensureLoaded();
        return tv_gpu_offload_supported();
    }

    /**
     * Where the native libraries this JVM runs were loaded from: the folder of the mapped libtaskvec.so and of
     * libggml-cuda.so when a CUDA backend is loaded (read from /proc/self/maps, so it names what is really mapped,
     * not what was asked for), or a sentence saying why it is unknown.
     */
    public static String loadedFrom() {
        ensureLoaded();
        java.nio.file.Path maps = java.nio.file.Path.of("/proc/self/maps");
        if (!java.nio.file.Files.isReadable(maps)) {
            return "unknown (no /proc/self/maps on this system)";
        }
        String taskvec = null;
        String cuda = null;
        try (java.util.stream.Stream<String> lines = java.nio.file.Files.lines(maps)) {
            for (String line : (Iterable<String>) lines::iterator) {
                int slash = line.indexOf('/');
                if (slash < 0) {
                    continue;
                }
                java.nio.file.Path file = java.nio.file.Path.of(line.substring(slash).trim());
                String name = file.getFileName().toString();
                if (taskvec == null && name.startsWith("libtaskvec.so")) {
                    taskvec = file.getParent().toString();
                } else if (cuda == null && name.startsWith("libggml-cuda.so")) {
                    cuda = file.getParent().toString();
                }
            }
        } catch (IOException | RuntimeException e) {
            return "unknown (" + e.getMessage() + ")";
        }
        if (taskvec == null) {
            return "unknown (libtaskvec.so is not mapped)";
        }
        return taskvec + (cuda == null ? " (no CUDA backend loaded)"
                : cuda.equals(taskvec) ? " (with the CUDA backend)" : " (CUDA backend from " + cuda + ")");
    }

    /** llama.cpp's system information (CPU features in use). */
    public static String systemInfo() {
        ensureLoaded();
        return tv_system_info().getString(StandardCharsets.UTF_8);
    }

    static BytePointer utf8(String s) {
        return new BytePointer(s, StandardCharsets.UTF_8);
    }

    /** The last native error message of this thread. */
    static String lastError() {
        return tv_last_error().getString(StandardCharsets.UTF_8);
    }

    /** Throws the exception that matches a native status; does nothing for TV_OK. */
    static void check(int status) {
        if (status != TV_OK) {
            throw toException(status, lastError());
        }
    }

    static TaskvecException toException(int status, String message) {
        switch (status) {
            case TV_ERR_INVALID_ARG: return new InvalidInputException(message);
            case TV_ERR_LOAD: return new ModelLoadException(message);
            case TV_ERR_NO_PROJECTOR: return new NoProjectorException(message);
            case TV_ERR_IMAGE: return new ImageFormatException(message);
            case TV_ERR_CONTEXT_FULL: return new ContextOverflowException(message);
            case TV_ERR_PROJECTOR: return new ProjectorMismatchException(message);
            case TV_ERR_NO_POINT: return new HookPointUnavailableException(message);
            case TV_ERR_RPC: return new RemoteBackendException(message);
            default: return new NativeFailureException(message + " (status " + status + ")");
        }
    }

    /** Native log lines to SLF4J at the matching level. */
    private static final class LogRouter extends TvLogCallback {
        @Override
        public void call(int level, BytePointer line) {
            String text = line == null ? "" : line.getString(StandardCharsets.UTF_8);
            if (level == LOG_ERROR && FIRST_ERROR_LINE.get() == null) {
                FIRST_ERROR_LINE.set(text); // the first line names the cause; later ones are the unwinding
            }
            for (var l : LISTENERS) {
                l.accept(level, text);
            }
            switch (level) {
                case 4: NATIVE_LOG.error(text); break;
                case 3: NATIVE_LOG.warn(text); break;
                case 2: NATIVE_LOG.debug(text); break; // llama.cpp's info lines are load chatter
                default: NATIVE_LOG.trace(text); break;
            }
        }
    }
}
