package org.taskvec.reliability;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Image;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.Positions;
import org.taskvec.hooks.RunResult;
import org.taskvec.testing.ChildProcess;

/**
 * Leak soak (mvn test -Psoak): 10,000 cycles of session create, capture, patch (every tenth with an image and a
 * short generation, every hundredth on a freshly loaded model), close. After a warm-up of 30% of the cycles (the
 * JIT compiler's code cache and metaspace grow fastest until then), resident memory must grow by less than 1% beyond
 * what the JVM's own native memory grew (Native Memory Tracking, whose diff since the warm-up is in the report,
 * target/soak-report.txt) and the heap in use after a GC must stay within a few megabytes. The profile runs the
 * JVM with a fixed heap and glibc set to return large blocks, so that resident memory shows what is live.
 */
@Tag("soak")
class SoakTest {
    private static final int RELOAD = Integer.getInteger("taskvec.soak.reloadEvery", 100);
    private static final int IMAGE = Integer.getInteger("taskvec.soak.imageEvery", 10);

    @Test
    void createCapturePatchCloseCyclesDoNotLeak() throws IOException {
        int cycles = Integer.getInteger("taskvec.soak.cycles", 10_000);
        int warmup = Math.max(1, cycles * 3 / 10);
        int every = Math.max(1, cycles / 100);
        SessionParams sp = SessionParams.defaults().withContextSize(128).withThreads(1);
        Prompt prompt = Prompt.of("Q: France\nA: Paris\n\nQ: Japan\nA:");
        byte[] rgb = new byte[32 * 32 * 3];
        new java.util.Random(1).nextBytes(rgb);
        Prompt withImage = Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:", List.of(Image.ofRgb(32, 32, rgb)));
        long heapWarm = 0;
        List<long[]> samples = new ArrayList<>(); // {cycle, rss, heap, anonymous rss, file rss}
        long t0 = System.nanoTime();
        try (Model shared = TestModels.loadTinyWithProjector()) {
            for (int i = 0; i < cycles; i++) {
                Model m = RELOAD > 0 && i % RELOAD == RELOAD - 1 ? TestModels.loadTinyWithProjector() : shared;
                try (Session s = m.newSession(sp)) {
                    boolean img = IMAGE > 0 && i % IMAGE == IMAGE - 1;
                    Prompt p = img ? withImage : prompt;
                    RunResult r = HookedRun.run(s, p, Hooks.create().capture("blocks.1.resid_post", Positions.last()));
                    s.truncate(0);
                    HookedRun.run(s, p, Hooks.create().replace("blocks.1.resid_post", Positions.last(),
                            r.captures().get(0).last()));
                    if (img) {
                        s.continueGeneration(GenerationParams.greedy(4), null);
                    }
                    assertEquals(m.vocabularySize(), s.logits().length);
                } finally {
                    if (m != shared) {
                        m.close();
                    }
                }
                if ((i + 1) % every == 0) {
                    System.gc();
                    long rss = status("VmRSS:");
                    long heap = heapUsed();
                    samples.add(new long[] {i + 1, rss, heap, status("RssAnon:"), status("RssFile:")});
                    if (i + 1 == warmup) {
                        nmt("baseline");
                        heapWarm = heap;
                    }
                }
            }
        }
        // resident memory swings by transient native allocations (the JIT compiler's arenas, allocator caches);
        // a leak raises the floor: compare the lowest value just after the warm-up with the lowest at the end
        long[] end = samples.get(samples.size() - 1);
        long floorAfterWarmup = floor(samples, warmup, warmup + cycles / 10);
        long floorAtEnd = floor(samples, cycles - cycles / 10, cycles);
        double growth = (double) (floorAtEnd - floorAfterWarmup) / floorAfterWarmup;
        StringBuilder report = new StringBuilder();
        report.append(String.format("soak: %d cycles in %.1f s; resident memory (lowest of each window) after warm-up "
                        + "(cycles %d-%d) %.2f MB, at the end (last %d cycles) %.2f MB: growth %.3f%%; highest sample "
                        + "%.2f MB; heap in use after GC %.2f MB -> %.2f MB%n", cycles, (System.nanoTime() - t0) / 1e9,
                warmup, warmup + cycles / 10, floorAfterWarmup / 1e6, cycles / 10, floorAtEnd / 1e6, 100 * growth,
                samples.stream().mapToLong(x -> x[1]).max().orElse(0) / 1e6, heapWarm / 1e6, end[2] / 1e6));
        for (long[] s : samples) {
            report.append(String.format("  cycle %6d  rss %8.2f MB (anonymous %8.2f, file %6.2f)  heap in use %6.2f MB%n",
                    s[0], s[1] / 1e6, s[3] / 1e6, s[4] / 1e6, s[2] / 1e6));
        }
        // The JVM's own native memory since the warm-up (code cache and compiler arenas of a JIT that keeps
        // compiling, metaspace, ...; the heap is fixed): that share of the growth is not ours.
        String nmt = nmt("summary.diff");
        long jvmGrowth = Math.max(0, committedDelta(nmt));
        double ours = (double) (floorAtEnd - floorAfterWarmup - jvmGrowth) / floorAfterWarmup;
        report.append(String.format("JVM-internal memory (Native Memory Tracking, committed) since the warm-up: %+.2f MB;"
                + " growth not explained by it: %.3f%%%n", committedDelta(nmt) / 1e6, 100 * ours));
        nmt.lines().filter(l -> l.startsWith("Total:") || l.matches("^-\\s+\\S.*committed=\\d+KB [+-]\\d{3,}KB.*"))
                .forEach(l -> report.append("  ").append(l.strip()).append('\n'));
        Files.writeString(Path.of("target", "soak-report.txt"), report);
        System.out.print(report);
        assertTrue(ours < 0.01, "resident memory grew by " + 100 * growth + "% after warm-up, "
                + 100 * ours + "% beyond the JVM's own growth");
        assertTrue(end[2] - heapWarm < 16L << 20, "heap in use grew by " + (end[2] - heapWarm) / 1e6 + " MB");
    }

    /**
     * The native layer alone (native/tools/leak_probe.cpp, the same cycles through the C API): the bytes malloc
     * holds in use, which allocator caching does not move, must not grow after the warm-up.
     */
    @Test
    void nativeCyclesLoseNoMemory() throws Exception {
        Path probe = Path.of(System.getProperty("taskvec.natives", "target/natives"), "bin", "taskvec-leak-probe");
        assertTrue(Files.isExecutable(probe), "the native build installs " + probe);
        StringBuilder report = new StringBuilder();
        // sessions with hooks, images and generation; then fresh model loads each cycle
        for (int[] run : new int[][] {{Integer.getInteger("taskvec.soak.cycles", 10_000), 7}, {500, 15}}) {
            ChildProcess.Result r = ChildProcess.of("SoakTest/native-probe-mode-" + run[1], probe.toString(),
                    TestModels.tinyModel().toString(), TestModels.tinyProjector().toString(), String.valueOf(run[0]),
                    String.valueOf(run[1])).timeout(probeTimeout(run[0], run[1])).run().assertExit(0);
            String out = r.stdout();
            long warm = Long.parseLong(out.replaceAll("(?s).*in_use_after_warmup (\\d+).*", "$1"));
            long end = Long.parseLong(out.replaceAll("(?s).*in_use_end (\\d+).*", "$1"));
            report.append(String.format("native probe, %d cycles, mode %d: malloc in use %d -> %d bytes (%+d)%n",
                    run[0], run[1], warm, end, end - warm));
            assertTrue(end - warm < 64 * 1024, report.toString());
        }
        System.out.print(report);
        Files.writeString(Path.of("target", "soak-native-report.txt"), report);
    }

    /**
     * Generous limits for the probe, which prints nothing until it ends: a cycle of mode 7 took 3.5 ms, a fresh
     * model load (mode 15) 75 ms on a two-core machine; the limit allows ten times PER_CYCLE_MS (a loaded machine
     * is slower), plus a minute.
     */
    static java.time.Duration probeTimeout(int cycles, int mode) {
        return java.time.Duration.ofMillis(60_000 + 10L * cycles * (mode == 15 ? PER_CYCLE_MS_15 : PER_CYCLE_MS_7));
    }

    private static final long PER_CYCLE_MS_7 = 10;
    private static final long PER_CYCLE_MS_15 = 100;

    private static long floor(List<long[]> samples, int from, int to) {
        return samples.stream().filter(x -> x[0] > from && x[0] <= to).mapToLong(x -> x[1]).min()
                .orElseThrow(() -> new IllegalStateException("no samples in cycles " + from + "-" + to));
    }

    private static long status(String key) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IllegalStateException("no " + key + " in /proc/self/status");
    }

    /** The change of the total committed memory in a Native Memory Tracking summary diff, in bytes. */
    static long committedDelta(String diff) {
        var m = java.util.regex.Pattern.compile("Total:.*committed=\\d+KB ([+-]\\d+)KB").matcher(diff);
        return m.find() ? Long.parseLong(m.group(1)) * 1024 : 0;
    }

    static String nmt(String what) {
        try {
            var server = ManagementFactory.getPlatformMBeanServer();
            var name = new javax.management.ObjectName("com.sun.management:type=DiagnosticCommand");
            return (String) server.invoke(name, "vmNativeMemory", new Object[] {new String[] {what}},
                    new String[] {String[].class.getName()});
        } catch (Exception e) {
            return e.toString();
        }
    }

    private static long heapUsed() {
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }
}
