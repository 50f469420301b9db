"""MusicGPT: a small text-conditioned decoder-only transformer over music tokens.

One sequence is one track of one section: a header of control tokens, then bars of
chord and note tokens (the tokenizer defines them). The model reads a sentence
embedding of the brief as ``n_text_tokens`` prefix vectors placed before the
tokens, so briefs that mean the same thing condition it alike.

Layout of one row inside the model::

    [text prefix: n_text_tokens slots] [left pads (optional)] [tokens ...]

The prefix slots carry no position embedding and are never predicted; token
positions start at 0 on each row's first real token. Pre-LN blocks, causal
self-attention through ``F.scaled_dot_product_attention``, a GELU MLP and an
output head tied to the token embedding, as in nanoGPT.

Batched generation (``generate``) runs B independent rows together, one token
per row per step, with a key/value cache. Rows may have prompts of different
lengths: they are left-padded and an attention mask hides the pads, and each
row's position ids count only its real tokens, so a padded row computes the
same thing as the row alone. Equal-length prompts (the usual case: every header
has the same length) need no mask and take the fastest path.

Weights are stored as safetensors (fp16 on disk by default, fp32 in memory) with
``config.json`` beside them; nothing is pickled.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from .files import atomic_write

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
MODEL_FORMAT = "composer-musicgpt"
MODEL_FORMAT_VERSION = 1

# fn(step, logits (B, V), tokens (B, T)) -> logits, called before sampling each step.
LogitsProcessor = Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class ModelConfig:
    vocab_size: int = 512
    block_size: int = 1024  # longest token sequence (the text prefix does not count)
    n_layer: int = 6
    n_head: int = 4
    n_embd: int = 256
    dropout: float = 0.0
    text_dim: int = 384  # size of the sentence embedding
    n_text_tokens: int = 4  # prefix vectors made from it (0: no text conditioning)
    bias: bool = False  # biases in Linear and LayerNorm

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "text_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ModelConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_text_tokens < 0:
            raise ValueError(f"ModelConfig.n_text_tokens must be >= 0, got {self.n_text_tokens}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not a multiple of n_head {self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known - {"format", "format_version"})
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(unknown)}")
        return cls(**{k: v for k, v in d.items() if k in known})


class ModelOutput(NamedTuple):
    logits: torch.Tensor  # (B, T, vocab_size), one row per input token
    loss: torch.Tensor | None  # mean cross-entropy over targets != ignore_index
    past: KVCache | None  # the cache, extended by this call's tokens


class KVCache:
    """Keys and values of every layer for B rows, preallocated to ``capacity`` slots.

    All rows have the same number of filled slots (``length``); ``key_mask``
    (B, capacity) marks which slots are real (None: all are), and ``next_pos``
    (B,) is the position id the next token of each row gets.
    """

    def __init__(self, n_layer: int, batch: int, n_head: int, head_dim: int, capacity: int,
                 device: torch.device, dtype: torch.dtype) -> None:
        shape = (n_layer, batch, n_head, capacity, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0
        self.key_mask: torch.Tensor | None = None
        self.next_pos = torch.zeros(batch, dtype=torch.long, device=device)

    @property
    def batch_size(self) -> int:
        return self.k.shape[1]

    @property
    def capacity(self) -> int:
        return self.k.shape[3]

    def reserve(self, extra: int) -> None:
        """Make room for ``extra`` more slots (reallocates only when full)."""
        need = self.length + extra
        if need <= self.capacity:
            return
        new_cap = max(need, 2 * self.capacity)
        grow = new_cap - self.capacity
        pad = self.k.new_zeros(*self.k.shape[:3], grow, self.k.shape[4])
        self.k = torch.cat([self.k, pad], dim=3)
        self.v = torch.cat([self.v, pad.clone()], dim=3)
        if self.key_mask is not None:
            self.key_mask = torch.cat([self.key_mask, self.key_mask.new_zeros(self.batch_size, grow)], 1)

    def select(self, rows: torch.Tensor) -> None:
        """Keep only the given rows (an index or boolean tensor over the batch)."""
        # Only the filled slots are copied; the empty rest of a fresh buffer costs nothing to allocate.
        for name in ("k", "v"):
            old = getattr(self, name)
            kept = old[:, rows, :, :self.length]
            new = old.new_zeros(*kept.shape[:3], self.capacity, old.shape[4])
            new[:, :, :, :self.length] = kept
            setattr(self, name, new)
        self.next_pos = self.next_pos[rows]
        if self.key_mask is not None:
            self.key_mask = self.key_mask[rows]


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (PyTorch's has no bias=False before 2.1)."""

    def __init__(self, ndim: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.n_embd = cfg.n_embd
        self.dropout = cfg.dropout
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None, is_causal: bool,
                cache: tuple[torch.Tensor, torch.Tensor, int] | None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if cache is not None:
            cache_k, cache_v, start = cache
            cache_k[:, :, start:start + T] = k
            cache_v[:, :, start:start + T] = v
            k = cache_k[:, :, :start + T]
            v = cache_v[:, :, :start + T]
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=is_causal,
            dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(cfg.n_embd, cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = LayerNorm(cfg.n_embd, cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x, attn_mask, is_causal, cache):
        x = x + self.attn(self.ln_1(x), attn_mask, is_causal, cache)
        return x + self.mlp(self.ln_2(x))


class MusicGPT(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.block_size, c.n_embd)
        # One Linear makes all prefix vectors; its bias is the prefix of an empty text.
        self.text_proj = nn.Linear(c.text_dim, c.n_text_tokens * c.n_embd) if c.n_text_tokens else None
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList([Block(c) for _ in range(c.n_layer)])
        self.ln_f = LayerNorm(c.n_embd, c.bias)
        # The output head is the token embedding (tied): logits = x @ wte.weight.T.
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):  # scaled residual projections (GPT-2)
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    # ------------------------------------------------------------------ sizes
    def num_params(self, non_embedding: bool = False) -> int:
        """Parameters; with non_embedding, less the position embeddings (as nanoGPT counts)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.wpe.weight.numel()
        return n

    def describe(self) -> str:
        c = self.config
        return (f"MusicGPT {self.num_params() / 1e6:.2f}M parameters "
                f"({self.num_params(non_embedding=True) / 1e6:.2f}M without position embeddings): "
                f"{c.n_layer} layers, {c.n_head} heads, {c.n_embd} wide, vocab {c.vocab_size}, "
                f"block {c.block_size}, {c.n_text_tokens} text tokens")

    @property
    def device(self) -> torch.device:
        return self.wte.weight.device

    # ---------------------------------------------------------------- forward
    def text_prefix(self, text: torch.Tensor | None, batch: int) -> torch.Tensor:
        """(B, n_text_tokens, n_embd) prefix vectors; text None means an empty (zero) embedding."""
        c = self.config
        dtype = self.wte.weight.dtype
        if not c.n_text_tokens:
            return self.wte.weight.new_zeros(batch, 0, c.n_embd)
        if text is None:
            text = torch.zeros(batch, c.text_dim, device=self.device, dtype=dtype)
        if text.dim() == 1:
            text = text.unsqueeze(0)
        if text.shape != (batch, c.text_dim):
            raise ValueError(f"text must be ({batch}, {c.text_dim}), got {tuple(text.shape)}")
        assert self.text_proj is not None  # built whenever n_text_tokens is
        return self.text_proj(text.to(dtype)).view(batch, c.n_text_tokens, c.n_embd)

    def new_cache(self, batch: int, capacity: int) -> KVCache:
        c = self.config
        return KVCache(c.n_layer, batch, c.n_head, c.n_embd // c.n_head, capacity,
                       self.device, self.wte.weight.dtype)

    def forward(self, idx: torch.Tensor, text: torch.Tensor | None = None,
                past: KVCache | None = None, targets: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, use_cache: bool = False,
                ignore_index: int = -100) -> ModelOutput:
        """Logits for every token of ``idx`` (B, T).

        text: (B, text_dim) sentence embeddings, read only when the rows start here
            (``past`` None or empty): the prefix is placed first and goes into the cache.
        past: a cache from an earlier call (``idx`` continues those rows), or an empty
            one from ``new_cache`` to fill.
        targets: (B, T) next tokens; ``ignore_index`` entries (padding) carry no loss.
        attention_mask: (B, T) true for real tokens, false for pads (left padding
            for prompts); None when every token is real.
        use_cache: return a cache (always done when ``past`` is given).
        """
        c = self.config
        B, T = idx.shape
        device = idx.device
        fresh = past is None or past.length == 0
        P = c.n_text_tokens if fresh else 0
        if attention_mask is not None:
            attention_mask = attention_mask.to(device=device, dtype=torch.bool)
            if attention_mask.shape != (B, T):
                raise ValueError(f"attention_mask must be ({B}, {T}), got {tuple(attention_mask.shape)}")

        if past is not None and past.batch_size != B:
            raise ValueError(f"cache holds {past.batch_size} rows, idx has {B}")
        start_pos = torch.zeros(B, dtype=torch.long, device=device) if fresh or past is None else past.next_pos
        if attention_mask is None:
            pos = start_pos[:, None] + torch.arange(T, device=device)
            n_real = torch.full((B,), T, dtype=torch.long, device=device)
        else:
            counted = attention_mask.long().cumsum(1)
            pos = start_pos[:, None] + (counted - 1).clamp(min=0)
            n_real = counted[:, -1]
        # (a fresh unmasked batch is checked without reading pos, which would sync a GPU)
        too_long = T > c.block_size if fresh and attention_mask is None else int(pos.max()) >= c.block_size
        if too_long:
            raise ValueError(f"sequence longer than block_size {c.block_size}")

        tok = self.wte(idx) + self.wpe(pos)
        x = torch.cat([self.text_prefix(text, B), tok], dim=1) if fresh else tok
        x = self.drop(x)
        Tq = x.shape[1]

        # Key slots: [0, start + Tq) where start is what the cache already holds.
        cache = past
        if cache is None and use_cache:
            cache = self.new_cache(B, Tq)
        start = 0 if cache is None else cache.length
        if cache is not None:
            cache.reserve(Tq)

        # Which key slots are real: the cache's mask, then the prefix (always real) and idx's mask.
        key_mask = None
        if attention_mask is not None or (cache is not None and cache.key_mask is not None):
            new_mask = torch.ones(B, Tq, dtype=torch.bool, device=device)
            if attention_mask is not None:
                new_mask[:, P:] = attention_mask
            if cache is not None:
                if cache.key_mask is None:
                    cache.key_mask = torch.ones(B, cache.capacity, dtype=torch.bool, device=device)
                cache.key_mask[:, start:start + Tq] = new_mask
                key_mask = cache.key_mask[:, :start + Tq]
            else:
                key_mask = new_mask

        attn_mask, is_causal = None, False
        if key_mask is None and start == 0:
            is_causal = True  # plain causal attention, the fastest path
        elif key_mask is not None or Tq > 1:
            q_slot = torch.arange(start, start + Tq, device=device)
            k_slot = torch.arange(start + Tq, device=device)
            allowed = k_slot[None, :] <= q_slot[:, None]  # (Tq, Lk) causal
            if key_mask is not None:
                # A pad query may always see itself, so no row of the mask is empty.
                allowed = (allowed[None] & key_mask[:, None, :]) | (k_slot[None, None, :] == q_slot[None, :, None])
                attn_mask = allowed[:, None]  # (B, 1, Tq, Lk)
            else:
                attn_mask = allowed
        # else: one new query per row and every cached key real: no mask needed.

        for i, block in enumerate(self.blocks):
            layer_cache = None if cache is None else (cache.k[i], cache.v[i], start)
            x = block(x, attn_mask, is_causal, layer_cache)
        x = self.ln_f(x[:, P:])
        logits = F.linear(x, self.wte.weight)

        if cache is not None:
            cache.length = start + Tq
            cache.next_pos = start_pos + n_real

        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                                   ignore_index=ignore_index)
        return ModelOutput(logits, loss, cache)

    # ------------------------------------------------------------- optimizer
    def configure_optimizer(self, weight_decay: float, lr: float, betas: tuple[float, float],
                            device_type: str = "cpu") -> torch.optim.AdamW:
        """AdamW with decay on matrices and embeddings, none on biases and norms."""
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        extra = {"fused": True} if device_type == "cuda" else {}
        return torch.optim.AdamW(groups, lr=lr, betas=betas, **extra)

    # ------------------------------------------------------------- generation
    @torch.no_grad()
    def generate(self, prompts: torch.Tensor | Sequence[Sequence[int]], text: torch.Tensor | None = None,
                 max_new_tokens: int = 256, temperature: float = 1.0, top_p: float = 1.0,
                 top_k: int | None = None, eos_id: int | None = None, pad_id: int = 0,
                 logits_processor: LogitsProcessor | None = None,
                 generator: torch.Generator | None = None, drop_finished: bool = True) -> list[list[int]]:
        """Continue B prompts together with the key/value cache; return each row's tokens.

        prompts: a (B, T) tensor, or B token lists of any lengths (left-padded with
            ``pad_id`` and masked). Each returned list is the row's prompt followed by
            its new tokens, up to and including ``eos_id`` when it was produced.
        text: (B, text_dim) sentence embeddings, or None.
        temperature: 0 means greedy (argmax). top_p / top_k: nucleus / top-k sampling.
        logits_processor: ``fn(step, logits, tokens) -> logits`` with logits (B, V) for
            all B rows (rows already finished hold zeros and are ignored) and tokens
            (B, T) the left-padded prompts plus the tokens chosen so far. It must leave
            at least one finite logit per row.
        drop_finished: remove finished rows from the batch (and cache) as they end.
        Generation stops when every row has produced ``eos_id``, after
        ``max_new_tokens`` steps, or when the rows reach ``block_size`` tokens.
        """
        was_training = self.training
        self.eval()
        try:
            return self._generate(prompts, text, max_new_tokens, temperature, top_p, top_k, eos_id,
                                  pad_id, logits_processor, generator, drop_finished)
        finally:
            self.train(was_training)

    def _generate(self, prompts, text, max_new_tokens, temperature, top_p, top_k, eos_id, pad_id,
                  logits_processor, generator, drop_finished):
        device = self.device
        idx, attention_mask, lengths = pad_prompts(prompts, pad_id, device)
        B, T = idx.shape
        if text is not None:
            text = text.to(device)
        steps = max(0, min(max_new_tokens, self.config.block_size - int(lengths.max())))
        tokens = torch.full((B, T + steps), pad_id, dtype=torch.long, device=device)
        tokens[:, :T] = idx
        done = torch.zeros(B, dtype=torch.bool, device=device)
        n_new = torch.zeros(B, dtype=torch.long, device=device)
        if steps == 0:
            return _rows(tokens, lengths, T, n_new)

        cache = self.new_cache(B, self.config.n_text_tokens + T + steps)
        logits = self(idx, text, past=cache, attention_mask=attention_mask).logits[:, -1]
        active = torch.arange(B, device=device)  # original row of each cache row
        for step in range(steps):
            if logits_processor is not None:
                full = logits.new_zeros(B, logits.shape[-1])
                full[active] = logits
                logits = logits_processor(step, full, tokens[:, :T + step])[active]
            nxt = sample_logits(logits, temperature, top_p, top_k, generator)
            live = ~done[active]  # all true when finished rows are dropped
            nxt = torch.where(live, nxt, torch.full_like(nxt, pad_id))
            tokens[active, T + step] = nxt
            n_new[active] += live.long()
            if eos_id is not None:
                done[active] |= live & (nxt == eos_id)
            if bool(done.all()) or step == steps - 1:
                break
            if drop_finished:
                keep = ~done[active]
                if not bool(keep.all()):
                    cache.select(keep)
                    active = active[keep]
                    nxt = nxt[keep]
            logits = self(nxt[:, None], past=cache).logits[:, -1]
        return _rows(tokens, lengths, T, n_new)

    @torch.no_grad()
    def generate_naive(self, prompts: torch.Tensor | Sequence[Sequence[int]], text: torch.Tensor | None = None,
                       max_new_tokens: int = 256, temperature: float = 1.0, top_p: float = 1.0,
                       top_k: int | None = None, eos_id: int | None = None, pad_id: int = 0,
                       logits_processor: LogitsProcessor | None = None,
                       generator: torch.Generator | None = None) -> list[list[int]]:
        """The baseline: one row at a time, the whole sequence recomputed every step, no cache.

        Same arguments and result as ``generate``; the logits processor sees (1, V)
        logits and (1, T) tokens of the current row.
        """
        was_training = self.training
        self.eval()
        try:
            device = self.device
            rows = _prompt_lists(prompts, pad_id)
            results = []
            for b, row in enumerate(rows):
                seq = list(row)
                row_text = None if text is None else text[b:b + 1].to(device)
                steps = max(0, min(max_new_tokens, self.config.block_size - len(seq)))
                for step in range(steps):
                    x = torch.tensor([seq], dtype=torch.long, device=device)
                    logits = self(x, row_text).logits[:, -1]
                    if logits_processor is not None:
                        logits = logits_processor(step, logits, x)
                    nxt = int(sample_logits(logits, temperature, top_p, top_k, generator)[0])
                    seq.append(nxt)
                    if eos_id is not None and nxt == eos_id:
                        break
                results.append(seq)
            return results
        finally:
            self.train(was_training)

    # ---------------------------------------------------------- save / load
    def save_pretrained(self, directory: str | os.PathLike, dtype: torch.dtype = torch.float16,
                        metadata: dict[str, str] | None = None) -> Path:
        """Write ``model.safetensors`` (``dtype``, fp16 by default) and ``config.json`` to directory."""
        from safetensors.torch import save as st_save

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for name, t in self.state_dict().items():
            t = t.detach().to("cpu")
            if t.is_floating_point():
                t = t.to(dtype)
                if not torch.isfinite(t).all():
                    raise ValueError(f"weight {name} does not fit {dtype} (inf or nan)")
            tensors[name] = t.contiguous()
        meta = {"format": "pt", "model": MODEL_FORMAT, **(metadata or {})}
        atomic_write(directory / WEIGHTS_NAME, st_save(tensors, metadata=meta))
        cfg = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, **self.config.to_dict()}
        atomic_write(directory / CONFIG_NAME, json.dumps(cfg, indent=2) + "\n")
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str | torch.device = "cpu",
                        dtype: torch.dtype = torch.float32) -> MusicGPT:
        """Load a model written by ``save_pretrained`` (weights converted to ``dtype``), in eval mode."""
        from safetensors.torch import load_file

        directory = Path(directory)
        config = load_config(directory)
        model = cls(config)
        state = load_file(str(directory / WEIGHTS_NAME), device="cpu")
        state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
        model.load_state_dict(state, strict=True)
        return model.to(device=device).eval()


def load_config(directory: str | os.PathLike) -> ModelConfig:
    path = Path(directory) / CONFIG_NAME
    d = json.loads(path.read_text())
    if d.get("format", MODEL_FORMAT) != MODEL_FORMAT:
        raise ValueError(f"{path}: not a {MODEL_FORMAT} config")
    return ModelConfig.from_dict(d)


def sample_logits(logits: torch.Tensor, temperature: float = 1.0, top_p: float = 1.0,
                  top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row of (B, V) logits: greedy when temperature is 0, else top-k / top-p sampling."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = F.softmax(sorted_logits, dim=-1)
        # Drop a token when the tokens above it already hold top_p of the mass.
        drop = probs.cumsum(dim=-1) - probs > top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = F.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _prompt_lists(prompts, pad_id: int) -> list[list[int]]:
    if isinstance(prompts, torch.Tensor):
        if prompts.dim() != 2:
            raise ValueError("prompts must be a (B, T) tensor or a list of token lists")
        return [list(map(int, row)) for row in prompts.tolist()]
    rows = [list(map(int, row)) for row in prompts]
    if not rows or any(len(r) == 0 for r in rows):
        raise ValueError("every prompt needs at least one token (BOS)")
    return rows


def pad_prompts(prompts, pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Left-pad prompts: (B, T) tokens, (B, T) mask of real tokens or None, (B,) lengths."""
    if isinstance(prompts, torch.Tensor):
        if prompts.dim() != 2 or prompts.shape[1] == 0:
            raise ValueError("prompts must be a non-empty (B, T) tensor")
        idx = prompts.to(device=device, dtype=torch.long)
        return idx, None, torch.full((idx.shape[0],), idx.shape[1], dtype=torch.long)
    rows = _prompt_lists(prompts, pad_id)
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    T = int(lengths.max())
    idx = torch.full((len(rows), T), pad_id, dtype=torch.long)
    for b, r in enumerate(rows):
        idx[b, T - len(r):] = torch.tensor(r, dtype=torch.long)
    if bool((lengths == T).all()):
        return idx.to(device), None, lengths
    mask = torch.arange(T)[None, :] >= (T - lengths)[:, None]
    return idx.to(device), mask.to(device), lengths


def _rows(tokens: torch.Tensor, lengths: torch.Tensor, T: int, n_new: torch.Tensor) -> list[list[int]]:
    out = []
    for b, row in enumerate(tokens.tolist()):
        out.append(row[T - int(lengths[b]):T + int(n_new[b])])
    return out


def benchmark_generation(model: MusicGPT, batch_sizes: Sequence[int] = (1, 16), prompt_len: int = 10,
                         new_tokens: int = 256, naive: bool = True, seed: int = 0) -> list[dict]:
    """Tokens per second of ``generate`` (cache) and ``generate_naive`` (no cache) on random prompts.

    Sampling at temperature 1 without an end token, so every row makes exactly ``new_tokens``.
    ``generate_naive`` runs rows one after another, so its rate does not depend on the batch.
    """
    import time

    g = torch.Generator().manual_seed(seed)
    c = model.config
    rows = []
    naive_rate = None
    for b in batch_sizes:
        prompts = torch.randint(0, c.vocab_size, (b, prompt_len), generator=g)
        text = torch.randn(b, c.text_dim, generator=g)
        t0 = time.perf_counter()
        out = model.generate(prompts, text, max_new_tokens=new_tokens, generator=g)
        dt = time.perf_counter() - t0
        made = sum(len(r) - prompt_len for r in out)
        row = {"batch": b, "new_tokens": new_tokens, "cache_s": dt, "cache_tok_s": made / dt}
        if naive and naive_rate is None:
            t0 = time.perf_counter()
            out = model.generate_naive(prompts[:1], text[:1], max_new_tokens=new_tokens, generator=g)
            naive_rate = (len(out[0]) - prompt_len) / (time.perf_counter() - t0)
        if naive_rate:
            row["naive_tok_s"] = naive_rate
            row["speedup"] = row["cache_tok_s"] / naive_rate
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m symbolic.model --config configs/small.json``: size and generation speed of a config."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m symbolic.model", description=main.__doc__)
    p.add_argument("--config", help="training config JSON (its 'model' part) or a model folder")
    p.add_argument("--vocab", type=int, default=512, help="vocab_size when the config has none")
    p.add_argument("--batch", default="1,16", help="batch sizes, comma-separated")
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--prompt", type=int, default=10, help="prompt (header) length")
    p.add_argument("--no-naive", action="store_true", help="skip the no-cache baseline")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.config and Path(args.config).is_dir():
        model = MusicGPT.from_pretrained(args.config)
    else:
        d = json.loads(Path(args.config).read_text()) if args.config else {}
        mcfg = dict(d.get("model", {}))
        mcfg.setdefault("vocab_size", args.vocab)
        mcfg.setdefault("block_size", max(d.get("block_size", 1024), args.prompt + args.new_tokens))
        torch.manual_seed(0)
        model = MusicGPT(ModelConfig.from_dict(mcfg)).eval()
    print(model.describe())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; prompt {args.prompt}, "
          f"{args.new_tokens} new tokens per row")
    for r in benchmark_generation(model, [int(b) for b in args.batch.split(",")], args.prompt,
                                  args.new_tokens, naive=not args.no_naive):
        line = f"batch {r['batch']:3d}: cache {r['cache_tok_s']:8.0f} tok/s ({r['cache_s']:.2f} s)"
        if "naive_tok_s" in r:
            line += f" | no cache {r['naive_tok_s']:6.0f} tok/s | x{r['speedup']:.1f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
