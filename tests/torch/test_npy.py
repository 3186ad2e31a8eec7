"""tools/common/tc_npy against NumPy itself: files written by np.save (float16,
float32, float64; format versions 1.0, 2.0, 3.0; every rank up to 4) read
by tc_npy_read, and files written by tc_npy_write read by np.load."""
import ctypes
import os
import tempfile

import numpy as np

import tc_ctypes as t

lib = t.lib()
rng = np.random.default_rng(3)


class TcError(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("message", ctypes.c_char * 512)]


class TcNpy(ctypes.Structure):
    _fields_ = [("ndim", ctypes.c_int), ("shape", ctypes.c_int64 * 8), ("numel", ctypes.c_size_t),
                ("data", ctypes.POINTER(ctypes.c_float)), ("descr", ctypes.c_char * 8)]


lib.tc_npy_read.argtypes = [ctypes.c_char_p, ctypes.POINTER(TcNpy), ctypes.POINTER(TcError)]
lib.tc_npy_write.argtypes = [ctypes.c_char_p, t.F32P, ctypes.c_int, ctypes.POINTER(ctypes.c_int64),
                             ctypes.POINTER(TcError)]
lib.tc_npy_free.argtypes = [ctypes.POINTER(TcNpy)]


def c_read(path):
    a, err = TcNpy(), TcError()
    st = lib.tc_npy_read(path.encode(), ctypes.byref(a), ctypes.byref(err))
    if st != 0:
        raise RuntimeError(err.message.decode())
    shape = tuple(a.shape[i] for i in range(a.ndim))
    out = np.ctypeslib.as_array(a.data, shape=(max(a.numel, 1),))[:a.numel].copy().reshape(shape)
    descr = a.descr.decode()
    lib.tc_npy_free(ctypes.byref(a))
    return out, descr


def c_write(path, x):
    x = np.require(x, np.float32, "C")  # (ascontiguousarray would make a 0-d array 1-d)
    shape = (ctypes.c_int64 * max(x.ndim, 1))(*x.shape)
    err = TcError()
    st = lib.tc_npy_write(path.encode(), t.fptr(x) if x.size else None, x.ndim, shape, ctypes.byref(err))
    if st != 0:
        raise RuntimeError(err.message.decode())


with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "a.npy")
    shapes = [(), (7,), (3, 5), (2, 3, 4), (1, 3, 8, 8), (0, 4)]
    for dtype, descr in [(np.float32, "<f4"), (np.float16, "<f2"), (np.float64, "<f8")]:
        for shape in shapes:
            x = (rng.standard_normal(shape) * 100).astype(dtype)
            np.save(path, x)
            got, got_descr = c_read(path)
            want = x.astype(np.float32)
            if got.shape != want.shape:
                print(f"FAIL {descr} {shape}: read as shape {got.shape}")
                t.failures += 1
            # (tc_ctypes.close wants arrays of rank >= 1)
            t.close(f"np.save {descr} {shape} -> tc_npy_read", np.atleast_1d(got), np.atleast_1d(want), 0, 0)
            if got_descr != descr:
                print(f"FAIL descr {got_descr} != {descr}")
                t.failures += 1
    for version in [(1, 0), (2, 0), (3, 0)]:
        x = rng.standard_normal((4, 6)).astype(np.float32)
        with open(path, "wb") as f:
            np.lib.format.write_array(f, x, version=version)
        got, _ = c_read(path)
        t.close(f"format version {version}", got, x, 0, 0)
    # special values survive both ways
    x = np.array([0.0, -0.0, np.inf, -np.inf, 1e-45, 3.4e38, np.nan], np.float32)
    np.save(path, x)
    got, _ = c_read(path)
    if not (np.array_equal(got, x, equal_nan=True) and np.signbit(got[1])):
        print("FAIL special values through tc_npy_read")
        t.failures += 1
    for shape in shapes:
        x = rng.standard_normal(shape).astype(np.float32)
        c_write(path, x)
        got = np.load(path)
        if got.dtype != np.float32 or not got.flags["C_CONTIGUOUS"]:
            print(f"FAIL tc_npy_write {shape}: np.load gives {got.dtype}")
            t.failures += 1
        if got.shape != x.shape:
            print(f"FAIL tc_npy_write {shape}: np.load gives shape {got.shape}")
            t.failures += 1
        t.close(f"tc_npy_write {shape} -> np.load", np.atleast_1d(got), np.atleast_1d(x), 0, 0)
    # NumPy-refusable files are refused too
    np.save(path, np.arange(6, dtype=np.int64))
    try:
        c_read(path)
        print("FAIL an int64 array was read")
        t.failures += 1
    except RuntimeError as e:
        print(f"ok int64 refused: {e}")
        assert path in str(e)
    np.save(path, np.asfortranarray(rng.standard_normal((3, 4)).astype(np.float32)))
    try:
        c_read(path)
        print("FAIL a Fortran-order array was read")
        t.failures += 1
    except RuntimeError as e:
        print(f"ok Fortran order refused: {e}")

t.finish()
