package org.taskvec.organism;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.TestModels;
import org.taskvec.cli.TaskvecCli;
import org.taskvec.engine.Image;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.tasks.IclPrompts;
import org.taskvec.tasks.Modality;
import org.taskvec.tasks.TaskItem;
import org.taskvec.testing.ChildProcess;

/**
 * The organism's training data: written episodes against the prompt code and the engine's tokenizer and layout,
 * targets, image slots, the recipe's rules and proportions, determinism, and the manifest's counts.
 */
class EpisodesTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static Model model;
    static Session session;
    static Catalog catalog;
    static Map<String, Object> layout;
    @TempDir
    static Path tmp;
    static Data stage1;
    static Data stage2;
    static Data ablation;

    /** A written dataset read back. */
    record Data(Path dir, EpisodeConfig config, int[] tokens, int[] mask, long[] offsets, NpyArrays.Array episodes,
                NpyArrays.Array examples, NpyArrays.Array slots, NpyArrays.Array images, JsonNode items,
                JsonNode manifest) {
        int count() {
            return offsets.length - 1;
        }

        int[] tokensOf(int e) {
            return Arrays.copyOfRange(tokens, (int) offsets[e], (int) offsets[e + 1]);
        }

        int[] maskOf(int e) {
            return Arrays.copyOfRange(mask, (int) offsets[e], (int) offsets[e + 1]);
        }

        EpisodeType type(int e) {
            return EpisodeType.values()[(int) episodes.at(e, 0)];
        }

        int col(int e, String name) {
            return (int) episodes.at(e, EpisodeDataset.EPISODE_COLUMNS.indexOf(name));
        }

        /** Rows of examples.npy of episode e, in order. */
        List<long[]> examplesOf(int e) {
            List<long[]> out = new ArrayList<>();
            for (int i = 0; i < examples.shape()[0]; i++) {
                if (examples.at(i, 0) == e) {
                    long[] row = new long[5];
                    for (int j = 0; j < 5; j++) {
                        row[j] = examples.at(i, j);
                    }
                    out.add(row);
                }
            }
            return out;
        }

        List<long[]> slotsOf(int e) {
            List<long[]> out = new ArrayList<>();
            for (int i = 0; i < slots.shape()[0]; i++) {
                if (slots.at(i, 0) == e) {
                    out.add(new long[] {slots.at(i, 1), slots.at(i, 2), slots.at(i, 3)});
                }
            }
            return out;
        }

        Catalog.Item item(long id) {
            return catalog.items().get((int) id);
        }
    }

    @BeforeAll
    static void setUp() throws IOException {
        model = TestModels.loadTinyWithProjector();
        session = model.newSession(SessionParams.defaults().withContextSize(512).withThreads(TestModels.threads()));
        catalog = Catalog.builtin();
        layout = LayoutModels.describe(new LayoutModels.Files(TestModels.tinyModel(), TestModels.tinyProjector(),
                "given files"), model);
        stage1 = write("stage1", EpisodeConfig.of(1, 300, 7, true));
        stage2 = write("stage2", EpisodeConfig.of(2, 400, 7, true));
        ablation = write("ablation", EpisodeConfig.of(2, 200, 8, false));
    }

    @AfterAll
    static void tearDown() {
        model.close();
    }

    static Data write(String name, EpisodeConfig config) throws IOException {
        Path dir = tmp.resolve(name);
        EpisodeDataset.write(dir, config, catalog, session, layout, null);
        return read(dir, config);
    }

    static Data read(Path dir, EpisodeConfig config) throws IOException {
        NpyArrays.Array tokens = NpyArrays.read(dir.resolve("tokens.npy"));
        NpyArrays.Array mask = NpyArrays.read(dir.resolve("loss_mask.npy"));
        NpyArrays.Array offsets = NpyArrays.read(dir.resolve("episode_offsets.npy"));
        assertEquals("<i4", tokens.descr());
        assertEquals("|u1", mask.descr());
        assertEquals("<i8", offsets.descr());
        return new Data(dir, config, tokens.ints(), mask.ints(), offsets.values(),
                NpyArrays.read(dir.resolve("episodes.npy")), NpyArrays.read(dir.resolve("examples.npy")),
                NpyArrays.read(dir.resolve("image_slots.npy")), NpyArrays.read(dir.resolve("images.npy")),
                JSON.readTree(dir.resolve("items.json").toFile()), JSON.readTree(dir.resolve("manifest.json").toFile()));
    }

    static List<TaskItem> exampleItems(Data d, int e) {
        List<TaskItem> out = new ArrayList<>();
        for (long[] row : d.examplesOf(e)) {
            out.add(Episodes.answered(d.type(e), d.item(row[1])));
        }
        return out;
    }

    static String instruction(Data d, int e) {
        return catalog.tasks().get(d.col(e, "task")).instruction();
    }

    @Test
    void textEpisodeTokensEqualTokenizeOfTheIclPromptsText() {
        int checked = 0;
        for (Data d : List.of(stage1, stage2)) {
            for (int e = 0; e < d.count(); e++) {
                EpisodeType t = d.type(e);
                if (t.modality() != Modality.TEXT) {
                    continue;
                }
                TaskItem q = d.item(d.col(e, "query_item")).item();
                Prompt prompt = IclPrompts.build(exampleItems(d, e), Modality.TEXT, q, Modality.TEXT, null);
                if (t.instruction()) {
                    prompt = IclPrompts.instructed(instruction(d, e), prompt);
                }
                String text = prompt.toString() + IclPrompts.answer(q.output());
                int[] tokens = d.tokensOf(e);
                assertArrayEquals(model.tokenize(text, true), tokens, "episode " + e + ": " + text);
                // the prompt an evaluation asks is the start of the episode, token for token
                int start = d.col(e, "query_target_start");
                assertArrayEquals(model.tokenize(prompt.toString(), true), Arrays.copyOf(tokens, start), text);
                if (t.instruction()) {
                    // the instruction-vector prompt (xpatch's) is the start of an instruction episode
                    int[] inst = model.tokenize(IclPrompts.instruction(instruction(d, e)).toString(), true);
                    assertArrayEquals(inst, Arrays.copyOf(tokens, inst.length), text);
                    assertEquals(instruction(d, e) + "\nQ:" + q.input() + "\nA:" + q.output() + "\n\n", text);
                } else {
                    StringBuilder literal = new StringBuilder();
                    for (TaskItem x : exampleItems(d, e)) {
                        literal.append("Q:").append(x.input()).append("\nA:").append(x.output()).append("\n\n");
                    }
                    assertEquals(literal + "Q:" + q.input() + "\nA:" + q.output() + "\n\n", text);
                }
                checked++;
            }
        }
        assertTrue(checked > 300, "text episodes checked: " + checked);
    }

    @Test
    void theMaskCoversExactlyTheAnswerTokensAndTheNewlineThatEndsThem() {
        for (Data d : List.of(stage1, stage2, ablation)) {
            long ones = Arrays.stream(d.mask()).filter(x -> x == 1).count();
            assertEquals(d.manifest().get("target_tokens").asLong(), ones);
            assertTrue(Arrays.stream(d.mask()).allMatch(x -> x == 0 || x == 1));
            for (int e = 0; e < d.count(); e++) {
                int[] tokens = d.tokensOf(e);
                int[] mask = d.maskOf(e);
                assertEquals(model.bosToken(), tokens[0], "BOS first");
                List<int[]> spans = new ArrayList<>();
                List<String> answers = new ArrayList<>();
                for (long[] row : d.examplesOf(e)) {
                    spans.add(new int[] {(int) row[3], (int) row[4]});
                    answers.add(Episodes.answered(d.type(e), d.item(row[1])).output());
                }
                spans.add(new int[] {d.col(e, "query_target_start"), d.col(e, "query_target_end")});
                answers.add(Episodes.answered(d.type(e), d.item(d.col(e, "query_item"))).output());
                int[] expected = new int[tokens.length];
                for (int k = 0; k < spans.size(); k++) {
                    int[] s = spans.get(k);
                    Arrays.fill(expected, s[0], s[1], 1);
                    assertEquals(answers.get(k) + "\n", model.detokenize(Arrays.copyOfRange(tokens, s[0], s[1])),
                            "episode " + e + " answer " + k);
                    assertEquals(IclPrompts.DELIMITER, model.tokenText(tokens[s[0] - 1]), "a target follows 'A:'");
                    assertEquals("\n", model.tokenText(tokens[s[1]]), "the separator's second newline is context");
                }
                assertArrayEquals(expected, mask, "episode " + e);
            }
        }
    }

    @Test
    void imageSlotsAreWhereTheEngineLaysTheSamePromptOut() throws IOException {
        int checked = 0;
        int h = (int) stage2.images().shape()[1];
        int w = (int) stage2.images().shape()[2];
        for (int e = 0; e < stage2.count(); e++) {
            EpisodeType t = stage2.type(e);
            if (t.modality() != Modality.IMAGE) {
                assertEquals(0, stage2.slotsOf(e).size());
                continue;
            }
            Catalog.Item qi = stage2.item(stage2.col(e, "query_item"));
            TaskItem q = Episodes.answered(t, qi);
            List<TaskItem> items = new ArrayList<>(exampleItems(stage2, e));
            Prompt prompt = IclPrompts.build(items, Modality.IMAGE, q, Modality.IMAGE,
                    it -> Image.read(catalog.tasks().get(qi.task()).imageOf(it)));
            if (t.instruction()) {
                prompt = IclPrompts.instructed(instruction(stage2, e), prompt);
            }
            List<Image> images = new ArrayList<>();
            prompt.parts().stream().filter(Prompt.Part::isImage).forEach(p -> images.add(p.image()));
            int[] full = session.layout(Prompt.withImages(prompt + IclPrompts.answer(q.output()), images));
            assertArrayEquals(full, stage2.tokensOf(e), "episode " + e);
            assertArrayEquals(session.layout(prompt), Arrays.copyOf(full, stage2.col(e, "query_target_start")));
            items.add(q);
            List<long[]> slots = stage2.slotsOf(e);
            assertEquals(items.size(), slots.size());
            assertEquals(items.size(), stage2.col(e, "n_images"));
            int k = 0;
            for (int i = 0; i < full.length; i++) {
                if (full[i] == -1 - k) {
                    long[] s = slots.get(k);
                    assertEquals(i, s[0], "slot start");
                    int len = 0;
                    while (i + len < full.length && full[i + len] == -1 - k) {
                        len++;
                    }
                    assertEquals(len, s[1], "slot length");
                    assertEquals(16, len, "the tiny projector's tokens per image");
                    assertEquals(items.get(k).image(), catalog.imageFiles().get((int) s[2]));
                    // images.npy holds the pixels the engine hands to libmtmd
                    byte[] rgb = Image.read(catalog.imagePath((int) s[2])).rgb();
                    long base = s[2] * h * w * 3;
                    for (int b = 0; b < rgb.length; b += 97) {
                        assertEquals(Byte.toUnsignedInt(rgb[b]), stage2.images().values()[(int) (base + b)]);
                    }
                    i += len - 1;
                    k++;
                }
            }
            assertEquals(items.size(), k);
            checked++;
        }
        assertTrue(checked > 200, "image episodes checked: " + checked);
        assertEquals(16, stage2.manifest().get("image_tokens_per_image").asInt());
    }

    @Test
    void noStage2EpisodeHasTextExamplesWithAnImageQuery() {
        for (Data d : List.of(stage2, ablation)) {
            for (int e = 0; e < d.count(); e++) {
                int[] tokens = d.tokensOf(e);
                int queryStart = d.examplesOf(e).isEmpty() ? 0 : (int) d.examplesOf(e).get(d.examplesOf(e).size() - 1)[4];
                boolean imageQuery = false;
                for (int i = queryStart; i < d.col(e, "query_target_start"); i++) {
                    imageQuery |= tokens[i] < 0;
                }
                long imageExamples = d.slotsOf(e).stream().filter(s -> s[0] < queryStart).count();
                if (imageQuery) {
                    assertEquals(d.col(e, "n_examples"), imageExamples, "episode " + e + ": every example an image");
                } else {
                    assertEquals(0, imageExamples, "episode " + e + ": image examples with a text query");
                }
            }
        }
        // and in the plans of many seeds, every episode is unimodal
        for (long seed = 1; seed <= 20; seed++) {
            for (Episodes.Plan p : Episodes.plan(EpisodeConfig.of(2, 1000, seed, seed % 2 == 0), catalog)) {
                assertTrue(p.type().modality() == Modality.TEXT || p.type().modality() == Modality.IMAGE);
                assertFalse(p.type().incontext() && p.examples().isEmpty());
                assertTrue(p.type().incontext() || p.examples().isEmpty());
            }
        }
    }

    @Test
    void proportionsAreTheRequestedOnes() {
        for (Data d : List.of(stage1, stage2, ablation)) {
            int[] counts = new int[EpisodeType.values().length];
            for (int e = 0; e < d.count(); e++) {
                counts[d.type(e).ordinal()]++;
                int n = d.col(e, "n_examples");
                if (d.type(e).incontext()) {
                    assertTrue(n >= 1 && n <= 6, "examples " + n);
                } else {
                    assertEquals(0, n);
                }
            }
            for (EpisodeType t : EpisodeType.values()) {
                double share = d.config().mix().getOrDefault(t, 0.0);
                assertEquals(share * d.count(), counts[t.ordinal()], 1.0, t.key());
                assertEquals(counts[t.ordinal()], d.manifest().get("counts").get(t.key()).asInt(), t.key());
            }
            if (d.config().stage() == 1) {
                assertEquals(0, d.slots().shape()[0], "stage 1 has no images");
            }
        }
        assertEquals(0, ablation.manifest().get("counts").get("image-icl").asInt());
        double nameShare = stage2.manifest().get("counts").get("image-name").asDouble() / stage2.count();
        assertTrue(nameShare > 0.3 && nameShare < 0.36, "about a third of stage 2 names the entity: " + nameShare);
        // every number of examples 1..6 occurs
        assertEquals(6, stage1.manifest().get("examples_per_episode").get("text-icl").size());
    }

    @Test
    void querySplitsAndExampleSplitsAreWhatTheManifestSays() {
        for (Data d : List.of(stage1, stage2, ablation)) {
            Map<String, Integer> queries = new HashMap<>();
            Map<String, Integer> examples = new HashMap<>();
            for (int e = 0; e < d.count(); e++) {
                JsonNode item = d.items().get("items").get(d.col(e, "query_item"));
                String split = item.get("split").asText();
                assertEquals(split.equals("val") ? Catalog.VAL : Catalog.TEST, d.col(e, "query_split"));
                assertEquals(d.col(e, "task"), item.get("task").asInt());
                String task = catalog.tasks().get(d.col(e, "task")).name();
                queries.merge(d.type(e).key() + "/" + split, 1, Integer::sum);
                queries.merge(d.type(e).key() + "/" + task + "/" + split, 1, Integer::sum);
                for (long[] row : d.examplesOf(e)) {
                    JsonNode x = d.items().get("items").get((int) row[1]);
                    assertEquals(x.get("split").asText().equals("val") ? Catalog.VAL : Catalog.TEST, row[2]);
                    assertEquals(d.col(e, "task"), x.get("task").asInt(), "examples of the episode's task");
                    examples.merge(d.type(e).key() + "/" + x.get("split").asText(), 1, Integer::sum);
                }
            }
            JsonNode m = d.manifest();
            int val = 0;
            int test = 0;
            for (EpisodeType t : EpisodeType.values()) {
                for (String s : List.of("val", "test")) {
                    assertEquals(queries.getOrDefault(t.key() + "/" + s, 0), m.get("query_splits").get(t.key()).get(s).asInt());
                    assertEquals(examples.getOrDefault(t.key() + "/" + s, 0), m.get("example_splits").get(t.key()).get(s).asInt());
                    for (int k = 0; k < catalog.tasks().size(); k++) {
                        String task = catalog.tasks().get(k).name();
                        assertEquals(queries.getOrDefault(t.key() + "/" + task + "/" + s, 0),
                                m.get("query_splits_by_task").get(t.key()).get(task).get(s).asInt());
                    }
                }
                val += m.get("query_splits").get(t.key()).get("val").asInt();
                test += m.get("query_splits").get(t.key()).get("test").asInt();
            }
            assertEquals(d.count(), val + test);
            assertTrue(val > 0 && test > 0, "queries come from both splits");
        }
    }

    @Test
    void theSameSeedGivesTheSameBytesInAnotherJvmAndAnotherSeedOtherData() throws IOException {
        Path again = tmp.resolve("stage2-again");
        EpisodeDataset.write(again, stage2.config(), catalog, session, layout, null);
        assertSameFiles(stage2.dir(), again);

        // the command line, in a JVM of its own (hash seeds, map orders), writes the same bytes
        Path cli = tmp.resolve("stage2-cli");
        ChildProcess.java("EpisodesTest/organism-data", List.of("-Dtaskvec.cache.dir="
                        + System.getProperty("taskvec.cache.dir", "target/test-cache")),
                "org.taskvec.cli.TaskvecCli", "organism-data", "--out", cli.toString(), "--stage", "2",
                "--episodes", "400", "--seed", "7", "--model", TestModels.tinyModel().toString(), "--mmproj",
                TestModels.tinyProjector().toString()).timeout(Duration.ofMinutes(3)).run().assertExit(0);
        assertSameFiles(stage2.dir(), cli);

        Path other = tmp.resolve("stage2-seed8");
        Map<String, Object> m = EpisodeDataset.write(other, EpisodeConfig.of(2, 400, 8, true), catalog, session,
                layout, null);
        assertNotEquals(stage2.manifest().get("data_fingerprint").asText(), m.get("data_fingerprint"));
        assertFalse(Arrays.equals(Files.readAllBytes(stage2.dir().resolve("tokens.npy")),
                Files.readAllBytes(other.resolve("tokens.npy"))));
        assertArrayEquals(Files.readAllBytes(stage2.dir().resolve("images.npy")),
                Files.readAllBytes(other.resolve("images.npy")), "the images do not depend on the seed");
    }

    static void assertSameFiles(Path a, Path b) throws IOException {
        List<String> names = new ArrayList<>(EpisodeDataset.DATA_FILES);
        names.add("manifest.json");
        for (String f : names) {
            assertArrayEquals(Files.readAllBytes(a.resolve(f)), Files.readAllBytes(b.resolve(f)), f);
        }
        try (var s = Files.list(b)) {
            assertEquals(names.size(), s.count(), "no other files");
        }
    }

    @Test
    void theManifestFingerprintsTheFilesAndTheVocabulary() throws Exception {
        JsonNode m = stage2.manifest();
        StringBuilder lines = new StringBuilder();
        for (String f : EpisodeDataset.DATA_FILES) {
            String sha = org.taskvec.engine.CacheFolder.sha256(stage2.dir().resolve(f));
            assertEquals(sha, m.get("files").get(f).get("sha256").asText(), f);
            lines.append(sha).append("  ").append(f).append('\n');
        }
        assertEquals(EpisodeDataset.sha256(lines.toString().getBytes(StandardCharsets.UTF_8)),
                m.get("data_fingerprint").asText());
        assertTrue(m.get("vocabulary").get("synthesizer_vocabulary").asBoolean());
        assertEquals(32000, m.get("vocabulary").get("size").asInt());
        assertEquals(EpisodeDataset.vocabularyFingerprint(org.taskvec.synth.Vocabulary.llamaSpm()),
                m.get("vocabulary").get("fingerprint").asText());
        assertEquals(List.of(stage2.tokens().length), JSON.convertValue(m.get("files").get("tokens.npy").get("shape"),
                List.class));
        assertEquals("int32", m.get("files").get("tokens.npy").get("dtype").asText());
        assertEquals(Episodes.FORMAT_VERSION, m.get("code").get("episodes_format").asInt());
        assertEquals(stage2.count() + 1, stage2.offsets().length);
        assertEquals(stage2.tokens().length, stage2.offsets()[stage2.count()]);
    }

    @Test
    void configRefusesWhatTheRecipeRulesOut() {
        assertThrows(InvalidInputException.class, () -> new EpisodeConfig(1, 10, 1, true, 1, 6,
                Map.of(EpisodeType.IMAGE_NAME, 1.0)));
        assertThrows(InvalidInputException.class, () -> new EpisodeConfig(2, 10, 1, false, 1, 6,
                Map.of(EpisodeType.IMAGE_ICL, 0.5, EpisodeType.TEXT_ICL, 0.5)));
        assertThrows(InvalidInputException.class, () -> EpisodeConfig.of(3, 10, 1, true));
        assertThrows(InvalidInputException.class, () -> new EpisodeConfig(1, 10, 1, true, 0, 6,
                EpisodeConfig.defaultMix(1, true)));
        assertEquals(Map.of(EpisodeType.TEXT_ICL, 0.25, EpisodeType.IMAGE_NAME, 0.75),
                new EpisodeConfig(2, 8, 1, true, 1, 6, EpisodeConfig.parseMix("text-icl=1,image-name=3")).mix());
        assertEquals(IclPrompts.query("France") , "Q:France\nA:");
        assertEquals("The capital city of the country:\nQ:France\nA:", IclPrompts.instructed(
                "The capital city of the country", IclPrompts.query(new TaskItem("France", "Paris", null),
                        Modality.TEXT, null)).toString());
    }

    @Test
    void theCommandLineLaysImagesOutAsAskedAndRefusesImagesInStage1() throws IOException {
        // the default (generated tiny model and projector) and a projector alone (with a generated text model of its
        // width) lay out as the given tiny files do: same data
        Path def = tmp.resolve("cli-default");
        assertEquals(0, cli("organism-data", "--out", def.toString(), "--stage", "2", "--episodes", "60", "--seed", "3"));
        Path proj = tmp.resolve("cli-projector");
        assertEquals(0, cli("organism-data", "--out", proj.toString(), "--stage", "2", "--episodes", "60", "--seed",
                "3", "--mmproj", TestModels.tinyProjector().toString()));
        String a = JSON.readTree(def.resolve("manifest.json").toFile()).get("data_fingerprint").asText();
        String b = JSON.readTree(proj.resolve("manifest.json").toFile()).get("data_fingerprint").asText();
        assertEquals(a, b);

        Path big = tmp.resolve("cli-64");
        assertEquals(0, cli("organism-data", "--out", big.toString(), "--stage", "2", "--episodes", "60", "--seed",
                "3", "--image-tokens", "64", "--no-image-icl"));
        Data d = read(big, EpisodeConfig.of(2, 60, 3, false));
        assertEquals(64, d.manifest().get("image_tokens_per_image").asInt());
        assertTrue(d.slots().shape()[0] > 0);
        for (int i = 0; i < d.slots().shape()[0]; i++) {
            assertEquals(64, d.slots().at(i, 2));
        }
        assertEquals(0, d.manifest().get("counts").get("image-icl").asInt());

        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        int code;
        try {
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            code = TaskvecCli.run("organism-data", "--out", tmp.resolve("bad").toString(), "--stage", "1",
                    "--episodes", "10", "--mix", "image-name=1");
        } finally {
            System.setErr(old);
        }
        assertEquals(1, code);
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("stage 1 trains the text LLM"), err.toString());
    }

    /** The numpy-only reader (src/test/python/check_episodes.py) loads and checks what was written. */
    @Test
    void numpyAloneReadsAndChecksTheFiles() {
        String python = System.getProperty("taskvec.python", "python3");
        ChildProcess.Result has = ChildProcess.of("EpisodesTest/has-numpy", python, "-c", "import numpy")
                .timeout(Duration.ofSeconds(60)).run();
        if (has.exitCode() != 0) {
            String why = python + " cannot import numpy: " + has.stderr().strip();
            if (Boolean.getBoolean("taskvec.require.numpy")) {
                fail("the numpy check is required here (-Dtaskvec.require.numpy=true) but " + why);
            }
            System.err.println("SKIPPED EpisodesTest numpy check: " + why);
            org.junit.jupiter.api.Assumptions.abort("numpy check skipped: " + why);
        }
        for (Data d : List.of(stage1, stage2)) {
            ChildProcess.Result r = ChildProcess.of("EpisodesTest/check-episodes-" + d.dir().getFileName(), python,
                    Path.of("src/test/python/check_episodes.py").toString(), d.dir().toString(), "--show", "3")
                    .timeout(Duration.ofMinutes(2)).run().assertExit(0);
            assertTrue(r.stdout().contains("ok: " + d.count() + " episodes"), r.describe());
        }
    }

    static synchronized int cli(String... args) {
        PrintStream old = System.out;
        try {
            System.setOut(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
            return TaskvecCli.run(args);
        } finally {
            System.setOut(old);
        }
    }
}
