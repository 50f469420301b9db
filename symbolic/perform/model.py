"""The performance model: a small MLP denoiser over the targets of each note, its DDPM schedule, saving and
loading (safetensors + JSON) and sampling."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .features import (
    CLASSES,
    D_SCALE,
    H_SCALE,
    MAX_SHIFT_MS,
    N_FEATURES,
    N_TARGETS,
    P_SCALE,
    ROLE_GROUPS,
    T_MS,
    V_SCALE,
    WEIGHTS_DIR,
)


def _cosine_alphas_bar(steps: int) -> np.ndarray:
    s = 0.008
    t = np.linspace(0, steps, steps + 1) / steps
    f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    ab = f / f[0]
    betas = np.clip(1 - ab[1:] / ab[:-1], 0, 0.999)
    return np.cumprod(1 - betas)


def _torch():
    import torch
    return torch


def make_model(cfg: dict):
    import torch
    from torch import nn

    class Denoiser(nn.Module):
        """eps(x_t, t, features): an MLP with a sinusoidal step embedding."""

        def __init__(self, n_feat: int, hidden: int, layers: int, n_out: int, t_dim: int = 32):
            super().__init__()
            self.t_dim = t_dim
            self.inp = nn.Linear(n_out + n_feat + t_dim, hidden)
            self.blocks = nn.ModuleList([nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.SiLU(),
                                                       nn.Linear(hidden, hidden)) for _ in range(layers)])
            self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, n_out))

        def forward(self, x, t, feat):
            half = self.t_dim // 2
            freq = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half)
            ang = t.float()[:, None] * freq[None] * 10.0
            h = self.inp(torch.cat([x, feat, torch.sin(ang), torch.cos(ang)], dim=1))
            for b in self.blocks:
                h = h + b(h)
            return self.out(h)

    return Denoiser(cfg["n_features"], cfg["hidden"], cfg["layers"], int(cfg.get("n_targets", 3)))


DEFAULT_CONFIG: dict[str, Any]  # a JSON object, saved beside the weights
DEFAULT_CONFIG = {"n_features": N_FEATURES, "n_targets": N_TARGETS, "hidden": 192, "layers": 3, "steps": 100,
                  "sample_steps": 50, "schedule": "cosine",
                  "target_scales": {"timing_ms": T_MS, "velocity": V_SCALE, "log_duration_ratio": D_SCALE,
                                    "pedal_offset_beats": P_SCALE, "log2_pedal_hold_beats": H_SCALE},
                  "classes": list(CLASSES), "roles": list(ROLE_GROUPS), "max_shift_ms": MAX_SHIFT_MS}




def save(model, cfg: dict, out: Path, card: dict) -> None:
    from safetensors.torch import save_file
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(_torch().float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"))
    (out / "config.json").write_text(json.dumps(cfg, indent=1))
    (out / "card.json").write_text(json.dumps(card, indent=1))


class PerformanceError(ValueError):
    """The performance model's weights are missing or broken."""


_CACHE: dict[str, object] = {}


def load(folder: Path | str | None = None):
    """(model, config) from a weights folder (default: the shipped one), cached per process."""
    folder = Path(folder or os.environ.get("COMPOSER_PERFORM_DIR") or WEIGHTS_DIR)
    key = str(folder)
    if key not in _CACHE:
        from safetensors.torch import load_file
        try:
            cfg = json.loads((folder / "config.json").read_text())
            state = load_file(str(folder / "model.safetensors"))
        except (OSError, ValueError) as exc:
            raise PerformanceError(f"no performance model in {folder}: {exc}") from None
        model = make_model(cfg)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        model.eval()
        _CACHE[key] = (model, cfg)
    return _CACHE[key]


def sample(model, cfg: dict, feats: np.ndarray, seed: int = 0) -> np.ndarray:
    """DDPM ancestral sampling of the 3 (scaled) targets for each row of feats; deterministic for a seed."""
    torch = _torch()
    n = len(feats)
    if n == 0:
        return np.zeros((0, int(cfg.get("n_targets", 3))), dtype=np.float32)
    steps = cfg["steps"]
    ab = _cosine_alphas_bar(steps)
    # Ancestral sampling on an evenly strided subset of the training steps (all of them when equal).
    n_s = max(1, min(steps, int(cfg.get("sample_steps", steps))))
    ts = sorted({int(round(v)) for v in np.linspace(0, steps - 1, n_s)}, reverse=True)
    g = torch.Generator().manual_seed(int(seed))
    f = torch.from_numpy(np.asarray(feats, dtype=np.float32))
    n_out = int(cfg.get("n_targets", 3))
    x = torch.randn((n, n_out), generator=g)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for j, t in enumerate(ts):
                eps = model(x, torch.full((n,), t, dtype=torch.long), f)
                a = float(ab[t])
                x0 = ((x - math.sqrt(1 - a) * eps) / math.sqrt(a)).clamp(-6, 6)
                if j == len(ts) - 1:
                    x = x0
                    break
                ap = float(ab[ts[j + 1]])
                beta = 1 - a / ap
                mean = (math.sqrt(ap) * beta / (1 - a)) * x0 + (math.sqrt(1 - beta) * (1 - ap) / (1 - a)) * x
                var = beta * (1 - ap) / (1 - a)
                x = mean + math.sqrt(var) * torch.randn((n, n_out), generator=g)
    finally:
        torch.set_num_threads(old)
    return x.numpy()


