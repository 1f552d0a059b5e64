package org.taskvec.xpatch;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.Model;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.LogitLens;
import org.taskvec.hooks.RunResult;
import org.taskvec.tasks.Correctness;
import org.taskvec.tasks.IclPrompts;
import org.taskvec.tasks.Modality;
import org.taskvec.tasks.TaskData;
import org.taskvec.tasks.TaskItem;
import org.taskvec.tasks.TaskLoader;

/**
 * The procedure details the official code does differently from this project's first version, each tested on the
 * generated tiny model: the layer sweep averages over the seeds, the Examples Prompt conditions draw their examples
 * from the other test items, the sample-efficiency scan lower-cases, and the logit lens tracks the tokens that follow
 * "A:". Each test runs the default configuration ({@link XpatchConfig.Procedure#OFFICIAL}) and would fail with
 * {@link XpatchConfig.Procedure#EARLIER}, the earlier behaviour.
 */
class XpatchProcedureTest {
    static Model model;
    static Session session;
    static XpatchContext cx;

    @BeforeAll
    static void load() {
        model = TestModels.loadTinyWithProjector();
        session = model.newSession(SessionParams.defaults().withContextSize(1024).withThreads(TestModels.threads())
                .withKvCacheType(SessionParams.KvCacheType.F32).withFlashAttention(SessionParams.FlashAttention.OFF));
        cx = new XpatchContext(model, session);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** food-color items (with their emoji images) relabelled: every output is label. */
    static List<TaskItem> relabel(List<TaskItem> items, int n, String label) {
        List<TaskItem> out = new ArrayList<>();
        for (TaskItem it : items.subList(0, n)) {
            out.add(new TaskItem(it.input(), label, it.image()));
        }
        return out;
    }

    static XpatchConfig config(String task, List<Condition> conditions, int layer, List<Integer> seeds, int examples,
                               int maxTest) {
        return new XpatchConfig(List.of(task), conditions, layer, seeds, examples, 1, true, true, maxTest, 0, null);
    }

    /**
     * Point 1. With one example per prompt the task vector (read at the ":" before that example's answer) does not
     * depend on the labels, so the labels can be chosen freely: "w" makes the prediction " white" correct. The
     * expected sweep is computed here query by query with every seed's vector; the runner's sweep must be the mean
     * over the seeds, and so must its chosen layer. On the tiny model the first seed alone ties layers 2 and 3
     * (4/4) and picks 2, while seed 2 gets 3/4 at layer 2, so the mean over the seeds picks layer 3.
     */
    @Test
    void theLayerSweepAveragesTheAccuracyOverTheSeeds() {
        TaskData base = TaskLoader.builtin("food-color");
        TaskData task = new TaskData("sweep", base.instruction(), relabel(base.val(), 4, "w"), base.test(),
                base.imageRoot(), "test");
        List<Integer> seeds = List.of(1, 2, 3);
        int nLayer = model.layers();
        double[][] expected = new double[seeds.size()][nLayer];
        for (int s = 0; s < seeds.size(); s++) {
            float[][] v = TaskVectors.fromExamples(cx, task, Modality.TEXT, 1, seeds.get(s));
            for (int l = 0; l < nLayer; l++) {
                int correct = 0;
                for (TaskItem item : task.val()) {
                    var p = IclPrompts.query(item, Modality.IMAGE, it -> cx.image(task, it));
                    correct += Correctness.correct(Predictor.predict(cx, p, v[l], l, 1), item.output(), true) ? 1 : 0;
                }
                expected[s][l] = (double) correct / task.val().size();
            }
        }
        double[] mean = new double[nLayer];
        for (int l = 0; l < nLayer; l++) {
            for (int s = 0; s < seeds.size(); s++) {
                mean[l] += expected[s][l] / seeds.size();
            }
        }
        int meanBest = argmaxLowest(mean);
        int firstBest = argmaxLowest(expected[0]);
        assertNotEquals(firstBest, meanBest, "the data must tell the two sweeps apart: first seed "
                + java.util.Arrays.toString(expected[0]) + ", mean " + java.util.Arrays.toString(mean));

        XpatchConfig config = config(task.name(), List.of(Condition.NO_CONTEXT), -1, seeds, 1, 1);
        assertEquals(XpatchConfig.SweepSeeds.MEAN, config.procedure().sweepSeeds(), "the default");
        XpatchResults r = new XpatchRunner(model, session, config, null, null).run(List.of(task));
        for (int l = 0; l < nLayer; l++) {
            assertEquals(mean[l], r.sweep().get(l), 1e-9, "layer " + l + ": the mean over the seeds");
        }
        assertEquals(meanBest, r.chosenLayer());
        assertEquals(Set.copyOf(seeds), r.sweepPerSeed().keySet());
        for (int s = 0; s < seeds.size(); s++) {
            for (int l = 0; l < nLayer; l++) {
                assertEquals(expected[s][l], r.sweepPerSeed().get(seeds.get(s)).get(l), 1e-9);
            }
        }

        // the earlier behaviour, still available: the first seed's vector only
        XpatchResults first = new XpatchRunner(model, session, config.withProcedure(config.procedure()
                .withSweepSeeds(XpatchConfig.SweepSeeds.FIRST)), null, null).run(List.of(task));
        assertEquals(firstBest, first.chosenLayer());
        for (int l = 0; l < nLayer; l++) {
            assertEquals(expected[0][l], first.sweep().get(l), 1e-9);
        }
        assertEquals(Set.of(1), first.sweepPerSeed().keySet());
    }

    private static int argmaxLowest(double[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            best = v[i] > v[best] ? i : best;
        }
        return best;
    }

    /**
     * Point 2. The examples of the Examples Prompt conditions are other test items (never the query), as the official
     * code's test-mode dataset draws them from its own split; the draw is reproducible from (seed, query).
     */
    @Test
    void examplesPromptsDrawTheirExamplesFromTheOtherTestItems() {
        TaskData task = TaskLoader.builtin("food-color");
        Set<TaskItem> test = new HashSet<>(task.test());
        Set<String> testInputs = new HashSet<>(task.test().stream().map(TaskItem::input).toList());
        XpatchConfig config = config(task.name(), List.of(Condition.TEXT_EXAMPLES_PROMPT,
                Condition.IMAGE_EXAMPLES_PROMPT), 1, List.of(1, 2), 3, 6);
        assertEquals(XpatchConfig.ExampleSplit.TEST, config.procedure().promptExamples(), "the default");
        XpatchResults r = new XpatchRunner(model, session, config, null, null).run(List.of(task));
        Map<Integer, Map<String, List<String>>> drawn = r.promptExamples().get(task.name());
        assertEquals(Set.of(1, 2), drawn.keySet());
        for (int seed : List.of(1, 2)) {
            assertEquals(6, drawn.get(seed).size(), "one draw per test query");
            for (int i = 0; i < 6; i++) {
                String query = task.test().get(i).input();
                List<String> examples = drawn.get(seed).get(query);
                assertEquals(3, examples.size());
                assertEquals(3, Set.copyOf(examples).size(), "distinct examples");
                assertFalse(examples.contains(query), "the query is never its own example");
                assertTrue(testInputs.containsAll(examples), "examples from the test split: " + examples);
                // what the runner drew is what the draw gives, every time
                assertEquals(examples, XpatchRunner.promptExamples(task, i, 3, seed, XpatchConfig.ExampleSplit.TEST)
                        .stream().map(TaskItem::input).toList());
            }
        }
        assertNotEquals(drawn.get(1), drawn.get(2), "another seed, other draws");
        // every query of the split gets other test items, also past --max-test
        for (int i = 0; i < task.test().size(); i++) {
            List<TaskItem> ex = XpatchRunner.promptExamples(task, i, 5, 3, XpatchConfig.ExampleSplit.TEST);
            assertTrue(test.containsAll(ex));
            assertFalse(ex.contains(task.test().get(i)));
        }
        // the earlier behaviour, still available: validation items
        Set<TaskItem> val = new HashSet<>(task.val());
        for (int i = 0; i < 6; i++) {
            assertTrue(val.containsAll(XpatchRunner.promptExamples(task, i, 5, 1, XpatchConfig.ExampleSplit.VAL)));
        }
        // a test split too small for the draw is refused before any work, with the way out
        TaskData small = new TaskData("small", task.instruction(), task.val(), task.test().subList(0, 3),
                task.imageRoot(), "test");
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> new XpatchRunner(model, session,
                config("small", List.of(Condition.TEXT_EXAMPLES_PROMPT), 1, List.of(1), 3, 0), null, null)
                .run(List.of(small)));
        assertEquals("task small has 3 test items; prompts with 3 examples from the other test items need 4 (or "
                + "draw them from the validation split: --prompt-examples-from val)", e.getMessage());
    }

    /**
     * Point 3. At the last layer the patched residual alone decides the prediction, so every query patched with the
     * instruction vector gets the same one (" China" on the tiny model); the test labels are that word upper-cased.
     * The scan (n = 0 is the instruction alone) lower-cases both sides as the official scan does: all correct; the
     * main metric stays case-sensitive as in the official main runs: Instruction Patch none correct.
     */
    @Test
    void theSampleEfficiencyScanLowerCasesAndTheMainMetricDoesNot() {
        TaskData base = TaskLoader.builtin("food-color");
        int last = model.layers() - 1;
        float[] inst = TaskVectors.fromInstruction(cx, base.instruction())[last];
        String word = Predictor.predict(cx, IclPrompts.query(base.test().get(0), Modality.IMAGE,
                it -> cx.image(base, it)), inst, last, 1).strip();
        String label = word.toUpperCase(java.util.Locale.ROOT);
        assertNotEquals(word, label, "the prediction must have lower-case letters: '" + word + "'");
        TaskData task = new TaskData("case", base.instruction(), relabel(base.val(), 4, "x"),
                relabel(base.test(), 3, label), base.imageRoot(), "test");
        XpatchConfig config = config(task.name(), List.of(Condition.INSTRUCTION_PATCH, Condition.ENSEMBLE_PATCH),
                last, List.of(1), 1, 0);
        assertFalse(config.procedure().scanCaseSensitive(), "the default");
        XpatchResults r = new XpatchRunner(model, session, config, null, null).run(List.of(task));
        assertEquals(1.0, r.scan().get(0)[1], "instruction alone, lower-cased: every '" + word + "' matches '"
                + label + "'");
        assertEquals(0.0, r.accuracy(Condition.INSTRUCTION_PATCH, task.name()).getAsDouble(),
                "the main metric compares case");

        // the earlier behaviour, still available: a case-sensitive scan
        XpatchResults sensitive = new XpatchRunner(model, session, config.withProcedure(config.procedure()
                .withScanCaseSensitive(true)), null, null).run(List.of(task));
        assertEquals(0.0, sensitive.scan().get(0)[1]);
    }

    /**
     * Point 4, with the LLaMA SentencePiece vocabulary of the generated models. The lens reads the ":" of an
     * example's A:, where the model predicts the token that follows it; in a real prompt that token is not the
     * word's bare first token (" Paris", with SentencePiece's leading space) but the one after ":" ("Par"). For the
     * input, task and answer words, the lens token must be the token that follows A: in an evaluated prompt.
     */
    @Test
    void lensTokensAreTheTokensThatFollowTheColonInAPrompt() {
        TaskData capitals = TaskLoader.builtin("country-capital");
        List<String> words = new ArrayList<>(List.of(Analyses.INPUT_TOKEN, "Paris", "Athens", "Canis lupus"));
        words.addAll(new java.util.TreeSet<>(Analyses.TASK_TOKENS.values()));
        int differ = 0;
        for (String w : words) {
            // a two-example prompt whose last example's answer is w, then a query; as llama.cpp evaluates it
            List<TaskItem> examples = List.of(capitals.val().get(0), new TaskItem("France", w, null));
            var prompt = IclPrompts.build(examples, Modality.TEXT, capitals.val().get(1), Modality.TEXT, it -> null);
            session.truncate(0);
            RunResult run = HookedRun.run(session, prompt, Hooks.create().capture("blocks.0.resid_post",
                    IclPrompts.taskVectorPosition(true)));
            int pos = run.captures().get(0).positions()[0];
            int next = run.layout()[pos + 1];
            int lens = Analyses.lensToken(model, w, XpatchConfig.Procedure.OFFICIAL.lensTokens());
            assertEquals(next, lens, "'" + w + "': the lens token '" + model.tokenText(lens)
                    + "' is the token after A: ('" + model.tokenText(next) + "')");
            int bare = Analyses.lensToken(model, w, XpatchConfig.LensTokens.BARE);
            differ += bare != next ? 1 : 0;
        }
        assertEquals(" Paris", model.tokenText(Analyses.lensToken(model, "Paris", XpatchConfig.LensTokens.BARE)),
                "the earlier choice: the bare word's first token");
        assertEquals("Par", model.tokenText(Analyses.lensToken(model, "Paris", XpatchConfig.LensTokens.AFTER_COLON)));
        assertEquals(words.size(), differ, "with SentencePiece every bare first token has the leading space");
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> Analyses.lensToken(model, "", XpatchConfig.LensTokens.AFTER_COLON));
        assertTrue(e.getMessage().contains("non-empty word"), e.getMessage());
    }

    /** The phases track the answer token that follows the last example's A: in each prompt. */
    @Test
    void thePhasesTrackTheAnswerTokenOfThePrompt() {
        TaskData task = TaskLoader.builtin("country-capital");
        Analyses.Phases ph = Analyses.phases(cx, task, Modality.TEXT, 3, 1, XpatchConfig.Procedure.OFFICIAL
                .lensTokens());
        // the same prompt as phases' first: query val[0], 3 examples drawn with seed 1
        var prompt = IclPrompts.build(TaskVectors.examplesFor(task.val(), 0, 3, 1), Modality.TEXT, task.val().get(0),
                Modality.TEXT, it -> null);
        session.truncate(0);
        int nLayer = model.layers();
        RunResult run = HookedRun.run(session, prompt, Hooks.create().captureLayers("resid_post", nLayer,
                IclPrompts.taskVectorPosition(true)));
        int pos = run.captures().get(0).positions()[0];
        int answer = run.layout()[pos + 1];
        int input = Analyses.tokenAfter(model, "A:", Analyses.INPUT_TOKEN);
        int taskTok = Analyses.tokenAfter(model, "A:", "capital");
        float[][] v = new float[nLayer][];
        for (int l = 0; l < nLayer; l++) {
            v[l] = run.captures().get(l).last();
        }
        List<LogitLens.Reading> readings = LogitLens.read(model, v);
        for (int l = 0; l < nLayer; l++) {
            double pi = readings.get(l).probability(input);
            double pt = readings.get(l).probability(taskTok);
            double pa = readings.get(l).probability(answer);
            double sum = pi + pt + pa;
            assertEquals(pa / sum, ph.answer()[l], 1e-5, "layer " + l);
            assertEquals(pt / sum, ph.task()[l], 1e-5, "layer " + l);
            assertEquals(pi / sum, ph.input()[l], 1e-5, "layer " + l);
        }
        Analyses.Phases bare = Analyses.phases(cx, task, Modality.TEXT, 3, 1, XpatchConfig.LensTokens.BARE);
        assertFalse(java.util.Arrays.equals(ph.answer(), bare.answer()), "other tokens, other probabilities");
    }
}
