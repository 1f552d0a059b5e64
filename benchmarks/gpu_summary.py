#!/usr/bin/env python3
"""Reads the files benchmarks/gpu-check.sh wrote into a folder, prints summary.md (stdout) and writes results.json.

Written to be run after every step of the check: any file may be missing, empty, cut off by a kill or lack an
operation; what is there is reported and the rest is "not measured".

The goals of issue 5, each as a ratio measured in the same run on the same card:
  Java API decode / library C++ loop >= 0.97; Java decode / llama-bench tg (same depth) >= 0.90;
  prompt with a one-layer patch / plain prompt <= 1.03 (time); hook-free decode / plain decode >= 0.99;
  7b Q4_K_M decode at a fraction of the memory-bandwidth limit; official paper loop / taskvec >= 5 (time).
And of issue 13: batched decode S_TG taskvec / llama-batched-bench >= 0.90 per batch size (batched_summary.py, per
process pair in ABBA order); the paper workload on parallel sequences against the sequential path (>= 3 for the sweep
and the patched queries, the CPU goal) and against the official procedure's cost on this engine (reported).
taskvec bench gives each ratio as the median of per-round ratios (interleaved rounds); the ratio of the two rows'
medians is shown beside it, and where the two disagree by more than 10% the verdict says so instead of a pass.
llama-bench runs in another process, not interleaved with taskvec: those ratios are marked so.
"""
import csv
import glob
import json
import math
import os
import sys

import batched_summary  # same folder

# memory bandwidth by card name (GB/s, from the vendors' data sheets); TASKVEC_GPU_BANDWIDTH_GBS overrides
BANDWIDTH_GBS = [("H200", 4800), ("H100 SXM", 3350), ("H100 NVL", 3900), ("H100 PCIe", 2000), ("H100", 3350),
                 ("A100-SXM4-80GB", 2039), ("A100 80GB PCIe", 1935), ("A100", 1555), ("L40S", 864), ("L4", 300),
                 ("RTX 4090", 1008), ("RTX 3090", 936), ("RTX 5090", 1792)]


def load(path):
    """JSON or None (missing, empty, cut off)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def op(bench, name):
    for r in (bench or {}).get("results", []) or []:
        if isinstance(r, dict) and r.get("operation") == name:
            return r
    return {}


def llama_bench(rows, n_prompt, n_gen, depth):
    for r in rows if isinstance(rows, list) else []:
        if isinstance(r, dict) and r.get("n_prompt") == n_prompt and r.get("n_gen") == n_gen \
                and r.get("n_depth", 0) == depth:
            return r
    return {}


def div(a, b):
    a, b = num(a), num(b)
    return a / b if a is not None and b else None


def inv(a):
    a = num(a)
    return 1 / a if a else None


MIN_ROUNDS = 5


def verdict(value, goal, higher_is_better=True, check=None, rounds=None):
    """check: the same ratio computed another way (ratio of medians); a disagreement > 10% is not a pass.
    rounds: measured rounds behind a per-round median; fewer than MIN_ROUNDS give no verdict."""
    if value is None:
        return "not measured"
    if rounds is not None and rounds < MIN_ROUNDS:
        return "no verdict: %d rounds (< %d)" % (rounds, MIN_ROUNDS)
    ok = value >= goal if higher_is_better else value <= goal
    text = "meets" if ok else "misses"
    if check is not None and abs(check / value - 1) > 0.10:
        text += " (inconclusive: ratio of medians %.3f disagrees)" % check
    return text


def fmt(v, f="%.1f"):
    return "-" if num(v) is None else f % v


def steps_table(out):
    rows = []
    path = os.path.join(out, "steps.tsv")
    if os.path.exists(path):
        for line in open(path, errors="replace"):
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3:
                rows.append((parts + ["", "", ""])[:5])
    return rows


def of_medians(row, base, inverse=False):
    """The row's ratio of medians as bench wrote it, else from the two medians (older files)."""
    r = num(row.get("ratio_of_medians"))
    if r is None:
        r = div(base.get("median_ms"), row.get("median_ms"))
    return inv(r) if inverse else r


def java_vs_llama_bench(out, name):
    """Java decode / llama-bench tg per process pair: the script runs taskvec bench and llama-bench in ABBA order,
    and pair k is bench-NAME[.k] with llama-bench-NAME[.k]. Returns (median, [per-pair values])."""
    values = []
    for suffix in ("", ".2"):
        bench = load(os.path.join(out, "bench-%s%s.json" % (name, suffix))) or {}
        lb = load(os.path.join(out, "llama-bench-%s%s.json" % (name, suffix)))
        tg = llama_bench(lb, 0, bench.get("gen_tokens", 128), bench.get("prompt_tokens", 512))
        v = div(op(bench, "decode").get("tokens_per_second"), tg.get("avg_ts"))
        if v is not None:
            values.append(v)
    values.sort()
    med = None if not values else (values[(len(values) - 1) // 2] + values[len(values) // 2]) / 2
    return med, values


def bench_model(out, name):
    bench = load(os.path.join(out, "bench-%s.json" % name)) or {}
    lb = load(os.path.join(out, "llama-bench-%s.json" % name))
    p, n = bench.get("prompt_tokens", 512), bench.get("gen_tokens", 128)
    pp, tg = llama_bench(lb, p, 0, 0), llama_bench(lb, 0, n, p)
    vs_lb, vs_lb_pairs = java_vs_llama_bench(out, name)
    prompt, dec, cpp = op(bench, "prompt"), op(bench, "decode"), op(bench, "decode, C++ loop")
    patch, cap_all = op(bench, "prompt + patch 1 layer"), op(bench, "prompt + capture all layers")
    free = op(bench, "decode, hook-free session")
    return {
        "prompt_tps": num(prompt.get("tokens_per_second")),
        "llama_bench_pp_tps": num(pp.get("avg_ts")),
        "decode_tps": num(dec.get("tokens_per_second")),
        "cpp_loop_tps": num(cpp.get("tokens_per_second")),
        "llama_bench_tg_tps": num(tg.get("avg_ts")),
        "java_vs_cpp_loop": num(dec.get("speed_ratio_median")),
        "java_vs_cpp_loop_spread": [num(dec.get("speed_ratio_min")), num(dec.get("speed_ratio_max"))],
        "java_vs_cpp_loop_of_medians": of_medians(dec, cpp),
        "java_vs_llama_bench_tg": vs_lb,
        "java_vs_llama_bench_tg_pairs": vs_lb_pairs,
        "patch_time_ratio": inv(patch.get("speed_ratio_median")),
        "patch_time_ratio_of_medians": of_medians(patch, prompt, inverse=True),
        "capture_all_time_ratio": inv(cap_all.get("speed_ratio_median")),
        "hook_free_decode_ratio": num(free.get("speed_ratio_median")),
        "hook_free_decode_ratio_of_medians": of_medians(free, dec),
        "image_ms": num(op(bench, "image prompt (encode + decode)").get("median_ms")),
        "model_bytes": num(tg.get("model_size")) or num(pp.get("model_size")),
        "gpu_layers": bench.get("gpu_layers"),
        "rounds": bench.get("rounds"),
    }


def organism_section(out, results):
    """The paper's table on the model organism, on the GPU and on the CPU, and how far the two are apart."""
    runs = {w: load(os.path.join(out, "organism-%s" % w, "results.json")) for w in ("gpu", "cpu")}
    runs = {w: r for w, r in runs.items() if isinstance(r, dict) and isinstance(r.get("summary"), dict)}
    if not runs:
        return []
    where = [w for w in ("gpu", "cpu") if w in runs]
    conds = list(runs[where[0]]["summary"])
    table = {c: {w: num((runs[w]["summary"].get(c) or {}).get("average")) for w in where} for c in conds}
    res = {"conditions": table,
           "chosen_layer": {w: runs[w].get("chosen_layer") for w in where},
           "seconds": {w: num((runs[w].get("timing") or {}).get("seconds")) for w in where},
           "predictions": {w: (runs[w].get("timing") or {}).get("predictions") for w in where}}
    lines = ["## The paper's experiment on the model organism", "",
             "taskvec xpatch, fresh task vectors; %s." % ", ".join(
                 "%s: layer %s, %s predictions in %s s" % (w.upper(), res["chosen_layer"][w], res["predictions"][w],
                                                         fmt(res["seconds"][w])) for w in where), "",
             "| condition | %s |" % " | ".join(w.upper() for w in where), "|---|%s" % ("---|" * len(where))]
    for c in conds:
        lines.append("| %s | %s |" % (c, " | ".join(fmt(table[c][w], "%.3f") for w in where)))
    if len(where) == 2:
        key = lambda r: (r.get("condition"), r.get("task"), r.get("seed"), r.get("layer"))
        cpu_rows = {key(r): r for r in runs["cpu"].get("rows", []) if isinstance(r, dict)}
        diffs, same, compared = [], 0, 0
        for r in runs["gpu"].get("rows", []):
            o = cpu_rows.get(key(r)) if isinstance(r, dict) else None
            if o is None or num(r.get("accuracy")) is None or num(o.get("accuracy")) is None:
                continue
            compared += 1
            same += r.get("correct") == o.get("correct")
            diffs.append(abs(r["accuracy"] - o["accuracy"]))
        res["rows_compared"], res["rows_equal"] = compared, same
        res["max_row_accuracy_diff"] = max(diffs) if diffs else None
        avg = [abs(table[c]["gpu"] - table[c]["cpu"]) for c in conds
               if table[c]["gpu"] is not None and table[c]["cpu"] is not None]
        res["max_condition_diff"] = max(avg) if avg else None
        lines += ["", "GPU against CPU: %d of %d (condition, task, seed) rows give the same count correct; largest "
                  "difference %s in a row's accuracy, %s in a condition's average." % (
                      same, compared, fmt(res["max_row_accuracy_diff"], "%.3f"), fmt(res["max_condition_diff"], "%.3f"))]
    results["organism"] = res
    return lines + [""]


PAPER_PAIRS = (("parallel_vs_sequential", "parallel / sequential"), ("sequential_vs_official", "sequential / official"),
               ("parallel_vs_official", "parallel / official"))


def paper_parallel_section(out, results, goals):
    """taskvec bench --paper-workload --parallel 8 --official-cost: speed ratios per phase (median, min-max)."""
    pp = load(os.path.join(out, "paper-parallel.json"))
    if not isinstance(pp, dict) or not isinstance(pp.get("speed_ratios"), dict):
        return []
    ratios = pp["speed_ratios"]
    results["paper_parallel"] = {"parallel_sequences": pp.get("parallel_sequences"), "rounds": pp.get("rounds"),
                                 "speed_ratios": ratios, "paths_phases_ms_median": pp.get("paths_phases_ms_median")}
    pairs = [(k, label) for k, label in PAPER_PAIRS if isinstance(ratios.get(k), dict)]
    lines = ["## The paper's workload on parallel sequences", "",
             "taskvec bench --paper-workload --parallel %s --official-cost, %s rounds, paths interleaved: speed "
             "ratios (the second path's time over the first's), median (min-max) over the rounds." % (
                 pp.get("parallel_sequences"), pp.get("rounds")), "",
             "| phase | %s |" % " | ".join(label for _, label in pairs), "|---|%s" % ("---|" * len(pairs))]

    def cell(k, phase):
        x = ratios[k].get(phase) or {}
        if num(x.get("median")) is None:
            return "-"
        return "%s (%s-%s)" % (fmt(num(x.get("median")), "%.2f"), fmt(num(x.get("min")), "%.2f"),
                               fmt(num(x.get("max")), "%.2f"))
    for phase in ("extraction", "patched_queries", "sweep", "total"):
        lines.append("| %s | %s |" % (phase, " | ".join(cell(k, phase) for k, _ in pairs)))
    par = ratios.get("parallel_vs_sequential") or {}
    for phase in ("sweep", "patched_queries"):
        v = num((par.get(phase) or {}).get("median"))
        goals.append(("paper workload: parallel / sequential speed, %s" % phase, v, ">= 3 (CPU goal)",
                      verdict(v, 3)))
    off = ratios.get("parallel_vs_official") or {}
    v = num((off.get("total") or {}).get("median"))
    if v is not None:
        goals.append(("paper workload: parallel / official cost on this engine, total", v, "reported", "%.1fx" % v))
    return lines + [""]


def batched_section(out, results, goals):
    lines, res = batched_summary.section(out)
    if res:
        results["batched"] = res
        for r in res:
            for c in r["configs"]:
                t = c["tg_ratio"]
                goals.append(("%s: batched S_TG taskvec / llama-batched-bench, npl %d (npp %d, ntg %d, %d pair%s)" % (
                    r["name"], c["pl"], c["pp"], c["tg"], c["pairs"], "" if c["pairs"] == 1 else "s"),
                    t["median"], ">= %.2f" % batched_summary.GOAL, batched_summary.verdict(c)))
    return lines


def main(out):
    results = {"goals": [], "models": {}}
    gpu_name = None
    gpu_csv = os.path.join(out, "gpu.csv")
    if os.path.exists(gpu_csv):
        rows = list(csv.reader(open(gpu_csv, errors="replace")))
        if len(rows) > 1 and rows[1] and rows[0] and rows[0][0].strip() == "name":
            gpu_name = rows[1][0].strip()
            results["gpu_csv"] = dict(zip([h.strip() for h in rows[0]], [v.strip() for v in rows[1]]))
    results["gpu"] = gpu_name or "none (CPU run)"
    lines = ["# taskvec GPU check", "", "Card: **%s**" % results["gpu"], ""]
    fatal = os.path.join(out, "FATAL.txt")
    if os.path.exists(fatal):
        results["fatal"] = open(fatal, errors="replace").read().strip()
        lines += ["**%s**" % results["fatal"], ""]

    steps = steps_table(out)
    results["steps"] = [dict(zip(("t_s", "step", "status", "took_s", "detail"), s)) for s in steps]
    if steps:
        lines += ["## Steps", "", "| t (s) | step | status | took (s) | detail |", "|---|---|---|---|---|"]
        lines += ["| %s |" % " | ".join(c.replace("|", "/") for c in s) for s in steps] + [""]

    info = os.path.join(out, "info.txt")
    if os.path.exists(info):  # which natives ran: "gpu offload available in this build" means the CUDA ones
        picked = [l.rstrip() for l in open(info, errors="replace")
                  if l.startswith(("gpu", "system", "llama.cpp", "natives"))]
        results["engine"] = picked
        lines += ["Engine (taskvec info):", "", "```"] + picked + ["```", ""]

    hooks = load(os.path.join(out, "hooks.json"))
    if isinstance(hooks, dict):
        results["hooks"] = hooks
        lines += ["## Hooks on the device", "",
                  "- identity patch bit-identical: %s (max |diff| %s)" % (
                      hooks.get("identity_patch_bit_identical"), hooks.get("identity_patch_max_abs_diff")),
                  "- last-layer transplant equal: %s (max |diff| %s)" % (
                      hooks.get("last_layer_transplant_equal"), hooks.get("last_layer_transplant_max_abs_diff")),
                  "- captures vs CPU engine, worst layer relative error %s (tolerance %s)" % (
                      fmt(hooks.get("capture_rel_error_worst"), "%.3g"), hooks.get("capture_tolerance")),
                  "- passed: **%s**" % hooks.get("passed"), ""]

    lines += organism_section(out, results)

    names = sorted(n for n in {os.path.basename(p)[len("bench-"):-len(".json")]
                               for p in glob.glob(os.path.join(out, "bench-*.json"))}
                   | {os.path.basename(p)[len("llama-bench-"):-len(".json")]
                      for p in glob.glob(os.path.join(out, "llama-bench-*.json"))} if not n.endswith(".2"))
    if names:
        lines += ["## Speed per model", "",
                  "Ratios are medians of per-round ratios of interleaved rows in one process (the ratio of medians "
                  "checks each; a verdict needs %d rounds); llama-bench is another process: taskvec bench and "
                  "llama-bench run in ABBA order and Java/llama-bench is the median over the process pairs (where only "
                  "one pair ran, it is not interleaved)." % MIN_ROUNDS, "",
                  "| model | prompt tok/s | llama-bench pp | decode tok/s (Java) | C++ loop | llama-bench tg | "
                  "Java/C++ (spread) | Java/llama-bench | patch time ratio | all-layer capture | hook-free decode |"
                  " image ms |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        m = bench_model(out, name)
        results["models"][name] = m
        lo, hi = m["java_vs_cpp_loop_spread"]
        lines.append("| %s | %s | %s | %s | %s | %s | %s (%s-%s) | %s | %s | %s | %s | %s |" % (
            name, fmt(m["prompt_tps"]), fmt(m["llama_bench_pp_tps"]), fmt(m["decode_tps"]), fmt(m["cpp_loop_tps"]),
            fmt(m["llama_bench_tg_tps"]), fmt(m["java_vs_cpp_loop"], "%.3f"), fmt(lo, "%.3f"), fmt(hi, "%.3f"),
            fmt(m["java_vs_llama_bench_tg"], "%.3f"), fmt(m["patch_time_ratio"], "%.3f"),
            fmt(m["capture_all_time_ratio"], "%.3f"), fmt(m["hook_free_decode_ratio"], "%.3f"), fmt(m["image_ms"])))
    lines.append("")

    goals = []
    for name, m in results["models"].items():
        n = m["rounds"]
        goals.append(("%s: Java decode / C++ loop" % name, m["java_vs_cpp_loop"], ">= 0.97",
                      verdict(m["java_vs_cpp_loop"], 0.97, True, m["java_vs_cpp_loop_of_medians"], n)))
        pairs = m["java_vs_llama_bench_tg_pairs"]
        goals.append(("%s: Java decode / llama-bench tg (%d process pair%s%s)" % (
                          name, len(pairs), "" if len(pairs) == 1 else "s",
                          ": " + ", ".join("%.3f" % v for v in pairs) if len(pairs) > 1 else ", not interleaved"),
                      m["java_vs_llama_bench_tg"], ">= 0.90", verdict(m["java_vs_llama_bench_tg"], 0.90)))
        goals.append(("%s: one-layer patch prompt time" % name, m["patch_time_ratio"], "<= 1.03",
                      verdict(m["patch_time_ratio"], 1.03, False, m["patch_time_ratio_of_medians"], n)))
        goals.append(("%s: hook-free decode" % name, m["hook_free_decode_ratio"], ">= 0.99",
                      verdict(m["hook_free_decode_ratio"], 0.99, True, m["hook_free_decode_ratio_of_medians"], n)))
    seven = results["models"].get("7b-Q4_K_M")
    if seven and seven["model_bytes"] and seven["decode_tps"] and gpu_name:
        bw = float(os.environ.get("TASKVEC_GPU_BANDWIDTH_GBS", "0")) or next(
            (v for k, v in BANDWIDTH_GBS if k.lower() in gpu_name.lower()), None)
        if bw:
            frac = seven["decode_tps"] * seven["model_bytes"] / (bw * 1e9)
            results["bandwidth_gbs"] = bw
            goals.append(("7b-Q4_K_M: decode as a fraction of the bandwidth limit (%.0f GB/s)" % bw, frac,
                          "reported", "%.0f%% of %.0f tokens/s" % (100 * frac, bw * 1e9 / seven["model_bytes"])))
    lines += batched_section(out, results, goals)
    tv = load(os.path.join(out, "paper-taskvec.json"))
    off = load(os.path.join(out, "paper-official.json"))
    tv = tv if isinstance(tv, dict) and isinstance(tv.get("phases_ms"), dict) else None
    off = off if isinstance(off, dict) and isinstance(off.get("phases_s"), dict) else None
    if tv:
        results["paper_taskvec"] = tv
    if off:
        results["paper_official"] = off
    if tv and off:
        speedup = div(off["phases_s"].get("total"), (num(tv["phases_ms"].get("total")) or 0) / 1000)
        goals.append(("paper workload: official loop time / taskvec time", speedup, ">= 5", verdict(speedup, 5)))
        lines += ["## The paper's workload", "", "| phase | official (transformers, no KV cache) ms | taskvec ms |",
                  "|---|---|---|"]
        for k in ("extraction", "patched_queries", "sweep", "total"):
            o = num(off["phases_s"].get(k))
            lines.append("| %s | %s | %s |" % (k, fmt(o * 1000 if o is not None else None),
                                               fmt(tv["phases_ms"].get(k))))
        lines.append("")
    elif tv:
        lines += ["## The paper's workload (taskvec only: no official loop in this run)", ""]
        lines += ["- %s: %s ms" % (k, fmt(v)) for k, v in tv["phases_ms"].items()] + [""]
    elif off:
        lines += ["## The paper's workload (official loop only)", ""]
        lines += ["- %s: %s s" % (k, fmt(v, "%.2f")) for k, v in off["phases_s"].items()] + [""]

    lines += paper_parallel_section(out, results, goals)

    if goals:
        lines += ["## Goals", "", "| goal | measured | target | verdict |", "|---|---|---|---|"]
        for g in goals:
            lines.append("| %s | %s | %s | %s |" % (g[0], fmt(g[1], "%.3f"), g[2], g[3]))
    results["goals"] = [dict(zip(("goal", "measured", "target", "verdict"), g)) for g in goals]
    with open(os.path.join(out, "results.json.new"), "w") as f:
        json.dump(results, f, indent=2)
    os.replace(os.path.join(out, "results.json.new"), os.path.join(out, "results.json"))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1])
