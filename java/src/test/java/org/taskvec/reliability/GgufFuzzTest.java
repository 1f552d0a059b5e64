package org.taskvec.reliability;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.taskvec.TestModels;
import org.taskvec.engine.Model;
import org.taskvec.engine.TaskvecException;

/**
 * Fuzzing of the GGUF header and metadata path (Jazzer, coverage-guided on the Java side): the tiny model with a
 * few fields of its header changed (counts, lengths, value types, metadata values such as the layer count or head
 * count, tensor dimensions, types and offsets, random bytes) or the file cut short, then loaded. A load must
 * succeed or throw a {@link TaskvecException}; anything else is a finding, and a native crash kills the fuzzer with
 * the input saved. In the normal test run this replays the saved inputs (regression mode); the fuzz profile fuzzes
 * (see README).
 *
 * <p>Structure-aware on purpose: a raw byte mutator rarely gets past a 32000-token vocabulary to the fields that
 * matter, so the fuzzer's data chooses fields and values, and the file is patched in place and restored after each
 * run (17 MB need not be rewritten per input).
 */
@Tag("reliability")
class GgufFuzzTest {
    private static byte[] original;
    private static BadInputCorpus.Fields fields;
    private static Path path;

    private static final long[] INTERESTING = {0, 1, 2, 3, -1, 7, 8, 255, 256, 65535, 65536, Integer.MAX_VALUE,
            1L << 31, (1L << 32) - 1, 1L << 32, 1L << 40, Long.MAX_VALUE, Long.MIN_VALUE};

    private static synchronized void init() throws IOException {
        if (original == null) {
            original = Files.readAllBytes(TestModels.tinyModel());
            fields = BadInputCorpus.walk(original);
            Path dir = Files.createDirectories(Path.of("target", "fuzz"));
            path = dir.resolve("fuzzed.gguf");
            Files.write(path, original);
        }
    }

    @FuzzTest(maxDuration = "5m")
    void mutatedHeaderLoadsOrGetsATypedException(FuzzedDataProvider data) throws IOException {
        init();
        List<int[]> patches = new ArrayList<>(); // {offset, length}
        long cut = -1;
        try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
            int n = data.consumeInt(1, 6);
            for (int i = 0; i < n; i++) {
                switch (data.consumeInt(0, 5)) {
                    case 0 -> patch(f, patches, pick(data, fields.nDims(), fields.valueTypes(), fields.tensorTypes()),
                            4, value(data));
                    case 1 -> patch(f, patches, pick(data, fields.keyLengths(), fields.stringValues(), fields.dim0(),
                            fields.offsets(), List.of(8, 16, fields.tokensArrayCount())), 8, value(data));
                    case 2 -> {
                        int[] sv = fields.scalarValues().get(data.consumeInt(0, fields.scalarValues().size() - 1));
                        patch(f, patches, sv[0], BadInputCorpus.size(sv[1]), value(data));
                    }
                    case 3 -> patch(f, patches, data.consumeInt(0, fields.headerEnd() - 1), 1, data.consumeByte());
                    case 4 -> { // a dimension of a later dimension slot (n_dims > 1 tensors)
                        int at = pick(data, fields.dim0()) + 8 * data.consumeInt(1, 3);
                        patch(f, patches, Math.min(at, fields.headerEnd() - 8), 8, value(data));
                    }
                    default -> cut = data.consumeLong(0, original.length - 1);
                }
            }
            if (cut >= 0) {
                f.setLength(cut);
            }
        }
        try (Model m = Model.load(path)) {
            m.layers();
        } catch (TaskvecException expected) {
            // a typed refusal is the right outcome for a broken file
        } finally {
            restore(patches, cut);
        }
    }

    private static long value(FuzzedDataProvider data) {
        return data.consumeBoolean() ? INTERESTING[data.consumeInt(0, INTERESTING.length - 1)]
                : data.consumeBoolean() ? data.consumeLong(0, original.length + 1L) : data.consumeLong();
    }

    @SafeVarargs
    private static int pick(FuzzedDataProvider data, List<Integer>... lists) {
        List<Integer> all = new ArrayList<>();
        for (List<Integer> l : lists) {
            all.addAll(l);
        }
        return all.get(data.consumeInt(0, all.size() - 1));
    }

    private static void patch(RandomAccessFile f, List<int[]> patches, int at, int len, long v) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v);
        f.seek(at);
        f.write(b.array(), 0, len);
        patches.add(new int[] {at, len});
    }

    private static void restore(List<int[]> patches, long cut) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
            if (cut >= 0) {
                f.setLength(original.length);
                f.seek(cut);
                f.write(original, (int) cut, original.length - (int) cut);
            }
            for (int[] p : patches) {
                f.seek(p[0]);
                f.write(original, p[0], p[1]);
            }
        }
    }
}
