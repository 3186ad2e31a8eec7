"""The text tower of a CLIP safetensors file, in Hugging Face naming
(text_model.*, text_projection.weight [embed, width]) or OpenAI / open_clip
naming (token_embedding.weight, positional_embedding, transformer.resblocks.N.*,
ln_final.*, text_projection [width, embed]), with any common prefix (such as
"model."), stored as F32, F16 or BF16.

load_text_tower() returns the weights by role, as float64 torch tensors in
the layouts of tests/torch/text_fixtures.py: Linear weights [out, in], q/k/v
fused [3W, W] (rows q, k, v), proj [embed, W]; heads = width / 64 as in every
CLIP. The MLP activation is QuickGELU (OpenAI's) unless the file's
__metadata__ says hidden_act gelu, as libtokenclip's loader decides."""
import re

import torch

from safetensors_io import SafetensorsFile

HF_TOKEN = "text_model.embeddings.token_embedding.weight"
OPENAI_TOKEN = "token_embedding.weight"

# role -> (HF name in the layer, OpenAI name in the layer)
_LAYER_NAMES = {
    "ln_1_weight": ("layer_norm1.weight", "ln_1.weight"), "ln_1_bias": ("layer_norm1.bias", "ln_1.bias"),
    "attn_out_weight": ("self_attn.out_proj.weight", "attn.out_proj.weight"),
    "attn_out_bias": ("self_attn.out_proj.bias", "attn.out_proj.bias"),
    "ln_2_weight": ("layer_norm2.weight", "ln_2.weight"), "ln_2_bias": ("layer_norm2.bias", "ln_2.bias"),
    "mlp_fc_weight": ("mlp.fc1.weight", "mlp.c_fc.weight"), "mlp_fc_bias": ("mlp.fc1.bias", "mlp.c_fc.bias"),
    "mlp_proj_weight": ("mlp.fc2.weight", "mlp.c_proj.weight"), "mlp_proj_bias": ("mlp.fc2.bias", "mlp.c_proj.bias"),
}


class ClipError(Exception):
    pass


def _layer_count(names, pattern):
    found = {int(m.group(1)) for m in map(re.compile(pattern).match, names) if m}
    if found != set(range(len(found))):
        return None
    return len(found)


def layer_count(names, blocks):
    """How many blocks named blocks + "N." (N = 0, 1, ...) there are; None when
    there are none or the numbers have gaps."""
    return _layer_count(names, re.escape(blocks) + r"(\d+)\.")


def load_blocks(get, blocks, naming, W, layers):
    """The residual blocks' weights by role (role.N), either tower: q/k/v fused
    [3W, W] (rows q, k, v). get(name, shape) reads one tensor; blocks is the
    blocks' name prefix ("...encoder.layers." or "...transformer.resblocks.")."""
    pick = 0 if naming == "hf" else 1
    w = {}
    for i in range(layers):
        b = f"{blocks}{i}."
        if naming == "hf":
            w[f"qkv_weight.{i}"] = torch.cat([get(b + f"self_attn.{p}_proj.weight", (W, W)) for p in "qkv"])
            w[f"qkv_bias.{i}"] = torch.cat([get(b + f"self_attn.{p}_proj.bias", (W,)) for p in "qkv"])
        else:
            w[f"qkv_weight.{i}"] = get(b + "attn.in_proj_weight", (3 * W, W))
            w[f"qkv_bias.{i}"] = get(b + "attn.in_proj_bias", (3 * W,))
        for role, pair in _LAYER_NAMES.items():
            shape = {"attn_out_weight": (W, W), "mlp_fc_weight": (4 * W, W), "mlp_fc_bias": (4 * W,),
                     "mlp_proj_weight": (W, 4 * W)}.get(role, (W,))
            w[f"{role}.{i}"] = get(b + pair[pick], shape)
    return w


def find_text_tower(st, needed_by="export"):
    """(naming, prefix) of the text tower in st; ClipError when it has none."""
    for name in st.names():
        if name.endswith(HF_TOKEN):
            return "hf", name[:-len(HF_TOKEN)]
    for name in st.names():
        if name.endswith(OPENAI_TOKEN):
            return "openai", name[:-len(OPENAI_TOKEN)]
    raise ClipError(f"{st.path}: no CLIP text tower (no tensor named '{HF_TOKEN}' or '{OPENAI_TOKEN}'); "
                    f"{needed_by} needs a CLIP file with both towers, such as Hugging Face's "
                    "openai/clip-vit-large-patch14-336 model.safetensors")


def tensor_reader(st, tower, dtype):
    """get(name, shape=None): the float tensor name of st as a torch tensor of
    dtype, its shape checked; ClipError naming the file and tower otherwise."""
    def get(name, shape=None):
        if name not in st:
            raise ClipError(f"{st.path}: the {tower} tower has no tensor '{name}'")
        if shape is not None and st.shape(name) != tuple(shape):
            raise ClipError(f"{st.path}: tensor '{name}' has shape {list(st.shape(name))}, expected {list(shape)}")
        return torch.from_numpy(st.floats(name)).to(dtype)
    return get


def load_text_tower(path, dtype=torch.float64, needed_by="export"):
    """(weights by role, config dict) of the text tower in the file at path."""
    st = SafetensorsFile(path)
    naming, prefix = find_text_tower(st, needed_by)
    names = st.names()
    get = tensor_reader(st, "text", dtype)

    w = {}
    if naming == "hf":
        t = prefix + "text_model."
        w["token_embed"] = get(t + "embeddings.token_embedding.weight")
        V, W = w["token_embed"].shape
        w["pos_embed"] = get(t + "embeddings.position_embedding.weight")
        blocks = t + "encoder.layers."
        ln_final = t + "final_layer_norm."
    else:
        w["token_embed"] = get(prefix + "token_embedding.weight")
        V, W = w["token_embed"].shape
        w["pos_embed"] = get(prefix + "positional_embedding")
        blocks = prefix + "transformer.resblocks."
        ln_final = prefix + "ln_final."
    layers = layer_count(names, blocks)
    if not layers:
        raise ClipError(f"{path}: the text tower's blocks are missing or not numbered 0, 1, 2, ...")
    if W % 64:
        raise ClipError(f"{path}: text width {W} is not a multiple of 64 (CLIP's attention heads are 64 wide)")
    if w["pos_embed"].ndim != 2 or w["pos_embed"].shape[1] != W:
        raise ClipError(f"{path}: the text positional embedding has shape {list(w['pos_embed'].shape)}, "
                        f"expected [context, {W}]")
    w.update(load_blocks(get, blocks, naming, W, layers))
    w["ln_final_weight"] = get(ln_final + "weight", (W,))
    w["ln_final_bias"] = get(ln_final + "bias", (W,))
    if naming == "hf":
        w["proj"] = get(prefix + "text_projection.weight")
    elif prefix + "text_projection" in st:
        w["proj"] = get(prefix + "text_projection").T.contiguous()
    else:  # open_clip models whose projection is a Linear
        w["proj"] = get(prefix + "text_projection.weight")
    if w["proj"].ndim != 2 or w["proj"].shape[1] != W:
        raise ClipError(f"{path}: the text projection has shape {list(w['proj'].shape)}, expected one side {W}")
    act = "gelu" if st.metadata.get("hidden_act") == "gelu" else "quick_gelu"
    cfg = dict(naming=naming, prefix=prefix, width=W, layers=layers, heads=W // 64, context=w["pos_embed"].shape[0],
               vocab=V, embed=w["proj"].shape[0], act=act, vision=vision_tower_info(st))
    return w, cfg


def vision_tower_info(st):
    """{layers, patch, width} of the file's vision tower, or None without one."""
    names = st.names()
    for conv, pattern in (("vision_model.embeddings.patch_embedding.weight", r"vision_model\.encoder\.layers\.(\d+)\."),
                          ("visual.conv1.weight", r"visual\.transformer\.resblocks\.(\d+)\.")):
        for name in names:
            if name.endswith(conv):
                prefix = name[:-len(conv)]
                layers = _layer_count(names, re.escape(prefix) + pattern)
                shape = st.shape(name)
                if layers and len(shape) == 4:
                    return dict(layers=layers, patch=shape[-1], width=shape[0])
    return None


def layer_norm(w, name, x, i=None):
    """CLIP's LayerNorm (eps 1e-5) with the weights of role name (per layer: name.i)."""
    import torch.nn.functional as F
    at = "" if i is None else f".{i}"
    return F.layer_norm(x, (x.shape[-1],), w[f"{name}_weight{at}"], w[f"{name}_bias{at}"], eps=1e-5)


def mlp(w, cfg, i, x):
    """Block i's MLP on x (ln_2 included): c_fc, QuickGELU or GELU, c_proj."""
    import torch.nn.functional as F
    h = layer_norm(w, "ln_2", x, i) @ w[f"mlp_fc_weight.{i}"].T + w[f"mlp_fc_bias.{i}"]
    h = h * torch.sigmoid(1.702 * h) if cfg["act"] == "quick_gelu" else F.gelu(h)
    return h @ w[f"mlp_proj_weight.{i}"].T + w[f"mlp_proj_bias.{i}"]


def self_attention(w, cfg, i, h, mask=None):
    """Block i's multi-head self-attention on h [n, T, W] (already through
    ln_1), out_proj included; mask [T, T] is added to the logits."""
    W, H = h.shape[-1], cfg["heads"]
    n, T, _ = h.shape
    d = W // H
    q, k, v = (t.reshape(n, T, H, d).transpose(1, 2)
               for t in (h @ w[f"qkv_weight.{i}"].T + w[f"qkv_bias.{i}"]).split(W, dim=-1))
    logits = q @ k.transpose(-1, -2) * d ** -0.5
    a = torch.softmax(logits if mask is None else logits + mask, dim=-1) @ v
    return a.transpose(1, 2).reshape(n, T, W) @ w[f"attn_out_weight.{i}"].T + w[f"attn_out_bias.{i}"]


def text_forward(w, cfg, x, eot, deep_prompts=None, deep_start=1):
    """The text transformer on embedded tokens x [n, T, W] (token + positional
    embedding already summed): pre-LN blocks with a causal mask, ln_final,
    the end-of-text token eot[r] of each row, the projection. deep_prompts,
    when given, is a list of [t, W] (or [n, t, W]: one per row) tensors:
    before block deep_start + j (counted from 0) positions 1..t of every row
    are replaced by deep_prompts[j]. Returns [n, embed], not normalised.
    The mask is causal, so tokens after a row's end-of-text token do not
    change its result: x may be cut after the last one."""
    n, T, _ = x.shape
    mask = torch.full((T, T), float("-inf"), dtype=x.dtype, device=x.device).triu(1)
    deep_prompts = deep_prompts or []
    for i in range(cfg["layers"]):
        j = i - deep_start
        if 0 <= j < len(deep_prompts):
            p = deep_prompts[j]
            x = torch.cat([x[:, :1], p.to(x.dtype).expand(n, -1, -1), x[:, 1 + p.shape[-2]:]], dim=1)
        x = x + self_attention(w, cfg, i, layer_norm(w, "ln_1", x, i), mask)
        x = x + mlp(w, cfg, i, x)
    pooled = layer_norm(w, "ln_final", x[torch.arange(n, device=x.device), torch.as_tensor(eot, device=x.device)])
    return pooled @ w["proj"].T
