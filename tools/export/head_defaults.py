"""Head files with pipeline defaults (tools/export/HEAD_DEFAULTS.md): the
names, encodings and checks of the tensors beside `subspaces`, and a writer."""
import numpy as np

import safetensors_io

POS_INTERP = {"bicubic": 0, "bicubic-aa": 1, "bilinear": 2}  # tc_interp (core/model/tc_pos_embed.h)
# tc_resample_filter (include/tokenclip/tokenclip.h), antialiased as PIL; 2: PIL's 8-bit bicubic, bit for bit
RESAMPLE = {"bicubic": 0, "bilinear": 1, "bicubic-pil": 2}
MAP_BLUR = {"tokenclip": 0, "scipy": 1}

# name -> (numpy dtype, what a value must be)
FORMAT = {
    "temperature": (np.float32, "a positive number"),
    "sinkhorn_eps": (np.float32, "a positive number"),
    "sinkhorn_iters": (np.int32, "an iteration count from 1 to 1000000"),
    "topk": (np.int32, "0 (all subspaces) or a count from 1"),
    "vv_start": (np.int32, "0 (off) or a layer from 1"),
    "input_size": (np.int32, "a size in pixels from 1"),
    "pos_interp": (np.int32, "0 bicubic, 1 bicubic antialiased, 2 bilinear"),
    "resample": (np.int32, "0 bicubic, 1 bilinear, 2 PIL's 8-bit bicubic"),
    "feature_layers": (np.int32, "layers from 1, strictly increasing"),
    "global_ln_post": (np.int32, "0 or 1"),
    "image_blend": (np.float32, "a number from 0 (global token) to 1 (map maximum)"),
    "map_sigma": (np.float32, "0 (no blur) or a positive number"),
    "map_blur": (np.int32, "0 tokenclip, 1 scipy"),
}


def _valid(name, v):
    v = np.atleast_1d(v)
    if name == "feature_layers":
        return v.size >= 1 and (v >= 1).all() and (np.diff(v) > 0).all()
    if v.size != 1:
        return False
    x = v[0]
    return {"temperature": x > 0, "sinkhorn_eps": x > 0, "sinkhorn_iters": 1 <= x <= 1000000, "topk": x >= 0,
            "vv_start": x >= 0, "input_size": x >= 1, "pos_interp": x in POS_INTERP.values(),
            "resample": x in RESAMPLE.values(), "global_ln_post": x in (0, 1), "image_blend": 0 <= x <= 1,
            "map_sigma": x >= 0, "map_blur": x in MAP_BLUR.values()}[name]


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
