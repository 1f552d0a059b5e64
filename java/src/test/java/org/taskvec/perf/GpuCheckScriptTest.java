package org.taskvec.perf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarOutputStream;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.testing.ChildProcess;

/**
 * benchmarks/gpu-check.sh in --cpu mode on the tiny model, with the natives of this build: what its lease on a GPU
 * machine relies on. A run killed like the device tool kills one (SIGKILL to the process group) leaves a valid
 * partial summary in its output folder; a deadline skips the steps that would not fit and records them; the output
 * folder holds the few files the device tool brings back; and the bundle prepared for the GPU machine holds what
 * the script needs there.
 */
class GpuCheckScriptTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Path SCRIPT = ROOT.resolve("benchmarks/gpu-check.sh");
    private static final Path PREPARE = ROOT.resolve("benchmarks/prepare-gpu-bundle.sh");
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Jars on the test class path that the runtime does not use (test scope). */
    private static final List<String> TEST_ONLY = List.of("surefire", "junit-", "opentest4j-", "apiguardian-",
            "jazzer");

    @TempDir
    Path tmp;

    private static String classPath() {
        String cp = System.getProperty("surefire.test.class.path");
        return cp != null && !cp.isBlank() ? cp : System.getProperty("java.class.path");
    }

    private static Path natives() {
        Path lib = Path.of(System.getProperty("taskvec.natives", "target/natives")).resolve("lib");
        assertTrue(Files.isRegularFile(lib.resolve("libtaskvec.so")), "the build's natives are in " + lib);
        return lib.toAbsolutePath();
    }

    /** The script in its own process group (setsid), output to a log file that the test keeps. */
    private Process start(Path log, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("setsid", "bash", SCRIPT.toString(), "--cpu", "--classpath",
                classPath(), "--natives", natives().toString(), "--rounds", "1"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(ROOT.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().remove("OUT");
        return pb.start();
    }

    private static List<String[]> steps(Path out) throws IOException {
        Path f = out.resolve("steps.tsv");
        if (!Files.exists(f)) {
            return List.of();
        }
        return Files.readAllLines(f).stream().map(l -> l.split("\t", -1)).collect(Collectors.toList());
    }

    private static boolean hasStep(List<String[]> steps, String name, String status) {
        return steps.stream().anyMatch(s -> s.length > 2 && s[1].equals(name) && s[2].equals(status));
    }

    private static Set<String> files(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    /** A command run to its end under a timeout (ChildProcess: drained, killed on timeout, output kept). */
    private static List<String> run(Path dir, long timeoutS, String label, String... cmd) {
        ChildProcess.Result r = ChildProcess.of("GpuCheckScriptTest/" + label, cmd).directory(dir)
                .timeout(Duration.ofSeconds(timeoutS)).run();
        List<String> out = new ArrayList<>(r.stdoutLines());
        out.addAll(r.stderr().lines().toList());
        out.add(0, "exit " + r.exitCode());
        return out;
    }

    @Test
    void killedMidRunLeavesAValidPartialSummary() throws Exception {
        Path out = tmp.resolve("out");
        Path log = tmp.resolve("killed.log");
        Process p = start(log, "--out", out.toString(), "--work", tmp.resolve("work").toString(), "--deadline", "600");
        try {
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
            while (!hasStep(steps(out), "hooks", "ok")) {
                assertTrue(p.isAlive(), "the script ended before its hooks step: " + Files.readString(log));
                assertTrue(System.nanoTime() < until, "no hooks step within 180 s: " + Files.readString(log));
                Thread.sleep(200);
            }
            // what the device tool does at its limit: SIGKILL to the whole process group, no trap runs
            Process kill = new ProcessBuilder("kill", "-KILL", "--", "-" + p.pid()).start();
            assertEquals(0, kill.waitFor());
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the script survived SIGKILL");
        } finally {
            p.destroyForcibly();
        }
        Thread.sleep(500); // a background job of the killed group would still be writing now
        Set<String> files = files(out);
        assertEquals(Set.of("logs.tar.gz", "results.json", "steps.tsv", "summary.md"), files,
                "the device tool brings back at most 8 files");
        JsonNode results = JSON.readTree(out.resolve("results.json").toFile());
        assertTrue(results.path("hooks").path("passed").asBoolean(false), results.toString());
        List<String> stepNames = new ArrayList<>();
        results.path("steps").forEach(s -> stepNames.add(s.path("step").asText() + ":" + s.path("status").asText()));
        assertTrue(stepNames.contains("check:ok") && stepNames.contains("hooks:ok"), stepNames.toString());
        assertFalse(stepNames.contains("run:finished"), "the run was killed, not finished: " + stepNames);
        String summary = Files.readString(out.resolve("summary.md"));
        assertTrue(summary.contains("## Hooks on the device") && summary.contains("passed: **True**"), summary);
        List<String> archive = run(tmp, 30, "tar-list", "tar", "-tzf", out.resolve("logs.tar.gz").toString());
        assertEquals("exit 0", archive.get(0), archive.toString());
        assertTrue(archive.contains("./hooks.json") && archive.contains("./steps.tsv") && archive.contains("./info.txt"),
                archive.toString());
        // no process of the killed run lives on (the background model generator is in the same group)
        // (zombies do not count: killed children wait there until this machine's init reaps them)
        Process pg = new ProcessBuilder("ps", "-e", "-o", "pid=,pgid=,stat=,args=").redirectErrorStream(true).start();
        List<String> group = new String(pg.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8)
                .lines().map(String::trim).filter(l -> {
                    String[] f = l.split("\\s+", 4);
                    return f.length >= 3 && f[1].equals(Long.toString(p.pid())) && !f[2].startsWith("Z");
                }).toList();
        assertTrue(pg.waitFor(30, TimeUnit.SECONDS));
        assertEquals(List.of(), group, "processes of the killed group are still running");
        // nor outside it: a step that made a process group of its own (timeout(1) does) would escape the kill
        Process pf = new ProcessBuilder("pgrep", "-a", "-f", tmp.toString()).redirectErrorStream(true).start();
        String survivors = new String(pf.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertNotEquals(0, pf.waitFor(), "processes of the killed run live on outside its group: " + survivors);
    }

    @Test
    void aDeadlineSkipsWhatDoesNotFitAndRecordsIt() throws Exception {
        Path out = tmp.resolve("out");
        Path log = tmp.resolve("deadline.log");
        long t0 = System.nanoTime();
        // 15 s: the checks (estimate 5 s) fit, the hooks (20 s) never do
        Process p = start(log, "--out", out.toString(), "--work", tmp.resolve("work").toString(), "--deadline", "15");
        boolean ended = p.waitFor(120, TimeUnit.SECONDS);
        p.destroyForcibly();
        assertTrue(ended, "the script ran past its deadline by over 100 s: " + Files.readString(log));
        double took = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, p.exitValue(), Files.readString(log));
        assertTrue(took < 15 + 30, "took " + took + " s for a 15 s deadline");
        List<String[]> steps = steps(out);
        assertTrue(hasStep(steps, "check", "ok"), Files.readString(log));
        String hooks = steps.stream().filter(s -> s[1].equals("hooks")).map(s -> String.join(" ", s)).findFirst()
                .orElse("(none)");
        assertTrue(hooks.contains("skipped") && hooks.contains("needs ~20s"), hooks);
        String[] last = steps.get(steps.size() - 1);
        assertEquals("run", last[1]);
        assertEquals("finished", last[2]);
        JsonNode results = JSON.readTree(out.resolve("results.json").toFile());
        assertEquals(steps.size(), results.path("steps").size());
        assertTrue(Files.readString(out.resolve("summary.md")).contains("| hooks | skipped |"));
    }

    /**
     * A stand-in for llama-batched-bench (the real one is not part of this build): it records its arguments and
     * answers every -npl value with a JSON line at 1000 tokens/s of prompt and 100 of generation.
     */
    private static final String FAKE_BATCHED_BENCH = """
            #!/usr/bin/env bash
            echo "$*" >> "$FAKE_BATCHED_BENCH_ARGS"
            npp="" ntg="" npl=""
            while [ $# -gt 0 ]; do
              case "$1" in -npp) npp="$2"; shift 2 ;; -ntg) ntg="$2"; shift 2 ;; -npl) npl="$2"; shift 2 ;; *) shift ;; esac
            done
            echo "main: n_kv_max = 4096 (a log line)" >&2
            for pl in ${npl//,/ }; do
              echo "{\\"pp\\": $npp, \\"tg\\": $ntg, \\"pl\\": $pl, \\"t_pp\\": 1.0, \\"speed_pp\\": 1000.0, \\"t_tg\\": 1.0, \\"speed_tg\\": 100.0}"
            done
            """;

    @Test
    void theBatchedPairAndTheParallelPaperWorkloadReachTheSummary() throws Exception {
        Path nat = Files.createDirectories(tmp.resolve("natives"));
        try (Stream<Path> libs = Files.list(natives())) {
            for (Path f : (Iterable<Path>) libs::iterator) {
                Files.copy(f, nat.resolve(f.getFileName()), java.nio.file.LinkOption.NOFOLLOW_LINKS);
            }
        }
        Path fake = Files.writeString(nat.resolve("llama-batched-bench"), FAKE_BATCHED_BENCH);
        assertTrue(fake.toFile().setExecutable(true));
        Path out = tmp.resolve("out");
        Path log = tmp.resolve("full.log");
        List<String> cmd = new ArrayList<>(List.of("setsid", "bash", SCRIPT.toString(), "--cpu", "--classpath",
                classPath(), "--natives", nat.toString(), "--rounds", "1", "--no-official", "--out", out.toString(),
                "--work", tmp.resolve("work").toString(), "--deadline", "400"));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(ROOT.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().remove("OUT");
        Path argsFile = tmp.resolve("llama-batched-bench.args");  // the script runs a copy of the natives folder
        pb.environment().put("FAKE_BATCHED_BENCH_ARGS", argsFile.toString());
        Process p = pb.start();
        try {
            assertTrue(p.waitFor(480, TimeUnit.SECONDS), "the --cpu check ran past 480 s: " + Files.readString(log));
        } finally {
            p.destroyForcibly();
        }
        assertEquals(0, p.exitValue(), Files.readString(log));
        List<String[]> steps = steps(out);
        for (String step : new String[] {"batched-tiny-F16", "llama-batched-bench-tiny-F16",
                "llama-batched-bench-tiny-F16.2", "batched-tiny-F16.2", "paper-parallel"}) {
            assertTrue(hasStep(steps, step, "ok"), step + " not ok: " + Files.readString(log));
        }
        // the two sides got the same work: npp, ntg, npl, the context and a unified KV cache on the tool's side
        List<String> args = Files.readAllLines(argsFile);
        assertEquals(2, args.size(), args.toString());
        for (String a : args) {
            assertTrue(a.contains("-npp 32 -ntg 16 -npl 1,4,16,64") && a.contains("-c 3072") && a.contains("-kvu")
                    && a.contains("-b 512 -ub 512"), a);
        }
        JsonNode results = JSON.readTree(out.resolve("results.json").toFile());
        JsonNode batched = results.path("batched").path(0);
        assertEquals("tiny-F16", batched.path("name").asText(), results.toString());
        List<Integer> npl = new ArrayList<>();
        for (JsonNode c : batched.path("configs")) {
            npl.add(c.path("pl").asInt());
            assertEquals(2, c.path("pairs").asInt(), c.toString());
            // the tool's side reads 100 tokens/s in both pairs: each ratio is the engine's own speed / 100
            assertEquals(100.0, c.path("llama_speed_tg").asDouble(), 1e-9, c.toString());
            double median = c.path("tg_ratio").path("median").asDouble();
            assertTrue(median > 0, c.toString());
            assertEquals(c.path("taskvec_speed_tg").asDouble() / 100.0, median, 1e-9 * median, c.toString());
            // every sequence generated all its tokens, or the row says so
            assertEquals(0, c.path("rounds_with_early_stops").asInt(), c.toString());
        }
        assertEquals(List.of(1, 4, 16, 64), npl);
        JsonNode ratios = results.path("paper_parallel").path("speed_ratios");
        for (String pair : new String[] {"parallel_vs_sequential", "sequential_vs_official", "parallel_vs_official"}) {
            for (String phase : new String[] {"extraction", "patched_queries", "sweep", "total"}) {
                JsonNode x = ratios.path(pair).path(phase);
                assertTrue(x.path("min").asDouble() > 0 && x.path("min").asDouble() <= x.path("median").asDouble()
                        && x.path("median").asDouble() <= x.path("max").asDouble(), pair + " " + phase + ": " + x);
            }
        }
        String summary = Files.readString(out.resolve("summary.md"));
        assertTrue(summary.contains("## Batched decode: taskvec (Java API) vs llama-batched-bench"), summary);
        assertTrue(summary.contains("| tiny-F16 | 32 | 16 | 64 | 2 |"), summary);
        assertTrue(summary.contains("## The paper's workload on parallel sequences"), summary);
        assertTrue(summary.contains("paper workload: parallel / sequential speed, sweep"), summary);
    }

    @Test
    void aBundleWithoutRuntimeOrSourceIsRefusedWithEachProblem() throws Exception {
        Path b = Files.createDirectories(tmp.resolve("gpu-bundle/lib"));
        Files.writeString(b.resolve("README"), "not a bundle");
        Path archive = tmp.resolve("bundle.tar.xz");
        assertEquals("exit 0", run(tmp, 60, "tar-create", "tar", "-cJf", archive.toString(), "gpu-bundle")
                .get(0));
        List<String> check = run(ROOT, 120, "check-bundle", "bash", SCRIPT.toString(), "--check-bundle",
                archive.toString());
        assertEquals("exit 1", check.get(0), check.toString());
        assertTrue(check.contains("bundle problem: no Java runtime (gpu-bundle/jre/bin/java)"), check.toString());
        assertTrue(check.contains("bundle problem: no llama.cpp source (gpu-bundle/llama.cpp-src.tar)"), check.toString());
    }

    /** The real bundle, from this build's classes and jars: prepare-gpu-bundle.sh checks it before it returns. */
    @Test
    void thePreparedBundleHoldsWhatTheScriptNeeds() throws Exception {
        Path jars = Files.createDirectories(tmp.resolve("jars"));
        int dependencies = 0;
        for (String entry : classPath().split(java.io.File.pathSeparator)) {
            Path e = Path.of(entry);
            String name = e.getFileName().toString();
            if (entry.endsWith(".jar") && Files.isRegularFile(e) && TEST_ONLY.stream().noneMatch(name::startsWith)) {
                Files.copy(e, jars.resolve(e.getFileName()));
                dependencies++;
            }
        }
        assertTrue(dependencies > 5, "the test class path lists the dependency jars: " + classPath());
        jar(Path.of("target/classes"), jars.resolve("taskvec.jar"));
        Path out = tmp.resolve("bundle");
        List<String> prepare = run(ROOT, 600, "prepare-bundle", "bash", PREPARE.toString(), "--jars",
                jars.toString(), "--out", out.toString());
        assertEquals("exit 0", prepare.get(0), String.join("\n", prepare));
        assertTrue(prepare.stream().anyMatch(l -> l.startsWith("bundle ok: " + out.resolve("bundle.tar.xz"))),
                String.join("\n", prepare));
        assertEquals(Set.of("bundle.tar.xz"), files(out));
        // the device tool carries the working tree (the model organism's 12 MB included) and the bundle in 64 MiB
        long size = Files.size(out.resolve("bundle.tar.xz"));
        long tree = trackedBytes();
        assertTrue(size + tree <= (64L << 20) - (2L << 20), "the bundle (" + size + " bytes) and the tracked files ("
                + tree + " bytes) must travel together within the device tool's 64 MiB, with 2 MiB to spare");
    }

    /** Bytes of the files git tracks in the repository (what a clean clone holds). */
    private static long trackedBytes() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("git", "ls-files", "-z").directory(ROOT.toFile())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        byte[] names;
        try (var in = p.getInputStream()) {
            names = in.readAllBytes();
        }
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS) && p.exitValue() == 0, "git ls-files");
        long sum = 0;
        for (String f : new String(names, java.nio.charset.StandardCharsets.UTF_8).split("\0")) {
            Path path = ROOT.resolve(f);
            if (!f.isEmpty() && Files.isRegularFile(path)) {
                sum += Files.size(path);
            }
        }
        return sum;
    }

    private static void jar(Path classes, Path jar) throws IOException {
        try (OutputStream o = Files.newOutputStream(jar); JarOutputStream j = new JarOutputStream(o);
             Stream<Path> files = Files.walk(classes)) {
            for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile).sorted()::iterator) {
                j.putNextEntry(new ZipEntry(classes.relativize(f).toString().replace('\\', '/')));
                Files.copy(f, j);
                j.closeEntry();
            }
        }
    }
}
