package org.taskvec.organism;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.taskvec.engine.Image;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.tasks.IclPrompts;
import org.taskvec.tasks.Modality;
import org.taskvec.tasks.TaskItem;

/**
 * Training episodes of the model organism, built by the prompt code xpatch uses ({@link IclPrompts}: the paper's
 * {@code Q:{x}\nA:{y}\n\n} x n + {@code Q:{q}\nA:}, no chat template) and laid out by the engine
 * ({@link Session#layout}: BOS, llama.cpp's tokenizer, libmtmd's image chunks), so that the tokens of every prompt a
 * trained model is later asked equal the tokens it was trained on.
 *
 * <p>An episode's sequence is the whole text with every answer in place ({@code IclPrompts.build} of all its items
 * as examples, so it ends with {@code {answer}\n\n}); an instruction episode puts the task's instruction before it
 * ({@link IclPrompts#instructed}). The targets of an answer are its tokens and the token of the first "\n" after it,
 * which ends the answer (the second "\n" of the separator and everything else are context). Each target span is
 * found by laying out the prompt that asks for that answer (the examples before it and its query, exactly as an
 * evaluation would ask it) and the prompt through the answer's "\n"; both must be prefixes of the episode's layout,
 * or the episode is refused (a tokenization that merged across an answer boundary would make training and inference
 * tokens differ).
 */
public final class Episodes {
    /** Version of the dataset format and of the episode construction (bump with any change to either). */
    public static final int FORMAT_VERSION = 1;

    private Episodes() {}

    /** A planned episode: its type, task (index into the catalog's tasks), examples and query. */
    public record Plan(EpisodeType type, int task, List<Catalog.Item> examples, Catalog.Item query) {
        public Plan {
            examples = List.copyOf(examples);
        }
    }

    /**
     * One episode as the engine lays it out. tokens: {@link Session#layout} of the whole episode (BOS first; at the
     * positions of the episode's k-th image, {@code -1 - k}); mask: 1 on target tokens; targets: {start, end} of each
     * answer's targets (examples in order, the query last); slots: {start, length, image} of each image (image: index
     * into the catalog's image files).
     */
    public record Rendered(Plan plan, int[] tokens, byte[] mask, int[][] targets, int[][] slots) {}

    /**
     * The episodes of a config, in the order they are written: the number of each type fixed by
     * {@link EpisodeConfig#counts()}, the order shuffled; for each, a task uniformly, the number of examples
     * uniformly in the config's range (in-context types; else none), and examples and query drawn without repetition
     * from all of the task's items (both splits: every entity's facts are trained). Drawn with
     * {@link SplittableRandom} of the seed, so a seed gives the same plan on every JVM.
     */
    public static List<Plan> plan(EpisodeConfig config, Catalog catalog) {
        SplittableRandom rng = new SplittableRandom(config.seed());
        List<EpisodeType> types = new ArrayList<>(config.episodes());
        config.counts().forEach((t, n) -> {
            for (int i = 0; i < n; i++) {
                types.add(t);
            }
        });
        for (int i = types.size() - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            EpisodeType x = types.get(i);
            types.set(i, types.get(j));
            types.set(j, x);
        }
        List<Plan> plans = new ArrayList<>(types.size());
        int nTasks = catalog.tasks().size();
        for (EpisodeType t : types) {
            int task = rng.nextInt(nTasks);
            List<Catalog.Item> items = catalog.items(task);
            int n = t.incontext() ? config.minExamples() + rng.nextInt(config.maxExamples() - config.minExamples() + 1)
                    : 0;
            if (n + 1 > items.size()) {
                throw new IllegalStateException("task " + catalog.tasks().get(task).name() + " has " + items.size()
                        + " items, too few for " + n + " examples and a query");
            }
            int[] idx = new int[items.size()];
            Arrays.setAll(idx, i -> i);
            for (int i = 0; i <= n; i++) { // partial Fisher-Yates: the first n + 1 are a uniform draw
                int j = i + rng.nextInt(idx.length - i);
                int x = idx[i];
                idx[i] = idx[j];
                idx[j] = x;
            }
            List<Catalog.Item> examples = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                examples.add(items.get(idx[i]));
            }
            plans.add(new Plan(t, task, examples, items.get(idx[n])));
        }
        return plans;
    }

    /** The answer an item gets in an episode of this type: the entity's name (image-name) or the task's output. */
    public static TaskItem answered(EpisodeType type, Catalog.Item item) {
        TaskItem i = item.item();
        return type.naming() ? new TaskItem(i.input(), i.input(), i.image()) : i;
    }

    /** The items of an episode in order (examples, then the query) with the answers they get. */
    public static List<TaskItem> answeredItems(Plan p) {
        List<TaskItem> out = new ArrayList<>();
        for (Catalog.Item e : p.examples()) {
            out.add(answered(p.type(), e));
        }
        out.add(answered(p.type(), p.query()));
        return out;
    }

    /** The whole episode: every item with its answer ({@code ... Q:{q}\nA:{a}\n\n}), instruction first if any. */
    public static Prompt sequence(Plan p, Catalog catalog) {
        List<TaskItem> items = answeredItems(p);
        Modality m = p.type().modality();
        return instruct(p, catalog, IclPrompts.build(items, m, null, m, catalog::image));
    }

    /**
     * The prompt that asks for the answer of item j of the episode (0-based; the query is the last): the items
     * before it as examples and it as the query, as an evaluation asks it. The query's is the episode's prompt.
     */
    public static Prompt prompt(Plan p, Catalog catalog, int j) {
        List<TaskItem> items = answeredItems(p);
        Modality m = p.type().modality();
        return instruct(p, catalog, IclPrompts.build(items.subList(0, j), m, items.get(j), m, catalog::image));
    }

    /** The prompt through the end of answer j's targets: its answer and the "\n" that ends it. */
    static Prompt throughTarget(Plan p, Catalog catalog, int j) {
        List<TaskItem> items = answeredItems(p);
        Modality m = p.type().modality();
        Prompt full = instruct(p, catalog, IclPrompts.build(items.subList(0, j + 1), m, null, m, catalog::image));
        String text = full.toString();
        if (!text.endsWith(IclPrompts.answer(""))) { // "\n\n"
            throw new IllegalStateException("an answer is not followed by " + IclPrompts.answer("").length() + " newlines");
        }
        return Prompt.withImages(text.substring(0, text.length() - 1), images(full)); // keeps the first "\n"
    }

    private static Prompt instruct(Plan p, Catalog catalog, Prompt prompt) {
        return p.type().instruction()
                ? IclPrompts.instructed(catalog.tasks().get(p.task()).instruction(), prompt) : prompt;
    }

    private static List<Image> images(Prompt p) {
        List<Image> out = new ArrayList<>();
        for (Prompt.Part part : p.parts()) {
            if (part.isImage()) {
                out.add(part.image());
            }
        }
        return out;
    }

    /** Lays an episode out with the engine and finds its targets and image slots (see the class comment). */
    public static Rendered render(Plan p, Catalog catalog, Session session) {
        int[] tokens = session.layout(sequence(p, catalog));
        byte[] mask = new byte[tokens.length];
        int answers = p.examples().size() + 1;
        int[][] targets = new int[answers][];
        for (int j = 0; j < answers; j++) {
            int start = prefixLength(session, prompt(p, catalog, j), tokens, p, "prompt of answer " + j);
            int end = prefixLength(session, throughTarget(p, catalog, j), tokens, p, "answer " + j);
            if (end <= start) {
                throw new IllegalStateException("answer " + j + " of " + describe(p) + " has no tokens");
            }
            Arrays.fill(mask, start, end, (byte) 1);
            targets[j] = new int[] {start, end};
        }
        List<int[]> slots = new ArrayList<>();
        List<TaskItem> items = answeredItems(p);
        for (int i = 0; i < tokens.length; ) {
            if (tokens[i] >= 0) {
                i++;
                continue;
            }
            int k = -1 - tokens[i];
            int start = i;
            while (i < tokens.length && tokens[i] == tokens[start]) {
                i++;
            }
            if (k != slots.size() || p.type().modality() != Modality.IMAGE || k >= items.size()) {
                throw new IllegalStateException("unexpected image " + k + " at position " + start + " of " + describe(p));
            }
            int image = catalog.imageIndex(items.get(k));
            slots.add(new int[] {start, i - start, image});
        }
        int expected = p.type().modality() == Modality.IMAGE ? answers : 0;
        if (slots.size() != expected) {
            throw new IllegalStateException(describe(p) + " has " + slots.size() + " images laid out, expected " + expected);
        }
        return new Rendered(p, tokens, mask, targets, slots.toArray(new int[0][]));
    }

    /** The length of prompt's layout, which must be a prefix of tokens. */
    private static int prefixLength(Session session, Prompt prompt, int[] tokens, Plan p, String what) {
        int[] pre = session.layout(prompt);
        if (pre.length > tokens.length || !Arrays.equals(pre, 0, pre.length, tokens, 0, pre.length)) {
            throw new IllegalStateException("the " + what + " of " + describe(p) + " is not laid out as the start of "
                    + "the episode (a token spans an answer boundary): " + Arrays.toString(pre) + " vs "
                    + Arrays.toString(tokens));
        }
        return pre.length;
    }

    static String describe(Plan p) {
        return p.type().key() + " episode (task " + p.task() + ", query '" + p.query().item().input() + "')";
    }
}
