"""The trainer: a frozen CLIP, TokenCLIP's prompt learner, AnomalyCLIP's
optimiser and losses, the head's Sinkhorn + top-k, checkpoints, and the head
file it all ends in.

The vision tower is frozen and sees each image the same way every epoch
(no augmentation, as AnomalyCLIP), so its tokens are computed once and kept
(`cache`; what AnomalyCLIP recomputes every epoch): an epoch then costs the
text tower on 2Q short prompts per step and the head. Without the cache
(too large for memory) every batch runs the vision tower again.

A recipe (dict) holds every setting that decides the result; checkpoints
carry it, so --resume and --export need only the checkpoint. The same
recipe, data and seed on the same device give the same head file, byte for
byte (the test checks it)."""
import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

import clip_vision_tower as cvt
import head_defaults
import losses
import train_data
from clip_text_tower import ClipError, load_text_tower
from progress import Progress
from prompt_learner import PromptLearner
from token_head import HeadParams, head

CHECKPOINT_FORMAT = "tokenclip-train-checkpoint"
CHECKPOINT_VERSION = 1

# The recipe's defaults: AnomalyCLIP's train.sh (ViT-L/14@336, input 518,
# V-V from layer 6 of 24, the last layer's tokens, 12 context tokens, deep
# prompts of 4 tokens to depth 9, Adam lr 1e-3 betas (0.5, 0.999), 15 epochs
# of batch 8, seed 111) and libtokenclip's head defaults; Q = 4, top-2 and
# the Gram penalty's weight 10 are ours (the paper's values are not public).
DEFAULTS = dict(
    subspaces=4, topk=2, n_ctx=12, deep_tokens=4, depth=9, deep_per_subspace=False, init_std=0.02,
    ortho_weight=10.0, plan_grad=False,
    temperature=0.07, sinkhorn_eps=0.05, sinkhorn_iters=100,
    lr=1e-3, beta1=0.5, beta2=0.999, epochs=15, batch=8, seed=111,
    input_size=518, vv_start=None, feature_layers=None, pos_interp="bilinear", map_sigma=4.0,
    data=None, csv=None, categories=None, limit=None,
)
# what may change when a run is resumed
RESUMABLE = ("epochs",)


class TrainError(Exception):
    pass


def resolve(recipe, vcfg):
    """Fills the defaults that follow the vision tower (AnomalyCLIP's setting
    for any depth L: V-V from round(L / 4), the last layer's tokens)."""
    r = dict(recipe)
    L = vcfg["layers"]
    if r["vv_start"] is None:
        r["vv_start"] = max(1, round(L / 4))
    if r["feature_layers"] is None:
        r["feature_layers"] = [L]
    r["feature_layers"] = [int(l) for l in r["feature_layers"]]
    try:
        cvt.check_layers(vcfg, r["vv_start"], r["feature_layers"])
    except ValueError as e:
        raise TrainError(str(e)) from None
    if r["input_size"] < vcfg["patch"] or r["input_size"] % vcfg["patch"]:
        raise TrainError(f"input size {r['input_size']} is not a multiple of the patch size {vcfg['patch']}")
    if r["pos_interp"] not in cvt.POS_INTERP:
        raise TrainError(f"positional interpolation '{r['pos_interp']}': one of {', '.join(cvt.POS_INTERP)}")
    if not 0 <= r["topk"] <= r["subspaces"]:
        raise TrainError(f"topk {r['topk']} for {r['subspaces']} subspaces: 0 (all) .. {r['subspaces']}")
    if r["batch"] < 1 or r["epochs"] < 0 or not r["lr"] > 0:
        raise TrainError("batch must be at least 1, epochs at least 0 and the learning rate positive")
    return r


class Features:
    """The frozen tower's view of the data set: per sample the patch tokens
    of each feature layer, the global token, the mask (bits) and the label.
    cache=True computes all of it once (kept in host memory in the vision
    tower's dtype), decoding the next batch's images while the tower encodes
    this one; else each batch is loaded and encoded when asked for."""

    def __init__(self, trainer, samples, cache, workers, progress):
        self.t, self.samples, self.cache = trainer, samples, cache
        self.pool = ThreadPoolExecutor(max(1, workers))
        self.labels = torch.tensor([s.label for s in samples], dtype=torch.float32)
        self.encode_seconds = 0.0
        if cache:
            self._fill(progress)

    def __len__(self):
        return len(self.samples)

    def _load_one(self, i):
        s, S = self.samples[i], self.t.recipe["input_size"]
        image, size = train_data.load_image(s.image, S)
        return image, train_data.load_mask(s, size, S)

    def _submit(self, indices):
        return [self.pool.submit(self._load_one, i) for i in indices]

    def _encode(self, futures):
        loaded = [f.result() for f in futures]
        start = time.monotonic()
        out = self.t.encode(np.stack([a for a, _ in loaded]))
        if self.t.device.type == "cuda":
            torch.cuda.synchronize(self.t.device)
        self.encode_seconds += time.monotonic() - start
        return out, np.stack([m for _, m in loaded])

    def _fill(self, progress):
        n, bs = len(self.samples), self.t.encode_batch
        batches = [list(range(at, min(n, at + bs))) for at in range(0, n, bs)]
        bar = Progress(n, "features", enabled=progress)
        tokens, glob, masks = {}, [], []
        pending = self._submit(batches[0])
        for k, idx in enumerate(batches):
            current = pending
            if k + 1 < len(batches):
                pending = self._submit(batches[k + 1])
            out, m = self._encode(current)
            for layer, tok in out["tokens"].items():
                tokens.setdefault(layer, []).append(tok.cpu())
            glob.append(out["global_token"].cpu())
            masks.append(np.packbits(m, axis=-1))
            bar.update(idx[-1] + 1)
        bar.close()
        self.tokens = {l: torch.cat(v) for l, v in tokens.items()}
        self.global_tokens = torch.cat(glob)
        self.masks = np.concatenate(masks)

    def batch(self, indices):
        """(tokens {layer: [B, N, E] float32}, global [B, E], masks [B, S, S] float32, labels [B]) on the device."""
        dev, S = self.t.device, self.t.recipe["input_size"]
        if self.cache:
            idx = torch.as_tensor(indices)
            tokens = {l: t[idx].to(dev).float() for l, t in self.tokens.items()}
            glob = self.global_tokens[idx].to(dev).float()
            masks = np.unpackbits(self.masks[indices], axis=-1, count=S).astype(bool)
        else:
            out, masks = self._encode(self._submit(indices))
            tokens = {l: t.float() for l, t in out["tokens"].items()}
            glob = out["global_token"].float()
        return tokens, glob, torch.from_numpy(masks).to(dev).float(), self.labels[list(indices)].to(dev)


class Trainer:
    def __init__(self, recipe, model_path, device="cpu", precision="auto", encode_batch=None, log=None):
        self.log = log or (lambda text: None)
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise TrainError("--device cuda: this PyTorch has no CUDA device (torch.cuda.is_available() is False)")
        if precision == "auto":
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        if precision == "fp16" and self.device.type != "cuda":
            raise TrainError("--precision fp16 needs a CUDA device (PyTorch's CPU half-precision kernels are slow "
                             "or missing)")
        self.precision = precision
        self.vision_dtype = torch.float16 if precision == "fp16" else torch.float32
        self.model_path = model_path
        self.tw, self.tcfg = load_text_tower(model_path, torch.float32, needed_by="tokenclip-train")
        self.vw, self.vcfg = cvt.load_vision_tower(model_path, self.vision_dtype)
        if self.vcfg["embed"] != self.tcfg["embed"]:
            raise ClipError(f"{model_path}: the vision tower projects to {self.vcfg['embed']} and the text tower "
                            f"to {self.tcfg['embed']}: not one CLIP")
        self.tw = {k: v.to(self.device) for k, v in self.tw.items()}
        self.vw = {k: v.to(self.device) for k, v in self.vw.items()}
        self.recipe = resolve(recipe, self.vcfg)
        r = self.recipe
        self.encode_batch = encode_batch or r["batch"]
        generator = torch.Generator().manual_seed(r["seed"])
        try:
            self.learner = PromptLearner(self.tw, self.tcfg, r["subspaces"], r["n_ctx"], r["deep_tokens"], r["depth"],
                                         r["deep_per_subspace"], r["init_std"], generator).to(self.device)
        except ValueError as e:
            raise TrainError(str(e)) from None
        self.optimizer = torch.optim.Adam(self.learner.parameters(), lr=r["lr"], betas=(r["beta1"], r["beta2"]))
        self.head_params = HeadParams(r["temperature"], r["sinkhorn_eps"], r["sinkhorn_iters"], topk=r["topk"])
        self.shuffle = np.random.default_rng(r["seed"])
        self.epoch, self.step, self.history = 0, 0, []

    # ---- the model

    def encode(self, images):
        """uint8 [B, S, S, 3] -> the vision tower's output (tokens per feature layer, global token)."""
        x = train_data.normalise(images).to(self.device, self.vision_dtype)
        r = self.recipe
        return cvt.encode(self.vw, self.vcfg, x, r["vv_start"], r["feature_layers"], r["pos_interp"])

    def subspaces(self):
        """T [Q, 2, D] of the current prompts, float32, no gradient."""
        with torch.no_grad():
            return self.learner(self.tw, self.tcfg).float()

    def token_bytes_per_image(self):
        """What Features keeps of one image: its tokens in the vision dtype and its mask in bits."""
        g = self.grid()
        item = torch.finfo(self.vision_dtype).bits // 8
        tokens = len(self.recipe["feature_layers"]) * g[0] * g[1] + 1
        return tokens * self.vcfg["embed"] * item + self.recipe["input_size"] ** 2 // 8

    def grid(self):
        g = self.recipe["input_size"] // self.vcfg["patch"]
        return (g, g)

    def losses(self, tokens, global_tokens, masks, labels, subspaces=None):
        """dict of the batch's loss terms (tensors) and the total."""
        T = self.learner(self.tw, self.tcfg) if subspaces is None else subspaces
        grid, plan_grad = self.grid(), self.recipe["plan_grad"]
        layers = self.recipe["feature_layers"]
        map_term = 0.0
        for layer in layers:
            out = head(tokens[layer], global_tokens if layer == layers[-1] else None, T, self.head_params, plan_grad)
            map_term = map_term + losses.map_loss(out["scores"], grid, masks)
        image_term = losses.image_loss(out["global_score"], labels)
        ortho = losses.orthogonality_penalty(T)
        total = losses.MAP_WEIGHT * map_term + image_term + self.recipe["ortho_weight"] * ortho
        return dict(total=total, map=map_term, image=image_term, orthogonality=ortho)

    # ---- training

    def batches(self, n):
        """This epoch's batches of sample indices (a fresh permutation each epoch)."""
        order = self.shuffle.permutation(n)
        bs = self.recipe["batch"]
        return [order[i:i + bs].tolist() for i in range(0, n, bs)]

    def train(self, features, on_step=None, max_steps=None, on_epoch=None):
        """Runs the epochs left (self.epoch + 1 .. recipe epochs); on_step(step,
        epoch, loss) after each step; on_epoch(trainer) after each epoch (the
        checkpoint). Stops early after max_steps steps in all."""
        self.learner.train()
        while self.epoch < self.recipe["epochs"]:
            epoch_losses = []
            for indices in self.batches(len(features)):
                if max_steps is not None and self.step >= max_steps:
                    return False
                parts = self.losses(*features.batch(indices))
                self.optimizer.zero_grad()
                parts["total"].backward()
                self.optimizer.step()
                self.step += 1
                epoch_losses.append({k: float(v) for k, v in parts.items()})
                if on_step:
                    on_step(self.step, self.epoch + 1, epoch_losses[-1])
            self.epoch += 1
            self.history.append({k: float(np.mean([l[k] for l in epoch_losses])) for k in epoch_losses[0]})
            if on_epoch:
                on_epoch(self)
        return True

    @torch.no_grad()
    def evaluate(self, features, subspaces=None):
        """Mean loss terms over the data set with the current (or given) subspaces, no update."""
        T = self.subspaces() if subspaces is None else subspaces
        sums, n = {}, 0
        for at in range(0, len(features), self.recipe["batch"]):
            idx = list(range(at, min(len(features), at + self.recipe["batch"])))
            parts = self.losses(*features.batch(idx), subspaces=T)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
            n += len(idx)
        return {k: v / n for k, v in sums.items()}

    @torch.no_grad()
    def scores(self, tokens, global_tokens=None, subspaces=None):
        """The head on one feature layer's tokens [B, N, E] with the current (or given) subspaces."""
        T = self.subspaces() if subspaces is None else subspaces
        return head(tokens.float(), None if global_tokens is None else global_tokens.float(), T, self.head_params)

    # ---- checkpoints and the head file

    def state(self):
        """The checkpoint: tensors as tensors, everything else as one JSON
        string (torch.load(weights_only=True) of PyTorch 1.13 reads no floats)."""
        opt = self.optimizer.state_dict()
        meta = dict(version=CHECKPOINT_VERSION, recipe=self.recipe, epoch=self.epoch, step=self.step,
                    history=self.history, shuffle=self.shuffle.bit_generator.state,
                    model=os.path.basename(self.model_path), param_groups=opt["param_groups"])
        return dict(format=CHECKPOINT_FORMAT, meta=json.dumps(meta, sort_keys=True),
                    learner=self.learner.state_dict(), optimizer_state=opt["state"])

    def save_checkpoint(self, path):
        tmp = path + ".partial"
        torch.save(self.state(), tmp)
        os.replace(tmp, path)

    def load_state(self, ckpt):
        meta = ckpt["meta"]
        self.learner.load_state_dict(ckpt["learner"])
        self.optimizer.load_state_dict(dict(state=ckpt["optimizer_state"], param_groups=meta["param_groups"]))
        self.shuffle.bit_generator.state = meta["shuffle"]
        self.epoch, self.step, self.history = meta["epoch"], meta["step"], list(meta["history"])

    def head_defaults(self):
        r = self.recipe
        return dict(temperature=r["temperature"], sinkhorn_eps=r["sinkhorn_eps"], sinkhorn_iters=r["sinkhorn_iters"],
                    topk=r["topk"], vv_start=r["vv_start"], input_size=r["input_size"],
                    pos_interp=head_defaults.POS_INTERP[r["pos_interp"]],
                    resample=head_defaults.RESAMPLE["bicubic-pil"], feature_layers=r["feature_layers"],
                    global_ln_post=0, image_blend=0.0, sigma=r["map_sigma"])

    def export(self, path):
        """Writes the head file: the subspaces and the defaults they were trained with."""
        meta = {"format": "tokenclip-head", "source": "tokenclip-train", "clip": os.path.basename(self.model_path),
                "epochs": str(self.epoch), "steps": str(self.step), "prompts": "normal, abnormal per subspace",
                "recipe": json.dumps(self.recipe, sort_keys=True)}
        head_defaults.write_head(path, self.subspaces().cpu().numpy(), self.head_defaults(), meta)
        return self.head_defaults()


def load_checkpoint(path):
    """The checkpoint dict at path, checked; TrainError otherwise."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainError(f"{path}: no such file") from None
    except Exception as e:  # torch raises many kinds for a file that is not a checkpoint
        raise TrainError(f"{path}: not a tokenclip-train checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainError(f"{path}: not a tokenclip-train checkpoint")
    try:
        ckpt["meta"] = json.loads(ckpt["meta"])
        version = ckpt["meta"]["version"]
    except (KeyError, TypeError, ValueError):
        raise TrainError(f"{path}: a tokenclip-train checkpoint without its description") from None
    if version != CHECKPOINT_VERSION:
        raise TrainError(f"{path}: checkpoint version {version}, this tokenclip-train reads {CHECKPOINT_VERSION}")
    return ckpt


def resume_recipe(ckpt, given):
    """The checkpoint's recipe with the options given on the command line;
    TrainError for one that would change the result of the epochs done."""
    recipe = dict(ckpt["meta"]["recipe"])
    for k, v in given.items():
        if v is None or k not in recipe:
            continue
        if k in RESUMABLE:
            recipe[k] = v
        elif v != recipe[k] and not (k == "feature_layers" and list(v) == list(recipe[k])):
            raise TrainError(f"--resume: the checkpoint was trained with {k} = {recipe[k]!r}, not {v!r}; "
                             "omit the option (the checkpoint's recipe is used)")
    return recipe


def estimate(images, epochs, batch, images_per_s, steps_per_s):
    """Seconds of a cached run: one vision pass, then epochs x ceil(images / batch) steps."""
    return images / images_per_s + epochs * math.ceil(images / batch) / steps_per_s

