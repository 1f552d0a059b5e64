package org.taskvec.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;

class XpatchCommandTest {
    @Test
    void everyTaskAndConditionRunsWithASecondModel(@TempDir Path out) throws Exception {
        CliTest.Run r = CliTest.run("xpatch", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString(), "--llm", TestModels.tinyLlm().toString(), "--seeds", "1",
                "--max-test", "2", "--lens-prompts", "2", "--threads", String.valueOf(TestModels.threads()),
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        // 10 conditions x 6 tasks x 1 seed
        assertEquals(60, j.get("rows").size());
        assertEquals(10, j.get("summary").size());
        assertEquals(6, j.get("llm_vlm_cosine").size());
        for (String task : org.taskvec.tasks.PaperTasks.NAMES) {
            assertTrue(Files.exists(out.resolve("lens-" + task + ".png")), task);
        }
    }

    @Test
    void aSmallRunOnTheTinyModelWritesEveryOutputFile(@TempDir Path out) throws Exception {
        CliTest.Run r = CliTest.run("xpatch", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString(), "--tasks", "country-capital,food-color", "--seeds", "2",
                "--max-test", "3", "--lens-prompts", "4", "--threads", String.valueOf(TestModels.threads()),
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        for (String f : new String[] {"results.json", "results.csv", "report.md", "layer-sweep.png",
                "lens-country-capital.png", "lens-food-color.png", "geometry.png", "sample-efficiency.png"}) {
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        }
        JsonNode j = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertEquals(4, j.get("layer_sweep_val_accuracy").size(), "one sweep entry per layer");
        int layer = j.get("chosen_layer").asInt();
        assertTrue(layer >= 0 && layer < 4);
        // 9 conditions x 2 tasks x 2 seeds
        assertEquals(36, j.get("rows").size());
        for (JsonNode row : j.get("rows")) {
            boolean imageExamples = row.get("condition").asText().startsWith("image-");
            assertEquals(!imageExamples, row.get("applicable").asBoolean(), row.toString());
            if (row.get("applicable").asBoolean()) {
                assertEquals(3, row.get("total").asInt());
                double acc = row.get("accuracy").asDouble();
                assertTrue(acc >= 0 && acc <= 1);
            }
        }
        assertTrue(j.get("timing").get("predictions").asLong() > 0);
        JsonNode phases = j.get("logit_lens_phases").get("country-capital").get("text");
        assertEquals(4, phases.get("prompts").asInt());
        for (int l = 0; l < 4; l++) {
            double sum = phases.get("input").get(l).asDouble() + phases.get("task").get(l).asDouble()
                    + phases.get("answer").get(l).asDouble();
            assertEquals(1.0, sum, 1e-6, "relative probabilities sum to one at layer " + l);
        }
        double cos = j.get("cosine_between_specifications").get("food-color").get("text ~ instruction").asDouble();
        assertTrue(cos >= -1 && cos <= 1);
        // sample efficiency: n = 0 (instruction only), 5, ..., 30
        JsonNode scan = j.get("sample_efficiency");
        assertEquals(7, scan.size());
        assertFalse(scan.get("0").has("examples"));
        assertTrue(scan.get("30").has("examples") && scan.get("30").has("ensemble"));
        // 2 tasks x (2 text seeds + instruction) points
        assertEquals(6, j.get("geometry_2d").size());
        javax.imageio.ImageIO.read(out.resolve("geometry.png").toFile()).getWidth();
        String report = Files.readString(out.resolve("report.md"));
        assertTrue(report.contains("| condition | Capital | Color | **Avg** |"), report);
        assertTrue(report.contains("Text Examples Patch (xPatch)"), report);
        assertTrue(report.contains("not applicable"), report);
        assertTrue(report.contains("Deviations from the paper"), report);
        assertEquals(1 + 36, Files.readAllLines(out.resolve("results.csv")).size());
        assertTrue(r.out().contains("Text Examples Prompt (xBase)"), r.out());
    }

    @Test
    void llmToVlmTransferReportsCosines(@TempDir Path out) throws Exception {
        CliTest.Run r = CliTest.run("xpatch", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString(), "--llm", TestModels.tinyLlm().toString(), "--tasks",
                "food-color", "--conditions", "text-examples-patch,llm-vlm-patch", "--seeds", "1", "--layer", "2",
                "--max-test", "3", "--lens-prompts", "0", "--threads", String.valueOf(TestModels.threads()),
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertEquals(2, j.get("chosen_layer").asInt());
        assertEquals(0, j.get("layer_sweep_val_accuracy").size(), "a given layer is not swept");
        double cos = j.get("llm_vlm_cosine").get("food-color").asDouble();
        assertTrue(cos > -1 && cos < 1, "different weights give different vectors: " + cos);
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
        assertTrue(r.err().contains("unknown condition 'telepathy'"), r.err());
        CliTest.Run noProj = CliTest.run("xpatch", "--model", TestModels.tinyModel().toString(), "--out",
                out.toString());
        assertEquals(1, noProj.code());
        assertTrue(noProj.err().contains("need --mmproj"), noProj.err());
    }
}
