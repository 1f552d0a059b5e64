package org.taskvec.testing;

import static org.junit.jupiter.api.Assertions.*;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.AssertionFailedError;

/** The test helper for child processes: timeouts kill the whole tree, both streams drain, crash logs are kept. */
class ChildProcessTest {
    private static final long MB4 = 4L << 20;

    @Test
    void aChildThatSleepsForeverIsKilledWithItsDescendantsAndReported() throws Exception {
        long t0 = System.nanoTime();
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> ChildProcess.of(
                "ChildProcessTest/sleeps-forever", "sh", "-c",
                "sleep 1000 & echo \"grandchild $!\"; echo to-stderr >&2; wait")
                .timeout(Duration.ofSeconds(2)).run());
        double took = (System.nanoTime() - t0) / 1e9;
        assertTrue(took < 2 + 10, "reported after " + took + " s for a 2 s timeout");
        String m = e.getMessage();
        assertTrue(m.startsWith("ChildProcessTest/sleeps-forever (pid "), m);
        assertTrue(m.contains(") did not finish within 2 s; killed it and 1 descendant(s)"), m);
        assertTrue(m.contains("--- stdout (tail) ---\ngrandchild "), m);
        assertTrue(m.contains("--- stderr (tail) ---\nto-stderr\n"), m);
        Path folder = ChildProcess.ROOT.resolve("ChildProcessTest/sleeps-forever");
        assertTrue(m.contains("output kept in " + folder.toAbsolutePath()), m);
        String out = Files.readString(folder.resolve("stdout.txt"));
        long grandchild = Long.parseLong(out.strip().substring("grandchild ".length()));
        Optional<ProcessHandle> h = ProcessHandle.of(grandchild);
        assertFalse(h.isPresent() && h.get().isAlive(), "the grandchild (sleep, pid " + grandchild + ") was killed");
    }

    @Test
    void aChildThatGoesQuietPastTheIdleLimitIsKilled() {
        long t0 = System.nanoTime();
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> ChildProcess.of(
                "ChildProcessTest/goes-quiet", "sh", "-c", "echo tick; exec sleep 1000")
                .timeout(Duration.ofSeconds(60)).idleTimeout(Duration.ofSeconds(1)).run());
        assertTrue((System.nanoTime() - t0) / 1e9 < 30, "the idle limit, not the timeout, ended it");
        assertTrue(e.getMessage().contains(") wrote nothing for 1 s; killed it and 0 descendant(s)"), e.getMessage());
        assertTrue(e.getMessage().contains("--- stdout (tail) ---\ntick\n"), e.getMessage());
    }

    /**
     * 4 MiB to stderr, then 4 MiB to stdout: a reader that takes stdout to its end before looking at stderr (the
     * tests' old pattern) waits forever, since the child blocks once the stderr pipe is full.
     */
    @Test
    void aChildThatWritesALotToBothStreamsDoesNotDeadlock() {
        ChildProcess.Result r = ChildProcess.java("ChildProcessTest/chatter", List.of("-Xmx64m"),
                Chatter.class.getName(), String.valueOf(MB4)).timeout(Duration.ofSeconds(60)).run();
        r.assertExit(0);
        assertEquals(MB4, r.stdoutFile().toFile().length());
        assertEquals(MB4, r.stderrFile().toFile().length());
        assertTrue(r.stdout().startsWith("out 0000000\n"), r.describe());
        assertTrue(r.stderr().startsWith("err 0000000\n"), r.describe());
        assertEquals(List.of(), r.crashLogs());
    }

    @Test
    void aCrashedJvmsLogIsKeptAndNamedInTheFailure() {
        ChildProcess.Result r = ChildProcess.java("ChildProcessTest/crash", List.of("-Xmx64m", "-Xint"),
                Crasher.class.getName()).timeout(Duration.ofSeconds(60)).run();
        assertNotEquals(0, r.exitCode());
        Path log = r.folder().resolve("hs_err_pid" + r.pid() + ".log");
        assertEquals(List.of(log), r.crashLogs(), r.describe());
        assertTrue(Files.isRegularFile(log));
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> r.assertExit(0));
        assertTrue(e.getMessage().contains("JVM crash log(s): " + log.toAbsolutePath()), e.getMessage());
        assertTrue(e.getMessage().contains("about to crash"), e.getMessage());
    }

    /** A JVM started without -XX:ErrorFile writes its crash log into its working directory: it is moved along. */
    @Test
    void aCrashLogInTheChildsWorkingDirectoryIsMovedIntoTheRunsFolder(@TempDir Path work) throws Exception {
        ChildProcess.Result r = ChildProcess.of("ChildProcessTest/crash-in-workdir",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:-CreateCoredumpOnCrash",
                "-Xint", "-Xmx64m", "-cp", System.getProperty("java.class.path"), Crasher.class.getName())
                .directory(work).timeout(Duration.ofSeconds(60)).run();
        assertEquals(List.of(r.folder().resolve("hs_err_pid" + r.pid() + ".log")), r.crashLogs(), r.describe());
        try (var s = Files.list(work)) {
            assertEquals(List.of(), s.toList(), "nothing left in the working directory");
        }
    }

    @Test
    void labelsStayInsideTheRunsFolder() {
        assertThrows(IllegalArgumentException.class, () -> ChildProcess.of("../escape", "true"));
        assertThrows(IllegalArgumentException.class, () -> ChildProcess.of("", "true"));
    }

    /** Writes n bytes of numbered lines to stderr, then n to stdout. */
    public static final class Chatter {
        public static void main(String[] args) throws Exception {
            long n = Long.parseLong(args[0]);
            write(new PrintStream(System.err, false), "err", n);
            write(new PrintStream(System.out, false), "out", n);
        }

        private static void write(OutputStream o, String tag, long n) throws Exception {
            for (long i = 0; i < n / 12; i++) { // 12 bytes a line
                o.write(String.format("%s %07d%n", tag, i % 10_000_000).getBytes());
            }
            o.write(new byte[(int) (n % 12)]);
            o.flush();
        }
    }

    /** Crashes its JVM with a native write to address 0. */
    public static final class Crasher {
        public static void main(String[] args) throws Exception {
            System.out.println("about to crash");
            System.out.flush();
            Class<?> unsafeClass = Class.forName("sun.misc.Unsafe");
            var f = unsafeClass.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            unsafeClass.getMethod("putAddress", long.class, long.class).invoke(f.get(null), 0L, 42L);
            System.out.println("still alive");
        }
    }
}
