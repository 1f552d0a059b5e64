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
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.Positions;
import org.taskvec.hooks.RunResult;

/**
 * What a hook costs on a prompt: a plain evaluation of a prompt of about {@code promptTokens} tokens against the
 * same evaluation with a capture of one layer's residual at the last position, a capture of every layer there, and
 * a replace of one layer's residual there. Every operation evaluates the whole prompt afresh (the session is
 * cleared first, untimed share negligible). Report each as a ratio to {@code plainPrompt} from the same run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 10)
@Fork(value = 1, jvmArgsAppend = {"-Xss4m"})
public class HookBenchmark {
    @Param({"128"})
    public int promptTokens;

    @Param({"0"})
    public int threads;

    private Model model;
    private Session session;
    private Prompt prompt;
    private Hooks captureOne;
    private Hooks captureAll;
    private Hooks replaceOne;

    @Setup(Level.Trial)
    public void open() {
        model = Model.load(BenchModels.model());
        SessionParams p = BenchModels.params(Math.max(512, promptTokens * 2), threads);
        session = model.newSession(p);
        StringBuilder sb = new StringBuilder();
        String[] words = {"Q:", "France", "\nA:", "Paris", "\n\n"};
        for (int i = 0; model.tokenize(sb.toString(), true).length < promptTokens; i++) {
            sb.append(words[i % words.length]);
        }
        prompt = Prompt.of(sb.toString());
        int mid = model.layers() / 2;
        captureOne = Hooks.create().capture("blocks." + mid + ".resid_post", Positions.last());
        captureAll = Hooks.create().captureLayers("resid_post", model.layers(), Positions.last());
        RunResult r = HookedRun.run(session, prompt, captureOne);
        replaceOne = Hooks.create().replace("blocks." + mid + ".resid_post", Positions.last(),
                r.captures().get(0).last());
    }

    @Benchmark
    public Session.Evaluation plainPrompt() {
        session.truncate(0);
        return session.evaluate(prompt);
    }

    @Benchmark
    public RunResult captureOneLayer() {
        session.truncate(0);
        return HookedRun.run(session, prompt, captureOne);
    }

    @Benchmark
    public RunResult captureAllLayers() {
        session.truncate(0);
        return HookedRun.run(session, prompt, captureAll);
    }

    @Benchmark
    public RunResult replaceOneLayer() {
        session.truncate(0);
        return HookedRun.run(session, prompt, replaceOne);
    }

    @TearDown(Level.Trial)
    public void close() {
        model.close();
    }
}
