#!/usr/bin/env python3
"""Reads and checks a dataset written by `taskvec organism-data`, with numpy alone.

    python3 check_episodes.py DIR [--show N]

`load(DIR)` returns (manifest, arrays, items): arrays maps each .npy file's stem to its array (memory-mapped).
The checks: every file's SHA-256 and the data fingerprint; dtypes and shapes as the manifest says; episodes are
contiguous and start with BOS; the loss mask is exactly the target spans of examples.npy and episodes.npy; image
slots cover exactly the negative tokens (-1 - k for the episode's k-th image) and have the manifest's length; no
episode has text examples with an image query; counts per type and query splits as the manifest says.
A trainer places image k of episode e (projected to `length` embeddings) at tokens[offsets[e] + start:][:length].
"""
import hashlib
import json
import os
import sys

import numpy as np


def load(d):
    with open(os.path.join(d, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    with open(os.path.join(d, "items.json"), encoding="utf-8") as f:
        items = json.load(f)
    arrays = {name[:-4]: np.load(os.path.join(d, name), mmap_mode="r")
              for name in manifest["files"] if name.endswith(".npy")}
    return manifest, arrays, items


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check(d):
    m, a, items = load(d)
    lines = ""
    for name in sorted(m["files"]):
        digest = sha256(os.path.join(d, name))
        assert digest == m["files"][name]["sha256"], name
        lines += f"{digest}  {name}\n"
        if name.endswith(".npy"):
            arr = a[name[:-4]]
            assert str(arr.dtype) == m["files"][name]["dtype"], (name, arr.dtype)
            assert list(arr.shape) == m["files"][name]["shape"], (name, arr.shape)
    assert hashlib.sha256(lines.encode()).hexdigest() == m["data_fingerprint"], "data fingerprint"

    tokens, mask, off = a["tokens"], a["loss_mask"], a["episode_offsets"]
    ep, ex, sl = a["episodes"], a["examples"], a["image_slots"]
    col = {c: i for i, c in enumerate(m["columns"]["episodes.npy"])}
    n = len(off) - 1
    assert n == m["episodes"] == ep.shape[0]
    assert off[0] == 0 and off[-1] == len(tokens) and (np.diff(off) > 0).all()
    assert (tokens[off[:-1]] == m["vocabulary"]["bos"]).all(), "every episode starts with BOS"

    expected = np.zeros(len(tokens), dtype=np.uint8)
    for e in range(n):
        expected[off[e] + ep[e, col["query_target_start"]]:off[e] + ep[e, col["query_target_end"]]] = 1
    for e, _item, _split, start, end in ex:
        assert start < end
        expected[off[e] + start:off[e] + end] = 1
    assert (expected == mask).all(), "the loss mask is the target spans"
    assert int(mask.sum()) == m["target_tokens"]

    covered = np.zeros(len(tokens), dtype=bool)
    k_of = {}
    for e, start, length, image in sl:
        k = k_of.get(e, 0)
        k_of[e] = k + 1
        seg = tokens[off[e] + start:off[e] + start + length]
        assert (seg == -1 - k).all(), f"slot {k} of episode {e}"
        assert length == m["image_tokens_per_image"] and 0 <= image < a["images"].shape[0]
        covered[off[e] + start:off[e] + start + length] = True
    assert (covered == (np.asarray(tokens) < 0)).all(), "slots cover exactly the image positions"
    assert not (mask.astype(bool) & covered).any(), "no target at an image position"

    n_images = ep[:, col["n_images"]]
    n_examples = ep[:, col["n_examples"]]
    assert ((n_images == 0) | (n_images == n_examples + 1)).all(), "text examples with an image query"
    assert (np.bincount(sl[:, 0], minlength=n) == n_images).all() if len(sl) else (n_images == 0).all()

    types = m["episode_types"]
    counts = np.bincount(ep[:, col["type"]], minlength=len(types))
    assert {t: int(c) for t, c in zip(types, counts)} == m["counts"], "counts per type"
    splits = m["splits"]
    for t_index, t in enumerate(types):
        mine = ep[ep[:, col["type"]] == t_index]
        got = {s: int((mine[:, col["query_split"]] == i).sum()) for i, s in enumerate(splits)}
        assert got == m["query_splits"][t], ("query splits", t, got)
    item_split = np.array([splits.index(i["split"]) for i in items["items"]])
    assert (item_split[ep[:, col["query_item"]]] == ep[:, col["query_split"]]).all()
    if len(ex):
        assert (item_split[ex[:, 1]] == ex[:, 2]).all()
    return m, a, items


def show(m, a, items, e):
    tokens, off, ep = a["tokens"], a["episode_offsets"], a["episodes"]
    t = tokens[off[e]:off[e + 1]]
    mask = a["loss_mask"][off[e]:off[e + 1]]
    kind = m["episode_types"][ep[e, 0]]
    print(f"episode {e}: {kind}, task {m['tasks'][ep[e, 1]]}, {ep[e, 2]} examples, query "
          f"{items['items'][ep[e, 3]]['input']!r} ({m['splits'][ep[e, 4]]}), {len(t)} tokens")
    print("  tokens:", " ".join(f"[{x}]" if y else str(x) for x, y in zip(t, mask)))


def main(argv):
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    m, a, items = check(argv[0])
    for e in range(int(argv[argv.index("--show") + 1]) if "--show" in argv else 0):
        show(m, a, items, e)
    print(f"ok: {m['episodes']} episodes, {len(a['tokens'])} tokens, {m['target_tokens']} targets, "
          f"{len(a['image_slots'])} image slots, counts {m['counts']}, fingerprint {m['data_fingerprint']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
