package org.taskvec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;
import org.taskvec.gguf.GgufFile;
import org.taskvec.gguf.GgufReader;
import org.taskvec.gguf.GgufTensorInfo;
import org.taskvec.gguf.GgufWriter;
import org.taskvec.gguf.TensorSource;

/** Files that are sound GGUF but that llama.cpp refuses: an exception carrying llama.cpp's reason, no crash. */
@Tag("reliability")
class NativeRefusalTest {
    @Test
    void quantizedModelsLoadAndBadTypesAreRefused(@TempDir Path tmp) {
        Path q8 = tmp.resolve("q8.gguf");
        Model.quantize(TestModels.tinyModel(), q8, "Q8_0", 2);
        try (Model m = Model.load(q8); Session s = m.newSession(SessionParams.defaults().withContextSize(256)
                .withThreads(TestModels.threads()))) {
            assertTrue(m.info().description().contains("Q8_0"), m.info().description());
            assertEquals(4, s.generate(Prompt.of("Q:"), GenerationParams.greedy(4)).tokens().length);
        }
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> Model.quantize(TestModels.tinyModel(), tmp.resolve("x.gguf"), "Q3_FANCY", 1));
        assertTrue(e.getMessage().contains("unknown quantization type"), e.getMessage());
        assertThrows(ModelNotFoundException.class, () -> Model.quantize(tmp.resolve("none.gguf"), q8, "Q8_0", 1));
    }

    @Test
    void modelWithAMissingTensorIsRefusedWithLlamaCppsReason(@TempDir Path tmp) throws Exception {
        GgufFile src = GgufReader.read(TestModels.tinyModel());
        GgufWriter w = new GgufWriter().putAll(src, "");
        for (GgufTensorInfo t : src.tensors()) {
            if (!t.name().equals("blk.2.ffn_up.weight")) {
                w.tensor(t.name(), t.type(), TensorSource.of(GgufReader.readTensor(src, t)), t.shape());
            }
        }
        Path broken = tmp.resolve("missing-tensor.gguf");
        w.write(broken);
        List<String> lines = new CopyOnWriteArrayList<>();
        try (AutoCloseable l = NativeLibrary.addLogListener((level, text) -> {
            if (level == NativeLibrary.LOG_ERROR) {
                lines.add(text);
            }
        })) {
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> Model.load(broken));
            assertTrue(e.getMessage().contains("tensor 'blk.2.ffn_up.weight' not found"), e.getMessage());
            assertTrue(lines.stream().anyMatch(s -> s.contains("blk.2.ffn_up.weight")), "error line routed: " + lines);
        }
        // the engine still works afterwards
        try (Model ok = Model.load(TestModels.tinyModel())) {
            assertEquals(4, ok.layers());
        }
    }
}
