"""tools/export/tokenclip-export-anomalyclip against our reference of
AnomalyCLIP's text path (ac_reference.text_features, float64, PyTorch's own
multi-head attention), on the tiny random CLIP and checkpoint of the
fixtures, in both namings and every storage dtype; its errors for files of
another kind; and its head files read by libtokenclip (tokenclip-head).

    test_ac_export.py FIXTURES_DIR TOKENCLIP_HEAD

Tolerances: subspaces 1e-6 absolute (unit vectors computed in float64 by
both, stored as float32); tokenclip-head's token and image scores 1e-5
absolute (fp32 on the Vulkan device against the float64 reference)."""
import contextlib
import io
import json
import os
import sys
import tempfile

import numpy as np
import torch

import ac_fixtures as acf
import ac_reference as ref
import clip_fixtures as cf
import tc_testutil as tu
from safetensors_io import SafetensorsFile

fx, head_tool = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="tc-ac-export-")
info = json.load(open(os.path.join(fx, "fixture.json")))
exporter = acf.load_exporter()
torch.set_num_threads(2)

vw, vcfg, tw, tcfg = acf.tiny_clip(info["seed"])
sd = acf.random_checkpoint(tw, tcfg, info["seed"])
clip = os.path.join(fx, "clip.safetensors")
ckpt = os.path.join(fx, "checkpoint.pth")


def close(what, got, want, atol):
    d = float(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64)).max())
    return tu.check(f"{what} (max difference {d:.2e}, tolerance {atol})", np.shape(got) == np.shape(want) and d <= atol,
                    f"shapes {np.shape(got)} / {np.shape(want)}")


# ---- the fixtures' heads (written by the exporter in-process) against the reference
want_text = ref.text_features(tw, tcfg, sd).numpy()
close("fixture text_features.npy is the reference's", np.load(os.path.join(fx, "text_features.npy")), want_text, 1e-7)
for case, layers in info["cases"].items():
    head = SafetensorsFile(os.path.join(fx, f"head-{case}.safetensors"))
    close(f"head-{case}: subspaces [1, 2, 96] are the reference's text features", head.floats("subspaces"),
          want_text[None], 1e-6)
    expect = dict(temperature=("F32", [0.07]), vv_start=("I32", [info["vv_start"]]), input_size=("I32", [info["size"]]),
                  pos_interp=("I32", [2]), resample=("I32", [2]), feature_layers=("I32", layers),
                  global_ln_post=("I32", [0]), image_blend=("F32", [0.0]), sigma=("F32", [4.0]))
    got = {n: (head.dtype(n), head.raw(n).tolist()) for n in head.names() if n != "subspaces"}
    want = {n: (dt, list(np.asarray(v, np.float32 if dt == "F32" else np.int32).tolist())) for n, (dt, v) in expect.items()}
    tu.check(f"head-{case}: the defaults of HEAD_DEFAULTS.md", got == want, f"{got} != {want}")

# ---- the command line on other encodings of the same CLIP
cases = [  # naming, dtype, prefix, with the vision tower
    ("hf", "bf16", "", True),
    ("openclip", "f16", "model.", False),
]
for naming, dtype, prefix, vision in cases:
    name = f"{naming}-{dtype}{'-' + prefix.strip('.') if prefix else ''}{'' if vision else '-text-only'}"
    qvw, _, qtw, _ = acf.tiny_clip(info["seed"], dtype)
    path = os.path.join(tmp, name + ".safetensors")
    acf.save_clip(path, qvw, vcfg, qtw, tcfg, naming, dtype, prefix, vision)
    out = os.path.join(tmp, name + "-head.safetensors")
    p = tu.run(sys.executable, acf.EXPORTER, "--clip", path, "--checkpoint", ckpt, "--output", out, timeout=300)
    if not tu.check(f"{name}: exit status 0", p.returncode == 0, p.stderr.strip()):
        continue
    summary = json.loads(p.stdout)
    close(f"{name}: subspaces are the reference's on the {dtype} weights", SafetensorsFile(out).floats("subspaces"),
          ref.text_features(qtw, tcfg, sd).numpy()[None], 1e-6)
    d = summary["defaults"]
    if vision:  # defaults from the 4-layer vision tower: V-V from round(4 / 4) = 1, maps of layer 4
        tu.check(f"{name}: defaults follow the vision tower (vv_start 1, feature_layers [4], input_size 518)",
                 (d["vv_start"], d["feature_layers"], d["input_size"]) == (1, [4], 518), str(d))
        tu.check(f"{name}: warns that 518 is not a multiple of the patch size 8", "patch size 8" in p.stderr, p.stderr)
    else:
        tu.check(f"{name}: without a vision tower, ViT-L/14's defaults (vv_start 6, feature_layers [24])",
                 (d["vv_start"], d["feature_layers"]) == (6, [24]), str(d))
        tu.check(f"{name}: and a warning says so", "no vision tower" in p.stderr, p.stderr)

# ---- errors: exit status 1 and a message naming the problem


def export_error(what, clip_path, ckpt_path, *needles, extra=()):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = exporter.main(["--clip", clip_path, "--checkpoint", ckpt_path, "--output",
                                os.path.join(tmp, "bad-head.safetensors"), *extra])
    msg = err.getvalue().strip()
    tu.check(f"error for {what}: status 1, message says {list(needles)}",
             status == 1 and all(n in msg for n in needles), f"status {status}, stderr: {msg!r}")


def save_variant(name, state=None, whole=None):
    path = os.path.join(tmp, name + ".pth")
    torch.save(whole if whole is not None else {"prompt_learner": state}, path)
    return path


def edited(**changes):
    s = acf.random_checkpoint(tw, tcfg, info["seed"])
    for k, v in changes.items():
        if v is None:
            del s[k]
        else:
            s[k] = v
    return s


export_error("a missing key", clip, save_variant("missing", edited(ctx_neg=None)), "missing", "ctx_neg")
export_error("a missing deep prompt", clip, save_variant("missing-deep", edited(**{"compound_prompts_text.3": None})),
             "missing", "compound_prompts_text.3")
export_error("an unexpected key", clip, save_variant("unexpected", edited(extra_ctx=torch.zeros(3))),
             "unexpected", "extra_ctx")
export_error("a wrong shape", clip, save_variant("shape", edited(token_suffix_pos=torch.zeros(1, 1, 63, 128))),
             "'token_suffix_pos' has shape [1, 1, 63, 128]", "[1, 1, 64, 128]")
export_error("float token ids", clip,
             save_variant("float-ids", edited(tokenized_prompts_neg=sd["tokenized_prompts_neg"].float())),
             "tokenized_prompts_neg", "integer")
export_error("a dict without prompt_learner", clip, save_variant("no-learner", whole={"state_dict": sd}),
             "not an AnomalyCLIP checkpoint", "prompt_learner")
export_error("a bare tensor", clip, save_variant("tensor", whole=torch.zeros(3)), "not an AnomalyCLIP checkpoint")
text_file = os.path.join(tmp, "notes.txt")
with open(text_file, "w") as f:
    f.write("not a checkpoint\n")
export_error("a text file as checkpoint", clip, text_file, "not a PyTorch checkpoint")
export_error("a safetensors file as checkpoint", clip, clip, "not a PyTorch checkpoint")
export_error("a missing checkpoint", clip, os.path.join(tmp, "absent.pth"), "no such file")
wide = acf.random_checkpoint({"token_embed": np.zeros((tcfg["vocab"], 192), np.float32)}, dict(tcfg, width=192))
export_error("a checkpoint of another width", clip, save_variant("wide", wide), "192 wide", "128 wide")
deep = acf.random_checkpoint(tw, tcfg, depth=12)
export_error("more deep prompts than text layers", clip, save_variant("deep", deep), "11 deep prompts", "10 layers")
vision_only = os.path.join(tmp, "vision-only.safetensors")
cf.save_model(vision_only, vw, vcfg, "openclip", "f32")
export_error("a CLIP without a text tower", vision_only, ckpt, "no CLIP text tower")
export_error("a checkpoint as CLIP", ckpt, ckpt, "not a safetensors file")
export_error("feature layers beyond the vision tower", clip, ckpt, "vision tower has 4 layers",
             extra=("--feature-layers", "2,5"))
export_error("unordered feature layers", clip, ckpt, "feature_layers", "strictly increasing",
             extra=("--feature-layers", "3,2"))

# a checkpoint trained with another CLIP: exported (AnomalyCLIP uses the checkpoint's buffers), with a warning
other = edited(token_suffix_neg=sd["token_suffix_neg"] + 1.0)
err = io.StringIO()
with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
    status = exporter.main(["--clip", clip, "--checkpoint", save_variant("other-clip", other), "--output",
                            os.path.join(tmp, "other-head.safetensors")])
tu.check("buffers from another CLIP: exported with a warning", status == 0 and "trained with another CLIP" in
         err.getvalue(), f"status {status}, stderr {err.getvalue()!r}")

# the command line's own exit status and stderr for one of them
p = tu.run(sys.executable, acf.EXPORTER, "--clip", clip, "--checkpoint", os.path.join(tmp, "missing.pth"),
           "--output", os.path.join(tmp, "x.safetensors"), timeout=300)
tu.check("command line: exit status 1 and the message on stderr", p.returncode == 1 and
         "tokenclip-export-anomalyclip: error:" in p.stderr and "ctx_neg" in p.stderr and not p.stdout,
         f"status {p.returncode}, stderr {p.stderr!r}")

# ---- libtokenclip reads the head (its unknown tensors ignored, temperature 0.07 taken) and scores as the reference
img = os.path.join(fx, info["images"][0]["dir"])
layer = info["cases"]["single"][0]
tokens = np.concatenate([np.load(os.path.join(img, "global.npy"))[None], np.load(os.path.join(img, "tokens.npy"))[layer - 1]])
np.save(os.path.join(tmp, "tokens.npy"), tokens.astype(np.float32))
scores = os.path.join(tmp, "scores.npy")
p = tu.run(head_tool, "--tokens", os.path.join(tmp, "tokens.npy"), "--head", os.path.join(fx, "head-single.safetensors"),
           "--output", scores, "--blend", "0")
if tu.check("tokenclip-head reads the exported head", p.returncode == 0, p.stderr.strip()):
    res = json.loads(p.stdout)
    tu.check("tokenclip-head took temperature 0.07 from the file", abs(res["params"]["temperature"] - 0.07) < 1e-7,
             str(res["params"]))
    close("tokenclip-head's token scores are the reference's grid", np.load(scores),
          np.load(os.path.join(img, "single", "grids.npy"))[0].ravel(), 1e-5)
    close("tokenclip-head's global score is the reference's image score", [res["global_score"]],
          np.load(os.path.join(img, "image_score.npy")), 1e-5)
tu.finish()
