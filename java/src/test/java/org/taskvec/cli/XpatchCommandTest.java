package org.taskvec.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;
import org.taskvec.engine.CacheFolder;
import org.taskvec.engine.Image;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.tasks.Correctness;
import org.taskvec.tasks.IclPrompts;
import org.taskvec.tasks.Modality;
import org.taskvec.tasks.TaskData;
import org.taskvec.tasks.TaskItem;
import org.taskvec.tasks.TaskLoader;
import org.taskvec.xpatch.TaskVectors;

/**
 * The xpatch command on the generated tiny model (random weights). Every run uses a cache folder of its own (the
 * system property taskvec.cache.dir), never the user's. Counts are exact; accuracies and cosines are checked against
 * an independent computation through the Java API, or against data built from the model's own answers.
 */
class XpatchCommandTest {
    @TempDir
    Path cache;
    private String previousCache;

    @BeforeEach
    void ownCacheFolder() {
        previousCache = System.getProperty(CacheFolder.PROPERTY);
        System.setProperty(CacheFolder.PROPERTY, cache.toString());
    }

    @AfterEach
    void restoreCacheFolder() {
        if (previousCache == null) {
            System.clearProperty(CacheFolder.PROPERTY);
        } else {
            System.setProperty(CacheFolder.PROPERTY, previousCache);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private long cachedVectors() throws Exception {
        Path dir = cache.resolve("vectors");
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(f -> f.toString().endsWith(".npy")).count();
        }
    }

    private static SessionParams cliSession() {
        return SessionParams.defaults().withContextSize(4096).withThreads(TestModels.threads());
    }

    /** The greedy next token of a prompt, patched with vector at layer (or plain), computed afresh. */
    private static String predict(Session s, Prompt p, float[] vector, int layer) {
        s.truncate(0);
        if (vector == null) {
            s.evaluate(p);
        } else {
            HookedRun.run(s, p, Hooks.create().replace("blocks." + layer + ".resid_post", IclPrompts.patchPosition(),
                    vector));
        }
        float[] logits = s.logits();
        int best = 0;
        for (int t = 1; t < logits.length; t++) {
            best = logits[t] > logits[best] ? t : best;
        }
        return s.model().tokenText(best);
    }

    private static double cosine(float[] a, float[] b) {
        double ab = 0;
        double aa = 0;
        double bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return ab / Math.sqrt(aa * bb);
    }

    /** Lines of the progress output (stderr): whole lines, no carriage return, about one per tenth of the work. */
    private static void assertPlainProgress(CliTest.Run r, JsonNode results) {
        assertEquals(null, System.console(), "the tests run without a terminal");
        assertFalse(r.err().contains("\r"), r.err());
        long lines = r.err().lines().filter(l -> l.startsWith("[xpatch] ")).count();
        double seconds = results.get("timing").get("seconds").asDouble();
        assertTrue(lines >= 1 && lines <= 10 + (long) (seconds / 30) + 1, lines + " lines in " + seconds + " s");
        List<String> progress = r.err().lines().filter(l -> l.startsWith("[xpatch] ")).toList();
        String last = progress.get(progress.size() - 1);
        assertTrue(last.matches("\\[xpatch] (\\d+)/\\1 \\(100%\\) .*"), last);
    }

    @Test
    void everyTaskAndConditionRunsWithASecondModel(@TempDir Path out) throws Exception {
        CliTest.Run r = CliTest.run("xpatch", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString(), "--llm", TestModels.tinyLlm().toString(), "--seeds", "1",
                "--max-test", "2", "--lens-prompts", "2", "--threads", String.valueOf(TestModels.threads()),
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode j = JSON.readTree(out.resolve("results.json").toFile());
        // 10 conditions x 6 tasks x 1 seed
        assertEquals(60, j.get("rows").size());
        assertEquals(10, j.get("summary").size());
        assertEquals(6, j.get("llm_vlm_cosine").size());
        // the tiny projector is LLaVA-1.5's 'mlp': one image per context, so the three image-example conditions are
        // not applicable; every other row counts the 2 test items
        int applicable = 0;
        for (JsonNode row : j.get("rows")) {
            boolean imageExamples = row.get("condition").asText().startsWith("image-");
            assertEquals(!imageExamples, row.get("applicable").asBoolean(), row.toString());
            if (!imageExamples) {
                applicable++;
                assertEquals(2, row.get("total").asInt(), row.toString());
            }
        }
        assertEquals(7 * 6, applicable);
        // predictions: sweep 4 layers x 30 val items x 6 tasks = 720; test 6 patched or plain conditions + xBase,
        // x 2 items x 6 tasks = 84; sample-efficiency scan (1 + 2 x 6 rounds) x 2 items x 6 tasks = 156
        assertEquals(720 + 84 + 156, j.get("timing").get("predictions").asLong());
        // vectors: LLM text, VLM text, instruction for each task; all written to this test's cache folder
        assertEquals(18, j.get("timing").get("vectors_extracted").asInt());
        assertEquals(0, j.get("timing").get("vectors_from_cache").asInt());
        assertEquals(18, cachedVectors(), "the vectors went to the test's own cache folder");
        for (String task : org.taskvec.tasks.PaperTasks.NAMES) {
            assertTrue(Files.size(out.resolve("lens-" + task + ".png")) > 0, task);
        }
        assertPlainProgress(r, j);
    }

    @Test
    void aRuntimeThatCannotDrawChartsStillWritesTheResultsAndSaysWhy(@TempDir Path out) throws Exception {
        // as on the GPU machine: a jlink'ed runtime whose libfontmanager.so lacks libharfbuzz.so.0
        String why = "libfontmanager.so: libharfbuzz.so.0: cannot open shared object file";
        System.setProperty("taskvec.test.chartsUnavailable", why);
        CliTest.Run r;
        try {
            r = CliTest.run("xpatch", "--model", TestModels.tinyModel().toString(), "--mmproj",
                    TestModels.tinyProjector().toString(), "--tasks", "food-color", "--seeds", "1", "--max-test", "2",
                    "--lens-prompts", "2", "--threads", String.valueOf(TestModels.threads()), "--out", out.toString());
        } finally {
            System.clearProperty("taskvec.test.chartsUnavailable");
        }
        assertEquals(0, r.code(), r.err());
        for (String f : new String[] {"results.json", "results.csv", "report.md"}) {
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        }
        try (Stream<Path> files = Files.list(out)) {
            assertEquals(List.of(), files.filter(f -> f.toString().endsWith(".png")).toList(), "no figure drawn");
        }
        String report = Files.readString(out.resolve("report.md"));
        assertTrue(report.contains("Figures not drawn: this Java runtime cannot draw charts (UnsatisfiedLinkError: "
                + why + ")"), report);
        assertFalse(report.contains(".png"), "no link to a figure that was not drawn");
        assertTrue(report.contains("## Layer sweep") && report.contains("## Sample efficiency"), report);
        assertEquals(1, r.err().split("figures not drawn", -1).length - 1, "said once on stderr: " + r.err());
        assertEquals(4, JSON.readTree(out.resolve("results.json").toFile()).get("layer_sweep_val_accuracy").size());
    }

    @Test
    void aSmallRunOnTheTinyModelWritesEveryOutputFile(@TempDir Path out) throws Exception {
        String[] args = {"xpatch", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString(), "--tasks", "country-capital,food-color", "--seeds", "2",
                "--max-test", "3", "--lens-prompts", "4", "--threads", String.valueOf(TestModels.threads()),
                "--out", out.toString()};
        CliTest.Run r = CliTest.run(args);
        assertEquals(0, r.code(), r.err());
        for (String f : new String[] {"results.json", "results.csv", "report.md", "layer-sweep.png",
                "lens-country-capital.png", "lens-food-color.png", "geometry.png", "sample-efficiency.png"}) {
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        }
        JsonNode j = JSON.readTree(out.resolve("results.json").toFile());
        JsonNode sweep = j.get("layer_sweep_val_accuracy");
        assertEquals(4, sweep.size(), "one sweep entry per layer");
        // the chosen layer is the sweep's best, the lowest on ties
        int best = 0;
        for (int l = 1; l < 4; l++) {
            best = sweep.get(String.valueOf(l)).asDouble() > sweep.get(String.valueOf(best)).asDouble() ? l : best;
        }
        int layer = j.get("chosen_layer").asInt();
        assertEquals(best, layer, sweep.toString());
        // 9 conditions x 2 tasks x 2 seeds
        assertEquals(36, j.get("rows").size());
        for (JsonNode row : j.get("rows")) {
            boolean imageExamples = row.get("condition").asText().startsWith("image-");
            assertEquals(!imageExamples, row.get("applicable").asBoolean(), row.toString());
            assertEquals(layer, row.get("layer").asInt());
            if (row.get("applicable").asBoolean()) {
                assertEquals(3, row.get("total").asInt());
                assertEquals(row.get("correct").asInt() / 3.0, row.get("accuracy").asDouble(), 0.0, row.toString());
            }
        }
        // the summary is the mean over seeds, its average the mean over tasks
        for (String c : List.of("no-context", "text-examples-patch", "text-examples-prompt", "ensemble-patch")) {
            double sum = 0;
            for (String t : List.of("country-capital", "food-color")) {
                double mean = 0;
                for (JsonNode row : j.get("rows")) {
                    if (row.get("condition").asText().equals(c) && row.get("task").asText().equals(t)) {
                        mean += row.get("accuracy").asDouble() / 2;
                    }
                }
                assertEquals(mean, j.get("summary").get(c).get(t).asDouble(), 1e-12, c + " " + t);
                sum += mean;
            }
            assertEquals(sum / 2, j.get("summary").get(c).get("average").asDouble(), 1e-12, c);
        }
        // predictions: sweep 4 layers x 30 val items x 2 seeds (mean over seeds) x 2 tasks = 480; test (5 patched or
        // plain conditions x 2 seeds + xBase x 2 seeds) x 3 items x 2 tasks = 72; scan (1 + 2 x 6 rounds) x 3 items
        // x 2 tasks = 78
        assertEquals(480 + 72 + 78, j.get("timing").get("predictions").asLong());
        assertEquals(6, j.get("timing").get("vectors_extracted").asInt(), "2 text seeds + instruction, 2 tasks");
        assertEquals(6, cachedVectors());
        JsonNode phases = j.get("logit_lens_phases").get("country-capital").get("text");
        assertEquals(4, phases.get("prompts").asInt());
        for (int l = 0; l < 4; l++) {
            double sum = phases.get("input").get(l).asDouble() + phases.get("task").get(l).asDouble()
                    + phases.get("answer").get(l).asDouble();
            assertEquals(1.0, sum, 1e-6, "relative probabilities sum to one at layer " + l);
        }
        // the reported cosine is the one of the two vectors computed here through the Java API
        double cos = j.get("cosine_between_specifications").get("food-color").get("text ~ instruction").asDouble();
        try (Model m = TestModels.loadTinyWithProjector(); Session s = m.newSession(cliSession())) {
            TaskData food = TaskLoader.builtin("food-color");
            float[] text = TaskVectors.fromExamples(s, food, Modality.TEXT, 5, 1).forLayer(layer);
            float[] inst = TaskVectors.fromInstruction(s, food.instruction()).forLayer(layer);
            assertEquals(cosine(text, inst), cos, 1e-4);
        }
        // sample efficiency: n = 0 (instruction only), 5, ..., 30
        JsonNode scan = j.get("sample_efficiency");
        assertEquals(7, scan.size());
        assertFalse(scan.get("0").has("examples"));
        assertTrue(scan.get("30").has("examples") && scan.get("30").has("ensemble"));
        // 2 tasks x (2 text seeds + instruction) points
        assertEquals(6, j.get("geometry_2d").size());
        assertNotNull(ImageIO.read(out.resolve("geometry.png").toFile()), "geometry.png is a readable PNG");
        String report = Files.readString(out.resolve("report.md"));
        assertTrue(report.contains("| condition | Capital | Color | **Avg** |"), report);
        assertTrue(report.contains("Text Examples Patch (xPatch)"), report);
        assertTrue(report.contains("not applicable"), report);
        assertTrue(report.contains("Deviations from the paper"), report);
        assertEquals(1 + 36, Files.readAllLines(out.resolve("results.csv")).size());
        assertTrue(r.out().contains("Text Examples Prompt (xBase)"), r.out());
        assertPlainProgress(r, j);

        // the same run again: every vector from the cache, the same results
        Path out2 = out.resolve("again");
        args[args.length - 1] = out2.toString();
        CliTest.Run again = CliTest.run(args);
        assertEquals(0, again.code(), again.err());
        JsonNode j2 = JSON.readTree(out2.resolve("results.json").toFile());
        assertEquals(0, j2.get("timing").get("vectors_extracted").asInt());
        assertEquals(6, j2.get("timing").get("vectors_from_cache").asInt());
        assertEquals(j.get("rows"), j2.get("rows"), "identical inputs, identical results");
        assertEquals(j.get("layer_sweep_val_accuracy"), j2.get("layer_sweep_val_accuracy"));
        assertTrue(again.out().contains("task vectors: 0 extracted, 6 from the cache"), again.out());
    }

    private static void png(Path file, int rgb) throws Exception {
        Files.createDirectories(file.getParent());
        BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
                img.setRGB(x, y, (x + y) % 8 < 4 ? rgb : rgb ^ 0xffffff);
            }
        }
        ImageIO.write(img, "png", file.toFile());
    }

    private static String record(String input, String output, String image) throws Exception {
        return JSON.writeValueAsString(java.util.Map.of("input", input, "output", output, "image", image));
    }

    /**
     * Data laid out as the official download_data.sh leaves it (annotations in {"data": [...]} form, image paths
     * relative to the data folder), with labels taken from the model's own answers: two of the four test images are
     * labelled with what the model answers to the bare image query, so No Context scores exactly 2/4; text-examples
     * patching is checked against the same patch computed through the Java API.
     */
    @Test
    void accuraciesOnDataLabelledWithTheModelsOwnAnswers(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("data");
        String[] inputs = {"Amber", "Birch", "Cedar", "Dune", "Ember", "Fjord", "Glade", "Heath", "Islet", "Jade"};
        int[] colours = {0xd4a017, 0x8b5a2b, 0x2e8b57, 0xc2b280, 0xff4500, 0x1e90ff, 0x7cfc00, 0x9370db, 0x20b2aa,
                0x00a86b};
        List<TaskItem> items = new ArrayList<>();
        for (int i = 0; i < inputs.length; i++) {
            String image = "images/mine/" + inputs[i] + ".png";
            png(data.resolve(image), colours[i]);
            items.add(new TaskItem(inputs[i], "label" + i, image));
        }
        List<TaskItem> val = items.subList(0, 6);
        List<TaskItem> test = new ArrayList<>();
        List<String> answers = new ArrayList<>();
        try (Model m = TestModels.loadTinyWithProjector(); Session s = m.newSession(cliSession())) {
            for (int i = 6; i < 10; i++) {
                TaskItem it = items.get(i);
                Image img = Image.read(data.resolve(it.image()));
                String answer = predict(s, IclPrompts.query(it, Modality.IMAGE, x -> img), null, 0).strip();
                answers.add(answer);
                // the first two are labelled with the model's answer, the other two with a label it cannot match
                String label = i < 8 ? answer : "\u00a7never" + i;
                assertFalse(i < 8 && answer.isEmpty(), "the model answers " + it.input() + " with blank text");
                assertFalse(i >= 8 && Correctness.correct(answer, label, true));
                test.add(new TaskItem(it.input(), label, it.image()));
            }
        }
        Files.createDirectories(data.resolve("annotations"));
        StringBuilder v = new StringBuilder("{\"data\": [");
        for (int i = 0; i < val.size(); i++) {
            v.append(i == 0 ? "" : ",").append(record(val.get(i).input(), val.get(i).output(), val.get(i).image()));
        }
        Files.writeString(data.resolve("annotations/mine_val.json"), v.append("]}"));
        StringBuilder t = new StringBuilder("[");
        for (int i = 0; i < test.size(); i++) {
            t.append(i == 0 ? "" : ",").append(record(test.get(i).input(), test.get(i).output(), test.get(i).image()));
        }
        Files.writeString(data.resolve("annotations/mine_test.json"), t.append("]"));
        Files.writeString(data.resolve("annotations/mine_instruction.txt"), "The label of the thing:");

        Path out = tmp.resolve("out");
        CliTest.Run r = CliTest.run("xpatch", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString(), "--data", data.toString(), "--tasks", "mine", "--conditions",
                "no-context,text-examples-patch", "--layer", "1", "--seeds", "2", "--examples", "2",
                "--lens-prompts", "0", "--threads", String.valueOf(TestModels.threads()), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode j = JSON.readTree(out.resolve("results.json").toFile());
        assertEquals(4, j.get("rows").size(), "2 conditions x 2 seeds");
        TaskData task = TaskLoader.paperFormat(data, "mine");
        int[] patchedCorrect = new int[3];
        try (Model m = TestModels.loadTinyWithProjector(); Session s = m.newSession(cliSession())) {
            for (int seed = 1; seed <= 2; seed++) {
                float[] vec = TaskVectors.fromExamples(s, task, Modality.TEXT, 2, seed).forLayer(1);
                for (TaskItem it : task.test()) {
                    Image img = Image.read(task.imageOf(it));
                    String p = predict(s, IclPrompts.query(it, Modality.IMAGE, x -> img), vec, 1);
                    patchedCorrect[seed] += Correctness.correct(p, it.output(), true) ? 1 : 0;
                }
            }
        }
        for (JsonNode row : j.get("rows")) {
            assertEquals(4, row.get("total").asInt(), row.toString());
            int seed = row.get("seed").asInt();
            if (row.get("condition").asText().equals("no-context")) {
                assertEquals(2, row.get("correct").asInt(), "answers " + answers + ": " + row);
                assertEquals(0.5, row.get("accuracy").asDouble(), 0.0);
            } else {
                assertEquals(patchedCorrect[seed], row.get("correct").asInt(), row.toString());
            }
        }
        assertEquals(0.5, j.get("summary").get("no-context").get("average").asDouble(), 0.0);
        // 2 conditions x 2 seeds x 4 test items; vectors: text examples for 2 seeds
        assertEquals(16, j.get("timing").get("predictions").asLong());
        assertEquals(2, j.get("timing").get("vectors_extracted").asInt());
        assertEquals(2, cachedVectors());
    }

    @Test
    void llmToVlmTransferReportsCosines(@TempDir Path out) throws Exception {
        CliTest.Run r = CliTest.run("xpatch", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString(), "--llm", TestModels.tinyLlm().toString(), "--tasks",
                "food-color", "--conditions", "text-examples-patch,llm-vlm-patch", "--seeds", "1", "--layer", "2",
                "--max-test", "3", "--lens-prompts", "0", "--threads", String.valueOf(TestModels.threads()),
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode j = JSON.readTree(out.resolve("results.json").toFile());
        assertEquals(2, j.get("chosen_layer").asInt());
        assertEquals(0, j.get("layer_sweep_val_accuracy").size(), "a given layer is not swept");
        // the cosine between the two models' text-examples vectors at layer 2, computed here through the Java API
        double cos = j.get("llm_vlm_cosine").get("food-color").asDouble();
        TaskData food = TaskLoader.builtin("food-color");
        float[] vlm;
        float[] llm;
        try (Model m = TestModels.loadTinyWithProjector(); Session s = m.newSession(cliSession())) {
            vlm = TaskVectors.fromExamples(s, food, Modality.TEXT, 5, 1).forLayer(2);
        }
        try (Model m = Model.load(TestModels.tinyLlm()); Session s = m.newSession(cliSession())) {
            llm = TaskVectors.fromExamples(s, food, Modality.TEXT, 5, 1).forLayer(2);
        }
        assertEquals(cosine(llm, vlm), cos, 1e-4);
        assertTrue(Math.abs(cos) < 0.999, "different weights give different vectors: " + cos);
        assertEquals(2, j.get("timing").get("vectors_extracted").asInt(), "one per model");
        assertEquals(2, cachedVectors());
        assertTrue(Files.readString(out.resolve("report.md")).contains("LLM->VLM xPatch"));
        CliTest.Run bad = CliTest.run("xpatch", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString(), "--llm", TestModels.wideModel().toString(), "--tasks",
                "food-color", "--out", out.toString());
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("does not match the VLM"), bad.err());
    }

    @Test
    void theProcedureIsTheOfficialCodesUnlessFlagsAskForTheEarlierOne(@TempDir Path out) throws Exception {
        String[] common = {"xpatch", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString(), "--tasks", "food-color", "--conditions", "text-examples-prompt",
                "--layer", "1", "--seeds", "1", "--examples", "2", "--max-test", "2", "--lens-prompts", "0",
                "--threads", String.valueOf(TestModels.threads())};
        org.taskvec.tasks.TaskData task = org.taskvec.tasks.TaskLoader.builtin("food-color");
        java.util.Set<String> test = new java.util.HashSet<>(task.test().stream().map(t -> t.input()).toList());
        java.util.Set<String> val = new java.util.HashSet<>(task.val().stream().map(t -> t.input()).toList());

        Path official = out.resolve("official");
        CliTest.Run r = CliTest.run(concat(common, "--out", official.toString()));
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(official.resolve("results.json").toFile());
        JsonNode proc = j.get("config").get("procedure");
        assertEquals("mean", proc.get("sweep_seeds").asText());
        assertEquals("test", proc.get("prompt_examples_from").asText());
        assertFalse(proc.get("scan_case_sensitive").asBoolean());
        assertEquals("after-colon", proc.get("lens_tokens").asText());
        assertEquals("replace", proc.get("patch_mode").asText());
        assertTrue(proc.get("official").asBoolean());
        JsonNode drawn = j.get("prompt_examples").get("food-color").get("1");
        assertEquals(2, drawn.size());
        drawn.fields().forEachRemaining(e -> e.getValue().forEach(x -> {
            assertTrue(test.contains(x.asText()), x.asText());
            assertNotEquals(e.getKey(), x.asText());
        }));
        String report = Files.readString(official.resolve("report.md"));
        assertTrue(report.contains("Procedure (the official code's throughout)"), report);
        assertTrue(report.contains("other test items, never the query, drawn per seed (official; "
                + "`--prompt-examples-from test`)"), report);

        Path earlier = out.resolve("earlier");
        r = CliTest.run(concat(common, "--sweep-seeds", "first", "--prompt-examples-from", "val",
                "--scan-case-sensitive", "--lens-tokens", "bare", "--out", earlier.toString()));
        assertEquals(0, r.code(), r.err());
        j = new ObjectMapper().readTree(earlier.resolve("results.json").toFile());
        proc = j.get("config").get("procedure");
        assertEquals("first", proc.get("sweep_seeds").asText());
        assertEquals("val", proc.get("prompt_examples_from").asText());
        assertTrue(proc.get("scan_case_sensitive").asBoolean());
        assertEquals("bare", proc.get("lens_tokens").asText());
        assertFalse(proc.get("official").asBoolean());
        j.get("prompt_examples").get("food-color").get("1").forEach(ex -> ex.forEach(x ->
                assertTrue(val.contains(x.asText()), x.asText())));
        report = Files.readString(earlier.resolve("report.md"));
        assertTrue(report.contains("Procedure (differs from the official code where marked)"), report);
        assertTrue(report.contains("the first seed's vector only, seed 1 (deviation; `--sweep-seeds first`)"), report);
        assertTrue(report.contains("validation items, drawn per seed (deviation; `--prompt-examples-from val`)"),
                report);
        assertTrue(report.contains("case-sensitive (deviation; `--scan-case-sensitive`)"), report);
        assertTrue(report.contains("`--lens-tokens bare`"), report);

        CliTest.Run bad = CliTest.run(concat(common, "--sweep-seeds", "all", "--out", out.toString()));
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("--sweep-seeds must be one of [mean, first], not 'all'"), bad.err());
        bad = CliTest.run(concat(common, "--prompt-examples-from", "train", "--out", out.toString()));
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("--prompt-examples-from must be one of [test, val], not 'train'"), bad.err());
        bad = CliTest.run(concat(common, "--lens-tokens", "space", "--out", out.toString()));
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("--lens-tokens must be one of [after-colon, bare], not 'space'"), bad.err());
        bad = CliTest.run(concat(common, "--patch-mode", "blend", "--out", out.toString()));
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("--patch-mode must be one of [replace, add], not 'blend'"), bad.err());

        Path added = out.resolve("added");
        r = CliTest.run(concat(common, "--patch-mode", "add", "--out", added.toString()));
        assertEquals(0, r.code(), r.err());
        proc = new ObjectMapper().readTree(added.resolve("results.json").toFile()).get("config").get("procedure");
        assertEquals("add", proc.get("patch_mode").asText());
        assertFalse(proc.get("official").asBoolean());
        assertTrue(Files.readString(added.resolve("report.md")).contains("(deviation; `--patch-mode add`"));
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void badSettingsAreOneLineErrors(@TempDir Path out) {
        CliTest.Run r = CliTest.run("xpatch", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString(), "--conditions", "telepathy", "--out", out.toString());
        assertEquals(1, r.code());
        assertEquals("taskvec: error: unknown condition 'telepathy'; valid: [no-context, image-examples-prompt, "
                + "image-examples-patch, text-examples-prompt, text-examples-patch, text-text-patch, image-text-patch, "
                + "instruction-patch, ensemble-patch, llm-vlm-patch]", r.err().strip());
        CliTest.Run noProj = CliTest.run("xpatch", "--model", TestModels.tinyModel().toString(), "--out",
                out.toString());
        assertEquals(1, noProj.code());
        assertEquals("taskvec: error: image-query conditions need --mmproj", noProj.err().strip());
    }

    /**
     * The experiment through parallel sequences (variants forked from one prefix, queries side by side in one decode)
     * gives the sequential path's answers: on the shipped organism, where the answers carry signal, every row's count
     * correct and every layer's sweep accuracy are the same.
     */
    @Test
    void parallelSequencesGiveTheSequentialResults(@TempDir Path tmp) throws Exception {
        Path organism = Path.of("../organism");
        JsonNode[] runs = new JsonNode[2];
        String[] parallel = {"1", "6"};
        for (int i = 0; i < 2; i++) {
            Path out = tmp.resolve("p" + parallel[i]);
            CliTest.Run r = CliTest.run("xpatch", "--model", organism.resolve("model.gguf").toString(), "--mmproj",
                    organism.resolve("mmproj.gguf").toString(), "--tasks", "country-capital,food-flavor",
                    "--conditions", "no-context,text-examples-patch,image-text-patch", "--seeds", "1", "--max-test",
                    "12", "--lens-prompts", "0", "--parallel", parallel[i], "--threads",
                    String.valueOf(TestModels.threads()), "--out", out.toString());
            assertEquals(0, r.code(), r.err());
            runs[i] = JSON.readTree(out.resolve("results.json").toFile());
        }
        assertEquals(runs[0].get("layer_sweep_val_accuracy"), runs[1].get("layer_sweep_val_accuracy"), "layer sweep");
        assertEquals(runs[0].get("chosen_layer"), runs[1].get("chosen_layer"));
        assertEquals(runs[0].get("rows").size(), runs[1].get("rows").size());
        for (int k = 0; k < runs[0].get("rows").size(); k++) {
            assertEquals(runs[0].get("rows").get(k).get("correct"), runs[1].get("rows").get(k).get("correct"),
                    runs[0].get("rows").get(k).toString());
        }
        assertEquals(runs[0].get("timing").get("predictions"), runs[1].get("timing").get("predictions"));
    }
}
