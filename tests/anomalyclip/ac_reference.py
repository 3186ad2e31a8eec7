"""Our own PyTorch reference of AnomalyCLIP's inference on one image
(zqhang/AnomalyCLIP at 45ed4dd: test.py, AnomalyCLIP_lib/AnomalyCLIP.py,
prompt_ensemble.py, utils.get_transform), written from its description in
issue 12 and DESIGN.md and checked once against AnomalyCLIP's own code
(compare_with_anomalyclip.py). Float64 throughout, on canonical weights
(tests/torch/clip_fixtures.py and text_fixtures.py roles).

- preprocess(): PIL's Image.resize((S, S), BICUBIC) on 8-bit RGB as
  AnomalyCLIP's transform does it (no aspect kept; its CenterCrop(S) is then a
  no-op): PIL's antialiased bicubic (a = -0.5) with its 22-bit fixed-point
  weights, horizontal pass first, each pass rounded and clamped to 0..255;
  then ToTensor (/255) and OpenAI's mean/std. pil=False gives the same
  filter in floating point with no rounding (torch's antialias=True).
- vision(): conv patch embedding, class token, positional grid resized
  bilinearly (align_corners False), ln_pre, the blocks with the value-value
  stream from vv_start (DESIGN.md's recurrence); the patch tokens of each
  feature layer l: the ordinary stream after layer l when l < vv_start,
  else the V-V stream after layer l, through ln_post and proj; the global
  token x_final[CLS] @ proj, without ln_post.
- text_features(): the deep-prompt text path (the exporter's description),
  written again here with PyTorch's own multi-head attention.
- maps(): per feature layer softmax(cos / 0.07) over (normal, abnormal) on
  the grid, bilinear upsampling of both probabilities to S x S
  (align_corners False), (p_abnormal + 1 - p_normal) / 2, summed over the
  layers, scipy.ndimage.gaussian_filter(sigma) (mode reflect, truncate 4);
  image score softmax(cos(global, text) / 0.07)[abnormal]."""
import numpy as np
import torch
import torch.nn.functional as F

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
TEMPERATURE = 0.07
DT = torch.float64


# ---------------------------------------------------------------- preprocess

def _bicubic(x, a=-0.5):
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def pil_coefficients(n_in, n_out):
    """PIL's precompute_coeffs for BICUBIC over [0, n_in): per output its
    first input and its normalised weights (a list of floats)."""
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    ss = 1.0 / filterscale
    out = []
    for o in range(n_out):
        center = (o + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        k = [_bicubic((x + lo - center + 0.5) * ss) for x in range(hi - lo)]
        total = sum(k)
        out.append((lo, [v / total if total != 0.0 else v for v in k]))
    return out


def _resample_matrix(n_in, n_out, fixed_point):
    m = np.zeros((n_out, n_in), np.float64)
    for o, (lo, k) in enumerate(pil_coefficients(n_in, n_out)):
        k = np.array(k)
        if fixed_point:  # normalize_coeffs_8bpc: round half away from zero to 22 bits
            k = np.trunc(k * (1 << 22) + np.where(k < 0, -0.5, 0.5))
        m[o, lo:lo + len(k)] = k
    return m


def _pass_8bit(x, m):
    """One PIL 8-bit pass along the last axis: (2^21 + sum p k) >> 22, clamped."""
    acc = x @ m.T + (1 << 21)  # integers below 2^53: exact in float64
    return np.clip(np.floor(acc / (1 << 22)), 0, 255)


def resize_pil(image, size):
    """uint8-valued [H, W, C] -> float64 [size, size, C] with integer values, as PIL's resize."""
    x = np.asarray(image, np.float64)
    H, W = x.shape[:2]
    if W != size:  # horizontal pass (PIL skips a pass whose size does not change)
        x = _pass_8bit(x.transpose(0, 2, 1), _resample_matrix(W, size, True)).transpose(0, 2, 1)
    if H != size:
        x = _pass_8bit(x.transpose(1, 2, 0), _resample_matrix(H, size, True)).transpose(2, 0, 1)
    return x


def resize_float(image, size):
    """The same filter in float64 without rounding or clamping (torch's antialias=True)."""
    x = np.asarray(image, np.float64)
    H, W = x.shape[:2]
    x = np.einsum("ow,hwc->hoc", _resample_matrix(W, size, False), x)
    return np.einsum("oh,hwc->owc", _resample_matrix(H, size, False), x)


def preprocess(image, size, pil=True):
    """[H, W, 3] RGB (0..255) -> float64 tensor [3, size, size], CLIP-normalised."""
    x = resize_pil(image, size) if pil else resize_float(image, size)
    x = torch.from_numpy(x).to(DT).permute(2, 0, 1) / 255.0
    return (x - torch.tensor(MEAN, dtype=DT).view(3, 1, 1)) / torch.tensor(STD, dtype=DT).view(3, 1, 1)


# ---------------------------------------------------------------- vision

def _tensors(w):
    return {k: torch.as_tensor(np.asarray(v)).to(DT) for k, v in w.items()}


def vision(w, cfg, image, vv_start, feature_layers, act="quick_gelu"):
    """image [3, S, S] -> dict: tokens {layer: [N, E]} (ln_post, proj; not
    normalised), global [E] = x_final[CLS] @ proj, global_ln_post [E],
    grid (gh, gw)."""
    T = _tensors(w)
    W, H, p, L = cfg["width"], cfg["heads"], cfg["patch"], cfg["layers"]
    d = W // H
    if not 0 <= vv_start <= L or not all(1 <= l <= L for l in feature_layers):
        raise ValueError(f"vv_start {vv_start} / feature layers {feature_layers} outside 1..{L}")

    def ln(t, name, i=None):
        at = "" if i is None else f".{i}"
        return F.layer_norm(t, (W,), T[f"{name}_weight{at}"], T[f"{name}_bias{at}"], eps=1e-5)

    def mlp(t, i):
        h = ln(t, "ln_2", i) @ T[f"mlp_fc_weight.{i}"].T + T[f"mlp_fc_bias.{i}"]
        h = h * torch.sigmoid(1.702 * h) if act == "quick_gelu" else F.gelu(h)
        return h @ T[f"mlp_proj_weight.{i}"].T + T[f"mlp_proj_bias.{i}"]

    def self_attention(h, i):  # PyTorch's own multi-head attention, [n, 1, W]
        return F.multi_head_attention_forward(
            h[:, None], h[:, None], h[:, None], W, H, T[f"qkv_weight.{i}"], T[f"qkv_bias.{i}"], None, None, False,
            0.0, T[f"attn_out_weight.{i}"], T[f"attn_out_bias.{i}"], training=False, need_weights=False)[0][:, 0]

    def value_value(h, i):  # softmax(V V^T / sqrt(d)) V per head, out_proj with its bias
        v = (h @ T[f"qkv_weight.{i}"][2 * W:].T + T[f"qkv_bias.{i}"][2 * W:]).reshape(-1, H, d).transpose(0, 1)
        a = torch.softmax(v @ v.transpose(1, 2) * d ** -0.5, dim=-1) @ v
        return a.transpose(0, 1).reshape(-1, W) @ T[f"attn_out_weight.{i}"].T + T[f"attn_out_bias.{i}"]

    x = F.conv2d(image.to(DT)[None], T["patch_embed"], stride=p)[0]  # [W, gh, gw]
    gh, gw = x.shape[1:]
    x = torch.cat([T["class_embed"][None], x.flatten(1).T])
    g = cfg["grid"]
    pos = T["pos_embed"]
    if (gh, gw) != (g, g):
        grid = pos[1:].reshape(1, g, g, W).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gh, gw), mode="bilinear", align_corners=False)
        pos = torch.cat([pos[:1], grid[0].permute(1, 2, 0).reshape(gh * gw, W)])
    x = ln(x + pos, "ln_pre")
    y = None  # the V-V stream: y = x_s + sum_{l = s..L} VV_l(ln_1_l(x_l))
    streams = {}
    for i in range(L):
        layer = i + 1
        h = ln(x, "ln_1", i)
        if vv_start and layer >= vv_start:
            y = (x if layer == vv_start else y) + value_value(h, i)
        x = x + self_attention(h, i)
        x = x + mlp(x, i)
        if layer in feature_layers:
            streams[layer] = y if y is not None else x
    proj = T["proj"]  # [E, W]
    tokens = {l: ln(s[1:], "ln_post") @ proj.T for l, s in streams.items()}
    return dict(tokens=tokens, global_token=x[0] @ proj.T, global_ln_post=ln(x[:1], "ln_post")[0] @ proj.T,
                grid=(int(gh), int(gw)))


# ---------------------------------------------------------------- text

def round_fp16(x):
    return x.to(torch.float16).to(x.dtype)


def text_features(tw, tcfg, sd, act="quick_gelu", fp16_deep=True):
    """[2, E] float64 L2-normalised (normal, abnormal) from a prompt-learner
    state dict sd (tensors) and canonical text weights tw: AnomalyCLIP's
    encode_text_learn in the sequence-first layout it uses."""
    T = _tensors(tw)
    W, H = tcfg["width"], tcfg["heads"]
    sd = {k: v.to(DT) if v.is_floating_point() else v for k, v in sd.items()}
    rows, eot = [], []
    for side in ("pos", "neg"):
        rows.append(torch.cat([sd[f"token_prefix_{side}"], sd[f"ctx_{side}"], sd[f"token_suffix_{side}"]], dim=2)
                    .reshape(-1, W))
        eot.append(int(sd[f"tokenized_prompts_{side}"].reshape(-1).argmax()))
    x = (torch.stack(rows) + T["pos_embed"]).permute(1, 0, 2)  # [C, 2, W]
    C = x.shape[0]
    mask = torch.full((C, C), float("-inf"), dtype=DT).triu(1)
    deep = [sd[f"compound_prompts_text.{j}"] for j in range(sum(k.startswith("compound_prompts_text.") for k in sd))]
    counter = 0
    for i in range(tcfg["layers"]):
        if i > 0 and counter < len(deep):
            ctx = deep[counter].expand(x.shape[1], -1, -1).permute(1, 0, 2)
            ctx = round_fp16(ctx) if fp16_deep else ctx
            x = torch.cat([x[:1], ctx, x[1 + ctx.shape[0]:]], dim=0)
            counter += 1
        h = F.layer_norm(x, (W,), T[f"ln_1_weight.{i}"], T[f"ln_1_bias.{i}"], eps=1e-5)
        x = x + F.multi_head_attention_forward(
            h, h, h, W, H, T[f"qkv_weight.{i}"], T[f"qkv_bias.{i}"], None, None, False, 0.0,
            T[f"attn_out_weight.{i}"], T[f"attn_out_bias.{i}"], training=False, need_weights=False,
            attn_mask=mask)[0]
        h = F.layer_norm(x, (W,), T[f"ln_2_weight.{i}"], T[f"ln_2_bias.{i}"], eps=1e-5)
        h = h @ T[f"mlp_fc_weight.{i}"].T + T[f"mlp_fc_bias.{i}"]
        h = h * torch.sigmoid(1.702 * h) if act == "quick_gelu" else F.gelu(h)
        x = x + h @ T[f"mlp_proj_weight.{i}"].T + T[f"mlp_proj_bias.{i}"]
    x = F.layer_norm(x.permute(1, 0, 2), (W,), T["ln_final_weight"], T["ln_final_bias"], eps=1e-5)
    f = x[torch.arange(2), torch.tensor(eot)] @ T["proj"].T
    return f / f.norm(dim=-1, keepdim=True)


# ---------------------------------------------------------------- maps and score

def probabilities(tokens, text, temperature=TEMPERATURE):
    """softmax over (normal, abnormal) of cos(token, text) / temperature: [N, 2]."""
    f = tokens / tokens.norm(dim=-1, keepdim=True)
    return torch.softmax(f @ text.T / temperature, dim=-1)


def gaussian_blur(m, sigma):
    """scipy.ndimage.gaussian_filter(m, sigma): mode reflect, truncate 4, in float64."""
    from scipy.ndimage import gaussian_filter
    return gaussian_filter(np.asarray(m, np.float64), sigma=sigma, mode="reflect", truncate=4.0)


def maps(out, text, feature_layers, size, sigma=4.0, temperature=TEMPERATURE):
    """dict: grids [n, gh, gw] abnormal probability per layer, grid_sum
    [gh, gw], map [S, S] (summed upsampled maps), map_blur [S, S], and the
    image score."""
    gh, gw = out["grid"]
    grids, ups = [], []
    for l in feature_layers:
        p = probabilities(out["tokens"][l], text, temperature)  # [N, 2]
        grids.append(p[:, 1].reshape(gh, gw))
        up = F.interpolate(p.T.reshape(1, 2, gh, gw), size=(size, size), mode="bilinear", align_corners=False)[0]
        ups.append((up[1] + 1 - up[0]) / 2.0)  # test.py's formula; equals up[1] as p sums to 1
    amap = torch.stack(ups).sum(0)
    g = out["global_token"] / out["global_token"].norm()
    score = torch.softmax(g @ text.T / temperature, dim=-1)[1]
    return dict(grids=torch.stack(grids).numpy(), grid_sum=torch.stack(grids).sum(0).numpy(), map=amap.numpy(),
                map_blur=gaussian_blur(amap.numpy(), sigma), image_score=float(score))


def infer(vw, vcfg, text, image, size, vv_start, feature_layers, sigma=4.0, pil=True):
    """The whole inference on one [H, W, 3] image: preprocess, vision, maps."""
    x = preprocess(image, size, pil=pil)
    out = vision(vw, vcfg, x, vv_start, feature_layers)
    res = maps(out, torch.as_tensor(text, dtype=DT), feature_layers, size, sigma)
    res.update(input=x.numpy(), out=out)
    return res


def gaussian_kernel(sigma, truncate=4.0):
    """scipy's 1-D Gaussian weights: radius int(truncate sigma + 0.5), normalised."""
    r = int(truncate * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return k / k.sum()

