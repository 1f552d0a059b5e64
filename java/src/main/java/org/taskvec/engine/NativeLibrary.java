package org.taskvec.engine;

import static org.taskvec.nativeapi.TaskvecNative.*;

import java.io.File;
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
            String path = TaskvecNative.load();
            router = new LogRouter();
            tv_log_set(router);
            // Portable builds load ggml CPU variants from the folder the libraries were extracted to.
            String dir = path == null ? null : new File(path).getParent();
            int status = tv_init(dir == null ? null : utf8(dir));
            check(status);
            initialised = true;
        }
    }

    /** llama.cpp's version string. */
    public static String llamaVersion() {
        ensureLoaded();
        return tv_llama_version().getString(StandardCharsets.UTF_8);
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
            default: return new NativeFailureException(message + " (status " + status + ")");
        }
    }

    /** Native log lines to SLF4J at the matching level. */
    private static final class LogRouter extends TvLogCallback {
        @Override
        public void call(int level, BytePointer line) {
            String text = line == null ? "" : line.getString(StandardCharsets.UTF_8);
            switch (level) {
                case 4: NATIVE_LOG.error(text); break;
                case 3: NATIVE_LOG.warn(text); break;
                case 2: NATIVE_LOG.debug(text); break; // llama.cpp's info lines are load chatter
                default: NATIVE_LOG.trace(text); break;
            }
        }
    }
}
