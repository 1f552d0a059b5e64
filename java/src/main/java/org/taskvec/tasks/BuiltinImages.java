package org.taskvec.tasks;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The emoji images of the built-in tasks (64x64 PNGs from emoji-datasource-google 16.0.0, Apache-2.0), which the
 * build puts into the jar. {@link #root()} copies them into the taskvec cache folder (once per folder) so that tasks
 * can name them as files.
 */
public final class BuiltinImages {
    static final String RESOURCE_DIR = "emoji/";
    private static volatile Path root;

    private BuiltinImages() {}

    /** An image as a jar resource stream, or null when the jar lacks it. */
    public static InputStream open(String name) {
        return BuiltinImages.class.getResourceAsStream(RESOURCE_DIR + name);
    }

    /** The folder holding every image the built-in task files name (copied from the jar on first use). */
    public static synchronized Path root() {
        Path dir = org.taskvec.engine.CacheFolder.path().resolve("task-images").resolve("emoji-datasource-google-16.0.0");
        if (dir.equals(root) && Files.isDirectory(dir)) {
            return root; // copied already (again when the cache folder moved or was removed)
        }
        try {
            Files.createDirectories(dir);
            for (String task : PaperTasks.NAMES) {
                for (TaskItem item : TaskLoader.builtinItems(task)) {
                    Path f = dir.resolve(item.image());
                    try (InputStream in = open(item.image())) {
                        if (in == null) {
                            throw new IllegalStateException("the jar lacks the emoji image " + item.image()
                                    + " of task " + task + " (build with Maven, which fetches them)");
                        }
                        byte[] bytes = in.readAllBytes();
                        // copy when absent or different (a corrupt cache entry is rewritten, not trusted)
                        if (!Files.exists(f) || Files.size(f) != bytes.length
                                || !java.util.Arrays.equals(Files.readAllBytes(f), bytes)) {
                            Path tmp = Files.createTempFile(dir, "img", ".tmp");
                            Files.write(tmp, bytes);
                            Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                        }
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        root = dir;
        return dir;
    }
}
