"""TokenCLIP's learnable prompts: Q subspaces, each a prompt pair like
AnomalyCLIP's ("X*n_ctx object." normal, "X*n_ctx damaged object." abnormal)
whose n_ctx context tokens are learnt, with deep prompts (t learnt tokens
replacing positions 1..t at the input of text layers 2..depth) shared by
all subspaces or one set per subspace, through the frozen CLIP text tower
(clip_text_tower.text_forward, the exporter's text path) -> T [Q, 2, D].

The prompts' token ids are fixed words of CLIP's BPE vocabulary (the test
checks them against the tokenizer). The text encoder's mask is causal, so
the rows are cut after the last end-of-text token: 17 of the 77 positions
for n_ctx 12, the same result at a quarter of the cost."""
import torch
import torch.nn.functional as F

from clip_text_tower import ClipError, text_forward

SOT, EOT, X = 49406, 49407, 343
STATES = ((14115, 269), (13568, 14115, 269))  # "object." and "damaged object." (CLIP BPE)


def prompt_ids(n_ctx):
    """Token ids of the normal and abnormal prompt: <sot> X*n_ctx state <eot>."""
    return [[SOT] + [X] * n_ctx + list(state) + [EOT] for state in STATES]


class PromptLearner(torch.nn.Module):
    """Parameters: ctx [Q, 2, n_ctx, W] (the context tokens of each subspace's
    normal and abnormal prompt) and deep [Qd, depth - 1, t, W] (Qd = Q with
    deep_per_subspace, else 1), drawn from N(0, init_std) by generator as
    AnomalyCLIP initialises its learner (std 0.02)."""

    def __init__(self, tw, tcfg, subspaces=4, n_ctx=12, deep_tokens=4, depth=9, deep_per_subspace=False,
                 init_std=0.02, generator=None):
        super().__init__()
        W, V, C, L = tcfg["width"], tcfg["vocab"], tcfg["context"], tcfg["layers"]
        if subspaces < 1 or n_ctx < 1 or depth < 1 or deep_tokens < 0:
            raise ValueError("subspaces, n_ctx and depth must be at least 1, deep tokens at least 0")
        if depth > 1 and not 1 <= deep_tokens <= n_ctx:
            raise ValueError(f"{deep_tokens} deep prompt tokens: 1 .. n_ctx ({n_ctx}); they replace context "
                             "positions 1..t")
        if depth > L:
            raise ClipError(f"deep prompts at text layers 2..{depth}, but the text tower has {L} layers")
        if V <= EOT:
            raise ClipError(f"the text tower's vocabulary has {V} tokens; the prompts need CLIP's BPE "
                            f"vocabulary (49408 tokens)")
        ids = prompt_ids(n_ctx)
        T = max(map(len, ids))
        if T > C:
            raise ClipError(f"prompts of {T} tokens do not fit the text context of {C}")
        self.Q, self.n_ctx, self.depth = subspaces, n_ctx, depth
        self.deep_tokens = deep_tokens if depth > 1 else 0
        self.deep_per_subspace = bool(deep_per_subspace)
        emb = tw["token_embed"]
        rows = torch.stack([emb[torch.tensor(r + [0] * (T - len(r)))] for r in ids]).float()  # [2, T, W]
        self.register_buffer("prefix", rows[:, :1].clone())
        self.register_buffer("suffix", rows[:, 1 + n_ctx:].clone())
        self.register_buffer("eot", torch.tensor([len(r) - 1 for r in ids]))
        self.register_buffer("pos", tw["pos_embed"][:T].float().clone())
        g = generator
        self.ctx = torch.nn.Parameter(torch.randn(subspaces, 2, n_ctx, W, generator=g) * init_std)
        qd = subspaces if deep_per_subspace else 1
        self.deep = torch.nn.Parameter(torch.randn(qd, depth - 1, self.deep_tokens, W, generator=g) * init_std)

    def layout(self):
        return dict(subspaces=self.Q, n_ctx=self.n_ctx, depth=self.depth, deep_tokens=self.deep_tokens,
                    deep_per_subspace=self.deep_per_subspace, width=self.ctx.shape[-1])

    def forward(self, tw, tcfg):
        """T [Q, 2, D], L2-normalised, differentiable in the parameters."""
        Q, W = self.Q, self.ctx.shape[-1]
        rows = torch.cat([self.prefix.expand(Q, -1, -1, -1), self.ctx, self.suffix.expand(Q, -1, -1, -1)], dim=2)
        x = rows.reshape(2 * Q, -1, W) + self.pos
        deep = [self.deep[:, j].repeat_interleave(2, dim=0) if self.deep_per_subspace else self.deep[0, j]
                for j in range(self.depth - 1)]
        f = text_forward(tw, tcfg, x, self.eot.repeat(Q), deep_prompts=deep, deep_start=1)
        return F.normalize(f.reshape(Q, 2, -1), dim=-1)
