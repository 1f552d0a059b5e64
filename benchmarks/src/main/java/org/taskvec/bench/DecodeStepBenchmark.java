package org.taskvec.bench;

import java.util.concurrent.TimeUnit;
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
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;

/**
 * One decode step per operation ({@link Session#step()}), in a never-hooked session and in one that ran hooks
 * before. With {@code -prof gc}, {@code gc.alloc.rate.norm} is the Java heap allocated per decode step.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 5)
@Fork(value = 1, jvmArgsAppend = {"-Xss4m"})
public class DecodeStepBenchmark {
    @Param({"0"})
    public int threads;

    private Model model;
    private Session session;
    private int promptPositions;
    private final Prompt prompt = Prompt.of("Q: What is the capital of France?\nA:");

    @Setup(Level.Trial)
    public void open() {
        model = Model.load(BenchModels.model());
        SessionParams p = BenchModels.params(512, threads);
        session = model.newSession(p);
        promptPositions = session.evaluate(prompt).positions();
    }

    @Benchmark
    public int step() {
        if (session.positions() >= 480) { // stay inside the context; no allocation either way
            session.truncate(promptPositions);
            session.append(model.bosToken());
        }
        return session.step();
    }

    @TearDown(Level.Trial)
    public void close() {
        model.close();
    }
}
