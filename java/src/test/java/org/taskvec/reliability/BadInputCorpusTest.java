package org.taskvec.reliability;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.AssertionFailedError;
import org.taskvec.TestModels;
import org.taskvec.testing.ChildProcess;

/**
 * The bad-input corpus (issue 6): generated bad inputs, each run in a forked JVM so that a native crash is seen as a
 * crash, not as a dead test run. Crashes are reported separately from wrong exceptions or messages; a crashed
 * runner's JVM crash log is kept in its folder under target/child-processes/BadInputCorpusTest/ and named in the
 * failure. A runner that exits with an error after reporting every case, or ends without reporting some, fails the
 * test.
 */
@Tag("reliability")
class BadInputCorpusTest {
    record Outcome(String type, String message) {}

    /** The corpus's size, as {@link BadInputCorpus#expectedSize} computes it from the tiny test files. */
    static final int CORPUS_SIZE = 475;

    @Test
    void everyBadInputGetsItsExceptionAndNoneCrashesTheJvm(@TempDir Path dir) throws Exception {
        List<BadInputCase> cases = BadInputCorpus.generate(dir, TestModels.tinyModel(), TestModels.tinyProjector(),
                TestModels.wideProjector());
        assertEquals(CORPUS_SIZE, cases.size(), "corpus size");
        assertEquals(BadInputCorpus.expectedSize(TestModels.tinyModel(), TestModels.tinyProjector()), cases.size(),
                "corpus size computed from the generator's loops and the test files' fields");
        for (BadInputCase c : cases) { // every expected exception names the rule or check that refuses the input
            assertTrue(c.expectedType().equals("OK") || !c.expectedFragment().isEmpty(), c.name());
            assertNotEquals(BadInputCorpus.TYPED, c.expectedType(), c.name());
        }
        // the reliability profile (-Dtaskvec.corpus=full) adds seeded random header mutations of model and projector
        if (System.getProperty("taskvec.corpus", "fast").equals("full")) {
            cases = new ArrayList<>(cases);
            int random = Integer.getInteger("taskvec.corpus.random", 2000);
            cases.addAll(BadInputCorpus.randomMutations(TestModels.tinyModel(), "model", random, 20261127));
            cases.addAll(BadInputCorpus.randomMutations(TestModels.tinyProjector(), "projector", random / 2, 20261128));
        }
        List<String> crashes = new ArrayList<>();
        Map<String, Outcome> results = runCases(cases, dir, CaseRunner.class.getName(), "BadInputCorpusTest/runner",
                crashes);
        List<String> wrong = new ArrayList<>();
        StringBuilder table = new StringBuilder("case\texpected type\texpected fragment\ttype\tmessage\n");
        for (BadInputCase c : cases) {
            Outcome o = results.get(c.name());
            table.append(c.name()).append('\t').append(c.expectedType()).append('\t').append(c.expectedFragment())
                    .append('\t').append(o.type()).append('\t').append(o.message()).append('\n');
            if (o.type().equals("CRASH")) {
                continue;
            }
            if (c.expectedType().equals(BadInputCorpus.TYPED)) { // random mutations: any typed refusal, or none
                if (!o.type().equals("OK") && !isTyped(o.type())) {
                    wrong.add(c.name() + ": expected a typed exception or success, got " + o.type() + " '"
                            + o.message() + "'");
                }
            } else if (!o.type().equals(c.expectedType()) || !o.message().contains(c.expectedFragment())) {
                wrong.add(c.name() + ": expected " + c.expectedType() + " '" + c.expectedFragment() + "', got "
                        + o.type() + " '" + o.message() + "'");
            }
        }
        Path report = ChildProcess.ROOT.resolve("BadInputCorpusTest").resolve("results.tsv");
        Files.createDirectories(report.getParent());
        Files.writeString(report, table);
        System.out.printf("bad-input corpus (%s): %d cases, %d JVM crashes, %d wrong exceptions or messages "
                        + "(every outcome in %s)%n", System.getProperty("taskvec.corpus", "fast"), cases.size(),
                crashes.size(), wrong.size(), report.toAbsolutePath());
        crashes.forEach(x -> System.out.println("  crash: " + x));
        wrong.forEach(x -> System.out.println("  wrong: " + x));
        assertEquals(List.of(), crashes, "JVM crashes");
        assertEquals(List.of(), wrong, "wrong exceptions or messages");
    }

    /** The README gives the corpus's size: the same number. */
    @Test
    void theReadmeStatesTheCorpusSize() throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        assertTrue(readme.contains("bad-input corpus (" + CORPUS_SIZE + " generated"),
                "README.md: 'the bad-input corpus (" + CORPUS_SIZE + " generated ...'");
    }

    /**
     * Runs the cases through runner (a main class like {@link CaseRunner}) in forked JVMs and returns each case's
     * outcome. A JVM that dies in a case (a non-zero exit before all its cases reported) is a crash of the first
     * unreported case, which is added to crashes with the exit code and crash log; the next JVM goes on with the
     * rest. A runner that exits non-zero after reporting every case, exits 0 without reporting some, reports a case
     * twice or one it was not given, or hangs, fails the test.
     */
    static Map<String, Outcome> runCases(List<BadInputCase> cases, Path dir, String runner, String label,
                                         List<String> crashes) throws Exception {
        Set<String> names = new HashSet<>();
        for (BadInputCase c : cases) {
            assertTrue(names.add(c.name()), "two cases are named '" + c.name() + "'");
        }
        ChildProcess.forget(label + "-");
        Map<String, Outcome> results = new LinkedHashMap<>();
        List<BadInputCase> pending = new ArrayList<>(cases);
        for (int run = 1; !pending.isEmpty(); run++) {
            Path file = dir.resolve("cases-" + run + ".tsv");
            Files.write(file, pending.stream().map(BadInputCase::line).toList());
            ChildProcess.Result r = ChildProcess.java(label + "-" + run, List.of("-Xss4m",
                    "-Dorg.slf4j.simpleLogger.defaultLogLevel=off"), runner, file.toString(),
                    TestModels.tinyModel().toString(), TestModels.tinyProjector().toString())
                    // each case reports as it ends: two minutes without a report is a hang
                    .idleTimeout(Duration.ofSeconds(120))
                    .timeout(Duration.ofSeconds(120 + 5L * pending.size())).run();
            Set<String> mine = new HashSet<>();
            pending.forEach(c -> mine.add(c.name()));
            for (String line : r.stdoutLines()) {
                if (line.startsWith("RESULT ")) {
                    String[] f = line.substring(7).split("\t", -1);
                    if (!mine.contains(f[0]) || results.containsKey(f[0])) {
                        throw new AssertionFailedError("the case runner reported a case it was not given, or one "
                                + "twice: '" + f[0] + "'\n" + r.describe());
                    }
                    results.put(f[0], new Outcome(f[1], f.length > 2 ? f[2] : ""));
                }
            }
            List<BadInputCase> left = pending.stream().filter(c -> !results.containsKey(c.name())).toList();
            if (r.exitCode() != 0 && left.isEmpty()) {
                throw new AssertionFailedError("the case runner exited " + r.exitCode()
                        + " after reporting every case\n" + r.describe());
            }
            if (r.exitCode() == 0 && !left.isEmpty()) {
                throw new AssertionFailedError("the case runner exited 0 without reporting " + left.size()
                        + " case(s), the first '" + left.get(0).name() + "'\n" + r.describe());
            }
            if (!left.isEmpty()) {
                // the JVM died in the first unreported case: a crash; go on with the rest
                // a native abort (GGML_ASSERT, std::terminate) leaves no JVM crash log, only its line on stderr
                String abort = r.stderr().lines().filter(l -> l.contains("GGML_ASSERT") || l.contains("terminate "
                        + "called") || l.contains("Assertion")).findFirst().map(l -> "; " + l.strip()).orElse("");
                crashes.add(left.get(0).name() + " (exit " + r.exitCode() + (r.crashLogs().isEmpty()
                        ? "; no JVM crash log" : "; crash log " + String.join(", ", r.crashLogs().stream()
                        .map(p -> p.toAbsolutePath().toString()).toList())) + abort + "; output in "
                        + r.folder().toAbsolutePath() + ")");
                results.put(left.get(0).name(), new Outcome("CRASH", ""));
                left = left.subList(1, left.size());
            }
            pending = new ArrayList<>(left);
        }
        return results;
    }

    /** Whether a reported exception is one of the engine's typed exceptions. */
    static boolean isTyped(String simpleName) {
        try {
            return org.taskvec.engine.TaskvecException.class.isAssignableFrom(
                    Class.forName("org.taskvec.engine." + simpleName));
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    // The runner's contract, with a fake runner: every way it can end wrongly fails the test or is a crash.

    @Test
    void aRunnerThatExitsNonZeroAfterReportingEveryCaseFailsTheTest(@TempDir Path dir) {
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> runCases(List.of(
                fake("a", "ok"), fake("b", "ok-exit-3")), dir, FakeRunner.class.getName(),
                "BadInputCorpusTest/fake-exit", new ArrayList<>()));
        assertTrue(e.getMessage().startsWith("the case runner exited 3 after reporting every case\n"), e.getMessage());
        assertTrue(e.getMessage().contains("RESULT b\tOK"), e.getMessage());
    }

    @Test
    void aRunnerThatEndsWithoutReportingACaseFailsTheTest(@TempDir Path dir) {
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> runCases(List.of(
                fake("a", "ok"), fake("b", "silent"), fake("c", "ok")), dir, FakeRunner.class.getName(),
                "BadInputCorpusTest/fake-silent", new ArrayList<>()));
        assertTrue(e.getMessage().startsWith("the case runner exited 0 without reporting 1 case(s), the first 'b'"),
                e.getMessage());
    }

    @Test
    void aRunnerThatReportsACaseItWasNotGivenFailsTheTest(@TempDir Path dir) {
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> runCases(List.of(
                fake("a", "ok-twice")), dir, FakeRunner.class.getName(), "BadInputCorpusTest/fake-twice",
                new ArrayList<>()));
        assertTrue(e.getMessage().startsWith("the case runner reported a case it was not given, or one twice: 'a'"),
                e.getMessage());
    }

    @Test
    void aCrashIsReportedWithItsCrashLogAndTheRestStillRuns(@TempDir Path dir) throws Exception {
        List<String> crashes = new ArrayList<>();
        Map<String, Outcome> results = runCases(List.of(fake("a", "ok"), fake("b", "crash"), fake("c", "ok")), dir,
                FakeRunner.class.getName(), "BadInputCorpusTest/fake-crash", crashes);
        assertEquals(Map.of("a", new Outcome("OK", ""), "b", new Outcome("CRASH", ""), "c", new Outcome("OK", "")),
                results);
        assertEquals(1, crashes.size());
        String log = crashes.get(0).replaceAll("(?s).*; crash log (\\S+hs_err_pid\\d+\\.log);.*", "$1");
        // (a JVM that writes no core dump exits 1 after its crash log)
        assertTrue(crashes.get(0).startsWith("b (exit 1; crash log "), crashes.get(0));
        assertTrue(Files.isRegularFile(Path.of(log)), crashes.get(0));
        assertTrue(log.contains("/child-processes/BadInputCorpusTest/fake-crash-1/"), log);
    }

    private static BadInputCase fake(String name, String behaviour) {
        return new BadInputCase(name, "fake", behaviour, "OK", "");
    }

    /**
     * A case runner that does what each case's argument says: "ok" reports OK; "ok-exit-3" reports OK and exits 3;
     * "ok-twice" reports OK twice; "silent" reports nothing; "crash" crashes the JVM (a native write to address 0).
     */
    public static final class FakeRunner {
        public static void main(String[] args) throws Exception {
            for (String line : Files.readAllLines(Path.of(args[0]))) {
                BadInputCase c = BadInputCase.parse(line);
                switch (c.arg()) {
                    case "ok" -> System.out.println("RESULT " + c.name() + "\tOK\t");
                    case "ok-twice" -> System.out.println("RESULT " + c.name() + "\tOK\t\nRESULT " + c.name() + "\tOK\t");
                    case "ok-exit-3" -> {
                        System.out.println("RESULT " + c.name() + "\tOK\t");
                        System.out.flush();
                        System.exit(3);
                    }
                    case "silent" -> { }
                    case "crash" -> {
                        System.out.flush();
                        Class<?> unsafe = Class.forName("sun.misc.Unsafe");
                        var f = unsafe.getDeclaredField("theUnsafe");
                        f.setAccessible(true);
                        unsafe.getMethod("putAddress", long.class, long.class).invoke(f.get(null), 0L, 42L);
                    }
                    default -> throw new IllegalArgumentException(c.arg());
                }
                System.out.flush();
            }
        }
    }
}
