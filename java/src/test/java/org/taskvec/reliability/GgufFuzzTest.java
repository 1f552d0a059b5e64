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
import org.taskvec.TestModels;
import org.taskvec.engine.Model;
import org.taskvec.engine.TaskvecException;

/**
 * Fuzzing of the GGUF header and metadata path (Jazzer, coverage-guided on the Java side): the tiny model or its
 * vision projector with a few fields of its header changed (counts, lengths, value types, metadata values such as
 * layer, head and patch counts, tensor dimensions, types and offsets, random bytes) or the file cut short, then
 * loaded (a projector also encodes an image, since some values matter only then). A load must succeed or throw a
 * {@link TaskvecException}; anything else is a finding, and a native crash kills the fuzzer with the input saved.
 * In the normal test run this replays the saved inputs (regression mode: the crashes found so far, under
 * src/test/resources/.../GgufFuzzTestInputs); the fuzz profile fuzzes (see README).
 *
 * <p>Structure-aware on purpose: a raw byte mutator rarely gets past a 32000-token vocabulary to the fields that
 * matter, so the fuzzer's data chooses fields and values, and the file is patched in place and restored after each
 * run (17 MB need not be rewritten per input).
 */
class GgufFuzzTest {
    /** A file under fuzzing: its original bytes, where its header fields are, and the work copy. */
    private record Target(byte[] original, BadInputCorpus.Fields fields, Path path) {
        static Target of(Path source, String name) throws IOException {
            byte[] b = Files.readAllBytes(source);
            Path p = Files.createDirectories(Path.of("target", "fuzz")).resolve(name);
            Files.write(p, b);
            return new Target(b, BadInputCorpus.walk(b), p);
        }
    }

    private static Target model;
    private static Target projector;

    private static final long[] INTERESTING = {0, 1, 2, 3, -1, 7, 8, 255, 256, 65535, 65536, Integer.MAX_VALUE,
            1L << 31, (1L << 32) - 1, 1L << 32, 1L << 40, Long.MAX_VALUE, Long.MIN_VALUE};

    private static synchronized void init() throws IOException {
        if (model == null) {
            model = Target.of(TestModels.tinyModel(), "fuzzed.gguf");
            projector = Target.of(TestModels.tinyProjector(), "fuzzed-mmproj.gguf");
        }
    }

    @FuzzTest(maxDuration = "5m")
    void mutatedHeaderLoadsOrGetsATypedException(FuzzedDataProvider data) throws IOException {
        init();
        Target t = data.consumeBoolean() ? projector : model;
        BadInputCorpus.Fields fields = t.fields();
        List<int[]> patches = new ArrayList<>(); // {offset, length}
        long cut = -1;
        try (RandomAccessFile f = new RandomAccessFile(t.path().toFile(), "rw")) {
            int n = data.consumeInt(1, 6);
            for (int i = 0; i < n; i++) {
                switch (data.consumeInt(0, 5)) {
                    case 0 -> patch(f, patches, pick(data, fields.int32Fields()), 4, value(data, t));
                    case 1 -> patch(f, patches, pick(data, fields.int64Fields()), 8, value(data, t));
                    case 2 -> {
                        int[] sv = fields.scalarValues().get(data.consumeInt(0, fields.scalarValues().size() - 1));
                        patch(f, patches, sv[0], BadInputCorpus.size(sv[1]), value(data, t));
                    }
                    case 3 -> patch(f, patches, data.consumeInt(0, fields.headerEnd() - 1), 1, data.consumeByte());
                    case 4 -> { // a later dimension slot (tensors of more than one dimension)
                        int at = pick(data, fields.dim0()) + 8 * data.consumeInt(1, 3);
                        patch(f, patches, Math.min(at, fields.headerEnd() - 8), 8, value(data, t));
                    }
                    default -> cut = data.consumeLong(0, t.original().length - 1);
                }
            }
            if (cut >= 0) {
                f.setLength(cut);
            }
        }
        try {
            if (t == model) {
                try (Model m = Model.load(t.path())) {
                    m.layers();
                }
            } else {
                CaseRunner.projector(TestModels.tinyModel(), t.path());
            }
        } catch (TaskvecException expected) {
            // a typed refusal is the right outcome for a broken file
        } finally {
            restore(t, patches, cut);
        }
    }

    private static long value(FuzzedDataProvider data, Target t) {
        return data.consumeBoolean() ? INTERESTING[data.consumeInt(0, INTERESTING.length - 1)]
                : data.consumeBoolean() ? data.consumeLong(0, t.original().length + 1L) : data.consumeLong();
    }

    private static int pick(FuzzedDataProvider data, List<Integer> fields) {
        return fields.get(data.consumeInt(0, fields.size() - 1));
    }

    private static void patch(RandomAccessFile f, List<int[]> patches, int at, int len, long v) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v);
        f.seek(at);
        f.write(b.array(), 0, len);
        patches.add(new int[] {at, len});
    }

    private static void restore(Target t, List<int[]> patches, long cut) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(t.path().toFile(), "rw")) {
            if (cut >= 0) {
                f.setLength(t.original().length);
                f.seek(cut);
                f.write(t.original(), (int) cut, t.original().length - (int) cut);
            }
            for (int[] p : patches) {
                f.seek(p[0]);
                f.write(t.original(), p[0], p[1]);
            }
        }
    }
}
