"""A small safetensors reader and writer for the Python tools (numpy, struct
and json: Debian has no python3-safetensors package).

Reading maps the file and converts only the tensors asked for, so a 1.7 GB
CLIP file costs the text tower's memory, not the whole file's."""
import json
import struct

import numpy as np

# safetensors dtype -> little-endian numpy dtype of the stored bytes
_STORED = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
           "I8": "i1", "U8": "u1", "BOOL": "?"}
_FLOATS = ("F64", "F32", "F16", "BF16")


class SafetensorsError(Exception):
    pass


class SafetensorsFile:
    """The header of a safetensors file; tensors are read on request."""

    def __init__(self, path):
        self.path = path
        try:
            with open(path, "rb") as f:
                head = f.read(8)
                if len(head) < 8:
                    raise SafetensorsError(f"{path}: not a safetensors file (shorter than 8 bytes)")
                (n,) = struct.unpack("<Q", head)
                f.seek(0, 2)
                size = f.tell()
                if n > size - 8 or n > 100 << 20:
                    raise SafetensorsError(f"{path}: not a safetensors file (header length {n} does not fit)")
                f.seek(8)
                header = json.loads(f.read(n))
        except OSError as e:
            raise SafetensorsError(f"{path}: {e.strerror}") from None
        except (UnicodeDecodeError, ValueError):
            raise SafetensorsError(f"{path}: not a safetensors file (its header is not JSON)") from None
        if not isinstance(header, dict):
            raise SafetensorsError(f"{path}: not a safetensors file (its header is not a JSON object)")
        self.metadata = header.pop("__metadata__", None) or {}
        self.tensors = header
        self._data_start = 8 + n
        self._size = size
        self._map = None

    def names(self):
        return list(self.tensors)

    def __contains__(self, name):
        return name in self.tensors

    def shape(self, name):
        return tuple(self.tensors[name]["shape"])

    def dtype(self, name):
        return self.tensors[name]["dtype"]

    def raw(self, name):
        """The tensor as stored (bf16 as uint16 bits), a read-only view."""
        info = self.tensors[name]
        dt = info.get("dtype")
        if dt not in _STORED:
            raise SafetensorsError(f"{self.path}: tensor '{name}': unsupported dtype {dt!r}")
        begin, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        if end - begin != count * np.dtype(_STORED[dt]).itemsize or self._data_start + end > self._size:
            raise SafetensorsError(f"{self.path}: tensor '{name}': its data offsets do not match its shape")
        if self._map is None:
            self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
        data = self._map[self._data_start + begin:self._data_start + end]
        return data.view(_STORED[dt]).reshape(info["shape"])

    def floats(self, name, dtype=np.float64):
        """A float tensor (F64/F32/F16/BF16) converted to dtype; a clear error for another dtype."""
        dt = self.dtype(name)
        if dt not in _FLOATS:
            raise SafetensorsError(f"{self.path}: tensor '{name}' is {dt}; a float tensor (F32, F16, BF16) is expected")
        x = self.raw(name)
        if dt == "BF16":
            x = (x.astype(np.uint32) << 16).view(np.float32)
        return x.astype(dtype)


def write(path, tensors, metadata=None):
    """tensors: name -> numpy array of float32, float16, int32 or int64 (stored as F32, F16, I32, I64)."""
    kinds = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int32): "I32",
             np.dtype(np.int64): "I64"}
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, a in tensors.items():
        a = np.asarray(a)
        if a.dtype not in kinds:
            raise SafetensorsError(f"{path}: tensor '{name}': cannot write dtype {a.dtype}")
        raw = np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": kinds[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)  # data aligned to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
