"""Shared helpers for the PyTorch cross-checks: load the testing library
(libtokenclip-testing: the core with every symbol visible, the plain-C
references of tests/ref, metrics and npy I/O) with ctypes and call it on numpy
arrays.

Each tests/torch/test_*.py checks one family of references against a PyTorch
formulation written from the model's definition. Run by meson with
TOKENCLIP_LIB pointing at the freshly built testing library."""
import ctypes
import os
import sys

import numpy as np
import torch

import tc_testutil

torch.set_num_threads(2)

F32P = ctypes.POINTER(ctypes.c_float)

failures = 0


def lib():
    path = os.environ.get("TOKENCLIP_LIB")
    if not path:
        sys.exit("TOKENCLIP_LIB is not set (run through meson test)")
    return ctypes.CDLL(path)


def fptr(a):
    """A float* to a C-contiguous float32 numpy array (None -> NULL)."""
    if a is None:
        return None
    assert a.dtype == np.float32 and a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(F32P)


def rand(rng, *shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def close(what, got, want, atol, rtol):
    """Prints and records whether |got - want| <= atol + rtol |want| everywhere."""
    global failures
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        print(f"FAIL {what}: shape {got.shape} != {want.shape}")
        failures += 1
        return False
    excess = np.abs(got - want) - (atol + rtol * np.abs(want))
    excess[np.isnan(excess)] = np.inf
    if (excess > 0).any():
        i = np.unravel_index(np.argmax(excess), excess.shape)
        print(f"FAIL {what}: {(excess > 0).sum()} of {excess.size} outside atol {atol} rtol {rtol}; "
              f"worst {i}: got {got[i]:.7g} want {want[i]:.7g}")
        failures += 1
        return False
    print(f"ok {what} ({got.size} elements, atol {atol} rtol {rtol})")
    return True


def finish():
    tc_testutil.finish(failures)
