package org.taskvec.build;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * cmake/build-natives.sh around a stand-in for cmake (fake-cmake.sh, first on the PATH), so that no compiler runs:
 * the CPU in the cache key of host builds only, one build of a key at a time with a lock (the second waits and takes
 * the first's entry), entries that appear whole, a quiet console with the output in build/&lt;key&gt;/build.log, and
 * a failure that shows the log's tail.
 */
class NativeBuildScriptTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Path SCRIPT = ROOT.resolve("cmake/build-natives.sh");

    @TempDir
    Path tmp;
    private Path cache;
    private Path record;
    private final Map<String, String> env = new HashMap<>();

    record Run(int exit, String output) {
        List<String> lines() {
            return output.lines().toList();
        }
    }

    @BeforeEach
    void fakeCmake() throws IOException {
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        try (InputStream in = NativeBuildScriptTest.class.getResourceAsStream("fake-cmake.sh")) {
            Files.copy(in, bin.resolve("cmake"), StandardCopyOption.REPLACE_EXISTING);
        }
        assertTrue(bin.resolve("cmake").toFile().setExecutable(true));
        Path llama = Files.createDirectories(tmp.resolve("llama/include"));
        Files.writeString(llama.resolve("llama.h"), "// fake\n");
        cache = tmp.resolve("cache");
        record = tmp.resolve("cmake-calls.txt");
        env.put("PATH", bin + ":" + System.getenv("PATH"));
        env.put("TASKVEC_CACHE_DIR", cache.toString());
        env.put("TASKVEC_LLAMA_CPP_DIR", tmp.resolve("llama").toString());
        env.put("TASKVEC_CPU_FINGERPRINT", "test-cpu");
        env.put("FAKE_CMAKE_RECORD", record.toString());
        env.put("TASKVEC_NATIVE_VERBOSE", "");
        env.put("TASKVEC_PORTABLE", "");
    }

    private Process start(Map<String, String> extra, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("bash", SCRIPT.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        pb.environment().putAll(extra);
        return pb.start();
    }

    private static Run finish(Process p) throws Exception {
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "script ends");
        return new Run(p.exitValue(), out);
    }

    private Run run(Map<String, String> extra, String... args) throws Exception {
        return finish(start(extra, args));
    }

    private Map<String, String> keys(Map<String, String> extra, String... args) throws Exception {
        List<String> all = new ArrayList<>(List.of("--print-key"));
        all.addAll(List.of(args));
        Run r = run(extra, all.toArray(String[]::new));
        assertEquals(0, r.exit(), r.output());
        Map<String, String> keys = new HashMap<>();
        r.lines().forEach(l -> keys.put(l.substring(0, l.indexOf('=')), l.substring(l.indexOf('=') + 1)));
        return keys;
    }

    private List<String> calls(String kind) throws IOException {
        if (!Files.exists(record)) {
            return List.of();
        }
        return Files.readAllLines(record).stream().filter(l -> l.startsWith(kind + " ")).toList();
    }

    /** Until the build started first holds the lock and has configured. */
    private void awaitConfigure() throws Exception {
        for (int i = 0; i < 400 && calls("configure").isEmpty(); i++) {
            Thread.sleep(25);
        }
        assertFalse(calls("configure").isEmpty(), "the first build configures");
    }

    private static void assertIntact(Path natives) throws Exception {
        assertTrue(Files.isRegularFile(natives.resolve(".complete")), natives + " complete");
        Process p = new ProcessBuilder("sha256sum", "--quiet", "-c", ".manifest.sha256").directory(natives.toFile())
                .redirectErrorStream(true).start();
        Run r = finish(p);
        assertEquals(0, r.exit(), natives + ": " + r.output());
        assertTrue(Files.isRegularFile(natives.resolve("lib/libtaskvec.so")));
    }

    @Test
    void hostBuildsAreKeyedByTheCpuPortableBuildsAreNot() throws Exception {
        Map<String, String> a = keys(Map.of("TASKVEC_CPU_FINGERPRINT", "cpu-a"));
        Map<String, String> b = keys(Map.of("TASKVEC_CPU_FINGERPRINT", "cpu-b"));
        assertNotEquals(a.get("llama_key"), b.get("llama_key"), "another CPU, another build tree");
        assertNotEquals(a.get("full_key"), b.get("full_key"), "another CPU, another natives entry");
        assertEquals(a, keys(Map.of("TASKVEC_CPU_FINGERPRINT", "cpu-a")), "the same CPU, the same keys");
        assertEquals("cpu-a", a.get("cpu"));

        Map<String, String> pa = keys(Map.of("TASKVEC_CPU_FINGERPRINT", "cpu-a"), "--portable");
        Map<String, String> pb = keys(Map.of("TASKVEC_CPU_FINGERPRINT", "cpu-b", "TASKVEC_PORTABLE", "1"));
        assertEquals(pa.get("llama_key"), pb.get("llama_key"), "portable builds run on any CPU");
        assertEquals(pa.get("full_key"), pb.get("full_key"));
        assertEquals("any", pa.get("cpu"));
        assertFalse(pa.get("flags").contains("cpu="), pa.get("flags"));
        assertNotEquals(pa.get("llama_key"), a.get("llama_key"));

        // without the override: what the compiler resolves -march=native to (or /proc/cpuinfo), stable between calls
        Map<String, String> real = keys(Map.of("TASKVEC_CPU_FINGERPRINT", ""));
        assertFalse(real.get("cpu_hash").isEmpty());
        assertNotEquals(a.get("llama_key"), real.get("llama_key"));
        assertEquals(real, keys(Map.of("TASKVEC_CPU_FINGERPRINT", "")));
    }

    @Test
    void concurrentBuildsOfOneKeyBuildOnceAndEntriesAppearWhole() throws Exception {
        Map<String, String> slow = Map.of("FAKE_CMAKE_STEPS", "40", "FAKE_CMAKE_STEP_SECONDS", "0.05");
        Path natives = cache.resolve("natives");
        // a reader polling the cache: an entry it can see under its key is always complete
        AtomicBoolean stop = new AtomicBoolean();
        ConcurrentLinkedQueue<String> seen = new ConcurrentLinkedQueue<>();
        Thread reader = new Thread(() -> {
            while (!stop.get()) {
                if (Files.isDirectory(natives)) {
                    try (Stream<Path> entries = Files.list(natives)) {
                        entries.filter(e -> !e.getFileName().toString().startsWith(".")).forEach(e -> {
                            try {
                                assertIntact(e);
                                seen.add("ok " + e.getFileName());
                            } catch (Throwable t) {
                                seen.add("BROKEN " + e.getFileName() + ": " + t.getMessage());
                            }
                        });
                    } catch (IOException ignored) {
                        // the folder changes under us
                    }
                }
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        reader.start();
        Process first = start(slow, "--out", tmp.resolve("out1").toString());
        awaitConfigure();
        Process second = start(slow, "--out", tmp.resolve("out2").toString());
        Run r1 = finish(first);
        Run r2 = finish(second);
        stop.set(true);
        reader.join();

        assertEquals(0, r1.exit(), r1.output());
        assertEquals(0, r2.exit(), r2.output());
        assertEquals(1, calls("build").size(), "built once: " + Files.readAllLines(record));
        assertEquals(1, calls("install").size());
        assertTrue(r2.output().contains("waiting for another build (pid " + first.pid()), r2.output());
        assertTrue(r2.output().contains("built by the other build"), r2.output());
        assertIntact(tmp.resolve("out1"));
        assertIntact(tmp.resolve("out2"));
        assertFalse(seen.stream().anyMatch(s -> s.startsWith("BROKEN")), seen.toString());
        try (Stream<Path> left = Files.list(natives)) {
            assertEquals(1, left.count(), "no temporary folders left");
        }

        Run third = run(Map.of(), "--out", tmp.resolve("out3").toString());
        assertEquals(0, third.exit(), third.output());
        assertTrue(third.output().contains("cache hit"), third.output());
        assertEquals(1, calls("build").size());
    }

    @Test
    void waitingForTheLockTimesOutClearly() throws Exception {
        Process first = start(Map.of("FAKE_CMAKE_STEPS", "40", "FAKE_CMAKE_STEP_SECONDS", "0.1"),
                "--out", tmp.resolve("out1").toString());
        Path lock = Path.of(keys(Map.of()).get("lock"));
        awaitConfigure();
        Run second = run(Map.of("TASKVEC_NATIVE_LOCK_TIMEOUT", "1"), "--out", tmp.resolve("out2").toString());
        assertEquals(1, second.exit(), second.output());
        assertTrue(second.output().contains("timed out after 1 s waiting for another build (pid " + first.pid()),
                second.output());
        assertTrue(second.output().contains(lock.toString()), second.output());
        assertTrue(second.output().contains("TASKVEC_NATIVE_LOCK_TIMEOUT"), second.output());
        assertEquals(0, finish(first).exit());
    }

    @Test
    void theConsoleGetsStepsTheLogGetsEverything() throws Exception {
        Map<String, String> noisy = Map.of("FAKE_CMAKE_STEPS", "200", "FAKE_CMAKE_STEP_SECONDS", "0.01",
                "FAKE_CMAKE_NOISE", "10");
        Run quiet = run(noisy, "--out", tmp.resolve("out").toString());
        assertEquals(0, quiet.exit(), quiet.output());
        assertTrue(quiet.lines().size() <= 12, quiet.output());
        assertTrue(quiet.lines().stream().allMatch(l -> l.startsWith("taskvec natives: ")), quiet.output());
        assertTrue(quiet.output().contains("configuring ... done in "), quiet.output());
        assertTrue(quiet.output().contains("compiling 200/200 done in "), quiet.output());
        assertFalse(quiet.output().contains("warning: noise"), quiet.output());
        Path log = Path.of(keys(Map.of()).get("log"));
        String logText = Files.readString(log);
        assertTrue(logText.contains("[200/200] Building CXX object"), "the log has the build output");
        assertEquals(2000, logText.lines().filter(l -> l.contains("warning: noise")).count());
        assertTrue(quiet.output().contains(log.toString()), "the console names the log");

        // verbose: everything on the console too (a new build: the verbose run has another source folder)
        Files.createDirectories(tmp.resolve("llama2/include")).resolve("llama.h").toFile().createNewFile();
        Run loud = run(Map.of("FAKE_CMAKE_STEPS", "20", "FAKE_CMAKE_NOISE", "2",
                "TASKVEC_LLAMA_CPP_DIR", tmp.resolve("llama2").toString()), "--out", tmp.resolve("outv").toString(),
                "--verbose=true");
        assertEquals(0, loud.exit(), loud.output());
        assertTrue(loud.output().contains("[20/20] Building CXX object"), loud.output());
        assertEquals(40, loud.lines().stream().filter(l -> l.contains("warning: noise")).count());
    }

    @Test
    void aBuildFolderConfiguredFromAnotherCloneIsReconfigured() throws Exception {
        // every clone on a machine shares the build folder of a key; CMake refuses a cache made for another source
        Path build = Files.createDirectories(Path.of(keys(Map.of()).get("build")));
        Files.writeString(build.resolve("CMakeCache.txt"), "CMAKE_HOME_DIRECTORY:INTERNAL=/elsewhere/native\n");
        Files.createDirectories(build.resolve("CMakeFiles"));
        Files.writeString(build.resolve("CMakeFiles/stale"), "x");
        Run r = run(Map.of(), "--out", tmp.resolve("out").toString());
        assertEquals(0, r.exit(), r.output());
        Path log = Path.of(keys(Map.of()).get("log"));
        String all = r.output() + Files.readString(log);
        assertTrue(all.contains("configured from /elsewhere/native; configuring it for " + ROOT.resolve("native")), all);
        assertFalse(Files.exists(build.resolve("CMakeFiles/stale")), "the other clone's CMake files are gone");
        assertEquals(1, calls("configure").size());
    }

    @Test
    void aFailedBuildShowsTheLogsTailAndPublishesNothing() throws Exception {
        Run failed = run(Map.of("FAKE_CMAKE_FAIL", "build"), "--out", tmp.resolve("out").toString());
        assertNotEquals(0, failed.exit(), failed.output());
        Path log = Path.of(keys(Map.of()).get("log"));
        assertTrue(failed.output().contains("compiling failed"), failed.output());
        assertTrue(failed.output().contains("full log: " + log), failed.output());
        assertTrue(failed.output().contains("  | FAILED: src/fake_"), failed.output());
        assertTrue(failed.output().contains("  | fake error 100"), failed.output());
        assertTrue(failed.output().contains("  | fake error 62"), failed.output());
        assertFalse(failed.output().contains("  | fake error 61\n"), "40 lines of the log: " + failed.output());
        try (Stream<Path> entries = Files.list(cache.resolve("natives"))) {
            assertEquals(0, entries.count(), "nothing published, no temporary folder left");
        }
        // the lock went with the failed build: the next one builds at once
        Run next = run(Map.of("TASKVEC_NATIVE_LOCK_TIMEOUT", "1"), "--out", tmp.resolve("out").toString());
        assertEquals(0, next.exit(), next.output());
        assertIntact(tmp.resolve("out"));
    }
}
