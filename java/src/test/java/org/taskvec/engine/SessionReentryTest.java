package org.taskvec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.taskvec.TestModels;

/**
 * Closing a session while a call is in flight (from another thread, or from the call's own token listener) and
 * calls from a token listener back into its session.
 */
@Tag("reliability")
class SessionReentryTest {
    static final Prompt PROMPT = Prompt.of("Q: What is the capital of France?\nA:");
    static final Duration LIMIT = Duration.ofSeconds(30);
    static Model model;
    static int[] plain; // the greedy continuation of PROMPT, 8 tokens

    @BeforeAll
    static void load() {
        model = Model.load(TestModels.tinyModel());
        try (Session s = model.newSession(params())) {
            plain = s.generate(PROMPT, GenerationParams.greedy(8)).tokens();
        }
        assertEquals(8, plain.length);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static SessionParams params() {
        return SessionParams.defaults().withContextSize(256).withThreads(TestModels.threads());
    }

    // ---- 1. close from another thread waits without spinning ----

    @Test
    void closeFromAnotherThreadBlocksWithoutBurningCpuAndFreesOnceAfterTheCall() throws Exception {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        assumeCpuTime(mx);
        Session s = model.newSession(params());
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger freesSeenByListener = new AtomicInteger(-1);
        AtomicInteger listenerCalls = new AtomicInteger();
        CompletableFuture<Generation> generation = CompletableFuture.supplyAsync(() -> s.generate(PROMPT,
                GenerationParams.greedy(8), (token, text) -> {
                    if (listenerCalls.incrementAndGet() == 1) {
                        inside.countDown();
                        try {
                            release.await(); // a long generation: held here until the test lets it go
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        freesSeenByListener.set(s.frees()); // still inside the call: not freed yet
                    }
                    return true;
                }));
        Thread closer = new Thread(s::close, "closer");
        try {
            assertTrue(inside.await(30, TimeUnit.SECONDS), "the generation started");
            closer.start();
            Thread.sleep(300); // closer is now inside close(), waiting for the generation
            assertTrue(closer.isAlive(), "close() returned while a generation was in flight");
            assertTrue(s.isClosed(), "closed for new calls at once");
            long cpu0 = mx.getThreadCpuTime(closer.getId());
            Thread.sleep(700);
            long cpu1 = mx.getThreadCpuTime(closer.getId());
            Thread.State state = closer.getState();
            assertTrue(closer.isAlive(), "close() returned while a generation was in flight");
            assertEquals(0, s.frees(), "freed while a call was in flight");
            long burnt = (cpu1 - cpu0) / 1_000_000;
            assertTrue(burnt < 30, "the closing thread used " + burnt + " ms of CPU in 700 ms of waiting (state "
                    + state + "); it must block, not spin");
            assertNotEquals(Thread.State.RUNNABLE, state, "the closing thread is blocked");
        } finally {
            release.countDown();
        }
        Generation g = generation.get(30, TimeUnit.SECONDS);
        closer.join(TimeUnit.SECONDS.toMillis(30));
        assertFalse(closer.isAlive(), "close() returned once the generation ended");
        assertEquals(0, freesSeenByListener.get(), "the native context outlived the call in flight");
        assertTrue(g.tokens().length >= 1);
        assertEquals(Generation.StopReason.CLOSED, g.stopReason(), "a closed session's generation stops");
        assertArrayEquals(java.util.Arrays.copyOf(plain, g.tokens().length), g.tokens());
        assertEquals(1, s.frees(), "freed exactly once");
        s.close();
        assertEquals(1, s.frees(), "a second close frees nothing");
        assertThrows(ClosedHandleException.class, s::positions);
    }

    @Test
    void severalThreadsClosingABusySessionAllWaitAndItIsFreedOnce() throws Exception {
        Session s = model.newSession(params());
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<Generation> generation = CompletableFuture.supplyAsync(() -> s.generate(PROMPT,
                GenerationParams.greedy(4), (token, text) -> {
                    inside.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    return true;
                }));
        List<Thread> closers = new ArrayList<>();
        try {
            assertTrue(inside.await(30, TimeUnit.SECONDS), "the generation started");
            for (int i = 0; i < 4; i++) {
                Thread t = new Thread(s::close, "closer-" + i);
                closers.add(t);
                t.start();
            }
            Thread.sleep(300);
            for (Thread t : closers) {
                assertTrue(t.isAlive(), t.getName() + " returned from close() before the handle was freed");
            }
            assertEquals(0, s.frees());
        } finally {
            release.countDown();
        }
        generation.get(30, TimeUnit.SECONDS);
        for (Thread t : closers) {
            t.join(TimeUnit.SECONDS.toMillis(30));
            assertFalse(t.isAlive());
        }
        assertEquals(1, s.frees(), "freed exactly once");
    }

    private static void assumeCpuTime(ThreadMXBean mx) {
        org.junit.jupiter.api.Assumptions.assumeTrue(mx.isThreadCpuTimeSupported(), "no thread CPU time");
        if (!mx.isThreadCpuTimeEnabled()) {
            mx.setThreadCpuTimeEnabled(true);
        }
    }

    // ---- 2. a listener that closes its own session ----

    @Test
    void aListenerThatClosesItsSessionStopsTheGenerationAndTheSessionIsClosedAfterwards() {
        assertTimeoutPreemptively(LIMIT, () -> {
            Session s = model.newSession(params());
            AtomicInteger calls = new AtomicInteger();
            AtomicReference<Throwable> afterClose = new AtomicReference<>();
            AtomicInteger freesInside = new AtomicInteger(-1);
            Generation g = s.generate(PROMPT, GenerationParams.greedy(8), (token, text) -> {
                if (calls.incrementAndGet() == 3) {
                    s.close();
                    s.close(); // idempotent, also here
                    freesInside.set(s.frees());
                    try {
                        s.logits();
                    } catch (Throwable e) {
                        afterClose.set(e);
                    }
                }
                return true;
            });
            assertEquals(3, calls.get(), "the generation stopped at the token whose listener closed the session");
            assertEquals(Generation.StopReason.CLOSED, g.stopReason());
            assertArrayEquals(java.util.Arrays.copyOf(plain, 3), g.tokens());
            assertEquals(0, freesInside.get(), "the native context is freed after the call, not inside it");
            assertInstanceOf(ClosedHandleException.class, afterClose.get(), "use after close throws, also inside");
            assertTrue(s.isClosed());
            assertEquals(1, s.frees(), "freed once, when the generation returned");
            assertThrows(ClosedHandleException.class, s::positions);
            s.close();
            assertEquals(1, s.frees());
        });
    }

    @Test
    void aListenerThatClosesTheModelClosesItsBusySessionAfterTheCall() {
        assertTimeoutPreemptively(LIMIT, () -> {
            Model m = Model.load(TestModels.tinyModel());
            Session s = m.newSession(params());
            Session idle = m.newSession(params());
            Generation g = s.generate(PROMPT, GenerationParams.greedy(8), (token, text) -> {
                m.close();
                return true;
            });
            assertEquals(Generation.StopReason.CLOSED, g.stopReason());
            assertEquals(1, g.tokens().length);
            assertTrue(m.isClosed());
            assertTrue(s.isClosed());
            assertTrue(idle.isClosed());
            assertEquals(1, s.frees());
            assertEquals(1, idle.frees());
            assertThrows(ClosedHandleException.class, s::logits);
        });
    }

    @Test
    void aListenerThatClosesItsSessionAndAsksToStopLeavesItClosed() {
        assertTimeoutPreemptively(LIMIT, () -> {
            Session s = model.newSession(params());
            s.generate(PROMPT, GenerationParams.greedy(4), (token, text) -> {
                s.close();
                return false; // asking to stop as well changes nothing
            });
            assertThrows(ClosedHandleException.class, () -> s.generate(PROMPT, GenerationParams.greedy(1)));
            assertEquals(1, s.frees());
        });
    }

    @Test
    void aListenerThatClosesItsSessionAndThenThrowsStillHasItFreed() {
        assertTimeoutPreemptively(LIMIT, () -> {
            Session s = model.newSession(params());
            IllegalArgumentException boom = new IllegalArgumentException("listener failed");
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                    () -> s.generate(PROMPT, GenerationParams.greedy(4), (token, text) -> {
                        s.close();
                        throw boom;
                    }));
            assertSame(boom, thrown);
            assertTrue(s.isClosed());
            assertEquals(1, s.frees(), "freed as the failed call returned");
        });
    }

    // ---- 3. a listener calling back into its session ----

    @Test
    void aListenerMayReadItsSession() {
        assertTimeoutPreemptively(LIMIT, () -> {
            try (Session s = model.newSession(params())) {
                int promptPositions = s.layout(PROMPT).length;
                int[] layoutOutside = s.layout(Prompt.of("Q: Paris"));
                int capture = s.addHook(new HookSpec(PointKind.RESID_POST, 0,
                        HookAction.CAPTURE, HookPhase.GENERATION, null, 16, null, 1f));
                List<Integer> seen = new ArrayList<>();
                List<Integer> argmaxes = new ArrayList<>();
                AtomicReference<Throwable> failure = new AtomicReference<>();
                Generation g = s.generate(PROMPT, GenerationParams.greedy(6), (token, text) -> {
                    try {
                        seen.add(token);
                        int k = seen.size();
                        // the sampled token has been evaluated: it is the last position
                        assertEquals(promptPositions + k, s.positions());
                        int[] held = s.tokens();
                        assertEquals(promptPositions + k, held.length);
                        assertEquals(token, held[held.length - 1]);
                        float[] l = s.logits();
                        argmaxes.add(argmax(l)); // the next greedy token
                        assertArrayEquals(layoutOutside, s.layout(Prompt.of("Q: Paris")));
                        // the capture hook has a row for every generated token evaluated so far
                        assertEquals(k, s.hookRows(capture).length);
                        assertArrayEquals(model.tokenize("Paris", false), s.model().tokenize("Paris", false));
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                    return true;
                });
                if (failure.get() != null) {
                    throw failure.get();
                }
                assertArrayEquals(java.util.Arrays.copyOf(plain, 6), g.tokens(), "reading changed nothing");
                for (int k = 0; k + 1 < seen.size(); k++) {
                    assertEquals(seen.get(k + 1), argmaxes.get(k), "logits read in the listener predict the next token");
                }
                s.clearHooks();
            }
        });
    }

    @Test
    void aListenerThatChangesItsSessionGetsATypedReentrantException() {
        assertTimeoutPreemptively(LIMIT, () -> {
            try (Session s = model.newSession(params())) {
                HookSpec hook = new HookSpec(PointKind.RESID_POST, 0, HookAction.CAPTURE,
                        HookPhase.GENERATION, null, 4, null, 1f);
                Map<String, Executable> calls = new LinkedHashMap<>();
                calls.put("evaluate", () -> s.evaluate(Prompt.of("Q:")));
                calls.put("evaluate afresh", () -> s.evaluate(Prompt.of("Q:"), false));
                calls.put("append", () -> s.append(5));
                calls.put("truncate", () -> s.truncate(1));
                calls.put("generate", () -> s.generate(Prompt.of("Q:"), GenerationParams.greedy(1)));
                calls.put("continueGeneration", () -> s.continueGeneration(GenerationParams.greedy(1), null));
                calls.put("step", s::step);
                calls.put("generateTokens", () -> s.generateTokens(GenerationParams.greedy(1)));
                calls.put("stream", () -> s.stream(Prompt.of("Q:"), GenerationParams.greedy(1)));
                calls.put("addHook", () -> s.addHook(hook));
                calls.put("clearHooks", s::clearHooks);
                Map<String, Throwable> thrown = new LinkedHashMap<>();
                Generation g = s.generate(PROMPT, GenerationParams.greedy(8), (token, text) -> {
                    if (thrown.isEmpty()) {
                        for (var e : calls.entrySet()) {
                            try {
                                e.getValue().execute();
                                thrown.put(e.getKey(), null);
                            } catch (Throwable t) {
                                thrown.put(e.getKey(), t);
                            }
                        }
                    }
                    return true;
                });
                for (var e : thrown.entrySet()) {
                    Throwable t = e.getValue();
                    assertInstanceOf(ReentrantSessionUseException.class, t, e.getKey() + " from a listener");
                    assertFalse(t instanceof ConcurrentSessionUseException, e.getKey());
                    String msg = t.getMessage();
                    assertTrue(msg.contains("re-entrant") && msg.contains("token listener")
                            && msg.contains("same thread") && !msg.contains("another thread"), e.getKey() + ": " + msg);
                }
                assertEquals(calls.keySet(), thrown.keySet());
                // nothing was changed: the generation is the plain one and the session works afterwards
                assertArrayEquals(plain, g.tokens());
                assertEquals(Generation.StopReason.MAX_TOKENS, g.stopReason());
                assertArrayEquals(plain, s.generate(PROMPT, GenerationParams.greedy(8)).tokens());
            }
        });
    }

    @Test
    void aSecondThreadIsStillRefusedWhileAListenerReads() throws Exception {
        try (Session s = model.newSession(params())) {
            AtomicReference<Throwable> other = new AtomicReference<>();
            s.generate(PROMPT, GenerationParams.greedy(2), (token, text) -> {
                s.logits(); // the owner reads
                Thread t = new Thread(() -> {
                    try {
                        s.logits(); // a read-only call, but from another thread
                    } catch (Throwable e) {
                        other.set(e);
                    }
                });
                t.start();
                try {
                    t.join();
                } catch (InterruptedException e) {
                    throw new RuntimeException(e);
                }
                return false;
            });
            assertInstanceOf(ConcurrentSessionUseException.class, other.get());
            assertTrue(other.get().getMessage().contains("another thread"));
            s.logits();
        }
    }

    private static int argmax(float[] l) {
        int arg = 0;
        for (int k = 1; k < l.length; k++) {
            if (l[k] > l[arg]) {
                arg = k;
            }
        }
        return arg;
    }
}
