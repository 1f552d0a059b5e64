package org.taskvec.engine;

import java.nio.file.Path;

/**
 * The one folder taskvec writes to besides the paths a user names: {@code $TASKVEC_CACHE_DIR}, else
 * {@code $XDG_CACHE_HOME/taskvec}, else {@code ~/.cache/taskvec}. Generated models, task images, cached task
 * vectors and the native libraries JavaCPP extracts from the jar (unless {@code org.bytedeco.javacpp.cachedir} is
 * set) live under it.
 */
public final class CacheFolder {
    private static final String JAVACPP_CACHE = "org.bytedeco.javacpp.cachedir";

    private CacheFolder() {}

    public static Path path() {
        String env = System.getenv("TASKVEC_CACHE_DIR");
        if (env != null && !env.isEmpty()) {
            return Path.of(env);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        return (xdg != null && !xdg.isEmpty() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache"))
                .resolve("taskvec");
    }

    /** Points JavaCPP's extraction of native libraries into the cache folder; call before JavaCPP loads anything. */
    static void configureJavaCpp() {
        if (System.getProperty(JAVACPP_CACHE) == null) {
            System.setProperty(JAVACPP_CACHE, path().resolve("javacpp").toString());
        }
    }
}
