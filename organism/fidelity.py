#!/usr/bin/env python3
"""Fidelity check: the PyTorch mirror (organism/mirror.py) against taskvec, on the same GGUF files.

usage: fidelity.py MODEL MMPROJ [--text N] [--images N] [--tolerance T] [--taskvec CMD] [--work DIR] [--json FILE]
                   [--engine-defaults] [--break MISTAKE] [--engine-model FILE] [--engine-mmproj FILE]

Runs N text prompts in the paper's format (5 examples `Q:{x}\\nA:{y}\\n\\n`, then `Q:{q}\\nA:`, built-in task data)
and N image prompts (`Q:<__media__>\\nA:` with a built-in emoji image, after 0, 1 or 2 text examples) through
`taskvec capture --layers all --positions all --kv-type f32 --flash-attn off --logits` and through the mirror, and
compares every block's residual (blocks.L.resid_post) at every position and the last position's logits. The last
block's residual exists in llama.cpp only at text positions (it skips the rest): it is compared there.

Relative error of a prompt: max |mirror - taskvec| / max |taskvec| over the positions and the width (per layer,
and over the logits). The report gives the worst over the prompts, per layer and for the logits, text and image
apart; exit status 1 when any is above the tolerance (default 1e-3).

--engine-defaults captures with taskvec's defaults (F16 KV cache, flash attention auto) instead, to measure what the
engine's own rounding costs; --engine-model/--engine-mmproj run taskvec on other files than the mirror (e.g. the
shipped Q8_0 exports against the trained model's F32 ones: the figure of the shipped precision); --break applies one deliberate mistake to the mirror (the check must then fail).
References are kept in --work (default: a temporary folder) under a key of the files, prompts and settings, and
reused by later runs with the same key.
"""
import argparse
import concurrent.futures
import dataclasses
import hashlib
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import mirror  # noqa: E402
from digest import sha256  # noqa: E402

TASKS_DIR = os.path.join(ROOT, "java", "src", "main", "resources", "org", "taskvec", "tasks", "builtin")
EMOJI_DIRS = [os.path.join(ROOT, "java", "target", "classes", "org", "taskvec", "tasks", "emoji")]


# --- deliberate mistakes: each must make the check fail ------------------------------------------------------

def _rope_halves(x, theta):   # GPT-NeoX / HF pairing (i, i + d/2) instead of llama.cpp's adjacent pairs
    n = theta.shape[-1]
    cos = torch.cos(theta).to(x.dtype)[None, :, None, :]
    sin = torch.sin(theta).to(x.dtype)[None, :, None, :]
    x0, x1 = x[..., :n], x[..., n:2 * n]
    return torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos, x[..., 2 * n:]], dim=-1)


def _cls_first(self, images):  # HF CLIP order: class token first (position 0), dropped by the projector
    c = self.c
    x = self.patch_embd(images).flatten(2).transpose(1, 2)
    x = torch.cat([self.class_embd.expand(x.shape[0], 1, -1), x], dim=1)
    x = self.pre_ln(x + self.position_embd.weight[:x.shape[1]])
    for il in range(c.n_blocks_run):
        x = self.blk[il](x)
    return x


def _break(name):
    if name == "rope-halves":
        mirror.apply_rope = _rope_halves
    elif name == "cls-first":
        mirror.ClipVision.forward = _cls_first
    elif name == "all-clip-layers":
        mirror.ClipConfig.n_blocks_run = property(lambda c: c.n_layer)
    elif name == "rms-eps-outside":
        mirror.rms_norm = lambda x, w, eps: x / (x.pow(2).mean(-1, keepdim=True).sqrt() + eps) * w
    elif name == "erf-gelu":
        mirror.gelu_ggml = lambda x: F.gelu(x)
    elif name == "no-image-norm":
        pre = mirror.preprocess
        mirror.preprocess = lambda im, c: pre(im, dataclasses.replace(c, image_mean=(0, 0, 0), image_std=(1, 1, 1)))
    else:
        sys.exit("unknown --break %s (%s)" % (name, ", ".join(BREAKS)))


# The first four must fail the check; the last two are smaller than its tolerance (on the tiny model: about 1e-5
# and 6e-4), kept to show where its resolution ends.
BREAKS = ["rope-halves", "cls-first", "all-clip-layers", "no-image-norm", "rms-eps-outside", "erf-gelu"]


# --- prompts ------------------------------------------------------------------------------------------------

def read_tasks():
    tasks = {}
    for f in sorted(os.listdir(TASKS_DIR)):
        if f.endswith(".tsv"):
            rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(TASKS_DIR, f), encoding="utf-8")][1:]
            tasks[f[:-4]] = [dict(split=r[0], input=r[1], output=r[2], image=r[3]) for r in rows if len(r) >= 4]
    if not tasks:
        sys.exit("no task files in %s" % TASKS_DIR)
    return tasks


def find_emoji(name, extra):
    for d in extra + EMOJI_DIRS:
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    sys.exit("emoji image %s not found in %s (build the jar: mvn -DskipTests package fetches them)"
             % (name, ", ".join(extra + EMOJI_DIRS)))


def make_prompts(n_text, n_images, image_dirs):
    """[(kind, prompt text with literal newlines, [image paths])], the same on every run."""
    tasks = read_tasks()
    names = sorted(tasks)
    rng = random.Random(20241024)
    out = []
    fmt = lambda x, y: "Q:%s\nA:%s\n\n" % (x, y)
    for i in range(n_text):
        items = tasks[names[i % len(names)]]
        val = [t for t in items if t["split"] == "val"]
        test = [t for t in items if t["split"] == "test"]
        q = test[(i // len(names)) % len(test)]
        ex = rng.sample(val, 5)
        out.append(("text", "".join(fmt(e["input"], e["output"]) for e in ex) + "Q:%s\nA:" % q["input"], []))
    for i in range(n_images):
        items = tasks[names[i % len(names)]]
        val = [t for t in items if t["split"] == "val"]
        test = [t for t in items if t["split"] == "test"]
        q = test[(i // len(names) + 3) % len(test)]
        ex = rng.sample(val, i % 3)
        out.append(("image", "".join(fmt(e["input"], e["output"]) for e in ex) + "Q:<__media__>\nA:",
                    [find_emoji(q["image"], image_dirs)]))
    return out


# --- taskvec's values ---------------------------------------------------------------------------------------


def capture(cmd, model, mmproj, prompt, images, layers, positions, out, settings, logits=None, cached=False):
    if cached:  # an earlier run with the same key wrote it
        with open(out[:-4] + ".json") as f:
            return np.load(out), json.load(f)
    args = cmd + ["capture", "--model", model, "--mmproj", mmproj, "--prompt", prompt.replace("\n", "\\n"),
                  "--layers", layers, "--positions", positions, "--out", out, "--threads", "2"] + settings
    for im in images:
        args += ["--image", im]
    if logits:
        args += ["--logits", logits]
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    if r.returncode != 0:
        sys.exit("taskvec capture failed (exit %d): %s\n%s" % (r.returncode, " ".join(shlex.quote(a) for a in args),
                                                              r.stderr[-3000:]))
    with open(out[:-4] + ".json") as f:
        return np.load(out), json.load(f)


def reference(i, kind, prompt, images, cmd, model, mmproj, n_layer, folder, settings):
    """taskvec's residuals {layer: (positions, [n_pos, width])}, tokens per position (None: image), logits."""
    base = os.path.join(folder, "p%03d" % i)
    done = base + ".done"
    cached = os.path.exists(done)
    lg = base + "-logits.npy"
    if kind == "text":
        acts, info = capture(cmd, model, mmproj, prompt, images, "all", "all", base + ".npy", settings, lg, cached)
        resid = {l: (info["positions"], acts[j]) for j, l in enumerate(info["layers"])}
    else:  # the last block's residual only at text positions
        acts, info = capture(cmd, model, mmproj, prompt, images, "0-%d" % (n_layer - 2), "all", base + ".npy",
                             settings, cached=cached)
        text_pos = [t["position"] for t in info["tokens"] if t["token"] is not None]
        last, linfo = capture(cmd, model, mmproj, prompt, images, str(n_layer - 1),
                              ",".join(map(str, text_pos)), base + "-last.npy", settings, lg, cached)
        resid = {l: (info["positions"], acts[j]) for j, l in enumerate(info["layers"])}
        resid[n_layer - 1] = (linfo["positions"], last[0])
    open(done, "w").close()
    tokens = [t["token"] for t in sorted(info["tokens"], key=lambda t: t["position"])]
    return resid, tokens, np.load(lg)


# --- the mirror's values ------------------------------------------------------------------------------------

def segments(tokens, images, projector):
    """Token runs and preprocessed images in prompt order, from taskvec's layout (None = image position)."""
    segs, run, i, k = [], [], 0, 0
    while i < len(tokens):
        if tokens[i] is None:
            if run:
                segs.append(run)
                run = []
            n = projector.c.n_patches
            if any(t is not None for t in tokens[i:i + n]):
                sys.exit("an image run in taskvec's layout is not %d positions long" % n)
            segs.append(mirror.preprocess(images[k], projector.c))
            k += 1
            i += n
        else:
            run.append(tokens[i])
            i += 1
    if run:
        segs.append(run)
    return segs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("mmproj")
    ap.add_argument("--text", type=int, default=20)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--tolerance", type=float, default=1e-3)
    ap.add_argument("--taskvec", default=os.path.join(ROOT, "taskvec"), help="command that runs taskvec")
    ap.add_argument("--image-dir", action="append", default=[], help="folder of the emoji images")
    ap.add_argument("--work", help="folder for taskvec's outputs (kept and reused)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--engine-defaults", action="store_true", help="taskvec's default KV type and flash attention")
    ap.add_argument("--break", dest="mistake", choices=BREAKS, help="a deliberate mistake in the mirror")
    ap.add_argument("--engine-model", help="taskvec runs this model file instead of MODEL (the mirror reads MODEL)")
    ap.add_argument("--engine-mmproj", help="taskvec runs this projector file instead of MMPROJ")
    a = ap.parse_args()
    engine_model, engine_mmproj = a.engine_model or a.model, a.engine_mmproj or a.mmproj
    if a.text < 0 or a.images < 0 or a.text + a.images == 0:
        sys.exit("nothing to check")
    if a.mistake:
        _break(a.mistake)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    dtype = getattr(torch, a.dtype)
    llama, projector = mirror.load_gguf(a.model, a.mmproj, dtype=dtype)
    n_layer = llama.c.n_layer
    prompts = make_prompts(a.text, a.images, a.image_dir)
    settings = [] if a.engine_defaults else ["--kv-type", "f32", "--flash-attn", "off"]

    key = hashlib.sha256(json.dumps([sha256(engine_model), sha256(engine_mmproj), prompts, settings,
                                     [sha256(p) for _, _, ims in prompts for p in ims]]).encode()).hexdigest()[:16]
    work = a.work or tempfile.mkdtemp(prefix="fidelity-")
    folder = os.path.join(work, "refs-" + key)
    os.makedirs(folder, exist_ok=True)
    cmd = shlex.split(a.taskvec)
    ref = lambda ip: reference(ip[0], ip[1][0], ip[1][1], ip[1][2], cmd, engine_model, engine_mmproj, n_layer, folder,
                             settings)
    refs = [ref((0, prompts[0]))]  # alone first: the ./taskvec launcher may (re)build the jar
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        refs += list(ex.map(ref, list(enumerate(prompts))[1:]))

    worst = {"text": {}, "image": {}}
    n_pos = {"text": [], "image": []}
    for (kind, prompt, images), (resid, tokens, ref_logits) in zip(prompts, refs):
        with torch.no_grad():
            out = mirror.forward(llama, projector, segments(tokens, images, projector))
        n_pos[kind].append(len(tokens))
        errs = {}
        for l, (positions, want) in resid.items():
            got = out.resid[l][positions].double().numpy()
            errs["layer %d" % l] = float(np.abs(got - want).max() / np.abs(want).max())
        got = out.logits[-1].double().numpy()
        errs["logits"] = float(np.abs(got - ref_logits).max() / np.abs(ref_logits).max())
        for k, e in errs.items():
            worst[kind][k] = max(worst[kind].get(k, 0.0), e)

    rows = ["layer %d" % l for l in range(n_layer)] + ["logits"]
    if (engine_model, engine_mmproj) != (a.model, a.mmproj):
        print("taskvec on %s + %s" % (engine_model, engine_mmproj))
    print("fidelity: %s + %s (%s), mirror %s%s" % (a.model, a.mmproj,
                                                   "taskvec defaults" if a.engine_defaults
                                                   else "taskvec --kv-type f32 --flash-attn off",
                                                   a.dtype, ", broken: " + a.mistake if a.mistake else ""))
    for kind in ("text", "image"):
        if n_pos[kind]:
            print("%s prompts: %d (%d-%d positions)" % (kind, len(n_pos[kind]), min(n_pos[kind]), max(n_pos[kind])))
    print("worst relative error   %12s %12s" % ("text", "image"))
    for r in rows:
        print("%-22s %12s %12s" % (r, *("%.3g" % worst[k][r] if r in worst[k] else "-" for k in ("text", "image"))))
    total = max(v for k in worst for v in worst[k].values())
    ok = total <= a.tolerance
    print("worst %.3g (tolerance %g): %s" % (total, a.tolerance, "PASS" if ok else "FAIL"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"model": a.model, "mmproj": a.mmproj, "engine_model": engine_model,
                       "engine_mmproj": engine_mmproj, "engine_defaults": a.engine_defaults,
                       "dtype": a.dtype, "break": a.mistake, "prompts": {k: len(v) for k, v in n_pos.items()},
                       "worst": worst, "overall": total, "tolerance": a.tolerance, "pass": ok}, f, indent=1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
