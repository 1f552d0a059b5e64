package org.taskvec.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;
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

        // an independent numpy forward pass of the same GGUF file agrees (needs python3 with numpy)
        Assumptions.assumeTrue(hasNumpy(), "python3 with numpy is not installed");
        Process p = new ProcessBuilder("python3", Path.of("src/test/python/check_capture.py").toString(),
                TestModels.tinyModel().toString(), out.toString(), "1e-5").redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), log);
        assertTrue(log.contains("worst"), log);
    }

    static boolean hasNumpy() {
        try {
            Process p = new ProcessBuilder("python3", "-c", "import numpy").start();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (Exception e) {
            return false;
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
        assertEquals(8, j.get("results").size());
        for (JsonNode o : j.get("results")) {
            assertTrue(o.get("median_ms").asDouble() > 0, o.toString());
            if (o.has("baseline") && !o.get("baseline").asText().equals(o.get("operation").asText())) {
                assertTrue(o.get("speed_ratio_min").asDouble() <= o.get("speed_ratio_median").asDouble());
                assertTrue(o.get("speed_ratio_median").asDouble() <= o.get("speed_ratio_max").asDouble());
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
        // "Q:" + image tokens + "\nA:" with BOS
        int imageTokens = j.get("query_tokens").asInt() - 6;
        assertTrue(imageTokens > 0, j.toString());
        assertTrue(r.out().contains("sweep"), r.out());
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
