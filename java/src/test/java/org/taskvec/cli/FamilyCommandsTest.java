package org.taskvec.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.taskvec.TestModels;
import org.taskvec.synth.ModelShape;
import org.taskvec.synth.ModelSynthesizer;
import org.taskvec.vectors.Npy;

/** generate, capture, patch and lens from the command line on each family's generated model, with an image. */
class FamilyCommandsTest {
    @ParameterizedTest
    @ValueSource(strings = {"qwen25vl-tiny", "gemma3-tiny", "smolvlm-tiny", "qwen3vl-tiny"})
    void theHookCommandsRunOnTheFamily(String shape, @TempDir Path tmp) throws Exception {
        Path dir = TestModels.generated(ModelShape.byName(shape));
        String model = dir.resolve(ModelSynthesizer.MODEL_FILE).toString();
        String mmproj = dir.resolve(ModelSynthesizer.PROJECTOR_FILE).toString();
        Path png = tmp.resolve("flag.png");
        BufferedImage img = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
        for (int x = 0; x < 64; x++) {
            for (int y = 0; y < 64; y++) {
                img.setRGB(x, y, x < 21 ? Color.BLUE.getRGB() : x < 43 ? Color.WHITE.getRGB() : Color.RED.getRGB());
            }
        }
        ImageIO.write(img, "png", png.toFile());
        String prompt = "Q:<__media__>\\nA:";
        String threads = String.valueOf(TestModels.threads());

        CliTest.Run gen = CliTest.run("generate", "--model", model, "--mmproj", mmproj, "--prompt", prompt, "--image",
                png.toString(), "--max-tokens", "4", "--threads", threads);
        assertEquals(0, gen.code(), gen.err());
        assertFalse(gen.out().isBlank(), shape + " generated nothing");

        Path acts = tmp.resolve("acts.npy");
        CliTest.Run cap = CliTest.run("capture", "--model", model, "--mmproj", mmproj, "--prompt", prompt, "--image",
                png.toString(), "--layers", "0", "--positions", "all", "--kv-type", "f32", "--flash-attn", "off",
                "--out", acts.toString(), "--threads", threads);
        assertEquals(0, cap.code(), cap.err());
        Npy.Array a = Npy.read(acts);
        assertEquals(3, a.shape().length);
        assertEquals(1, a.shape()[0]);
        assertEquals(64, a.shape()[2], "width");

        // the last position's residual after block 0 as a vector, patched back in: same continuation
        float[] all = a.data();
        int positions = a.shape()[1];
        float[] last = java.util.Arrays.copyOfRange(all, (positions - 1) * 64, positions * 64);
        Path vec = tmp.resolve("v.npy");
        Npy.write(vec, new int[] {64}, last);
        CliTest.Run patch = CliTest.run("patch", "--model", model, "--mmproj", mmproj, "--prompt", prompt, "--image",
                png.toString(), "--vector", vec.toString(), "--layer", "0", "--position", "last", "--max-tokens", "4",
                "--kv-type", "f32", "--flash-attn", "off", "--threads", threads);
        assertEquals(0, patch.code(), patch.err());
        String plain = patch.out().lines().filter(l -> l.startsWith("plain:")).findFirst().orElseThrow();
        String patched = patch.out().lines().filter(l -> l.startsWith("patched:")).findFirst().orElseThrow();
        assertEquals(plain.substring(6).strip(), patched.substring(8).strip(), shape + ": identity patch");

        CliTest.Run lens = CliTest.run("lens", "--model", model, "--mmproj", mmproj, "--prompt", prompt, "--image",
                png.toString(), "--layers", "all", "--position", "last", "--top", "3", "--threads", threads);
        assertEquals(0, lens.code(), lens.err());
        assertTrue(lens.out().contains("layer"), lens.out());
    }
}
