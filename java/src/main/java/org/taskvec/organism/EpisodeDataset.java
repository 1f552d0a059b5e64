package org.taskvec.organism;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.taskvec.engine.CacheFolder;
import org.taskvec.engine.Image;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.gguf.GgufFile;
import org.taskvec.gguf.GgufValue;
import org.taskvec.synth.Vocabulary;
import org.taskvec.tasks.IclPrompts;

/**
 * Writes a dataset of organism episodes into a folder, in files numpy reads alone (little-endian, C order):
 *
 * <ul>
 *   <li>{@code tokens.npy} int32 [T]: every episode's {@link Session#layout} one after the other (each starts
 *       with BOS); at an image's positions {@code -1 - k} for the episode's k-th image (0-based).</li>
 *   <li>{@code loss_mask.npy} uint8 [T]: 1 on target tokens (each answer's tokens and the "\n" token that ends it),
 *       else 0 (also at image positions).</li>
 *   <li>{@code episode_offsets.npy} int64 [E + 1]: episode e is {@code tokens[offsets[e]:offsets[e+1]]}.</li>
 *   <li>{@code episodes.npy} int32 [E, 8]: type (index into the manifest's {@code episode_types}), task (index into
 *       {@code tasks}), n_examples, query_item (id in {@code items.json}), query_split (0 val, 1 test),
 *       query_target_start, query_target_end (positions within the episode; the query's final ":" is at
 *       query_target_start - 1), n_images.</li>
 *   <li>{@code examples.npy} int32 [X, 5], X = the sum of n_examples, in episode order: episode, item, split,
 *       target_start, target_end (positions within the episode).</li>
 *   <li>{@code image_slots.npy} int32 [S, 4], in episode order: episode, start (position within the episode),
 *       length (tokens, as the projector makes them), image (index into {@code images.npy} and
 *       {@code items.json}'s {@code images}).</li>
 *   <li>{@code images.npy} uint8 [I, H, W, 3]: the RGB pixels of every image file as the engine reads it
 *       ({@link Image#read}, alpha dropped) and hands it to libmtmd, which resizes it to the projector's size.</li>
 *   <li>{@code items.json}: tasks (name, instruction, split sizes), items (id, task, split, input, output, image)
 *       and images (file name, SHA-256 of the PNG).</li>
 *   <li>{@code sample.txt}: the first episodes as text with their targets, for people.</li>
 *   <li>{@code manifest.json}: config, counts per type, task and split, the prompt format, the layout model and
 *       projector, the vocabulary fingerprint, the code version, each file's dtype, shape and SHA-256, and the data
 *       fingerprint (SHA-256 of the lines {@code "<sha256>  <file>\n"} of the files above, sorted by file name).</li>
 * </ul>
 *
 * Nothing written depends on the time, the machine or the folder: the same config, code and layout model give the
 * same bytes.
 */
public final class EpisodeDataset {
    public static final List<String> DATA_FILES = List.of("episode_offsets.npy", "episodes.npy", "examples.npy",
            "image_slots.npy", "images.npy", "items.json", "loss_mask.npy", "sample.txt", "tokens.npy");
    public static final List<String> EPISODE_COLUMNS = List.of("type", "task", "n_examples", "query_item",
            "query_split", "query_target_start", "query_target_end", "n_images");
    public static final List<String> EXAMPLE_COLUMNS = List.of("episode", "item", "split", "target_start",
            "target_end");
    public static final List<String> SLOT_COLUMNS = List.of("episode", "start", "length", "image");
    static final int SAMPLE_EPISODES = 24;
    /** Datasets of this many episodes or more report progress every tenth. */
    static final int PROGRESS_FROM = 5000;

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private EpisodeDataset() {}

    /** Growable int buffer. */
    private static final class Ints {
        int[] a = new int[1024];
        int n;

        void add(int x) {
            if (n == a.length) {
                a = Arrays.copyOf(a, a.length * 2);
            }
            a[n++] = x;
        }

        void addAll(int... xs) {
            for (int x : xs) {
                add(x);
            }
        }
    }

    /**
     * Writes the dataset of config into out (created if needed; files of the same names are replaced). layout
     * describes the model and projector session belongs to (recorded in the manifest). Returns the manifest.
     */
    public static Map<String, Object> write(Path out, EpisodeConfig config, Catalog catalog, Session session,
                                            Map<String, Object> layout, Consumer<String> log) throws IOException {
        Files.createDirectories(out);
        Model model = session.model();
        int imageTokens = imageTokens(session, catalog);
        List<Episodes.Plan> plans = Episodes.plan(config, catalog);

        Ints tokens = new Ints();
        byte[] mask = new byte[1 << 16];
        long[] offsets = new long[plans.size() + 1];
        Ints episodes = new Ints();
        Ints examples = new Ints();
        Ints slots = new Ints();
        StringBuilder sample = new StringBuilder();
        int maxTokens = 0;
        long targetTokens = 0;
        long t0 = System.nanoTime();
        for (int e = 0; e < plans.size(); e++) {
            Episodes.Plan p = plans.get(e);
            Episodes.Rendered r = Episodes.render(p, catalog, session);
            offsets[e] = tokens.n;
            if (mask.length < tokens.n + r.mask().length) {
                mask = Arrays.copyOf(mask, Math.max(mask.length * 2, tokens.n + r.mask().length));
            }
            System.arraycopy(r.mask(), 0, mask, tokens.n, r.mask().length);
            tokens.addAll(r.tokens());
            maxTokens = Math.max(maxTokens, r.tokens().length);
            for (byte b : r.mask()) {
                targetTokens += b;
            }
            int[] q = r.targets()[r.targets().length - 1];
            episodes.addAll(p.type().ordinal(), p.task(), p.examples().size(), p.query().id(), p.query().split(),
                    q[0], q[1], r.slots().length);
            for (int i = 0; i < p.examples().size(); i++) {
                Catalog.Item x = p.examples().get(i);
                examples.addAll(e, x.id(), x.split(), r.targets()[i][0], r.targets()[i][1]);
            }
            for (int[] s : r.slots()) {
                if (s[1] != imageTokens) {
                    throw new IllegalStateException("an image took " + s[1] + " positions in episode " + e
                            + ", a probe " + imageTokens);
                }
                slots.addAll(e, s[0], s[1], s[2]);
            }
            if (e < SAMPLE_EPISODES) {
                sample(sample, e, r, catalog, model);
            }
            if (log != null && plans.size() >= PROGRESS_FROM && (e + 1) % (plans.size() / 10) == 0) {
                log.accept(String.format(java.util.Locale.ROOT, "%d of %d episodes laid out (%.1f s)", e + 1,
                        plans.size(), (System.nanoTime() - t0) / 1e9));
            }
        }
        offsets[plans.size()] = tokens.n;

        int e = plans.size();
        NpyArrays.writeInt32(out.resolve("tokens.npy"), new long[] {tokens.n}, tokens.a, tokens.n);
        NpyArrays.writeUint8(out.resolve("loss_mask.npy"), new long[] {tokens.n}, mask, tokens.n);
        NpyArrays.writeInt64(out.resolve("episode_offsets.npy"), new long[] {e + 1}, offsets, e + 1);
        NpyArrays.writeInt32(out.resolve("episodes.npy"), new long[] {e, EPISODE_COLUMNS.size()}, episodes.a, episodes.n);
        NpyArrays.writeInt32(out.resolve("examples.npy"), new long[] {examples.n / EXAMPLE_COLUMNS.size(),
                EXAMPLE_COLUMNS.size()}, examples.a, examples.n);
        NpyArrays.writeInt32(out.resolve("image_slots.npy"), new long[] {slots.n / SLOT_COLUMNS.size(),
                SLOT_COLUMNS.size()}, slots.a, slots.n);
        long[] imageShape = writeImages(out.resolve("images.npy"), catalog);
        Files.write(out.resolve("items.json"), JSON.writeValueAsBytes(items(catalog)));
        Files.writeString(out.resolve("sample.txt"), sample.toString(), StandardCharsets.UTF_8);

        Map<String, Object> m = new LinkedHashMap<>();
        m.put("format", "taskvec organism episodes");
        m.put("format_version", Episodes.FORMAT_VERSION);
        String version = Episodes.class.getPackage().getImplementationVersion();
        m.put("code", ordered("taskvec", version == null ? "dev" : version, "episodes_format", Episodes.FORMAT_VERSION));
        m.put("stage", config.stage());
        m.put("episodes", e);
        m.put("seed", config.seed());
        m.put("image_icl", config.imageIcl());
        m.put("examples", ordered("min", config.minExamples(), "max", config.maxExamples()));
        Map<String, Object> mix = new LinkedHashMap<>();
        config.mix().forEach((t, w) -> mix.put(t.key(), w));
        m.put("requested_mix", mix);
        m.put("episode_types", Arrays.stream(EpisodeType.values()).map(EpisodeType::key).toList());
        m.put("tasks", catalog.tasks().stream().map(t -> t.name()).toList());
        m.put("splits", List.of("val", "test"));
        m.putAll(statistics(plans, catalog));
        m.put("tokens", tokens.n);
        m.put("target_tokens", targetTokens);
        m.put("image_slots", slots.n / SLOT_COLUMNS.size());
        m.put("image_tokens_per_image", imageTokens);
        m.put("max_episode_tokens", maxTokens);
        m.put("prompt_format", promptFormat());
        m.put("targets", "each answer's tokens and the token of the first \"\\n\" after it (which ends the answer); "
                + "answers of examples and of the query alike; the second \"\\n\" and all other tokens are context");
        Map<String, Object> lay = new LinkedHashMap<>(layout);
        lay.put("image_tokens", imageTokens);
        m.put("layout", lay);
        m.put("vocabulary", vocabulary(model));
        m.put("columns", ordered("episodes.npy", EPISODE_COLUMNS, "examples.npy", EXAMPLE_COLUMNS,
                "image_slots.npy", SLOT_COLUMNS));
        Map<String, Object> files = new LinkedHashMap<>();
        StringBuilder lines = new StringBuilder();
        for (String f : DATA_FILES) {
            Path path = out.resolve(f);
            String sha = CacheFolder.sha256(path);
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("sha256", sha);
            d.put("bytes", Files.size(path));
            if (f.endsWith(".npy")) {
                d.put("dtype", switch (f) {
                    case "loss_mask.npy", "images.npy" -> "uint8";
                    case "episode_offsets.npy" -> "int64";
                    default -> "int32";
                });
                d.put("shape", switch (f) {
                    case "tokens.npy", "loss_mask.npy" -> List.of(tokens.n);
                    case "episode_offsets.npy" -> List.of(e + 1);
                    case "episodes.npy" -> List.of(e, EPISODE_COLUMNS.size());
                    case "examples.npy" -> List.of(examples.n / EXAMPLE_COLUMNS.size(), EXAMPLE_COLUMNS.size());
                    case "image_slots.npy" -> List.of(slots.n / SLOT_COLUMNS.size(), SLOT_COLUMNS.size());
                    default -> Arrays.stream(imageShape).boxed().toList();
                });
            }
            files.put(f, d);
            lines.append(sha).append("  ").append(f).append('\n');
        }
        m.put("files", files);
        m.put("data_fingerprint", sha256(lines.toString().getBytes(StandardCharsets.UTF_8)));
        Files.write(out.resolve("manifest.json"), JSON.writeValueAsBytes(m));
        return m;
    }

    /** Positions one image takes in a layout (a probe: a bare image query); 0 without a projector. */
    static int imageTokens(Session session, Catalog catalog) {
        if (!session.model().hasProjector()) {
            return 0;
        }
        int[] l = session.layout(Prompt.withImages(IclPrompts.query(Prompt.MEDIA_MARKER), List.of(catalog.image(0))));
        return (int) Arrays.stream(l).filter(t -> t < 0).count();
    }

    private static void sample(StringBuilder sb, int e, Episodes.Rendered r, Catalog catalog, Model model) {
        Episodes.Plan p = r.plan();
        sb.append("=== episode ").append(e).append(": ").append(p.type().key()).append(", ")
                .append(catalog.tasks().get(p.task()).name()).append(", ").append(p.examples().size())
                .append(" examples (splits ");
        for (Catalog.Item x : p.examples()) {
            sb.append(x.splitName()).append(' ');
        }
        sb.append("), query '").append(p.query().item().input()).append("' (").append(p.query().splitName())
                .append("), ").append(r.tokens().length).append(" tokens, ").append(r.slots().length)
                .append(" images\n");
        sb.append(Episodes.sequence(p, catalog)).append('\n');
        sb.append("targets:");
        for (int[] t : r.targets()) {
            sb.append(" [").append(t[0]).append(',').append(t[1]).append(") ")
                    .append(json(model.detokenize(Arrays.copyOfRange(r.tokens(), t[0], t[1]))));
        }
        sb.append("\n\n");
    }

    private static String json(String s) {
        try {
            return new ObjectMapper().writeValueAsString(s);
        } catch (IOException ex) {
            throw new IllegalStateException(ex);
        }
    }

    private static long[] writeImages(Path path, Catalog catalog) throws IOException {
        int n = catalog.imageFiles().size();
        Image first = catalog.image(0);
        int w = first.width();
        int h = first.height();
        byte[] all = new byte[Math.multiplyExact(n, w * h * 3)];
        for (int k = 0; k < n; k++) {
            Image img = catalog.image(k);
            if (img.width() != w || img.height() != h) {
                throw new IllegalStateException("image " + catalog.imageFiles().get(k) + " is " + img.width() + "x"
                        + img.height() + ", the others " + w + "x" + h);
            }
            System.arraycopy(img.rgb(), 0, all, k * w * h * 3, w * h * 3);
        }
        long[] shape = {n, h, w, 3};
        NpyArrays.writeUint8(path, shape, all, all.length);
        return shape;
    }

    private static Map<String, Object> items(Catalog catalog) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        List<Object> tasks = new ArrayList<>();
        for (int t = 0; t < catalog.tasks().size(); t++) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("index", t);
            d.put("name", catalog.tasks().get(t).name());
            d.put("instruction", catalog.tasks().get(t).instruction());
            d.put("first_item", catalog.items(t).get(0).id());
            d.put("val", catalog.tasks().get(t).val().size());
            d.put("test", catalog.tasks().get(t).test().size());
            tasks.add(d);
        }
        m.put("tasks", tasks);
        List<Object> items = new ArrayList<>();
        for (Catalog.Item i : catalog.items()) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("id", i.id());
            d.put("task", i.task());
            d.put("split", i.splitName());
            d.put("index_in_split", i.indexInSplit());
            d.put("input", i.item().input());
            d.put("output", i.item().output());
            d.put("image", i.image());
            items.add(d);
        }
        m.put("items", items);
        List<Object> images = new ArrayList<>();
        for (int k = 0; k < catalog.imageFiles().size(); k++) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("index", k);
            d.put("file", catalog.imageFiles().get(k));
            d.put("sha256", CacheFolder.sha256(catalog.imagePath(k)));
            images.add(d);
        }
        m.put("images", images);
        return m;
    }

    /** Counts per type, per type and task, and of the splits queries and examples came from. */
    static Map<String, Object> statistics(List<Episodes.Plan> plans, Catalog catalog) {
        Map<String, Object> counts = new LinkedHashMap<>();
        Map<String, Object> byTask = new LinkedHashMap<>();
        Map<String, Object> querySplits = new LinkedHashMap<>();
        Map<String, Object> querySplitsByTask = new LinkedHashMap<>();
        Map<String, Object> exampleSplits = new LinkedHashMap<>();
        Map<String, Object> exampleCounts = new LinkedHashMap<>();
        List<String> splits = List.of("val", "test");
        for (EpisodeType t : EpisodeType.values()) {
            List<Episodes.Plan> mine = plans.stream().filter(p -> p.type() == t).toList();
            counts.put(t.key(), mine.size());
            Map<String, Integer> tasks = new LinkedHashMap<>();
            Map<String, Object> qTasks = new LinkedHashMap<>();
            for (int k = 0; k < catalog.tasks().size(); k++) {
                final int task = k;
                List<Episodes.Plan> ofTask = mine.stream().filter(p -> p.task() == task).toList();
                tasks.put(catalog.tasks().get(k).name(), ofTask.size());
                Map<String, Integer> s = new LinkedHashMap<>();
                for (int sp = 0; sp < 2; sp++) {
                    final int split = sp;
                    s.put(splits.get(sp), (int) ofTask.stream().filter(p -> p.query().split() == split).count());
                }
                qTasks.put(catalog.tasks().get(k).name(), s);
            }
            byTask.put(t.key(), tasks);
            querySplitsByTask.put(t.key(), qTasks);
            Map<String, Integer> q = new LinkedHashMap<>();
            Map<String, Integer> x = new LinkedHashMap<>();
            for (int sp = 0; sp < 2; sp++) {
                final int split = sp;
                q.put(splits.get(sp), (int) mine.stream().filter(p -> p.query().split() == split).count());
                x.put(splits.get(sp), mine.stream().mapToInt(p -> (int) p.examples().stream()
                        .filter(i -> i.split() == split).count()).sum());
            }
            querySplits.put(t.key(), q);
            exampleSplits.put(t.key(), x);
            TreeMap<Integer, Integer> hist = new TreeMap<>();
            for (Episodes.Plan p : mine) {
                hist.merge(p.examples().size(), 1, Integer::sum);
            }
            Map<String, Integer> h = new LinkedHashMap<>();
            hist.forEach((k, v) -> h.put(String.valueOf(k), v));
            exampleCounts.put(t.key(), h);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("counts", counts);
        m.put("counts_by_task", byTask);
        m.put("query_splits", querySplits);
        m.put("query_splits_by_task", querySplitsByTask);
        m.put("example_splits", exampleSplits);
        m.put("examples_per_episode", exampleCounts);
        return m;
    }

    private static Map<String, Object> promptFormat() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("example", IclPrompts.query("{x}") + IclPrompts.answer("{y}"));
        m.put("query", IclPrompts.query("{x}"));
        m.put("image_input", Prompt.MEDIA_MARKER);
        m.put("instruction", "{instruction}" + IclPrompts.INSTRUCTION_SEPARATOR
                + " (the instruction ends in \"" + IclPrompts.DELIMITER + "\"), then the query");
        m.put("bos", true);
        m.put("chat_template", null);
        m.put("episode", "examples x n, then the query with its answer (" + IclPrompts.query("{q}")
                + IclPrompts.answer("{a}") + "); the prompt an evaluation asks ends at the query's \"A:\"");
        return m;
    }

    /** The vocabulary: size, BOS, EOS and the SHA-256 of its canonical tokenizer.ggml.* metadata. */
    static Map<String, Object> vocabulary(Model model) {
        Map<String, Object> m = new LinkedHashMap<>();
        String fp = vocabularyFingerprint(model.header());
        m.put("fingerprint", fp);
        m.put("size", model.vocabularySize());
        m.put("bos", model.bosToken());
        m.put("eos", model.eosToken());
        m.put("tokenizer", model.header().getString("tokenizer.ggml.model").orElse(null));
        m.put("synthesizer_vocabulary", fp.equals(vocabularyFingerprint(Vocabulary.llamaSpm())));
        return m;
    }

    /**
     * SHA-256 over the tokenizer.ggml.* metadata in key order: per key its name, value type and values (strings as
     * UTF-8, numbers as Java prints them), NUL-separated; two files with equal fingerprints tokenize alike.
     */
    public static String vocabularyFingerprint(GgufFile file) {
        MessageDigest md = digest();
        for (Map.Entry<String, GgufValue> e : new TreeMap<>(file.metadata()).entrySet()) {
            if (!e.getKey().startsWith("tokenizer.ggml.")) {
                continue;
            }
            GgufValue v = e.getValue();
            put(md, e.getKey());
            put(md, v.type() + "/" + v.elementType());
            Object x = v.value();
            if (x instanceof List<?> l) {
                put(md, String.valueOf(l.size()));
                for (Object o : l) {
                    put(md, String.valueOf(o));
                }
            } else if (x != null && x.getClass().isArray()) {
                int n = java.lang.reflect.Array.getLength(x);
                put(md, String.valueOf(n));
                for (int i = 0; i < n; i++) {
                    put(md, String.valueOf(java.lang.reflect.Array.get(x, i)));
                }
            } else {
                put(md, String.valueOf(x));
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static void put(MessageDigest md, String s) {
        md.update(s.getBytes(StandardCharsets.UTF_8));
        md.update((byte) 0);
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException ex) {
            throw new IllegalStateException(ex);
        }
    }

    static String sha256(byte[] bytes) {
        return HexFormat.of().formatHex(digest().digest(bytes));
    }

    /** An insertion-ordered map of key, value pairs (the iteration order of Map.of changes between JVMs). */
    static Map<String, Object> ordered(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }
}
