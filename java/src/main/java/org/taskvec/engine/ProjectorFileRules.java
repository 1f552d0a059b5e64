package org.taskvec.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.taskvec.gguf.GgufFile;
import org.taskvec.gguf.GgufTensorInfo;
import org.taskvec.gguf.GgufValue;
import org.taskvec.gguf.GgufValueType;

/**
 * Vision-projector metadata that libmtmd's CLIP loader trusts (it aborts on it, or divides by it, when the model
 * loads or the first image is encoded), checked in Java first. Found by the bad-input corpus: an image smaller than
 * a patch, a patch size or width that the weights do not have, a head count that does not divide the width, an
 * epsilon that is not a small positive number, and an image size whose patch grid does not match the position
 * embeddings of a fixed-resolution (LLaVA-style) encoder; and, for such encoders, a weight tensor missing (the
 * loader takes them as optional and the graph dereferences null: found by the full corpus's random mutations).
 */
final class ProjectorFileRules {
    /** Projector types with a fixed input resolution: a CLIP or SigLIP ViT whose position table fits one grid. */
    private static final Set<String> FIXED_GRID = Set.of("mlp", "mlp_norm", "ldp", "ldpv2");
    private static final long MAX_SIDE = 16384;

    private ProjectorFileRules() {}

    static void check(GgufFile f) {
        valueTypes(f);
        long image = positive(f, "clip.vision.image_size", MAX_SIDE);
        long patch = positive(f, "clip.vision.patch_size", MAX_SIDE);
        long width = positive(f, "clip.vision.embedding_length", 1 << 20);
        long heads = positive(f, "clip.vision.attention.head_count", 1 << 16);
        if (image > 0 && patch > 0 && image < patch) {
            fail(f, "clip.vision.image_size = " + image + " is smaller than the patch size " + patch);
        }
        if (width > 0 && heads > 0 && width % heads != 0) {
            fail(f, "clip.vision.embedding_length = " + width + " is not a multiple of the head count " + heads);
        }
        Optional<GgufTensorInfo> patchEmbd = f.tensor("v.patch_embd.weight");
        if (patchEmbd.isPresent() && patchEmbd.get().shape().length == 4) {
            long[] s = patchEmbd.get().shape();
            if (width > 0 && s[3] != width) {
                fail(f, "clip.vision.embedding_length = " + width + " but v.patch_embd.weight makes vectors of " + s[3]);
            }
            if (patch > 0 && s[0] != patch) {
                fail(f, "clip.vision.patch_size = " + patch + " but v.patch_embd.weight has " + s[0] + "-pixel patches");
            }
        }
        f.get("clip.vision.attention.layer_norm_epsilon").ifPresent(v -> {
            double eps = number(f, "clip.vision.attention.layer_norm_epsilon", v);
            if (!(eps > 0 && eps < 1)) {
                fail(f, "clip.vision.attention.layer_norm_epsilon = " + eps + " is not a small positive number");
            }
        });
        String type = f.getString("clip.projector_type").orElse("mlp");
        if (FIXED_GRID.contains(type)) {
            long blocks = positive(f, "clip.vision.block_count", 1024);
            requiredTensors(f, type, blocks);
            shapes(f, type, blocks, width);
        }
        Optional<GgufTensorInfo> positions = f.tensor("v.position_embd.weight");
        if (FIXED_GRID.contains(type) && image > 0 && patch > 0 && positions.isPresent()
                && positions.get().shape().length == 2) {
            long grid = (image / patch) * (image / patch) + (f.tensor("v.class_embd").isPresent() ? 1 : 0);
            if (positions.get().shape()[1] != grid) {
                fail(f, "clip.vision.image_size " + image + " / patch_size " + patch + " gives " + grid
                        + " positions but v.position_embd.weight has " + positions.get().shape()[1]);
            }
        }
    }

    /**
     * libmtmd looks a CLIP encoder's tensors up as optional and builds its graph with whatever it found, so a
     * missing weight becomes a null pointer dereference at the first image: every block needs its attention
     * (q, k, v or a fused qkv, out), MLP (up, down) and both norms; the encoder its patch and position embeddings;
     * an MLP projector both its layers with their biases.
     */
    private static void requiredTensors(GgufFile f, String type, long blocks) {
        java.util.Set<String> names = new java.util.HashSet<>();
        for (GgufTensorInfo t : f.tensors()) {
            names.add(t.name());
        }
        java.util.List<String> missing = new java.util.ArrayList<>();
        List<String> required = new ArrayList<>(List.of("v.patch_embd.weight", "v.position_embd.weight"));
        if (type.equals("mlp") || type.equals("mlp_norm")) {
            required.addAll(List.of("mm.0.weight", "mm.0.bias"));
        }
        if (type.equals("mlp")) { // the graph skips a missing second layer, but clip_n_mmproj_embd reads its width
            required.addAll(List.of("mm.2.weight", "mm.2.bias"));
        }
        if (type.equals("mlp_norm")) {
            required.addAll(List.of("mm.1.weight", "mm.1.bias"));
        }
        for (String n : required) {
            if (!names.contains(n)) {
                missing.add(n);
            }
        }
        for (long b = 0; b < blocks; b++) {
            String p = "v.blk." + b + ".";
            boolean qkv = names.contains(p + "attn_qkv.weight");
            for (String part : new String[] {"attn_q", "attn_k", "attn_v", "attn_out", "ffn_up", "ffn_down", "ln1",
                    "ln2"}) {
                boolean fused = qkv && (part.equals("attn_q") || part.equals("attn_k") || part.equals("attn_v"));
                if (!fused && !names.contains(p + part + ".weight")) {
                    missing.add(p + part + ".weight");
                }
            }
        }
        if (!missing.isEmpty()) {
            fail(f, "the vision encoder lacks " + missing.size() + " weight tensor(s): "
                    + String.join(", ", missing.subList(0, Math.min(5, missing.size())))
                    + (missing.size() > 5 ? ", ..." : ""));
        }
    }

    /**
     * libmtmd reads scalar metadata with typed getters that assert the stored type (an abort, not an error): an
     * epsilon must be FLOAT32, flags BOOL, names and projector types STRING, MiniCPM-V's version INT32, and every
     * other scalar clip.* number UINT32.
     */
    private static void valueTypes(GgufFile f) {
        for (var e : f.metadata().entrySet()) {
            String key = e.getKey();
            GgufValueType type = e.getValue().type();
            if (type == GgufValueType.ARRAY || !(key.startsWith("clip.") || key.startsWith("general."))) {
                continue;
            }
            GgufValueType want;
            if (key.startsWith("general.")) {
                want = key.equals("general.alignment") || key.equals("general.file_type")
                        || key.equals("general.quantization_version") ? null : GgufValueType.STRING;
            } else if (key.endsWith("_epsilon") || key.endsWith(".eps")) {
                want = GgufValueType.FLOAT32;
            } else if (key.startsWith("clip.has_") || key.startsWith("clip.use_")) {
                want = GgufValueType.BOOL;
            } else if (key.endsWith("projector_type") || key.endsWith("patch_merge_type") || key.endsWith("variant")) {
                want = GgufValueType.STRING;
            } else if (key.equals("clip.minicpmv_version")) {
                want = GgufValueType.INT32;
            } else if (type == GgufValueType.STRING || type == GgufValueType.BOOL || type == GgufValueType.FLOAT32) {
                want = null; // a key libmtmd does not read as a number
            } else {
                want = GgufValueType.UINT32;
            }
            if (want != null && type != want) {
                fail(f, key + " is stored as " + type + "; the vision loader reads it as " + want);
            }
        }
    }

    /**
     * libmtmd does not compare a CLIP encoder's tensor shapes with its metadata (llama.cpp does, for language
     * models); a wrong shape fails an assertion while the graph is built. The encoder is a stack of identical
     * blocks on a residual stream of the encoder width: every weight reads and writes that width where the stream
     * demands it, each bias and norm fits its layer, and the MLP projector's layers chain.
     */
    private static void shapes(GgufFile f, String type, long blocks, long width) {
        java.util.Map<String, long[]> shape = new java.util.HashMap<>();
        for (GgufTensorInfo t : f.tensors()) {
            shape.put(t.name(), t.shape());
        }
        long e = width > 0 ? width : dim(shape, "v.patch_embd.weight", 3); // < 0: nothing to compare with
        expect(f, shape, "v.position_embd.weight", 0, e);
        for (String n : new String[] {"v.class_embd", "v.pre_ln.weight", "v.pre_ln.bias", "v.post_ln.weight",
                "v.post_ln.bias", "v.patch_embd.bias"}) {
            vector(f, shape, n, e);
        }
        for (long b = 0; b < blocks; b++) {
            String p = "v.blk." + b + ".";
            for (String n : new String[] {"attn_q", "attn_k", "attn_v", "attn_out"}) {
                square(f, shape, p + n + ".weight", e);
                vector(f, shape, p + n + ".bias", e);
            }
            expect(f, shape, p + "attn_qkv.weight", 0, e);
            for (String n : new String[] {"ln1", "ln2"}) {
                vector(f, shape, p + n + ".weight", e);
                vector(f, shape, p + n + ".bias", e);
            }
            expect(f, shape, p + "ffn_up.weight", 0, e);
            long ff = dim(shape, p + "ffn_up.weight", 1);
            vector(f, shape, p + "ffn_up.bias", ff);
            expect(f, shape, p + "ffn_down.weight", 0, ff);
            expect(f, shape, p + "ffn_down.weight", 1, e);
            vector(f, shape, p + "ffn_down.bias", e);
            if (b > 0) { // identical blocks
                for (var t : shape.entrySet()) {
                    if (t.getKey().startsWith("v.blk.0.")) {
                        String mine = p + t.getKey().substring("v.blk.0.".length());
                        if (shape.containsKey(mine) && !java.util.Arrays.equals(shape.get(mine), t.getValue())) {
                            fail(f, mine + " has the shape " + java.util.Arrays.toString(shape.get(mine)) + " but "
                                    + t.getKey() + " has " + java.util.Arrays.toString(t.getValue()));
                        }
                    }
                }
            }
        }
        if (type.equals("mlp")) {
            expect(f, shape, "mm.0.weight", 0, e);
            long hidden = dim(shape, "mm.0.weight", 1);
            vector(f, shape, "mm.0.bias", hidden);
            expect(f, shape, "mm.2.weight", 0, hidden);
            vector(f, shape, "mm.2.bias", dim(shape, "mm.2.weight", 1));
        }
    }

    private static long dim(java.util.Map<String, long[]> shape, String name, int i) {
        long[] s = shape.get(name);
        return s == null || s.length <= i ? -1 : s[i];
    }

    /** Dimension i of the tensor, when present, must be want (want < 0: nothing to compare with). */
    private static void expect(GgufFile f, java.util.Map<String, long[]> shape, String name, int i, long want) {
        long[] s = shape.get(name);
        if (s != null && want >= 0 && (s.length <= i || s[i] != want)) {
            fail(f, name + " has the shape " + java.util.Arrays.toString(s) + "; dimension " + i + " should be "
                    + want);
        }
    }

    private static void vector(GgufFile f, java.util.Map<String, long[]> shape, String name, long n) {
        long[] s = shape.get(name);
        if (s != null && n >= 0 && (s.length != 1 || s[0] != n)) {
            fail(f, name + " has the shape " + java.util.Arrays.toString(s) + "; it should be [" + n + "]");
        }
    }

    private static void square(GgufFile f, java.util.Map<String, long[]> shape, String name, long n) {
        long[] s = shape.get(name);
        if (s != null && n >= 0 && (s.length != 2 || s[0] != n || s[1] != n)) {
            fail(f, name + " has the shape " + java.util.Arrays.toString(s) + "; it should be [" + n + ", " + n + "]");
        }
    }

    /** The value of an integer key, 0 when absent; refused unless 1..max. */
    private static long positive(GgufFile f, String key, long max) {
        Optional<GgufValue> v = f.get(key);
        if (v.isEmpty()) {
            return 0;
        }
        long n;
        try {
            n = v.get().asLong();
        } catch (IllegalStateException e) {
            throw new InvalidModelFileException("projector " + f.path() + ": " + key + " is a " + v.get().type()
                    + ", not an integer");
        }
        if (n < 1 || n > max) {
            fail(f, key + " = " + n + " is outside 1.." + max);
        }
        return n;
    }

    private static double number(GgufFile f, String key, GgufValue v) {
        try {
            return v.asDouble();
        } catch (IllegalStateException e) {
            throw new InvalidModelFileException("projector " + f.path() + ": " + key + " is not a number");
        }
    }

    private static void fail(GgufFile f, String what) {
        throw new InvalidModelFileException("projector " + f.path() + ": " + what);
    }
}
