"""The performance model: a small MLP denoiser over the targets of each note, its DDPM schedule, saving and
loading (safetensors + JSON) and sampling."""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
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


def make_model(cfg: PerformConfig):
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

    return Denoiser(cfg.n_features, cfg.hidden, cfg.layers, cfg.n_targets)


@dataclass(frozen=True)
class TargetScales:
    """What one unit of each (scaled) target means; the model learns targets of about unit size."""

    timing_ms: float = T_MS               # onset deviation from the grid, ms
    velocity: float = V_SCALE             # velocity change from the score's velocity
    log_duration_ratio: float = D_SCALE   # log(played / written duration): articulation
    pedal_offset_beats: float = P_SCALE   # sustain pedal press after the written onset, beats
    log2_pedal_hold_beats: float = H_SCALE  # how long the pedal is held, log2 beats


@dataclass(frozen=True)
class PerformConfig:
    """The performance model's shape and sampling, saved as config.json beside its weights."""

    n_features: int = N_FEATURES     # per-note inputs (features.part_features)
    n_targets: int = N_TARGETS       # timing, velocity, articulation, pedal press, offset, hold
    hidden: int = 192                # the MLP's width
    layers: int = 3                  # residual blocks
    steps: int = 100                 # diffusion steps the model was trained on
    sample_steps: int = 50           # steps taken when sampling: an even stride of the training steps
    schedule: str = "cosine"         # the noise schedule (the only one)
    target_scales: TargetScales = field(default_factory=TargetScales)
    classes: tuple[str, ...] = CLASSES        # instrument classes, in the order of the features' one-hot
    roles: tuple[str, ...] = ROLE_GROUPS      # role groups, likewise
    max_shift_ms: float = MAX_SHIFT_MS        # no note moves further than this from the grid

    @classmethod
    def from_json(cls, text: str) -> "PerformConfig":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("config.json is not an object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"config.json has unknown keys {unknown}")
        data.setdefault("n_targets", 3)  # the first models sampled timing, velocity and articulation only
        data.setdefault("sample_steps", data.get("steps", cls.steps))
        data["target_scales"] = TargetScales(**data.get("target_scales", {}))
        for key in ("classes", "roles"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    def to_json(self) -> str:
        data = asdict(self)
        data["classes"], data["roles"] = list(self.classes), list(self.roles)
        return json.dumps(data, indent=1)


def save(model, cfg: PerformConfig, out: Path, card: dict) -> None:
    from safetensors.torch import save_file
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(_torch().float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"))
    (out / "config.json").write_text(cfg.to_json())
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
            cfg = PerformConfig.from_json((folder / "config.json").read_text())
            state = load_file(str(folder / "model.safetensors"))
        except (OSError, ValueError, TypeError) as exc:
            raise PerformanceError(f"no performance model in {folder}: {exc}") from None
        model = make_model(cfg)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        model.eval()
        _CACHE[key] = (model, cfg)
    return _CACHE[key]


def sample(model, cfg: PerformConfig, feats: np.ndarray, seed: int | list[tuple[int, int]] = 0) -> np.ndarray:
    """DDPM ancestral sampling of the (scaled) targets for each row of feats; deterministic for a seed.

    `seed` may instead be a list of (rows, seed) blocks covering feats in order: each block's noise comes
    from its own seed, so a part plays the same whatever the other parts hold."""
    torch = _torch()
    n = len(feats)
    if n == 0:
        return np.zeros((0, cfg.n_targets), dtype=np.float32)
    blocks = [(n, int(seed))] if isinstance(seed, int) else [(int(k), int(s)) for k, s in seed]
    if sum(k for k, _ in blocks) != n:
        raise PerformanceError(f"seed blocks cover {sum(k for k, _ in blocks)} rows of {n}")
    gens = [(k, torch.Generator().manual_seed(s)) for k, s in blocks]
    steps = cfg.steps
    ab = _cosine_alphas_bar(steps)
    # Ancestral sampling on an evenly strided subset of the training steps (all of them when equal).
    n_s = max(1, min(steps, cfg.sample_steps))
    ts = sorted({int(round(v)) for v in np.linspace(0, steps - 1, n_s)}, reverse=True)
    f = torch.from_numpy(np.asarray(feats, dtype=np.float32))
    n_out = cfg.n_targets

    def noise() -> Any:  # a torch.Tensor (torch is imported when sampling)
        return torch.cat([torch.randn((k, n_out), generator=g) for k, g in gens])

    x = noise()
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
                x = mean + math.sqrt(var) * noise()
    finally:
        torch.set_num_threads(old)
    return x.numpy()


