"""The vision tower of a CLIP safetensors file for the trainer: its weights
by role (Hugging Face naming vision_model.* + visual_projection.weight, or
OpenAI / open_clip naming visual.*, any common prefix; F32/F16/BF16 on disk)
and a batched forward with AnomalyCLIP's value-value stream (DESIGN.md "The
ViT encoder"), on any device and in any float dtype.

encode() returns what the head needs: the patch tokens of each feature layer
(ln_post and proj; the ordinary stream for a layer before vv_start, the V-V
stream from vv_start on) and the global token x_L[CLS] @ proj, with and
without ln_post. The blocks' maths (LayerNorm, self-attention, MLP) is
clip_text_tower's, shared by both towers."""

import torch
import torch.nn.functional as F

from clip_text_tower import ClipError, layer_count, layer_norm, load_blocks, mlp, self_attention, tensor_reader
from safetensors_io import SafetensorsFile

# naming -> (patch embedding, class embedding, positional embedding, ln_pre, blocks, ln_post, projection)
_NAMES = {
    "hf": ("vision_model.embeddings.patch_embedding.weight", "vision_model.embeddings.class_embedding",
           "vision_model.embeddings.position_embedding.weight", "vision_model.pre_layrnorm.",
           "vision_model.encoder.layers.", "vision_model.post_layernorm.", "visual_projection.weight"),
    "openai": ("visual.conv1.weight", "visual.class_embedding", "visual.positional_embedding", "visual.ln_pre.",
               "visual.transformer.resblocks.", "visual.ln_post.", "visual.proj"),
}
POS_INTERP = ("bicubic", "bicubic-aa", "bilinear")  # the head file's pos_interp values 0, 1, 2


def load_vision_tower(path, dtype=torch.float32):
    """(weights by role, config) of the vision tower in the file at path:
    patch_embed [W, 3, p, p], class_embed [W], pos_embed [1 + g*g, W],
    ln_pre/ln_post, the blocks (clip_text_tower.load_blocks), proj [E, W]."""
    st = SafetensorsFile(path)
    found = [(naming, name[:-len(names[0])]) for naming, names in _NAMES.items()
             for name in st.names() if name.endswith(names[0])]
    if not found:
        raise ClipError(f"{path}: no CLIP vision tower (no tensor named '{_NAMES['hf'][0]}' or "
                        f"'{_NAMES['openai'][0]}')")
    naming, prefix = found[0]
    patch, cls, pos, ln_pre, blocks, ln_post, proj = (prefix + n for n in _NAMES[naming])
    get = tensor_reader(st, "vision", dtype)
    w = {"patch_embed": get(patch)}
    if w["patch_embed"].ndim != 4 or w["patch_embed"].shape[1] != 3 \
            or w["patch_embed"].shape[2] != w["patch_embed"].shape[3]:
        raise ClipError(f"{path}: the patch embedding has shape {list(w['patch_embed'].shape)}, "
                        "expected [width, 3, p, p]")
    W, _, p, _ = w["patch_embed"].shape
    layers = layer_count(st.names(), blocks)
    if not layers:
        raise ClipError(f"{path}: the vision tower's blocks are missing or not numbered 0, 1, 2, ...")
    if W % 64:
        raise ClipError(f"{path}: vision width {W} is not a multiple of 64 (CLIP's attention heads are 64 wide)")
    w["class_embed"] = get(cls, (W,))
    w["pos_embed"] = get(pos)
    n_pos = w["pos_embed"].shape[0] if w["pos_embed"].ndim == 2 else 0
    grid = int(round((n_pos - 1) ** 0.5)) if n_pos > 1 else 0
    if w["pos_embed"].ndim != 2 or w["pos_embed"].shape[1] != W or grid * grid != n_pos - 1:
        raise ClipError(f"{path}: the positional embedding has shape {list(w['pos_embed'].shape)}, "
                        f"expected [1 + g*g, {W}]")
    for role, name in (("ln_pre", ln_pre), ("ln_post", ln_post)):
        w[f"{role}_weight"] = get(name + "weight", (W,))
        w[f"{role}_bias"] = get(name + "bias", (W,))
    w.update(load_blocks(get, blocks, "hf" if naming == "hf" else "openai", W, layers))
    w["proj"] = get(proj) if naming == "hf" else get(proj).T.contiguous()
    if w["proj"].ndim != 2 or w["proj"].shape[1] != W:
        raise ClipError(f"{path}: the visual projection has shape {list(w['proj'].shape)}, expected one side {W}")
    act = "gelu" if st.metadata.get("hidden_act") == "gelu" else "quick_gelu"
    cfg = dict(naming=naming, prefix=prefix, width=W, layers=layers, heads=W // 64, patch=p, grid=grid,
               embed=w["proj"].shape[0], act=act)
    return w, cfg


def positional_grid(w, cfg, gh, gw, mode="bilinear"):
    """The positional embedding for a gh x gw patch grid: the pre-training grid
    resized with F.interpolate(align_corners=False) when it differs (mode one
    of POS_INTERP), the class row kept."""
    pos, g = w["pos_embed"], cfg["grid"]
    if (gh, gw) == (g, g):
        return pos
    grid = pos[1:].reshape(1, g, g, -1).permute(0, 3, 1, 2).float()
    if mode == "bilinear":
        grid = F.interpolate(grid, size=(gh, gw), mode="bilinear", align_corners=False)
    elif mode in ("bicubic", "bicubic-aa"):
        grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False,
                             antialias=mode == "bicubic-aa")
    else:
        raise ValueError(f"positional interpolation '{mode}': one of {', '.join(POS_INTERP)}")
    return torch.cat([pos[:1], grid[0].permute(1, 2, 0).reshape(gh * gw, -1).to(pos.dtype)])


def value_value(w, cfg, i, h):
    """Block i's value-value attention on h [B, T, W] (through ln_1):
    softmax(V V^T / sqrt(d)) V per head, q and k unused, out_proj with its bias."""
    B, T, W = h.shape
    H = cfg["heads"]
    d = W // H
    v = (h @ w[f"qkv_weight.{i}"][2 * W:].T + w[f"qkv_bias.{i}"][2 * W:]).reshape(B, T, H, d).transpose(1, 2)
    a = torch.softmax(v @ v.transpose(-1, -2) * d ** -0.5, dim=-1) @ v
    return a.transpose(1, 2).reshape(B, T, W) @ w[f"attn_out_weight.{i}"].T + w[f"attn_out_bias.{i}"]


def check_layers(cfg, vv_start, feature_layers):
    L = cfg["layers"]
    if not 0 <= vv_start <= L:
        raise ValueError(f"vv_start {vv_start}: 0 (off) or a layer 1..{L} of the vision tower")
    if not feature_layers or any(not 1 <= l <= L for l in feature_layers) \
            or list(feature_layers) != sorted(set(feature_layers)):
        raise ValueError(f"feature layers {list(feature_layers)}: strictly increasing layers within 1..{L}")


@torch.no_grad()
def encode(w, cfg, images, vv_start, feature_layers, pos_interp="bilinear"):
    """images [B, 3, S, S] (CLIP-normalised, the weights' dtype and device) ->
    dict: tokens {layer: [B, N, E]} (not normalised), global [B, E] =
    x_L[CLS] @ proj (AnomalyCLIP's, no ln_post), global_ln_post [B, E],
    grid (gh, gw)."""
    check_layers(cfg, vv_start, feature_layers)
    x = F.conv2d(images, w["patch_embed"], stride=cfg["patch"])  # [B, W, gh, gw]
    B, W, gh, gw = x.shape
    x = torch.cat([w["class_embed"].expand(B, 1, W), x.flatten(2).transpose(1, 2)], dim=1)
    x = layer_norm(w, "ln_pre", x + positional_grid(w, cfg, gh, gw, pos_interp))
    y = None  # the V-V stream: y = x_s + sum over l = s.. of VV_l(ln_1_l(x_l))
    streams = {}
    for i in range(cfg["layers"]):
        layer = i + 1
        h = layer_norm(w, "ln_1", x, i)
        if vv_start and layer >= vv_start:
            y = (x if layer == vv_start else y) + value_value(w, cfg, i, h)
        x = x + self_attention(w, cfg, i, h)
        x = x + mlp(w, cfg, i, x)
        if layer in feature_layers:
            streams[layer] = (x if y is None else y)[:, 1:]
    proj = w["proj"]
    tokens = {l: layer_norm(w, "ln_post", s) @ proj.T for l, s in streams.items()}
    return dict(tokens=tokens, global_token=x[:, 0] @ proj.T,
                global_ln_post=layer_norm(w, "ln_post", x[:, 0]) @ proj.T, grid=(gh, gw))
