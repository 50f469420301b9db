"""Training the performance model: the denoising objective over the cached (feature, target) arrays."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from symbolic.perform.model import (
    PerformConfig,
    _cosine_alphas_bar,
    _torch,
    make_model,
    save,
)


def train(cache: Path, out: Path, minutes: float = 8.0, batch: int = 1024, lr: float = 2e-3, seed: int = 0,
          rare_boost: float = 1.0, progress=print) -> dict:
    torch = _torch()
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    d = np.load(cache / "train.npz")
    x = torch.from_numpy(d["x"]).float()
    y = torch.from_numpy(np.clip(d["y"], -6, 6)).float()
    src, cls = d["src"], d["cls"]
    # Balance the two sources (POP909 and Groove notes equally often) and, within each, give rare classes
    # (toms, cymbals) more turns: weight ~ 1 / class frequency ** rare_boost (0: as often as they occur; 1:
    # every class equally often, chosen on Groove's validation split: tom velocity W1 3.24 / 3.09 / 2.57 / 2.66
    # at 0 / 0.5 / 1 / 1.5).
    w = np.zeros(len(src))
    for s_name in np.unique(src):
        ms = src == s_name
        for c in np.unique(cls[ms]):
            mc = ms & (cls == c)
            w[mc] = 1.0 / float(mc.sum()) ** rare_boost
        w[ms] *= 0.5 / w[ms].sum()
    w = torch.from_numpy(w / w.sum())
    cfg = PerformConfig()
    model = make_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    ab = torch.from_numpy(_cosine_alphas_bar(cfg.steps)).float()
    t0 = time.time()
    step, losses, ema = 0, [], None
    budget = minutes * 60
    while time.time() - t0 < budget:
        idx = torch.multinomial(w, batch, replacement=True)
        xb, yb = x[idx], y[idx]
        t = torch.randint(0, cfg.steps, (batch,))
        noise = torch.randn_like(yb)
        a = ab[t][:, None]
        xt = a.sqrt() * yb + (1 - a).sqrt() * noise
        loss = ((model(xt, t, xb) - noise) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        frac = (time.time() - t0) / budget
        for gr in opt.param_groups:
            gr["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        step += 1
        if step % 500 == 0:
            losses.append((step, round(ema, 4)))
            progress(f"step {step} loss {ema:.4f} ({time.time() - t0:.0f} s)")
    secs = time.time() - t0
    assert ema is not None  # the loop runs at least once in a positive budget
    # Held-out denoising loss on the test notes at fixed noise.
    te = np.load(cache / "test.npz")
    g = torch.Generator().manual_seed(1)
    xt_, yt_ = torch.from_numpy(te["x"]).float(), torch.from_numpy(np.clip(te["y"], -6, 6)).float()
    with torch.no_grad():
        t = torch.randint(0, cfg.steps, (len(yt_),), generator=g)
        noise = torch.randn(yt_.shape, generator=g)
        a = ab[t][:, None]
        test_loss = float(((model(a.sqrt() * yt_ + (1 - a).sqrt() * noise, t, xt_) - noise) ** 2).mean())
    summary = json.loads((cache / "summary.json").read_text()) if (cache / "summary.json").is_file() else {}
    pieces = summary.get("pieces", {})
    card = {
        "model": "expressive performance denoiser (symbolic/perform.py)",
        "parameters": sum(p.numel() for p in model.parameters()),
        "targets": ["timing_ms", "velocity", "log_duration_ratio", "pedal_press", "pedal_offset_beats",
                    "log2_pedal_hold_beats"][:cfg.n_targets],
        "data": {
            "groove": {"name": "Groove MIDI Dataset (Magenta; Gillick, Roberts, Engel, Eck, Bamman 2019)",
                       "license": "CC BY 4.0", "performances_train": pieces.get("groove", {}).get("train"),
                       "performances_test": pieces.get("groove", {}).get("test"),
                       "performances_val": pieces.get("groove", {}).get("val"),
                       "split": "the data set's own; validation not trained on, used to choose rare_boost"},
            "pop909": {"name": "POP909 (Music X Lab)", "license": "MIT",
                       "songs_train": pieces.get("pop909", {}).get("train"),
                       "songs_test": pieces.get("pop909", {}).get("test"),
                       "split": "training.corpora.split_of('pop909/<id>') == 'test' held out",
                       "pedal": "CC64 of the PIANO track"},
            "train_notes": int(len(y)), "test_notes": int(len(yt_)),
        },
        "training": {"steps": step, "batch": batch, "seconds": round(secs, 1), "final_train_loss": round(ema, 4),
                     "test_loss": round(test_loss, 4), "loss_curve": losses, "notes_seen": int(step * batch),
                     "threads": 1, "lr": lr, "seed": seed, "rare_boost": rare_boost},
    }
    save(model, cfg, out, card)
    progress(f"{step} steps in {secs:.0f} s, train loss {ema:.4f}, test loss {test_loss:.4f}")
    return {"steps": step, "loss": ema, "test_loss": test_loss}


