package org.taskvec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;

@Tag("reliability")
class LifecycleTest {
    static SessionParams params() {
        return SessionParams.defaults().withContextSize(256).withThreads(TestModels.threads());
    }

    @Test
    void closeTwiceIsHarmlessAndUseAfterCloseThrows() {
        Model model = Model.load(TestModels.tinyModel());
        Session s = model.newSession(params());
        s.evaluate(Prompt.of("Q:"));
        s.close();
        s.close();
        assertTrue(s.isClosed());
        assertThrows(ClosedHandleException.class, () -> s.evaluate(Prompt.of("Q:")));
        assertThrows(ClosedHandleException.class, s::logits);
        assertThrows(ClosedHandleException.class, s::positions);
        model.close();
        model.close();
        assertThrows(ClosedHandleException.class, () -> model.tokenize("x", true));
        assertThrows(ClosedHandleException.class, () -> model.newSession(params()));
        assertThrows(ClosedHandleException.class, model::info);
    }

    /** Opens a model and a session, uses them, and forgets them without closing. */
    private static void leak() {
        Model m = Model.load(TestModels.tinyModel());
        Session s = m.newSession(params());
        s.evaluate(Prompt.of("Q: leaked"));
    }

    @Test
    void unclosedModelsAndSessionsAreFreedByTheSafetyNet() throws Exception {
        long before = NativeReleases.LEAKED.get();
        leak();
        for (int i = 0; i < 100 && NativeReleases.LEAKED.get() < before + 2; i++) {
            System.gc();
            Thread.sleep(50);
        }
        assertTrue(NativeReleases.LEAKED.get() >= before + 2, "the model and its session were freed");
        // a session forgotten while its model is still in use is freed alone; the model keeps working
        try (Model m = Model.load(TestModels.tinyModel())) {
            long b2 = NativeReleases.LEAKED.get();
            forgetSession(m);
            for (int i = 0; i < 100 && NativeReleases.LEAKED.get() < b2 + 1; i++) {
                System.gc();
                Thread.sleep(50);
            }
            assertTrue(NativeReleases.LEAKED.get() >= b2 + 1, "the forgotten session was freed");
            try (Session s = m.newSession(params())) {
                assertEquals(3, s.generate(Prompt.of("Q:"), GenerationParams.greedy(3)).tokens().length);
            }
        }
    }

    private static void forgetSession(Model m) {
        m.newSession(params()).evaluate(Prompt.of("Q: forgotten"));
    }

    @Test
    void closingTheModelClosesItsSessions() {
        Model model = Model.load(TestModels.tinyModel());
        Session a = model.newSession(params());
        Session b = model.newSession(params());
        a.evaluate(Prompt.of("Q:"));
        model.close();
        assertTrue(a.isClosed());
        assertTrue(b.isClosed());
        assertThrows(ClosedHandleException.class, a::logits);
        b.close(); // still harmless
    }

    @Test
    void aSecondThreadCannotEnterABusySession() throws Exception {
        try (Model model = Model.load(TestModels.tinyModel()); Session s = model.newSession(params())) {
            AtomicReference<Throwable> seen = new AtomicReference<>();
            s.generate(Prompt.of("Q:"), GenerationParams.greedy(2), (token, text) -> {
                Thread t = new Thread(() -> {
                    try {
                        s.logits();
                    } catch (Throwable e) {
                        seen.set(e);
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
            assertInstanceOf(ConcurrentSessionUseException.class, seen.get());
            assertTrue(seen.get().getMessage().contains("one thread at a time"));
            s.logits(); // free again once the generation returned
        }
    }

    @Test
    void sessionsOnSeveralThreadsShareOneModel() throws Exception {
        try (Model model = Model.load(TestModels.tinyModel())) {
            int[] expected;
            try (Session s = model.newSession(params())) {
                expected = s.generate(Prompt.of("Q: one two"), GenerationParams.greedy(8)).tokens();
            }
            Thread[] threads = new Thread[4];
            AtomicReference<Throwable> failure = new AtomicReference<>();
            for (int k = 0; k < threads.length; k++) {
                threads[k] = new Thread(() -> {
                    try (Session s = model.newSession(params().withThreads(1))) {
                        for (int r = 0; r < 3; r++) {
                            assertArrayEquals(expected, s.generate(Prompt.of("Q: one two"),
                                    GenerationParams.greedy(8)).tokens());
                        }
                    } catch (Throwable e) {
                        failure.set(e);
                    }
                });
                threads[k].start();
            }
            for (Thread t : threads) {
                t.join();
            }
            assertNull(failure.get(), () -> "thread failed: " + failure.get());
        }
    }
}
