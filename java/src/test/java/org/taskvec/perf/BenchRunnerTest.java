package org.taskvec.perf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;
import org.taskvec.engine.Model;
import org.taskvec.engine.SessionParams;

class BenchRunnerTest {
    /** The case the CPU dry run showed: bimodal rounds make the two summaries of a ratio disagree 6x. */
    @Test
    void perRoundRatiosAndTheRatioOfMediansAreBothComputed() {
        double[] r = BenchRunner.speedRatios(List.of(10.0, 60.0, 60.0), List.of(10.0, 10.0, 60.0));
        assertArrayEquals(new double[] {1.0, 1.0 / 6, 1.0, 1.0 / 6}, r, 1e-12);
        double[] even = BenchRunner.speedRatios(List.of(2.0, 4.0), List.of(4.0, 4.0));
        assertArrayEquals(new double[] {1.5, 1.0, 2.0, 4.0 / 3}, even, 1e-12);
        assertThrows(IllegalArgumentException.class, () -> BenchRunner.speedRatios(List.of(1.0), List.of(1.0, 2.0)));
    }

    /**
     * Every decode row starts from the same state: the C++ loop, the Java API and the session that ran hooks before
     * generate the same tokens in every round; each row has exactly the measured rounds.
     */
    @Test
    void decodeRowsStartFromTheSameStateAndCountTheirRounds() {
        try (Model model = Model.load(TestModels.tinyModel())) {
            List<BenchRunner.Result> results = BenchRunner.run(model, new BenchRunner.Settings(24, 6, 3, 1,
                    SessionParams.defaults().withContextSize(512).withThreads(TestModels.threads())), null, line -> { });
            Map<String, BenchRunner.Result> byName = results.stream()
                    .collect(Collectors.toMap(BenchRunner.Result::name, Function.identity()));
            assertEquals(List.of("prompt", "prompt + capture 1 layer", "prompt + capture all layers",
                    "prompt + patch 1 layer", "decode, C++ loop", "decode", "decode, hook-free session"),
                    results.stream().map(BenchRunner.Result::name).toList());
            for (BenchRunner.Result r : results) {
                assertEquals(3, r.rounds(), r.name());
            }
            for (String d : List.of("decode, C++ loop", "decode", "decode, hook-free session")) {
                assertEquals(Boolean.TRUE, byName.get(d).sameTokens(), d);
            }
            assertEquals(null, byName.get("prompt").sameTokens());
            assertEquals("decode, C++ loop", byName.get("decode").baseline());
            assertEquals("decode", byName.get("decode, hook-free session").baseline());
        }
    }
}
