"""tools/tokenclip-head end to end: .npy tokens and a head file in, scores
.npy and JSON out, checked against the C reference of the head (itself
checked against PyTorch in test_ref_head.py). Run by meson with the tool's
path as the argument."""
import ctypes
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

import tc_ctypes as t
from test_ref_head import Params, Result, Error, lib, make_inputs, params

tool = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="tc-tool-head-")


def write_safetensors(path, tensors):
    """name -> numpy array (float32, float16 or int64), as the format lays them out."""
    names = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int64): "I64"}
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def run(*args):
    p = subprocess.run([tool, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def reference(tokens, sub, p):
    N, Q, D = tokens.shape[0] - 1, sub.shape[0], sub.shape[2]
    scores, res, err = np.empty(N, np.float32), Result(), Error()
    st = lib.tc_head_ref_run(t.fptr(tokens), N, t.fptr(sub), Q, D, ctypes.byref(p), t.fptr(scores),
                             ctypes.byref(res), ctypes.byref(err))
    assert st == 0, err.message
    return scores, res


def check(cond, what):
    print(("ok " if cond else "FAIL ") + what)
    if not cond:
        t.failures += 1


N, Q, D = 150, 5, 48
tokens, sub = make_inputs(N, Q, D)
sub16 = sub.astype(np.float16)
tok_path, head_path, out_path = (os.path.join(tmp, n) for n in ("tokens.npy", "head.safetensors", "scores.npy"))
np.save(tok_path, tokens)
# defaults in the file (topk as PyTorch exports an integer), fp16 subspaces
write_safetensors(head_path, {"subspaces": sub16, "topk": np.array(2, np.int64),
                              "sinkhorn_eps": np.array([0.1], np.float32)})

rc, out, errtext = run("--tokens", tok_path, "--head", head_path, "--output", out_path, "--iters", "500",
                       "--tol", "1e-6", "--affinity", "mean", "--blend", "0.25", "--kernels", "cpu")
check(rc == 0, f"tool ran (exit {rc}) {errtext.strip()}")
check("Vulkan validation" not in errtext, "the validation layer (TOKENCLIP_VALIDATE=1) said nothing")
if rc == 0:
    js = json.loads(out)
    got = np.load(out_path)
    p = params(sinkhorn_eps=0.1, topk=2, sinkhorn_iters=500, sinkhorn_tol=1e-6, affinity=1, image_blend=0.25)
    want, res = reference(tokens, np.ascontiguousarray(sub16.astype(np.float32)), p)
    check(got.dtype == np.float32 and got.shape == (N,), f"scores.npy is float32 [{N}]: {got.dtype} {got.shape}")
    # device vs reference: the tolerance of tests/test_head.c
    t.close("tool scores vs C reference", got, want, 1e-3, 0)
    check(abs(js["global_score"] - res.global_score) < 1e-3, f"global score {js['global_score']} vs {res.global_score}")
    check(js["params"]["topk"] == 2 and abs(js["params"]["sinkhorn_eps"] - 0.1) < 1e-7
          and js["params"]["affinity"] == "mean" and js["params"]["sinkhorn_iters"] == 500,
          f"file defaults and command line both applied: {js['params']}")
    check(abs(js["token_score_max"] - got.max()) < 1e-7, "token_score_max is the largest score")
    check(abs(js["image_score"] - (0.75 * js["global_score"] + 0.25 * got.max())) < 1e-6,
          "image score = 0.75 global + 0.25 map max (the token maximum without --map-max)")
    check(js["converged"] and js["row_marginal_error"] < 1e-6 and js["col_marginal_error"] < 1e-5
          and 1 <= js["iterations"] <= 500,
          f"converged in {js['iterations']} iterations, errors {js['row_marginal_error']:.2e} "
          f"{js['col_marginal_error']:.2e}")

rc, out, _ = run("--tokens", tok_path, "--head", head_path, "--output", out_path, "--greedy", "--map-max", "0.9")
js = json.loads(out) if rc == 0 else {}
check(rc == 0 and js["iterations"] == 0 and js["params"]["greedy"] and abs(js["map_max"]["value"] - 0.9) < 1e-7
      and abs(js["image_score"] - (0.5 * js["global_score"] + 0.5 * 0.9)) < 1e-6,
      f"greedy with --map-max: exit {rc}, {js.get('map_max')}")

bad = tokens.copy()
bad[9, 3] = np.nan
bad_path = os.path.join(tmp, "bad.npy")
np.save(bad_path, bad)
rc, _, errtext = run("--tokens", bad_path, "--head", head_path, "--output", out_path)
check(rc == 1 and "NaN" in errtext and "row 9" in errtext, f"NaN token: exit {rc}, {errtext.strip()}")
wrong_d = os.path.join(tmp, "wrong_d.npy")
np.save(wrong_d, tokens[:, :40])
rc, _, errtext = run("--tokens", wrong_d, "--head", head_path, "--output", out_path)
check(rc == 1 and "wrong_d.npy" in errtext and "40 dimensions" in errtext and "have 48" in errtext,
      f"wrong D, said from the tokens' side: exit {rc}, {errtext.strip()}")
rc, _, errtext = run("--tokens", tok_path, "--head", head_path, "--output", out_path, "--topk", "6")
check(rc == 1 and "topk 6" in errtext, f"topk > Q: exit {rc}, {errtext.strip()}")
rc, _, errtext = run("--tokens", tok_path, "--head", head_path, "--output", out_path, "--affinity", "min")
check(rc == 2 and "affinity" in errtext, f"bad option value: exit {rc}")
rc, _, errtext = run("--tokens", tok_path, "--head", os.path.join(tmp, "none.safetensors"), "--output", out_path)
check(rc == 1 and "none.safetensors" in errtext, f"missing head file: exit {rc}, {errtext.strip()}")

shutil.rmtree(tmp)
t.finish()
