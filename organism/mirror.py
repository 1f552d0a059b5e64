"""A PyTorch mirror of exactly what llama.cpp and libmtmd compute for a llama-architecture model.gguf and a
LLaVA-1.5-style CLIP projector mmproj.gguf (libmtmd projector type "mlp"), on the CPU, with the pinned llama.cpp
release (cmake/llama-cpp-pin.cmake). The model organism's trainer imports these modules, so the model it trains IS
the graph taskvec runs: organism/fidelity.py proves it, prompt by prompt, against `taskvec capture`.

Read top to bottom:
  1. reading GGUF files (numpy; F32, F16, BF16 tensors)
  2. the text model, `Llama`: parameter names are the GGUF tensor names (state_dict() keys == GGUF names)
  3. the vision encoder and projector, `ClipMlpProjector`: the same
  4. libmtmd's image preprocessing, `preprocess` (Pillow-style bicubic resize with padding, mean/std)
  5. `load_gguf`, and `forward` for a prompt of token runs and images

Where llama.cpp's choice is not the textbook one, the code says so and names the source (paths relative to the
llama.cpp tree). The ones that matter:
  - RoPE is LLAMA_ROPE_TYPE_NORM: adjacent pairs (x[2i], x[2i+1]) rotate, not the two halves (GGUF llama files hold
    Q and K rows permuted for that; convert_hf_to_gguf.py permutes HF weights). Train in this layout.
  - the CPU GELU (ggml_gelu, ggml-cpu/vec.h with GGML_GELU_FP16) is a lookup table: the input is rounded to fp16 and
    the tanh-approximated GELU of that value is rounded to fp16 again; |x| >= 10 bypasses the table.
    `gelu_ggml` reproduces it (its gradient passes straight through the roundings). CUDA computes it unrounded.
  - the CLIP graph (tools/mtmd/models/llava.cpp) appends the class embedding AFTER the patches (ggml_concat), so it
    takes the last position embedding; the projector then takes rows 1..n_patches: it drops patch 0 and keeps the
    class token as the last image token. (HF LLaVA drops the class token instead.)
  - the patch embedding (ggml_conv_2d) rounds pixels and kernel to fp16 (im2col writes F16): `PatchEmbd`.
  - the encoder runs up to the second-to-last block ("feature layer" -1 of LLaVA): the last block is never used.
  - libmtmd swaps a block's ffn_up and ffn_down when ffn_down's input width is the encoder width (legacy files; it
    happens whenever feed_forward_length == embedding_length).
  - image embeddings enter the text model as ordinary input rows: causal attention, one position per image token.
"""
import math
import struct
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------------------------
# 1. GGUF files
# ---------------------------------------------------------------------------------------------------------------

GGML_F32, GGML_F16, GGML_BF16 = 0, 1, 30


def read_gguf(path):
    """(metadata dict, {tensor name: numpy array}) of a GGUF file; arrays are read-only views of a memory map, in
    PyTorch's order (slowest dimension first: ggml's ne reversed), as float32 (F16 and BF16 widened)."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    buf = memoryview(data)
    off = 0

    def take(fmt):
        nonlocal off
        v = struct.unpack_from("<" + fmt, buf, off)[0]
        off += struct.calcsize("<" + fmt)
        return v

    def string():
        nonlocal off
        n = take("Q")
        s = bytes(buf[off:off + n]).decode("utf-8")
        off += n
        return s

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        return take(scalar[t])

    if bytes(buf[:4]) != b"GGUF":
        raise ValueError("%s is not a GGUF file" % path)
    off = 4
    version = take("I")
    if version not in (2, 3):
        raise ValueError("%s: GGUF version %d" % (path, version))
    n_tensors, n_kv = take("Q"), take("Q")
    meta = {}
    for _ in range(n_kv):
        k = string()
        meta[k] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        dims = [take("Q") for _ in range(take("I"))]
        infos.append((name, dims, take("I"), take("Q")))
    align = meta.get("general.alignment", 32)
    start = (off + align - 1) // align * align
    tensors = {}
    for name, dims, t, o in infos:
        count = int(np.prod(dims))
        shape = list(reversed(dims))
        if t == GGML_F32:
            a = np.frombuffer(data, dtype="<f4", count=count, offset=start + o)
        elif t == GGML_F16:
            a = np.frombuffer(data, dtype="<f2", count=count, offset=start + o).astype(np.float32)
        elif t == GGML_BF16:
            a = (np.frombuffer(data, dtype="<u2", count=count, offset=start + o).astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError("%s: tensor %s has ggml type %d; the mirror reads F32, F16 and BF16 (a quantized file "
                             "computes other values than its float weights: check fidelity on the F32 export)"
                             % (path, name, t))
        tensors[name] = a.reshape(shape)
    return meta, tensors


# ---------------------------------------------------------------------------------------------------------------
# 2. The text model (src/models/llama.cpp, LLM_ARCH_LLAMA)
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class LlamaConfig:
    n_vocab: int
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_rot: int = 0                 # rotated dimensions per head (llama.rope.dimension_count); 0: the head width
    rope_base: float = 10000.0
    rms_eps: float = 1e-5
    tied_output: bool = False      # no output.weight: llama.cpp uses token_embd.weight

    @property
    def head_dim(self):
        return self.n_embd // self.n_head


def rms_norm(x, weight, eps):
    """ggml_rms_norm then ggml_mul: x / sqrt(mean(x^2) + eps) * weight (eps inside the square root)."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


def rope_angles(positions, n_rot, base):
    """theta[p, i] = p * base^(-2i / n_rot), i < n_rot / 2 (ggml's rope_yarn with no scaling)."""
    i = torch.arange(n_rot // 2, dtype=torch.float64)
    inv = base ** (-2.0 * i / n_rot)
    return positions.to(torch.float64)[:, None] * inv[None, :]


def apply_rope(x, theta):
    """LLAMA_ROPE_TYPE_NORM: adjacent pairs (x[2i], x[2i+1]) of each head rotate by theta[:, i]; dimensions past
    2 * theta.shape[1] pass through. x: [B, T, heads, head_dim]; theta: [T, n_rot / 2]."""
    n = theta.shape[-1] * 2
    cos = torch.cos(theta).to(x.dtype)[None, :, None, :]
    sin = torch.sin(theta).to(x.dtype)[None, :, None, :]
    x0, x1 = x[..., 0:n:2], x[..., 1:n:2]
    rot = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(-2)
    return torch.cat([rot, x[..., n:]], dim=-1)


def attention(q, k, v, scale, causal):
    """softmax(q k^T * scale + mask) v, heads grouped (q: [B, T, H, d], k and v: [B, T, H_kv, d], H a multiple of
    H_kv, head h reads kv head h // (H / H_kv)); returns [B, T, H * d]. Torch 1.13 has no
    scaled_dot_product_attention: written out, as ggml's soft_max_ext(kq, mask, scale) does it."""
    B, T, H, d = q.shape
    rep = H // k.shape[2]
    k = k.repeat_interleave(rep, dim=2)
    v = v.repeat_interleave(rep, dim=2)
    s = torch.einsum("bqhd,bkhd->bhqk", q, k) * scale
    if causal:
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
        s = s.masked_fill(mask, float("-inf"))
    p = torch.softmax(s, dim=-1)
    return torch.einsum("bhqk,bkhd->bqhd", p, v).reshape(B, T, H * d)


class LlamaBlock(nn.Module):
    """x + attn(attn_norm(x)), then + ffn_down(silu(ffn_gate(h)) * ffn_up(h)) with h = ffn_norm(x)."""

    def __init__(self, c: LlamaConfig):
        super().__init__()
        self.c = c
        hd = c.head_dim
        self.attn_norm = RMSNorm(c.n_embd, c.rms_eps)
        self.attn_q = nn.Linear(c.n_embd, c.n_head * hd, bias=False)
        self.attn_k = nn.Linear(c.n_embd, c.n_head_kv * hd, bias=False)
        self.attn_v = nn.Linear(c.n_embd, c.n_head_kv * hd, bias=False)
        self.attn_output = nn.Linear(c.n_head * hd, c.n_embd, bias=False)
        self.ffn_norm = RMSNorm(c.n_embd, c.rms_eps)
        self.ffn_gate = nn.Linear(c.n_embd, c.n_ff, bias=False)
        self.ffn_up = nn.Linear(c.n_embd, c.n_ff, bias=False)
        self.ffn_down = nn.Linear(c.n_ff, c.n_embd, bias=False)

    def forward(self, x, theta):
        c = self.c
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = apply_rope(self.attn_q(h).view(B, T, c.n_head, c.head_dim), theta)
        k = apply_rope(self.attn_k(h).view(B, T, c.n_head_kv, c.head_dim), theta)
        v = self.attn_v(h).view(B, T, c.n_head_kv, c.head_dim)
        x = x + self.attn_output(attention(q, k, v, 1.0 / math.sqrt(c.head_dim), causal=True))
        h = self.ffn_norm(x)
        return x + self.ffn_down(F.silu(self.ffn_gate(h)) * self.ffn_up(h))


@dataclass
class LlamaOutput:
    logits: torch.Tensor           # [B, T, n_vocab]
    resid: List[torch.Tensor]      # per block, [B, T, n_embd]: llama.cpp's l_out-L, taskvec's blocks.L.resid_post


class Llama(nn.Module):
    """token_embd -> blocks -> output_norm -> output. forward takes token ids [B, T] or input rows [B, T, n_embd]
    (text embeddings and image embeddings alike) at positions 0..T-1."""

    def __init__(self, c: LlamaConfig):
        super().__init__()
        self.c = c
        self.token_embd = nn.Embedding(c.n_vocab, c.n_embd)
        self.blk = nn.ModuleList([LlamaBlock(c) for _ in range(c.n_layer)])
        self.output_norm = RMSNorm(c.n_embd, c.rms_eps)
        self.output = None if c.tied_output else nn.Linear(c.n_embd, c.n_vocab, bias=False)

    def forward(self, tokens=None, embeds=None) -> LlamaOutput:
        x = self.token_embd(tokens) if embeds is None else embeds
        theta = rope_angles(torch.arange(x.shape[1], device=x.device), self.c.n_rot or self.c.head_dim,
                            self.c.rope_base).to(x.device)
        resid = []
        for block in self.blk:
            x = block(x, theta)
            resid.append(x)
        h = self.output_norm(x)
        logits = F.linear(h, self.token_embd.weight) if self.output is None else self.output(h)
        return LlamaOutput(logits, resid)


# ---------------------------------------------------------------------------------------------------------------
# 3. The vision encoder and the mlp projector (tools/mtmd/models/llava.cpp, PROJECTOR_TYPE_MLP)
# ---------------------------------------------------------------------------------------------------------------

GELU_COEF_A = 0.044715
SQRT_2_OVER_PI = 0.79788456080286535587989211986876


def gelu_ggml(x):
    """ggml_gelu on the CPU (ggml-cpu/vec.h, GGML_GELU_FP16): x <= -10 -> 0, x >= 10 -> x, else
    fp16(gelu_tanh(fp16(x))). The fp16 roundings pass the gradient straight through."""
    xh = x.clamp(-10.0, 10.0).half().float()
    y = (0.5 * xh * (1.0 + torch.tanh(SQRT_2_OVER_PI * xh * (1.0 + GELU_COEF_A * xh * xh)))).half().to(x.dtype)
    return torch.where(x <= -10.0, torch.zeros_like(x), torch.where(x >= 10.0, x, y))


def gelu_quick_ggml(x):
    """ggml_gelu_quick on the CPU (GGML_GELU_QUICK_FP16): fp16(x * sigmoid(1.702 x)) of fp16(x)."""
    xh = x.half().float()
    return (xh * torch.sigmoid(1.702 * xh)).half().to(x.dtype)


class GeluGgml(nn.Module):
    def forward(self, x):
        return gelu_ggml(x)


def fp16_round(x):
    """Rounds to the nearest fp16 value and back; the gradient passes straight through."""
    return x.half().to(x.dtype)


class PatchEmbd(nn.Conv2d):
    """ggml_conv_2d (ggml.c) is im2col into an F16 tensor (unless the kernel is BF16), then mul_mat(im2col,
    kernel): the pixels are rounded to fp16, and so is the kernel (the CPU converts mul_mat's second operand to the
    first one's dot type); products are summed in float32."""

    def forward(self, x):
        return F.conv2d(fp16_round(x), fp16_round(self.weight), self.bias, self.stride)


@dataclass
class ClipConfig:
    image_size: int
    patch_size: int
    n_embd: int
    n_ff: int
    n_layer: int
    n_head: int
    projection_dim: int            # the text model's width
    eps: float = 1e-5
    image_mean: Sequence[float] = (0.48145466, 0.4578275, 0.40821073)
    image_std: Sequence[float] = (0.26862954, 0.26130258, 0.27577711)
    ffn_op: str = "gelu"           # clip.use_gelu -> gelu; clip.use_silu -> silu; neither -> gelu_quick
    class_embd: bool = True
    patch_bias: bool = False
    post_ln: bool = False
    feature_layers: Sequence[int] = field(default_factory=list)   # clip.vision.feature_layer (granite); usually none
    mm_2: bool = True                                               # mm.2 present (absent in "Yi-type" llava)
    pad_color: Sequence[int] = (122, 116, 104)

    @property
    def n_patches(self):
        return (self.image_size // self.patch_size) ** 2

    @property
    def ffn_swapped(self):
        """libmtmd (clip.cpp, is_ffn_swapped) swaps ffn_up and ffn_down when ffn_down's ne[0] == n_embd."""
        return self.n_ff == self.n_embd

    @property
    def n_blocks_run(self):
        """Blocks the graph runs: up to the deepest explicit feature layer, else all but the last."""
        return max(self.feature_layers) if self.feature_layers else self.n_layer - 1


class ClipBlock(nn.Module):
    """Pre-norm ViT block: x + attn_out(attn(ln1(x))), then x + ffn_down(act(ffn_up(ln2(x)))); non-causal."""

    def __init__(self, c: ClipConfig):
        super().__init__()
        self.c = c
        n = c.n_embd
        self.ln1 = nn.LayerNorm(n, eps=c.eps)
        self.attn_q = nn.Linear(n, n)
        self.attn_k = nn.Linear(n, n)
        self.attn_v = nn.Linear(n, n)
        self.attn_out = nn.Linear(n, n)
        self.ln2 = nn.LayerNorm(n, eps=c.eps)
        self.ffn_up = nn.Linear(n, c.n_ff)
        self.ffn_down = nn.Linear(c.n_ff, n)

    def forward(self, x):
        c = self.c
        B, T, n = x.shape
        d = n // c.n_head
        h = self.ln1(x)
        q, k, v = (m(h).view(B, T, c.n_head, d) for m in (self.attn_q, self.attn_k, self.attn_v))
        x = x + self.attn_out(attention(q, k, v, 1.0 / math.sqrt(d), causal=False))
        up, down = (self.ffn_down, self.ffn_up) if c.ffn_swapped else (self.ffn_up, self.ffn_down)
        h = up(self.ln2(x))
        h = {"gelu": gelu_ggml, "silu": F.silu, "gelu_quick": gelu_quick_ggml}[c.ffn_op](h)
        return x + down(h)


class ClipVision(nn.Module):
    """The `v.` tensors: patch embedding (a stride-patch convolution), class embedding, position embedding,
    pre-layernorm, blocks, optional post-layernorm."""

    def __init__(self, c: ClipConfig):
        super().__init__()
        self.c = c
        n = c.n_embd
        self.patch_embd = PatchEmbd(3, n, c.patch_size, stride=c.patch_size, bias=c.patch_bias)
        self.class_embd = nn.Parameter(torch.zeros(n)) if c.class_embd else None
        self.position_embd = nn.Embedding(c.n_patches + (1 if c.class_embd else 0), n)
        self.pre_ln = nn.LayerNorm(n, eps=c.eps)
        self.blk = nn.ModuleList([ClipBlock(c) for _ in range(c.n_layer)])
        self.post_ln = nn.LayerNorm(n, eps=c.eps) if c.post_ln else None

    def forward(self, images):
        """images: [B, 3, H, W] from `preprocess` -> the feature rows [B, n_pos, n_embd]."""
        c = self.c
        x = self.patch_embd(images).flatten(2).transpose(1, 2)          # [B, patches (row-major), n]
        if self.class_embd is not None:                                   # appended AFTER the patches
            x = torch.cat([x, self.class_embd.expand(x.shape[0], 1, -1)], dim=1)
        x = x + self.position_embd.weight[:x.shape[1]]
        x = self.pre_ln(x)
        stack = []
        for il in range(c.n_blocks_run):
            if il in c.feature_layers:                                    # a feature layer's input is kept
                stack.append(x)
            x = self.blk[il](x)
        if self.post_ln is not None:
            x = self.post_ln(x)
        if c.n_blocks_run in c.feature_layers:
            stack.append(x)
        return torch.cat(stack, dim=-1) if stack else x


class ClipMlpProjector(nn.Module):
    """Image [B, 3, S, S] -> image embeddings [B, n_patches, projection_dim]: the vision tower `v`, rows
    1..n_patches of its output (with a class embedding; 0..n_patches-1 without), mm.0 -> GELU -> mm.2."""

    def __init__(self, c: ClipConfig):
        super().__init__()
        self.c = c
        width = c.n_embd * max(1, len(c.feature_layers))
        self.v = ClipVision(c)
        layers = [nn.Linear(width, c.projection_dim), GeluGgml()]
        if c.mm_2:
            layers.append(nn.Linear(c.projection_dim, c.projection_dim))
        self.mm = nn.Sequential(*layers)

    def forward(self, images):
        feats = self.v(images)
        offset = 1 if self.c.class_embd else 0
        return self.mm(feats[:, offset:offset + self.c.n_patches])


# ---------------------------------------------------------------------------------------------------------------
# 4. Image preprocessing (tools/mtmd/mtmd-image.cpp: mtmd_image_preprocessor_fixed_size, img_tool::resize)
# ---------------------------------------------------------------------------------------------------------------

def read_rgb(path):
    """uint8 [H, W, 3], as taskvec's Image.read gives libmtmd: alpha dropped (the stored colour, not composited),
    grey and palette images as RGB."""
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def _pillow_weights(in_size, out_size):
    """Bicubic (a = -0.5) filter coefficients in 22-bit fixed point, as Pillow's Resample.c and libmtmd's
    resize_pillow compute them: (bounds [(xmin, xcnt)], weights [out, ksize] int64)."""
    support_radius = 2.0
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = support_radius * filterscale
    ksize = int(math.ceil(support)) * 2 + 1

    def cubic(x, a=-0.5):
        x = abs(x)
        if x < 1.0:
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
        if x < 2.0:
            return (((x - 5) * x + 8) * x - 4) * a
        return 0.0

    bounds, weights = [], np.zeros((out_size, ksize), dtype=np.int64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        w = [cubic((x + xmin - center + 0.5) / filterscale) for x in range(xmax)]
        ww = sum(w)
        w = [v / ww if ww != 0.0 else v for v in w]
        for x, v in enumerate(w):   # Pillow adds +/- 0.5 and truncates toward zero
            weights[xx, x] = int(v * (1 << 22) + (-0.5 if v < 0 else 0.5))
        bounds.append((xmin, xmax))
    return bounds, weights


def _resample(img, axis, out_size):
    """One separable pass along axis (1: horizontal, 0: vertical) of a uint8 [H, W, 3] image."""
    bounds, weights = _pillow_weights(img.shape[axis], out_size)
    src = np.moveaxis(img.astype(np.int64), axis, 0)
    out = np.empty((out_size,) + src.shape[1:], dtype=np.int64)
    for o, (xmin, xcnt) in enumerate(bounds):
        acc = np.full(src.shape[1:], 1 << 21, dtype=np.int64)
        for x in range(xcnt):
            acc += src[xmin + x] * weights[o, x]
        out[o] = acc >> 22
    return np.moveaxis(np.clip(out, 0, 255).astype(np.uint8), 0, axis)


def resize_pillow(img, width, height):
    if width != img.shape[1]:
        img = _resample(img, 1, width)
    if height != img.shape[0]:
        img = _resample(img, 0, height)
    return img


def resize_pad(img, size, pad_color):
    """img_tool::resize with PAD_CEIL: scale to fit (ceil), bicubic, centred on a pad_color square."""
    h, w = img.shape[:2]
    if (h, w) == (size, size):
        return img
    scale = min(np.float32(size) / np.float32(w), np.float32(size) / np.float32(h))
    nw = min(int(math.ceil(np.float32(w) * scale)), size)
    nh = min(int(math.ceil(np.float32(h) * scale)), size)
    resized = resize_pillow(img, nw, nh)
    out = np.empty((size, size, 3), dtype=np.uint8)
    out[:, :] = np.array(pad_color, dtype=np.uint8)
    ox, oy = (size - nw) // 2, (size - nh) // 2
    out[oy:oy + nh, ox:ox + nw] = resized
    return out


def preprocess(image, c: ClipConfig):
    """An image file (or uint8 [H, W, 3] array) -> the float32 tensor [3, S, S] libmtmd feeds the encoder:
    resize_pad to image_size, u8 / 255, (v - mean) / std per channel, in float32 as clip_image_f32 does."""
    rgb = read_rgb(image) if not isinstance(image, np.ndarray) else image
    rgb = resize_pad(rgb, c.image_size, c.pad_color)
    f = rgb.astype(np.float32) / np.float32(255.0)
    f = (f - np.array(c.image_mean, dtype=np.float32)) / np.array(c.image_std, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1)))


# ---------------------------------------------------------------------------------------------------------------
# 5. Loading, and a forward pass over a prompt of token runs and images
# ---------------------------------------------------------------------------------------------------------------

def llama_config(meta, tensors):
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise ValueError("general.architecture is %r; the mirror is the llama graph" % arch)
    for k in ("llama.rope.scaling.type", "llama.expert_count", "llama.attention.key_length"):
        if k in meta and meta[k] not in ("none", 0):
            raise ValueError("%s = %r: not in the mirror" % (k, meta[k]))
    hd = meta["llama.embedding_length"] // meta["llama.attention.head_count"]
    return LlamaConfig(
        n_vocab=tensors["token_embd.weight"].shape[0],
        n_embd=meta["llama.embedding_length"],
        n_layer=meta["llama.block_count"],
        n_head=meta["llama.attention.head_count"],
        n_head_kv=meta.get("llama.attention.head_count_kv", meta["llama.attention.head_count"]),
        n_ff=meta["llama.feed_forward_length"],
        n_rot=meta.get("llama.rope.dimension_count", hd),
        rope_base=meta.get("llama.rope.freq_base", 10000.0),
        rms_eps=meta["llama.attention.layer_norm_rms_epsilon"],
        tied_output="output.weight" not in tensors)


def clip_config(meta, tensors, projection_dim):
    if meta.get("clip.projector_type") != "mlp":
        raise ValueError("clip.projector_type is %r; the mirror is the mlp projector" % meta.get("clip.projector_type"))
    if meta.get("clip.vision.image_grid_pinpoints"):
        raise ValueError("image_grid_pinpoints (llava-1.6 slicing) is not in the mirror")
    if meta.get("clip.use_gelu") and meta.get("clip.use_silu"):
        raise ValueError("both clip.use_gelu and clip.use_silu")
    n = meta["clip.vision.embedding_length"]
    return ClipConfig(
        image_size=meta["clip.vision.image_size"],
        patch_size=meta["clip.vision.patch_size"],
        n_embd=n,
        n_ff=meta["clip.vision.feed_forward_length"],
        n_layer=meta["clip.vision.block_count"],
        n_head=meta["clip.vision.attention.head_count"],
        projection_dim=projection_dim,
        eps=meta["clip.vision.attention.layer_norm_epsilon"],
        image_mean=tuple(meta["clip.vision.image_mean"]),
        image_std=tuple(meta["clip.vision.image_std"]),
        ffn_op="gelu" if meta.get("clip.use_gelu") else "silu" if meta.get("clip.use_silu") else "gelu_quick",
        class_embd="v.class_embd" in tensors,
        patch_bias="v.patch_embd.bias" in tensors,
        post_ln="v.post_ln.weight" in tensors,
        feature_layers=[x for x in meta.get("clip.vision.feature_layer", []) if x >= 0],
        mm_2="mm.2.weight" in tensors)


def fill(module, tensors, skip=()):
    """Copies every GGUF tensor into the parameter of the same name; a tensor without a parameter, a parameter
    without a tensor, or a shape that differs is an error (the mirror must account for every weight)."""
    params = dict(module.named_parameters())
    names = set(tensors) - set(skip)
    if set(params) != names:
        raise ValueError("tensors the mirror lacks: %s; parameters the file lacks: %s"
                         % (sorted(names - set(params)), sorted(set(params) - names)))
    with torch.no_grad():
        for name, p in params.items():
            t = torch.from_numpy(np.array(tensors[name], dtype=np.float32))
            if tuple(t.shape) != tuple(p.shape):
                raise ValueError("%s: file shape %s, mirror shape %s" % (name, tuple(t.shape), tuple(p.shape)))
            p.copy_(t)


def load_gguf(model_path, mmproj_path=None, dtype=torch.float32):
    """(Llama, ClipMlpProjector or None) holding the files' weights, in eval mode."""
    meta, tensors = read_gguf(model_path)
    llama = Llama(llama_config(meta, tensors))
    fill(llama, tensors)
    projector = None
    if mmproj_path is not None:
        pmeta, ptensors = read_gguf(mmproj_path)
        projector = ClipMlpProjector(clip_config(pmeta, ptensors, llama.c.n_embd))
        fill(projector, ptensors)
        if projector.c.projection_dim != ptensors[("mm.2" if projector.c.mm_2 else "mm.0") + ".weight"].shape[0]:
            raise ValueError("the projector's output width is not the text model's")
    llama.to(dtype).eval()
    if projector is not None:
        projector.to(dtype).eval()
    return llama, projector


Segment = Union[Sequence[int], torch.Tensor]


def embed(llama: Llama, projector: Optional[ClipMlpProjector], segments: Sequence[Segment]):
    """Input rows [T, n_embd] of a prompt given as segments: token id lists (or 1-D integer tensors), preprocessed
    images [3, S, S] (float tensors) and ready image embeddings [n, n_embd] (2-D float tensors), in order. BOS is
    not added: pass it as a token."""
    rows = []
    dtype = llama.token_embd.weight.dtype
    for s in segments:
        if isinstance(s, torch.Tensor) and s.is_floating_point():
            if s.dim() == 3:
                s = projector(s[None].to(dtype))[0]
            rows.append(s.to(dtype))
        else:
            rows.append(llama.token_embd(torch.as_tensor(s, dtype=torch.long)))
    return torch.cat(rows, dim=0)


def forward(llama: Llama, projector: Optional[ClipMlpProjector], segments: Sequence[Segment]) -> LlamaOutput:
    """One prompt: logits [T, n_vocab] and resid (per block [T, n_embd]), batch dimension dropped."""
    out = llama(embeds=embed(llama, projector, segments)[None])
    return LlamaOutput(out.logits[0], [r[0] for r in out.resid])
