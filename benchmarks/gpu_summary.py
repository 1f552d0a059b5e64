#!/usr/bin/env python3
"""Reads the files benchmarks/gpu-check.sh wrote into OUT and prints summary.md (stdout); writes OUT/results.json.

The goals of issue 5, each as a ratio measured in the same run on the same card:
  Java API decode / library C++ loop >= 0.97; Java decode / llama-bench tg (same depth) >= 0.90;
  prompt with a one-layer patch / plain prompt <= 1.03 (time); hook-free decode / plain decode >= 0.99;
  7b Q4_K_M decode at a fraction of the memory-bandwidth limit; official paper loop / taskvec >= 5 (time).
"""
import csv
import glob
import json
import os
import sys

# memory bandwidth by card name (GB/s, from the vendors' data sheets); TASKVEC_GPU_BANDWIDTH_GBS overrides
BANDWIDTH_GBS = [("H200", 4800), ("H100 SXM", 3350), ("H100 NVL", 3900), ("H100 PCIe", 2000), ("H100", 3350),
                 ("A100-SXM4-80GB", 2039), ("A100 80GB PCIe", 1935), ("A100", 1555), ("L40S", 864), ("L4", 300),
                 ("RTX 4090", 1008), ("RTX 3090", 936), ("RTX 5090", 1792)]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def op(bench, name):
    for r in (bench or {}).get("results", []):
        if r["operation"] == name:
            return r
    return None


def llama_bench(rows, n_prompt, n_gen, depth):
    for r in rows or []:
        if r.get("n_prompt") == n_prompt and r.get("n_gen") == n_gen and r.get("n_depth", 0) == depth:
            return r
    return None


def verdict(value, goal, higher_is_better=True):
    if value is None:
        return "not measured"
    ok = value >= goal if higher_is_better else value <= goal
    return "meets" if ok else "misses"


def main(out):
    results = {"goals": [], "models": {}}
    gpu_name = None
    gpu_csv = os.path.join(out, "gpu.csv")
    if os.path.exists(gpu_csv):
        rows = list(csv.reader(open(gpu_csv)))
        if len(rows) > 1 and rows[1]:
            gpu_name = rows[1][0].strip()
    results["gpu"] = gpu_name or "none (CPU run)"
    lines = ["# taskvec GPU check", "", "Card: **%s**" % results["gpu"], ""]
    steps = os.path.join(out, "steps.tsv")
    if os.path.exists(steps):
        last = open(steps).read().strip().splitlines()[-1].split("\t")[0]
        lines += ["Script wall time up to the summary: %s s" % last, ""]

    info = os.path.join(out, "info.txt")
    if os.path.exists(info):  # which natives ran: "gpu offload available in this build" means the CUDA ones
        picked = [l.rstrip() for l in open(info) if l.startswith(("gpu", "system", "llama.cpp"))]
        results["engine"] = picked
        lines += ["Engine (taskvec info):", "", "```"] + picked + ["```", ""]

    hooks = load(os.path.join(out, "hooks.json"))
    if hooks:
        results["hooks"] = hooks
        lines += ["## Hooks on the device", "",
                  "- identity patch bit-identical: %s (max |diff| %g)" % (hooks.get("identity_patch_bit_identical"),
                                                                         hooks.get("identity_patch_max_abs_diff")),
                  "- last-layer transplant equal: %s (max |diff| %g)" % (hooks.get("last_layer_transplant_equal"),
                                                                        hooks.get("last_layer_transplant_max_abs_diff")),
                  "- captures vs CPU engine, worst layer relative error %.3g (tolerance %g)" % (
                      hooks.get("capture_rel_error_worst", float("nan")), hooks.get("capture_tolerance", float("nan"))),
                  "- passed: **%s**" % hooks.get("passed"), ""]

    lines += ["## Speed per model", "",
              "| model | prompt tok/s | llama-bench pp | decode tok/s (Java) | C++ loop | llama-bench tg | "
              "Java/C++ | Java/llama-bench | patch time ratio | all-layer capture | hook-free decode | image ms |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(glob.glob(os.path.join(out, "bench-*.json"))):
        name = os.path.basename(path)[len("bench-"):-len(".json")]
        bench = load(path)
        lb = load(os.path.join(out, "llama-bench-%s.json" % name))
        p, n = bench["prompt_tokens"], bench["gen_tokens"]
        pp = llama_bench(lb, p, 0, 0)
        tg = llama_bench(lb, 0, n, p)
        dec, cpp = op(bench, "decode"), op(bench, "decode, C++ loop")
        m = {
            "prompt_tps": op(bench, "prompt")["tokens_per_second"],
            "llama_bench_pp_tps": pp and pp["avg_ts"],
            "decode_tps": dec["tokens_per_second"],
            "cpp_loop_tps": cpp["tokens_per_second"],
            "llama_bench_tg_tps": tg and tg["avg_ts"],
            "java_vs_cpp_loop": dec.get("speed_ratio_median"),
            "java_vs_llama_bench_tg": tg and dec["tokens_per_second"] / tg["avg_ts"],
            "patch_time_ratio": 1 / op(bench, "prompt + patch 1 layer")["speed_ratio_median"],
            "capture_all_time_ratio": 1 / op(bench, "prompt + capture all layers")["speed_ratio_median"],
            "hook_free_decode_ratio": op(bench, "decode, hook-free session")["speed_ratio_median"],
            "image_ms": (op(bench, "image prompt (encode + decode)") or {}).get("median_ms"),
            "model_bytes": tg and tg.get("model_size"),
        }
        results["models"][name] = m
        fmt = lambda v, f="%.1f": "-" if v is None else f % v
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, fmt(m["prompt_tps"]), fmt(m["llama_bench_pp_tps"]), fmt(m["decode_tps"]), fmt(m["cpp_loop_tps"]),
            fmt(m["llama_bench_tg_tps"]), fmt(m["java_vs_cpp_loop"], "%.3f"), fmt(m["java_vs_llama_bench_tg"], "%.3f"),
            fmt(m["patch_time_ratio"], "%.3f"), fmt(m["capture_all_time_ratio"], "%.3f"),
            fmt(m["hook_free_decode_ratio"], "%.3f"), fmt(m["image_ms"])))
    lines.append("")

    goals = results["goals"]
    for name, m in results["models"].items():
        goals.append(("%s: Java decode / C++ loop" % name, m["java_vs_cpp_loop"], ">= 0.97",
                      verdict(m["java_vs_cpp_loop"], 0.97)))
        goals.append(("%s: Java decode / llama-bench tg" % name, m["java_vs_llama_bench_tg"], ">= 0.90",
                      verdict(m["java_vs_llama_bench_tg"], 0.90)))
        goals.append(("%s: one-layer patch prompt time" % name, m["patch_time_ratio"], "<= 1.03",
                      verdict(m["patch_time_ratio"], 1.03, False)))
        goals.append(("%s: hook-free decode" % name, m["hook_free_decode_ratio"], ">= 0.99",
                      verdict(m["hook_free_decode_ratio"], 0.99)))
    seven = results["models"].get("7b-Q4_K_M")
    if seven and seven["model_bytes"] and gpu_name:
        bw = float(os.environ.get("TASKVEC_GPU_BANDWIDTH_GBS", "0")) or next(
            (v for k, v in BANDWIDTH_GBS if k.lower() in gpu_name.lower()), None)
        if bw:
            frac = seven["decode_tps"] * seven["model_bytes"] / (bw * 1e9)
            results["bandwidth_gbs"] = bw
            goals.append(("7b-Q4_K_M: decode as a fraction of the bandwidth limit (%.0f GB/s)" % bw, frac,
                          "reported", "%.0f%% of %.0f tokens/s" % (100 * frac, bw * 1e9 / seven["model_bytes"])))
    tv = load(os.path.join(out, "paper-taskvec.json"))
    off = load(os.path.join(out, "paper-official.json"))
    if tv:
        results["paper_taskvec"] = tv
    if off:
        results["paper_official"] = off
    if tv and off:
        speedup = off["phases_s"]["total"] * 1000 / tv["phases_ms"]["total"]
        goals.append(("paper workload: official loop time / taskvec time", speedup, ">= 5", verdict(speedup, 5)))
        lines += ["## The paper's workload", "", "| phase | official (transformers, no KV cache) ms | taskvec ms |",
                  "|---|---|---|"]
        for k in ("extraction", "patched_queries", "sweep", "total"):
            lines.append("| %s | %.1f | %.1f |" % (k, off["phases_s"][k] * 1000, tv["phases_ms"][k]))
        lines.append("")
    elif tv:
        lines += ["## The paper's workload (taskvec only: no official loop in this run)", ""]
        lines += ["- %s: %.1f ms" % (k, v) for k, v in tv["phases_ms"].items()] + [""]

    lines += ["## Goals", "", "| goal | measured | target | verdict |", "|---|---|---|---|"]
    for g in goals:
        lines.append("| %s | %s | %s | %s |" % (g[0], "-" if g[1] is None else "%.3f" % g[1], g[2], g[3]))
    results["goals"] = [dict(zip(("goal", "measured", "target", "verdict"), g)) for g in goals]
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1])
