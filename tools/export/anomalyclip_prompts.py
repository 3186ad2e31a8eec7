"""AnomalyCLIP's learnt prompts: its checkpoint layout, read and checked, and
the text path that turns them into a normal and an abnormal embedding.

AnomalyCLIP (github.com/zqhang/AnomalyCLIP, commit 45ed4dd) saves
torch.save({"prompt_learner": prompt_learner.state_dict()}) in train.py. Its
prompt learner (prompt_ensemble.py) is built for one class ("object"), one
normal and one abnormal state, n_ctx learnt context tokens (--n_ctx, 12),
deep prompts of t tokens (--t_n_ctx, 4) for depth - 1 layers (--depth 9),
on a text tower of width W and context C (77). Its state dict is exactly:

    ctx_pos, ctx_neg                           [1, 1, n_ctx, W]  learnt context
    token_prefix_pos, token_prefix_neg         [1, 1, 1, W]      buffer: <sot>'s embedding
    token_suffix_pos, token_suffix_neg         [1, 1, C-1-n_ctx, W]  buffer: embeddings of
                                               "object." / "damaged object.", <eot>, padding
    tokenized_prompts_pos, _neg                [1, 1, C] integer buffer: the prompts' token ids
                                               ("X" * n_ctx + " object." / " damaged object.")
    compound_prompts_text.J                    [t, W]   J = 0 .. depth-2: deep prompts
    compound_prompt_projections.J.weight       [896, W] and .bias [896]: never used at inference

The text path (AnomalyCLIP.encode_text_learn with the learner's output):
row r = [prefix, ctx, suffix] + positional embedding; before text block
1 + J (counted from 0, i.e. layers 2 .. depth counted from 1) the tokens at
positions 1..t are replaced by compound_prompts_text.J rounded to fp16
(`.half()`; torch.cat promotes it back to the fp32 of the other tokens); the
end-of-text token is the argmax of the row's token ids; ln_final, text
projection, L2 normalisation. Row 0 is normal, row 1 abnormal."""
import torch

from clip_text_tower import text_forward

DEEP_PROJECTION_WIDTH = 896  # nn.Linear(ctx_dim, 896) in AnomalyCLIP_PromptLearner


class CheckpointError(Exception):
    pass


def load_checkpoint(path):
    """The prompt learner's state dict in the file at path (a .pth written by
    AnomalyCLIP's train.py), checked against the layout above. Returns
    (prompts dict, layout dict with n_ctx, t, depth, width, context)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except Exception as e:  # torch raises many kinds for a file that is not a checkpoint
        raise CheckpointError(f"{path}: not a PyTorch checkpoint of tensors and dicts (torch.load with "
                              f"weights_only: {type(e).__name__})") from None
    if not isinstance(ckpt, dict) or "prompt_learner" not in ckpt:
        what = f"a dict with keys {sorted(map(str, ckpt))[:6]}" if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: not an AnomalyCLIP checkpoint: expected {{'prompt_learner': state_dict}} "
                              f"as its train.py saves, found {what}")
    sd = ckpt["prompt_learner"]
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path}: 'prompt_learner' is a {type(sd).__name__}, not a state dict")
    return check_layout(path, sd)


def _expected_shapes(n_ctx, t, depth, width, context):
    s = {}
    for side in ("pos", "neg"):
        s[f"ctx_{side}"] = (1, 1, n_ctx, width)
        s[f"token_prefix_{side}"] = (1, 1, 1, width)
        s[f"token_suffix_{side}"] = (1, 1, context - 1 - n_ctx, width)
        s[f"tokenized_prompts_{side}"] = (1, 1, context)
    for j in range(depth - 1):
        s[f"compound_prompts_text.{j}"] = (t, width)
        s[f"compound_prompt_projections.{j}.weight"] = (DEEP_PROJECTION_WIDTH, width)
        s[f"compound_prompt_projections.{j}.bias"] = (DEEP_PROJECTION_WIDTH,)
    return s


def check_layout(path, sd):
    def need(name, ndim):
        if name not in sd:
            raise CheckpointError(f"{path}: the prompt learner has no '{name}': not AnomalyCLIP's layout "
                                  f"(it has {sorted(sd)[:8]}{' ...' if len(sd) > 8 else ''})")
        if not torch.is_tensor(sd[name]) or sd[name].dim() != ndim:
            raise CheckpointError(f"{path}: '{name}' should be a {ndim}-dimensional tensor")
        return sd[name].shape

    _, _, n_ctx, width = need("ctx_pos", 4)
    context = need("tokenized_prompts_pos", 3)[2]
    depth = 1 + sum(1 for k in sd if k.startswith("compound_prompts_text."))
    t = need("compound_prompts_text.0", 2)[0] if depth > 1 else 0
    want = _expected_shapes(n_ctx, t, depth, width, context)
    missing = [k for k in want if k not in sd]
    unexpected = [k for k in sd if k not in want]
    if missing or unexpected:
        raise CheckpointError(f"{path}: not AnomalyCLIP's prompt-learner layout: "
                              + "; ".join(f"{what} {names[:6]}{' ...' if len(names) > 6 else ''}"
                                          for what, names in (("missing", missing), ("unexpected", unexpected))
                                          if names))
    for name, shape in want.items():
        x = sd[name]
        if not torch.is_tensor(x) or tuple(x.shape) != shape:
            got = list(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise CheckpointError(f"{path}: '{name}' has shape {got}; AnomalyCLIP's layout for "
                                  f"n_ctx {n_ctx}, width {width}, context {context} wants {list(shape)}")
        integer = name.startswith("tokenized_prompts")
        if integer == x.is_floating_point():
            raise CheckpointError(f"{path}: '{name}' is {x.dtype}; expected {'integer' if integer else 'float'} values")
        if not integer and not torch.isfinite(x).all():
            raise CheckpointError(f"{path}: '{name}' holds NaN or infinite values")
    ids = {side: sd[f"tokenized_prompts_{side}"].reshape(context).long() for side in ("pos", "neg")}
    for side, row in ids.items():
        eot = int(row.argmax())
        if not n_ctx < eot < context:
            raise CheckpointError(f"{path}: 'tokenized_prompts_{side}' has its end-of-text token at {eot}, "
                                  f"not after the {n_ctx} context tokens")
    f64 = {k: v.to(torch.float64) for k, v in sd.items() if v.is_floating_point()}
    prompts = dict(
        rows=[torch.cat([f64[f"token_prefix_{s}"][0, 0], f64[f"ctx_{s}"][0, 0], f64[f"token_suffix_{s}"][0, 0]])
              for s in ("pos", "neg")],
        ids=[ids["pos"], ids["neg"]],
        eot=[int(ids["pos"].argmax()), int(ids["neg"].argmax())],
        deep=[f64[f"compound_prompts_text.{j}"] for j in range(depth - 1)])
    layout = dict(n_ctx=n_ctx, t=t, depth=depth, width=width, context=context)
    return prompts, layout


def check_against_clip(path, layout, prompts, w, cfg):
    """Errors for a CLIP the checkpoint cannot run on; returns warnings (strings)
    for one it may not have been trained with."""
    if layout["width"] != cfg["width"]:
        raise CheckpointError(f"{path}: the prompts are {layout['width']} wide but the CLIP's text tower is "
                              f"{cfg['width']} wide: the checkpoint belongs to another CLIP "
                              "(AnomalyCLIP's published ones to ViT-L/14@336, text width 768)")
    if layout["context"] != cfg["context"]:
        raise CheckpointError(f"{path}: the prompts are {layout['context']} tokens long but the CLIP's text "
                              f"context is {cfg['context']}")
    if layout["depth"] - 1 > cfg["layers"] - 1:
        raise CheckpointError(f"{path}: {layout['depth'] - 1} deep prompts for text layers 2..{layout['depth']}, "
                              f"but the CLIP's text tower has {cfg['layers']} layers")
    top = max(int(r.max()) for r in prompts["ids"])
    if top >= cfg["vocab"]:
        raise CheckpointError(f"{path}: token id {top} in the prompts, but the CLIP's vocabulary has "
                              f"{cfg['vocab']} tokens")
    # The prefix and suffix buffers are the token embedding of the prompts'
    # ids in the CLIP AnomalyCLIP trained with; AnomalyCLIP uses the buffers.
    warnings = []
    emb = w["token_embed"]
    n = layout["n_ctx"]
    for side, row, ids in zip(("pos", "neg"), prompts["rows"], prompts["ids"]):
        expect = torch.cat([emb[ids[:1]], emb[ids[1 + n:]]])
        have = torch.cat([row[:1], row[1 + n:]])
        diff = float((have - expect).abs().max())
        scale = float(expect.abs().max())
        if diff > 1e-2 * scale:
            warnings.append(f"{path}: token_prefix/suffix_{side} differ from this CLIP's token embedding by up to "
                            f"{diff:.3g} (its values reach {scale:.3g}): the checkpoint was trained with another "
                            "CLIP; the export uses the checkpoint's buffers, as AnomalyCLIP does")
    return warnings


def round_fp16(x):
    """x rounded to the nearest float16 (ties to even), kept in x's dtype: AnomalyCLIP's `.half()`."""
    return x.to(torch.float16).to(x.dtype)


def text_features(w, cfg, prompts):
    """[2, embed] float64: AnomalyCLIP's normal (row 0) and abnormal (row 1)
    text features, L2-normalised."""
    x = torch.stack(prompts["rows"]) + w["pos_embed"]
    deep = [round_fp16(p) for p in prompts["deep"]]
    f = text_forward(w, cfg, x, prompts["eot"], deep_prompts=deep, deep_start=1)
    return f / f.norm(dim=-1, keepdim=True)
