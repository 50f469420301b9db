"""Train MusicGPT on token shards.

    python -m training.train --config configs/small.json [--resume] [--max-iters N] [--export DIR]
    torchrun --nproc_per_node 2 -m training.train --config configs/small.json   # several processes

Input: a shard folder DATA with DATA/{train,val}/tokens.npy (uint16, all sequences
concatenated), offsets.npy (int64, n+1 boundaries), text.npy (float16, (n, 384)
sentence embeddings) and meta.json (vocab_size, pad_id, bos_id, eos_id, optional
bar_id, ...; looked up in the split folder, then in DATA). DATA defaults to
$COMPOSER_CACHE, else ~/.cache/composer/data (where ``python -m training.shards
build`` writes); the run folder to ~/.cache/composer/runs/<name>.

Batches: ``batch_size`` sequences drawn at random (``sampling``: "uniform" per
sequence, or "tokens": in proportion to length, so every token is about equally
likely to be trained on), right-padded to the longest in the batch; the loss
ignores the pads. A sequence longer than ``block_size + 1`` tokens is cropped:
with ``crop = "window"`` it keeps its header (the first ``header_len`` tokens)
and a random window of the rest, starting on a bar token when meta.json names
one (``bar_id``); with ``crop = "head"`` it keeps its first ``block_size + 1``.
The window crop teaches the model the "header + recent bars" context that
sliding-window generation of long sections uses. With ``transpose = k`` each
training row is moved by a random -k..+k semitones (pitch, key and chord tokens;
DATA/transpose.npy holds the id tables, made from DATA/tokenizer.json once), so
every piece is seen in many keys.

``max_minutes`` (or --max-minutes) gives the run a wall-clock budget instead of
an iteration count: the cosine decay follows the time spent and the run exports
when the time is up, so one config fits a laptop CPU and a datacenter GPU alike.

``tune`` (token-name prefixes such as ``["Style_"]``, with ``init_from``) trains only the
embedding rows of those tokens, the rest of the network frozen: a control token that a short
run barely learnt gets the embedding the trained network reads best, for a fraction of a run.

Everything random is derived from (seed, rank, iteration): batch ``i`` and its
dropout masks are the same whether the run was interrupted or not, so
``--resume`` continues exactly where the checkpoint left off.

Run folder (``out_dir``): ``ckpt/`` (fp32 model, optimizer state as safetensors,
state.json), ``best/`` (fp32 model of the best validation loss), ``log.jsonl``,
``train_config.json`` and, at the end, ``export/`` (fp16 model.safetensors,
config.json, train_summary.json) unless ``--export DIR`` names another folder.
Nothing is pickled.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from symbolic.arrange.generation import GenerationConfig
from symbolic.files import atomic_write
from symbolic.model import ModelConfig, MusicGPT

if TYPE_CHECKING:
    from torch.nn.parallel import DistributedDataParallel

REPO_ROOT = Path(__file__).resolve().parents[1]
IGNORE_INDEX = -100
MAX_TRANSPOSE = 6


class TrainError(ValueError):
    """A bad training config, data folder or run folder."""


def default_shard_dir() -> Path:
    """Where ``python -m training.shards build`` writes: $COMPOSER_CACHE, else ~/.cache/composer/data."""
    env = os.environ.get("COMPOSER_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "composer" / "data"


def default_out_dir(name: str) -> Path:
    return Path.home() / ".cache" / "composer" / "runs" / name


@dataclass
class TrainConfig:
    name: str = "small"
    model: dict = field(default_factory=dict)  # ModelConfig fields; vocab_size comes from meta.json if absent
    data_dir: str | None = None  # default: $COMPOSER_CACHE, else ~/.cache/composer/data
    out_dir: str | None = None  # default: ~/.cache/composer/runs/<name>
    batch_size: int = 8
    block_size: int = 512  # tokens per training row (the model's block_size defaults to it)
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 6e-4
    min_lr: float = 6e-5
    warmup_iters: int = 200
    lr_decay_iters: int | None = None  # cosine decay from lr to min_lr ends here (default max_iters)
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # 0: no clipping
    max_iters: int = 5000
    eval_interval: int = 250
    eval_iters: int = 20
    log_interval: int = 10
    checkpoint_interval: int | None = None  # default eval_interval
    seed: int = 1337
    sampling: str = "tokens"  # "uniform" | "tokens"
    crop: str = "window"  # "window" | "head"
    header_len: int = 10  # BOS and the nine header tokens (symbolic.tokenizer.HEADER_LEN)
    text_dropout: float = 0.1  # chance to train a row with the empty (zero) text embedding
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    amp: str = "auto"  # "auto" (bf16 on CUDA, off on CPU) | "bf16" | "off"
    init_from: str | None = None  # exported weights to start a new run from (a fresh optimizer)
    transpose: int = 0  # shift each training row by a random -transpose..+transpose semitones (0: off)
    max_minutes: float | None = None  # a wall-clock budget: the lr follows it and the run ends with it
    threads: int | None = None  # torch CPU threads (default: cores / processes)
    tune: list[str] = field(default_factory=list)  # token-name prefixes: train only their embedding rows

    def __post_init__(self) -> None:
        if self.sampling not in ("uniform", "tokens"):
            raise TrainError(f"sampling must be 'uniform' or 'tokens', got {self.sampling!r}")
        if self.crop not in ("window", "head"):
            raise TrainError(f"crop must be 'window' or 'head', got {self.crop!r}")
        if self.amp not in ("auto", "bf16", "off"):
            raise TrainError(f"amp must be 'auto', 'bf16' or 'off', got {self.amp!r}")
        for name in ("batch_size", "block_size", "grad_accum", "eval_interval", "eval_iters", "log_interval"):
            if int(getattr(self, name)) < 1:
                raise TrainError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_iters < 0 or self.warmup_iters < 0:
            raise TrainError("max_iters and warmup_iters must be >= 0")
        if not 0 <= self.header_len < self.block_size:
            raise TrainError(f"header_len must be in [0, block_size), got {self.header_len}")
        if not 0 <= self.transpose <= MAX_TRANSPOSE:
            raise TrainError(f"transpose must be in [0, {MAX_TRANSPOSE}], got {self.transpose}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise TrainError(f"max_minutes must be > 0, got {self.max_minutes}")
        if self.tune and not self.init_from:
            raise TrainError("tune trains a few embedding rows of trained weights: it needs init_from")
        if self.lr_decay_iters is None:
            self.lr_decay_iters = self.max_iters
        if self.checkpoint_interval is None:
            self.checkpoint_interval = self.eval_interval

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(k for k in d if k not in known and not k.startswith("_"))
        if unknown:
            raise TrainError(f"unknown training config keys: {', '.join(unknown)}")
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainConfig:
        """Read a JSON config; a bare name such as "small" means configs/small.json of the project."""
        p = Path(path)
        if not p.is_file() and not p.suffix and (REPO_ROOT / "configs" / f"{p}.json").is_file():
            p = REPO_ROOT / "configs" / f"{p}.json"
        if not p.is_file():
            raise TrainError(f"config file not found: {path}")
        try:
            d = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise TrainError(f"{p}: not valid JSON: {e}") from None
        return cls.from_dict(d)

    def to_dict(self) -> dict:
        return asdict(self)

    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_shard_dir()

    def resolved_out_dir(self) -> Path:
        return Path(self.out_dir).expanduser() if self.out_dir else default_out_dir(self.name)


# ----------------------------------------------------------------------------- data
def read_meta(split_dir: Path) -> dict:
    for p in (split_dir / "meta.json", split_dir.parent / "meta.json"):
        if p.is_file():
            return json.loads(p.read_text())
    raise TrainError(f"no meta.json in {split_dir} or {split_dir.parent}")


class TokenShards:
    """One split of the shard folder: sequences of tokens and their text embeddings."""

    def __init__(self, split_dir: str | os.PathLike) -> None:
        self.dir = Path(split_dir)
        for name in ("tokens.npy", "offsets.npy", "text.npy"):
            if not (self.dir / name).is_file():
                raise TrainError(f"missing {self.dir / name}")
        self.meta = read_meta(self.dir)
        self.tokens = np.load(self.dir / "tokens.npy", mmap_mode="r")
        self.offsets = np.load(self.dir / "offsets.npy").astype(np.int64)
        self.text = np.load(self.dir / "text.npy", mmap_mode="r")
        n = len(self.offsets) - 1
        if n < 1 or self.offsets[0] != 0 or self.offsets[-1] != len(self.tokens):
            raise TrainError(f"{self.dir}: offsets do not cover tokens.npy")
        self.lengths = np.diff(self.offsets)
        if (self.lengths < 2).any():
            raise TrainError(f"{self.dir}: a sequence has fewer than 2 tokens")
        if self.text.shape[0] != n:
            raise TrainError(f"{self.dir}: text.npy has {self.text.shape[0]} rows for {n} sequences")
        self.pad_id = int(self.meta["pad_id"])
        self.vocab_size = int(self.meta["vocab_size"])
        self.bar_id = self.meta.get("bar_id")
        self.ctx_end_id = self.meta.get("ctx_end_id")  # closes the context block, when the data has one
        top = int(self.tokens.max())
        if top >= self.vocab_size:
            raise TrainError(f"{self.dir}: token {top} outside vocab_size {self.vocab_size}")
        self._cdf = np.cumsum(self.lengths, dtype=np.float64) / float(self.lengths.sum())
        self.transpose_table: np.ndarray | None = None  # set by train() when cfg.transpose > 0

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    def sample_ids(self, rng: np.random.Generator, n: int, sampling: str) -> np.ndarray:
        if sampling == "uniform":
            return rng.integers(0, len(self), size=n)
        return np.minimum(np.searchsorted(self._cdf, rng.random(n), side="right"), len(self) - 1)

    def crop(self, seq: np.ndarray, rng: np.random.Generator, block_size: int, crop: str,
             header_len: int) -> np.ndarray:
        """At most block_size + 1 tokens of seq (inputs and shifted targets come from them): the header (with
        its context block) and a window of the rest that starts on a Bar."""
        keep = block_size + 1
        if len(seq) <= keep:
            return seq
        if crop == "head":
            return seq[:keep]
        if self.ctx_end_id is not None:  # the header and the context block stay together
            ends = np.flatnonzero(seq[:keep - 32] == self.ctx_end_id)  # room for a bar of the part's own
            if len(ends):
                header_len = int(ends[0]) + 1
        need = keep - header_len
        last = len(seq) - need  # the window may start anywhere in [header_len, last]
        starts = None
        if self.bar_id is not None:
            bars = np.flatnonzero(seq[header_len:last + 1] == self.bar_id) + header_len
            if len(bars):
                starts = bars
        start = int(starts[rng.integers(0, len(starts))]) if starts is not None else \
            int(rng.integers(header_len, last + 1))
        return np.concatenate([seq[:header_len], seq[start:start + need]])

    def transpose(self, seq: np.ndarray, shift: int) -> np.ndarray:
        """seq moved by shift semitones (pitches, key, chords); unchanged where a pitch would leave the range."""
        if shift == 0:
            return seq
        if self.transpose_table is None:
            raise TrainError("no transpose table loaded")
        out = self.transpose_table[shift + MAX_TRANSPOSE][seq]
        return seq if (out < 0).any() else out.astype(seq.dtype)

    def batch(self, rng: np.random.Generator, cfg: TrainConfig, training: bool = True) -> tuple[torch.Tensor, ...]:
        """(x, y, text) with x (B, T) inputs, y (B, T) targets (IGNORE_INDEX on pads), text (B, D).

        With ``training``, a ``cfg.text_dropout`` share of rows get the empty (zero) text, and with
        ``cfg.transpose`` each row is moved by a random number of semitones (the sequences carry
        their key and chords as tokens, so a transposed row is as valid a piece as the original).
        """
        ids = self.sample_ids(rng, cfg.batch_size, cfg.sampling)
        seqs = [self.crop(np.asarray(self.tokens[self.offsets[i]:self.offsets[i + 1]]), rng,
                          cfg.block_size, cfg.crop, cfg.header_len) for i in ids]
        if training and cfg.transpose > 0:
            seqs = [self.transpose(s, int(rng.integers(-cfg.transpose, cfg.transpose + 1))) for s in seqs]
        T = max(len(s) for s in seqs) - 1
        x = np.full((len(seqs), T), self.pad_id, dtype=np.int64)
        y = np.full((len(seqs), T), IGNORE_INDEX, dtype=np.int64)
        for b, s in enumerate(seqs):
            x[b, :len(s) - 1] = s[:-1]
            y[b, :len(s) - 1] = s[1:]
            if self.ctx_end_id is not None and cfg.header_len < len(s):
                # The context block is given, never written: no loss on it, the part's own bars carry it all.
                ends = np.flatnonzero(s[:len(s) - 1] == self.ctx_end_id)
                if len(ends):
                    y[b, cfg.header_len - 1:int(ends[0])] = IGNORE_INDEX
        text = np.asarray(self.text[ids], dtype=np.float32)
        if training and cfg.text_dropout > 0:
            text[rng.random(len(ids)) < cfg.text_dropout] = 0.0
        return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(text)


def write_synthetic_shards(directory: str | os.PathLike, n_train: int = 64, n_val: int = 16,
                           vocab_size: int = 64, max_len: int = 200, text_dim: int = 384,
                           seed: int = 0) -> Path:
    """A small learnable shard folder in the real format, for tests and smoke runs.

    Tokens: 0 pad, 1 BOS, 2 EOS, 3 bar; each sequence is BOS, an 8-token header
    that names one of 8 styles, then bars of 4 to 8 tokens that follow the style's
    pattern, then EOS. Its text embedding is the style's vector plus noise.
    """
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    n_styles = 8
    style_text = rng.standard_normal((n_styles, text_dim)).astype(np.float32)
    body = np.arange(12, vocab_size)
    for split, n in (("train", n_train), ("val", n_val), ("test", n_val)):
        seqs, texts = [], []
        for _ in range(n):
            s = int(rng.integers(n_styles))
            header = [1] + [4 + (s + j) % 8 for j in range(8)]
            step, bar_len = 1 + s % 5, 4 + s % 5
            toks, k = list(header), int(rng.integers(len(body)))
            target = int(rng.integers(max_len // 2, max_len))
            while len(toks) + bar_len + 2 <= target:
                toks.append(3)
                for _ in range(bar_len - 1):
                    toks.append(int(body[k % len(body)]))
                    k += step
            toks.append(2)
            seqs.append(np.array(toks, dtype=np.uint16))
            texts.append(style_text[s] + 0.1 * rng.standard_normal(text_dim).astype(np.float32))
        d = directory / split
        d.mkdir(parents=True, exist_ok=True)
        offsets = np.zeros(n + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(q) for q in seqs])
        np.save(d / "tokens.npy", np.concatenate(seqs))
        np.save(d / "offsets.npy", offsets)
        np.save(d / "text.npy", np.stack(texts).astype(np.float16))
        meta = {"vocab_size": vocab_size, "pad_id": 0, "bos_id": 1, "eos_id": 2, "bar_id": 3,
                "n_sequences": n, "n_tokens": int(offsets[-1]), "synthetic": True}
        (d / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return directory


def transpose_table(data_dir: Path, vocab_size: int) -> np.ndarray:
    """(2 * MAX_TRANSPOSE + 1, vocab) id tables, row ``shift + MAX_TRANSPOSE`` moving a sequence by
    ``shift`` semitones (-1 where a pitch leaves the range). Read from DATA/transpose.npy, else made
    from DATA/tokenizer.json and saved there (so training elsewhere needs only numpy)."""
    path = data_dir / "transpose.npy"
    if path.is_file():
        table = np.load(path, allow_pickle=False)
    else:
        if not (data_dir / "tokenizer.json").is_file():
            raise TrainError(f"transpose needs {path} or {data_dir / 'tokenizer.json'}")
        from symbolic.tokenizer import MusicTokenizer
        tok = MusicTokenizer.load(data_dir / "tokenizer.json")
        table = np.stack([tok.transpose_map(k) for k in range(-MAX_TRANSPOSE, MAX_TRANSPOSE + 1)])
        try:
            np.save(path, table)
        except OSError:
            pass  # a read-only data folder: build it again next time
    if table.shape != (2 * MAX_TRANSPOSE + 1, vocab_size):
        raise TrainError(f"{path}: shape {table.shape}, expected {(2 * MAX_TRANSPOSE + 1, vocab_size)}")
    return table.astype(np.int64)


def batch_rng(seed: int, rank: int, iteration: int, micro: int) -> np.random.Generator:
    return np.random.default_rng([seed, 0, rank, iteration, micro])


def eval_rng(seed: int, rank: int, k: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1, rank, k])


def step_seed(seed: int, rank: int, iteration: int) -> int:
    """The torch seed (dropout) of one iteration."""
    return int(np.random.SeedSequence([seed, 2, rank, iteration]).generate_state(1, np.uint64)[0] >> 1)


def lr_at(it: int, cfg: TrainConfig, elapsed_s: float | None = None) -> float:
    """Linear warmup to lr, cosine decay to min_lr at lr_decay_iters, then min_lr.

    With ``cfg.max_minutes`` the decay runs over that wall-clock budget instead (``elapsed_s`` of it
    spent), so a run on a machine of unknown speed still ends its schedule when its time is up.
    """
    assert cfg.lr_decay_iters is not None  # TrainConfig.__post_init__ fills it in
    if it < cfg.warmup_iters:
        return cfg.lr * (it + 1) / (cfg.warmup_iters + 1)
    if cfg.max_minutes is not None and elapsed_s is not None:
        ratio = min(1.0, elapsed_s / (60.0 * cfg.max_minutes))
    elif it >= cfg.lr_decay_iters:
        return cfg.min_lr
    else:
        ratio = (it - cfg.warmup_iters) / max(1, cfg.lr_decay_iters - cfg.warmup_iters)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg.lr - cfg.min_lr)


# ----------------------------------------------------------------------- checkpoints
def save_optimizer(optimizer: torch.optim.Optimizer, directory: Path) -> dict:
    """Optimizer tensors to optimizer.safetensors; returns the JSON part (param groups, scalars)."""
    from safetensors.torch import save as st_save

    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v.detach().to("cpu").contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    atomic_write(directory / "optimizer.safetensors", st_save(tensors, metadata={"format": "pt"}))
    return {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(optimizer: torch.optim.Optimizer, directory: Path, json_part: dict) -> None:
    from safetensors.torch import load_file

    state: dict[int, dict] = {}
    for key, t in load_file(str(directory / "optimizer.safetensors")).items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = t
    for key, v in json_part.get("scalars", {}).items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": json_part["param_groups"]})


def _replace_dir(tmp: Path, final: Path) -> None:
    """Swap a finished folder into place; a crash in between leaves final or final.old."""
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


def grow_vocab(weights: dict[str, torch.Tensor], fresh: torch.Tensor) -> dict[str, torch.Tensor]:
    """Warm-start weights for a vocabulary that grew at its end (new control tokens): the old rows keep
    their ids and the new rows start from the fresh model's small random init, so a new token's logit
    starts near zero and every old prediction is unchanged."""
    old = weights.get("wte.weight")
    if old is None or old.shape[0] == fresh.shape[0]:
        return weights
    if old.shape[0] > fresh.shape[0] or old.shape[1] != fresh.shape[1]:
        raise TrainError(f"init_from has an embedding of {tuple(old.shape)}; this model needs {tuple(fresh.shape)}")
    return dict(weights, **{"wte.weight": torch.cat([old, fresh[old.shape[0]:].to(old.dtype)])})


def tune_rows(data_dir: Path, prefixes: list[str]) -> list[int]:
    """Ids of the tokens (of DATA/tokenizer.json's vocabulary, in id order) whose names start with a prefix."""
    path = data_dir / "tokenizer.json"
    try:
        vocab = json.loads(path.read_text())["vocab"]
    except (OSError, ValueError, KeyError, TypeError):
        raise TrainError(f"tune needs the shards' vocabulary in {path}") from None
    rows = [i for i, name in enumerate(vocab) if any(str(name).startswith(p) for p in prefixes)]
    if not rows:
        raise TrainError(f"no token in {path} starts with {' or '.join(prefixes)}")
    return rows


def tune_only(model: MusicGPT, rows: list[int], lr: float, betas: tuple[float, float]) -> torch.optim.AdamW:
    """Freeze the model but these rows of the token embedding (and so of the tied output head): a control
    token the model has seen too little of learns what the trained network can read from it. No weight
    decay: AdamW would shrink the frozen rows too."""
    for p in model.parameters():
        p.requires_grad_(False)
    w = model.wte.weight
    w.requires_grad_(True)
    keep = torch.zeros(w.shape[0], 1, dtype=w.dtype, device=w.device)
    keep[rows] = 1.0
    w.register_hook(lambda g: g * keep)
    return torch.optim.AdamW([w], lr=lr, betas=betas, weight_decay=0.0)


def checkpoint_dir(run_dir: Path) -> Path | None:
    for name in ("ckpt", "ckpt.old"):
        p = run_dir / name
        if (p / "state.json").is_file():
            return p
    return None


def save_checkpoint(run_dir: Path, model: MusicGPT, optimizer: torch.optim.Optimizer, state: dict) -> Path:
    tmp = run_dir / "ckpt.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, dtype=torch.float32)
    state = dict(state, optimizer=save_optimizer(optimizer, tmp))
    atomic_write(tmp / "state.json", json.dumps(state, indent=1) + "\n")
    final = run_dir / "ckpt"
    _replace_dir(tmp, final)
    return final


def rng_states() -> dict:
    states = {"torch_cpu": torch.get_rng_state().tolist()}
    if torch.cuda.is_available():
        states["torch_cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return states


def set_rng_states(states: dict) -> None:
    if "torch_cpu" in states:
        torch.set_rng_state(torch.tensor(states["torch_cpu"], dtype=torch.uint8))
    if "torch_cuda" in states and torch.cuda.is_available():
        cuda = [torch.tensor(s, dtype=torch.uint8) for s in states["torch_cuda"]]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def export(run_dir: str | os.PathLike, export_dir: str | os.PathLike) -> Path:
    """Write the best (else the last) checkpoint of a run as fp16 safetensors + config + train_summary.json."""
    run_dir, export_dir = Path(run_dir), Path(export_dir)
    ckpt = checkpoint_dir(run_dir)
    best = run_dir / "best"
    source = best if (best / "model.safetensors").is_file() else ckpt
    if source is None:
        raise TrainError(f"no checkpoint in {run_dir}")
    state = json.loads((ckpt / "state.json").read_text()) if ckpt else {}
    model = MusicGPT.from_pretrained(source)
    model.save_pretrained(export_dir, dtype=torch.float16)
    GenerationConfig.load(source).save(export_dir)  # the run's own settings, else the defaults
    summary = {
        "name": state.get("train_config", {}).get("name"),
        "exported_from": "best" if source == best else "last",
        "iterations": state.get("iter"),
        "tokens_seen": state.get("tokens_seen"),
        "best_val_loss": state.get("best_val_loss"),
        "best_iter": state.get("best_iter"),
        "wall_time_s": round(state.get("wall_time_s", 0.0), 1),
        "n_params": model.num_params(),
        "world_size": state.get("world_size"),
        "data": state.get("data"),
        "train_config": state.get("train_config"),
    }
    atomic_write(export_dir / "train_summary.json", json.dumps(summary, indent=2) + "\n")
    # The tokenizer the shards were written with travels with the weights (the arranger reads it from there).
    data_dir = Path((state.get("data") or {}).get("dir") or "")
    if (data_dir / "tokenizer.json").is_file():
        atomic_write(export_dir / "tokenizer.json", (data_dir / "tokenizer.json").read_text())
    return export_dir


# ------------------------------------------------------------------------ the loop
class _StopFlag:
    """Set by SIGINT / SIGTERM; the loop checkpoints and returns after the current iteration."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Callable[[int, FrameType | None], Any] | int | signal.Handlers | None] = {}

    def install(self) -> None:
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: no signal handling
            self._previous.clear()

    def _handle(self, signum, frame) -> None:
        self.signum = signum
        # A second signal acts as usual (files are written atomically, so that is safe).
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    return torch.device(name)


def _truncate_log(path: Path, last_iter: int) -> None:
    """Drop log records after the checkpoint a resumed run starts from."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("iter", 0) <= last_iter:
                keep.append(line)
        except json.JSONDecodeError:
            continue
    atomic_write(path, "".join(k + "\n" for k in keep))


def train(cfg: TrainConfig, resume: bool = False, max_iters: int | None = None,  # noqa: C901 - the training loop, kept in one function to read top to bottom (as nanoGPT)
          export_dir: str | os.PathLike | None = None, quiet: bool = False,
          on_iter: Callable[[int, float], None] | None = None) -> dict:
    """Run (or continue) training; returns a summary dict. ``on_iter(iteration, loss)`` is called after each step."""
    t_start = time.perf_counter()
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))

    # -- processes and device
    world = int(os.environ.get("WORLD_SIZE", "1"))
    ddp = world > 1
    rank = local_rank = 0
    if ddp:
        import torch.distributed as dist
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = cfg.device != "cpu" and torch.cuda.is_available()
        dist.init_process_group("nccl" if use_cuda else "gloo")
        rank = dist.get_rank()
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    else:
        local_world = 1
    master = rank == 0
    if not master:
        def say(msg: str) -> None:
            pass
    device = resolve_device(cfg.device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if cfg.threads or ddp:
        torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // local_world))
    use_bf16 = cfg.amp == "bf16" or (cfg.amp == "auto" and device.type == "cuda")
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if use_bf16 else nullcontext()

    stop = _StopFlag()
    try:
        # -- run folder, resume
        run_dir = cfg.resolved_out_dir()
        ckpt = checkpoint_dir(run_dir)
        state: dict = {}
        if resume and ckpt is not None:
            state = json.loads((ckpt / "state.json").read_text())
            saved = TrainConfig.from_dict(state["train_config"])
            saved.out_dir, saved.data_dir = cfg.out_dir, cfg.data_dir or saved.data_dir
            saved.device, saved.threads = cfg.device, cfg.threads
            if saved.to_dict() != cfg.to_dict():
                say(f"resuming with the run's saved config ({ckpt / 'state.json'}), not the given one")
            cfg = saved  # the run continues with the config it started with
        elif resume:
            say(f"no checkpoint in {run_dir}; starting a new run")
        elif ckpt is not None:
            raise TrainError(f"{run_dir} already holds a run; use --resume, or another out_dir")
        # --max-iters stops this invocation early; the config (and its schedule) stay as they are.
        stop_iter = cfg.max_iters if max_iters is None else max_iters

        # -- data
        data_dir = cfg.resolved_data_dir()
        if not data_dir.is_dir():
            raise TrainError(f"data folder not found: {data_dir}")
        train_data = TokenShards(data_dir / "train")
        val_data = TokenShards(data_dir / "val") if (data_dir / "val").is_dir() else train_data
        if val_data is train_data:
            say("no val split: validation loss is measured on train")
        if cfg.transpose > 0:
            train_data.transpose_table = transpose_table(data_dir, train_data.vocab_size)

        # -- model and optimizer
        mcfg = dict(cfg.model)
        mcfg.setdefault("vocab_size", train_data.vocab_size)
        mcfg.setdefault("block_size", cfg.block_size)
        mcfg.setdefault("text_dim", int(train_data.text.shape[1]))
        model_config = ModelConfig.from_dict(mcfg)
        if model_config.vocab_size < train_data.vocab_size:
            raise TrainError(f"model vocab_size {model_config.vocab_size} < data's {train_data.vocab_size}")
        if cfg.block_size > model_config.block_size:
            raise TrainError(f"block_size {cfg.block_size} > model block_size {model_config.block_size}")
        if model_config.text_dim != train_data.text.shape[1]:
            raise TrainError(f"model text_dim {model_config.text_dim} != data's {train_data.text.shape[1]}")
        torch.manual_seed(cfg.seed)
        model: MusicGPT | DistributedDataParallel  # wrapped for DDP below
        model = MusicGPT(model_config)
        if state:
            from safetensors.torch import load_file
            assert ckpt is not None  # state was read from it
            model.load_state_dict(load_file(str(ckpt / "model.safetensors")), strict=True)
        elif cfg.init_from:
            # A warm start from shipped weights: the machine that trained them is gone, its optimizer too.
            from safetensors.torch import load_file
            src = Path(cfg.init_from).expanduser()
            if not src.is_absolute() and not src.exists() and (REPO_ROOT / src).exists():
                src = REPO_ROOT / src  # a path in the project, as configs/ name them
            if not (src / "model.safetensors").exists():
                raise TrainError(f"init_from {src} holds no model.safetensors")
            weights = grow_vocab({k: v.float() for k, v in load_file(str(src / "model.safetensors")).items()},
                                 model.wte.weight.detach())
            model.load_state_dict(weights, strict=True)
            say(f"starting from the weights in {src}")
        model.to(device)
        if cfg.tune:
            rows = tune_rows(data_dir, cfg.tune)
            optimizer = tune_only(model, rows, cfg.lr, (cfg.beta1, cfg.beta2))
            say(f"tuning {len(rows)} embedding rows ({', '.join(cfg.tune)}); the rest is frozen")
        else:
            optimizer = model.configure_optimizer(cfg.weight_decay, cfg.lr, (cfg.beta1, cfg.beta2), device.type)
        if state:
            assert ckpt is not None  # state was read from it
            load_optimizer(optimizer, ckpt, state["optimizer"])
            set_rng_states(state.get("rng", {}))
        raw_model = model
        ddp_model: DistributedDataParallel | None = None
        if ddp:
            from torch.nn.parallel import DistributedDataParallel as DDP
            model = ddp_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

        it = int(state.get("iter", 0))
        tokens_seen = int(state.get("tokens_seen", 0))
        best_val = state.get("best_val_loss")
        best_iter = state.get("best_iter")
        wall_before = float(state.get("wall_time_s", 0.0))
        data_info = {"dir": str(data_dir), "train_sequences": len(train_data),
                     "train_tokens": train_data.n_tokens, "val_sequences": len(val_data),
                     "val_tokens": val_data.n_tokens}

        log_path = run_dir / "log.jsonl"
        if master:
            run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(run_dir / "train_config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
            if state:
                _truncate_log(log_path, it)
            elif log_path.exists():
                log_path.unlink()
            say(raw_model.describe())
            say(f"data: {len(train_data)} train sequences ({train_data.n_tokens:,} tokens), "
                f"{len(val_data)} val; device {device}, {world} process(es), "
                f"{torch.get_num_threads()} threads" + (f"; resuming at iteration {it}" if state else ""))

        def log_record(rec: dict) -> None:
            if master:
                with open(log_path, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")

        def all_sum(values: list[float]) -> list[float]:
            if not ddp:
                return values
            import torch.distributed as dist
            t = torch.tensor(values, dtype=torch.float64, device=device)
            dist.all_reduce(t)
            return t.tolist()

        @torch.no_grad()
        def evaluate() -> float:
            raw_model.eval()
            total, count = 0.0, 0.0
            for k in range(cfg.eval_iters):
                x, y, text = val_data.batch(eval_rng(cfg.seed, rank, k), cfg, training=False)
                x, y, text = x.to(device), y.to(device), text.to(device)
                with autocast:
                    loss = raw_model(x, text, targets=y).loss
                n = float((y != IGNORE_INDEX).sum())
                total += float(loss) * n
                count += n
            raw_model.train()
            total, count = all_sum([total, count])
            return total / max(count, 1.0)

        def current_state() -> dict:
            return {"iter": it, "tokens_seen": tokens_seen, "best_val_loss": best_val, "best_iter": best_iter,
                    "wall_time_s": wall_before + time.perf_counter() - t_start, "world_size": world,
                    "rng": rng_states(), "train_config": cfg.to_dict(), "model_config": model_config.to_dict(),
                    "data": data_info}

        stop.install()
        model.train()
        window_tokens, window_time, window_losses = 0, 0.0, []
        last_ckpt_iter = it
        stopped = False  # by a signal (here or on another rank)
        time_up = False  # cfg.max_minutes spent: the run ends as if finished
        elapsed = wall_before  # rank 0's wall time, the same on every rank (the lr depends on it)
        assert cfg.checkpoint_interval is not None  # TrainConfig.__post_init__ fills it in
        while it < stop_iter:
            t0 = time.perf_counter()
            lr = lr_at(it, cfg, elapsed)
            for group in optimizer.param_groups:
                group["lr"] = lr
            torch.manual_seed(step_seed(cfg.seed, rank, it))
            step_loss, step_tokens = 0.0, 0
            for micro in range(cfg.grad_accum):
                x, y, text = train_data.batch(batch_rng(cfg.seed, rank, it, micro), cfg)
                x, y, text = x.to(device), y.to(device), text.to(device)
                sync = nullcontext() if (ddp_model is None or micro == cfg.grad_accum - 1) else ddp_model.no_sync()
                with sync:
                    with autocast:
                        loss = model(x, text, targets=y).loss / cfg.grad_accum
                    loss.backward()
                step_loss += loss.item()
                step_tokens += int((y != IGNORE_INDEX).sum())
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            it += 1
            window_time += time.perf_counter() - t0
            if on_iter is not None:
                on_iter(it, step_loss)
            now = wall_before + time.perf_counter() - t_start
            n_tokens, stop_votes, elapsed = all_sum([float(step_tokens), 1.0 if stop.signum else 0.0,
                                                     now if master else 0.0])
            time_up = cfg.max_minutes is not None and elapsed >= 60.0 * cfg.max_minutes
            tokens_seen += int(n_tokens)
            window_tokens += int(n_tokens)
            window_losses.append(step_loss)

            last = it == stop_iter or time_up
            if it % cfg.log_interval == 0 or last:
                tps = window_tokens / max(window_time, 1e-9)
                mean_loss = sum(window_losses) / len(window_losses)
                say(f"iter {it:6d} | loss {mean_loss:.4f} | lr {lr:.2e} | {tps:,.0f} tok/s | "
                    f"{tokens_seen:,} tokens")
                log_record({"iter": it, "loss": step_loss, "mean_loss": mean_loss, "lr": lr,
                            "tokens_per_s": tps, "tokens_seen": tokens_seen,
                            "time_s": round(wall_before + time.perf_counter() - t_start, 3)})
                window_tokens, window_time, window_losses = 0, 0.0, []
            elif master:
                log_record({"iter": it, "loss": step_loss, "lr": lr, "tokens_seen": tokens_seen})

            if it % cfg.eval_interval == 0 or last:
                val = evaluate()
                improved = best_val is None or val < best_val
                if improved:
                    best_val, best_iter = val, it
                    if master:
                        raw_model.save_pretrained(run_dir / "best", dtype=torch.float32)
                say(f"iter {it:6d} | val loss {val:.4f}" + (" (best)" if improved else f" (best {best_val:.4f})"))
                log_record({"iter": it, "val_loss": val, "best_val_loss": best_val})

            stopping = stop_votes > 0
            if stopping or it % cfg.checkpoint_interval == 0 or last:
                if master:
                    save_checkpoint(run_dir, raw_model, optimizer, current_state())
                last_ckpt_iter = it
            if stopping:
                stopped = True
                say(f"stopped at iteration {it} (signal {stop.signum or 'on another rank'}); "
                    f"checkpoint in {run_dir / 'ckpt'}; continue with --resume")
                break
            if time_up:
                say(f"time budget of {cfg.max_minutes} min spent at iteration {it}")
                break

        if master and last_ckpt_iter != it:
            save_checkpoint(run_dir, raw_model, optimizer, current_state())
        summary = current_state()
        summary.pop("rng")
        summary["interrupted"] = stopped  # by a signal: no export then
        summary["finished"] = it >= cfg.max_iters or time_up
        summary["run_dir"] = str(run_dir)
        if master and not summary["interrupted"]:
            out = export(run_dir, export_dir or run_dir / "export")
            summary["export_dir"] = str(out)
            say(f"exported {out}")
        return summary
    finally:
        stop.restore()
        if ddp:
            import torch.distributed as dist
            if dist.is_initialized():
                try:
                    dist.barrier()  # no rank tears down its links while another still uses them (export)
                except RuntimeError:
                    pass  # another rank failed: its error is the one to report
                dist.destroy_process_group()


# ---------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="composer train",
        description="Train the MusicGPT arranger model on token shards (see docs/MODEL_CARD.md).")
    p.add_argument("--config", required=True,
                   help="training config JSON (a bare name like 'small' means configs/small.json)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    p.add_argument("--max-iters", type=int, help="stop after this many iterations (the lr schedule is unchanged)")
    p.add_argument("--export", metavar="DIR", help="export the best checkpoint here (default RUN/export)")
    p.add_argument("--export-only", action="store_true", help="only export the run's best checkpoint")
    p.add_argument("--data", metavar="DIR", help="shard folder (overrides the config's data_dir)")
    p.add_argument("--out", metavar="DIR", help="run folder (overrides the config's out_dir)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (overrides the config)")
    p.add_argument("--max-minutes", type=float,
                   help="a wall-clock budget: the lr decays over it and the run ends and exports with it")
    p.add_argument("--synthetic", action="store_true",
                   help="train on a generated stand-in shard folder (RUN/synthetic_data): smoke runs, speed")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = TrainConfig.load(args.config)
        if args.data:
            cfg.data_dir = args.data
        if args.out:
            cfg.out_dir = args.out
        if args.device:
            cfg.device = args.device
        if args.max_minutes is not None:
            cfg.max_minutes = args.max_minutes
            cfg.__post_init__()
        if args.synthetic:
            vocab = int(cfg.model.get("vocab_size", 512))
            cfg.data_dir = str(write_synthetic_shards(
                cfg.resolved_out_dir() / "synthetic_data", n_train=256, n_val=32, vocab_size=vocab,
                max_len=2 * cfg.block_size, text_dim=int(cfg.model.get("text_dim", 384)), seed=cfg.seed))
        if args.export_only:
            out = export(cfg.resolved_out_dir(), args.export or cfg.resolved_out_dir() / "export")
            print(f"exported {out}")
            return 0
        summary = train(cfg, resume=args.resume, max_iters=args.max_iters, export_dir=args.export,
                        quiet=args.quiet)
    except (TrainError, OSError, ValueError, KeyError) as e:
        print(f"composer: error: {e}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        best = summary["best_val_loss"]
        print(f"{summary['iter']} iterations, {summary['tokens_seen']:,} tokens, "
              f"best val loss {best:.4f}" if best is not None else
              f"{summary['iter']} iterations, {summary['tokens_seen']:,} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
