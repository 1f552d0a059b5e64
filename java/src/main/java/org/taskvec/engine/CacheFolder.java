package org.taskvec.engine;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The one folder taskvec writes to besides the paths a user names: the system property {@value #PROPERTY}, else
 * {@code $TASKVEC_CACHE_DIR}, else {@code $XDG_CACHE_HOME/taskvec}, else {@code ~/.cache/taskvec}. The tests set the
 * property (Maven's Surefire: {@code target/test-cache}; tests of the cache itself: a temporary folder), so that no
 * test writes into the user's cache. Generated models, task images, cached task
 * vectors and the native libraries JavaCPP extracts from the jar (unless {@code org.bytedeco.javacpp.cachedir} is
 * set) live under it.
 */
public final class CacheFolder {
    private static final String JAVACPP_CACHE = "org.bytedeco.javacpp.cachedir";
    /** The system property that names the cache folder, ahead of the environment. */
    public static final String PROPERTY = "taskvec.cache.dir";

    private CacheFolder() {}

    public static Path path() {
        String prop = System.getProperty(PROPERTY);
        if (prop != null && !prop.isEmpty()) {
            return Path.of(prop);
        }
        return environmentPath();
    }

    /**
     * The folder the environment names, ignoring the system property: the one the native build (cmake/build-natives.sh)
     * uses, and so where it fetched the pinned llama.cpp source. Tests, whose property points elsewhere, read that
     * source from here; nothing writes here through this method.
     */
    public static Path environmentPath() {
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

    /** The SHA-256 of bytes, in hex (cache keys). */
    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The SHA-256 of a file, in hex: what cache entries are checked by before use. */
    public static String sha256(Path file) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            try (InputStream in = Files.newInputStream(file)) {
                byte[] buf = new byte[1 << 20];
                for (int n; (n = in.read(buf)) > 0; ) {
                    md.update(buf, 0, n);
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
