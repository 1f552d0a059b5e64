package org.taskvec.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.taskvec.engine.Generation;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.HookAction;
import org.taskvec.engine.HookPhase;
import org.taskvec.engine.HookSpec;
import org.taskvec.engine.Model;
import org.taskvec.engine.PointKind;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;

/**
 * Parallel sequences: {@code sequences} prompts continued together for {@code tokens} greedy tokens (one decode per
 * step for all of them: report tokens/s as sequences x tokens / time, and as a ratio to sequences = 1), and the
 * per-sequence hook path: the same batch with a generation-phase capture of one layer's residual at one position of
 * every sequence ({@code captureEachSequence}), as a ratio to {@code plainBatch} from the same run (goal <= 1.05).
 * Each operation starts from the same prompts (the sequences are cut back to them, not re-evaluated).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 10)
@Fork(value = 1, jvmArgsAppend = {"-Xss4m"})
public class ParallelSequencesBenchmark {
    @Param({"1", "4", "16", "64"})
    public int sequences;

    @Param({"16"})
    public int tokens;

    @Param({"0"})
    public int threads;

    private Model model;
    private Session session;
    private int[] seqs;
    private int[] held;
    private GenerationParams greedy;

    @Setup(Level.Trial)
    public void open() {
        model = Model.load(BenchModels.model());
        session = model.newSession(BenchModels.params(Math.max(2048, sequences * 64), threads)
                .withSequences(sequences));
        List<Prompt> prompts = new ArrayList<>();
        String[] countries = {"France", "Japan", "Peru", "Kenya", "Italy", "Chile", "Spain", "Egypt"};
        for (int i = 0; i < sequences; i++) {
            prompts.add(Prompt.of("Q:" + countries[i % countries.length] + "\nA:" + i));
        }
        seqs = IntStream.range(0, sequences).toArray();
        session.evaluateAll(prompts);
        held = new int[sequences];
        for (int i = 0; i < sequences; i++) {
            held[i] = session.positions(i);
        }
        greedy = GenerationParams.greedy(tokens);
    }

    /** Cuts every sequence back to its prompt minus its last token and evaluates that token again (logits). */
    private void reset() {
        List<Prompt> last = new ArrayList<>();
        for (int i = 0; i < sequences; i++) {
            session.truncate(i, held[i] - 1);
        }
        for (int i = 0; i < sequences; i++) {
            last.add(Prompt.of("Q:" + new String[] {"France", "Japan", "Peru", "Kenya", "Italy", "Chile", "Spain",
                    "Egypt"}[i % 8] + "\nA:" + i));
        }
        session.evaluateAll(last);
    }

    @Benchmark
    public List<Generation> plainBatch() {
        reset();
        return session.generateAll(seqs, greedy);
    }

    @Benchmark
    public List<Generation> captureEachSequence() {
        reset();
        int mid = model.layers() / 2;
        for (int i = 0; i < sequences; i++) {
            session.addHook(new HookSpec(PointKind.RESID_POST, mid, HookAction.CAPTURE, HookPhase.GENERATION,
                    new int[] {held[i] + tokens / 2}, 1, null, 1f, i));
        }
        try {
            return session.generateAll(seqs, greedy);
        } finally {
            session.clearHooks();
        }
    }

    @TearDown(Level.Trial)
    public void close() {
        session.close();
        model.close();
    }
}
