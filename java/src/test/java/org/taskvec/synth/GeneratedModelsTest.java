package org.taskvec.synth;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;

class GeneratedModelsTest {
    @Test
    void aCorruptCachedModelIsNotTrusted(@TempDir Path tmp) throws Exception {
        assertTrue(GeneratedModels.sound(TestModels.tinyModel()));
        byte[] good = Files.readAllBytes(TestModels.tinyModel());
        Path cut = Files.write(tmp.resolve("cut.gguf"), Arrays.copyOf(good, good.length - 100));
        assertFalse(GeneratedModels.sound(cut), "a truncated file is rebuilt, not used");
        assertFalse(GeneratedModels.sound(tmp.resolve("absent.gguf")));
    }

    @Test
    void generationIsAPureFunctionOfShapeAndSeed(@TempDir Path tmp) throws Exception {
        new ModelSynthesizer(ModelShape.TINY, ModelSynthesizer.DEFAULT_SEED).writeTextModel(tmp.resolve("a.gguf"));
        assertArrayEquals(Files.readAllBytes(TestModels.tinyModel()), Files.readAllBytes(tmp.resolve("a.gguf")));
        new ModelSynthesizer(ModelShape.TINY, 5).writeTextModel(tmp.resolve("b.gguf"));
        assertFalse(Arrays.equals(Files.readAllBytes(tmp.resolve("a.gguf")), Files.readAllBytes(tmp.resolve("b.gguf"))));
    }
}
