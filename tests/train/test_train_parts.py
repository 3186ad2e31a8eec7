"""tools/train's parts, each against an independent reference:

- the prompts' token ids against CLIP's tokenizer (tests/text's reference);
- the prompt learner's text path (Q = 1) against ac_reference.text_features
  (AnomalyCLIP's encode_text_learn written with PyTorch's own attention, on
  the full 77-token rows) with the prompts of a random AnomalyCLIP
  checkpoint; per-subspace deep prompts: each subspace as a Q = 1 learner;
- the vision tower against ac_reference.vision (float64): every feature
  layer's tokens, the global token with and without ln_post, both namings;
  the trainer's image loading against ac_reference.preprocess;
- the head against libtokenclip's C reference (tc_head_ref_run, itself
  checked against PyTorch in tests/torch/test_ref_head.py) image by image:
  scores, global score and Sinkhorn iterations; gradients: without
  plan_grad the plan is a constant, with it gradcheck passes;
- the losses against a transcription of AnomalyCLIP's loss.py / train.py;
- the data readers' rules and errors, and the installed layout's imports.

    test_train_parts.py  (TOKENCLIP_LIB: libtokenclip-testing, as tests/torch)

Tolerances are stated at each check."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

import train_fixtures as fx  # noqa: F401  (sys.path)
import ac_fixtures as acf
import ac_reference as ref
import tc_testutil as tu
from PIL import Image

import clip_vision_tower as cvt
import losses
import prompt_learner as pl
import train_data
from clip_text_tower import load_text_tower
from token_head import HeadParams, head

torch.set_num_threads(1)
tmp = tempfile.mkdtemp(prefix="tc-train-parts-")
rng = np.random.default_rng(5)


def close(what, got, want, atol):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    d = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
    return tu.check(f"{what} (max difference {d:.2e}, tolerance {atol})", d <= atol,
                    f"shapes {got.shape} / {want.shape}")


# ---- prompts and the text path

tok = acf.tokenizer()
for ids, text in zip(pl.prompt_ids(12), acf.prompt_texts(12)):
    want = tok.tokenize(text, 77)
    tu.check(f"prompt ids of '{text}' are CLIP's BPE", want[:len(ids)] == ids and not any(want[len(ids):]),
             f"{ids} vs {want[:len(ids) + 2]}")

vw, vcfg, tw, tcfg = acf.tiny_clip(fx.SEED)
clip_path = os.path.join(tmp, "clip.safetensors")
fx.write_clip(clip_path)
w, cfg = load_text_tower(clip_path, torch.float32, needed_by="tokenclip-train")
sd = acf.random_checkpoint(tw, tcfg, seed=fx.SEED)


def learner_from_checkpoint(state, subspaces=1, per_subspace=False):
    learner = pl.PromptLearner(w, cfg, subspaces=subspaces, deep_per_subspace=per_subspace)
    with torch.no_grad():
        for q in range(subspaces):
            learner.ctx[q, 0] = state[q]["ctx_pos"][0, 0]
            learner.ctx[q, 1] = state[q]["ctx_neg"][0, 0]
            for j in range(learner.depth - 1):
                learner.deep[q if per_subspace else 0, j] = state[q][f"compound_prompts_text.{j}"]
    return learner


learner = learner_from_checkpoint([sd])
T = learner.prefix.shape[1] + learner.n_ctx + learner.suffix.shape[1]
close("learner's <sot> rows are the checkpoint's token_prefix buffers", learner.prefix[:, 0],
      torch.stack([sd["token_prefix_pos"][0, 0, 0], sd["token_prefix_neg"][0, 0, 0]]), 0)
close(f"learner's state and <eot> rows are the checkpoint's token_suffix buffers (first {T - 13})", learner.suffix,
      torch.stack([sd["token_suffix_pos"][0, 0, :T - 13], sd["token_suffix_neg"][0, 0, :T - 13]]), 0)
with torch.no_grad():
    got = learner(w, cfg)
want = ref.text_features(tw, tcfg, sd, fp16_deep=False)
# float32 rows cut after <eot> (17 positions) against float64 on all 77
close("Q=1 text features = AnomalyCLIP's text path (ac_reference, 77 tokens, float64)", got[0], want, 2e-5)

sd2 = acf.random_checkpoint(tw, tcfg, seed=fx.SEED + 1)
both = learner_from_checkpoint([sd, sd2], subspaces=2, per_subspace=True)
with torch.no_grad():
    t2 = both(w, cfg)
    one = learner_from_checkpoint([sd2])(w, cfg)
close("per-subspace deep prompts: subspace 0 as its own Q=1 learner", t2[0], got[0], 1e-6)
close("per-subspace deep prompts: subspace 1 as its own Q=1 learner", t2[1], one[0], 1e-6)
shared = pl.PromptLearner(w, cfg, subspaces=3, generator=torch.Generator().manual_seed(1))
tu.check("shared deep prompts: one set [1, depth - 1, 4, W] for all subspaces",
         tuple(shared.deep.shape) == (1, 8, 4, 128), str(tuple(shared.deep.shape)))
for bad, kw in (("4 deep tokens beyond 2 context tokens", dict(n_ctx=2)), ("depth 11 > 10 layers", dict(depth=11))):
    try:
        pl.PromptLearner(w, cfg, **kw)
        tu.fail(f"learner refuses {bad}")
    except Exception as e:  # ValueError or ClipError
        tu.check(f"learner refuses {bad}: {e}", "deep" in str(e) or "layers" in str(e))

# ---- the vision tower

VV, LAYERS, S = 2, [1, 2, 3, 4], 48
images = [rng.integers(0, 256, (h, w_, 3)).astype(np.uint8) for h, w_ in ((40, 56), (64, 64))]
hf_path = os.path.join(tmp, "clip-hf.safetensors")
fx.write_clip(hf_path, naming="hf")
for path, naming in ((clip_path, "OpenAI"), (hf_path, "Hugging Face")):
    weights, vc = cvt.load_vision_tower(path, torch.float32)
    for k, img in enumerate(images):
        p = os.path.join(tmp, f"img{k}.png")
        Image.fromarray(img).save(p)
        loaded, size = train_data.load_image(p, S)
        x = train_data.normalise(loaded[None])
        want_x = ref.preprocess(img, S, pil=True)
        if naming == "OpenAI":
            close(f"image {k}: load_image + normalise = AnomalyCLIP's transform (PIL 8-bit bicubic)", x[0], want_x,
                  1e-6)
        got = cvt.encode(weights, vc, x, VV, LAYERS, "bilinear")
        want = ref.vision(vw, vcfg, want_x, VV, LAYERS)
        for layer in LAYERS:
            # float32 through 4 blocks against float64; the tokens are O(1)
            close(f"{naming} image {k}: layer {layer} tokens ({'V-V' if layer >= VV else 'ordinary'} stream)",
                  got["tokens"][layer][0], want["tokens"][layer], 2e-5)
        close(f"{naming} image {k}: global token x_L[CLS] @ proj", got["global_token"][0], want["global_token"], 2e-5)
        close(f"{naming} image {k}: global token with ln_post", got["global_ln_post"][0], want["global_ln_post"], 2e-5)
for bad in ((0, [5]), (5, [4]), (1, [3, 2])):
    try:
        cvt.check_layers(vcfg, *bad)
        tu.fail(f"vv_start {bad[0]}, feature layers {bad[1]} refused")
    except ValueError as e:
        tu.check(f"vv_start {bad[0]}, feature layers {bad[1]} refused: {e}", "1..4" in str(e))

# ---- the head against the C reference

import tc_ctypes  # noqa: E402
from test_ref_head import c_run, make_inputs, params  # noqa: E402

torch.set_num_threads(1)  # tc_ctypes sets 2


def head_case(N, Q, D, k, iters, B=3, dtype=torch.float64, atol=1e-6):
    batch = [make_inputs(N, Q, D) for _ in range(B)]
    sub = batch[0][1]
    tokens = np.stack([b[0] for b in batch])  # [B, 1 + N, D]
    hp = HeadParams(0.07, 0.05, iters, 1e-4, k)
    out = head(torch.from_numpy(tokens[:, 1:]).to(dtype), torch.from_numpy(tokens[:, 0]).to(dtype),
               torch.from_numpy(sub).to(dtype), hp)
    name = f"head N={N} Q={Q} D={D} k={k} iters={iters} {str(dtype)[6:]}"
    its = []
    for b in range(B):
        st, scores, res, msg = c_run(np.ascontiguousarray(tokens[b]), sub, params(
            temperature=0.07, sinkhorn_eps=0.05, sinkhorn_iters=iters, sinkhorn_tol=1e-4, topk=k))
        if not tu.check(f"{name}: C reference ran", st == 0, msg):
            return
        close(f"{name} image {b}: token scores = C reference", out["scores"][b], scores, atol)
        close(f"{name} image {b}: global score = C reference", out["global_score"][b], res.global_score, atol)
        its.append((int(out["iterations"][b]), res.iterations))
    tu.check(f"{name}: Sinkhorn iterations per image = C reference ({its})", all(a == b for a, b in its))


head_case(64, 4, 96, 2, 100)
head_case(37, 3, 20, 0, 100)
head_case(50, 5, 16, 1, 3)  # stops at the limit
head_case(30, 1, 8, 0, 100)
head_case(64, 4, 96, 2, 100, dtype=torch.float32, atol=2e-5)  # the trainer's precision

# gradients
tokens, sub = make_inputs(20, 3, 8)
tk = torch.from_numpy(tokens[1:]).double()[None]
T0 = torch.from_numpy(sub).double().requires_grad_()
hp = HeadParams(0.07, 0.05, 30, 0.0, 0)  # tol 0: a fixed number of iterations, a smooth function
out = head(tk, None, T0, hp)
tu.check("plan without gradient: the weights are constants", not out["weights"].requires_grad)
g_head, = torch.autograd.grad(out["scores"].sum(), T0)
w_const = out["weights"].detach()
from token_head import abnormal_probability, cosines  # noqa: E402
g_p, = torch.autograd.grad((w_const * abnormal_probability(cosines(tk, T0), 0.07)).sum(-1).sum(), T0)
close("plan without gradient: d scores / d subspaces = through p alone", g_head, g_p, 1e-12)
tu.check("plan_grad: gradcheck of the scores through the unrolled Sinkhorn and the softmax (float64)",
         torch.autograd.gradcheck(lambda t: head(tk, None, t, hp, plan_grad=True)["scores"], (T0,), eps=1e-6,
                                  atol=1e-5))
out_g = head(tk, None, T0, hp, plan_grad=True)
close("plan_grad: the same forward values", out_g["scores"].detach(), out["scores"].detach(), 1e-12)

# ---- losses against AnomalyCLIP's loss.py / train.py (transcribed)


def ac_focal(logit, target, gamma=2, smooth=1e-5):
    logit = logit.view(logit.size(0), logit.size(1), -1).permute(0, 2, 1).contiguous().view(-1, logit.size(1))
    target = target.view(-1, 1)
    one_hot = torch.zeros(target.size(0), 2, dtype=logit.dtype).scatter_(1, target.long(), 1)
    one_hot = torch.clamp(one_hot, smooth / (2 - 1), 1.0 - smooth)
    pt = (one_hot * logit).sum(1) + smooth
    return (-1 * torch.ones(()) * torch.pow(1 - pt, gamma) * pt.log()).mean()


def ac_dice(x, t):
    n = t.size(0)
    x, t = x.view(n, -1), t.view(n, -1)
    return 1 - ((2 * (x * t).sum(1) + 1) / (x.sum(1) + t.sum(1) + 1)).sum() / n


B, g, S = 3, 6, 48
tok = torch.randn(B, g * g, 96, dtype=torch.float64)
text = F.normalize(torch.randn(1, 2, 96, dtype=torch.float64), dim=-1)
gt = (torch.rand(B, S, S) > 0.8).double()
# AnomalyCLIP: softmax(cos / 0.07) over the pair, both channels upsampled bilinearly
sim = (F.normalize(tok, dim=-1) @ text[0].T / 0.07).softmax(-1)
ac_map = F.interpolate(sim.reshape(B, g, g, 2).permute(0, 3, 1, 2), S, mode="bilinear")
ours = head(tok, None, text, HeadParams())  # Q = 1: s = p
m = losses.upsampled_map(ours["scores"], (g, g), S)
close("Q=1 map (1 - s, s) upsampled = AnomalyCLIP's similarity map", m, ac_map, 1e-12)
want = ac_focal(ac_map, gt) + ac_dice(ac_map[:, 1], gt) + ac_dice(ac_map[:, 0], 1 - gt)
close("Q=1 map loss = AnomalyCLIP's focal + dice + dice", losses.map_loss(ours["scores"], (g, g), gt), want, 1e-12)
glob = torch.randn(B, 96, dtype=torch.float64)
labels = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
ac_image = F.cross_entropy(F.normalize(glob, dim=-1) @ text[0].T / 0.07, labels.long())
img = head(tok, glob, text, HeadParams())["global_score"]
close("Q=1 image loss = AnomalyCLIP's cross-entropy of the global token", losses.image_loss(img, labels), ac_image,
      1e-12)
eye = torch.eye(4, 8, dtype=torch.float64)
close("Gram penalty of orthonormal subspaces", losses.orthogonality_penalty(torch.stack([eye, eye.roll(4, 1)], 1)),
      0.0, 1e-15)
same = F.normalize(torch.randn(1, 2, 8, dtype=torch.float64), dim=-1).expand(4, 2, 8)
close("Gram penalty of identical subspaces", losses.orthogonality_penalty(same), 1.0, 1e-12)
close("Gram penalty with Q=1", losses.orthogonality_penalty(same[:1]), 0.0, 0)

# ---- the data readers


def touch_png(path, size=(20, 16), value=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((size[1], size[0]), value, np.uint8)).save(path)


d = os.path.join(tmp, "mvtec")
touch_png(f"{d}/cat_b/test/good/b.PNG")
touch_png(f"{d}/cat_b/test/good/a.jpg")
touch_png(f"{d}/cat_b/test/good/.hidden.png")
open(f"{d}/cat_b/test/good/notes.txt", "w").close()
touch_png(f"{d}/cat_b/test/crack/x.png")
touch_png(f"{d}/cat_b/ground_truth/crack/x_mask.png", value=255)
touch_png(f"{d}/cat_a/test/good/1.jpeg")
os.makedirs(f"{d}/zz_no_test/train")
got = [(s.category, s.defect, os.path.basename(s.image), s.label) for s in train_data.read(d)]
want = [("cat_a", "good", "1.jpeg", 0), ("cat_b", "crack", "x.png", 1), ("cat_b", "good", "a.jpg", 0),
        ("cat_b", "good", "b.PNG", 0)]
tu.check("MVTec layout: categories with test/, defects and files in name order, image extensions only",
         got == want, str(got))
tu.check("--categories picks and orders", [s.category for s in train_data.read(d, categories=["cat_b", "cat_a"])]
         == ["cat_b"] * 3 + ["cat_a"])
samples = [train_data.Sample(str(i), None if lab == 0 else "m", lab, "c", "d") for i, lab in
           enumerate([0, 0, 0, 1, 1, 0, 1])]
tu.check("--limit takes anomalous and normal in turn, in order",
         [s.image for s in train_data.limit(samples, 4)] == ["0", "1", "3", "4"])


def expect_error(what, fn, *words):
    try:
        fn()
        tu.fail(f"{what}: no error")
    except train_data.DataError as e:
        tu.check(f"{what}: {e}", all(w in str(e) for w in words))


os.remove(f"{d}/cat_b/ground_truth/crack/x_mask.png")
expect_error("MVTec: a defect image without its mask", lambda: train_data.read(d), "x.png", "x_mask.png", "mask")
touch_png(f"{d}/cat_b/ground_truth/crack/x_mask.png", size=(10, 10))
s_bad = [s for s in train_data.read(d) if s.label][0]
expect_error("a mask of another size than its image", lambda: train_data.load_mask(s_bad, (20, 16), 8),
             "10x10", "20x16")
os.makedirs(f"{tmp}/empty/cat/test/good")
expect_error("a category without images", lambda: train_data.read(f"{tmp}/empty"), "no PNG or JPEG")
expect_error("a folder without categories", lambda: train_data.read(f"{tmp}/mvtec/zz_no_test"), "no category folders")
csv = os.path.join(tmp, "split.csv")
with open(csv, "w") as f:
    f.write('object,split,label,image,mask\ncat,train,normal,cat_b/test/good/a.jpg,\n'
            '"cat",test,normal,"cat_b/test/good/a.jpg",\n'
            "cat,test,1,cat_b/test/crack/x.png,cat_b/ground_truth/crack/x_mask.png\n")
got = [(s.category, s.label, os.path.basename(s.image)) for s in train_data.read(d, csv)]
tu.check("VisA CSV: test rows, quoted fields, label 1", got == [("cat", 0, "a.jpg"), ("cat", 1, "x.png")], str(got))
with open(csv, "a") as f:
    f.write("cat,test,anomaly,cat_b/test/good/b.PNG,\n")
expect_error("VisA CSV: an anomalous image without a mask", lambda: train_data.read(d, csv), "split.csv:5",
             "without a mask")
with open(csv, "w") as f:
    f.write("object,split,label,image,mask\ncat,train,normal,cat_b/test/good/a.jpg,\n")
expect_error("VisA CSV without test rows", lambda: train_data.read(d, csv), 'no rows with split "test"')
with open(csv, "w") as f:
    f.write("object,split,image,mask\n")
expect_error("VisA CSV without a label column", lambda: train_data.read(d, csv), 'no column "label"')

# ---- the installed layout: bin/tokenclip-train imports from share/tokenclip/python


def meson_files(folder):
    text = open(os.path.join(fx.ROOT, "tools", folder, "meson.build")).read()
    return sorted(set(re.findall(r"'([a-z_]+\.py)'", text)))


prefix = os.path.join(tmp, "prefix")
os.makedirs(os.path.join(prefix, "bin"))
os.makedirs(os.path.join(prefix, "share", "tokenclip", "python"))
shutil.copy(fx.TRAINER, os.path.join(prefix, "bin"))
for folder in ("train", "export"):
    for name in meson_files(folder):
        shutil.copy(os.path.join(fx.ROOT, "tools", folder, name), os.path.join(prefix, "share", "tokenclip", "python"))
p = subprocess.run([sys.executable, os.path.join(prefix, "bin", "tokenclip-train"), "--help"], capture_output=True,
                   text=True, env=dict(os.environ, PYTHONPATH=""), timeout=120)
tu.check("installed layout: tokenclip-train --help finds its modules (meson.build installs them all)",
         p.returncode == 0 and "--subspaces" in p.stdout, p.stderr[-300:])

shutil.rmtree(tmp)
tu.finish(tu.failures + tc_ctypes.failures)
