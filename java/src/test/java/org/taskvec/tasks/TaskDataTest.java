package org.taskvec.tasks;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;
import org.taskvec.engine.Image;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;

class TaskDataTest {
    static Model model;

    @BeforeAll
    static void load() {
        model = TestModels.loadTinyWithProjector();
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void builtinTasksHaveFixedSplitsAnImageForEveryItemAndNoDuplicates() throws Exception {
        int[][] sizes = {{30, 100}, {30, 97}, {30, 39}, {30, 38}, {30, 15}, {30, 10}};
        for (int t = 0; t < PaperTasks.NAMES.size(); t++) {
            String name = PaperTasks.NAMES.get(t);
            TaskData task = TaskLoader.builtin(name);
            assertEquals(sizes[t][0], task.val().size(), name + " val");
            assertEquals(sizes[t][1], task.test().size(), name + " test");
            Set<String> inputs = new HashSet<>();
            for (List<TaskItem> split : List.of(task.val(), task.test())) {
                for (TaskItem item : split) {
                    assertTrue(inputs.add(item.input()), name + ": duplicate input " + item.input());
                    assertFalse(item.output().isBlank(), name + ": empty output for " + item.input());
                    Path img = task.imageOf(item);
                    assertTrue(Files.isRegularFile(img), name + ": no image for " + item.input());
                    Image i = Image.read(img);
                    assertEquals(64, i.width(), img.toString());
                }
            }
            assertEquals(PaperTasks.instruction(name), task.instruction());
        }
        // spot checks of facts
        TaskData capitals = TaskLoader.builtin("country-capital");
        assertTrue(capitals.test().contains(new TaskItem("France", "Paris", "1f1eb-1f1f7.png"))
                || capitals.val().contains(new TaskItem("France", "Paris", "1f1eb-1f1f7.png")));
    }

    @Test
    void promptsAndPositionsAreThePapers() {
        List<TaskItem> ex = List.of(new TaskItem("Greece", "Athens", null), new TaskItem("Peru", "Lima", null));
        TaskItem q = new TaskItem("Italy", "Rome", null);
        Prompt p = IclPrompts.build(ex, Modality.TEXT, q, Modality.TEXT, i -> null);
        assertEquals("Q:Greece\nA:Athens\n\nQ:Peru\nA:Lima\n\nQ:Italy\nA:", p.toString());
        assertEquals("The capital city of the country:", IclPrompts.instruction("The capital city of the country")
                .toString());
        try (Session s = model.newSession(SessionParams.defaults().withContextSize(512).withThreads(TestModels.threads()))) {
            int[] layout = s.layout(p);
            int tv = IclPrompts.taskVectorPosition(true).resolve(layout, model)[0];
            // the task vector sits on the ":" of the last example's "A:", right before its answer "Lima"
            assertEquals(":", model.tokenText(layout[tv]));
            assertEquals("A", model.tokenText(layout[tv - 1]).strip());
            String after = model.detokenize(java.util.Arrays.copyOfRange(layout, tv + 1, tv + 5));
            assertTrue(after.startsWith("Lima"), after);
            assertEquals(layout.length - 1, IclPrompts.patchPosition().resolve(layout, model)[0]);

            // image query: Q:<image>\nA: with the image's 16 positions, the patch position is still the last
            Image img = Image.ofRgb(2, 2, new byte[12]);
            Prompt iq = IclPrompts.query(q, Modality.IMAGE, i -> img);
            assertEquals("Q:" + Prompt.MEDIA_MARKER + "\nA:", iq.toString());
            int[] il = s.layout(iq);
            assertEquals(il.length - 1, IclPrompts.patchPosition().resolve(il, model)[0]);
            assertEquals(16, java.util.Arrays.stream(il).filter(t -> t < 0).count());
            // image examples: each example's image in place of its input; the task vector is still at the 3rd ":"
            Prompt ie = IclPrompts.build(ex, Modality.IMAGE, q, Modality.TEXT, i -> img);
            int[] el = s.layout(ie);
            int etv = IclPrompts.taskVectorPosition(true).resolve(el, model)[0];
            assertEquals(":", model.tokenText(el[etv]));
            assertEquals(2, ie.imageCount());
        }
    }

    @Test
    void chatTemplatesShiftThePositionsByTheirOwnDelimiters() {
        PromptStyle vicuna = PromptStyle.chat(model, "vicuna");
        assertEquals(1, vicuna.trailingDelimiters(), "Vicuna's turn ends with 'ASSISTANT:'");
        TaskItem q = new TaskItem("Italy", "Rome", null);
        Prompt p = IclPrompts.build(List.of(new TaskItem("Greece", "Athens", null)), Modality.TEXT, q,
                Modality.TEXT, i -> null, vicuna);
        assertTrue(p.toString().contains("Q:Greece\nA:Athens\n\nQ:Italy\nA:"), p.toString());
        assertTrue(p.toString().strip().endsWith("ASSISTANT:"), p.toString());
        try (Session s = model.newSession(SessionParams.defaults().withContextSize(512).withThreads(TestModels.threads()))) {
            int[] layout = s.layout(p);
            int patch = IclPrompts.patchPosition(vicuna).resolve(layout, model)[0];
            assertEquals("A", model.tokenText(layout[patch - 1]).strip(), "the query's A:, not the template's");
            assertTrue(patch < layout.length - 1);
            int tv = IclPrompts.taskVectorPosition(true, vicuna).resolve(layout, model)[0];
            String after = model.detokenize(java.util.Arrays.copyOfRange(layout, tv + 1, tv + 5));
            assertTrue(after.startsWith("Athens"), "after the task-vector position: '" + after + "' in " + p);
        }
        // the generated model has no template of its own
        org.taskvec.engine.InvalidInputException e = assertThrows(org.taskvec.engine.InvalidInputException.class,
                () -> PromptStyle.chat(model, null));
        assertTrue(e.getMessage().contains("no chat template"), e.getMessage());
    }

    @Test
    void theMetricIsPrefixMatchingOfStrippedStrings() {
        assertTrue(Correctness.correct(" Paris", "Paris", true));
        assertTrue(Correctness.correct("Washington, D.C.", "Washington", true));
        assertTrue(Correctness.correct("Can", "Canis lupus", true), "one is a prefix of the other");
        assertFalse(Correctness.correct("paris", "Paris", true));
        assertTrue(Correctness.correct("paris", "Paris", false));
        assertFalse(Correctness.correct("", "Paris", true));
        assertFalse(Correctness.correct("  ", "Paris", true));
        assertFalse(Correctness.correct("Rome", "", true));
        assertFalse(Correctness.correct("Lyon", "Paris", true));
    }

    /** A small PNG of one colour, written where a test lays out task data. */
    static void png(Path file, int rgb) throws Exception {
        Files.createDirectories(file.getParent());
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(8, 8,
                java.awt.image.BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 8; x++) {
                img.setRGB(x, y, rgb);
            }
        }
        javax.imageio.ImageIO.write(img, "png", file.toFile());
    }

    @Test
    void paperFormatFoldersLoad(@TempDir Path dir) throws Exception {
        Files.createDirectories(dir.resolve("annotations"));
        png(dir.resolve("images/greece.png"), 0x0000ff);
        png(dir.resolve("images/italy.png"), 0x00ff00);
        png(dir.resolve("images/peru.png"), 0xff0000);
        Files.writeString(dir.resolve("annotations/country-capital_val.json"),
                "[{\"input\":\"Greece\",\"output\":\"Athens\",\"image\":\"greece.png\"}]");
        Files.writeString(dir.resolve("annotations/country-capital_test.json"),
                "[{\"input\":\"Italy\",\"output\":\"Rome\",\"image\":\"italy.png\"},"
                        + "{\"input\":\"Peru\",\"output\":\"Lima\",\"image\":\"peru.png\"}]");
        TaskData t = TaskLoader.paperFormat(dir, "country-capital");
        assertEquals(1, t.val().size());
        assertEquals(2, t.test().size());
        assertEquals("The capital city of the country:", t.instruction());
        assertEquals(dir.resolve("images/italy.png"), t.imageOf(t.test().get(0)));
        Files.writeString(dir.resolve("annotations/mine_val.json"), "[{\"input\":\"a\",\"output\":\"b\"}]");
        Files.writeString(dir.resolve("annotations/mine_test.json"), "[]");
        Files.writeString(dir.resolve("annotations/mine_instruction.txt"), "The next letter:\n");
        assertEquals("The next letter:", TaskLoader.paperFormat(dir, "mine").instruction());
        assertThrows(org.taskvec.engine.InvalidInputException.class, () -> TaskLoader.paperFormat(dir, "none"));
        Files.writeString(dir.resolve("annotations/bad_val.json"), "{\"input\":1}");
        Files.writeString(dir.resolve("annotations/bad_test.json"), "[]");
        org.taskvec.engine.InvalidInputException bad = assertThrows(org.taskvec.engine.InvalidInputException.class,
                () -> TaskLoader.paperFormat(dir, "bad"));
        assertTrue(bad.getMessage().contains("bad_val.json must hold a JSON array"), bad.getMessage());
    }

    /**
     * The layout the official download_data.sh leaves (data/annotations/{task}_{val,test}.json, data/images/...),
     * with records naming image paths relative to data/ (the official loader joins its data folder with them) and
     * one file in the {"data": [...]} form the official loader also accepts; paths relative to data/images load too.
     */
    @Test
    void theOfficialDataLayoutLoadsAsItComes(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("data");
        png(data.resolve("images/country-capital/Greece.png"), 0x0d5eaf);
        png(data.resolve("images/country-capital/Peru.png"), 0xd91023);
        png(data.resolve("images/country-capital/Italy.png"), 0x009246);
        png(data.resolve("images/Japan.png"), 0xbc002d);
        Files.createDirectories(data.resolve("annotations"));
        Files.writeString(data.resolve("annotations/country-capital_val.json"), "{\"data\": ["
                + "{\"input\": \"Greece\", \"output\": \"Athens\", \"image\": \"images/country-capital/Greece.png\"},"
                + "{\"input\": \"Peru\", \"output\": \"Lima\", \"image\": \"images/country-capital/Peru.png\"}]}");
        Files.writeString(data.resolve("annotations/country-capital_test.json"), "["
                + "{\"input\": \"Italy\", \"output\": \"Rome\", \"image\": \"images/country-capital/Italy.png\"},"
                + "{\"input\": \"Japan\", \"output\": \"Tokyo\", \"image\": \"Japan.png\"}]");
        TaskData t = TaskLoader.paperFormat(data, "country-capital");
        assertEquals(List.of("Greece", "Peru"), t.val().stream().map(TaskItem::input).toList());
        assertEquals(List.of("Athens", "Lima"), t.val().stream().map(TaskItem::output).toList());
        assertEquals(List.of("Italy", "Japan"), t.test().stream().map(TaskItem::input).toList());
        assertEquals(data.resolve("images/country-capital/Greece.png"), t.imageOf(t.val().get(0)));
        assertEquals(data.resolve("images/country-capital/Italy.png"), t.imageOf(t.test().get(0)));
        assertEquals(data.resolve("images/Japan.png"), t.imageOf(t.test().get(1)), "relative to data/images");
        Image peru = Image.read(t.imageOf(t.val().get(1)));
        assertEquals(8, peru.width());

        // an image in neither place: a typed error that names both paths tried
        Files.writeString(data.resolve("annotations/food-color_val.json"),
                "{\"data\": [{\"input\": \"Kiwi\", \"output\": \"green\", \"image\": \"images/food/Kiwi.png\"}]}");
        Files.writeString(data.resolve("annotations/food-color_test.json"), "[]");
        MissingImageException e = assertThrows(MissingImageException.class,
                () -> TaskLoader.paperFormat(data, "food-color"));
        assertEquals(List.of(data.resolve("images/food/Kiwi.png"), data.resolve("images/images/food/Kiwi.png")),
                e.tried());
        assertTrue(e.getMessage().contains("food-color_val.json: image 'images/food/Kiwi.png' not found; tried "
                + data.resolve("images/food/Kiwi.png") + ", " + data.resolve("images/images/food/Kiwi.png")),
                e.getMessage());
        // an object without "data" is still refused
        Files.writeString(data.resolve("annotations/odd_val.json"), "{\"items\": []}");
        Files.writeString(data.resolve("annotations/odd_test.json"), "[]");
        assertThrows(org.taskvec.engine.InvalidInputException.class, () -> TaskLoader.paperFormat(data, "odd"));
    }
}
