#!/usr/bin/env python3
"""Batched decode of the engine against llama-batched-bench, from the files benchmarks/batched-bench.sh (and
benchmarks/gpu-check.sh) write: batched-taskvec-NAME.K.jsonl (taskvec bench --batched --json) and
llama-batched-bench-NAME.K.jsonl (llama-batched-bench --output-format jsonl), K = 1, 2, ... one process pair each,
run in ABBA order. Per model and npl: the median over the pairs of taskvec / llama-batched-bench for S_TG (tokens/s
of the batched generation) and S_PP (of the prompts), with the spread (min-max), and each side's median speed.

  python3 benchmarks/batched_summary.py DIR      summary.md on stdout, DIR/batched-summary.json

Any file may be missing, empty or cut off: what pairs up is reported.
"""
import glob
import json
import math
import os
import re
import sys

GOAL = 0.90  # issue 13: taskvec S_TG >= 0.90 of llama-batched-bench at each batch size


def num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def load_jsonl(path):
    """The rows of a JSON-lines file keyed by (pp, tg, pl); lines that do not parse are skipped."""
    rows = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if isinstance(r, dict) and all(isinstance(r.get(k), int) for k in ("pp", "tg", "pl")):
                    rows[(r["pp"], r["tg"], r["pl"])] = r
    except OSError:
        pass
    return rows


def median(v):
    s = sorted(v)
    n = len(s)
    return None if n == 0 else (s[(n - 1) // 2] + s[n // 2]) / 2


def names(out):
    """The models with at least one file of either side."""
    found = set()
    for p in glob.glob(os.path.join(out, "batched-taskvec-*.jsonl")) + \
            glob.glob(os.path.join(out, "llama-batched-bench-*.jsonl")):
        m = re.match(r"(?:batched-taskvec|llama-batched-bench)-(.+)\.(\d+)\.jsonl$", os.path.basename(p))
        if m:
            found.add(m.group(1))
    return sorted(found)


def compare(out, name):
    """{"configs": [{pp, tg, pl, pairs, tg_ratio: {median, min, max, values}, pp_ratio: {...}, taskvec_speed_tg, ...}]}
    where pair K is batched-taskvec-NAME.K with llama-batched-bench-NAME.K."""
    ks = set()
    for p in glob.glob(os.path.join(out, "batched-taskvec-%s.*.jsonl" % glob.escape(name))):
        m = re.search(r"\.(\d+)\.jsonl$", p)
        if m:
            ks.add(int(m.group(1)))
    per = {}
    for k in sorted(ks):
        ours = load_jsonl(os.path.join(out, "batched-taskvec-%s.%d.jsonl" % (name, k)))
        theirs = load_jsonl(os.path.join(out, "llama-batched-bench-%s.%d.jsonl" % (name, k)))
        for key, a in ours.items():
            b = theirs.get(key)
            if b is None:
                continue
            e = per.setdefault(key, {"tg": [], "pp": [], "a_tg": [], "b_tg": [], "a_pp": [], "b_pp": [],
                                     "short": 0})
            for what in ("tg", "pp"):
                sa, sb = num(a.get("speed_" + what)), num(b.get("speed_" + what))
                if sa is not None and sb:
                    e[what].append(sa / sb)
                    e["a_" + what].append(sa)
                    e["b_" + what].append(sb)
            if num(a.get("decoded_tokens")) is not None and a["decoded_tokens"] < key[1] * key[2]:
                e["short"] += 1
    configs = []
    for (pp, tg, pl), e in sorted(per.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        c = {"pp": pp, "tg": tg, "pl": pl, "pairs": len(e["tg"]),
             "taskvec_speed_tg": median(e["a_tg"]), "llama_speed_tg": median(e["b_tg"]),
             "taskvec_speed_pp": median(e["a_pp"]), "llama_speed_pp": median(e["b_pp"]),
             "rounds_with_early_stops": e["short"]}
        for what in ("tg", "pp"):
            v = e[what]
            c[what + "_ratio"] = {"median": median(v), "min": min(v) if v else None, "max": max(v) if v else None,
                                  "values": v}
        configs.append(c)
    return {"name": name, "configs": configs}


def verdict(c):
    r = c["tg_ratio"]["median"]
    if r is None:
        return "not measured"
    if c["pairs"] < 2:
        return "no verdict: 1 process pair (not interleaved)"
    return "meets" if r >= GOAL else "misses"


def fmt(v, f="%.1f"):
    return "-" if num(v) is None else f % v


def lines_for(res):
    """Markdown rows: one per configuration."""
    out = []
    for c in res["configs"]:
        t, p = c["tg_ratio"], c["pp_ratio"]
        out.append("| %s | %d | %d | %d | %d | %s | %s | %s (%s-%s) | %s | %s | %s (%s-%s) | %s |" % (
            res["name"], c["pp"], c["tg"], c["pl"], c["pairs"], fmt(c["taskvec_speed_tg"]), fmt(c["llama_speed_tg"]),
            fmt(t["median"], "%.3f"), fmt(t["min"], "%.3f"), fmt(t["max"], "%.3f"), fmt(c["taskvec_speed_pp"]),
            fmt(c["llama_speed_pp"]), fmt(p["median"], "%.3f"), fmt(p["min"], "%.3f"), fmt(p["max"], "%.3f"),
            verdict(c) + (" (early stops in %d rounds)" % c["rounds_with_early_stops"]
                          if c["rounds_with_early_stops"] else "")))
    return out


HEADER = ["| model | npp | ntg | npl | pairs | taskvec S_TG t/s | llama-batched-bench S_TG | S_TG ratio (min-max) | "
          "taskvec S_PP t/s | llama-batched-bench S_PP | S_PP ratio (min-max) | S_TG goal >= %.2f |" % GOAL,
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]


def section(out):
    """(markdown lines, results) for every model in out; no lines when there is nothing."""
    results = [compare(out, n) for n in names(out)]
    results = [r for r in results if r["configs"]]
    if not results:
        return [], []
    lines = ["## Batched decode: taskvec (Java API) vs llama-batched-bench", "",
             "Same natives, npp/ntg/npl, context, batch, threads and unified KV cache; one process pair per round "
             "in ABBA order; ratios are taskvec / llama-batched-bench per pair, median (min-max) over the pairs; "
             "speeds are each side's median.", ""] + HEADER
    for r in results:
        lines += lines_for(r)
    return lines + [""], results


def main(out):
    lines, results = section(out)
    with open(os.path.join(out, "batched-summary.json"), "w") as f:
        json.dump({"goal_tg_ratio": GOAL, "models": results}, f, indent=2)
    print("\n".join(lines) if lines else "no batched-bench pairs in %s" % out)


if __name__ == "__main__":
    main(sys.argv[1])
