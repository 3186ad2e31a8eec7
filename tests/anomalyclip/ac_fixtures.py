"""A tiny random CLIP with both towers and a random AnomalyCLIP checkpoint
in the exact layout of its prompt learner's state dict, for the tests.

- tiny_clip(seed): canonical weights (tests/torch/clip_fixtures.py and
  text_fixtures.py roles) of a vision tower (width 128, 4 layers, patch 8,
  pre-training size 32) and a text tower (width 128, 10 layers so that all
  8 deep prompts of depth 9 are used and one layer runs without, CLIP's
  77-token context and 49408-token vocabulary, so that AnomalyCLIP's own
  tokenizer and prompt learner run on it), both projecting to 96.
- save_clip(): one safetensors file, OpenAI naming (visual.*, token_embedding,
  transformer.resblocks.N, ... : the state dict AnomalyCLIP's build_model
  reads) or Hugging Face naming, F32/F16/BF16.
- random_checkpoint(): {"prompt_learner": OrderedDict} as AnomalyCLIP's
  train.py saves it: keys in its order, its shapes and dtypes; the buffers
  token_prefix/suffix_* are the tiny CLIP's token embedding of the tokenized
  prompts "X X ... X object." and "X ... X damaged object." (CLIP's BPE),
  as AnomalyCLIP_PromptLearner computes them.
Only numpy is needed to write weights; torch for the checkpoint."""
import os
import sys
from collections import OrderedDict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
for _d in (os.path.join(ROOT, "tests", "torch"), os.path.join(ROOT, "tests", "text"), os.path.join(ROOT, "tools", "export")):
    if _d not in sys.path:
        sys.path.insert(0, _d)

import clip_fixtures as cf  # noqa: E402
import text_fixtures as tf  # noqa: E402

VOCAB_FILE = os.path.join(ROOT, "data", "bpe_simple_vocab_16e6.txt.gz")
EXPORTER = os.path.join(ROOT, "tools", "export", "tokenclip-export-anomalyclip")

TEXT_CFG = dict(width=128, layers=10, context=77, vocab=49408, embed=96)
VISION_OVERRIDES = dict(width=128, layers=4, patch=8, image=32, embed=96)

# AnomalyCLIP's design_details as its test.sh passes them
N_CTX, T_N_CTX, DEPTH = 12, 4, 9
STATES = ("{}", "damaged {}")  # state_normal_list, state_anomaly_list
CLASSNAME = "object"


def text_config(**overrides):
    cfg = dict(TEXT_CFG)
    cfg.update(overrides)
    cfg["heads"] = cfg["width"] // 64
    cfg["mlp"] = 4 * cfg["width"]
    return cfg


def tiny_clip(seed=0, dtype="f32", text_overrides=None):
    """(vision weights, vision cfg, text weights, text cfg), values as stored in dtype."""
    vcfg = cf.full_config("tiny", **VISION_OVERRIDES)
    tcfg = text_config(**(text_overrides or {}))
    vw = cf.quantize_all(cf.random_weights(vcfg, seed), dtype)
    tw = cf.quantize_all(tf.random_text_weights(tcfg, seed), dtype)
    return vw, vcfg, tw, tcfg


def save_clip(path, vw, vcfg, tw, tcfg, naming="openclip", dtype="f32", prefix="", vision=True):
    """naming "openclip" without prefix is OpenAI's state-dict naming."""
    tf.save_text_model(path, tw, tcfg, naming, dtype, prefix, (vw, vcfg) if vision else None)


def tokenizer():
    import clip_tokenizer_ref
    return clip_tokenizer_ref.Tokenizer(VOCAB_FILE)


def prompt_texts(n_ctx=N_CTX):
    """AnomalyCLIP_PromptLearner's prompts: prefix "X X ... X", a space, the state, a full stop."""
    prefix = " ".join(["X"] * n_ctx)
    return [prefix + " " + state.format(CLASSNAME) + "." for state in STATES]


def random_checkpoint(tw, tcfg, seed=0, n_ctx=N_CTX, t=T_N_CTX, depth=DEPTH, std=0.5, tok=None):
    """The prompt learner's state dict (OrderedDict of torch tensors) for the
    text tower tw. Learnt tensors are drawn with std (AnomalyCLIP initialises
    with 0.02; trained ones are larger; here they match the token embedding's
    scale so that every one matters)."""
    import torch
    rng = np.random.default_rng(seed + 4242)
    W, C = tcfg["width"], tcfg["context"]
    tok = tok or tokenizer()
    emb = np.asarray(tw["token_embed"], np.float32)

    def normal(*shape, s=std):
        return torch.from_numpy((rng.standard_normal(shape) * s).astype(np.float32))

    ids = [np.array(tok.tokenize(p, C), np.int64) for p in prompt_texts(n_ctx)]
    sd = OrderedDict()
    # parameters of the module itself, then its buffers, then its children: nn.Module.state_dict's order
    sd["ctx_pos"] = normal(1, 1, n_ctx, W)
    sd["ctx_neg"] = normal(1, 1, n_ctx, W)
    for side, row in zip(("pos", "neg"), ids):
        e = torch.from_numpy(emb[row])  # [C, W]
        sd[f"token_prefix_{side}"] = e[None, None, :1].clone()
        sd[f"token_suffix_{side}"] = e[None, None, 1 + n_ctx:].clone()
    # registration order: prefix_pos, suffix_pos, prefix_neg, suffix_neg, then the tokenized prompts
    for side, row in zip(("pos", "neg"), ids):
        sd[f"tokenized_prompts_{side}"] = torch.from_numpy(row.astype(np.int32)).reshape(1, 1, C)
    for j in range(depth - 1):
        sd[f"compound_prompts_text.{j}"] = normal(t, W)
    for j in range(depth - 1):
        sd[f"compound_prompt_projections.{j}.weight"] = normal(896, W, s=W ** -0.5)
        sd[f"compound_prompt_projections.{j}.bias"] = normal(896, s=0.02)
    return sd


def save_checkpoint(path, state_dict):
    import torch
    torch.save({"prompt_learner": state_dict}, path)


def load_exporter():
    """tools/export/tokenclip-export-anomalyclip as a module (its export() and main())."""
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.SourceFileLoader("tokenclip_export_anomalyclip", EXPORTER)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
