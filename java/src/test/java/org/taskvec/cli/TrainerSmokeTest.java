package org.taskvec.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Image;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelParams;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.testing.ChildProcess;

/**
 * organism/train.py end to end in its --smoke setting (30 + 30 steps of 16 episodes): the data from taskvec
 * (organism-data, synth), both stages, the exports, the manifest. The F16 files then load and run in taskvec, and
 * organism/fidelity.py finds the F32 exports equal to the trainer's mirror within 1e-3. So the trainer and its
 * exporter cannot rot while the shipped organism's tests keep passing. Needs torch like {@link MirrorFidelityTest}
 * (skipped visibly without it, a failure where it is required).
 */
class TrainerSmokeTest {
    static final Path TRAIN = Path.of("../organism/train.py");
    static final Path FIDELITY = Path.of("../organism/fidelity.py");

    @Test
    void theTrainerRunsEndToEndAndItsExportsAreTheTrainedModel() throws Exception {
        MirrorFidelityTest.requireTorch("TrainerSmokeTest", "the trainer smoke run");
        Files.createDirectories(Path.of("target"));
        Path out = Files.createTempDirectory(Path.of("target"), "trainer-smoke-").toAbsolutePath();
        // train.py runs taskvec as one executable: a launcher for this test's classes
        Path launcher = out.resolve("taskvec");
        Files.writeString(launcher, "#!/bin/sh\nexec " + quote(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString()) + " -Xss4m " + quote("-Dtaskvec.cache.dir=" + Path.of(System.getProperty(
                "taskvec.cache.dir", "target/test-cache")).toAbsolutePath()) + " -cp "
                + quote(System.getProperty("java.class.path")) + " org.taskvec.cli.TaskvecCli \"$@\"\n");
        assertTrue(launcher.toFile().setExecutable(true));
        Path run = out.resolve("run");
        ChildProcess.Result r = ChildProcess.of("TrainerSmokeTest/train", MirrorFidelityTest.PYTHON, TRAIN.toString(),
                "--smoke", "--out", run.toString(), "--taskvec", launcher.toString())
                .timeout(Duration.ofSeconds(900)).run();
        r.assertExit(0);
        for (String f : List.of("llm.gguf", "model.gguf", "mmproj.gguf", "model-f32.gguf", "mmproj-f32.gguf",
                "eval.json", "manifest.json", "train.log")) {
            assertTrue(Files.size(run.resolve(f)) > 0, f + ": " + r.describe());
        }
        JsonNode manifest = new ObjectMapper().readTree(run.resolve("manifest.json").toFile());
        assertEquals(30, manifest.get("stages").get("stage1").get("steps").asInt());
        assertEquals(30, manifest.get("stages").get("stage2").get("steps").asInt());
        for (String f : List.of("llm.gguf", "model.gguf", "mmproj.gguf")) {
            String hex = HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                    .digest(Files.readAllBytes(run.resolve(f))));
            assertEquals(manifest.get("files").get(f).get("sha256").asText(), hex, f);
        }
        // the exports load and run in taskvec, an image prompt included
        try (Model m = Model.load(run.resolve("model.gguf"), ModelParams.defaults().withProjector(
                run.resolve("mmproj.gguf")));
             Session s = m.newSession(SessionParams.defaults().withContextSize(512).withThreads(2))) {
            assertEquals(4, m.layers());
            java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(32, 32,
                    java.awt.image.BufferedImage.TYPE_INT_RGB);
            var g = s.generate(Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:", List.of(Image.of(img))),
                    GenerationParams.greedy(3));
            assertEquals(3, g.tokens().length);
        }
        // and they are the trained model: the mirror (PyTorch) against taskvec on the F32 exports
        Path json = out.resolve("fidelity.json");
        ChildProcess.Result fid = ChildProcess.of("TrainerSmokeTest/fidelity", MirrorFidelityTest.PYTHON,
                FIDELITY.toString(), run.resolve("model-f32.gguf").toString(), run.resolve("mmproj-f32.gguf").toString(),
                "--text", "4", "--images", "4", "--taskvec", launcher.toString(), "--work", out.resolve("refs").toString(),
                "--json", json.toString()).timeout(Duration.ofSeconds(480)).run();
        fid.assertExit(0);
        JsonNode j = new ObjectMapper().readTree(json.toFile());
        assertTrue(j.get("pass").asBoolean() && j.get("overall").asDouble() <= 1e-3, fid.describe());
    }

    private static String quote(String s) {
        return "'" + s.replace("'", "'\"'\"'") + "'";
    }
}
