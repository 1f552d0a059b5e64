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
    void aCachedModelWithAChangedByteOrCutIsRebuilt(@TempDir Path cache) throws Exception {
        Path dir = GeneratedModels.ensure(cache, ModelShape.TINY, 3, true);
        Path model = dir.resolve(ModelSynthesizer.MODEL_FILE);
        byte[] good = Files.readAllBytes(model);
        byte[] goodProjector = Files.readAllBytes(dir.resolve(ModelSynthesizer.PROJECTOR_FILE));
        assertTrue(GeneratedModels.verified(model));
        // one weight byte changed: still sound GGUF, but not what was written
        byte[] flipped = good.clone();
        flipped[good.length - 10] ^= 0x40;
        Files.write(model, flipped);
        assertTrue(GeneratedModels.sound(model));
        assertFalse(GeneratedModels.verified(model));
        GeneratedModels.ensure(cache, ModelShape.TINY, 3, true);
        assertArrayEquals(good, Files.readAllBytes(model), "rebuilt");
        // cut short
        Files.write(dir.resolve(ModelSynthesizer.PROJECTOR_FILE), Arrays.copyOf(goodProjector, 1000));
        GeneratedModels.ensure(cache, ModelShape.TINY, 3, true);
        assertArrayEquals(goodProjector, Files.readAllBytes(dir.resolve(ModelSynthesizer.PROJECTOR_FILE)));
        // nothing but the entry and its checksums in the folder (no temporary files left)
        try (var files = Files.list(dir)) {
            assertEquals(java.util.Set.of("model.gguf", "model.gguf.sha256", "mmproj.gguf", "mmproj.gguf.sha256"),
                    files.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet()));
        }
    }

    @Test
    void generationIsAPureFunctionOfShapeAndSeed(@TempDir Path tmp) throws Exception {
        new ModelSynthesizer(ModelShape.TINY, ModelSynthesizer.DEFAULT_SEED).writeTextModel(tmp.resolve("a.gguf"));
        assertArrayEquals(Files.readAllBytes(TestModels.tinyModel()), Files.readAllBytes(tmp.resolve("a.gguf")));
        new ModelSynthesizer(ModelShape.TINY, 5).writeTextModel(tmp.resolve("b.gguf"));
        assertFalse(Arrays.equals(Files.readAllBytes(tmp.resolve("a.gguf")), Files.readAllBytes(tmp.resolve("b.gguf"))));
    }

    @Test
    void theOrganismShapeHasATiedOutputAndSixteenImageTokensAndLlamaCppLoadsIt(@TempDir Path tmp) throws Exception {
        ModelShape s = ModelShape.byName("organism");
        new ModelSynthesizer(s, ModelSynthesizer.DEFAULT_SEED).writeAll(tmp);
        var names = org.taskvec.gguf.GgufReader.read(tmp.resolve(ModelSynthesizer.MODEL_FILE)).tensors().stream()
                .map(org.taskvec.gguf.GgufTensorInfo::name).collect(java.util.stream.Collectors.toSet());
        assertFalse(names.contains("output.weight"), "tied: llama.cpp multiplies by token_embd.weight");
        assertEquals(2 + 9 * s.nLayer(), names.size());
        assertNotEquals(s.vEmbd(), s.vFf(), "libmtmd swaps ffn_up/ffn_down when they are equal");
        try (var m = org.taskvec.engine.Model.load(tmp.resolve(ModelSynthesizer.MODEL_FILE),
                org.taskvec.engine.ModelParams.defaults().withProjector(tmp.resolve(ModelSynthesizer.PROJECTOR_FILE)))) {
            assertEquals(32000, m.vocabularySize());
            assertEquals(128, m.embeddingSize());
            assertEquals(16, m.imageTokens(64, 64));
        }
        assertFalse(ModelShape.TINY.tiedOutput(), "the other shapes keep output.weight");
    }
}
