package org.taskvec.xpatch;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelParams;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.synth.ModelShape;
import org.taskvec.synth.ModelSynthesizer;
import org.taskvec.tasks.Modality;
import org.taskvec.tasks.TaskData;
import org.taskvec.tasks.TaskItem;

/**
 * The vector cache re-extracts whenever anything a vector depends on changes (chat template, projector, an image's
 * bytes, the extraction code's version, the seed, the task items) and reuses vectors only for identical inputs.
 */
class VectorCacheTest {
    static Model model;
    static Session session;

    @BeforeAll
    static void load() {
        model = TestModels.loadTinyWithProjector();
        session = model.newSession(SessionParams.defaults().withContextSize(1024).withThreads(TestModels.threads()));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static void png(Path file, int rgb) throws Exception {
        Files.createDirectories(file.getParent());
        BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
                img.setRGB(x, y, rgb ^ (x * 8 << 8) ^ (y * 8));
            }
        }
        ImageIO.write(img, "png", file.toFile());
    }

    /** Four validation items and one test item, each with its own generated image under dir. */
    static TaskData task(Path dir, String firstOutput) throws Exception {
        String[][] rows = {{"Greece", firstOutput}, {"Peru", "Lima"}, {"Italy", "Rome"}, {"Chile", "Santiago"},
                {"Japan", "Tokyo"}};
        List<TaskItem> items = new ArrayList<>();
        for (int i = 0; i < rows.length; i++) {
            String image = rows[i][0] + ".png";
            if (!Files.exists(dir.resolve(image))) {
                png(dir.resolve(image), 0x102030 * (i + 1));
            }
            items.add(new TaskItem(rows[i][0], rows[i][1], image));
        }
        return new TaskData("capitals", "The capital city of the country:", items.subList(0, 4), items.subList(4, 5),
                dir, "test");
    }

    static XpatchConfig config(List<Integer> seeds, String chatTemplate) {
        return new XpatchConfig(List.of("capitals"), List.of(Condition.TEXT_EXAMPLES_PATCH,
                Condition.IMAGE_EXAMPLES_PATCH, Condition.INSTRUCTION_PATCH), 2, seeds, 2, 1, true, true, 1, 0,
                chatTemplate);
    }

    static XpatchResults run(Model m, Session s, XpatchConfig config, TaskData task, Path cache) {
        return new XpatchRunner(m, s, config, null, cache).run(List.of(task));
    }

    static void assertExtracted(int extracted, int fromCache, XpatchResults r, String what) {
        assertEquals(extracted, r.vectorsExtracted(), what + ": vectors extracted");
        assertEquals(fromCache, r.vectorsFromCache(), what + ": vectors from the cache");
    }

    @Test
    void everyInputOfAVectorIsPartOfItsKey(@TempDir Path tmp) throws Exception {
        Path cache = tmp.resolve("vectors");
        Path images = tmp.resolve("images");
        TaskData task = task(images, "Athens");
        XpatchConfig plain = config(List.of(1), null);

        // text examples, image examples and the instruction: three vectors, then all three from the cache
        XpatchResults first = run(model, session, plain, task, cache);
        assertExtracted(3, 0, first, "first run");
        XpatchResults again = run(model, session, plain, task, cache);
        assertExtracted(0, 3, again, "identical inputs");
        assertEquals(first.rows(), again.rows(), "identical inputs, identical results");
        try (Stream<Path> files = Files.list(cache)) {
            assertEquals(3, files.filter(f -> f.toString().endsWith(".npy")).count());
        }

        // a chat template changes every prompt: one that ends with a delimiter of its own (Vicuna's "ASSISTANT:",
        // which moves the read position too) and one that does not (ChatML)
        assertExtracted(3, 0, run(model, session, config(List.of(1), "vicuna"), task, cache), "chat template");
        assertExtracted(0, 3, run(model, session, config(List.of(1), "vicuna"), task, cache), "chat template again");
        assertExtracted(3, 0, run(model, session, config(List.of(1), "chatml"), task, cache), "another template");

        // another projector (same shape, other weights)
        Path otherProjector = tmp.resolve("other-mmproj.gguf");
        new ModelSynthesizer(ModelShape.TINY, 7).writeProjector(otherProjector);
        try (Model other = Model.load(TestModels.tinyModel(), ModelParams.defaults().withProjector(otherProjector));
             Session s = other.newSession(SessionParams.defaults().withContextSize(1024)
                     .withThreads(TestModels.threads()))) {
            assertExtracted(3, 0, run(other, s, plain, task, cache), "other projector");
        }

        // one image's bytes: only the image-examples vector depends on images
        png(images.resolve("Peru.png"), 0xabcdef);
        assertExtracted(1, 2, run(model, session, plain, task, cache), "one image changed");

        // a second seed: two more example vectors, the rest from the cache
        assertExtracted(2, 3, run(model, session, config(List.of(1, 2), null), task, cache), "seed 2");

        // one validation item's output: both example vectors, not the instruction
        assertExtracted(2, 1, run(model, session, plain, task(images, "Athina"), cache), "task items");
    }

    @Test
    void aNewExtractionVersionDoesNotReuseEntries(@TempDir Path tmp) throws Exception {
        TaskData task = task(tmp.resolve("images"), "Athens");
        XpatchContext cx = new XpatchContext(model, session);
        VectorCache current = new VectorCache(tmp.resolve("vectors"));
        float[][] v = current.examples(cx, task, Modality.TEXT, 2, 1);
        assertArrayEquals(v[1], current.examples(cx, task, Modality.TEXT, 2, 1)[1]);
        assertEquals(1, current.hits());
        assertEquals(1, current.misses());
        VectorCache bumped = new VectorCache(tmp.resolve("vectors"), VectorCache.EXTRACTION_VERSION + 1);
        bumped.examples(cx, task, Modality.TEXT, 2, 1);
        assertEquals(0, bumped.hits());
        assertEquals(1, bumped.misses());
        bumped.examples(cx, task, Modality.TEXT, 2, 1);
        assertEquals(1, bumped.hits());

        // the key is a canonical JSON of every input, stored beside the vectors
        JsonNode key = new ObjectMapper().readTree(VectorCache.canonical(
                current.examplesKey(cx, task, Modality.IMAGE, 2, 1)));
        assertEquals(VectorCache.EXTRACTION_VERSION, key.get("extraction_version").asInt());
        assertEquals(org.taskvec.engine.CacheFolder.sha256(TestModels.tinyModel()), key.get("model_sha256").asText());
        assertEquals(org.taskvec.engine.CacheFolder.sha256(TestModels.tinyProjector()),
                key.get("projector_sha256").asText());
        assertEquals(org.taskvec.engine.CacheFolder.sha256(task.imageOf(task.val().get(2))),
                key.get("val_items").get(2).get("image_sha256").asText());
        assertEquals("plain", key.get("prompt_style").get("name").asText());
        assertEquals("delimiter:::-3", key.get("position").asText());
        assertEquals(1, key.get("seed").asInt());
        assertEquals(2, key.get("examples").asInt());
        try (Stream<Path> files = Files.list(tmp.resolve("vectors"))) {
            assertEquals(2, files.filter(f -> f.toString().endsWith(".json")).count());
        }

        // an entry whose vectors were changed on disk is extracted again, not trusted
        String name = org.taskvec.engine.CacheFolder.sha256(VectorCache.canonical(
                current.examplesKey(cx, task, Modality.TEXT, 2, 1)).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        Path npy = tmp.resolve("vectors").resolve(name + ".npy");
        byte[] b = Files.readAllBytes(npy);
        b[b.length - 1] ^= 1;
        Files.write(npy, b);
        VectorCache later = new VectorCache(tmp.resolve("vectors"));
        assertArrayEquals(v[1], later.examples(cx, task, Modality.TEXT, 2, 1)[1], 1e-4f);
        assertEquals(1, later.misses(), "a changed entry is extracted again");
        later.examples(cx, task, Modality.TEXT, 2, 1);
        assertEquals(1, later.hits(), "and then served");
    }
}
