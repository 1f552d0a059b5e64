#!/usr/bin/python3
"""Trains the model organism: a small llama-architecture VLM (LLaVA-1.5 layout: CLIP encoder + mlp projector in front
of a text model) that taskvec runs through llama.cpp/libmtmd, so the paper's effect is measured end to end.

usage: /usr/bin/python3 organism/train.py [--out DIR] [--smoke] [--stage1-steps N] [--stage2-steps N] [--batch B] ...

One command does everything, with fixed seeds (the same arguments give the same files):
  1. data: `taskvec synth --shape organism` writes the template (model.gguf, mmproj.gguf: the organism's tensors and
     metadata, random weights); `taskvec organism-data` writes stage 1 (text) and stage 2 (image) episodes, and a
     small evaluation set of each with another seed.
  2. model: organism/mirror.py's modules (exactly llama.cpp's graph; parameter names == GGUF tensor names) are built
     from the template, then re-initialised with a seeded init.
  3. stage 1 (organism-llm): the text model alone on text ICL + instruction episodes, loss on the answers.
  4. stage 2 (organism-vlm): encoder + projector + text model on image episodes mixed with text replay.
     AdamW, warm-up then cosine; batches of whole episodes padded to the longest; the output matrix (32,000 rows)
     is applied only where a target is predicted.
  5. export: GGUF files written from the template's metadata with the trained tensors, with gguf-py (in the llama.cpp
     source tree): F32 (`*-f32.gguf`, for organism/fidelity.py) and F16 (`llm.gguf`, `model.gguf`, `mmproj.gguf`,
     the files to ship), and manifest.json.
  6. evaluation (PyTorch): exact-match accuracy of the query's answer (greedy = every answer token the argmax under
     teacher forcing), per episode type, on the evaluation episodes -> eval.json.

Then check the export against taskvec:
  /usr/bin/python3 organism/fidelity.py OUT/model-f32.gguf OUT/mmproj-f32.gguf
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import mirror  # noqa: E402
from digest import sha256  # noqa: E402

# ---------------------------------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------------------------------

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--out", default=os.path.join(HERE, "build"), help="output folder (default organism/build)")
ap.add_argument("--smoke", action="store_true", help="a few dozen steps end to end (checks the pipeline)")
ap.add_argument("--stage1-steps", type=int, default=800)
ap.add_argument("--stage2-steps", type=int, default=1200)
ap.add_argument("--batch", type=int, default=64, help="episodes per step")
ap.add_argument("--layers", type=int, default=4, help="text-model layers (the organism shape has 4)")
ap.add_argument("--lr", type=float, default=2e-3)
ap.add_argument("--warmup", type=int, default=50)
ap.add_argument("--weight-decay", type=float, default=0.1)
ap.add_argument("--no-image-icl", action="store_true", help="stage 2 without image in-context episodes (ablation)")
ap.add_argument("--freeze-encoder", action="store_true", help="keep the random CLIP encoder; train the projector")
ap.add_argument("--eval-episodes", type=int, default=600)
ap.add_argument("--seed", type=int, default=1234)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--taskvec", default=os.path.join(ROOT, "taskvec"))
ap.add_argument("--stop-after", choices=["stage1"], help="stop after stage 1 (exports llm.gguf only)")
args = ap.parse_args()
if args.smoke:
    args.stage1_steps, args.stage2_steps, args.batch, args.warmup, args.eval_episodes = 30, 30, 16, 5, 120

torch.set_num_threads(args.threads)
torch.set_flush_denormal(True)
torch.manual_seed(args.seed)
os.makedirs(args.out, exist_ok=True)
DATA = os.path.join(args.out, "data")
LOG = open(os.path.join(args.out, "train.log"), "a")


def log(msg):
    print(msg, file=sys.stderr, flush=True)
    LOG.write(msg + "\n")
    LOG.flush()


log("== train.py %s" % " ".join(sys.argv[1:]))

# ---------------------------------------------------------------------------------------------------------------
# 1. template and episodes, written by taskvec (skipped when already there)
# ---------------------------------------------------------------------------------------------------------------


def taskvec(*a):
    cmd = [args.taskvec] + [str(x) for x in a]
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, stdout=sys.stderr)


template = os.path.join(DATA, "template" if args.layers == 4 else "template-%dlayers" % args.layers)
if not os.path.exists(os.path.join(template, "mmproj.gguf")):
    taskvec("synth", "--shape", "organism", "--layers", args.layers, "--out", template)


def dataset(stage, episodes, seed, name):
    d = os.path.join(DATA, "%s-%d-%d%s" % (name, episodes, seed, "-noimgicl" if args.no_image_icl and stage == 2 else ""))
    if not os.path.exists(os.path.join(d, "manifest.json")):
        taskvec("organism-data", "--out", d, "--stage", stage, "--episodes", episodes, "--seed", seed,
                *(["--no-image-icl"] if args.no_image_icl and stage == 2 else []))
    return d


# enough episodes for every step to see new ones (capped: they repeat past it)
dirs = {
    "s1": dataset(1, min(args.stage1_steps * args.batch, 100000), 1, "stage1"),
    "s1-eval": dataset(1, args.eval_episodes, 1001, "stage1-eval"),
}


class Episodes:
    """One organism-data folder: episode e is tokens[off[e]:off[e+1]], images at -1-k, targets where mask == 1."""

    def __init__(self, d):
        self.dir = d
        self.manifest = json.load(open(os.path.join(d, "manifest.json")))
        self.tokens = np.load(os.path.join(d, "tokens.npy"))
        self.mask = np.load(os.path.join(d, "loss_mask.npy"))
        self.off = np.load(os.path.join(d, "episode_offsets.npy"))
        self.info = np.load(os.path.join(d, "episodes.npy"))
        self.images = np.load(os.path.join(d, "images.npy"))
        slots = np.load(os.path.join(d, "image_slots.npy")).reshape(-1, 4)
        self.slots = [[] for _ in range(len(self.off) - 1)]   # per episode: (start, length, image)
        for e, s, n, im in slots:
            self.slots[e].append((int(s), int(n), int(im)))
        self.types = self.manifest["episode_types"]
        self.tasks = self.manifest["tasks"]

    def __len__(self):
        return len(self.off) - 1


# ---------------------------------------------------------------------------------------------------------------
# 2. the model: the mirror's modules, shaped by the template, re-initialised
# ---------------------------------------------------------------------------------------------------------------

llama, projector = mirror.load_gguf(os.path.join(template, "model.gguf"), os.path.join(template, "mmproj.gguf"))
assert llama.c.tied_output, "the organism's template has a tied output embedding"
N_IMG = projector.c.n_patches


def init_weights(module, n_layer, seed):
    """Seeded init: norms 1, biases 0, matrices N(0, 0.02), residual-branch outputs N(0, 0.02 / sqrt(2 n_layer))."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(module.named_parameters()):
            if name.endswith(".bias"):
                p.zero_()
            elif p.dim() == 1 and ("norm" in name or "ln" in name):
                p.fill_(1.0)
            else:
                std = 0.02 / math.sqrt(2 * n_layer) if name.split(".")[-2] in ("attn_output", "ffn_down", "attn_out") \
                    else 0.02
                p.copy_(torch.randn(p.shape, generator=g) * std)


init_weights(llama, llama.c.n_layer, args.seed)
init_weights(projector, projector.c.n_layer, args.seed + 1)
llama.train()
projector.train()
log("model: llama width %d, %d layers, %d heads, ffn %d, vocab %d (tied), %.2fM parameters; CLIP %dpx/%dpx -> %d "
    "tokens, width %d, %d blocks (%d run), ffn %d, %.2fM parameters"
    % (llama.c.n_embd, llama.c.n_layer, llama.c.n_head, llama.c.n_ff, llama.c.n_vocab,
       sum(p.numel() for p in llama.parameters()) / 1e6, projector.c.image_size, projector.c.patch_size, N_IMG,
       projector.c.n_embd, projector.c.n_layer, projector.c.n_blocks_run, projector.c.n_ff,
       sum(p.numel() for p in projector.parameters()) / 1e6))

# ---------------------------------------------------------------------------------------------------------------
# batches: episodes padded to the longest, image rows put in at their slots, logits only at targets
# ---------------------------------------------------------------------------------------------------------------

_pixels = {}


def pixels(ds, idxs):
    """The preprocessed images [n, 3, S, S] (libmtmd's resize and normalisation, cached)."""
    out = []
    for i in idxs:
        key = (ds.dir, i)
        if key not in _pixels:
            _pixels[key] = mirror.preprocess(np.ascontiguousarray(ds.images[i]), projector.c)
        out.append(_pixels[key])
    return torch.stack(out)


def batch_inputs(ds, eps):
    """(input rows [B, T, n_embd], mask [B, T] bool of target positions, tokens [B, T])."""
    seqs = [ds.tokens[ds.off[e]:ds.off[e + 1]] for e in eps]
    T = max(len(s) for s in seqs)
    tok = np.zeros((len(eps), T), dtype=np.int64)
    tgt = np.zeros((len(eps), T), dtype=bool)
    for b, (e, s) in enumerate(zip(eps, seqs)):
        tok[b, :len(s)] = np.maximum(s, 0)
        tgt[b, :len(s)] = ds.mask[ds.off[e]:ds.off[e + 1]] == 1
    tok = torch.from_numpy(tok)
    x = llama.token_embd(tok)
    used = sorted({im for e in eps for _, _, im in ds.slots[e]})
    if used:
        rows = projector(pixels(ds, used))                          # [U, N_IMG, n_embd]
        where = {im: u for u, im in enumerate(used)}
        dst, src = [], []
        for b, e in enumerate(eps):
            for start, n, im in ds.slots[e]:
                assert n == N_IMG
                dst += [b * T + start + j for j in range(n)]
                src += [where[im] * N_IMG + j for j in range(n)]
        flat = x.reshape(len(eps) * T, -1).index_copy(0, torch.tensor(dst), rows.reshape(-1, rows.shape[-1])[src])
        x = flat.reshape(len(eps), T, -1)
    return x, torch.from_numpy(tgt), tok


def hidden(x):
    """The text model up to output_norm (the logits are taken only where needed)."""
    theta = mirror.rope_angles(torch.arange(x.shape[1]), llama.c.n_rot or llama.c.head_dim, llama.c.rope_base)
    for block in llama.blk:
        x = block(x, theta)
    return llama.output_norm(x)


def loss_on(ds, eps):
    x, tgt, tok = batch_inputs(ds, eps)
    h = hidden(x)
    pred = tgt[:, 1:]                                               # position p-1 predicts the target at p
    logits = F.linear(h[:, :-1][pred], llama.token_embd.weight)
    return F.cross_entropy(logits, tok[:, 1:][pred]), int(pred.sum())


# ---------------------------------------------------------------------------------------------------------------
# 3-4. training
# ---------------------------------------------------------------------------------------------------------------


def progress(stage, step, steps, loss, t0):
    done = step / steps
    rate = (time.time() - t0) / max(step, 1)
    bar = "#" * int(30 * done) + "." * (30 - int(30 * done))
    eta = rate * (steps - step)
    sys.stderr.write("\r%s [%s] %d/%d loss %.3f  %.2f s/step  eta %d:%02d " % (
        stage, bar, step, steps, loss, rate, eta // 60, eta % 60))
    sys.stderr.flush()


def train(stage, ds, params, steps, seed):
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.95), weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, args.warmup))
                                              * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)) * 0.9 + 0.1)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ds))
    t0, smooth, losses = time.time(), None, []
    for step in range(steps):
        i = (step * args.batch) % len(order)
        if i + args.batch > len(order):
            order, i = rng.permutation(len(ds)), 0
        loss, n = loss_on(ds, order[i:i + args.batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        smooth = loss.item() if smooth is None else 0.95 * smooth + 0.05 * loss.item()
        losses.append(loss.item())
        progress(stage, step + 1, steps, smooth, t0)
        if (step + 1) % 100 == 0 or step + 1 == steps:
            LOG.write("%s step %d loss %.4f (smoothed %.4f) %.2f s/step\n"
                      % (stage, step + 1, loss.item(), smooth, (time.time() - t0) / (step + 1)))
            LOG.flush()
    sys.stderr.write("\n")
    secs = time.time() - t0
    log("%s: %d steps, batch %d, %.1f s (%.2f s/step), final loss %.4f"
        % (stage, steps, args.batch, secs, secs / max(steps, 1), float(np.mean(losses[-20:]))))
    return {"steps": steps, "batch": args.batch, "seconds": round(secs, 1), "s_per_step": round(secs / max(steps, 1), 3),
            "final_loss": float(np.mean(losses[-20:]))}


@torch.no_grad()
def evaluate(ds, chunk=32):
    """Exact match of each episode's query answer (its target span, the closing newline included), per type and
    per task; also per type and number of examples for the in-context types."""
    was = llama.training, projector.training
    llama.eval()
    projector.eval()
    hits = {}
    for c in range(0, len(ds), chunk):
        eps = list(range(c, min(c + chunk, len(ds))))
        x, _, tok = batch_inputs(ds, eps)
        pred = F.linear(hidden(x), llama.token_embd.weight).argmax(-1)
        for b, e in enumerate(eps):
            typ, task, n_ex, _, _, qs, qe, _ = ds.info[e]
            ok = bool((pred[b, qs - 1:qe - 1] == tok[b, qs:qe]).all())
            for key in (ds.types[typ], "%s/%s" % (ds.types[typ], ds.tasks[task]),
                        "%s/%d-examples" % (ds.types[typ], n_ex) if "icl" in ds.types[typ] else None):
                if key:
                    hits.setdefault(key, []).append(ok)
    llama.train(was[0])
    projector.train(was[1])
    return {k: {"accuracy": round(float(np.mean(v)), 4), "n": len(v)} for k, v in sorted(hits.items())}


def report(name, res):
    log("%s accuracy: %s" % (name, ", ".join("%s %.3f (%d)" % (k, v["accuracy"], v["n"])
                                             for k, v in res.items() if "/" not in k)))


# ---------------------------------------------------------------------------------------------------------------
# 5. export: the template's metadata, the trained tensors
# ---------------------------------------------------------------------------------------------------------------

# gguf-py from the llama.cpp source the native build fetched into taskvec's cache (as cmake/build-natives.sh finds it)
CACHE = os.environ.get("TASKVEC_CACHE_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "taskvec")
PIN = open(os.path.join(ROOT, "cmake", "llama-cpp-pin.cmake")).read()
PINNED = "llama.cpp-%s-%s" % tuple(re.search(r'set\(%s "([^"]*)"' % k, PIN).group(1)
                                   for k in ("TASKVEC_LLAMA_CPP_TAG", "TASKVEC_LLAMA_CPP_COMMIT"))
GGUF_PY = os.path.join(CACHE, "src", PINNED, "gguf-py")
if not os.path.isdir(GGUF_PY):
    sys.exit("train.py: no gguf-py in %s (the pinned llama.cpp source; build the natives first: mvn package)" % GGUF_PY)
sys.path.insert(0, GGUF_PY)
import gguf  # noqa: E402

KEEP_F32 = ("v.position_embd.weight", "v.class_embd")


def export(src, module, path, f16, name, description):
    """src's metadata (general.* renamed, file type set) and module's tensors (state_dict names == GGUF names);
    F16: every matrix F16, vectors (norms, biases) and the CLIP position/class embeddings F32."""
    r = gguf.GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(path, arch)
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        val = {"general.name": name, "general.description": description,
               "general.file_type": 1 if f16 else 0}.get(f.name, f.contents())
        sub = f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(f.name, val, f.types[0], sub_type=sub)
    state = {k: v.detach().float().numpy() for k, v in module.state_dict().items()}
    names = [t.name for t in r.tensors]
    assert set(names) == set(state), (set(names) ^ set(state))
    for n in names:
        a = np.ascontiguousarray(state[n])
        if f16 and a.ndim >= 2 and n not in KEEP_F32:
            a = a.astype(np.float16)
        w.add_tensor(n, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()



def export_text(stem, desc):
    for f16 in (False, True):
        export(os.path.join(template, "model.gguf"), llama,
               os.path.join(args.out, stem + ("" if f16 else "-f32") + ".gguf"), f16, "taskvec-organism-" + stem, desc)


# ---------------------------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------------------------

results = {"args": vars(args), "stages": {}, "eval": {}}
s1, s1_eval = Episodes(dirs["s1"]), Episodes(dirs["s1-eval"])

# stage 1 is kept (OUT/stage1.pt) and reused by a later run with the same stage-1 settings (e.g. the ablation)
ckpt = os.path.join(args.out, "stage1.pt")
key = {k: getattr(args, k) for k in ("stage1_steps", "batch", "lr", "warmup", "weight_decay", "seed")}
if args.layers != 4:
    key["layers"] = args.layers
saved = torch.load(ckpt) if os.path.exists(ckpt) else None
if saved is not None and saved["key"] == key:
    log("stage 1: reusing %s" % ckpt)
    llama.load_state_dict(saved["llama"])
    results["stages"]["stage1"] = saved["result"]
else:
    log("stage 1 (organism-llm): %d episodes from %s" % (len(s1), s1.dir))
    results["stages"]["stage1"] = train("stage 1", s1, list(llama.parameters()), args.stage1_steps, args.seed + 10)
    torch.save({"key": key, "llama": llama.state_dict(), "result": results["stages"]["stage1"]}, ckpt)
results["eval"]["llm/stage1-eval"] = evaluate(s1_eval)
report("llm on text episodes", results["eval"]["llm/stage1-eval"])
json.dump(results, open(os.path.join(args.out, "eval.json"), "w"), indent=1)   # rewritten after stage 2
export_text("llm", "model organism stage 1 (text LLM), trained by organism/train.py")

if args.stop_after != "stage1":
    dirs["s2"] = dataset(2, min(max(args.stage2_steps, 1) * args.batch, 100000), 2, "stage2")
    dirs["s2-eval"] = dataset(2, args.eval_episodes, 1002, "stage2-eval")
    s2, s2_eval = Episodes(dirs["s2"]), Episodes(dirs["s2-eval"])
    log("stage 2 (organism-vlm): %d episodes from %s" % (len(s2), s2.dir))
    if args.freeze_encoder:
        for p in projector.v.parameters():
            p.requires_grad_(False)
    params = [p for p in list(llama.parameters()) + list(projector.parameters()) if p.requires_grad]
    results["stages"]["stage2"] = train("stage 2", s2, params, args.stage2_steps, args.seed + 20)
    results["eval"]["vlm/stage2-eval"] = evaluate(s2_eval)
    report("vlm on image and replay episodes", results["eval"]["vlm/stage2-eval"])
    results["eval"]["vlm/stage1-eval"] = evaluate(s1_eval)
    report("vlm on text episodes", results["eval"]["vlm/stage1-eval"])
    export_text("model", "model organism stage 2 (VLM text model), trained by organism/train.py")
    for f16 in (False, True):
        export(os.path.join(template, "mmproj.gguf"), projector,
               os.path.join(args.out, "mmproj" + ("" if f16 else "-f32") + ".gguf"), f16,
               "taskvec-organism-mmproj", "model organism stage 2 vision encoder + mlp projector, organism/train.py")

json.dump(results, open(os.path.join(args.out, "eval.json"), "w"), indent=1)
shipped = [f for f in ("llm.gguf", "model.gguf", "mmproj.gguf") if os.path.exists(os.path.join(args.out, f))]
manifest = {
    "format": "taskvec model organism",
    "shape": "organism (taskvec synth --shape organism)",
    "args": vars(args),
    "data": {k: json.load(open(os.path.join(d, "manifest.json")))["data_fingerprint"] for k, d in dirs.items()},
    "files": {f: {"type": "F16", "bytes": os.path.getsize(os.path.join(args.out, f)),
                  "sha256": sha256(os.path.join(args.out, f))} for f in shipped},
    "shipped_bytes": sum(os.path.getsize(os.path.join(args.out, f)) for f in shipped),
    "stages": results["stages"],
    "eval": {k: {t: v for t, v in r.items() if "/" not in t} for k, r in results["eval"].items()},
}
json.dump(manifest, open(os.path.join(args.out, "manifest.json"), "w"), indent=1)
log("wrote %s (%.1f MB shipped); check: /usr/bin/python3 organism/fidelity.py %s %s"
    % (", ".join(shipped), manifest["shipped_bytes"] / 1e6, os.path.join(args.out, "model-f32.gguf"),
       os.path.join(args.out, "mmproj-f32.gguf")))
