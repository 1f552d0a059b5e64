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

    /** A line of taskvec bench --batched --json or of llama-batched-bench --output-format jsonl. */
    private static String batchedLine(int pl, double speedPp, double speedTg) {
        return "{\"pp\": 32, \"tg\": 16, \"pl\": " + pl + ", \"n_kv\": " + pl * 48 + ", \"t_pp\": 1.0, \"speed_pp\": "
                + speedPp + ", \"t_tg\": 1.0, \"speed_tg\": " + speedTg + ", \"t\": 2.0, \"speed\": 1.0}\n";
    }

    @Test
    void batchedDecodeIsComparedPerProcessPairAndBatchSize() throws Exception {
        // pair 1 and pair 2 (ABBA); a third taskvec file without its llama-batched-bench partner does not count
        Files.writeString(out.resolve("batched-taskvec-m.1.jsonl"), batchedLine(1, 100, 18) + batchedLine(64, 300, 120));
        Files.writeString(out.resolve("llama-batched-bench-m.1.jsonl"), "main: n_kv_max = 4096\n"
                + batchedLine(1, 100, 20) + batchedLine(64, 250, 100));
        Files.writeString(out.resolve("batched-taskvec-m.2.jsonl"), batchedLine(1, 90, 16) + batchedLine(64, 200, 80));
        Files.writeString(out.resolve("llama-batched-bench-m.2.jsonl"), batchedLine(1, 100, 20)
                + batchedLine(64, 200, 100) + "{\"pp\": 32, \"tg\": 16, \"pl\"");  // cut off mid-line
        Files.writeString(out.resolve("batched-taskvec-m.3.jsonl"), batchedLine(1, 1, 1));
        // one pair only: no verdict
        Files.writeString(out.resolve("batched-taskvec-solo.1.jsonl"), batchedLine(4, 100, 50));
        Files.writeString(out.resolve("llama-batched-bench-solo.1.jsonl"), batchedLine(4, 100, 50));
        JsonNode r = summarize();
        JsonNode m = null;
        for (JsonNode model : r.get("batched")) {
            if (model.get("name").asText().equals("m")) {
                m = model;
            }
        }
        assertTrue(m != null, r.toString());
        assertEquals(2, m.get("configs").size());
        JsonNode one = m.get("configs").get(0);
        JsonNode many = m.get("configs").get(1);
        assertEquals(1, one.get("pl").asInt());
        assertEquals(2, one.get("pairs").asInt());
        assertEquals((0.9 + 0.8) / 2, one.get("tg_ratio").get("median").asDouble(), 1e-12);
        assertEquals(0.8, one.get("tg_ratio").get("min").asDouble(), 1e-12);
        assertEquals(0.95, one.get("pp_ratio").get("median").asDouble(), 1e-12);
        assertEquals(64, many.get("pl").asInt());
        assertEquals(1.0, many.get("tg_ratio").get("median").asDouble(), 1e-12);  // (1.2 + 0.8) / 2
        assertEquals(0.8, many.get("tg_ratio").get("min").asDouble(), 1e-12);
        assertEquals(1.2, many.get("tg_ratio").get("max").asDouble(), 1e-12);
        assertEquals(100.0, many.get("taskvec_speed_tg").asDouble(), 1e-12);
        assertEquals("misses", verdict(r, "m: batched S_TG taskvec / llama-batched-bench, npl 1 (npp 32, ntg 16, 2 pairs)"));
        assertEquals("meets", verdict(r, "m: batched S_TG taskvec / llama-batched-bench, npl 64"));
        assertEquals("no verdict: 1 process pair (not interleaved)",
                verdict(r, "solo: batched S_TG taskvec / llama-batched-bench, npl 4"));
        String summary = Files.readString(out.resolve("results.json"));
        assertTrue(summary.contains("\"batched\""), summary);
    }

    @Test
    void theParallelPaperWorkloadGivesItsRatiosAndGoals() throws Exception {
        Files.writeString(out.resolve("paper-parallel.json"), "{\"parallel_sequences\": 8, \"rounds\": 2, "
                + "\"speed_ratios\": {\"parallel_vs_sequential\": {\"sweep\": {\"median\": 1.4, \"min\": 1.3, "
                + "\"max\": 1.5}, \"patched_queries\": {\"median\": 3.2, \"min\": 3.1, \"max\": 3.3}, \"total\": "
                + "{\"median\": 1.1, \"min\": 1.0, \"max\": 1.2}}, \"parallel_vs_official\": {\"total\": "
                + "{\"median\": 9.5, \"min\": 9.0, \"max\": 10.0}}}}");
        JsonNode r = summarize();
        assertEquals("misses", verdict(r, "paper workload: parallel / sequential speed, sweep"));
        assertEquals("meets", verdict(r, "paper workload: parallel / sequential speed, patched_queries"));
        assertEquals("9.5x", verdict(r, "paper workload: parallel / official cost on this engine, total"));
        assertEquals(8, r.get("paper_parallel").get("parallel_sequences").asInt());
        ChildProcess.Result md = ChildProcess.of("GpuSummaryTest/markdown", "python3", SCRIPT.toString(),
                out.toString()).timeout(Duration.ofSeconds(60)).run();
        md.assertExit(0);
        String text = String.join("\n", md.stdoutLines());
        assertTrue(text.contains("| sweep | 1.40 (1.30-1.50) | - |"), text); // no parallel/official sweep given
        assertTrue(text.contains("| total | 1.10 (1.00-1.20) | 9.50 (9.00-10.00) |"), text);
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
