package org.taskvec.xpatch;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;
import org.taskvec.engine.Model;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.tasks.TaskData;

class ProgressTest {
    private static final Pattern LINE = Pattern.compile("^(\\d+)/(\\d+) \\((\\d+)%\\) elapsed (\\d+:\\d\\d) ETA (\\d+:\\d\\d) - .*");

    static Model model;
    static Session session;

    @BeforeAll
    static void load() {
        model = TestModels.loadTinyWithProjector();
        session = model.newSession(SessionParams.defaults().withContextSize(1024).withThreads(TestModels.threads()));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** A clock that advances by step nanoseconds each time it is read. */
    static java.util.function.LongSupplier clock(long step) {
        long[] t = {0};
        return () -> t[0] += step;
    }

    @Test
    void theLineNeverPassesTheTotal() {
        List<String> lines = new ArrayList<>();
        Progress p = new Progress(5, ProgressOutput.inPlace(lines::add, () -> { }), clock(1_000_000_000L));
        for (int i = 0; i < 8; i++) {
            p.step("step " + i);
        }
        assertEquals(5, p.done());
        assertEquals(3, p.overrun(), "steps past the total are counted apart");
        assertEquals(5, lines.size(), "one line a second on a terminal, none past the total");
        for (String l : lines) {
            Matcher m = LINE.matcher(l);
            assertTrue(m.matches(), l);
            assertTrue(Long.parseLong(m.group(1)) <= 5 && Long.parseLong(m.group(3)) <= 100, l);
        }
        assertTrue(lines.get(4).startsWith("5/5 (100%) elapsed 0:05 ETA 0:00 - step 4"), lines.get(4));
        assertEquals("5/5 (100%) elapsed 0:10 ETA 0:00 - x", Progress.line(7, 5, 10, "x"), "clamped");
        assertEquals("0:00", Progress.clock(-6));
    }

    @Test
    void offATerminalPlainLinesComeOncePerTenthOrHalfMinute() {
        List<String> lines = new ArrayList<>();
        Progress fast = new Progress(1000, ProgressOutput.lines(lines::add), clock(1_000_000L));
        for (int i = 0; i < 1000; i++) {
            fast.step("s");
        }
        assertEquals(10, lines.size(), String.join("\n", lines));
        for (int k = 1; k <= 10; k++) {
            assertTrue(lines.get(k - 1).startsWith(k * 100 + "/1000 (" + k * 10 + "%)"), lines.get(k - 1));
        }
        // slow steps (10 s each): a line 30 s after the last one besides the tenths, i.e. at 3, 6, 9 and 10 steps
        // into every tenth: 40 lines for 1000 s of work
        lines.clear();
        Progress slow = new Progress(100, ProgressOutput.lines(lines::add), clock(10_000_000_000L));
        for (int i = 0; i < 100; i++) {
            slow.step("s");
        }
        assertEquals(40, lines.size(), String.join("\n", lines));
        assertTrue(lines.get(0).startsWith("3/100 (3%) elapsed 0:30 ETA 16:10"), lines.get(0));
        // a stream that is not a terminal gets whole lines and no carriage return
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream ps = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        Progress plain = new Progress(50, ProgressOutput.stream(ps, "[xpatch] ", false), clock(1_000_000L));
        for (int i = 0; i < 50; i++) {
            plain.step("s");
        }
        plain.finish();
        String text = bytes.toString(StandardCharsets.UTF_8);
        assertFalse(text.contains("\r"), text);
        assertEquals(10, text.lines().count(), text);
        assertTrue(text.endsWith("[xpatch] 50/50 (100%) elapsed 0:00 ETA 0:00 - s" + System.lineSeparator()), text);
        // a terminal gets the line rewritten in place and a newline at the end
        bytes.reset();
        Progress term = new Progress(3, ProgressOutput.stream(ps, "[xpatch] ", true), clock(1_000_000_000L));
        for (int i = 0; i < 3; i++) {
            term.step("s");
        }
        term.finish();
        assertEquals(3, bytes.toString(StandardCharsets.UTF_8).chars().filter(c -> c == '\r').count());
    }

    /** The planned total is the number of steps a run really takes, every variant and analysis included. */
    @Test
    void theTotalCountsEveryStepOfARun(@TempDir Path tmp) throws Exception {
        TaskData task = VectorCacheTest.task(tmp.resolve("images"), "Athens");
        // every condition but LLM->VLM, the layer sweep, the lens analyses and the sample-efficiency scan
        XpatchConfig config = new XpatchConfig(List.of("capitals"), Condition.withoutSecondModel(), -1,
                List.of(1, 2), 2, 1, true, true, 1, 2, null)
                // one test item: the Examples Prompt conditions draw their examples from the validation split
                .withProcedure(XpatchConfig.Procedure.OFFICIAL.withPromptExamples(XpatchConfig.ExampleSplit.VAL));
        List<String> lines = new ArrayList<>();
        XpatchRunner runner = new XpatchRunner(model, session, config, lines::add, null);
        XpatchResults r = runner.run(List.of(task));
        Progress p = runner.progress();
        // extraction: 2 seeds x (text, image) + instruction = 5; sweep: 4 layers x 4 val items x 2 seeds = 32; lens:
        // text and image = 2; scan: 1 + (1 + 2 x 4 rounds) x 1 test item = 10; test: 9 conditions x 2 seeds x 1 item
        assertEquals(5 + 32 + 2 + 10 + 18, p.total());
        assertEquals(p.total(), p.done());
        assertEquals(0, p.overrun(), "no step past the total");
        assertTrue(lines.get(lines.size() - 1).startsWith("67/67 (100%)"), lines.get(lines.size() - 1));
        // predictions: sweep 32, scan 9, test conditions 18
        assertEquals(32 + 9 + 18, r.predictions());
        for (String l : lines) {
            assertFalse(l.contains("\r"), l);
        }
        assertTrue(lines.size() <= 11, "about one line per tenth: " + lines);
    }
}
