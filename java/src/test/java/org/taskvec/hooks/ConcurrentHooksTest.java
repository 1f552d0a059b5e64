package org.taskvec.hooks;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;

/** One model, eight threads, each with its own session doing captures and patches: same results as one thread. */
@Tag("reliability")
class ConcurrentHooksTest {
    record Outcome(float[] captured, float[] patchedLogits) {}

    static Outcome work(Model model, int k) {
        SessionParams sp = SessionParams.defaults().withContextSize(256).withThreads(1)
                .withKvCacheType(SessionParams.KvCacheType.F32).withFlashAttention(SessionParams.FlashAttention.OFF);
        try (Session s = model.newSession(sp)) {
            Prompt source = Prompt.of("Q:France\nA:Paris\n\nQ:Japan\nA:Tokyo\n\nQ:Peru\nA:" + k % 2);
            RunResult r = HookedRun.run(s, source, Hooks.create().capture("blocks.2.resid_post", Positions.last()));
            float[] v = r.captures().get(0).last();
            s.truncate(0);
            HookedRun.run(s, Prompt.of("Q:Italy\nA:"), Hooks.create().replace("blocks.2.resid_post",
                    Positions.last(), v));
            return new Outcome(v, s.logits());
        }
    }

    @Test
    void eightThreadsAgreeWithOne() throws Exception {
        try (Model model = Model.load(TestModels.tinyModel())) {
            Outcome[] single = {work(model, 0), work(model, 1)};
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<Outcome>> futures = new ArrayList<>();
                for (int k = 0; k < 32; k++) {
                    final int kk = k;
                    futures.add(pool.submit(() -> work(model, kk)));
                }
                for (int k = 0; k < futures.size(); k++) {
                    Outcome o = futures.get(k).get(120, TimeUnit.SECONDS);
                    assertArrayEquals(single[k % 2].captured(), o.captured(), "capture of run " + k);
                    assertArrayEquals(single[k % 2].patchedLogits(), o.patchedLogits(), "patched logits of run " + k);
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
