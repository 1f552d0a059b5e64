package org.taskvec.perf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.taskvec.testing.ChildProcess;

/**
 * benchmarks/gpu_summary.py on crafted result files: a ratio whose two summaries disagree gets no pass, too few
 * rounds get no verdict, llama-bench is compared per process pair, and cut-off files do not stop the summary.
 */
class GpuSummaryTest {
    private static final Path SCRIPT = Path.of("../benchmarks/gpu_summary.py").toAbsolutePath().normalize();

    @TempDir
    Path out;

    private static String bench(int rounds, double javaVsCpp, double javaVsCppOfMedians, double decodeTps) {
        return "{\"prompt_tokens\": 512, \"gen_tokens\": 128, \"rounds\": " + rounds + ", \"results\": ["
                + "{\"operation\": \"prompt\", \"median_ms\": 10, \"tokens_per_second\": 51200},"
                + "{\"operation\": \"prompt + patch 1 layer\", \"median_ms\": 10.2, \"tokens_per_second\": 50196,"
                + " \"baseline\": \"prompt\", \"speed_ratio_median\": 0.98, \"speed_ratio_min\": 0.97,"
                + " \"speed_ratio_max\": 0.99, \"ratio_of_medians\": 0.98},"
                + "{\"operation\": \"decode, C++ loop\", \"median_ms\": 2, \"tokens_per_second\": 500},"
                + "{\"operation\": \"decode\", \"median_ms\": 2, \"tokens_per_second\": " + decodeTps + ","
                + " \"baseline\": \"decode, C++ loop\", \"speed_ratio_median\": " + javaVsCpp + ","
                + " \"speed_ratio_min\": 0.9, \"speed_ratio_max\": 1.1, \"ratio_of_medians\": " + javaVsCppOfMedians
                + "}]}";
    }

    private static String llamaBench(double tgTps) {
        return "[{\"n_prompt\": 0, \"n_gen\": 128, \"n_depth\": 512, \"avg_ts\": " + tgTps + "}]";
    }

    private JsonNode summarize() throws Exception {
        ChildProcess.of("GpuSummaryTest/summary", "python3", SCRIPT.toString(), out.toString())
                .timeout(Duration.ofSeconds(60)).run().assertExit(0);
        return new ObjectMapper().readTree(out.resolve("results.json").toFile());
    }

    private static String verdict(JsonNode results, String goalStart) {
        for (JsonNode g : results.get("goals")) {
            if (g.get("goal").asText().startsWith(goalStart)) {
                return g.get("verdict").asText();
            }
        }
        return "(no such goal)";
    }

    @Test
    void ratiosWhoseTwoSummariesDisagreeOrWithTooFewRoundsGetNoPass() throws Exception {
        // the CPU dry run's case: median of per-round ratios 1.040, ratio of medians 0.18
        Files.writeString(out.resolve("bench-bimodal.json"), bench(5, 1.040, 0.18, 500));
        Files.writeString(out.resolve("bench-agree.json"), bench(5, 1.040, 1.03, 500));
        Files.writeString(out.resolve("bench-short.json"), bench(3, 1.040, 1.04, 500));
        JsonNode r = summarize();
        assertEquals("meets (inconclusive: ratio of medians 0.180 disagrees)",
                verdict(r, "bimodal: Java decode / C++ loop"));
        assertEquals("meets", verdict(r, "agree: Java decode / C++ loop"));
        assertEquals("no verdict: 3 rounds (< 5)", verdict(r, "short: Java decode / C++ loop"));
    }

    @Test
    void llamaBenchIsComparedPerProcessPair() throws Exception {
        Files.writeString(out.resolve("bench-m.json"), bench(5, 1.0, 1.0, 450));
        Files.writeString(out.resolve("llama-bench-m.json"), llamaBench(500));
        Files.writeString(out.resolve("bench-m.2.json"), bench(5, 1.0, 1.0, 480));
        Files.writeString(out.resolve("llama-bench-m.2.json"), llamaBench(480));
        JsonNode r = summarize();
        JsonNode m = r.get("models").get("m");
        assertEquals(1, r.get("models").size(), "the second pair's files are not a model of their own");
        assertEquals(0.9, m.get("java_vs_llama_bench_tg_pairs").get(0).asDouble(), 1e-12);
        assertEquals(1.0, m.get("java_vs_llama_bench_tg_pairs").get(1).asDouble(), 1e-12);
        assertEquals(0.95, m.get("java_vs_llama_bench_tg").asDouble(), 1e-12);
        assertTrue(verdict(r, "m: Java decode / llama-bench tg (2 process pairs: 0.900, 1.000)").startsWith("meets"),
                r.get("goals").toString());
    }

    @Test
    void cutOffAndMissingFilesLeaveASummaryOfWhatIsThere() throws Exception {
        String full = bench(5, 1.0, 1.0, 500);
        Files.writeString(out.resolve("bench-cut.json"), full.substring(0, full.length() / 2)); // killed mid-write
        Files.writeString(out.resolve("llama-bench-cut.json"), llamaBench(500));
        Files.writeString(out.resolve("hooks.json"), "{\"passed\": true, \"capture_rel_error_worst\": 0.004}");
        Files.writeString(out.resolve("paper-taskvec.json"), "{\"phases_ms\": {\"total\": 100}}");
        Files.writeString(out.resolve("paper-official.json"), "");
        Files.writeString(out.resolve("steps.tsv"), "3\thooks\tok\t2\t\n5\tbench-cut\ttimed out\t40\tkilled\n");
        JsonNode r = summarize();
        assertEquals("not measured", verdict(r, "cut: Java decode / C++ loop"));
        assertTrue(r.get("hooks").get("passed").asBoolean());
        assertEquals(2, r.get("steps").size());
        assertEquals("timed out", r.get("steps").get(1).get("status").asText());
        String summary = Files.readString(out.resolve("results.json"));
        assertTrue(summary.contains("\"paper_taskvec\""), summary);
    }
}
