"""The TokenCLIP head (DESIGN.md "The TokenCLIP head") in PyTorch, batched
over images, as libtokenclip computes it (core/head, its C reference
tests/ref/tc_head_ref.c): so that the trainer optimises exactly what the
element runs.

For tokens F [B, N, D], global tokens g [B, D] and subspaces T [Q, 2, D]
(index 0 normal, 1 abnormal), all L2-normalised (norm floored at 1e-12):
  p[b,n,q] = softmax_c(cos(F, T[q,c]) / tau)[abnormal]
  logk     = -(1 - max_c cos) / eps
  Sinkhorn in the log domain with rows 1/N and columns 1/Q: u from v = 0,
           then per iteration v (columns exact), the L1 row error, stop when
           it is below tol (the head's 1e-4) or at the limit, else u
  w[b,n,:] = softmax over the k largest (logk + v) of the row (ties: the
             lower subspace), 0 elsewhere: the plan's row, renormalised
  s[b,n]   = sum_q w p;  global[b] = sum_q mean_n(w[b,n,q]) p_g[b,q]
Each image stops its Sinkhorn on its own, as one head run per image does.
The plan may be computed without gradient (the default of the trainer):
the scores then differentiate through p only."""
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class HeadParams:
    temperature: float = 0.07
    sinkhorn_eps: float = 0.05
    sinkhorn_iters: int = 100
    sinkhorn_tol: float = 1e-4  # libtokenclip's default; head files do not carry it
    topk: int = 0  # 0: all Q

    def check(self, Q):
        if not self.temperature > 0 or not self.sinkhorn_eps > 0:
            raise ValueError("temperature and sinkhorn_eps must be positive")
        if not 1 <= self.sinkhorn_iters <= 1000000:
            raise ValueError(f"sinkhorn_iters {self.sinkhorn_iters}: 1 .. 1000000")
        if not 0 <= self.topk <= Q:
            raise ValueError(f"topk {self.topk} for {Q} subspaces: 0 (all) .. {Q}")


def cosines(x, subspaces):
    """x [..., D], subspaces [Q, 2, D] -> [..., Q, 2]."""
    t = F.normalize(subspaces, dim=-1, eps=1e-12)
    return torch.einsum("...d,qcd->...qc", F.normalize(x, dim=-1, eps=1e-12), t.to(x.dtype))


def abnormal_probability(cos, temperature):
    """softmax over (normal, abnormal) of cos / tau, the abnormal one: [..., Q]."""
    return torch.softmax(cos / temperature, dim=-1)[..., 1]


def sinkhorn(logk, iters, tol):
    """Log-domain Sinkhorn on logk [B, N, Q] with libtokenclip's schedule and
    stopping rule, each image on its own. Returns (u [B, N], v [B, Q],
    iterations [B], row_error [B]); the plan is exp(logk + u + v)."""
    B, N, Q = logk.shape
    log_r, log_c = -math.log(N), -math.log(Q)
    v = logk.new_zeros(B, Q)
    u = log_r - torch.logsumexp(logk, dim=2)
    active = torch.ones(B, dtype=torch.bool, device=logk.device)
    iterations = torch.zeros(B, dtype=torch.long, device=logk.device)
    row_error = logk.new_zeros(B)
    for it in range(1, iters + 1):
        v = torch.where(active[:, None], log_c - torch.logsumexp(logk + u[:, :, None], dim=1), v)
        iterations += active.long()
        lse_row = torch.logsumexp(logk + v[:, None, :], dim=2)
        err = (torch.exp(u + lse_row) - 1.0 / N).abs().sum(1)
        row_error = torch.where(active, err, row_error)
        active = active & ~(err < tol)
        if it == iters or not bool(active.any()):
            break
        u = torch.where(active[:, None], log_r - lse_row, u)
    return u, v, iterations, row_error


def topk_weights(logk, v, k):
    """Each row's k largest logk + v (k = 0: all; equal values keep the lower
    subspace, as a stable descending sort), softmax over them: [B, N, Q]."""
    x = logk + v[:, None, :]
    Q = x.shape[-1]
    if k == 0 or k >= Q:
        return torch.softmax(x, dim=-1)
    order = torch.sort(x.detach(), dim=-1, descending=True, stable=True).indices[..., :k]
    keep = torch.zeros_like(x, dtype=torch.bool).scatter_(-1, order, True)
    return torch.softmax(x.masked_fill(~keep, float("-inf")), dim=-1)


def head(tokens, global_tokens, subspaces, params, plan_grad=False):
    """The head on a batch: tokens [B, N, D], global_tokens [B, D] or None,
    subspaces [Q, 2, D]. Returns dict: scores [B, N], weights [B, N, Q],
    p [B, N, Q], global_score [B] (None without global tokens), iterations
    [B], row_error [B]. plan_grad: differentiate through the unrolled
    Sinkhorn and the top-k softmax (else they are constants)."""
    cos = cosines(tokens, subspaces)
    p = abnormal_probability(cos, params.temperature)
    with torch.set_grad_enabled(plan_grad and torch.is_grad_enabled()):
        logk = -(1.0 - cos.max(dim=-1).values) / params.sinkhorn_eps
        if not plan_grad:
            logk = logk.detach()
        _, v, iterations, row_error = sinkhorn(logk, params.sinkhorn_iters, params.sinkhorn_tol)
        w = topk_weights(logk, v, params.topk)
    out = dict(scores=(w * p).sum(-1), weights=w, p=p, iterations=iterations, row_error=row_error,
               global_score=None)
    if global_tokens is not None:
        p_g = abnormal_probability(cosines(global_tokens, subspaces), params.temperature)
        out["global_score"] = (w.mean(1) * p_g).sum(-1)
    return out
