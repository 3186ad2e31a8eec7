"""The training losses, after AnomalyCLIP's train.py and loss.py (commit
45ed4dd), with the TokenCLIP head's scores in place of its single text pair:

- the map: token scores s on the patch grid as a two-channel map (1 - s, s)
  (for Q = 1 exactly AnomalyCLIP's softmax pair), upsampled bilinearly to
  the input size (align_corners False), against the ground-truth mask:
  focal loss (gamma 2, its label smoothing 1e-5) + dice loss of the
  abnormal channel against the mask + dice of the normal channel against
  its complement; per feature layer, summed, weighted 4 (its `lam`);
- the image: cross-entropy of the image probability (the head's global
  score: the global token's per-subspace probabilities weighted by the
  tokens' mean plan) against the label; for Q = 1 AnomalyCLIP's
  F.cross_entropy on the global token's two logits;
- orthogonality: the mean square of the off-diagonal entries of the Q x Q
  Gram matrix of the normalised subspace embeddings, per state."""
import torch
import torch.nn.functional as F

MAP_WEIGHT = 4.0  # train.py's lam


def linear_weights(n, size, like):
    """[size, n]: F.interpolate's linear weights (align_corners False) from n to size samples."""
    eye = torch.eye(n, dtype=like.dtype, device=like.device)[None]
    return F.interpolate(eye, size=size, mode="linear", align_corners=False)[0].T


def upsampled_map(scores, grid, size):
    """scores [B, N] on a gh x gw grid -> [B, 2, S, S]: (normal, abnormal),
    bilinear as F.interpolate(align_corners=False), written as the separable
    product of its weight matrices: its backward is a matrix product, which
    CUDA computes reproducibly (upsample_bilinear2d's backward is not)."""
    B = scores.shape[0]
    s = scores.reshape(B, *grid)
    up = linear_weights(grid[0], size, s) @ s @ linear_weights(grid[1], size, s).T
    return torch.stack([1.0 - up, up], dim=1)


def focal_loss(prob, target, gamma=2.0, smooth=1e-5):
    """prob [B, 2, S, S] class probabilities, target [B, S, S] in {0, 1}:
    mean over pixels of -(1 - pt)^gamma log(pt), with pt the probability of
    the true class against a one-hot smoothed to [smooth, 1 - smooth], plus
    smooth (loss.py's FocalLoss with alpha None)."""
    t = target.reshape(-1).long()
    p = prob.permute(0, 2, 3, 1).reshape(-1, 2)
    one_hot = F.one_hot(t, 2).to(p.dtype).clamp(smooth, 1.0 - smooth)
    pt = (one_hot * p).sum(1) + smooth
    return (-(1.0 - pt) ** gamma * pt.log()).mean()


def dice_loss(x, target):
    """1 - mean over images of (2 sum(x t) + 1) / (sum x + sum t + 1) (loss.py's BinaryDiceLoss)."""
    B = target.shape[0]
    x, t = x.reshape(B, -1), target.reshape(B, -1)
    return 1.0 - ((2.0 * (x * t).sum(1) + 1.0) / (x.sum(1) + t.sum(1) + 1.0)).mean()


def map_loss(scores, grid, masks):
    """Focal + both dice terms of one feature layer's scores [B, N] against masks [B, S, S] (0/1)."""
    m = upsampled_map(scores, grid, masks.shape[-1])
    return focal_loss(m, masks) + dice_loss(m[:, 1], masks) + dice_loss(m[:, 0], 1.0 - masks)


def image_loss(prob, labels, floor=1e-12):
    """Binary cross-entropy of the image probability prob [B] against labels [B] (0/1)."""
    return -(labels * prob.clamp_min(floor).log() + (1.0 - labels) * (1.0 - prob).clamp_min(floor).log()).mean()


def gram_off_diagonal(subspaces):
    """[2, Q, Q]: per state, the Gram matrix of the Q normalised embeddings with a zero diagonal."""
    t = F.normalize(subspaces, dim=-1).transpose(0, 1)  # [2, Q, D]
    g = t @ t.transpose(1, 2)
    return g * (1.0 - torch.eye(g.shape[-1], dtype=g.dtype, device=g.device))


def orthogonality_penalty(subspaces):
    """Mean square of the off-diagonal Gram entries (0 for Q = 1)."""
    Q = subspaces.shape[0]
    if Q < 2:
        return subspaces.new_zeros(())
    return (gram_off_diagonal(subspaces) ** 2).sum() / (2 * Q * (Q - 1))
