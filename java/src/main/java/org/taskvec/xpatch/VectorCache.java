package org.taskvec.xpatch;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.taskvec.engine.CacheFolder;
import org.taskvec.engine.Prompt;
import org.taskvec.tasks.IclPrompts;
import org.taskvec.tasks.Modality;
import org.taskvec.tasks.PromptStyle;
import org.taskvec.tasks.TaskData;
import org.taskvec.tasks.TaskItem;
import org.taskvec.vectors.Npy;

/**
 * Extracted task vectors on disk, so that an interrupted or repeated run does not extract them again. An entry's
 * key is the SHA-256 of a canonical JSON (keys sorted) of everything the vectors depend on: the extraction code's
 * {@link #EXTRACTION_VERSION}, the SHA-256 of the model file and of the projector file (null without one), the prompt
 * style (chat template name and text, and its wrapping of a probe), the prompt format, the hook point, layer count
 * and read position, the specification (text or image examples, or the instruction), the task's validation items
 * (and the SHA-256 of every image an image specification uses), the seed and the example count. Each entry stores
 * that JSON beside the vectors and a checksum of the vectors; an entry whose JSON, checksum or shape does not match
 * is extracted again, not trusted.
 */
final class VectorCache {
    /**
     * The version of the extraction code, part of every key. Bump it in the same commit as any change that alters
     * the vectors extracted from the same inputs: the prompt text or layout ({@link IclPrompts}, {@link PromptStyle}),
     * the example draws ({@link TaskVectors#examplesFor}), the read position or hook point, the averaging, how images
     * are read or encoded ({@code Image}, the projector call), or the layout of an entry on disk. Entries of another
     * version are never read again. History: 1, keys of model digest, task, modality, seed and n only (before this
     * constant); 2, the canonical JSON of every input; 3, delimiters aligned to token ends for every tokenizer
     * ({@code Delimiters}) and read as tokens ending with ":".
     */
    static final int EXTRACTION_VERSION = 3;

    /** A message the prompt style wraps; its wrapping is part of the key (what the template actually does). */
    static final String STYLE_PROBE = IclPrompts.query("{x}") + IclPrompts.answer("{y}") + IclPrompts.query("{q}");

    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true);

    private final Path dir;
    private final int version;
    private int hits;
    private int misses;

    /** A cache in dir (null: none, every vector is extracted). */
    VectorCache(Path dir) {
        this(dir, EXTRACTION_VERSION);
    }

    /** With another code version (tests: a bumped version must not reuse entries). */
    VectorCache(Path dir, int version) {
        this.dir = dir;
        this.version = version;
    }

    /** Vectors served from disk so far. */
    int hits() {
        return hits;
    }

    /** Vectors extracted so far (absent, stale or no cache). */
    int misses() {
        return misses;
    }

    /** The vectors of nExamples examples in modality, every layer (see {@link TaskVectors#fromExamples}). */
    float[][] examples(XpatchContext cx, TaskData task, Modality modality, int nExamples, long seed) {
        Supplier<float[][]> compute = () -> TaskVectors.fromExamples(cx, task, modality, nExamples, seed);
        return dir == null ? extract(compute)
                : get(cx, examplesKey(cx, task, modality, nExamples, seed), compute);
    }

    /** The vectors of an instruction, every layer (see {@link TaskVectors#fromInstruction}). */
    float[][] instruction(XpatchContext cx, String instruction) {
        Supplier<float[][]> compute = () -> TaskVectors.fromInstruction(cx, instruction);
        return dir == null ? extract(compute) : get(cx, instructionKey(cx, instruction), compute);
    }

    /** Everything the vectors of an examples specification depend on. */
    Map<String, Object> examplesKey(XpatchContext cx, TaskData task, Modality modality, int nExamples, long seed) {
        Map<String, Object> k = common(cx, modality.name().toLowerCase(java.util.Locale.ROOT) + " examples", true);
        k.put("task", task.name());
        List<Map<String, Object>> items = new ArrayList<>();
        for (TaskItem i : task.val()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("input", i.input());
            m.put("output", i.output());
            m.put("image", i.image());
            if (modality == Modality.IMAGE) {
                m.put("image_sha256", sha256(task.imageOf(i)));
            }
            items.add(m);
        }
        k.put("val_items", items);
        k.put("seed", seed);
        k.put("examples", nExamples);
        return k;
    }

    /** Everything the vectors of an instruction depend on. */
    Map<String, Object> instructionKey(XpatchContext cx, String instruction) {
        Map<String, Object> k = common(cx, "instruction", false);
        k.put("instruction", instruction);
        return k;
    }

    private Map<String, Object> common(XpatchContext cx, String specification, boolean queryAppended) {
        Map<String, Object> k = new LinkedHashMap<>();
        k.put("extraction_version", version);
        k.put("specification", specification);
        k.put("model_sha256", digestOf(cx.model.path()));
        k.put("projector_sha256", cx.model.projectorPath().map(this::digestOf).orElse(null));
        Map<String, Object> style = new LinkedHashMap<>();
        style.put("name", cx.style.name());
        style.put("template", cx.style.template());
        style.put("trailing_delimiters", cx.style.trailingDelimiters());
        style.put("probe", cx.style.wrap().apply(STYLE_PROBE));
        k.put("prompt_style", style);
        k.put("prompt_format", Map.of("example", IclPrompts.query("{x}") + IclPrompts.answer("{y}"),
                "query", IclPrompts.query("{x}"), "image", Prompt.MEDIA_MARKER));
        k.put("hook_point", "resid_post");
        k.put("layers", cx.model.layers());
        k.put("width", cx.model.embeddingSize());
        k.put("position", IclPrompts.taskVectorPosition(queryAppended, cx.style).toString());
        return k;
    }

    /** The canonical JSON of a key (keys sorted at every level). */
    static String canonical(Map<String, Object> key) {
        try {
            return JSON.writeValueAsString(key);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private float[][] extract(Supplier<float[][]> compute) {
        misses++;
        return compute.get();
    }

    private float[][] get(XpatchContext cx, Map<String, Object> key, Supplier<float[][]> compute) {
        String json = canonical(key);
        String name = CacheFolder.sha256(json.getBytes(StandardCharsets.UTF_8));
        Path npy = dir.resolve(name + ".npy");
        Path sum = dir.resolve(name + ".sha256");
        Path keyFile = dir.resolve(name + ".json");
        try {
            if (Files.exists(npy) && Files.exists(sum) && Files.exists(keyFile)
                    && Files.readString(keyFile).equals(json)
                    && Files.readString(sum).strip().equals(CacheFolder.sha256(npy))) {
                Npy.Array a = Npy.read(npy);
                if (a.shape().length == 2 && a.shape()[0] == cx.model.layers()
                        && a.shape()[1] == cx.model.embeddingSize()) {
                    float[][] out = new float[a.shape()[0]][];
                    for (int i = 0; i < out.length; i++) {
                        out[i] = a.row(i);
                    }
                    hits++;
                    return out;
                }
            }
            float[][] v = extract(compute);
            Files.createDirectories(dir);
            float[] flat = new float[v.length * v[0].length];
            for (int i = 0; i < v.length; i++) {
                System.arraycopy(v[i], 0, flat, i * v[0].length, v[0].length);
            }
            Path tmp = Files.createTempFile(dir, name, ".tmp");
            Npy.write(tmp, new int[] {v.length, v[0].length}, flat);
            String checksum = CacheFolder.sha256(tmp);
            Files.move(tmp, npy, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            writeAtomically(sum, checksum);
            writeAtomically(keyFile, json);
            return v;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void writeAtomically(Path file, String text) throws IOException {
        Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * SHA-256 of a model or projector file, remembered per (path, size, modification time to the nanosecond, file
     * key) so that a large file is read once.
     */
    private String digestOf(Path file) {
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            String id = file.toAbsolutePath() + "|" + a.size() + "|" + a.lastModifiedTime().toInstant() + "|"
                    + a.fileKey();
            Path memo = dir.resolve("digests").resolve(CacheFolder.sha256(id.getBytes(StandardCharsets.UTF_8)));
            if (Files.exists(memo)) {
                String d = Files.readString(memo).strip();
                if (d.matches("[0-9a-f]{64}")) {
                    return d;
                }
            }
            String digest = CacheFolder.sha256(file);
            Files.createDirectories(memo.getParent());
            writeAtomically(memo, digest);
            return digest;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String sha256(Path file) {
        try {
            return CacheFolder.sha256(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
