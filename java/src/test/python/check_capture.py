#!/usr/bin/env python3
"""Checks a `taskvec capture` output with numpy alone: loads acts.npy and acts.json, parses the GGUF model file
itself, runs an independent float64 forward pass of the llama architecture (RMSNorm, normal RoPE, grouped-query
causal attention, SwiGLU) over the captured tokens, and compares every captured layer and position.

usage: check_capture.py MODEL.gguf ACTS.npy [TOLERANCE]   (exit 0 when the max relative error per layer <= TOLERANCE)
"""
import json
import struct
import sys

import numpy as np

TYPES = {0: ("f4", 4), 1: ("f2", 2)}  # the generated test models are F32; F16 also read


def read_gguf(path):
    with open(path, "rb") as f:
        data = f.read()
    off = 0

    def take(fmt):
        nonlocal off
        v = struct.unpack_from("<" + fmt, data, off)
        off += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        n = take("Q")
        nonlocal off
        s = data[off:off + n].decode("utf-8")
        off += n
        return s

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et = take("I")
            n = take("Q")
            return [value(et) for _ in range(n)]
        return take(scalar[t])

    assert data[:4] == b"GGUF", "not a GGUF file"
    off = 4
    take("I")
    n_tensors = take("Q")
    n_kv = take("Q")
    meta = {}
    for _ in range(n_kv):
        k = string()
        meta[k] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        nd = take("I")
        dims = [take("Q") for _ in range(nd)]
        t = take("I")
        o = take("Q")
        infos.append((name, dims, t, o))
    align = meta.get("general.alignment", 32)
    start = (off + align - 1) // align * align
    tensors = {}
    for name, dims, t, o in infos:
        dt, size = TYPES[t]
        count = int(np.prod(dims))
        arr = np.frombuffer(data, dtype="<" + dt, count=count, offset=start + o).astype(np.float64)
        tensors[name] = arr.reshape(list(reversed(dims)))  # numpy order: slowest first
    return meta, tensors


def forward(meta, w, tokens):
    n_embd = meta["llama.embedding_length"]
    n_layer = meta["llama.block_count"]
    n_head = meta["llama.attention.head_count"]
    n_kv = meta["llama.attention.head_count_kv"]
    eps = meta["llama.attention.layer_norm_rms_epsilon"]
    base = meta.get("llama.rope.freq_base", 10000.0)
    hd = n_embd // n_head
    n = len(tokens)

    def rms(x, g):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g

    def rope(x, heads):  # x: [n, heads*hd]; adjacent pairs rotate
        x = x.reshape(n, heads, hd // 2, 2)
        i = np.arange(hd // 2)
        theta = np.arange(n)[:, None] * base ** (-2.0 * i / hd)[None, :]
        c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
        x0, x1 = x[..., 0], x[..., 1]
        return np.stack([x0 * c - x1 * s, x0 * s + x1 * c], axis=-1).reshape(n, heads * hd)

    x = w["token_embd.weight"][tokens]
    out = []
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for l in range(n_layer):
        p = "blk.%d." % l
        h = rms(x, w[p + "attn_norm.weight"])
        q = rope(h @ w[p + "attn_q.weight"].T, n_head)
        k = rope(h @ w[p + "attn_k.weight"].T, n_kv)
        v = h @ w[p + "attn_v.weight"].T
        z = np.zeros((n, n_embd))
        for hh in range(n_head):
            g = hh // (n_head // n_kv)
            s = q[:, hh * hd:(hh + 1) * hd] @ k[:, g * hd:(g + 1) * hd].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            z[:, hh * hd:(hh + 1) * hd] = s @ v[:, g * hd:(g + 1) * hd]
        x = x + z @ w[p + "attn_output.weight"].T
        h = rms(x, w[p + "ffn_norm.weight"])
        gate = h @ w[p + "ffn_gate.weight"].T
        x = x + ((gate / (1 + np.exp(-gate))) * (h @ w[p + "ffn_up.weight"].T)) @ w[p + "ffn_down.weight"].T
        out.append(x.copy())
    return out


def main():
    model, acts_path = sys.argv[1], sys.argv[2]
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
    acts = np.load(acts_path)
    with open(acts_path[:-4] + ".json") as f:
        info = json.load(f)
    assert list(acts.shape) == info["shape"], (acts.shape, info["shape"])
    meta, w = read_gguf(model)
    n = info["prompt_positions"]
    tokens = [None] * n
    for t in info["tokens"]:
        tokens[t["position"]] = t["token"]
    if any(t is None for t in tokens):
        sys.exit("capture all positions of a text prompt to check it (positions missing or images present)")
    ref = forward(meta, w, np.array(tokens))
    worst = 0.0
    for i, layer in enumerate(info["layers"]):
        want = ref[layer][info["positions"]]
        err = np.abs(acts[i] - want).max() / np.abs(want).max()
        worst = max(worst, err)
        print("layer %d: max relative error %.3g" % (layer, err))
    print("worst %.3g (tolerance %g)" % (worst, tol))
    sys.exit(0 if worst <= tol else 1)


if __name__ == "__main__":
    main()
