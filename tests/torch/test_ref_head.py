"""core/head reference (tc_head_ref.h) against PyTorch.

The head is written out here from DESIGN.md in float64 torch, independently
of the C code: torch's F.normalize, softmax and logsumexp, a log-domain
Sinkhorn in the usual dual-potential form (f, g in units of the cost,
P = exp((f + g - C) / eps)), top-k by a stable descending sort (ties keep
the lower subspace index) and the scores. When POT (python3-pot, not a CI
dependency: it pulls in scipy and boost) is importable, the plan is also
checked against ot.sinkhorn(method="sinkhorn_log")."""
import ctypes

import numpy as np
import torch
import torch.nn.functional as F

import tc_ctypes as t

lib = t.lib()
rng = np.random.default_rng(7)
SZ = ctypes.c_size_t


class Params(ctypes.Structure):
    _fields_ = [("temperature", ctypes.c_float), ("sinkhorn_eps", ctypes.c_float),
                ("sinkhorn_iters", ctypes.c_uint32), ("sinkhorn_tol", ctypes.c_float),
                ("topk", ctypes.c_uint32), ("affinity", ctypes.c_int), ("greedy", ctypes.c_int),
                ("image_blend", ctypes.c_float), ("sinkhorn_warm_start", ctypes.c_int)]


class Result(ctypes.Structure):
    _fields_ = [("global_score", ctypes.c_float), ("token_score_max", ctypes.c_float),
                ("iterations", ctypes.c_uint32), ("converged", ctypes.c_int),
                ("row_error", ctypes.c_float), ("col_error", ctypes.c_float)]


class Error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("message", ctypes.c_char * 512)]


lib.tc_head_params_default.argtypes = [ctypes.POINTER(Params)]
lib.tc_head_ref_cosines.argtypes = [t.F32P, SZ, t.F32P, SZ, SZ, t.F32P]
lib.tc_head_ref_probs.argtypes = [t.F32P, SZ, SZ, ctypes.c_float, t.F32P]
lib.tc_head_ref_log_kernel.argtypes = [t.F32P, SZ, SZ, ctypes.c_int, ctypes.c_float, t.F32P]
lib.tc_head_ref_sinkhorn.argtypes = [t.F32P, SZ, SZ, ctypes.c_uint32, ctypes.c_float, t.F32P, t.F32P,
                                     ctypes.POINTER(Result)]
lib.tc_head_ref_topk.argtypes = [t.F32P, t.F32P, SZ, SZ, SZ, t.F32P]
lib.tc_head_ref_token_scores.argtypes = [t.F32P, t.F32P, SZ, SZ, t.F32P]
lib.tc_head_ref_global_score.argtypes = [t.F32P, t.F32P, SZ, SZ]
lib.tc_head_ref_global_score.restype = ctypes.c_float
lib.tc_head_ref_run.argtypes = [t.F32P, SZ, t.F32P, SZ, SZ, ctypes.POINTER(Params), t.F32P,
                                ctypes.POINTER(Result), ctypes.POINTER(Error)]
lib.tc_head_ref_run.restype = ctypes.c_int
TC_ERR_NUMERIC = 9

try:
    import ot  # POT
except ImportError:
    ot = None


def tensor(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def make_inputs(N, Q, D):
    """Tokens leaning on one embedding of one subspace each, plus noise."""
    sub = t.rand(rng, Q, 2, D)
    lean = rng.uniform(0.1, 1.0, size=(N + 1, 1)).astype(np.float32)
    pick = rng.integers(0, 2 * Q, size=N + 1)
    tokens = (lean * sub.reshape(2 * Q, D)[pick] + t.rand(rng, N + 1, D)).astype(np.float32)
    return np.ascontiguousarray(tokens), np.ascontiguousarray(sub)


# ---- the head in torch ------------------------------------------------------

def torch_cosines(tokens, sub):
    Q, _, D = sub.shape
    return F.normalize(tensor(tokens), dim=-1, eps=1e-12) @ F.normalize(tensor(sub).reshape(2 * Q, D), dim=-1).T


def torch_probs(cos, tau):
    return torch.softmax(cos.reshape(cos.shape[0], -1, 2) / tau, dim=-1)[..., 1]


def torch_affinity(cos, mode):
    c = cos.reshape(cos.shape[0], -1, 2)
    return [c.max(-1).values, c.mean(-1), c[..., 1]][mode]


def torch_sinkhorn(C, eps, tol, iters):
    """Log-domain Sinkhorn with uniform marginals in dual form. Same stopping
    rule as the head: after the g (column) update, stop when the L1 row error
    is below tol. Returns the plan and the iterations run."""
    N, Q = C.shape
    log_a, log_b = -np.log(N) * torch.ones(N, dtype=C.dtype), -np.log(Q) * torch.ones(Q, dtype=C.dtype)
    f = eps * log_a - eps * torch.logsumexp(-C / eps, dim=1)
    g = torch.zeros(Q, dtype=C.dtype)
    for it in range(1, iters + 1):
        g = eps * log_b - eps * torch.logsumexp((f[:, None] - C) / eps, dim=0)
        P = torch.exp((f[:, None] + g[None, :] - C) / eps)
        if (P.sum(1) - 1.0 / N).abs().sum() < tol or it == iters:
            return P, it
        f = eps * log_a - eps * torch.logsumexp((g[None, :] - C) / eps, dim=1)


def torch_topk_weights(logp, k):
    """Softmax over each row's k largest entries; equal entries keep the lower index."""
    N, Q = logp.shape
    order = torch.sort(logp, dim=1, descending=True, stable=True).indices[:, :k]
    keep = torch.zeros(N, Q, dtype=torch.bool).scatter_(1, order, True)
    return torch.softmax(logp.masked_fill(~keep, float("-inf")), dim=1)


# ---- C reference wrappers ---------------------------------------------------

def c_cosines(tokens, sub):
    rows, D = tokens.shape
    Q = sub.shape[0]
    cos = np.empty((rows, Q, 2), np.float32)
    lib.tc_head_ref_cosines(t.fptr(tokens), rows, t.fptr(sub), Q, D, t.fptr(cos))
    return cos


def c_sinkhorn(logk, iters, tol):
    N, Q = logk.shape
    u, v, res = np.empty(N, np.float32), np.empty(Q, np.float32), Result()
    lib.tc_head_ref_sinkhorn(t.fptr(logk), N, Q, iters, tol, t.fptr(u), t.fptr(v), ctypes.byref(res))
    return u, v, res


def c_topk(logk, v, k):
    N, Q = logk.shape
    w = np.empty((N, Q), np.float32)
    lib.tc_head_ref_topk(t.fptr(logk), t.fptr(v), N, Q, k, t.fptr(w))
    return w


def params(**kw):
    p = Params()
    lib.tc_head_params_default(ctypes.byref(p))
    for name, value in kw.items():
        setattr(p, name, value)
    return p


def c_run(tokens, sub, p):
    N, Q, D = tokens.shape[0] - 1, sub.shape[0], sub.shape[2]
    scores, res, err = np.empty(N, np.float32), Result(), Error()
    st = lib.tc_head_ref_run(t.fptr(tokens), N, t.fptr(sub), Q, D, ctypes.byref(p), t.fptr(scores),
                             ctypes.byref(res), ctypes.byref(err))
    return st, scores, res, err.message.decode()


def close_scalar(what, got, want, atol):
    t.close(what, np.array([got], np.float64), np.array([float(want)]), atol, 0)


def check(cond, what):
    if cond:
        print(f"ok {what}")
    else:
        print(f"FAIL {what}")
        t.failures += 1


# ---- the checks ---------------------------------------------------------------

def check_steps(N, Q, D, mode, k, eps=0.05, tau=0.07):
    name = f"N={N} Q={Q} D={D} affinity={mode} k={k}"
    tokens, sub = make_inputs(N, Q, D)
    cos = c_cosines(tokens, sub)
    tcos = torch_cosines(tokens, sub)
    t.close(f"{name} cosines", cos.reshape(N + 1, 2 * Q), tcos, 1e-6, 0)  # fp32 storage of the result

    p = np.empty((N + 1, Q), np.float32)
    lib.tc_head_ref_probs(t.fptr(cos), N + 1, Q, tau, t.fptr(p))
    t.close(f"{name} probabilities", p, torch_probs(tensor(cos).reshape(N + 1, -1), tau), 1e-6, 0)

    logk = np.empty((N, Q), np.float32)
    lib.tc_head_ref_log_kernel(t.fptr(cos[1:]), N, Q, mode, eps, t.fptr(logk))
    C = 1.0 - torch_affinity(tensor(cos[1:]).reshape(N, -1), mode)
    t.close(f"{name} log kernel", logk, -C / eps, 0, 1e-6)

    # Sinkhorn on the same (fp32) log kernel: same stopping rule, same count
    tol = 1e-9
    u, v, res = c_sinkhorn(logk, 5000, tol)
    P_torch, it_torch = torch_sinkhorn(-eps * tensor(logk), eps, tol, 5000)
    P_c = torch.exp(tensor(logk) + tensor(u)[:, None] + tensor(v)[None, :])
    # u, v are stored as fp32: relative plan error ~ 1e-7 * |u + v|
    t.close(f"{name} sinkhorn plan (x N)", N * P_c, N * P_torch, 1e-6, 2e-5)
    check(res.converged == 1 and abs(res.iterations - it_torch) <= 1 and res.row_error < tol,
          f"{name} sinkhorn: {res.iterations} iterations (torch {it_torch}), row error {res.row_error:.2e}, "
          f"column error {res.col_error:.2e}")
    if ot is not None:
        P_pot = ot.sinkhorn(np.full(N, 1.0 / N), np.full(Q, 1.0 / Q), (-eps * tensor(logk)).numpy(), eps,
                            method="sinkhorn_log", numItermax=10000, stopThr=1e-12)
        t.close(f"{name} sinkhorn plan vs POT sinkhorn_log (x N)", N * P_c, N * torch.from_numpy(P_pot), 1e-6, 2e-5)

    # top-k on the reference's own plan, ranked in fp32 as the head ranks it
    logp = torch.from_numpy(logk + v[None, :])
    w = c_topk(logk, v, k)
    t.close(f"{name} top-k weights", w, torch_topk_weights(logp.double(), k if k else Q), 1e-6, 0)
    s = np.empty(N, np.float32)
    lib.tc_head_ref_token_scores(t.fptr(w), t.fptr(p[1:]), N, Q, t.fptr(s))
    t.close(f"{name} token scores", s, (tensor(w) * tensor(p[1:])).sum(1), 1e-6, 0)
    g = lib.tc_head_ref_global_score(t.fptr(w), t.fptr(p[0]), N, Q)
    close_scalar(f"{name} global score", g, (tensor(w).mean(0) * tensor(p[0])).sum(), 1e-6)


def check_whole(N, Q, D, mode, k, greedy=False, eps=0.05, tau=0.07):
    """tc_head_ref_run end to end against the torch head end to end."""
    name = f"whole head N={N} Q={Q} D={D} affinity={mode} k={k}{' greedy' if greedy else ''}"
    tokens, sub = make_inputs(N, Q, D)
    p = params(temperature=tau, sinkhorn_eps=eps, sinkhorn_iters=5000, sinkhorn_tol=1e-9, topk=k, affinity=mode,
               greedy=int(greedy))
    st, scores, res, msg = c_run(tokens, sub, p)
    if st != 0:
        check(False, f"{name}: status {st}: {msg}")
        return
    cos = torch_cosines(tokens, sub)
    prob = torch_probs(cos, tau)
    a = torch_affinity(cos[1:], mode)
    if greedy:
        w = F.one_hot(a.argmax(1), Q).double()  # argmax: first maximum
    else:
        P, _ = torch_sinkhorn(1.0 - a, eps, 1e-9, 5000)
        w = torch_topk_weights(torch.log(P), k if k else Q)
    s = (w * prob[1:]).sum(1)
    t.close(f"{name} scores", scores, s, 2e-5, 0)
    close_scalar(f"{name} global score", res.global_score, (w.mean(0) * prob[0]).sum(), 2e-5)


def check_ties():
    """Identical subspaces 1 and 2: every decided tie goes to subspace 1 in
    the reference as in a stable sort, and in greedy mode as in argmax."""
    N, Q, D = 200, 4, 16
    tokens, sub = make_inputs(N, Q, D)
    sub[2] = sub[1]
    tokens[::2] = sub[1, 0] + 0.4 * t.rand(rng, N // 2 + 1, D)
    cos = c_cosines(tokens, sub)
    logk = np.empty((N, Q), np.float32)
    lib.tc_head_ref_log_kernel(t.fptr(cos[1:]), N, Q, 0, 0.05, t.fptr(logk))
    u, v, _ = c_sinkhorn(logk, 1000, 1e-8)
    check(v[1] == v[2], f"ties: identical subspaces get identical potentials ({v[1]!r}, {v[2]!r})")
    for k in (1, 2):
        w = c_topk(logk, v, k)
        want = torch_topk_weights(torch.from_numpy(logk + v[None, :]).double(), k)
        decided = int(((w[:, 1] != 0) != (w[:, 2] != 0)).sum())
        t.close(f"ties k={k} ({decided} rows decided a tie)", w, want, 1e-6, 0)
        check(decided > 0 and not ((w[:, 2] != 0) & (w[:, 1] == 0)).any(), f"ties k={k}: lower index wins")
    p = params(greedy=1)
    st, scores, _, _ = c_run(tokens, sub, p)
    a = torch_affinity(torch_cosines(tokens, sub)[1:], 0)
    t.close("ties greedy scores (argmax takes the first)", scores,
            torch_probs(torch_cosines(tokens, sub), p.temperature)[1:].gather(1, a.argmax(1, keepdim=True))[:, 0],
            2e-5, 0)


def check_single_space():
    tokens, sub = make_inputs(40, 1, 24)
    st, scores, res, _ = c_run(tokens, sub, params())
    prob = torch_probs(torch_cosines(tokens, sub), 0.07)[:, 0]
    t.close("Q=1 scores = single-space softmax score", scores, prob[1:], 1e-6, 0)
    close_scalar("Q=1 global score = global token's softmax score", res.global_score, prob[0], 1e-6)


def check_nonfinite():
    tokens, sub = make_inputs(20, 3, 12)
    tokens[4, 7] = np.nan
    st, _, _, msg = c_run(tokens, sub, params())
    check(st == TC_ERR_NUMERIC and "row 4" in msg, f"NaN token -> TC_ERR_NUMERIC ({msg})")


def main():
    check_steps(13, 3, 37, 0, 0)
    check_steps(196, 5, 132, 1, 2)
    check_steps(577, 16, 64, 2, 3)
    check_steps(97, 64, 20, 0, 7)
    check_whole(150, 6, 40, 0, 2)
    check_whole(333, 9, 33, 1, 0)
    check_whole(200, 7, 28, 2, 1, greedy=True)
    check_ties()
    check_single_space()
    check_nonfinite()
    if ot is None:
        print("note: POT (python3-pot) is not installed: the plan was checked against the torch Sinkhorn only")
    t.finish()


if __name__ == "__main__":  # test_tool_head.py imports the helpers above
    main()
