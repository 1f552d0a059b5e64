package org.taskvec.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelParams;
import org.taskvec.engine.NativeLibrary;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.perf.BenchRunner;
import org.taskvec.xpatch.PaperWorkload;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code taskvec bench}: what hooks and patching cost on a model and machine. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure, in one process and interleaved, plain prompt and decode speed, a prompt with a "
                + "one-layer capture, an all-layer capture and a one-layer patch, decode in a hook-free session, and "
                + "image encoding; prints speeds, ratios to plain and their spread.")
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "M", description = "GGUF model file")
    Path model;

    @Option(names = "--mmproj", paramLabel = "P", description = "vision projector (adds image encoding)")
    Path mmproj;

    @Option(names = "--gpu-layers", defaultValue = "0", paramLabel = "N|auto",
            description = "layers to offload (-1 or auto: all when a GPU backend is present); default ${DEFAULT-VALUE}")
    String gpuLayers;

    @Option(names = "--prompt-tokens", defaultValue = "128", paramLabel = "N", description = "default ${DEFAULT-VALUE}")
    int promptTokens;

    @Option(names = "--gen-tokens", defaultValue = "32", paramLabel = "N", description = "default ${DEFAULT-VALUE}")
    int genTokens;

    @Option(names = "--rounds", defaultValue = "5", paramLabel = "N", description = "measured rounds (default ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--warmup", defaultValue = "2", paramLabel = "N",
            description = "rounds run before the measured ones and discarded (default ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads")
    Integer threads;

    @Option(names = "--json", paramLabel = "FILE", description = "also write the results as JSON")
    Path json;

    @Option(names = {"--verbose", "-v"}, description = "show llama.cpp's log")
    boolean verbose;

    @Option(names = "--parallel", defaultValue = "1", paramLabel = "N",
            description = "with --paper-workload: also run it on N parallel sequences, interleaved with the "
                    + "sequential path, and report the ratios per phase (median and spread over --rounds)")
    int parallel;

    @Option(names = "--batched",
            description = "instead: batched decode as llama.cpp's llama-batched-bench measures it (a separate prompt "
                    + "per sequence evaluated together, then greedy generation in every sequence, one decode per "
                    + "step), for every --npp x --ntg x --npl; a table like llama-batched-bench's, and with --json "
                    + "its JSON lines (--output-format jsonl). --prompt-tokens/--gen-tokens/--rounds do not apply")
    boolean batched;

    @Option(names = "--npp", split = ",", defaultValue = "32", paramLabel = "N,...",
            description = "with --batched: prompt tokens per sequence (default ${DEFAULT-VALUE})")
    int[] npp;

    @Option(names = "--ntg", split = ",", defaultValue = "16", paramLabel = "N,...",
            description = "with --batched: generated tokens per sequence (default ${DEFAULT-VALUE})")
    int[] ntg;

    @Option(names = "--npl", split = ",", defaultValue = "1,4,16,64", paramLabel = "N,...",
            description = "with --batched: parallel sequences (default ${DEFAULT-VALUE})")
    int[] npl;

    @Option(names = "--ctx", defaultValue = "4096", paramLabel = "N",
            description = "with --batched: the KV cache's cells, shared by all sequences (default ${DEFAULT-VALUE})")
    int ctx;

    @Option(names = "--official-cost",
            description = "with --paper-workload: also run it at the official procedure's cost (every variant a full "
                    + "forward pass without KV cache and with the image encoded afresh, on this engine), interleaved "
                    + "with the other paths, and report the speed of each path against it per phase")
    boolean officialCost;

    @Option(names = "--paper-workload", arity = "0..1", fallbackValue = "", paramLabel = "FILE",
            description = "instead: time the paper's evaluation loop (extraction, patched image queries, a sweep over "
                    + "every layer) on synthetic prompts, as benchmarks/official_loop.py does it the official way; "
                    + "FILE: the workload as JSON (default: the paper's shapes); needs --mmproj")
    String paperWorkload;

    @Option(names = "--rpc", paramLabel = "HOST:PORT[,HOST:PORT...]",
            description = "instead: load the model twice, locally and with --gpu-layers (default all) on these RPC "
                    + "servers, and compare prompt and decode speed and a capture/patch on a remote block, "
                    + "interleaved (ratios: median of per-round ratios, spread)")
    String rpc;

    @Override
    public Integer call() throws Exception {
        if (rpc != null) {
            return runRpc();
        }
        if (promptTokens < 2 || genTokens < 1 || rounds < 1 || warmup < 0) {
            throw new org.taskvec.engine.InvalidInputException(
                    "--prompt-tokens >= 2, --gen-tokens >= 1, --rounds >= 1, --warmup >= 0");
        }
        org.taskvec.engine.GpuLayers.Choice choice = org.taskvec.engine.GpuLayers.resolve(gpuLayers, model, mmproj,
                Math.max(1024, 2 * (promptTokens + genTokens) + 1024));
        int layers = choice.layers();
        // no encoded-image cache: every round encodes the image afresh
        ModelParams mp = ModelParams.defaults().withGpuLayers(layers).withImageCacheBytes(0);
        if (mmproj != null) {
            mp = mp.withProjector(mmproj);
        }
        SessionParams sp = SessionParams.defaults().withContextSize(Math.max(1024, 2 * (promptTokens + genTokens) + 1024));
        if (threads != null) {
            sp = sp.withThreads(threads);
        }
        if (batched) {
            return runBatched(mp, sp.withContextSize(ctx), choice);
        }
        if (paperWorkload != null) {
            return runPaperWorkload(mp.withImageCacheBytes(ModelParams.defaults().imageCacheBytes()), sp, choice);
        }
        try (Model m = Model.load(model, mp)) {
            System.err.printf("bench: %s, gpu layers %d (%s), %d threads, prompt ~%d tokens, %d generated, %d rounds%n",
                    m.info().description(), layers, choice.why(),
                    sp.threads(), promptTokens, genTokens, rounds);
            List<BenchRunner.Result> results = BenchRunner.run(m, new BenchRunner.Settings(promptTokens, genTokens,
                    rounds, warmup, sp), mmproj == null ? null : org.taskvec.engine.Image.of(DemoCommand.sampleImage()),
                    line -> status("[bench] " + line));
            endStatus();
            System.out.println("(decode rows: median ms per generated token)");
            System.out.printf("%-32s %12s %12s   %s%n", "operation", "median ms", "tokens/s",
                    "speed vs baseline: median of per-round ratios (min-max) [ratio of medians]");
            for (BenchRunner.Result r : results) {
                System.out.printf(Locale.ROOT, "%-32s %12.2f %12s   %s%n", r.name(), r.medianMs(),
                        Double.isNaN(r.tokensPerSecond()) ? "-" : String.format(Locale.ROOT, "%.2f", r.tokensPerSecond()),
                        r.baseline() == null ? "" : r.baseline().equals(r.name()) ? "(baseline)"
                                : String.format(Locale.ROOT, "%.3f (%.3f-%.3f) [%.3f] vs %s", r.ratioMedian(),
                                        r.ratioMin(), r.ratioMax(), r.ratioOfMedians(), r.baseline()));
            }
            results.stream().filter(r -> Boolean.FALSE.equals(r.sameTokens())).forEach(r -> System.err.println(
                    "bench: warning: \"" + r.name() + "\" generated other tokens than its baseline in some round: the "
                    + "rows did not start from the same state"));
            if (json != null) {
                ObjectMapper om = new ObjectMapper();
                ObjectNode root = machine(om, m, choice);
                root.put("threads", sp.threads());
                root.put("prompt_tokens", promptTokens);
                root.put("gen_tokens", genTokens);
                root.put("rounds", rounds);
                root.put("warmup", warmup);
                root.put("ratio_method", "median of per-round ratios (interleaved, shuffled order); "
                        + "ratio_of_medians as a check");
                ArrayNode arr = root.putArray("results");
                for (BenchRunner.Result r : results) {
                    ObjectNode o = arr.addObject();
                    o.put("operation", r.name());
                    o.put("median_ms", r.medianMs());
                    o.put("unit", r.name().startsWith("decode") ? "token" : "operation");
                    if (r.minTokens() >= 0) {
                        o.put("min_tokens", r.minTokens());
                    }
                    if (r.sameTokens() != null) {
                        o.put("same_tokens_as_baseline", r.sameTokens());
                    }
                    if (!Double.isNaN(r.tokensPerSecond())) {
                        o.put("tokens_per_second", r.tokensPerSecond());
                    }
                    if (r.baseline() != null && !r.baseline().equals(r.name())) {
                        o.put("baseline", r.baseline());
                        o.put("speed_ratio_median", r.ratioMedian());
                        o.put("speed_ratio_min", r.ratioMin());
                        o.put("speed_ratio_max", r.ratioMax());
                        o.put("ratio_of_medians", r.ratioOfMedians());
                    }
                }
                om.writerWithDefaultPrettyPrinter().writeValue(json.toFile(), root);
            }
        }
        return 0;
    }

    private int runPaperWorkload(ModelParams mp, SessionParams sp, org.taskvec.engine.GpuLayers.Choice choice)
            throws Exception {
        if (mmproj == null) {
            throw new org.taskvec.engine.NoProjectorException("--paper-workload times image queries: give --mmproj");
        }
        ObjectMapper om = new ObjectMapper();
        PaperWorkload.Spec spec = paperWorkload.isEmpty() ? PaperWorkload.Spec.paperDefault()
                : om.readValue(Path.of(paperWorkload).toFile(), PaperWorkload.Spec.class);
        int ctx = Math.max(1024, 600 + spec.newTokens() + 64);
        try (Model m = Model.load(model, mp);
             Session s = m.newSession(sp.withContextSize(ctx));
             Session par = parallel > 1 ? m.newSession(sp.withSequences(parallel)
                     .withContextSize(Math.max(4096, 1024 * parallel))) : null;
             // the official cost: a model without the encoded-image cache (the weights are the same mapped file)
             Model offModel = officialCost ? Model.load(model, mp.withImageCacheBytes(0)) : null;
             Session off = offModel != null ? offModel.newSession(sp.withContextSize(ctx)) : null) {
            System.err.printf("paper workload: %s, gpu layers %d (%s), %s%n", m.info().description(), choice.layers(),
                    choice.why(), spec);
            PaperWorkload.Result r = PaperWorkload.run(m, s, spec, rounds * 2,
                    phase -> status("[paper workload] " + phase));
            endStatus();
            // the paths, interleaved round by round (the order reversed every other round, so that drift of the
            // machine falls on all alike): phase times per path and round
            Map<String, List<Map<String, Double>>> byPath = new LinkedHashMap<>();
            List<String> paths = new ArrayList<>(List.of("sequential"));
            if (par != null) {
                paths.add("parallel");
            }
            if (off != null) {
                paths.add("official");
            }
            paths.forEach(p -> byPath.put(p, new ArrayList<>()));
            Map<String, List<List<String>>> answersByPath = new LinkedHashMap<>();
            if (paths.size() > 1) {
                for (int round = 0; round < rounds; round++) {
                    List<String> order = new ArrayList<>(paths);
                    if (round % 2 == 1) {
                        java.util.Collections.reverse(order);
                    }
                    for (String p : order) {
                        int rr = round;
                        Consumer<String> progress = phase -> status("[paper workload] round " + (rr + 1) + "/"
                                + rounds + ", " + p + ": " + phase);
                        PaperWorkload.Result x = switch (p) {
                            case "parallel" -> PaperWorkload.run(m, par, spec, 1, progress);
                            case "official" -> PaperWorkload.runOfficial(offModel, off, spec, progress);
                            default -> PaperWorkload.run(m, s, spec, 1, progress);
                        };
                        byPath.get(p).add(x.phasesMs());
                        answersByPath.computeIfAbsent(p, k -> new ArrayList<>()).add(x.firstAnswers());
                    }
                }
                endStatus();
            }
            // speed ratios per phase: the base path's time over the other's, per round (median, min, max)
            Map<String, Map<String, double[]>> ratios = new LinkedHashMap<>();
            List<String[]> pairs = new ArrayList<>();
            if (par != null) {
                pairs.add(new String[] {"parallel", "sequential"});
            }
            if (off != null) {
                pairs.add(new String[] {"sequential", "official"});
                if (par != null) {
                    pairs.add(new String[] {"parallel", "official"});
                }
            }
            for (String[] pair : pairs) {
                Map<String, double[]> perPhase = new LinkedHashMap<>();
                for (String phase : List.of("extraction", "patched_queries", "sweep", "total")) {
                    List<Double> v = new ArrayList<>();
                    for (int round = 0; round < rounds; round++) {
                        v.add(byPath.get(pair[1]).get(round).get(phase) / byPath.get(pair[0]).get(round).get(phase));
                    }
                    perPhase.put(phase, new double[] {median(v), java.util.Collections.min(v),
                        java.util.Collections.max(v)});
                    System.out.printf(Locale.ROOT, "%s vs %s, %-16s median %.2fx (min %.2f, max %.2f, %d rounds)%n",
                            pair[0].equals("parallel") ? "parallel (" + parallel + " sequences)" : pair[0], pair[1],
                            phase + ":", perPhase.get(phase)[0], perPhase.get(phase)[1], perPhase.get(phase)[2],
                            rounds);
                }
                ratios.put(pair[0] + "_vs_" + pair[1], perPhase);
            }
            for (String p : paths) {
                if (!byPath.get(p).isEmpty()) {
                    System.out.printf(Locale.ROOT, "%-10s phase ms (median of %d rounds): %s%n", p, rounds,
                            medians(byPath.get(p)));
                }
            }
            for (String p : paths) {
                if (!p.equals("sequential") && answersByPath.containsKey(p)) {
                    System.out.println("first answers of " + p + " equal the sequential path's in every round: "
                            + answersByPath.get(p).equals(answersByPath.get("sequential")));
                }
            }
            r.phasesMs().forEach((k, v) -> System.out.printf(Locale.ROOT, "%-28s %12.1f ms%n", k, v));
            r.stepMedianMs().forEach((k, v) -> System.out.printf(Locale.ROOT, "%-28s %12.2f ms (median)%n", k, v));
            if (json != null) {
                ObjectNode root = machine(om, m, choice);
                root.putPOJO("workload", spec);
                root.put("query_tokens", r.queryTokens());
                root.put("sweep_layers", r.sweepLayers());
                root.putPOJO("phases_ms", r.phasesMs());
                root.putPOJO("step_median_ms", r.stepMedianMs());
                root.putPOJO("first_answers", r.firstAnswers());
                if (!ratios.isEmpty()) {
                    root.put("parallel_sequences", par != null ? parallel : 1);
                    root.put("rounds", rounds);
                    root.put("ratio_method", "speed ratio per phase: the other path's time over this path's, per "
                            + "round (paths interleaved, order reversed every other round); median, min, max");
                    ObjectNode rounds = root.putObject("rounds_phases_ms");
                    byPath.forEach((p, v) -> rounds.putPOJO(p, v));
                    ObjectNode meds = root.putObject("paths_phases_ms_median");
                    byPath.forEach((p, v) -> meds.putPOJO(p, medians(v)));
                    ObjectNode rs = root.putObject("speed_ratios");
                    ratios.forEach((k, v) -> {
                        ObjectNode o = rs.putObject(k);
                        v.forEach((phase, x) -> {
                            ObjectNode q = o.putObject(phase);
                            q.put("median", x[0]);
                            q.put("min", x[1]);
                            q.put("max", x[2]);
                        });
                    });
                    ObjectNode fa = root.putObject("first_answers_by_path");
                    answersByPath.forEach((p, v) -> fa.putPOJO(p, v));
                }
                om.writerWithDefaultPrettyPrinter().writeValue(json.toFile(), root);
            }
        }
        return 0;
    }

    private int runBatched(ModelParams mp, SessionParams sp, org.taskvec.engine.GpuLayers.Choice choice)
            throws Exception {
        for (int[] list : new int[][] {npp, ntg, npl}) {
            for (int v : list) {
                if (v < 1) {
                    throw new org.taskvec.engine.InvalidInputException("--npp, --ntg and --npl take positive numbers");
                }
            }
        }
        try (Model m = Model.load(model, mp.withProjector(null));
             Session s = m.newSession(org.taskvec.perf.BatchedBench.sessionParams(sp, npl))) {
            System.err.printf(Locale.ROOT, "bench --batched: %s, gpu layers %d (%s), %d threads, n_kv_max %d, n_batch %d, "
                    + "n_ubatch %d, unified KV cache%n", m.info().description(), choice.layers(), choice.why(),
                    sp.threads(), sp.contextSize(), sp.batchSize(), sp.microBatchSize());
            System.out.printf("|%6s | %6s | %4s | %6s | %8s | %8s | %8s | %8s | %8s | %8s |%n", "PP", "TG", "B", "N_KV",
                    "T_PP s", "S_PP t/s", "T_TG s", "S_TG t/s", "T s", "S t/s");
            List<String> lines = new ArrayList<>();
            org.taskvec.perf.BatchedBench.run(m, s, npp, ntg, npl, 1, row -> {
                System.out.printf(Locale.ROOT, "|%6d | %6d | %4d | %6d | %8.3f | %8.2f | %8.3f | %8.2f | %8.3f | %8.2f |%n",
                        row.pp(), row.tg(), row.pl(), row.nKv(), row.tPp(), row.speedPp(), row.tTg(), row.speedTg(),
                        row.tPp() + row.tTg(), (row.pl() * row.pp() + row.decodedTokens()) / (row.tPp() + row.tTg()));
                if (row.decodedTokens() < row.pl() * row.tg()) {
                    System.err.printf("bench --batched: %d of %d tokens decoded at B=%d (sequences that picked their "
                            + "end-of-generation token stopped)%n", row.decodedTokens(), row.pl() * row.tg(), row.pl());
                }
                lines.add(row.json());
            });
            if (json != null) {
                java.nio.file.Files.write(json, lines);
            }
        }
        return 0;
    }

    /** Each phase's median over rounds. */
    private static Map<String, Double> medians(List<Map<String, Double>> rounds) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (String phase : rounds.get(0).keySet()) {
            out.put(phase, median(rounds.stream().map(x -> x.get(phase)).toList()));
        }
        return out;
    }

    private static double median(List<Double> v) {
        List<Double> s = new ArrayList<>(v);
        java.util.Collections.sort(s);
        return s.size() % 2 == 1 ? s.get(s.size() / 2) : (s.get(s.size() / 2 - 1) + s.get(s.size() / 2)) / 2;
    }

    /** --rpc: the model local and split over the servers, interleaved (org.taskvec.perf.RpcBench). */
    private Integer runRpc() throws java.io.IOException {
        if (promptTokens < 2 || genTokens < 1 || rounds < 1 || warmup < 0) {
            throw new org.taskvec.engine.InvalidInputException(
                    "--prompt-tokens >= 2, --gen-tokens >= 1, --rounds >= 1, --warmup >= 0");
        }
        List<String> servers = org.taskvec.engine.RpcServers.parseList(rpc);
        int layers = gpuLayers.equals("0") ? -1 : org.taskvec.engine.GpuLayers.resolve(gpuLayers, model, null,
                4096, servers).layers();
        SessionParams sp = SessionParams.defaults().withContextSize(Math.max(1024, 2 * (promptTokens + genTokens) + 1024));
        if (threads != null) {
            sp = sp.withThreads(threads);
        }
        try (Model local = Model.load(model);
             Model split = Model.load(model, ModelParams.defaults().withGpuLayers(layers).withRpcServers(servers))) {
            List<Model.Device> devices = split.devices();
            StringBuilder where = new StringBuilder();
            for (Model.Device d : devices) {
                where.append(d.name()).append(' ').append(d.description()).append(": ").append(d.layers())
                        .append(" blocks; ");
            }
            where.append("this CPU: ").append(split.cpuLayers()).append(" blocks");
            // a block on the first server: the servers hold the last blocks, the first server the earliest of them
            int block = split.cpuLayers() + Math.max(0, devices.isEmpty() ? 0 : devices.get(0).layers() / 2);
            if (devices.isEmpty() || block >= split.layers()) {
                throw new org.taskvec.engine.InvalidInputException("no block is on an RPC server (" + where
                        + "): raise --gpu-layers");
            }
            System.err.printf("bench: %s, %s; hooks at block %d; %d threads, prompt ~%d tokens, %d generated, "
                    + "%d rounds%n", local.info().description(), where, block, sp.threads(), promptTokens, genTokens,
                    rounds);
            List<BenchRunner.Result> results = org.taskvec.perf.RpcBench.run(local, split, block,
                    new BenchRunner.Settings(promptTokens, genTokens, rounds, warmup, sp),
                    line -> status("[bench] " + line));
            endStatus();
            System.out.println("layers: " + where);
            System.out.println("(decode rows: median ms per generated token)");
            System.out.printf("%-32s %12s %12s   %s%n", "operation", "median ms", "tokens/s",
                    "speed vs baseline: median of per-round ratios (min-max) [ratio of medians]");
            for (BenchRunner.Result r : results) {
                System.out.printf(Locale.ROOT, "%-32s %12.2f %12.2f   %s%n", r.name(), r.medianMs(),
                        r.tokensPerSecond(), r.baseline() == null ? "" : String.format(Locale.ROOT,
                                "%.3f (%.3f-%.3f) [%.3f] vs %s%s", r.ratioMedian(), r.ratioMin(), r.ratioMax(),
                                r.ratioOfMedians(), r.baseline(), Boolean.FALSE.equals(r.sameTokens())
                                        ? " (OTHER TOKENS)" : Boolean.TRUE.equals(r.sameTokens()) ? " (same tokens)"
                                        : ""));
            }
            if (json != null) {
                ObjectMapper om = new ObjectMapper();
                ObjectNode root = om.createObjectNode();
                root.put("model", model.toString());
                root.put("rpc_servers", rpc);
                root.put("layers", where.toString());
                root.put("hooked_block", block);
                root.put("threads", sp.threads());
                root.put("prompt_tokens", promptTokens);
                root.put("gen_tokens", genTokens);
                root.put("rounds", rounds);
                root.put("system", NativeLibrary.systemInfo().trim());
                root.putPOJO("results", results);
                om.writerWithDefaultPrettyPrinter().writeValue(json.toFile(), root);
            }
        }
        return 0;
    }

    private static final boolean TERMINAL = System.console() != null;

    /** A status line: redrawn in place on a terminal, a plain line in a file or pipe (no carriage returns). */
    private static void status(String line) {
        System.err.print(TERMINAL ? "\r\033[K" + line : line + System.lineSeparator());
    }

    private static void endStatus() {
        if (TERMINAL) {
            System.err.println();
        }
    }

    /** What a results file says about the model and the machine it was measured on. */
    private ObjectNode machine(ObjectMapper om, Model m, org.taskvec.engine.GpuLayers.Choice choice) {
        ObjectNode root = om.createObjectNode();
        root.put("model", model.toString());
        root.put("description", m.info().description());
        root.put("gpu_layers", choice.layers());
        root.put("gpu_layers_reason", choice.why());
        root.putPOJO("gpus", org.taskvec.engine.GpuDevices.list());
        root.put("system", NativeLibrary.systemInfo().trim());
        return root;
    }
}
