package org.taskvec.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;

class CliTest {
    record Run(int code, String out, String err) {}

    static synchronized Run run(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = TaskvecCli.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void missingModelIsAOneLineError() {
        Run r = run("generate", "--model", "missing.gguf", "--prompt", "x");
        assertEquals(1, r.code());
        assertEquals("taskvec: error: model file not found: missing.gguf", r.err().strip());
        assertEquals("", r.out());
    }

    @Test
    void generateWithAnImagePrintsTheRequestedTokens(@TempDir Path tmp) throws Exception {
        Path png = tmp.resolve("any.png");
        ImageIO.write(DemoCommand.sampleImage(), "png", png.toFile());
        Run r = run("generate", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString(), "--prompt", "Q:", "--image", png.toString(),
                "--max-tokens", "5", "--threads", String.valueOf(TestModels.threads()));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("[5 tokens"), r.err());
        assertFalse(r.out().isBlank());
    }

    @Test
    void synthWritesLoadableFilesAndInfoReadsThem(@TempDir Path tmp) {
        Run s = run("synth", "--out", tmp.toString(), "--shape", "tiny", "--seed", "3");
        assertEquals(0, s.code(), s.err());
        assertTrue(Files.exists(tmp.resolve("model.gguf")));
        assertTrue(Files.exists(tmp.resolve("mmproj.gguf")));
        Run i = run("info", "--model", tmp.resolve("model.gguf").toString(), "--mmproj",
                tmp.resolve("mmproj.gguf").toString());
        assertEquals(0, i.code(), i.err());
        assertTrue(i.out().contains("architecture   llama"), i.out());
        assertTrue(i.out().contains("image tokens   16"), i.out());
        Run bad = run("synth", "--out", tmp.toString(), "--shape", "huge");
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("unknown shape"), bad.err());
    }
}
