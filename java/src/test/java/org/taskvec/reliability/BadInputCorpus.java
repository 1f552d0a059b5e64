package org.taskvec.reliability;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;

/** Generates the bad-input corpus: files under dir and the cases that use them. */
final class BadInputCorpus {
    private BadInputCorpus() {}

    /** Expected outcome of inputs that may be refused or accepted: any typed exception, or none; never a crash. */
    static final String TYPED = "TYPED";

    /** Field positions of a GGUF header, found by walking it. */
    record Fields(List<Integer> keyLengths, List<Integer> valueTypes, List<Integer> stringValues, int tokensArrayCount,
                  List<Integer> nDims, List<Integer> dim0, List<Integer> tensorTypes, List<Integer> offsets,
                  List<int[]> scalarValues, int headerEnd, List<String> tensorNames) {
        /** The 4-byte fields mutations change: tensor dimension counts, metadata value types, tensor types. */
        List<Integer> int32Fields() {
            List<Integer> all = new ArrayList<>(nDims);
            all.addAll(valueTypes);
            all.addAll(tensorTypes);
            return all;
        }

        /**
         * The 8-byte fields mutations change: key and string lengths, first tensor dimensions, tensor offsets, the
         * tensor and metadata counts, and the vocabulary's length (models only).
         */
        List<Integer> int64Fields() {
            List<Integer> all = new ArrayList<>(keyLengths);
            all.addAll(stringValues);
            all.addAll(dim0);
            all.addAll(offsets);
            all.addAll(List.of(8, 16));
            if (tokensArrayCount >= 0) {
                all.add(tokensArrayCount);
            }
            return all;
        }
    }

    static Fields walk(byte[] b) {
        ByteBuffer buf = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        long nTensors = buf.getLong(8);
        long nKv = buf.getLong(16);
        int p = 24;
        List<Integer> keyLen = new ArrayList<>(), vtype = new ArrayList<>(), strVal = new ArrayList<>();
        List<Integer> nd = new ArrayList<>(), d0 = new ArrayList<>(), tt = new ArrayList<>(), off = new ArrayList<>();
        List<int[]> scalars = new ArrayList<>(); // {offset, value type} of each scalar metadata value
        List<String> names = new ArrayList<>();
        int tokensCount = -1;
        for (long i = 0; i < nKv; i++) {
            keyLen.add(p);
            int kl = (int) buf.getLong(p);
            String key = new String(b, p + 8, kl, StandardCharsets.UTF_8);
            p += 8 + kl;
            vtype.add(p);
            int t = buf.getInt(p);
            p += 4;
            if (t == 8) {
                strVal.add(p);
                p += 8 + (int) buf.getLong(p);
            } else if (t == 9) {
                int et = buf.getInt(p);
                long n = buf.getLong(p + 4);
                if (key.equals("tokenizer.ggml.tokens")) {
                    tokensCount = p + 4;
                }
                p += 12;
                for (long k = 0; k < n; k++) {
                    p += et == 8 ? 8 + (int) buf.getLong(p) : size(et);
                }
            } else {
                scalars.add(new int[] {p, t});
                p += size(t);
            }
        }
        for (long i = 0; i < nTensors; i++) {
            names.add(new String(b, p + 8, (int) buf.getLong(p), StandardCharsets.UTF_8));
            p += 8 + (int) buf.getLong(p);
            nd.add(p);
            int n = buf.getInt(p);
            p += 4;
            d0.add(p);
            p += 8 * n;
            tt.add(p);
            p += 4;
            off.add(p);
            p += 8;
        }
        return new Fields(keyLen, vtype, strVal, tokensCount, nd, d0, tt, off, scalars, p, names);
    }

    static int size(int type) {
        return switch (type) {
            case 0, 1, 7 -> 1;
            case 2, 3 -> 2;
            case 4, 5, 6 -> 4;
            default -> 8;
        };
    }

    private static final long ALL_ONES = 0xFFFFFFFFL;

    /**
     * The file with one scalar metadata value ({offset, value type} from {@link Fields#scalarValues()}) set to v,
     * in the value's own width; floats get v as a number, or NaN for {@link #ALL_ONES}.
     */
    static byte[] withScalar(byte[] b, int[] sv, long v) {
        byte[] c = b.clone();
        ByteBuffer bb = ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN);
        switch (size(sv[1])) {
            case 1 -> c[sv[0]] = (byte) v;
            case 2 -> bb.putShort(sv[0], (short) v);
            case 4 -> bb.putInt(sv[0], sv[1] == 6 ? Float.floatToIntBits(v == ALL_ONES ? Float.NaN : v) : (int) v);
            default -> bb.putLong(sv[0], sv[1] == 12 ? Double.doubleToLongBits(v) : v);
        }
        return c;
    }

    static byte[] patchInt(byte[] b, int at, int v) {
        byte[] c = b.clone();
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putInt(at, v);
        return c;
    }

    static byte[] patchLong(byte[] b, int at, long v) {
        byte[] c = b.clone();
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putLong(at, v);
        return c;
    }

    static List<BadInputCase> generate(Path dir, Path model, Path projector, Path wideProjector) throws IOException {
        List<BadInputCase> cases = new ArrayList<>();
        byte[] m = Files.readAllBytes(model);
        Fields f = walk(m);
        String bad = "InvalidModelFileException";
        int n = 0;
        // truncations: throughout the header (metadata, vocabulary, tensor directory) and the data
        long headerEnd = f.offsets().get(f.offsets().size() - 1) + 8;
        for (int k = 0; k < 60; k++) {
            long at = k < 45 ? headerEnd * k / 45 : headerEnd + (m.length - headerEnd) * (k - 44) / 16 - 1;
            Path p = write(dir, "cut-" + at + ".gguf", Arrays.copyOf(m, (int) Math.max(0, at)));
            cases.add(new BadInputCase("model truncated at " + at, "model", p.toString(), bad,
                    at == 0 ? "file is empty" : "is not valid GGUF"));
        }
        for (int v : new int[] {0, 1, 4, 999, -1}) {
            cases.add(c("model version " + v, "model", write(dir, "v" + v + ".gguf", patchInt(m, 4, v)), bad,
                    "unsupported GGUF version"));
        }
        for (String magic : new String[] {"GGML", "ggjt", "\0\0\0\0", "FUGG"}) {
            byte[] c = m.clone();
            System.arraycopy(magic.getBytes(StandardCharsets.ISO_8859_1), 0, c, 0, 4);
            cases.add(c("model magic " + magic.replace("\0", "\\0"), "model", write(dir, "magic" + (n++) + ".gguf", c),
                    bad, "not a GGUF file"));
        }
        for (long count : new long[] {1L << 40, Long.MAX_VALUE, -5L, 1_000_000}) {
            cases.add(c("tensor count " + count, "model", write(dir, "tc" + (n++) + ".gguf", patchLong(m, 8, count)),
                    bad, count < 0 ? "absurd" : "tensor count"));
            cases.add(c("metadata count " + count, "model", write(dir, "kc" + (n++) + ".gguf", patchLong(m, 16, count)),
                    bad, count < 0 ? "absurd" : count == 1_000_000 ? "length of metadata key 25" : "metadata count"));
        }
        for (int k = 0; k < Math.min(8, f.keyLengths().size()); k++) {
            cases.add(c("key " + k + " length past the end", "model",
                    write(dir, "kl" + k + ".gguf", patchLong(m, f.keyLengths().get(k), 1L << 33)), bad, "runs past the end"));
            cases.add(c("key " + k + " unknown value type", "model",
                    write(dir, "vt" + k + ".gguf", patchInt(m, f.valueTypes().get(k), 77)), bad, "unknown value type"));
        }
        for (int k = 0; k < Math.min(3, f.stringValues().size()); k++) {
            cases.add(c("string value " + k + " past the end", "model",
                    write(dir, "sv" + k + ".gguf", patchLong(m, f.stringValues().get(k), m.length)), bad, "past the end"));
        }
        cases.add(c("vocabulary array count absurd", "model",
                write(dir, "tokens.gguf", patchLong(m, f.tokensArrayCount(), 1L << 35)), bad, "more than the file holds"));
        for (int k = 0; k < Math.min(12, f.nDims().size()); k++) {
            cases.add(c("tensor " + k + " n_dims 0", "model", write(dir, "nd0-" + k + ".gguf",
                    patchInt(m, f.nDims().get(k), 0)), bad, "dimensions"));
            cases.add(c("tensor " + k + " n_dims 9", "model", write(dir, "nd9-" + k + ".gguf",
                    patchInt(m, f.nDims().get(k), 9)), bad, "dimensions"));
            cases.add(c("tensor " + k + " dimension 0", "model", write(dir, "dz-" + k + ".gguf",
                    patchLong(m, f.dim0().get(k), 0)), bad, "dimension 0 = 0"));
            cases.add(c("tensor " + k + " dimension huge", "model", write(dir, "dh-" + k + ".gguf",
                    patchLong(m, f.dim0().get(k), 1L << 50)), bad, "dimension 0 ="));
            cases.add(c("tensor " + k + " unknown type", "model", write(dir, "tt-" + k + ".gguf",
                    patchInt(m, f.tensorTypes().get(k), 99)), bad, "unknown type 99"));
            cases.add(c("tensor " + k + " row not a multiple of the block", "model", write(dir, "tb-" + k + ".gguf",
                    patchInt(m, f.tensorTypes().get(k), 12)), bad, "block size"));
            cases.add(c("tensor " + k + " misaligned offset", "model", write(dir, "to-" + k + ".gguf",
                    patchLong(m, f.offsets().get(k), readLong(m, f.offsets().get(k)) + 1)), bad, "not aligned"));
            cases.add(c("tensor " + k + " offset past the end", "model", write(dir, "te-" + k + ".gguf",
                    patchLong(m, f.offsets().get(k), 1L << 40)), bad, "past the end of the file"));
        }
        // metadata values that llama.cpp trusts (layer and head counts, widths, the vocabulary): a typed refusal or a
        // working model, never a crash
        for (int[] sv : f.scalarValues()) {
            String key = keyAt(m, f, sv[0]);
            if (!key.startsWith("llama.") && !key.startsWith("tokenizer.")) {
                continue;
            }
            for (long v : MODEL_VALUES) {
                Path p = write(dir, "kv" + (n++) + ".gguf", withScalar(m, sv, v));
                String[] want = modelValueOutcome(key, v, p);
                cases.add(c(key + " = " + (v == ALL_ONES ? "all ones" : v), "model", p, want[0], want[1]));
            }
        }
        // norm epsilons ggml asserts on (eps >= 0: an abort) and RoPE bases that make every logit NaN: refused
        int[] eps = scalar(m, f, "llama.attention.layer_norm_rms_epsilon");
        cases.add(c("llama.attention.layer_norm_rms_epsilon = -1e-5 (ggml asserts eps >= 0)", "model",
                write(dir, "eps-negative.gguf", withFloat(m, eps, -1e-5f)), bad,
                "llama.attention.layer_norm_rms_epsilon = " + (double) -1e-5f + " is not a finite number >= 0"));
        int[] base = scalar(m, f, "llama.rope.freq_base");
        cases.add(c("llama.rope.freq_base = -10000 (NaN angles)", "model", write(dir, "rope-negative.gguf",
                withFloat(m, base, -10000f)), bad, "llama.rope.freq_base = -10000.0 is not a positive finite number"));
        // a vocabulary entry changed into another one: duplicate tokens
        cases.add(c("vocabulary with a duplicate token", "model", write(dir, "dup.gguf", duplicateToken(m, f)), bad,
                "duplicate"));
        cases.add(c("vocabulary with a NUL byte that makes a duplicate token", "model", write(dir, "dupnul.gguf",
                duplicateByNul(m, f)), bad, "duplicate"));
        cases.add(c("two tensors overlap", "model", write(dir, "overlap.gguf", patchLong(m, f.offsets().get(2),
                readLong(m, f.offsets().get(1)))), bad, "overlaps"));
        cases.add(c("model missing", "model", dir.resolve("none.gguf"), "ModelNotFoundException", "not found"));
        cases.add(c("model is a folder", "model", dir, "ModelNotFoundException", "not a readable file"));
        cases.add(c("projector as model", "model", projector, bad, "is a vision projector"));
        cases.add(c("short text file as model", "model", Files.writeString(dir.resolve("t.gguf"), "hello, not a model"),
                bad, "too short for a GGUF header"));
        cases.add(c("text file as model", "model", Files.writeString(dir.resolve("t2.gguf"),
                "this is a plain text file that is long enough to hold a header"), bad, "not a GGUF file"));
        // projectors
        cases.add(c("projector of another width", "projector", wideProjector, "ProjectorMismatchException", "width 96"));
        cases.add(c("model as projector", "projector", model, "ProjectorMismatchException", "not a vision projector"));
        cases.add(c("projector missing", "projector", dir.resolve("none-mmproj.gguf"), "ModelNotFoundException",
                "not found"));
        byte[] pj = Files.readAllBytes(projector);
        // the projector's metadata values (image size, patch size, widths, layer and head counts, norms)
        Fields pf = walk(pj);
        for (int[] sv : pf.scalarValues()) {
            String key = keyAt(pj, pf, sv[0]);
            if (!key.startsWith("clip.")) {
                continue;
            }
            for (long v : PROJECTOR_VALUES) {
                Path p = write(dir, "pkv" + (n++) + ".gguf", withScalar(pj, sv, v));
                String[] want = projectorValueOutcome(key, v, p);
                cases.add(c("projector " + key + " = " + (v == ALL_ONES ? "all ones" : v), "projector", p, want[0],
                        want[1]));
            }
        }
        // a metadata value stored with another type than the loader's typed getter reads (it asserted)
        for (int[] sv : pf.scalarValues()) {
            String key = keyAt(pj, pf, sv[0]);
            int other = sv[1] == 4 ? 5 : 4; // UINT32 <-> INT32: the same size, so the file stays well-formed
            if (size(sv[1]) == 4) {
                cases.add(c("projector " + key + " stored as type " + other, "projector", write(dir, "pvt" + (n++)
                        + ".gguf", patchInt(pj, sv[0] - 4, other)), key.startsWith("clip.") ? bad : "OK",
                        key.startsWith("clip.") ? key + " is stored as " + GGUF_TYPES[other]
                                + "; the vision loader reads it as " + GGUF_TYPES[sv[1]] : ""));
            }
        }
        // a tensor's first dimension changed to one that still fits the file (the graph asserted on shapes)
        for (int k = 0; k < pf.dim0().size(); k++) {
            long d0 = readLong(pj, pf.dim0().get(k));
            if (d0 > 1) {
                String name = pf.tensorNames().get(k);
                cases.add(c("projector tensor " + k + " dimension 0 halved", "projector", write(dir, "pd" + k
                        + ".gguf", patchLong(pj, pf.dim0().get(k), d0 / 2)), bad, name.equals("v.patch_embd.weight")
                        ? "but v.patch_embd.weight has " + d0 / 2 + "-pixel patches"
                        : name + " has the shape [" + d0 / 2));
            }
        }
        int mm2b = indexOf(pj, "mm.2.bias".getBytes(StandardCharsets.US_ASCII)) + 9 + 4; // its first dimension
        cases.add(c("projector mm.2.bias of another length", "projector", write(dir, "mm2b.gguf",
                patchLong(pj, mm2b, readLong(pj, mm2b) / 2)), bad, "should be"));
        // a weight tensor renamed away (the loader takes them as optional; the graph used a null pointer)
        cases.add(c("projector without v.blk.0.attn_q.weight", "projector", write(dir, "noq.gguf",
                renameTensor(pj, pf, "v.blk.0.attn_q.weight")), bad, "lacks"));
        cases.add(c("projector without mm.0.bias", "projector", write(dir, "nomm.gguf",
                renameTensor(pj, pf, "mm.0.bias")), bad, "lacks"));
        cases.add(c("projector without v.position_embd.weight", "projector", write(dir, "nopos.gguf",
                renameTensor(pj, pf, "v.position_embd.weight")), bad, "lacks"));
        cases.add(c("projector without mm.2.bias", "projector", write(dir, "nomm2b.gguf",
                renameTensor(pj, pf, "mm.2.bias")), bad, "lacks"));
        cases.add(c("projector without its second layer", "projector", write(dir, "nomm2.gguf",
                renameTensor(renameTensor(pj, pf, "mm.2.weight"), pf, "mm.2.bias")), bad, "lacks"));
        for (int k = 1; k <= 10; k++) {
            int at = pj.length * k / 11;
            cases.add(c("projector truncated at " + at, "projector", write(dir, "pcut-" + at + ".gguf",
                    Arrays.copyOf(pj, at)), bad, "is not valid GGUF"));
        }
        // images
        BufferedImage img = new BufferedImage(40, 30, BufferedImage.TYPE_INT_RGB);
        java.util.Random noise = new java.util.Random(6); // incompressible pixels: a cut in the data loses pixels
        for (int y = 0; y < 30; y++) {
            for (int x = 0; x < 40; x++) {
                img.setRGB(x, y, noise.nextInt());
            }
        }
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(img, "png", png);
        byte[] pngBytes = png.toByteArray();
        cases.add(c("image empty", "image", write(dir, "empty.png", new byte[0]), "ImageFormatException", "empty"));
        cases.add(c("image is text", "image", write(dir, "text.png", "not a picture".getBytes()), "ImageFormatException",
                "not an image"));
        cases.add(c("image missing", "image", dir.resolve("none.png"), "ImageFormatException", "not found"));
        // cuts inside the pixel data fail; a cut after it (only the CRC and the end marker lost) still decodes
        int idat = indexOf(pngBytes, "IDAT".getBytes(StandardCharsets.US_ASCII));
        int idatEnd = idat + 4 + ByteBuffer.wrap(pngBytes, idat - 4, 4).getInt();
        for (int k = 1; k <= 8; k++) {
            int at = pngBytes.length * k / 9;
            Path p = write(dir, "icut-" + at + ".png", Arrays.copyOf(pngBytes, at));
            cases.add(c("image truncated at " + at + " of " + pngBytes.length, "image", p,
                    at >= idatEnd ? "OK" : "ImageFormatException", at >= idatEnd ? "" : "cannot decode image " + p));
        }
        cases.add(c("image 20000x20000", "image", write(dir, "huge.png", org.taskvec.TestImages.pngHeader(20000, 20000)),
                "ImageFormatException", "20000x20000"));
        cases.add(c("image 100000x1", "image", write(dir, "wide.png", org.taskvec.TestImages.pngHeader(100000, 1)), "ImageFormatException",
                "100000x1"));
        BufferedImage one = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        Path onePng = dir.resolve("one.png");
        ImageIO.write(one, "png", onePng.toFile());
        cases.add(c("image 1x1 (valid)", "image", onePng, "OK", ""));
        BufferedImage grey16 = new BufferedImage(8, 8, BufferedImage.TYPE_USHORT_GRAY);
        Path g16 = dir.resolve("grey16.png");
        ImageIO.write(grey16, "png", g16.toFile());
        cases.add(c("image 16-bit grey PNG (valid)", "image", g16, "OK", ""));
        Path plainCmyk = write(dir, "cmyk.jpg", org.taskvec.TestImages.cmykJpeg(200, 10, 20, 30, false));
        cases.add(c("image CMYK JPEG (valid)", "image", plainCmyk, "OK", ""));
        Path adobeCmyk = write(dir, "cmyk-adobe.jpg", org.taskvec.TestImages.cmykJpeg(200, 10, 20, 30, true));
        cases.add(c("image Adobe CMYK JPEG (valid)", "image", adobeCmyk, "OK", ""));
        ByteArrayOutputStream jpg = new ByteArrayOutputStream();
        ImageIO.write(img, "jpeg", jpg);
        byte[] jpgBytes = jpg.toByteArray();
        for (int k = 1; k <= 4; k++) {
            int at = jpgBytes.length - jpgBytes.length * k / 10; // inside the scan data
            cases.add(c("JPEG truncated at " + at + " of " + jpgBytes.length, "image", write(dir, "jcut-" + at
                    + ".jpg", Arrays.copyOf(jpgBytes, at)), "ImageFormatException", "truncated or corrupt"));
        }
        byte[] cmykBytes = Files.readAllBytes(adobeCmyk);
        for (int k = 1; k <= 3; k++) {
            int at = cmykBytes.length * k / 4;
            Path p = write(dir, "cmykcut-" + at + ".jpg", Arrays.copyOf(cmykBytes, at));
            cases.add(c("image CMYK JPEG truncated at " + at, "image", p, "ImageFormatException",
                    "image " + p + " is truncated or corrupt"));
        }
        // hooks
        String inv = "InvalidInputException";
        for (String point : new String[] {"blocks.1.resid_side", "blocks.x.resid_post",
                "resid_post", "embed", "blocks.1.hook_z", "ln_final"}) {
            cases.add(new BadInputCase("hook point " + point, "hook", point + "|last|", inv, "valid:"));
        }
        for (int layer : new int[] {4, 5, 99, -1, 1000}) {
            cases.add(new BadInputCase("hook layer " + layer, "hook", "blocks." + layer + ".resid_post|last|", inv,
                    layer < 0 ? "valid:" : "out of range"));
        }
        String[][] positions = {{"500", "position 500 is out of range: the prompt has 9 positions"},
                {"-500", "position -500 is out of range: the prompt has 9 positions"},
                {"image:0", "the prompt has no image 0"},
                {"token:zebra:0", "the prompt has 0 tokens 'zebra'; occurrence 0 does not exist"},
                {"delimiter:zebra:-1", "the prompt has 0 tokens ending with 'zebra'; occurrence -1 does not exist"},
                {"3,999", "position 999 is out of range: the prompt has 9 positions"}};
        for (String[] pos : positions) {
            cases.add(new BadInputCase("hook position " + pos[0], "hook", "blocks.1.resid_post|" + pos[0] + "|", inv,
                    pos[1]));
        }
        for (int len : new int[] {0, 1, 63, 65, 128, 4096}) {
            cases.add(new BadInputCase("vector length " + len, "hook", "blocks.1.resid_post|last|" + len, inv,
                    "length " + len));
        }
        for (int words : new int[] {300, 1000, 5000}) {
            cases.add(new BadInputCase("prompt of " + words + " words", "prompt", String.valueOf(words),
                    "ContextOverflowException", "context holds"));
        }
        for (int tokens : new int[] {300, 1000}) {
            cases.add(new BadInputCase("generation of " + tokens + " tokens", "generate", String.valueOf(tokens),
                    "ContextOverflowException", "end of the context"));
        }
        for (int token : new int[] {-1, 32000, 99999, Integer.MIN_VALUE}) {
            cases.add(new BadInputCase("token " + token, "token", String.valueOf(token), inv, "outside the vocabulary"));
        }
        for (String call : new String[] {"evaluate", "logits", "generate", "hooks", "positions"}) {
            cases.add(new BadInputCase("session " + call + " after close", "closed", call, "ClosedHandleException",
                    "closed"));
        }
        for (String call : new String[] {"evaluate", "logits", "generate", "hooks", "truncate"}) {
            cases.add(new BadInputCase("session " + call + " from a second thread during a generation", "threads",
                    call, "ConcurrentSessionUseException", "in use by another thread"));
        }
        cases.add(new BadInputCase("session closed from a second thread during a generation", "threads", "close",
                "ClosedHandleException", "closed"));
        cases.add(new BadInputCase("two sessions of one model on two threads (valid)", "threads", "sessions", "OK",
                ""));
        return cases;
    }

    /**
     * The number of cases {@link #generate} makes, counted from its loops and the fields of the two files (an
     * independent count: a case added, dropped or made conditional changes one and not the other).
     */
    static int expectedSize(Path model, Path projector) throws IOException {
        byte[] m = Files.readAllBytes(model);
        Fields f = walk(m);
        long modelValues = f.scalarValues().stream().map(sv -> keyAt(m, f, sv[0]))
                .filter(k -> k.startsWith("llama.") || k.startsWith("tokenizer.")).count();
        int modelCases = 60 // truncations
                + 5 + 4 // versions, magics
                + 2 * 4 // tensor and metadata counts
                + 2 * Math.min(8, f.keyLengths().size()) // key lengths, value types
                + Math.min(3, f.stringValues().size()) + 1 // string values, the vocabulary's count
                + 8 * Math.min(12, f.nDims().size()) // 8 per tensor
                + MODEL_VALUES.length * (int) modelValues + 2 // metadata values; epsilon and RoPE base
                + 3 // duplicate tokens (2), overlapping tensors
                + 5; // missing, a folder, a projector, two text files
        byte[] pj = Files.readAllBytes(projector);
        Fields pf = walk(pj);
        long clipValues = pf.scalarValues().stream().filter(sv -> keyAt(pj, pf, sv[0]).startsWith("clip.")).count();
        long fourBytes = pf.scalarValues().stream().filter(sv -> size(sv[1]) == 4).count();
        long halvable = pf.dim0().stream().filter(at -> readLong(pj, at) > 1).count();
        int projectorCases = 3 // another width, a model, missing
                + PROJECTOR_VALUES.length * (int) clipValues + (int) fourBytes + (int) halvable
                + 1 + 5 + 10; // mm.2.bias length, tensors renamed away, truncations
        int imageCases = 3 + 8 + 2 + 4 + 4 + 3; // empty/text/missing, PNG cuts, huge, valid, JPEG and CMYK cuts
        int sessionCases = 7 + 5 + 5 + 6 // hook points, layers, positions, vector lengths
                + 3 + 2 + 4 // prompts, generations, tokens
                + 5 + 5 + 1 + 1; // after close, second thread, close from a second thread, two sessions
        return modelCases + projectorCases + imageCases + sessionCases;
    }

    /** The values every scalar llama.* and tokenizer.* metadata entry of the model is set to, one case each. */
    static final long[] MODEL_VALUES = {0, 1, 3, ALL_ONES, 1L << 30};
    /** The values every scalar clip.* metadata entry of the projector is set to, one case each. */
    static final long[] PROJECTOR_VALUES = {0, 1, 7, ALL_ONES, 1L << 30};
    /** GGUF value type names by id. */
    static final String[] GGUF_TYPES = {"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL",
            "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"};

    /**
     * What loading and decoding the tiny model with key set to v gives (as {@link #withScalar} stores v): {type,
     * message fragment}. Every scalar key of the tiny model is listed; a new key needs its expected outcome here.
     * The tiny model: width 64, 4 heads of 16 (RoPE over 16), 2 KV heads, feed-forward 128, 4 blocks of 9 tensors
     * and 3 others.
     */
    static String[] modelValueOutcome(String key, long v, Path file) {
        long u32 = v & 0xFFFFFFFFL;
        String bad = "InvalidModelFileException";
        String load = "ModelLoadException";
        return switch (key) {
            case "llama.context_length", "llama.vocab_size", "tokenizer.ggml.bos_token_id",
                    "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id" -> new String[] {"OK", ""};
            case "llama.embedding_length" -> new String[] {load, "invalid n_rot: 16, expected " + u32 / 4};
            case "llama.block_count" -> u32 < 1 || u32 > 512
                    ? new String[] {bad, file + ": llama.block_count = " + u32 + " is outside 1..512"}
                    : new String[] {load, "done_getting_tensors: wrong number of tensors; expected 39, got "
                            + (3 + 9 * u32)};
            case "llama.feed_forward_length" -> new String[] {load, "check_tensor_dims: tensor 'blk.0.ffn_gate.weight' "
                    + "has wrong shape; expected     64, " + String.format("%6d", u32)};
            case "llama.attention.head_count" -> u32 == 0
                    ? new String[] {load, "check_tensor_dims: tensor 'blk.0.attn_q.weight' has wrong shape"}
                    : new String[] {load, "invalid n_rot: 16, expected " + 64 / u32};
            case "llama.attention.head_count_kv" -> new String[] {load, "check_tensor_dims: tensor "
                    + "'blk.0.attn_k.weight' has wrong shape; expected     64, " + String.format("%6d",
                    (16 * u32) & 0xFFFFFFFFL)};
            case "llama.rope.dimension_count" -> new String[] {load, "invalid n_rot: " + u32 + ", expected 16"};
            case "llama.rope.freq_base" -> v == 0 || v == ALL_ONES
                    ? new String[] {bad, file + ": llama.rope.freq_base = " + (v == 0 ? "0.0" : "NaN")
                            + " is not a positive finite number"}
                    : new String[] {"OK", ""};
            case "llama.attention.layer_norm_rms_epsilon" -> v == ALL_ONES
                    ? new String[] {bad, file + ": llama.attention.layer_norm_rms_epsilon = NaN is not a finite "
                            + "number >= 0"}
                    : new String[] {"OK", ""};
            case "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token" -> (v & 0xFF) > 1
                    ? new String[] {bad, "metadata " + key + " is a BOOL with value " + (v & 0xFF)}
                    : new String[] {"OK", ""};
            default -> throw new IllegalStateException("no expected outcome for the model's " + key);
        };
    }

    /**
     * What loading the tiny projector with key set to v and encoding an image gives: {type, message fragment}.
     * Every scalar clip.* key of the tiny projector is listed. The tiny projector: 32-pixel images, 8-pixel
     * patches, width 32, 2 heads, 2 blocks, output width 64 (the tiny model's).
     */
    static String[] projectorValueOutcome(String key, long v, Path file) {
        long u32 = v & 0xFFFFFFFFL;
        String bad = "InvalidModelFileException";
        String prefix = "projector " + file + ": " + key + " = ";
        if (key.startsWith("clip.has_") || key.startsWith("clip.use_")) {
            long b = v & 0xFF;
            if (b > 1) {
                return new String[] {bad, "metadata " + key + " is a BOOL with value " + b};
            }
            return key.equals("clip.has_vision_encoder") && b == 0
                    ? new String[] {"ProjectorMismatchException", "Failed to load CLIP model from " + file}
                    : new String[] {"OK", ""};
        }
        return switch (key) {
            case "clip.vision.image_size" -> u32 < 1 || u32 > 16384
                    ? new String[] {bad, prefix + u32 + " is outside 1..16384"}
                    : u32 < 8 ? new String[] {bad, prefix + u32 + " is smaller than the patch size 8"}
                    : u32 != 32 ? new String[] {bad, "projector " + file + ": clip.vision.image_size " + u32
                            + " / patch_size 8 gives " + ((u32 / 8) * (u32 / 8) + 1) + " positions"}
                    : new String[] {"OK", ""};
            case "clip.vision.patch_size" -> u32 < 1 || u32 > 16384
                    ? new String[] {bad, prefix + u32 + " is outside 1..16384"}
                    : u32 > 32 ? new String[] {bad, "projector " + file + ": clip.vision.image_size = 32 is smaller "
                            + "than the patch size " + u32}
                    : u32 != 8 ? new String[] {bad, prefix + u32 + " but v.patch_embd.weight has 8-pixel patches"}
                    : new String[] {"OK", ""};
            case "clip.vision.embedding_length" -> u32 < 1 || u32 > 1 << 20
                    ? new String[] {bad, prefix + u32 + " is outside 1..1048576"}
                    : u32 % 2 != 0 ? new String[] {bad, prefix + u32 + " is not a multiple of the head count 2"}
                    : u32 != 32 ? new String[] {bad, prefix + u32 + " but v.patch_embd.weight makes vectors of 32"}
                    : new String[] {"OK", ""};
            case "clip.vision.feed_forward_length" -> u32 > Integer.MAX_VALUE
                    ? new String[] {"ProjectorMismatchException", "get_u32: value " + u32
                            + " for key 'clip.vision.feed_forward_length' exceeds INT32_MAX"}
                    : new String[] {"OK", ""};
            case "clip.vision.projection_dim" -> u32 == 64 ? new String[] {"OK", ""}
                    : new String[] {"ProjectorMismatchException", "projector " + file + " outputs vectors of width "
                            + u32 + " but the model's embedding width is 64"};
            case "clip.vision.block_count" -> u32 < 1 || u32 > 1024
                    ? new String[] {bad, prefix + u32 + " is outside 1..1024"}
                    : u32 > 2 ? new String[] {bad, "projector " + file + ": the vision encoder lacks "
                            + 8 * (u32 - 2) + " weight tensor(s): v.blk.2.attn_q.weight"}
                    : new String[] {"OK", ""};
            case "clip.vision.attention.head_count" -> u32 < 1 || u32 > 1 << 16
                    ? new String[] {bad, prefix + u32 + " is outside 1..65536"}
                    : 32 % u32 != 0 ? new String[] {bad, "projector " + file + ": clip.vision.embedding_length = 32 "
                            + "is not a multiple of the head count " + u32}
                    : new String[] {"OK", ""};
            case "clip.vision.attention.layer_norm_epsilon" -> new String[] {bad, prefix + (v == ALL_ONES ? "NaN"
                    : String.valueOf((double) (float) v)) + " is not a small positive number"};
            default -> throw new IllegalStateException("no expected outcome for the projector's " + key);
        };
    }

    /** The {offset, value type} of a scalar metadata value. */
    static int[] scalar(byte[] b, Fields f, String key) {
        return f.scalarValues().stream().filter(sv -> keyAt(b, f, sv[0]).equals(key)).findFirst()
                .orElseThrow(() -> new IllegalStateException("no scalar " + key));
    }

    /** The file with one FLOAT32 metadata value set to x. */
    static byte[] withFloat(byte[] b, int[] sv, float x) {
        if (sv[1] != 6) {
            throw new IllegalArgumentException("not a FLOAT32 value: type " + sv[1]);
        }
        return patchInt(b, sv[0], Float.floatToIntBits(x));
    }

    /**
     * The full corpus's extra cases (the reliability profile): seeded random mutations of the model's header of the
     * kinds the GGUF fuzzer makes (fields set to boundary or random values, bytes changed, several at once, the
     * file cut), each expected to load or get a typed exception.
     */
    static List<BadInputCase> randomMutations(Path model, String kind, int count, long seed) throws IOException {
        byte[] m = Files.readAllBytes(model);
        Fields f = walk(m);
        java.util.Random rnd = new java.util.Random(seed);
        long[] interesting = {0, 1, 2, -1, 255, 65535, Integer.MAX_VALUE, 1L << 31, (1L << 32) - 1, 1L << 40,
                Long.MAX_VALUE, m.length, m.length + 1L};
        List<Integer> ints = f.int32Fields();
        List<Integer> longs = f.int64Fields();
        List<BadInputCase> cases = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            StringBuilder what = new StringBuilder("random " + kind + " mutation " + i + ":");
            List<String> patches = new ArrayList<>(); // "offset:length:value", applied by CaseRunner to a copy
            int n = 1 + rnd.nextInt(4);
            for (int k = 0; k < n; k++) {
                long v = rnd.nextBoolean() ? interesting[rnd.nextInt(interesting.length)] : rnd.nextLong();
                switch (rnd.nextInt(5)) {
                    case 0 -> patches.add(ints.get(rnd.nextInt(ints.size())) + ":4:" + v);
                    case 1 -> patches.add(longs.get(rnd.nextInt(longs.size())) + ":8:" + v);
                    case 2 -> {
                        int[] sv = f.scalarValues().get(rnd.nextInt(f.scalarValues().size()));
                        patches.add(sv[0] + ":" + size(sv[1]) + ":" + v);
                        what.append(' ').append(keyAt(m, f, sv[0]));
                    }
                    case 3 -> patches.add(rnd.nextInt(f.headerEnd()) + ":1:" + rnd.nextInt(256));
                    default -> patches.add("cut:" + rnd.nextInt(m.length));
                }
            }
            cases.add(new BadInputCase(what + " " + String.join(" ", patches), kind + "-mutation",
                    String.join(",", patches), TYPED, ""));
        }
        return cases;
    }

    /** The key of the metadata entry whose value starts at valueAt. */
    static String keyAt(byte[] b, Fields f, int valueAt) {
        ByteBuffer buf = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int best = -1;
        for (int k : f.keyLengths()) {
            if (k < valueAt) {
                best = Math.max(best, k);
            }
        }
        return new String(b, best + 8, (int) buf.getLong(best), StandardCharsets.UTF_8);
    }

    /** The file with vocabulary entry 1000 overwritten by entry 1001's text, when both have the same length. */
    static byte[] duplicateToken(byte[] m, Fields f) {
        ByteBuffer buf = ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN);
        int p = f.tokensArrayCount() + 8;
        List<int[]> entries = new ArrayList<>(); // {offset of text, length}
        for (int i = 0; i < 5000; i++) {
            int len = (int) buf.getLong(p);
            entries.add(new int[] {p + 8, len});
            p += 8 + len;
        }
        for (int i = 1000; i < 4999; i++) {
            int[] a = entries.get(i);
            int[] b = entries.get(i + 1);
            if (a[1] == b[1]) {
                byte[] c = m.clone();
                System.arraycopy(m, b[0], c, a[0], a[1]);
                return c;
            }
        }
        throw new IllegalStateException("no two neighbouring tokens of one length");
    }

    /** The file with the second byte of a two-byte token set to NUL, where its first byte is a token of its own. */
    static byte[] duplicateByNul(byte[] m, Fields f) {
        ByteBuffer buf = ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN);
        long n = buf.getLong(f.tokensArrayCount());
        java.util.Set<String> singles = new java.util.HashSet<>();
        List<int[]> pairs = new ArrayList<>(); // {offset of text} of two-byte tokens
        int p = f.tokensArrayCount() + 8;
        for (long i = 0; i < n; i++) {
            int len = (int) buf.getLong(p);
            if (len == 1) {
                singles.add(String.valueOf((char) (m[p + 8] & 0xFF)));
            } else if (len == 2) {
                pairs.add(new int[] {p + 8});
            }
            p += 8 + len;
        }
        for (int[] pair : pairs) {
            if (singles.contains(String.valueOf((char) (m[pair[0]] & 0xFF)))) {
                byte[] c = m.clone();
                c[pair[0] + 1] = 0;
                return c;
            }
        }
        throw new IllegalStateException("no two-byte token whose first byte is a token");
    }

    /** The file with one tensor's name changed in its last character (so the name is no longer found). */
    static byte[] renameTensor(byte[] m, Fields f, String name) {
        byte[] needle = name.getBytes(StandardCharsets.US_ASCII);
        byte[] c = m.clone();
        int at = indexOf(m, needle);
        if (at < 0) {
            throw new IllegalStateException("no tensor " + name);
        }
        c[at + needle.length - 1] = '&';
        return c;
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    private static long readLong(byte[] b, int at) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(at);
    }

    private static BadInputCase c(String name, String kind, Path arg, String type, String fragment) {
        return new BadInputCase(name, kind, arg.toString(), type, fragment);
    }

    private static Path write(Path dir, String name, byte[] content) throws IOException {
        return Files.write(dir.resolve(name), content);
    }
}
