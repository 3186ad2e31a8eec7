"""Head files with pipeline defaults (tools/export/HEAD_DEFAULTS.md): the
names, encodings and checks of the tensors beside `subspaces`, and a writer.
The names and ranges are libtokenclip's parameter table's (core/tc_params.c),
which reads them."""
import numpy as np

import safetensors_io

POS_INTERP = {"bicubic": 0, "bicubic-aa": 1, "bilinear": 2}  # tc_pos_interp (tokenclip.h)
# tc_resample_filter (tokenclip.h): antialiased in float, or PIL's 8-bit bicubic resize bit for bit
RESAMPLE = {"bicubic": 0, "bilinear": 1, "bicubic-pil": 2}
MAX_FEATURE_LAYERS = 8  # TC_MAX_FEATURE_LAYERS
MAX_LAYER = 1024        # the table's bound of vv_start and feature layers

# name -> (numpy dtype, what a value must be)
FORMAT = {
    "temperature": (np.float32, "a positive number"),
    "sinkhorn_eps": (np.float32, "a positive number"),
    "sinkhorn_iters": (np.int32, "an iteration count from 1 to 1000000"),
    "topk": (np.int32, "0 (all subspaces) or a count from 1"),
    "vv_start": (np.int32, f"0 (off) or a layer from 1 to {MAX_LAYER}"),
    "input_size": (np.int32, "a size in pixels from 1 to 8192"),
    "pos_interp": (np.int32, "0 bicubic, 1 bicubic antialiased, 2 bilinear"),
    "resample": (np.int32, "0 bicubic, 1 bilinear, 2 bicubic-pil"),
    "feature_layers": (np.int32, f"1 to {MAX_FEATURE_LAYERS} layers from 1 to {MAX_LAYER}, strictly increasing"),
    "global_ln_post": (np.int32, "0 or 1"),
    "image_blend": (np.float32, "a number from 0 (global token) to 1 (map maximum)"),
    "sigma": (np.float32, "a number from 0 (no blur) to 1000"),
}


def _valid(name, v):
    v = np.atleast_1d(v)
    if name == "feature_layers":
        return 1 <= v.size <= MAX_FEATURE_LAYERS and (v >= 1).all() and (v <= MAX_LAYER).all() \
            and (np.diff(v) > 0).all()
    if v.size != 1:
        return False
    x = v[0]
    return {"temperature": x > 0, "sinkhorn_eps": x > 0, "sinkhorn_iters": 1 <= x <= 1000000,
            "topk": x >= 0, "vv_start": 0 <= x <= MAX_LAYER, "input_size": 1 <= x <= 8192,
            "pos_interp": x in POS_INTERP.values(), "resample": x in RESAMPLE.values(),
            "global_ln_post": x in (0, 1), "image_blend": 0 <= x <= 1, "sigma": 0 <= x <= 1000}[name]


def encode(defaults):
    """name -> value (number or list) as the tensors a head file stores; ValueError naming a bad one."""
    out = {}
    for name, value in defaults.items():
        if name not in FORMAT:
            raise ValueError(f"unknown head default '{name}'")
        dtype, want = FORMAT[name]
        a = np.atleast_1d(np.asarray(value, dtype=dtype))
        if not np.isfinite(a.astype(np.float64)).all() or not _valid(name, a) \
                or (dtype == np.int32 and (np.asarray(value, dtype=np.float64) != a).any()):
            raise ValueError(f"head default '{name}' = {value!r}: it must be {want}")
        out[name] = a
    return out


def write_head(path, subspaces, defaults, metadata=None):
    """subspaces [Q, 2, D] (index 0 normal, 1 abnormal) as F32, and the defaults."""
    sub = np.ascontiguousarray(subspaces, np.float32)
    if sub.ndim != 3 or sub.shape[1] != 2 or sub.shape[0] < 1:
        raise ValueError(f"subspaces must be [Q, 2, D], not {list(sub.shape)}")
    tensors = {"subspaces": sub}
    tensors.update(encode(defaults))
    safetensors_io.write(path, tensors, metadata)
