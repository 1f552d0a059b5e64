#!/usr/bin/env python3
"""The paper's evaluation loop done "the official way", to time against our engine.

HF transformers LLaVA-1.5 + PyTorch forward hooks, no KV cache: every forward re-runs the whole prompt, image
tower included, as the task-vector reference code does. The workload (same JSON file and key names as
org.taskvec.xpatch.PaperWorkload on the Java side) is:
  extraction      - text prompts, every decoder layer read at the last position, mean = one task vector per layer;
  patched queries - "Q:<image>\\nA:" queries, patch_layer's vector written at the final ":", greedy new_tokens;
  layer sweep     - sweep_queries queries, patched at every layer in turn, one token each.
The model is built from a config with random weights (the GPU machine has no network): timings, not answers.

  python3 benchmarks/official_loop.py [--config 7b|llava-1.5-7b|tiny] [--workload FILE] [--json OUT] [--repeats 10]
"""
import argparse
import contextlib
import json
import statistics
import sys
import time

DEFAULT_WORKLOAD = {"extraction_prompts": 30, "extraction_tokens": 50, "patched_queries": 20, "new_tokens": 5,
                    "patch_layer": 15, "sweep_queries": 10, "sweep_layers": "all", "image_size": 336, "seed": 1}
IMAGE_TOKEN = 32000                    # LLaVA-1.5's <image> id
BOS, COLON = 1, 29901                  # LLaMA SPM ids
QUERY_HEAD, QUERY_TAIL = [BOS, 660, COLON], [13, 29909, COLON]  # "Q:" <image> "\nA:"

CONFIGS = {  # LLaVA-1.5-7B's architecture, and a tiny one (still 576 image tokens) for CPU self-tests
    "7b": (dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                image_size=336, patch_size=14, projection_dim=768, hidden_act="quick_gelu"),
           dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                num_key_value_heads=32, vocab_size=32064, max_position_embeddings=4096, rms_norm_eps=1e-5)),
    "tiny": (dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  image_size=336, patch_size=14, projection_dim=32, hidden_act="quick_gelu"),
             dict(hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=4, vocab_size=32064, max_position_embeddings=4096, rms_norm_eps=1e-5)),
}
CONFIGS["llava-1.5-7b"] = CONFIGS["7b"]  # the name benchmarks/gpu-check.sh passes


def fail(msg):
    sys.exit("official_loop.py: " + msg)


def progress(msg):
    print("[official_loop] " + msg, file=sys.stderr, flush=True)


def build_model(torch, tf, name, dev, dtype, seed):
    vision, text = CONFIGS[name]
    n_img = (vision["image_size"] // vision["patch_size"]) ** 2  # "default" strategy drops CLS
    cfg = tf.LlavaConfig(vision_config=tf.CLIPVisionConfig(**vision), text_config=tf.LlamaConfig(**text),
                         image_token_index=IMAGE_TOKEN, vision_feature_layer=-2, image_seq_length=n_img,
                         vision_feature_select_strategy="default", projector_hidden_act="gelu")
    for attr in ("image_token_id", "image_token_index"):  # the name moved between versions; one is an alias
        with contextlib.suppress(Exception):
            setattr(cfg, attr, IMAGE_TOKEN)
    torch.manual_seed(seed)
    # Allocate and random-init straight on the device in the target dtype: a 7B fp32 init on the CPU takes minutes.
    on_dev = torch.device(dev) if dev != "cpu" and hasattr(torch.device, "__enter__") else contextlib.nullcontext()
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with on_dev:
            model = tf.LlavaForConditionalGeneration(cfg)
    finally:
        torch.set_default_dtype(old)
    # .to(dev) only: a .to(dtype) would also cast fp32 buffers (rotary inv_freq) that from_pretrained keeps fp32
    return model.to(dev).eval(), n_img


def decoder_layers(model):
    # transformers >= 4.52 / 5.x: model.model.language_model.layers; older 4.x: model.language_model.model.layers
    for path in ("model.language_model.layers", "language_model.model.layers"):
        obj = model
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        if len(obj) > 0:
            return obj
    fail("cannot find the decoder layers of " + type(model).__name__)


def hidden(output):
    # decoder layers return a tuple (hidden, ...) in 4.x and a bare tensor in recent versions
    return output[0] if isinstance(output, tuple) else output


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="7b")
    ap.add_argument("--workload", help="workload JSON (missing keys take the defaults)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--repeats", type=int, default=10, help="timed repetitions per single step (after 2 warm-ups)")
    ap.add_argument("--device", help="default: cuda if available, else cpu")
    ap.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], help="default: float16 on cuda, else float32")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        fail("PyTorch is not installed (pip install torch)")
    try:
        import transformers as tf
    except ImportError:
        fail("transformers is not installed (pip install 'transformers>=4.47')")

    wl = dict(DEFAULT_WORKLOAD)
    if args.workload:
        with open(args.workload) as f:
            wl.update(json.load(f))
    dev = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, args.dtype or ("float16" if dev.startswith("cuda") else "float32"))
    cuda = dev.startswith("cuda")

    def sync():
        if cuda:
            torch.cuda.synchronize()

    progress(f"building {args.config} ({dtype}) on {dev}")
    t0 = time.perf_counter()
    model, n_img = build_model(torch, tf, args.config, dev, dtype, wl["seed"])
    sync()
    build_s = time.perf_counter() - t0
    layers = decoder_layers(model)
    n_layer = len(layers)
    if not 0 <= wl["patch_layer"] < n_layer:
        fail(f"patch_layer {wl['patch_layer']} is out of range 0..{n_layer - 1}")
    side = CONFIGS[args.config][0]["image_size"]
    if wl["image_size"] != side:
        fail(f"image_size {wl['image_size']} != the vision tower's {side}")
    sweep_layers = list(range(n_layer)) if wl["sweep_layers"] == "all" else [int(x) for x in wl["sweep_layers"]]

    # Inputs, seeded on the CPU so they do not depend on the device.
    g = torch.Generator().manual_seed(wl["seed"])
    extraction = [torch.tensor([[BOS] + torch.randint(100, 32000, (wl["extraction_tokens"] - 2,), generator=g)
                                .tolist() + [COLON]], device=dev) for _ in range(wl["extraction_prompts"])]
    query = torch.tensor([QUERY_HEAD + [IMAGE_TOKEN] * n_img + QUERY_TAIL], device=dev)
    pos = query.shape[1] - 1  # the final ":" of the query, where the task vector goes
    images = [torch.randn(1, 3, side, side, generator=g).to(dev, dtype)
              for _ in range(max(wl["patched_queries"], wl["sweep_queries"]))]
    forwards = [0]

    def last_logits(ids, pixels=None):
        forwards[0] += 1
        return model(input_ids=ids, pixel_values=pixels, use_cache=False).logits[0, -1]

    @contextlib.contextmanager
    def patched(layer, vec):
        def hook(module, inputs, output):
            hidden(output)[0, pos] = vec  # in place, as the reference code does; same structure goes back
            return output
        handle = layers[layer].register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    @contextlib.contextmanager
    def reading(which, sums):
        def make(i):
            def hook(module, inputs, output):
                sums[i] += hidden(output)[0, -1].float()
            return hook
        handles = [layers[i].register_forward_hook(make(i)) for i in which]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def generate(pixels, vec, layer, n):
        # Greedy without KV cache: each token is a full forward over prompt + generated so far, patch kept at pos.
        ids, out = query, []
        with patched(layer, vec):
            for _ in range(n):
                tok = int(last_logits(ids, pixels).argmax())
                out.append(tok)
                ids = torch.cat([ids, torch.tensor([[tok]], device=dev)], dim=1)
        return out

    def timed(fn):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        return (time.perf_counter() - t) * 1e3

    phases, counts, answers = {}, {}, []
    with torch.inference_mode():
        start = time.perf_counter()
        progress(f"extraction: {len(extraction)} prompts x {n_layer} layers read")
        sums = [0.0] * n_layer  # becomes a float32 tensor per layer on the first read
        n0 = forwards[0]

        def extract():
            with reading(range(n_layer), sums):
                for ids in extraction:
                    last_logits(ids)
        phases["extraction"] = timed(extract)
        vectors = [(s / len(extraction)).to(dtype) for s in sums]
        counts["extraction"] = forwards[0] - n0

        progress(f"patched queries: {wl['patched_queries']} x {wl['new_tokens']} tokens at layer {wl['patch_layer']}")
        n0 = forwards[0]

        def patched_queries():
            for i in range(wl["patched_queries"]):
                answers.append(generate(images[i], vectors[wl["patch_layer"]], wl["patch_layer"], wl["new_tokens"]))
        phases["patched_queries"] = timed(patched_queries)
        counts["patched_queries"] = forwards[0] - n0

        progress(f"layer sweep: {wl['sweep_queries']} queries x {len(sweep_layers)} layers")
        n0 = forwards[0]

        def sweep():
            for i in range(wl["sweep_queries"]):  # query-major like the Java side; without a cache order is moot
                for layer in sweep_layers:
                    with patched(layer, vectors[layer]):
                        int(last_logits(query, images[i]).argmax())
        phases["sweep"] = timed(sweep)
        counts["sweep"] = forwards[0] - n0
        sync()
        phases["total"] = (time.perf_counter() - start) * 1e3
        counts["total"] = forwards[0]

        progress(f"single steps: median of {args.repeats} after 2 warm-ups")
        layer, vec, img = wl["patch_layer"], vectors[wl["patch_layer"]], images[0]

        def median(fn):
            for _ in range(2):
                timed(fn)
            return statistics.median(timed(fn) for _ in range(args.repeats))

        def patched_forward():
            with patched(layer, vec):
                int(last_logits(query, img).argmax())

        def read_one():
            with reading([layer], [0.0] * n_layer):
                last_logits(extraction[0])
        steps = {
            "image_query_plain_forward": median(lambda: int(last_logits(query, img).argmax())),
            "image_query_patched_forward": median(patched_forward),
            "extraction_read_one_layer": median(read_one),
            "patched_query_new_tokens": median(lambda: generate(img, vec, layer, wl["new_tokens"])),
        }

    result = {
        "engine": "transformers+torch hooks, no KV cache", "config": args.config, "device": dev,
        "device_name": torch.cuda.get_device_name(dev) if cuda else "cpu", "dtype": str(dtype).replace("torch.", ""),
        "torch_version": torch.__version__, "transformers_version": tf.__version__,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "workload": wl, "repeats": args.repeats, "n_layers": n_layer, "image_tokens": n_img,
        "query_tokens": query.shape[1], "sweep_layers": len(sweep_layers), "build_s": build_s,
        "phases_ms": phases, "phases_s": {k: v / 1e3 for k, v in phases.items()}, "forwards": counts, "step_median_ms": steps,
        "peak_gpu_mem_bytes": torch.cuda.max_memory_allocated(dev) if cuda else None,
        "first_answers": answers[:3],
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    print(f"official loop ({result['device_name']}, {result['dtype']}, {args.config}, torch {torch.__version__}, "
          f"transformers {tf.__version__}): {n_layer} layers, {query.shape[1]}-token query")
    for k, v in phases.items():
        print(f"  {k:<16} {v:10.1f} ms  ({counts[k]} forwards)")
    for k, v in steps.items():
        print(f"  {k:<28} {v:9.2f} ms  (median)")
    if cuda:
        print(f"  peak GPU memory  {result['peak_gpu_mem_bytes'] / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
