package org.taskvec.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;
import org.taskvec.testing.ChildProcess;
import org.taskvec.vectors.Npy;
import org.taskvec.vectors.VectorFiles;
import org.taskvec.vectors.VectorSet;

class HookCommandsTest {
    static final String PROMPT = "Q: What is the capital of France?\\nA:";

    @Test
    void captureWritesANumpyArrayAndItsDescription(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("acts.npy");
        CliTest.Run r = CliTest.run("capture", "--model", TestModels.tinyModel().toString(), "--prompt", PROMPT,
                "--layers", "1-3", "--positions", "all", "--kv-type", "f32", "--flash-attn", "off", "--out",
                out.toString(), "--threads", String.valueOf(TestModels.threads()));
        assertEquals(0, r.code(), r.err());
        Npy.Array a = Npy.read(out);
        JsonNode meta = new ObjectMapper().readTree(tmp.resolve("acts.json").toFile());
        int n = meta.get("prompt_positions").asInt();
        assertArrayEquals(new int[] {3, n, 64}, a.shape());
        assertEquals(1, meta.get("layers").get(0).asInt());
        assertEquals(":", meta.get("tokens").get(2).get("text").asText());
        assertEquals(64, meta.get("model").get("embedding_size").asInt());
    }

    /**
     * {@code --logits} writes the last position's logits, the same values the Java API gives for the prompt, and an
     * image prompt's too; a file name that is not .npy is refused before the run.
     */
    @Test
    void captureWritesTheLastPositionsLogits(@TempDir Path tmp) throws Exception {
        String image = TestModels.dir().resolve("logits-test.png").toString();
        java.awt.image.BufferedImage png = new java.awt.image.BufferedImage(40, 24,
                java.awt.image.BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 24; y++) {
            for (int x = 0; x < 40; x++) {
                png.setRGB(x, y, (x * 6) << 16 | (y * 10) << 8 | ((x + y) * 3));
            }
        }
        javax.imageio.ImageIO.write(png, "png", new java.io.File(image));
        String[][] prompts = {{PROMPT, null}, {"Q:<__media__>\\nA:", image}};
        for (String[] p : prompts) {
            Path out = tmp.resolve("acts.npy");
            Path logits = tmp.resolve("logits.npy");
            List<String> args = new java.util.ArrayList<>(List.of("capture", "--model",
                    TestModels.tinyModel().toString(), "--mmproj", TestModels.tinyProjector().toString(), "--prompt",
                    p[0], "--layers", "0", "--positions", "last", "--kv-type", "f32", "--flash-attn", "off", "--out",
                    out.toString(), "--logits", logits.toString(), "--threads", String.valueOf(TestModels.threads())));
            if (p[1] != null) {
                args.addAll(List.of("--image", p[1]));
            }
            CliTest.Run r = CliTest.run(args.toArray(new String[0]));
            assertEquals(0, r.code(), r.err());
            Npy.Array a = Npy.read(logits);
            assertArrayEquals(new int[] {32000}, a.shape());
            JsonNode meta = new ObjectMapper().readTree(tmp.resolve("acts.json").toFile());
            assertEquals(meta.get("prompt_positions").asInt() - 1, meta.get("logits").get("position").asInt());
            float[] want;
            // --flash-attn off applies to the projector's encoder too
            try (org.taskvec.engine.Model m = org.taskvec.engine.Model.load(TestModels.tinyModel(),
                         org.taskvec.engine.ModelParams.defaults().withProjector(TestModels.tinyProjector())
                                 .withProjectorFlashAttention(org.taskvec.engine.SessionParams.FlashAttention.OFF));
                 org.taskvec.engine.Session s = m.newSession(org.taskvec.engine.SessionParams.defaults()
                         .withKvCacheType(org.taskvec.engine.SessionParams.KvCacheType.F32)
                         .withFlashAttention(org.taskvec.engine.SessionParams.FlashAttention.OFF)
                         .withThreads(TestModels.threads()))) {
                String text = p[0].replace("\\n", "\n");
                s.evaluate(p[1] == null ? org.taskvec.engine.Prompt.of(text) : org.taskvec.engine.Prompt.withImages(
                        text, List.of(org.taskvec.engine.Image.read(Path.of(p[1])))));
                want = s.logits();
            }
            float max = 0;
            for (float v : want) {
                max = Math.max(max, Math.abs(v));
            }
            assertTrue(max > 1, "logits of a random model are not all small");
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], a.data()[i], 1e-5 * max, "logit " + i + " of " + p[0]);
            }
        }
        CliTest.Run bad = CliTest.run("capture", "--model", TestModels.tinyModel().toString(), "--prompt", PROMPT,
                "--out", tmp.resolve("y.npy").toString(), "--logits", tmp.resolve("y.txt").toString());
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("--logits must name a .npy file"), bad.err());
        assertFalse(Files.exists(tmp.resolve("y.npy")));
    }

    /**
     * Whether the numpy cross-check must run: {@code -Dtaskvec.require.numpy=true} (CI sets it) makes a missing
     * python3 or numpy a failure; without it the check is skipped, visibly (a skipped test and a line on stderr).
     */
    static final boolean REQUIRE_NUMPY = Boolean.getBoolean("taskvec.require.numpy");
    /** The Python interpreter of the cross-check ({@code -Dtaskvec.python}, default python3). */
    static final String PYTHON = System.getProperty("taskvec.python", "python3");

    /** An independent numpy forward pass of the same GGUF file agrees with the captured residual stream. */
    @Test
    void captureAgreesWithAnIndependentNumpyForwardPass(@TempDir Path tmp) throws Exception {
        String missing = numpyMissing();
        if (missing != null) {
            if (REQUIRE_NUMPY) {
                fail("the numpy cross-check is required here (-Dtaskvec.require.numpy=true) but " + missing);
            }
            System.err.println("SKIPPED HookCommandsTest numpy cross-check: " + missing
                    + " (with -Dtaskvec.require.numpy=true, as in CI, this fails)");
            Assumptions.abort("numpy cross-check skipped: " + missing);
        }
        Path out = tmp.resolve("acts.npy");
        CliTest.Run r = CliTest.run("capture", "--model", TestModels.tinyModel().toString(), "--prompt", PROMPT,
                "--layers", "1-3", "--positions", "all", "--kv-type", "f32", "--flash-attn", "off", "--out",
                out.toString(), "--threads", String.valueOf(TestModels.threads()));
        assertEquals(0, r.code(), r.err());
        ChildProcess.Result check = ChildProcess.of("HookCommandsTest/check_capture", PYTHON,
                Path.of("src/test/python/check_capture.py").toString(), TestModels.tinyModel().toString(),
                out.toString(), "1e-5").timeout(Duration.ofSeconds(120)).run().assertExit(0);
        List<String> lines = check.stdoutLines();
        assertEquals(4, lines.size(), check.describe());
        for (int l = 1; l <= 3; l++) {
            assertTrue(lines.get(l - 1).startsWith("layer " + l + ": max relative error "), check.describe());
        }
        assertTrue(lines.get(3).startsWith("worst ") && lines.get(3).endsWith(" (tolerance 1e-05)"), check.describe());
    }

    /** null when python3 with numpy runs; else what is missing. */
    static String numpyMissing() {
        try {
            ChildProcess.Result r = ChildProcess.of("HookCommandsTest/has-numpy", PYTHON, "-c",
                    "import numpy; print(numpy.__version__)").timeout(Duration.ofSeconds(60)).run();
            return r.exitCode() == 0 ? null : PYTHON + " cannot import numpy: " + r.stderr().strip();
        } catch (java.io.UncheckedIOException e) {
            return PYTHON + " does not run: " + e.getCause().getMessage();
        }
    }

    @Test
    void patchPrintsBothContinuationsAndLensPrintsEveryLayer(@TempDir Path tmp) throws Exception {
        float[] v = new float[64];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) Math.sin(i);
        }
        Path vec = tmp.resolve("v.npy");
        VectorFiles.save(vec, VectorSet.single(2, v, Map.of(VectorSet.PROVENANCE, "test")));
        CliTest.Run r = CliTest.run("patch", "--model", TestModels.tinyModel().toString(), "--prompt", PROMPT,
                "--vector", vec.toString(), "--layer", "2", "--mode", "add", "--scale", "8", "--max-tokens", "4",
                "--threads", String.valueOf(TestModels.threads()));
        assertEquals(0, r.code(), r.err());
        String plain = line(r.out(), "plain:");
        String patched = line(r.out(), "patched:");
        assertNotEquals(plain.substring(6).strip(), patched.substring(8).strip(), r.out());

        CliTest.Run lens = CliTest.run("lens", "--model", TestModels.tinyModel().toString(), "--prompt", PROMPT,
                "--layers", "all", "--position", "last", "--top", "3", "--token", "Paris",
                "--threads", String.valueOf(TestModels.threads()));
        assertEquals(0, lens.code(), lens.err());
        for (int l = 0; l < 4; l++) {
            assertTrue(lens.out().contains(String.format("layer %3d:", l)), lens.out());
        }
        assertTrue(lens.out().contains("p('Paris')="), lens.out());

        CliTest.Run bad = CliTest.run("capture", "--model", TestModels.tinyModel().toString(), "--prompt", PROMPT,
                "--layers", "9", "--out", tmp.resolve("x.npy").toString());
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("layer 9 is out of range"), bad.err());
        assertFalse(Files.exists(tmp.resolve("x.npy")));
    }

    @Test
    void benchMeasuresEveryOperationAndWritesJson(@TempDir Path tmp) throws Exception {
        Path json = tmp.resolve("bench.json");
        CliTest.Run r = CliTest.run("bench", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString(), "--prompt-tokens", "24", "--gen-tokens", "4", "--rounds", "2",
                "--threads", String.valueOf(TestModels.threads()), "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(json.toFile());
        // every operation, with the baseline its speed is compared with (none for the baselines themselves)
        Map<String, String> baselines = new LinkedHashMap<>();
        for (JsonNode o : j.get("results")) {
            baselines.put(o.get("operation").asText(), o.path("baseline").asText(""));
        }
        Map<String, String> want = new LinkedHashMap<>();
        want.put("prompt", "");
        want.put("prompt + capture 1 layer", "prompt");
        want.put("prompt + capture all layers", "prompt");
        want.put("prompt + patch 1 layer", "prompt");
        want.put("decode, C++ loop", "");
        want.put("decode", "decode, C++ loop");
        want.put("decode, hook-free session", "decode");
        want.put("image prompt (encode + decode)", "");
        assertEquals(want, baselines);
        Double promptTokens = null;
        for (JsonNode o : j.get("results")) {
            String op = o.get("operation").asText();
            double median = o.get("median_ms").asDouble();
            assertTrue(median > 0, o.toString());
            if (op.startsWith("decode")) { // decode rows are timed per generated token
                assertEquals("token", o.get("unit").asText(), o.toString());
                assertEquals(1000 / median, o.get("tokens_per_second").asDouble(), 1e-9 * (1000 / median));
            } else if (op.startsWith("prompt")) { // the same prompt for all: the same token count
                double tokens = o.get("tokens_per_second").asDouble() * median / 1000;
                assertEquals(Math.rint(tokens), tokens, 1e-6, o.toString());
                assertTrue(Math.rint(tokens) >= 24, "the prompt holds at least --prompt-tokens tokens: " + o);
                promptTokens = promptTokens == null ? tokens : promptTokens;
                assertEquals(promptTokens, tokens, 1e-6, o.toString());
            } else {
                assertFalse(o.has("tokens_per_second"), o.toString());
            }
            if (!want.get(op).isEmpty()) {
                // two rounds: the median of the two rounds' speed ratios is their mean
                double min = o.get("speed_ratio_min").asDouble();
                double max = o.get("speed_ratio_max").asDouble();
                assertEquals((min + max) / 2, o.get("speed_ratio_median").asDouble(), 1e-12 * max, o.toString());
            } else {
                assertFalse(o.has("speed_ratio_median"), o.toString());
            }
        }
        assertTrue(r.out().contains("prompt + patch 1 layer"), r.out());
        assertTrue(r.out().contains("decode, hook-free session"), r.out());
        assertTrue(line(r.out(), "decode  ").contains("vs decode, C++ loop"), r.out());
    }

    @Test
    void benchTimesThePaperWorkload(@TempDir Path tmp) throws Exception {
        Path spec = Files.writeString(tmp.resolve("w.json"), "{\"extraction_prompts\": 3, \"extraction_tokens\": 12, "
                + "\"patched_queries\": 2, \"new_tokens\": 3, \"patch_layer\": 2, \"sweep_queries\": 2, "
                + "\"image_size\": 48, \"seed\": 7}");
        Path json = tmp.resolve("paper.json");
        CliTest.Run r = CliTest.run("bench", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString(), "--paper-workload", spec.toString(), "--rounds", "1",
                "--threads", String.valueOf(TestModels.threads()), "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(json.toFile());
        assertEquals(3, j.get("workload").get("extraction_prompts").asInt());
        assertEquals(4, j.get("sweep_layers").asInt()); // every layer of the tiny model
        for (String phase : new String[] {"extraction", "patched_queries", "sweep", "total"}) {
            assertTrue(j.get("phases_ms").get(phase).asDouble() > 0, phase);
        }
        double parts = j.get("phases_ms").get("extraction").asDouble() + j.get("phases_ms").get("patched_queries")
                .asDouble() + j.get("phases_ms").get("sweep").asDouble();
        assertTrue(parts <= j.get("phases_ms").get("total").asDouble() + 1e-6);
        assertEquals(5, j.get("step_median_ms").size());
        assertEquals(2, j.get("first_answers").size());
        // "Q:" + image + "\nA:" with BOS: the layout of such a query, its image a 4x4 grid of 8-pixel patches
        try (org.taskvec.engine.Model m = TestModels.loadTinyWithProjector();
             org.taskvec.engine.Session s = m.newSession(org.taskvec.engine.SessionParams.defaults())) {
            int[] layout = s.layout(org.taskvec.engine.Prompt.withImages("Q:" + org.taskvec.engine.Prompt.MEDIA_MARKER
                    + "\nA:", List.of(org.taskvec.engine.Image.ofRgb(48, 48, new byte[48 * 48 * 3]))));
            assertEquals(16, java.util.Arrays.stream(layout).filter(t -> t < 0).count());
            assertEquals(layout.length, j.get("query_tokens").asInt(), j.toString());
        }
        assertTrue(r.out().contains("sweep"), r.out());
    }

    @Test
    void benchComparesThePaperWorkloadsPathsWithTheOfficialCost(@TempDir Path tmp) throws Exception {
        Path spec = Files.writeString(tmp.resolve("w.json"), "{\"extraction_prompts\": 3, \"extraction_tokens\": 12, "
                + "\"patched_queries\": 3, \"new_tokens\": 3, \"patch_layer\": 2, \"sweep_queries\": 2, "
                + "\"image_size\": 48, \"seed\": 7}");
        Path json = tmp.resolve("paper.json");
        CliTest.Run r = CliTest.run("bench", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString(), "--paper-workload", spec.toString(), "--rounds", "2",
                "--parallel", "2", "--official-cost", "--threads", String.valueOf(TestModels.threads()),
                "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(json.toFile());
        assertEquals(2, j.get("parallel_sequences").asInt());
        for (String path : new String[] {"sequential", "parallel", "official"}) {
            JsonNode rounds = j.get("rounds_phases_ms").get(path);
            assertEquals(2, rounds.size(), path);
            for (JsonNode round : rounds) {
                assertTrue(round.get("total").asDouble() >= round.get("extraction").asDouble()
                        + round.get("patched_queries").asDouble() + round.get("sweep").asDouble() - 1e-6, path);
            }
        }
        for (String pair : new String[] {"parallel_vs_sequential", "sequential_vs_official", "parallel_vs_official"}) {
            String[] p = pair.split("_vs_");
            for (String phase : new String[] {"extraction", "patched_queries", "sweep", "total"}) {
                JsonNode x = j.get("speed_ratios").get(pair).get(phase);
                // per round: the other path's time over this one's; with 2 rounds the median is their mean
                double r0 = j.get("rounds_phases_ms").get(p[1]).get(0).get(phase).asDouble()
                        / j.get("rounds_phases_ms").get(p[0]).get(0).get(phase).asDouble();
                double r1 = j.get("rounds_phases_ms").get(p[1]).get(1).get(phase).asDouble()
                        / j.get("rounds_phases_ms").get(p[0]).get(1).get(phase).asDouble();
                assertEquals(Math.min(r0, r1), x.get("min").asDouble(), 1e-9, pair + " " + phase);
                assertEquals(Math.max(r0, r1), x.get("max").asDouble(), 1e-9, pair + " " + phase);
                assertEquals((r0 + r1) / 2, x.get("median").asDouble(), 1e-9, pair + " " + phase);
            }
        }
        // every path computes the same greedy answers: KV-cached and batched generation equal the official full
        // forward passes, token for token (detokenized alike)
        JsonNode answers = j.get("first_answers_by_path");
        assertEquals(3, answers.get("sequential").get(0).size(), answers.toString());
        assertEquals(answers.get("sequential"), answers.get("official"), answers.toString());
        assertEquals(answers.get("sequential"), answers.get("parallel"), answers.toString());
        assertTrue(r.out().contains("first answers of official equal the sequential path's in every round: true"),
                r.out());
        assertTrue(line(r.out(), "sequential vs official, sweep:").contains("2 rounds"), r.out());
    }

    @Test
    void paperWorkloadNeedsAProjector() {
        CliTest.Run r = CliTest.run("bench", "--model", TestModels.tinyModel().toString(), "--paper-workload");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("--mmproj"), r.err());
    }

    private static String line(String out, String prefix) {
        return out.lines().filter(l -> l.startsWith(prefix)).findFirst().orElseThrow(() -> new AssertionError(out));
    }
}
