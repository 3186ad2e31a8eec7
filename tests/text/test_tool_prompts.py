"""tokenclip-prompts and tokenclip-head --model/--object end to end: the
subspaces computed from words by libtokenclip (C tokenizer, Vulkan text
encoder, prompt recipe of core/text/tc_prompts.h) against a Python reference
(clip_tokenizer_ref.py, text_fixtures.text_forward in float64, the same recipe
written in numpy here).

usage: test_tool_prompts.py TOKENCLIP_PROMPTS TOKENCLIP_HEAD MODEL_DIR VOCAB
MODEL_DIR was written by text_fixtures.py --config tiny-vocab --with-vision
(its fixture.json gives the naming, dtype and seed).

Tolerance: the subspace vectors are unit vectors; each component must be
within 2e-5 of the reference (the text embeddings themselves match the
float64 forward to ~1e-6 relative, test_text_encoder)."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "torch"))
import clip_fixtures as cf  # noqa: E402
import text_fixtures as tf  # noqa: E402
from clip_tokenizer_ref import Tokenizer  # noqa: E402
import tc_testutil  # noqa: E402
from tc_testutil import finish  # noqa: E402

prompts_tool, head_tool, model_dir, vocab = sys.argv[1:5]
model = os.path.join(model_dir, "model.safetensors")
info = json.load(open(os.path.join(model_dir, "fixture.json")))
cfg = tf.text_config(info["config"])
weights = cf.quantize_all(tf.random_text_weights(cfg, info["seed"]), info["dtype"])
tok = Tokenizer(vocab)

# the recipe of tc_prompts.h, written again from its description
TEMPLATES = ["a bad photo of a {}.", "a low resolution photo of the {}.", "a bad photo of the {}.",
             "a cropped photo of the {}.", "a bright photo of a {}.", "a dark photo of the {}.", "a photo of my {}.",
             "a photo of the cool {}.", "a close-up photo of a {}.", "a black and white photo of the {}.",
             "a bright photo of the {}.", "a cropped photo of a {}.", "a jpeg corrupted photo of a {}.",
             "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.", "a photo of one {}.",
             "a close-up photo of the {}.", "a photo of a {}.", "a low resolution photo of a {}.",
             "a photo of a large {}.", "a blurry photo of a {}.", "a jpeg corrupted photo of the {}.",
             "a good photo of a {}.", "a photo of the small {}.", "a photo of the large {}.",
             "a black and white photo of a {}.", "a dark photo of a {}.", "a photo of a cool {}.",
             "a photo of a small {}.", "there is a {} in the scene.", "there is the {} in the scene.",
             "this is a {} in the scene.", "this is the {} in the scene.", "this is one {} in the scene."]
NORMAL = ["{}", "flawless {}", "perfect {}", "unblemished {}", "{} without flaw", "{} without defect",
          "{} without damage"]
ABNORMAL = ["damaged {}", "broken {}", "{} with flaw", "{} with defect", "{} with damage"]


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def reference(obj, templates):
    texts = [t.replace("{}", s.replace("{}", obj), 1) for t in templates for s in NORMAL + ABNORMAL]
    ids = np.array([tok.tokenize(x) for x in texts])
    e = unit(tf.text_forward(weights, cfg, ids, info["act"]).astype(np.float64))
    e = e.reshape(len(templates), len(NORMAL) + len(ABNORMAL), -1)
    return np.stack([unit(e[:, :len(NORMAL)].mean(1)), unit(e[:, len(NORMAL):].mean(1))], axis=1)


def read_subspaces(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    t = header["subspaces"]
    dt = {"F32": np.float32, "F16": np.float16}[t["dtype"]]
    a, b = t["data_offsets"]
    return np.frombuffer(data[a:b], dt).astype(np.float32).reshape(t["shape"])


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    return tc_testutil.check(what, cond)


def compare(what, got, want, atol=2e-5):
    if got.shape != want.shape:
        return check(False, f"{what}: shape {got.shape} != {want.shape}")
    err = np.abs(got - want).max()
    cos = (got * want).sum(-1).min()
    check(err <= atol, f"{what}: [Q, 2, D] = {list(got.shape)}, max |diff| {err:.2e} (atol {atol}), "
                       f"min cosine {cos:.8f}")


tmp = tempfile.mkdtemp(prefix="tc-prompts-")
try:
    # 1. the built-in templates, the default vocabulary (none beside this model)
    head = os.path.join(tmp, "head.safetensors")
    rc, out, err = run(prompts_tool, "--model", model, "--object", "metal nut", "--output", head)
    check(rc == 0, f"tokenclip-prompts built-in templates: rc {rc} {err.strip()}")
    if rc == 0:
        summary = json.loads(out)
        check(summary["subspaces"] == 35 and summary["prompts"] == 420, f"summary {summary}")
        compare("built-in templates, \"metal nut\"", read_subspaces(head), reference("metal nut", TEMPLATES))

    # 2. a template file, Hugging Face vocabulary files, F16 output
    tfile = os.path.join(tmp, "templates.txt")
    with open(tfile, "w") as f:
        f.write("# inspection photos\n\na photo of a {} on a conveyor.\n  an x-ray of the {}  \n{} close up, 4k\n")
    hf = os.path.join(tmp, "hf")
    os.makedirs(hf)
    with open(os.path.join(hf, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(tok.encoder, f, ensure_ascii=False)
    with open(os.path.join(hf, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in tok.merges) + "\n")
    head16 = os.path.join(tmp, "head16.safetensors")
    rc, out, err = run(prompts_tool, "--model", model, "--object", "Screw", "--prompts", tfile, "--vocab", hf,
                       "--half", "--output", head16)
    check(rc == 0, f"tokenclip-prompts template file: rc {rc} {err.strip()}")
    if rc == 0:
        want = reference("Screw", ["a photo of a {} on a conveyor.", "an x-ray of the {}", "{} close up, 4k"])
        compare("template file, HF vocabulary, F16 head", read_subspaces(head16), want, atol=1e-3)

    # 3. the vocabulary beside the model is preferred: a copy with a vocabulary that lacks most merges
    #    must give other subspaces than the default one
    side = os.path.join(tmp, "side")
    os.makedirs(side)
    os.symlink(os.path.abspath(model), os.path.join(side, "model.safetensors"))
    with open(os.path.join(side, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(tok.encoder, f, ensure_ascii=False)
    with open(os.path.join(side, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in tok.merges[:300]) + "\n")
    rc, out, err = run(prompts_tool, "--model", os.path.join(side, "model.safetensors"), "--object", "metal nut",
                       "--prompts", tfile, "--output", os.path.join(tmp, "side.safetensors"))
    rc2, _, err2 = run(prompts_tool, "--model", model, "--object", "metal nut", "--prompts", tfile, "--output",
                       os.path.join(tmp, "plain.safetensors"))
    if rc == 0 and rc2 == 0:
        diff = np.abs(read_subspaces(os.path.join(tmp, "side.safetensors")) -
                      read_subspaces(os.path.join(tmp, "plain.safetensors"))).max()
        check(diff > 1e-3, f"the vocabulary beside the model is used (subspaces differ by {diff:.3g})")
    else:
        check(False, f"vocabulary beside the model: {err.strip()} {err2.strip()}")

    # 4. errors say what is wrong
    bad = os.path.join(tmp, "bad.txt")
    with open(bad, "w") as f:
        f.write("a photo of a {}.\na photo without a hole\n")
    rc, out, err = run(prompts_tool, "--model", model, "--object", "screw", "--prompts", bad, "--output",
                       os.path.join(tmp, "x.safetensors"))
    check(rc == 1 and "bad.txt:2" in err and "{}" in err, f"template without {{}}: {err.strip()}")
    rc, out, err = run(prompts_tool, "--model", model, "--object", "very " * 80 + "long", "--output",
                       os.path.join(tmp, "x.safetensors"))
    check(rc == 1 and "too long" in err and "77" in err, f"object too long: {err.strip()[:200]}")
    vision_only = os.path.join(tmp, "vision")
    cf.write_fixture(vision_only, forward_dtype="none")
    rc, out, err = run(prompts_tool, "--model", os.path.join(vision_only, "model.safetensors"), "--object", "screw",
                       "--output", os.path.join(tmp, "x.safetensors"))
    check(rc == 1 and "no CLIP text tower" in err, f"no text tower: {err.strip()[:200]}")
    partial = os.path.join(tmp, "partial")  # clip_fixtures' stub text tower: most tensors missing
    cf.write_fixture(partial, forward_dtype="none", with_text=True)
    rc, out, err = run(prompts_tool, "--model", os.path.join(partial, "model.safetensors"), "--object", "screw",
                       "--output", os.path.join(tmp, "x.safetensors"))
    check(rc == 1 and "text_model.encoder.layers.0." in err, f"incomplete text tower, the tensor named: "
                                                               f"{err.strip()[:220]}")
    check(not os.path.exists(os.path.join(tmp, "x.safetensors")), "no head file written on errors")

    # 5. tokenclip-head --model --object equals tokenclip-head --head with the tool's head file
    rng = np.random.default_rng(3)
    tokens = os.path.join(tmp, "tokens.npy")
    np.save(tokens, rng.standard_normal((1 + 16, cfg["embed"])).astype(np.float32))
    s1, s2 = os.path.join(tmp, "s1.npy"), os.path.join(tmp, "s2.npy")
    rc, out1, err = run(head_tool, "--tokens", tokens, "--model", model, "--object", "metal nut", "--prompts", tfile,
                        "--output", s1)
    check(rc == 0, f"tokenclip-head --model --object: rc {rc} {err.strip()}")
    rc2, out2, err2 = run(head_tool, "--tokens", tokens, "--head", os.path.join(tmp, "plain.safetensors"),
                          "--output", s2)
    check(rc2 == 0, f"tokenclip-head --head: rc {rc2} {err2.strip()}")
    if rc == 0 and rc2 == 0:
        a, b = np.load(s1), np.load(s2)
        check(np.abs(a - b).max() <= 1e-6 and json.loads(out1)["subspaces"] == 3,
              f"token scores from words = from the head file (max |diff| {np.abs(a - b).max():.2e})")
    rc, out, err = run(head_tool, "--tokens", tokens, "--head", head, "--model", model, "--object", "x", "--output", s1)
    check(rc == 2, "--head and --model together are refused")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
