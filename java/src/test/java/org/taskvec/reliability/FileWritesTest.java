package org.taskvec.reliability;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;
import org.taskvec.testing.ChildProcess;

/**
 * Safe defaults: a run writes only where the user said (--out) and into the taskvec cache folder, never into the
 * working directory, the home directory or the temporary folder. Run in a fresh JVM whose home, working directory,
 * temporary folder and cache folder are empty folders of their own.
 */
@Tag("reliability")
class FileWritesTest {
    @Test
    void aCaptureRunWritesOnlyItsOutputAndTheCacheFolder(@TempDir Path tmp) throws Exception {
        Path home = Files.createDirectories(tmp.resolve("home"));
        Path work = Files.createDirectories(tmp.resolve("work"));
        Path temp = Files.createDirectories(tmp.resolve("temp"));
        Path cache = tmp.resolve("cache");
        Path out = Files.createDirectories(tmp.resolve("out")).resolve("acts.npy");
        ChildProcess.Result r = ChildProcess.java("FileWritesTest/capture", List.of("-Xss4m", "-Duser.home=" + home,
                "-Djava.io.tmpdir=" + temp), "org.taskvec.cli.TaskvecCli", "capture", "--model",
                TestModels.tinyModel().toAbsolutePath().toString(), "--mmproj",
                TestModels.tinyProjector().toAbsolutePath().toString(), "--prompt", "Q: France\\nA:", "--layers", "1",
                "--out", out.toString(), "--threads", "1")
                .directory(work).env("TASKVEC_CACHE_DIR", cache.toString()).removeEnv("XDG_CACHE_HOME")
                .timeout(Duration.ofSeconds(120)).run();
        r.assertExit(0);
        String log = r.describe();
        assertTrue(Files.isRegularFile(out), log);
        assertEquals(List.of(), files(home), "nothing in the home folder");
        assertEquals(List.of(), files(work), "nothing in the working directory");
        assertEquals(List.of(), files(temp), "nothing left in the temporary folder");
        // (from a jar, JavaCPP extracts the natives: into the cache folder, not ~/.javacpp, which the home check covers)
        for (Path f : files(out.getParent())) {
            assertTrue(f.getFileName().toString().startsWith("acts."), "only the output and its sidecar: " + f);
        }
    }

    private static List<Path> files(Path dir) throws Exception {
        if (!Files.exists(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).toList();
        }
    }
}
