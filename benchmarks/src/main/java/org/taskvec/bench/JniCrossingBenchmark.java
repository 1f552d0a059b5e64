package org.taskvec.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.taskvec.engine.Model;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;

/**
 * The price of one crossing into native code through the Java API: a guarded call that does almost nothing in
 * C ({@link Model#bosToken()}, {@link Session#positions()}), next to a plain Java field read for scale.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class JniCrossingBenchmark {
    private Model model;
    private Session session;

    @Setup(Level.Trial)
    public void open() {
        model = Model.load(BenchModels.model());
        session = model.newSession(SessionParams.defaults().withContextSize(256));
    }

    @Benchmark
    public int javaOnly() {
        return model.embeddingSize();
    }

    @Benchmark
    public int modelCall() {
        return model.bosToken();
    }

    @Benchmark
    public int sessionCall() {
        return session.positions();
    }

    @TearDown(Level.Trial)
    public void close() {
        model.close();
    }
}
