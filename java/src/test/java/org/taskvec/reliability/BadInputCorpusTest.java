package org.taskvec.reliability;

import static org.junit.jupiter.api.Assertions.*;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;

/**
 * The bad-input corpus (issue 6): over 200 generated bad inputs, each run in a forked JVM so that a native crash is
 * seen as a crash, not as a dead test run. Crashes are reported separately from wrong exceptions or messages.
 */
@Tag("reliability")
class BadInputCorpusTest {
    record Outcome(String type, String message) {}

    @Test
    void everyBadInputGetsItsExceptionAndNoneCrashesTheJvm(@TempDir Path dir) throws Exception {
        List<BadInputCase> cases = BadInputCorpus.generate(dir, TestModels.tinyModel(), TestModels.tinyProjector(),
                TestModels.wideProjector());
        assertTrue(cases.size() >= 200, "corpus size " + cases.size());
        // the reliability profile (-Dtaskvec.corpus=full) adds seeded random header mutations of model and projector
        if (System.getProperty("taskvec.corpus", "fast").equals("full")) {
            cases = new ArrayList<>(cases);
            int random = Integer.getInteger("taskvec.corpus.random", 2000);
            cases.addAll(BadInputCorpus.randomMutations(TestModels.tinyModel(), "model", random, 20261127));
            cases.addAll(BadInputCorpus.randomMutations(TestModels.tinyProjector(), "projector", random / 2, 20261128));
        }
        Map<String, Outcome> results = new LinkedHashMap<>();
        List<String> crashes = new ArrayList<>();
        List<BadInputCase> pending = new ArrayList<>(cases);
        while (!pending.isEmpty()) {
            Path file = dir.resolve("cases-" + pending.size() + ".tsv");
            Files.write(file, pending.stream().map(BadInputCase::line).toList());
            Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xss4m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=off",
                    "-XX:ErrorFile=" + dir.resolve("hs_err_%p.log"), "-cp",
                    System.getProperty("java.class.path"), CaseRunner.class.getName(), file.toString(),
                    TestModels.tinyModel().toString(), TestModels.tinyProjector().toString())
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    if (line.startsWith("RESULT ")) {
                        String[] f = line.substring(7).split("\t", -1);
                        results.put(f[0], new Outcome(f[1], f.length > 2 ? f[2] : ""));
                    }
                }
            }
            assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the case runner finished");
            List<BadInputCase> left = pending.stream().filter(c -> !results.containsKey(c.name())).toList();
            if (p.exitValue() != 0 && !left.isEmpty()) {
                // the JVM died in the first unreported case: a crash; go on with the rest
                crashes.add(left.get(0).name() + " (exit " + p.exitValue() + ")");
                results.put(left.get(0).name(), new Outcome("CRASH", ""));
                left = left.subList(1, left.size());
            } else if (!left.isEmpty()) {
                fail("the case runner ended without reporting " + left.size() + " cases");
            }
            pending = new ArrayList<>(left);
        }
        List<String> wrong = new ArrayList<>();
        for (BadInputCase c : cases) {
            Outcome o = results.get(c.name());
            if (o.type().equals("CRASH")) {
                continue;
            }
            if (c.expectedType().equals(BadInputCorpus.TYPED)) {
                if (!o.type().equals("OK") && !isTyped(o.type())) {
                    wrong.add(c.name() + ": expected a typed exception or success, got " + o.type() + " '"
                            + o.message() + "'");
                }
            } else if (!o.type().equals(c.expectedType()) || !o.message().contains(c.expectedFragment())) {
                wrong.add(c.name() + ": expected " + c.expectedType() + " '" + c.expectedFragment() + "', got "
                        + o.type() + " '" + o.message() + "'");
            }
        }
        System.out.printf("bad-input corpus (%s): %d cases, %d JVM crashes, %d wrong exceptions or messages%n",
                System.getProperty("taskvec.corpus", "fast"), cases.size(), crashes.size(), wrong.size());
        crashes.forEach(x -> System.out.println("  crash: " + x));
        wrong.forEach(x -> System.out.println("  wrong: " + x));
        assertEquals(List.of(), crashes, "JVM crashes");
        assertEquals(List.of(), wrong, "wrong exceptions or messages");
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
}
