#!/usr/bin/env python3
"""Ships a trained organism: the files the repository carries, measured, with their manifest.

usage: ship.py RUN [--out organism] [--type Q8_0] [--report benchmarks/results/organism/xpatch]
               [--report-add benchmarks/results/organism/xpatch-add] [--trained-at COMMIT]

RUN is a folder train.py wrote (model.gguf, llm.gguf, mmproj.gguf in F16, model-f32.gguf, mmproj-f32.gguf,
manifest.json, train.log and, when organism/fidelity.py ran, fidelity.json). Steps:
  1. model.gguf and llm.gguf quantized to --type by `taskvec quantize` (llama.cpp's quantizer), mmproj.gguf copied
     (F16: its tensors are small), into --out;
  2. fidelity of the shipped precision: organism/fidelity.py with the mirror on the F32 exports (the trained model)
     and taskvec on the shipped files with its defaults (F16 KV cache, flash attention auto);
  3. the paper's table on the shipped files: `taskvec xpatch --llm llm.gguf --several-images yes`, every condition,
     fresh task vectors, report in --report; and the same with `--patch-mode add` (the vectors added to the query's
     residual, as function vectors) in --report-add;
  4. --out/manifest.json: training (command, arguments, seeds, data fingerprints, times, held-out accuracy), the
     F16 exports' SHA-256, the quantization, the shipped files (type, bytes, SHA-256), fidelity figures and the
     measured table (chosen layer, layer sweep, every condition x task).
The tests (OrganismTest) and `taskvec demo` read the shipped files and the manifest; they never train.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from digest import sha256  # noqa: E402



def run(cmd):
    """Runs from the repository root, paths inside it relative (so that reports name organism/model.gguf)."""
    cmd = [os.path.relpath(c, ROOT) if os.path.isabs(c) and c.startswith(ROOT + os.sep) and c != cmd[0] else c
           for c in cmd]
    print("$ " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=sys.stderr, cwd=ROOT)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--type", default="Q8_0")
    ap.add_argument("--report", default=os.path.join(ROOT, "benchmarks", "results", "organism", "xpatch"))
    ap.add_argument("--report-add", default=os.path.join(ROOT, "benchmarks", "results", "organism", "xpatch-add"))
    ap.add_argument("--trained-at", help="the repository commit train.py ran at")
    ap.add_argument("--taskvec", default=os.path.join(ROOT, "taskvec"))
    a = ap.parse_args()
    a.run, a.out, a.report, a.report_add, tv = (os.path.abspath(x) for x in (a.run, a.out, a.report, a.report_add,
                                                                              a.taskvec))
    trained = json.load(open(os.path.join(a.run, "manifest.json")))
    os.makedirs(a.out, exist_ok=True)

    # 1. the shipped files
    for name in ("model", "llm"):
        run([tv, "quantize", os.path.join(a.run, name + ".gguf"), os.path.join(a.out, name + ".gguf"), a.type])
    shutil.copyfile(os.path.join(a.run, "mmproj.gguf"), os.path.join(a.out, "mmproj.gguf"))
    files = {}
    for name, typ in (("model.gguf", a.type), ("llm.gguf", a.type), ("mmproj.gguf", "F16")):
        p = os.path.join(a.out, name)
        files[name] = {"type": typ, "bytes": os.path.getsize(p), "sha256": sha256(p)}

    # 2. fidelity of the shipped precision
    shipped_json = os.path.join(a.run, "fidelity-shipped.json")
    run([sys.executable, os.path.join(HERE, "fidelity.py"), os.path.join(a.run, "model-f32.gguf"),
         os.path.join(a.run, "mmproj-f32.gguf"), "--engine-model", os.path.join(a.out, "model.gguf"),
         "--engine-mmproj", os.path.join(a.out, "mmproj.gguf"), "--engine-defaults", "--tolerance", "1",
         "--jobs", "1", "--json", shipped_json])
    fidelity = {"shipped": summary_of(json.load(open(shipped_json)),
                                      "the mirror on the F32 exports vs taskvec on the shipped files, taskvec's "
                                      "defaults (F16 KV cache, flash attention auto)")}
    f32 = os.path.join(a.run, "fidelity.json")
    if os.path.exists(f32):
        fidelity["f32"] = summary_of(json.load(open(f32)), "the mirror vs taskvec on the F32 exports, F32 KV cache, "
                                                          "flash attention off (the check's tolerance 1e-3)")

    # 3. the paper's table on the shipped files, and the same with the vectors added instead of replacing
    def xpatch(report, *extra):
        cmd = [tv, "xpatch", "--model", os.path.join(a.out, "model.gguf"), "--mmproj",
               os.path.join(a.out, "mmproj.gguf"), "--llm", os.path.join(a.out, "llm.gguf"), "--several-images", "yes",
               "--no-cache", *extra, "--out", report]
        run(cmd)
        res = json.load(open(os.path.join(report, "results.json")))
        return res, {"command": " ".join(os.path.relpath(c, ROOT) if os.path.isabs(c) and c.startswith(ROOT + os.sep)
                                         else c for c in cmd[1:]),
                     "chosen_layer": res["chosen_layer"], "layer_sweep": res["layer_sweep_val_accuracy"],
                     "conditions": res["summary"], "seconds": res["timing"]["seconds"]}
    res, table = xpatch(a.report)
    res_add, table_add = xpatch(a.report_add, "--patch-mode", "add")

    log = open(os.path.join(a.run, "train.log")).read()
    first = re.search(r"^== train\.py(.*)$", log, re.M)
    manifest = {
        "format": "taskvec model organism (shipped)",
        "files": files,
        "training": {
            "command": "/usr/bin/python3 organism/train.py" + (first.group(1) if first else ""),
            "trained_at": a.trained_at,
            "args": trained["args"],
            "seeds": {"weights": trained["args"]["seed"], "data": "stage 1: 1 (eval 1001), stage 2: 2 (eval 1002)"},
            "data_fingerprints": trained["data"],
            "stages": trained["stages"],
            "held_out_accuracy": trained["eval"],
        },
        "export": {"f16_files": trained["files"],
                   "shipped_as": "%s for model.gguf and llm.gguf (taskvec quantize, llama.cpp's quantizer); "
                                 "mmproj.gguf F16 as exported" % a.type},
        "fidelity": fidelity,
        "table": table,
        "table_add": table_add,
    }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("shipped %s: %s; xPatch %.2f (layer %d; added: %.2f, layer %d) vs No Context %.2f" % (
        a.out, ", ".join("%s %.1f MB" % (k, v["bytes"] / 1e6) for k, v in files.items()),
        res["summary"]["text-examples-patch"]["average"], res["chosen_layer"],
        res_add["summary"]["text-examples-patch"]["average"], res_add["chosen_layer"],
        res["summary"]["no-context"]["average"]))


def summary_of(fid, what):
    return {"what": what, "worst": fid["overall"], "by_layer": fid["worst"], "prompts": fid["prompts"]}


if __name__ == "__main__":
    main()
