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
import org.taskvec.engine.HookAction;
import org.taskvec.engine.HookPhase;
import org.taskvec.engine.HookSpec;
import org.taskvec.engine.PointKind;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.Positions;

/**
 * Greedy decoding of {@code tokens} tokens in three sessions over one model:
 * <ul>
 *   <li>{@code plainSession}: never hooked;</li>
 *   <li>{@code hookFreeSession}: ran hooked prompts and generations before, hooks now cleared (taskvec then removes
 *       llama.cpp's graph callback, so this should equal plain);</li>
 *   <li>{@code idleCallbackSession}: a generation-phase hook that never matches a position, so the graph callback
 *       is installed and asked about every node but touches nothing: the cost taskvec avoids.</li>
 * </ul>
 * Run with {@code -prof gc}: the allocation per operation does not grow with {@code tokens} (no allocation per
 * decode step in steady state).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 10)
@Fork(value = 1, jvmArgsAppend = {"-Xss4m"})
public class HookFreeDecodeBenchmark {
    @Param({"32"})
    public int tokens;

    @Param({"0"})
    public int threads;

    private Model model;
    private Session plain;
    private Session hookFree;
    private Session idle;
    private GenerationParams greedy;
    private final Prompt prompt = Prompt.of("Q: What is the capital of France?\nA:");

    @Setup(Level.Trial)
    public void open() {
        model = Model.load(BenchModels.model());
        SessionParams p = BenchModels.params(512, threads);
        greedy = GenerationParams.greedy(tokens);
        plain = model.newSession(p);
        hookFree = model.newSession(p);
        HookedRun.generate(hookFree, prompt, greedy, Hooks.create()
                .capture("blocks.1.resid_post", Positions.all(), HookPhase.BOTH));
        idle = model.newSession(p);
        // a hook at the context's last position: the callback is installed for generation but never fires
        idle.addHook(new HookSpec(PointKind.RESID_POST, 1, HookAction.ZERO,
                HookPhase.GENERATION, new int[] {idle.contextSize() - 1}, 0, null, 1f));
    }

    @Setup(Level.Invocation)
    public void resetToPrompt() {
        plain.evaluate(prompt);
        hookFree.evaluate(prompt);
        idle.evaluate(prompt);
    }

    @Benchmark
    public Generation plainSession() {
        return plain.continueGeneration(greedy, null);
    }

    @Benchmark
    public Generation hookFreeSession() {
        return hookFree.continueGeneration(greedy, null);
    }

    @Benchmark
    public Generation idleCallbackSession() {
        return idle.continueGeneration(greedy, null);
    }

    @TearDown(Level.Trial)
    public void close() {
        model.close();
    }
}
