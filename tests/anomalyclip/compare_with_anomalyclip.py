#!/usr/bin/python3
"""Developer tool, not run in CI: compares our reference of AnomalyCLIP
(ac_reference.py), the fixtures written from it and the exporter's head with
AnomalyCLIP's own code, on the same tiny random CLIP and checkpoint.

    python compare_with_anomalyclip.py --anomalyclip DIR [--fixtures DIR]

DIR is a checkout of github.com/zqhang/AnomalyCLIP (written against commit
45ed4dd; its checkpoints are not needed). Without --fixtures they are
written into a temporary directory by write_ac_fixtures.py. AnomalyCLIP's
modules need, besides torch 1.13+ and numpy: ftfy, regex, tqdm, Pillow and
torchvision's transforms (pure Python). A venv that keeps Debian's torch:

    python3 -m venv --system-site-packages /tmp/acvenv
    /tmp/acvenv/bin/pip install ftfy tqdm pillow
    /tmp/acvenv/bin/pip install --no-deps torchvision==0.15.2  # transforms only
    /tmp/acvenv/bin/python compare_with_anomalyclip.py --anomalyclip DIR

Pillow before 13 is what AnomalyCLIP ran with (Pillow 13 may do the vertical
pass first; then only the preprocessing differs). `thop`, imported by
AnomalyCLIP.py and unused at inference, is replaced by a stub. What runs
is AnomalyCLIP's test.py, step by step: build_model on the CLIP's OpenAI
state dict, AnomalyCLIP_PromptLearner + load_state_dict (strict) of the
checkpoint, encode_text_learn, DAPM_replace, encode_image with the feature
list, compute_similarity, get_similarity_map, (s1 + 1 - s0) / 2, the sum,
scipy's gaussian_filter, the image probability; and utils.get_transform on a
PIL image. It prints the largest absolute and relative differences."""
import argparse
import json
import os
import sys
import tempfile
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ac_fixtures as acf  # noqa: E402
import write_ac_fixtures as waf  # noqa: E402
from safetensors_io import SafetensorsFile  # noqa: E402  (tools/export, on the path through ac_fixtures)

worst = {}


def report(what, got, want, informational=False):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    d = np.abs(got - want)
    rel = float(d.max() / max(np.abs(want).max(), 1e-30))
    print(f"{what:48s} max abs {d.max():.3e}  max abs / max |AC| {rel:.3e}")
    if not informational:
        worst[what] = rel
    return rel


def import_anomalyclip(path):
    sys.modules.setdefault("thop", types.SimpleNamespace(profile=None))  # AnomalyCLIP.py: `from thop import profile`
    sys.path.insert(0, path)
    import AnomalyCLIP_lib
    import prompt_ensemble
    import utils
    from AnomalyCLIP_lib.build_model import build_model
    AnomalyCLIP_lib.build_model_fn = build_model
    return AnomalyCLIP_lib, prompt_ensemble, utils


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--anomalyclip", required=True, help="a checkout of zqhang/AnomalyCLIP")
    ap.add_argument("--fixtures", help="write_ac_fixtures.py output (default: written now, in a temporary directory)")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    fx = a.fixtures or tempfile.mkdtemp(prefix="ac-compare-")
    if not a.fixtures:
        waf.write(fx)
    info = json.load(open(os.path.join(fx, "fixture.json")))
    ac_lib, pe, ac_utils = import_anomalyclip(os.path.abspath(a.anomalyclip))
    from scipy.ndimage import gaussian_filter
    from PIL import Image
    import PIL
    print(f"torch {torch.__version__}, Pillow {PIL.__version__}, fixtures {fx}")

    # the model, as AnomalyCLIP_lib.load builds it (fp32: convert_weights is commented out there)
    st = SafetensorsFile(os.path.join(fx, "clip.safetensors"))
    state = {n: torch.from_numpy(st.floats(n, np.float32)) for n in st.names()}
    design = {"Prompt_length": acf.N_CTX, "learnabel_text_embedding_depth": acf.DEPTH,
              "learnabel_text_embedding_length": acf.T_N_CTX}
    model = ac_lib.build_model_fn("tiny", state, design).float().eval()

    # the prompt learner: its own buffers against our checkpoint's, then the strict load
    learner = pe.AnomalyCLIP_PromptLearner(model.to("cpu"), design)
    ours = torch.load(os.path.join(fx, "checkpoint.pth"), map_location="cpu")["prompt_learner"]
    theirs = learner.state_dict()
    print("state-dict keys in the same order:", list(ours) == list(theirs))
    print("same shapes and dtypes:", all(ours[k].shape == theirs[k].shape and ours[k].dtype == theirs[k].dtype
                                         for k in theirs))
    for k in ("token_prefix_pos", "token_suffix_pos", "token_prefix_neg", "token_suffix_neg",
              "tokenized_prompts_pos", "tokenized_prompts_neg"):
        print(f"buffer {k} equal to AnomalyCLIP's: {torch.equal(ours[k], theirs[k])}")
    learner.load_state_dict(ours)  # strict, as test.py

    # text (test.py)
    with torch.no_grad():
        prompts, tokenized, compound = learner(cls_id=None)
        text = model.encode_text_learn(prompts, tokenized, compound).float()
        text = torch.stack(torch.chunk(text, dim=0, chunks=2), dim=1)
        text = text / text.norm(dim=-1, keepdim=True)  # [1, 2, E]
    report("text features: reference vs AC", np.load(os.path.join(fx, "text_features.npy")), text[0])
    for case in info["cases"]:
        head = SafetensorsFile(os.path.join(fx, f"head-{case}.safetensors"))
        report(f"text features: exporter head-{case} vs AC", head.floats("subspaces")[0], text[0])

    # image (test.py), DPAM_layer from vv_start: DAPM_replace(n) gives the last n - 1 blocks the V-V path
    L = info["vision"]["layers"]
    dpam = L - info["vv_start"] + 2
    model.visual.DAPM_replace(DPAM_layer=dpam)
    args = types.SimpleNamespace(image_size=info["size"])
    preprocess, _ = ac_utils.get_transform(args)
    for im in info["images"]:
        d = os.path.join(fx, im["dir"])
        pil = Image.fromarray(np.load(os.path.join(d, "image.npy")).astype(np.uint8))
        x = preprocess(pil)[None]
        report(f"{im['dir']} input: reference vs AC transform", np.load(os.path.join(d, "input.npy")), x[0])
        x_float = torch.from_numpy(np.load(os.path.join(d, "input_float.npy")))[None]
        report(f"{im['dir']} input (float filter) vs AC transform", x_float[0], x[0], informational=True)
        for case, layers in info["cases"].items():
            with torch.no_grad():
                image_features, patch_features = model.encode_image(x, layers, DPAM_layer=dpam)
                image_features = image_features / image_features.norm(dim=-1, keepdim=True)
                probs = (image_features @ text.permute(0, 2, 1) / 0.07).softmax(-1)[:, 0, 1]
                grids, amaps = [], []
                for pf in patch_features:
                    pf = pf / pf.norm(dim=-1, keepdim=True)
                    sim, _ = ac_lib.compute_similarity(pf, text[0])
                    grids.append(sim[0, 1:, 1].reshape(info["grid"]))
                    smap = ac_lib.get_similarity_map(sim[:, 1:, :], args.image_size)
                    amaps.append((smap[..., 1] + 1 - smap[..., 0]) / 2.0)
                amap = torch.stack(amaps).sum(dim=0)
                blurred = np.stack([gaussian_filter(i, sigma=4) for i in amap.numpy()])
            report(f"{im['dir']} {case} grids", np.load(os.path.join(d, case, "grids.npy")), torch.stack(grids))
            report(f"{im['dir']} {case} map", np.load(os.path.join(d, case, "map.npy")), amap[0])
            report(f"{im['dir']} {case} map_blur", np.load(os.path.join(d, case, "map_blur.npy")), blurred[0])
            report(f"{im['dir']} {case} image score", np.load(os.path.join(d, "image_score.npy")), probs)
            if case == "multi":  # what the float filter (no 8-bit rounding or clamping) costs downstream
                with torch.no_grad():
                    _, pf_float = model.encode_image(x_float.float(), layers, DPAM_layer=dpam)
                    m_float = sum(ac_lib.get_similarity_map(ac_lib.compute_similarity(
                        p / p.norm(dim=-1, keepdim=True), text[0])[0][:, 1:, :], args.image_size)[0, ..., 1]
                        for p in pf_float)
                report(f"{im['dir']} multi map from the float filter vs AC", m_float, amap[0], informational=True)
    print(f"largest relative difference (informational lines aside): {max(worst.values()):.3e} "
          f"({max(worst, key=worst.get)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
