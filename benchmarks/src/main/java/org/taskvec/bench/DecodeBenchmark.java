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
import org.taskvec.engine.Generation;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;

/**
 * Greedy decoding of {@code tokens} tokens after a short prompt, two ways over the same native library, model and
 * threads, in the same JVM:
 * <ul>
 *   <li>{@code javaApi}: the Java API's generation loop, one JNI crossing per token
 *       ({@link Session#continueGeneration}: sample, evaluate, token text, stop checks);</li>
 *   <li>{@code cppLoop}: the C++ loop {@code tv_session_generate} inside libtaskvec, one JNI crossing in all.</li>
 * </ul>
 * The ratio javaApi / cppLoop (time per operation) is the cost of driving generation from Java. The prompt is
 * re-evaluated (from the KV cache) before every invocation, untimed.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 10)
@Fork(value = 1, jvmArgsAppend = {"-Xss4m"})
public class DecodeBenchmark {
    @Param({"32"})
    public int tokens;

    @Param({"0"})
    public int threads; // 0: all cores, at most 8

    private Model model;
    private Session session;
    private GenerationParams greedy;
    private final Prompt prompt = Prompt.of("Q: What is the capital of France?\nA:");

    @Setup(Level.Trial)
    public void open() {
        model = Model.load(BenchModels.model());
        SessionParams p = BenchModels.params(512, threads);
        session = model.newSession(p);
        greedy = GenerationParams.greedy(tokens);
    }

    @Setup(Level.Invocation)
    public void resetToPrompt() {
        session.evaluate(prompt);
    }

    @Benchmark
    public Generation javaApi() {
        return session.continueGeneration(greedy, null);
    }

    @Benchmark
    public int[] cppLoop() {
        return session.generateTokens(greedy);
    }

    @TearDown(Level.Trial)
    public void close() {
        model.close();
    }
}
