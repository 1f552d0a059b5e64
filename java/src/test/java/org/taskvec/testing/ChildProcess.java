package org.taskvec.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.opentest4j.AssertionFailedError;

/**
 * A child process run by a test, so that a hung or crashed child cannot hang the build or lose its evidence: stdout
 * and stderr are drained on threads of their own into files (a child that fills one pipe while the test waits on
 * the other cannot deadlock), the child is waited for with a timeout (and, optionally, a limit on time without any
 * output), and on timeout the child and all its descendants are killed and the test fails with the tail of both
 * streams. Everything is kept in the run's folder, {@code target/child-processes/LABEL/}: {@code stdout.txt},
 * {@code stderr.txt} and any JVM crash log ({@code hs_err_pid*.log}, {@code replay_pid*.log}); failure messages
 * name the folder and the crash logs.
 *
 * <pre>{@code
 * ChildProcess.Result r = ChildProcess.java("FileWritesTest/capture", List.of("-Xss4m"), "org.taskvec.cli.TaskvecCli",
 *         "capture", ...).timeout(Duration.ofSeconds(120)).run();
 * r.assertExit(0);
 * }</pre>
 */
public final class ChildProcess {
    /** Where the runs' folders are: target/child-processes (tests run in the module folder, java/). */
    public static final Path ROOT = Path.of(System.getProperty("taskvec.test.children", "target/child-processes"));
    private static final int TAIL_BYTES = 4000;

    private ChildProcess() {}

    /** A run of command; label names its folder under {@link #ROOT} ("Class/what", unique per test). */
    public static Builder of(String label, List<String> command) {
        return new Builder(label, command);
    }

    /** A run of command; label names its folder under {@link #ROOT}. */
    public static Builder of(String label, String... command) {
        return of(label, List.of(command));
    }

    /**
     * A JVM of the running Java, on the test class path, running mainClass: its crash log (if it crashes) goes to
     * the run's folder (-XX:ErrorFile), and it writes no core dump.
     */
    public static Builder java(String label, List<String> jvmArgs, String mainClass, String... args) {
        Path folder = folder(label);
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-XX:ErrorFile=" + folder.toAbsolutePath().resolve("hs_err_pid%p.log"));
        cmd.add("-XX:-CreateCoredumpOnCrash");
        cmd.addAll(jvmArgs);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(List.of(args));
        return new Builder(label, cmd);
    }

    /** Deletes the folders of earlier runs whose labels start with prefix ("Class/runner-" for "Class/runner-1"...). */
    public static void forget(String prefix) throws IOException {
        Path f = folder(prefix);
        String start = f.getFileName().toString();
        if (!Files.isDirectory(f.getParent())) {
            return;
        }
        try (Stream<Path> s = Files.list(f.getParent())) {
            for (Path run : s.filter(p -> p.getFileName().toString().startsWith(start)).toList()) {
                clean(run);
                Files.deleteIfExists(run);
            }
        }
    }

    static Path folder(String label) {
        if (label.isBlank() || label.contains("..") || !label.matches("[A-Za-z0-9._/ -]+")) {
            throw new IllegalArgumentException("a label is a few words, letters, digits, '.', '_', '-', '/': " + label);
        }
        return ROOT.resolve(label);
    }

    /** The settings of one run. */
    public static final class Builder {
        private final String label;
        private final List<String> command;
        private final Map<String, String> env = new LinkedHashMap<>();
        private final List<String> removeEnv = new ArrayList<>();
        private Path directory;
        private Duration timeout = Duration.ofSeconds(120);
        private Duration idleTimeout;

        private Builder(String label, List<String> command) {
            folder(label);
            this.label = label;
            this.command = List.copyOf(command);
        }

        public Builder directory(Path dir) {
            this.directory = dir;
            return this;
        }

        public Builder env(String key, String value) {
            env.put(key, value);
            return this;
        }

        public Builder removeEnv(String key) {
            removeEnv.add(key);
            return this;
        }

        /** The longest the child may run (default two minutes). */
        public Builder timeout(Duration t) {
            this.timeout = t;
            return this;
        }

        /** The longest the child may go without writing to stdout or stderr (default: no such limit). */
        public Builder idleTimeout(Duration t) {
            this.idleTimeout = t;
            return this;
        }

        /**
         * Runs the child to its end and returns how it ended (any exit code: see {@link Result#assertExit}). When
         * it runs past a timeout, kills it and its descendants and throws an {@link AssertionFailedError} with the
         * output's tail, the folder and any crash log.
         */
        public Result run() {
            Path folder = folder(label);
            try {
                long t0 = System.nanoTime();
                Launched l = launch(folder);
                Process p = l.process();
                Path out = l.out();
                Path err = l.err();
                AtomicLong lastOutput = l.lastOutput();
                Thread outDrain = l.outDrain();
                Thread errDrain = l.errDrain();
                String timedOut = waitFor(p, t0, lastOutput);
                if (timedOut != null) {
                    List<Long> killed = killTree(p);
                    outDrain.join(10_000);
                    errDrain.join(10_000);
                    Result r = result(p, -1, folder, out, err, t0);
                    throw new AssertionFailedError(label + " (pid " + p.pid() + ") " + timedOut + "; killed it and "
                            + (killed.size() - 1) + " descendant(s)\n" + r.describe());
                }
                // the streams end when the child and every process that inherited them are gone
                outDrain.join(30_000);
                errDrain.join(30_000);
                if (outDrain.isAlive() || errDrain.isAlive()) {
                    List<Long> killed = killTree(p);
                    Result r = result(p, p.exitValue(), folder, out, err, t0);
                    throw new AssertionFailedError(label + " (pid " + p.pid() + ") exited " + p.exitValue()
                            + " but a descendant kept its output open for 30 s; killed " + killed.size()
                            + " process(es)\n" + r.describe());
                }
                return result(p, p.exitValue(), folder, out, err, t0);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot run " + label + ": " + command, e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for " + label, e);
            }
        }

        /**
         * Starts the child in the background (a server): its output is drained into the run's folder as with
         * {@link #run()}, and closing the handle kills it and its descendants (a shutdown hook does so too, should
         * the test JVM end first). The timeouts do not apply.
         */
        public Running start() {
            Path folder = folder(label);
            try {
                Launched l = launch(folder);
                return new Running(label, l.process(), folder, l.out(), l.err(), l.outDrain(), l.errDrain());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot start " + label + ": " + command, e);
            }
        }

        /** A started child whose output is being drained into folder. */
        private record Launched(Process process, Path out, Path err, AtomicLong lastOutput, Thread outDrain,
                                Thread errDrain) {}

        /** Starts the child with no input, its command in command.txt and its output drained into folder. */
        private Launched launch(Path folder) throws IOException {
            Files.createDirectories(folder);
            clean(folder);
            ProcessBuilder pb = new ProcessBuilder(command);
            if (directory != null) {
                pb.directory(directory.toFile());
            }
            removeEnv.forEach(pb.environment()::remove);
            pb.environment().putAll(env);
            Path out = folder.resolve("stdout.txt");
            Path err = folder.resolve("stderr.txt");
            Files.writeString(folder.resolve("command.txt"), String.join("\n", command) + "\n");
            Process p = pb.start();
            p.getOutputStream().close(); // no input: a child that reads stdin sees its end
            AtomicLong lastOutput = new AtomicLong(System.nanoTime());
            Thread outDrain = drain(p.getInputStream(), out, lastOutput, label + " stdout");
            Thread errDrain = drain(p.getErrorStream(), err, lastOutput, label + " stderr");
            return new Launched(p, out, err, lastOutput, outDrain, errDrain);
        }

        /** null when the child ended in time; else what it ran past. */
        private String waitFor(Process p, long t0, AtomicLong lastOutput) throws InterruptedException {
            long deadline = t0 + timeout.toNanos();
            while (true) {
                long now = System.nanoTime();
                if (now >= deadline) {
                    return "did not finish within " + seconds(timeout);
                }
                if (idleTimeout != null && now - lastOutput.get() >= idleTimeout.toNanos()) {
                    return "wrote nothing for " + seconds(idleTimeout);
                }
                long step = Math.min(deadline - now, TimeUnit.MILLISECONDS.toNanos(200));
                if (p.waitFor(step, TimeUnit.NANOSECONDS)) {
                    return null;
                }
            }
        }

        private Result result(Process p, int exit, Path folder, Path out, Path err, long t0) throws IOException {
            List<Path> crashLogs = collectCrashLogs(p.pid(), folder, directory);
            return new Result(label, p.pid(), exit, folder, out, err, crashLogs,
                    Duration.ofNanos(System.nanoTime() - t0));
        }
    }

    /** A child started with {@link Builder#start()}; {@link #close()} kills it (idempotent). */
    public static final class Running implements AutoCloseable {
        private final String label;
        private final Process process;
        private final Path folder;
        private final Path out;
        private final Path err;
        private final Thread outDrain;
        private final Thread errDrain;
        private final Thread shutdownHook;

        Running(String label, Process process, Path folder, Path out, Path err, Thread outDrain, Thread errDrain) {
            this.label = label;
            this.process = process;
            this.folder = folder;
            this.out = out;
            this.err = err;
            this.outDrain = outDrain;
            this.errDrain = errDrain;
            Thread h = new Thread(() -> {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
            }, "kill " + label);
            Runtime.getRuntime().addShutdownHook(h);
            this.shutdownHook = h;
        }

        public Process process() {
            return process;
        }

        public Path folder() {
            return folder;
        }

        /** What the child wrote to stdout and stderr so far. */
        public String output() {
            try {
                return (Files.exists(out) ? Files.readString(out) : "") + (Files.exists(err) ? Files.readString(err) : "");
            } catch (IOException e) {
                return "(unreadable: " + e.getMessage() + ")";
            }
        }

        /** Waits until the output holds text; fails with the output when the child ends or the time runs out. */
        public void awaitOutput(String text, Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!output().contains(text)) {
                if (!process.isAlive()) {
                    throw new AssertionFailedError(label + " exited " + process.exitValue() + " before writing '"
                            + text + "'; its output (" + folder + "):\n" + output());
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionFailedError(label + " did not write '" + text + "' within " + seconds(timeout)
                            + "; its output (" + folder + "):\n" + output());
                }
                Thread.sleep(50);
            }
        }

        /** Kills the child and its descendants at once (SIGKILL), as a crash would end it, and waits for them. */
        public void kill() throws InterruptedException {
            killTree(process);
            outDrain.join(10_000);
            errDrain.join(10_000);
        }

        @Override
        public void close() throws InterruptedException {
            if (process.isAlive() || process.descendants().findAny().isPresent()) {
                kill();
            }
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException e) {
                // the JVM is shutting down: the hook runs anyway
            }
        }
    }

    /**
     * Kills the child and all its descendants (a snapshot taken first: once the parent is gone, its children are
     * no longer its descendants), then waits for them. Returns the pids killed, the child's first.
     */
    static List<Long> killTree(Process p) throws InterruptedException {
        List<Long> killed = new ArrayList<>();
        killed.add(p.pid());
        for (int round = 0; round < 5; round++) {
            List<ProcessHandle> all = new ArrayList<>(p.descendants().toList());
            all.forEach(ProcessHandle::destroyForcibly); // children first: they cannot be orphaned any more
            p.destroyForcibly();
            all.forEach(h -> {
                if (!killed.contains(h.pid())) {
                    killed.add(h.pid());
                }
            });
            for (ProcessHandle h : all) {
                h.onExit().orTimeout(10, TimeUnit.SECONDS).exceptionally(t -> null).join();
            }
            if (p.waitFor(10, TimeUnit.SECONDS) && p.descendants().findAny().isEmpty()) {
                break;
            }
        }
        return killed;
    }

    private static Thread drain(InputStream in, Path file, AtomicLong lastOutput, String name) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[8192];
            try (in; OutputStream o = Files.newOutputStream(file)) {
                int n;
                while ((n = in.read(buf)) > 0) {
                    o.write(buf, 0, n);
                    o.flush(); // readable while the child runs, and complete if the test JVM dies
                    lastOutput.set(System.nanoTime());
                }
            } catch (IOException e) {
                // the stream closed under us (the child was killed): what was read is in the file
            }
        }, "drain " + name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static void clean(Path folder) throws IOException {
        if (!Files.exists(folder)) {
            return;
        }
        try (Stream<Path> s = Files.walk(folder)) {
            for (Path f : s.sorted(Comparator.reverseOrder()).toList()) {
                if (!f.equals(folder)) {
                    Files.delete(f);
                }
            }
        }
    }

    /**
     * The JVM crash logs of the child: those in the run's folder (-XX:ErrorFile) and the child's own in its working
     * directory or the temporary folder (where a JVM without -XX:ErrorFile writes them), moved into the folder.
     */
    private static List<Path> collectCrashLogs(long pid, Path folder, Path workDir) throws IOException {
        for (Path dir : new Path[] {workDir != null ? workDir : Path.of(""), Path.of(System.getProperty("java.io.tmpdir"))}) {
            for (String name : new String[] {"hs_err_pid" + pid + ".log", "replay_pid" + pid + ".log"}) {
                Path f = dir.resolve(name);
                if (Files.isRegularFile(f)) {
                    Files.move(f, folder.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        List<Path> logs = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(folder, "{hs_err_pid,replay_pid}*.log")) {
            s.forEach(logs::add);
        }
        logs.sort(Comparator.naturalOrder());
        return logs;
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    /** The last maxBytes of a file, as text. */
    static String tail(Path file, int maxBytes) {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            long len = f.length();
            long from = Math.max(0, len - maxBytes);
            byte[] b = new byte[(int) (len - from)];
            f.seek(from);
            f.readFully(b);
            return (from > 0 ? "[... " + from + " bytes before]" : "") + new String(b, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(" + file + " unreadable: " + e + ")";
        }
    }

    /** How a child ended: exit code (-1: killed on timeout), its output files and crash logs. */
    public record Result(String label, long pid, int exitCode, Path folder, Path stdoutFile, Path stderrFile,
                         List<Path> crashLogs, Duration took) {
        public String stdout() {
            return read(stdoutFile);
        }

        public String stderr() {
            return read(stderrFile);
        }

        /** Stdout's lines. */
        public List<String> stdoutLines() {
            return stdout().lines().toList();
        }

        /** A report for a failure message: exit code, folder, crash logs and the tail of both streams. */
        public String describe() {
            StringBuilder s = new StringBuilder();
            s.append(label).append(" (pid ").append(pid).append("): ")
                    .append(exitCode < 0 ? "killed" : "exit " + exitCode).append(" after ")
                    .append(took.toMillis()).append(" ms; output kept in ").append(folder.toAbsolutePath()).append('\n');
            if (!crashLogs.isEmpty()) {
                s.append("JVM crash log(s): ");
                s.append(String.join(", ", crashLogs.stream().map(p -> p.toAbsolutePath().toString()).toList()));
                s.append('\n');
            }
            s.append("--- stdout (tail) ---\n").append(tail(stdoutFile, TAIL_BYTES)).append('\n');
            s.append("--- stderr (tail) ---\n").append(tail(stderrFile, TAIL_BYTES)).append('\n');
            return s.toString();
        }

        /** Fails (with {@link #describe()}) unless the child exited with code. */
        public Result assertExit(int code) {
            if (exitCode != code) {
                throw new AssertionFailedError(label + " exited " + exitCode + ", expected " + code + "\n"
                        + describe(), code, exitCode);
            }
            return this;
        }

        private static String read(Path f) {
            try {
                return new String(Files.readAllBytes(f), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
