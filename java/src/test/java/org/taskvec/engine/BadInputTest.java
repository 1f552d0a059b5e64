package org.taskvec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;

/** Bad input gets a typed exception with a clear message, checked before it reaches native code. */
@Tag("reliability")
class BadInputTest {
    static Model model;
    /** The context llama.cpp gives a request for 32 positions (it rounds the request up to its padding, 256). */
    static final int CONTEXT_32 = 256;
    @TempDir
    static Path tmp;

    @BeforeAll
    static void load() {
        model = TestModels.loadTinyWithProjector();
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static <T extends Throwable> void expect(Class<T> type, String fragment, Executable call) {
        T e = assertThrows(type, call);
        assertNotNull(e.getMessage());
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' lacks '" + fragment + "'");
    }

    @Test
    void missingEmptyAndCorruptModelFiles() throws Exception {
        expect(ModelNotFoundException.class, "not found", () -> Model.load(tmp.resolve("missing.gguf")));
        expect(ModelNotFoundException.class, "not a readable file", () -> Model.load(tmp));
        Path empty = Files.createFile(tmp.resolve("empty.gguf"));
        expect(InvalidModelFileException.class, "file is empty", () -> Model.load(empty));
        Path text = Files.writeString(tmp.resolve("text.gguf"), "this is not a model, just some text here");
        expect(InvalidModelFileException.class, "not a GGUF file", () -> Model.load(text));
        byte[] good = Files.readAllBytes(TestModels.tinyModel());
        // truncated at many offsets: header, metadata, vocabulary, tensor directory, tensor data
        for (long cut : new long[] {4, 20, 100, 5000, 300_000, 700_000, 800_000, good.length / 2, good.length - 1}) {
            Path t = tmp.resolve("cut" + cut + ".gguf");
            Files.write(t, Arrays.copyOf(good, (int) cut));
            InvalidModelFileException e = assertThrows(InvalidModelFileException.class, () -> Model.load(t),
                    "cut at " + cut);
            assertTrue(e.getMessage().contains(t.toString()), e.getMessage());
        }
        byte[] v1 = good.clone();
        v1[4] = 1;
        Path old = Files.write(tmp.resolve("v1.gguf"), v1);
        expect(InvalidModelFileException.class, "unsupported GGUF version 1", () -> Model.load(old));
    }

    @Test
    void projectorMismatches() {
        expect(InvalidModelFileException.class, "is a vision projector",
                () -> Model.load(TestModels.tinyProjector()));
        expect(ProjectorMismatchException.class, "not a vision projector",
                () -> Model.load(TestModels.tinyModel(), ModelParams.defaults().withProjector(TestModels.wideModel())));
        expect(ProjectorMismatchException.class, "width 96",
                () -> Model.load(TestModels.tinyModel(), ModelParams.defaults().withProjector(TestModels.wideProjector())));
        expect(ModelNotFoundException.class, "projector file not found",
                () -> Model.load(TestModels.tinyModel(), ModelParams.defaults().withProjector(tmp.resolve("none"))));
    }

    @Test
    void aModelThatFailsToLoadIsNotCalledAProjectorMismatchBecauseOfItsPath() throws Exception {
        // feed_forward_length 100 instead of 128: passes the Java checks, fails in llama.cpp (tensor shapes), in a
        // folder whose name contains "projector" (the native message then does too)
        byte[] b = Files.readAllBytes(TestModels.tinyModel());
        byte[] key = "llama.feed_forward_length".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        int at = -1;
        for (int i = 0; i + key.length <= b.length && at < 0; i++) {
            if (java.util.Arrays.equals(b, i, i + key.length, key, 0, key.length)) {
                at = i + key.length + 4; // the value type (uint32), then the value
            }
        }
        assertTrue(at > 0);
        java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(at, 100);
        Path dir = Files.createDirectories(tmp.resolve("projector-experiments"));
        Path broken = Files.write(dir.resolve("model.gguf"), b);
        ModelLoadException e = assertThrows(ModelLoadException.class,
                () -> Model.load(broken, ModelParams.defaults().withProjector(TestModels.tinyProjector())));
        assertFalse(e instanceof ProjectorMismatchException, e.toString());
        assertFalse(e instanceof InvalidModelFileException, "llama.cpp, not the Java checks, refuses it: " + e);
        assertTrue(e.getMessage().contains("projector-experiments"), e.getMessage());
        // a real projector failure still is one (libmtmd refuses a projector of another width)
        expect(ProjectorMismatchException.class, "width 96",
                () -> Model.load(TestModels.tinyModel(), ModelParams.defaults().withProjector(TestModels.wideProjector())));
    }

    @Test
    void badImages() throws Exception {
        Path empty = Files.createFile(tmp.resolve("empty.png"));
        expect(ImageFormatException.class, "empty", () -> Image.read(empty));
        Path text = Files.writeString(tmp.resolve("text.png"), "definitely not a picture");
        expect(ImageFormatException.class, "not an image", () -> Image.read(text));
        expect(ImageFormatException.class, "not found", () -> Image.read(tmp.resolve("none.png")));
        Path png = tmp.resolve("ok.png");
        javax.imageio.ImageIO.write(ImagePromptTest.picture(java.awt.Color.RED), "png", png.toFile());
        byte[] bytes = Files.readAllBytes(png);
        Path cut = Files.write(tmp.resolve("cut.png"), Arrays.copyOf(bytes, bytes.length / 2));
        expect(ImageFormatException.class, "cannot decode", () -> Image.read(cut));
        Path huge = Files.write(tmp.resolve("huge.png"), org.taskvec.TestImages.pngHeader(20000, 20000));
        expect(ImageFormatException.class, "20000x20000", () -> Image.read(huge));
        expect(ImageFormatException.class, "no pixels", () -> Image.ofRgb(0, 5, new byte[0]));
        expect(ImageFormatException.class, "expected", () -> Image.ofRgb(2, 2, new byte[5]));
        // a 1x1 image is valid and runs
        try (Session s = model.newSession(SessionParams.defaults().withContextSize(256).withThreads(TestModels.threads()))) {
            s.evaluate(Prompt.withImages("Q:", List.of(Image.ofRgb(1, 1, new byte[] {1, 2, 3}))));
            assertEquals(16 + model.tokenize("Q:", true).length, s.positions());
        }
    }

    @Test
    void imageWithoutProjector() {
        try (Model plain = Model.load(TestModels.tinyModel()); Session s = plain.newSession(
                SessionParams.defaults().withContextSize(256).withThreads(TestModels.threads()))) {
            expect(NoProjectorException.class, "without a vision projector",
                    () -> s.evaluate(Prompt.withImages("Q:", List.of(Image.ofRgb(1, 1, new byte[3])))));
            expect(NoProjectorException.class, "without a projector", () -> plain.imageTokens(32, 32));
        }
    }

    @Test
    void contextOverflowInPromptAndGeneration() {
        try (Session s = model.newSession(SessionParams.defaults().withContextSize(32).withThreads(TestModels.threads()))) {
            int n = s.contextSize(); // llama.cpp may round the request up
            assertEquals(CONTEXT_32, n);
            String longText = "word ".repeat(n + 1);
            expect(ContextOverflowException.class, "context holds " + n, () -> s.evaluate(Prompt.of(longText)));
            String almost = "a ".repeat(n - 10); // fits alone, not with a 16-position image
            s.evaluate(Prompt.of(almost));
            expect(ContextOverflowException.class, "context holds " + n,
                    () -> s.evaluate(Prompt.withImages(almost, List.of(Image.ofRgb(1, 1, new byte[3])))));
            s.evaluate(Prompt.of("Q: hello\nA:"));
            ContextOverflowException e = assertThrows(ContextOverflowException.class,
                    () -> s.generate(Prompt.of("Q: hello\nA:"), GenerationParams.greedy(n + 1)));
            assertTrue(e.getMessage().contains("end of the context"), e.getMessage());
            // the session stays usable
            assertEquals(3, s.generate(Prompt.of("Q:"), GenerationParams.greedy(3)).tokens().length);
        }
    }

    @Test
    void outOfRangeArguments() {
        try (Session s = model.newSession(SessionParams.defaults().withContextSize(64).withThreads(TestModels.threads()))) {
            expect(InvalidInputException.class, "outside the vocabulary", () -> s.append(32000));
            expect(InvalidInputException.class, "outside the vocabulary", () -> s.append(-5));
            expect(InvalidInputException.class, "outside the vocabulary",
                    () -> s.evaluate(Prompt.builder().tokens(1, 99999).build()));
            expect(InvalidInputException.class, "outside the vocabulary", () -> model.detokenize(new int[] {40000}));
            expect(InvalidInputException.class, "has length 10", () -> s.logits(new float[10]));
            expect(InvalidInputException.class, "cannot keep 5", () -> s.truncate(5));
            expect(NativeFailureException.class, "no logits", () -> s.logits());
            expect(InvalidInputException.class, "image markers",
                    () -> Prompt.withImages("a" + Prompt.MEDIA_MARKER + "b" + Prompt.MEDIA_MARKER, List.of()));
        }
        expect(InvalidInputException.class, "threads", () -> SessionParams.defaults().withThreads(0));
        expect(InvalidInputException.class, "contextSize", () -> SessionParams.defaults().withContextSize(-1));
        expect(InvalidInputException.class, "temperature", () -> GenerationParams.greedy(1).withSampling(-1f, 0, 1f, 0));
        expect(InvalidInputException.class, "topP", () -> GenerationParams.greedy(1).withSampling(1f, 0, 0f, 0));
        expect(InvalidInputException.class, "maxTokens", () -> GenerationParams.greedy(-1));
        expect(InvalidInputException.class, "gpuLayers", () -> ModelParams.defaults().withGpuLayers(-2));
        expect(InvalidInputException.class, "at least one part", () -> Prompt.builder().build());
    }
}
