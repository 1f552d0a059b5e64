package org.taskvec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;
import org.taskvec.gguf.GgufFile;
import org.taskvec.gguf.GgufFiles;
import org.taskvec.gguf.GgufReader;
import org.taskvec.gguf.GgufTensorInfo;
import org.taskvec.gguf.GgufValue;
import org.taskvec.gguf.GgufValueType;

/**
 * Every Java-side rule of {@link ModelFileRules} and {@link ProjectorFileRules} (each throw site, and each branch
 * that picks what a message says), on the tiny model's and projector's headers with one thing changed: the exact
 * message. The headers are edited in memory, so the rules are tested without llama.cpp.
 */
class FileRulesTest {
    static final Path M = Path.of("m.gguf");
    static final Path P = Path.of("p.gguf");
    static GgufFile model;
    static GgufFile projector;

    @BeforeAll
    static void read() throws Exception {
        model = GgufReader.read(TestModels.tinyModel());
        projector = GgufReader.read(TestModels.tinyProjector());
    }

    static Consumer<LinkedHashMap<String, GgufValue>> put(String key, GgufValue v) {
        return m -> m.put(key, v);
    }

    static <T> Consumer<T> none() {
        return x -> { };
    }

    static String modelRefusal(Consumer<LinkedHashMap<String, GgufValue>> meta, Consumer<List<GgufTensorInfo>> t) {
        GgufFile f = GgufFiles.edit(model, M, meta, t);
        return assertThrows(InvalidModelFileException.class, () -> ModelFileRules.check(f)).getMessage();
    }

    static String modelRefusal(String key, GgufValue v) {
        return modelRefusal(put(key, v), none());
    }

    static void modelPasses(Consumer<LinkedHashMap<String, GgufValue>> meta) {
        ModelFileRules.check(GgufFiles.edit(model, M, meta, none()));
    }

    static String projectorRefusal(Consumer<LinkedHashMap<String, GgufValue>> meta,
                                   Consumer<List<GgufTensorInfo>> t) {
        GgufFile f = GgufFiles.edit(projector, P, meta, t);
        return assertThrows(InvalidModelFileException.class, () -> ProjectorFileRules.check(f)).getMessage();
    }

    static String projectorRefusal(String key, GgufValue v) {
        return projectorRefusal(put(key, v), none());
    }

    static String tensorRefusal(Consumer<List<GgufTensorInfo>> t) {
        return projectorRefusal(none(), t);
    }

    static void projectorPasses(Consumer<LinkedHashMap<String, GgufValue>> meta, Consumer<List<GgufTensorInfo>> t) {
        ProjectorFileRules.check(GgufFiles.edit(projector, P, meta, t));
    }

    @Test
    void theTestFilesPassEveryRule() {
        ModelFileRules.check(model);
        ProjectorFileRules.check(projector);
        assertEquals(4L, model.getLong("llama.block_count").orElseThrow());
        assertEquals("mlp", projector.getString("clip.projector_type").orElseThrow());
    }

    // ModelFileRules

    @Test
    void layerCounts() {
        assertEquals("m.gguf: llama.block_count = 0 is outside 1..512",
                modelRefusal("llama.block_count", GgufValue.uint32(0)));
        assertEquals("m.gguf: llama.block_count = 513 is outside 1..512",
                modelRefusal("llama.block_count", GgufValue.uint32(513)));
        assertEquals("m.gguf: llama.block_count = -1 is outside 1..512",
                modelRefusal("llama.block_count", GgufValue.int32(-1)));
        assertEquals("m.gguf: llama.block_count = 5 but the file holds tensors of 4 blocks",
                modelRefusal("llama.block_count", GgufValue.uint32(5)));
        assertEquals("m.gguf: llama.block_count is a STRING, not an integer",
                modelRefusal("llama.block_count", GgufValue.string("4")));
        assertEquals("m.gguf: llama.block_count is a FLOAT32, not an integer",
                modelRefusal("llama.block_count", GgufValue.float32(4)));
        modelPasses(put("llama.block_count", GgufValue.uint32(3))); // fewer: llama.cpp counts the tensors itself
        modelPasses(m -> m.remove("llama.block_count"));
    }

    @Test
    void vocabularies() {
        assertEquals("m.gguf: tokenizer.ggml.tokens is not an array of strings",
                modelRefusal("tokenizer.ggml.tokens", GgufValue.string("a")));
        List<String> tokens = tokens();
        List<String> dup = new ArrayList<>(tokens);
        dup.set(1001, tokens.get(1000));
        assertEquals("m.gguf: the vocabulary has a duplicate token: entries 1000 and 1001 are both '"
                + tokens.get(1000) + "'", modelRefusal("tokenizer.ggml.tokens", GgufValue.strings(dup)));
        // llama.cpp reads token texts as C strings: up to a NUL byte
        List<String> nul = new ArrayList<>(tokens);
        nul.set(2000, tokens.get(1500) + "\0tail");
        assertEquals("m.gguf: the vocabulary has a duplicate token: entries 1500 and 2000 are both '"
                + tokens.get(1500) + "'", modelRefusal("tokenizer.ggml.tokens", GgufValue.strings(nul)));
        // empty texts are renamed by position, so two of them are distinct
        List<String> empty = new ArrayList<>(tokens);
        empty.set(1000, "");
        empty.set(1001, "\0");
        modelPasses(put("tokenizer.ggml.tokens", GgufValue.strings(empty)));
    }

    private static List<String> tokens() {
        List<String> out = new ArrayList<>();
        for (Object o : (List<?>) model.get("tokenizer.ggml.tokens").orElseThrow().value()) {
            out.add((String) o);
        }
        assertEquals(32000, out.size());
        return out;
    }

    @Test
    void normEpsilons() {
        String rms = "llama.attention.layer_norm_rms_epsilon";
        assertEquals("m.gguf: " + rms + " = NaN is not a finite number >= 0",
                modelRefusal(rms, GgufValue.float32(Float.NaN)));
        assertEquals("m.gguf: " + rms + " = -1.0 is not a finite number >= 0",
                modelRefusal(rms, GgufValue.float32(-1)));
        assertEquals("m.gguf: " + rms + " = Infinity is not a finite number >= 0",
                modelRefusal(rms, GgufValue.float32(Float.POSITIVE_INFINITY)));
        assertEquals("m.gguf: " + rms + " is a STRING, not a number", modelRefusal(rms, GgufValue.string("1e-5")));
        assertEquals("m.gguf: llama.attention.layer_norm_epsilon = -0.5 is not a finite number >= 0",
                modelRefusal("llama.attention.layer_norm_epsilon", GgufValue.float32(-0.5f)));
        modelPasses(put(rms, GgufValue.float32(0))); // ggml asserts eps >= 0: zero is allowed
        modelPasses(put(rms, GgufValue.float32(3)));
    }

    @Test
    void ropeFrequencyBases() {
        String key = "llama.rope.freq_base";
        assertEquals("m.gguf: " + key + " = 0.0 is not a positive finite number", modelRefusal(key, GgufValue.float32(0)));
        assertEquals("m.gguf: " + key + " = NaN is not a positive finite number",
                modelRefusal(key, GgufValue.float32(Float.NaN)));
        assertEquals("m.gguf: " + key + " = -10000.0 is not a positive finite number",
                modelRefusal(key, GgufValue.float32(-10000)));
        assertEquals("m.gguf: " + key + " = Infinity is not a positive finite number",
                modelRefusal(key, GgufValue.float32(Float.POSITIVE_INFINITY)));
        assertEquals("m.gguf: " + key + " is a BOOL, not a number", modelRefusal(key, GgufValue.bool(true)));
        modelPasses(put(key, GgufValue.float32(1)));
        modelPasses(put(key, GgufValue.uint32(500000))); // llama.cpp reads it as a number of any type
    }

    // ProjectorFileRules

    @Test
    void metadataTypesTheVisionLoaderReads() {
        assertEquals("projector p.gguf: general.name is stored as UINT32; the vision loader reads it as STRING",
                projectorRefusal("general.name", GgufValue.uint32(1)));
        assertEquals("projector p.gguf: clip.vision.attention.layer_norm_epsilon is stored as UINT32; the vision "
                + "loader reads it as FLOAT32", projectorRefusal("clip.vision.attention.layer_norm_epsilon",
                GgufValue.uint32(0)));
        assertEquals("projector p.gguf: clip.vision.eps is stored as FLOAT64; the vision loader reads it as FLOAT32",
                projectorRefusal("clip.vision.eps", new GgufValue(GgufValueType.FLOAT64, null, 1e-5)));
        assertEquals("projector p.gguf: clip.use_gelu is stored as UINT8; the vision loader reads it as BOOL",
                projectorRefusal("clip.use_gelu", new GgufValue(GgufValueType.UINT8, null, (byte) 1)));
        assertEquals("projector p.gguf: clip.has_vision_encoder is stored as UINT32; the vision loader reads it as "
                + "BOOL", projectorRefusal("clip.has_vision_encoder", GgufValue.uint32(1)));
        assertEquals("projector p.gguf: clip.projector_type is stored as UINT32; the vision loader reads it as STRING",
                projectorRefusal("clip.projector_type", GgufValue.uint32(1)));
        assertEquals("projector p.gguf: clip.vision.mm_patch_merge_type is stored as INT32; the vision loader reads "
                + "it as STRING", projectorRefusal("clip.vision.mm_patch_merge_type", GgufValue.int32(1)));
        assertEquals("projector p.gguf: clip.minicpmv_version is stored as UINT32; the vision loader reads it as "
                + "INT32", projectorRefusal("clip.minicpmv_version", GgufValue.uint32(2)));
        assertEquals("projector p.gguf: clip.vision.image_size is stored as INT32; the vision loader reads it as "
                + "UINT32", projectorRefusal("clip.vision.image_size", GgufValue.int32(32)));
        assertEquals("projector p.gguf: clip.vision.block_count is stored as UINT64; the vision loader reads it as "
                + "UINT32", projectorRefusal("clip.vision.block_count", GgufValue.uint64(2)));
        // not read by the vision loader as typed numbers: any type
        projectorPasses(put("general.file_type", GgufValue.int32(0)), none());
        projectorPasses(put("general.alignment", GgufValue.uint64(32)), none());
        projectorPasses(put("clip.some_new_text", GgufValue.string("x")), none());
        projectorPasses(put("clip.some_new_flag", GgufValue.bool(true)), none());
        projectorPasses(put("clip.some_new_scale", GgufValue.float32(2)), none());
        projectorPasses(put("clip.minicpmv_version", GgufValue.int32(2)), none());
    }

    @Test
    void positiveIntegers() {
        assertEquals("projector p.gguf: clip.vision.image_size = 0 is outside 1..16384",
                projectorRefusal("clip.vision.image_size", GgufValue.uint32(0)));
        assertEquals("projector p.gguf: clip.vision.image_size = 16385 is outside 1..16384",
                projectorRefusal("clip.vision.image_size", GgufValue.uint32(16385)));
        assertEquals("projector p.gguf: clip.vision.patch_size = 16385 is outside 1..16384",
                projectorRefusal("clip.vision.patch_size", GgufValue.uint32(16385)));
        assertEquals("projector p.gguf: clip.vision.embedding_length = 1048577 is outside 1..1048576",
                projectorRefusal("clip.vision.embedding_length", GgufValue.uint32((1 << 20) + 1)));
        assertEquals("projector p.gguf: clip.vision.attention.head_count = 65537 is outside 1..65536",
                projectorRefusal("clip.vision.attention.head_count", GgufValue.uint32(65537)));
        assertEquals("projector p.gguf: clip.vision.block_count = 1025 is outside 1..1024",
                projectorRefusal("clip.vision.block_count", GgufValue.uint32(1025)));
        // a text value passes the type rule (a key the loader may not read as a number), not this one
        assertEquals("projector p.gguf: clip.vision.image_size is a STRING, not an integer",
                projectorRefusal("clip.vision.image_size", GgufValue.string("32")));
        assertEquals("projector p.gguf: clip.vision.block_count is a ARRAY, not an integer",
                projectorRefusal("clip.vision.block_count", GgufValue.int32s(new int[] {2})));
    }

    @Test
    void imagePatchAndWidth() {
        assertEquals("projector p.gguf: clip.vision.image_size = 4 is smaller than the patch size 8",
                projectorRefusal("clip.vision.image_size", GgufValue.uint32(4)));
        assertEquals("projector p.gguf: clip.vision.embedding_length = 33 is not a multiple of the head count 2",
                projectorRefusal("clip.vision.embedding_length", GgufValue.uint32(33)));
        assertEquals("projector p.gguf: clip.vision.embedding_length = 64 but v.patch_embd.weight makes vectors of 32",
                projectorRefusal("clip.vision.embedding_length", GgufValue.uint32(64)));
        assertEquals("projector p.gguf: clip.vision.patch_size = 16 but v.patch_embd.weight has 8-pixel patches",
                projectorRefusal("clip.vision.patch_size", GgufValue.uint32(16)));
        assertEquals("projector p.gguf: clip.vision.image_size 40 / patch_size 8 gives 26 positions but "
                + "v.position_embd.weight has 17", projectorRefusal("clip.vision.image_size", GgufValue.uint32(40)));
        // without v.class_embd the grid alone must fit: 16 positions
        assertEquals("projector p.gguf: clip.vision.image_size 32 / patch_size 8 gives 16 positions but "
                + "v.position_embd.weight has 17", tensorRefusal(t -> GgufFiles.remove(t, "v.class_embd")));
    }

    @Test
    void epsilons() {
        String key = "clip.vision.attention.layer_norm_epsilon";
        assertEquals("projector p.gguf: " + key + " = 0.0 is not a small positive number",
                projectorRefusal(key, GgufValue.float32(0)));
        assertEquals("projector p.gguf: " + key + " = 1.0 is not a small positive number",
                projectorRefusal(key, GgufValue.float32(1)));
        assertEquals("projector p.gguf: " + key + " = NaN is not a small positive number",
                projectorRefusal(key, GgufValue.float32(Float.NaN)));
        assertEquals("projector p.gguf: " + key + " is not a number",
                projectorRefusal(key, GgufValue.float32s(new float[] {1e-5f})));
    }

    @Test
    void missingEncoderWeights() {
        assertEquals("projector p.gguf: the vision encoder lacks 1 weight tensor(s): v.blk.0.attn_q.weight",
                tensorRefusal(t -> GgufFiles.remove(t, "v.blk.0.attn_q.weight")));
        assertEquals("projector p.gguf: the vision encoder lacks 2 weight tensor(s): v.patch_embd.weight, mm.2.bias",
                tensorRefusal(t -> GgufFiles.remove(t, "v.patch_embd.weight", "mm.2.bias")));
        assertEquals("projector p.gguf: the vision encoder lacks 6 weight tensor(s): v.position_embd.weight, "
                + "mm.0.weight, mm.0.bias, mm.2.weight, mm.2.bias, ...", tensorRefusal(t -> GgufFiles.remove(t,
                "v.position_embd.weight", "mm.0.weight", "mm.0.bias", "mm.2.weight", "mm.2.bias",
                "v.blk.1.ln2.weight")));
        // more blocks than the file holds: each missing block lacks its eight weights
        assertEquals("projector p.gguf: the vision encoder lacks 8 weight tensor(s): v.blk.2.attn_q.weight, "
                + "v.blk.2.attn_k.weight, v.blk.2.attn_v.weight, v.blk.2.attn_out.weight, v.blk.2.ffn_up.weight, ...",
                projectorRefusal("clip.vision.block_count", GgufValue.uint32(3)));
        // mlp_norm projectors need mm.1 and not mm.2; a fused qkv stands for q, k and v
        assertEquals("projector p.gguf: the vision encoder lacks 2 weight tensor(s): mm.1.weight, mm.1.bias",
                projectorRefusal("clip.projector_type", GgufValue.string("mlp_norm")));
        projectorPasses(none(), t -> {
            GgufFiles.remove(t, "v.blk.0.attn_q.weight", "v.blk.0.attn_k.weight", "v.blk.0.attn_v.weight");
            GgufFiles.reshape(t, "v.blk.0.attn_qkv.weight", 32, 96);
        });
        // projector types without a fixed grid are not checked for weights
        projectorPasses(put("clip.projector_type", GgufValue.string("resampler")),
                t -> GgufFiles.remove(t, "v.blk.0.attn_q.weight"));
    }

    @Test
    void tensorShapes() {
        assertEquals("projector p.gguf: v.position_embd.weight has the shape [16, 17]; dimension 0 should be 32",
                tensorRefusal(t -> GgufFiles.reshape(t, "v.position_embd.weight", 16, 17)));
        assertEquals("projector p.gguf: v.class_embd has the shape [16]; it should be [32]",
                tensorRefusal(t -> GgufFiles.reshape(t, "v.class_embd", 16)));
        assertEquals("projector p.gguf: v.pre_ln.bias has the shape [32, 1]; it should be [32]",
                tensorRefusal(t -> GgufFiles.reshape(t, "v.pre_ln.bias", 32, 1)));
        assertEquals("projector p.gguf: v.blk.0.attn_q.weight has the shape [16, 32]; it should be [32, 32]",
                tensorRefusal(t -> GgufFiles.reshape(t, "v.blk.0.attn_q.weight", 16, 32)));
        assertEquals("projector p.gguf: v.blk.1.attn_out.weight has the shape [32]; it should be [32, 32]",
                tensorRefusal(t -> GgufFiles.reshape(t, "v.blk.1.attn_out.weight", 32)));
        assertEquals("projector p.gguf: v.blk.0.attn_qkv.weight has the shape [16, 96]; dimension 0 should be 32",
                tensorRefusal(t -> GgufFiles.reshape(t, "v.blk.0.attn_qkv.weight", 16, 96)));
        assertEquals("projector p.gguf: v.blk.0.ffn_up.bias has the shape [32]; it should be [64]",
                tensorRefusal(t -> GgufFiles.reshape(t, "v.blk.0.ffn_up.bias", 32)));
        assertEquals("projector p.gguf: v.blk.0.ffn_down.weight has the shape [32, 32]; dimension 0 should be 64",
                tensorRefusal(t -> GgufFiles.reshape(t, "v.blk.0.ffn_down.weight", 32, 32)));
        assertEquals("projector p.gguf: v.blk.0.ffn_down.weight has the shape [64]; dimension 1 should be 32",
                tensorRefusal(t -> GgufFiles.reshape(t, "v.blk.0.ffn_down.weight", 64)));
        assertEquals("projector p.gguf: mm.0.weight has the shape [16, 64]; dimension 0 should be 32",
                tensorRefusal(t -> GgufFiles.reshape(t, "mm.0.weight", 16, 64)));
        assertEquals("projector p.gguf: mm.0.bias has the shape [32]; it should be [64]",
                tensorRefusal(t -> GgufFiles.reshape(t, "mm.0.bias", 32)));
        assertEquals("projector p.gguf: mm.2.weight has the shape [32, 64]; dimension 0 should be 64",
                tensorRefusal(t -> GgufFiles.reshape(t, "mm.2.weight", 32, 64)));
        assertEquals("projector p.gguf: mm.2.bias has the shape [32]; it should be [64]",
                tensorRefusal(t -> GgufFiles.reshape(t, "mm.2.bias", 32)));
        // blocks are identical: a tensor the per-block rules do not look at must match block 0's
        assertEquals("projector p.gguf: v.blk.1.extra.weight has the shape [4] but v.blk.0.extra.weight has [3]",
                tensorRefusal(t -> {
                    GgufFiles.reshape(t, "v.blk.0.extra.weight", 3);
                    GgufFiles.reshape(t, "v.blk.1.extra.weight", 4);
                }));
    }

    /** Without a width in the metadata nor a 4-D patch embedding, there is no width to compare shapes with. */
    @Test
    void noWidthToCompareWith() {
        projectorPasses(m -> m.remove("clip.vision.embedding_length"),
                t -> GgufFiles.reshape(t, "v.patch_embd.weight", 192, 32));
    }
}
