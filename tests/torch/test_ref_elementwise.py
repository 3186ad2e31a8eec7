"""tests/ref elementwise references against PyTorch."""
import numpy as np
import torch

import tc_ctypes as t

lib = t.lib()
rng = np.random.default_rng(1)

n = 1001
a, b = t.rand(rng, n), t.rand(rng, n)
y = np.empty(n, np.float32)
lib.tc_ref_add(t.fptr(a), t.fptr(b), t.fptr(y), n)
t.close("ref add vs torch", y, (torch.from_numpy(a) + torch.from_numpy(b)).numpy(), 0, 0)

t.finish()
