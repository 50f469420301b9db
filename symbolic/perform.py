"""Expressive performance: a small denoising-diffusion model that turns a quantized Score into a played one.

    python -m symbolic.perform build   [--data DIR]            # (feature, target) arrays -> ~/.cache/composer/perform
    python -m symbolic.perform train   [--minutes M] [--out DIR]
    python -m symbolic.perform eval    [--out docs/EVAL_PERFORMANCE.md]

For every note the model reads the context of the quantized score (instrument class, role, pitch or kit
piece, metrical position, beat strength, duration, the score velocity, local density, intervals and gaps
to the neighbouring notes, chord size, tempo) and samples three numbers by denoising Gaussian noise:

* the timing deviation in milliseconds from the grid,
* the velocity change from the score velocity,
* the log ratio of the played to the written duration (articulation; pitched notes only),
* for piano: whether the sustain pedal is pressed at this onset, how many ms after the written onset,
  and how many beats it is held (three numbers; learned from POP909's CC64 on its piano track).

`perform(score, seed, amount)` returns a new Score with the same notes in the same order, shifted,
re-voiced and re-articulated, and sustain pedal spans on its piano parts; `amount` scales the sampled
deviations (0 gives back the quantized score).

Training data: Groove MIDI (drums played to a click; each hit is quantized to the 16th grid of the file's
own tempo) and POP909 (piano, melody and bridge played against the beat times in beat_midi.txt; each
note is quantized to the 16th grid of those beats). The "score velocity" of a training note is the
mean velocity of its instrument class in its piece, so the model learns the accents and the spread
around a written dynamic level.
"""
from __future__ import annotations

import argparse
import bisect
import io
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .metrics import wasserstein1
from .score import PPQ, Note, Part, Score

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights" / "perform"
STEP16 = PPQ // 4

# Instrument classes: drum kit pieces, then pitched sounds.
CLASSES = ("kick", "snare", "hats", "cymbals", "toms", "percussion", "piano", "bass")
DRUM_CLASSES = CLASSES[:6]
ROLE_GROUPS = ("melody", "counter-melody", "accompaniment", "bass", "drums")
# Style families the data has (Groove's styles; POP909 is pop); every other style reads as "other".
STYLES = ("pop", "rock", "funk", "jazz", "bossa", "hiphop", "reggae", "other")
_KIT = {35: "kick", 36: "kick", 37: "snare", 38: "snare", 39: "snare", 40: "snare",
        42: "hats", 44: "hats", 46: "hats", 22: "hats", 26: "hats",
        49: "cymbals", 51: "cymbals", 52: "cymbals", 53: "cymbals", 55: "cymbals", 57: "cymbals", 59: "cymbals",
        41: "toms", 43: "toms", 45: "toms", 47: "toms", 48: "toms", 50: "toms", 58: "toms"}

# Target scales (network space = physical / scale).
T_MS, V_SCALE, D_SCALE = 30.0, 15.0, 0.5
H_SCALE = 2.0  # pedal hold: log2(beats) / H_SCALE
P_SCALE = 0.25  # pedal press offset: beats after the written onset / P_SCALE
MAX_SHIFT_MS = 120.0
# Targets per note: timing, velocity, articulation, pedal press (+1 / -1), pedal offset, pedal hold.
N_TARGETS = 6
PEDAL_PROGRAMS = range(0, 8)  # the GM pianos
MIN_HOLD_BEATS = 0.25


def kit_class(pitch: int) -> str:
    return _KIT.get(pitch, "percussion")


def pitched_class(program: int) -> str:
    return "bass" if 32 <= program <= 39 else "piano"


def role_group(role: str, is_drum: bool, program: int) -> str:
    if is_drum:
        return "drums"
    if role in ("melody", "counter-melody", "bass"):
        return role
    if not role and 32 <= program <= 39:
        return "bass"
    return "accompaniment"


# --------------------------------------------------------------------------------------------
# Features


@dataclass
class PartGrid:
    """One part on a 16th grid: what the features are computed from."""
    onset16: np.ndarray      # float, 16ths from the start
    dur16: np.ndarray        # float, written duration in 16ths
    pitch: np.ndarray        # int
    velocity: np.ndarray     # float, score velocity
    barpos16: np.ndarray     # float, 16ths from the start of the bar
    bar16: np.ndarray        # float, 16ths in the bar
    is_drum: bool
    program: int
    role: str
    bpm: np.ndarray          # float per note
    style: str = "pop"       # a style word or brief; see style_index


N_FEATURES = len(CLASSES) + len(ROLE_GROUPS) + len(STYLES) + 4 + 4 + 18


def style_index(style: str) -> int:
    from .style import style_family
    low = (style or "").lower()
    fam = "bossa" if any(w in low for w in ("afro", "cuban", "brazil")) else style_family(low)
    return STYLES.index(fam) if fam in STYLES else STYLES.index("other")


_ENERGY_ROLE = {"accompaniment": "chords"}


def energy_level(onset16: np.ndarray, barpos16: np.ndarray, bar16: np.ndarray, role: str) -> np.ndarray:
    """Per note: the energy level (1-5, the tokenizer's per-role density bins) of its part over the 4-bar
    block it falls in, the arrangement's own measure of the section's energy."""
    if len(onset16) == 0:
        return np.zeros(0)
    bar_len = float(bar16[0])
    bar = np.floor((onset16 - barpos16) / bar_len + 1e-6).astype(np.int64)
    block = bar // 4
    uniq, inv, counts = np.unique(block, return_inverse=True, return_counts=True)
    last_bar = int(bar.max())
    n_bars = np.minimum(4, last_bar - uniq * 4 + 1)  # the last block may be shorter
    tok = _tokenizer()
    levels = np.array([tok.energy(_ENERGY_ROLE.get(role, role), int(c), int(b)) for c, b in zip(counts, n_bars)],
                      dtype=np.float64)
    return levels[inv]


_TOK: list = []


def _tokenizer():
    if not _TOK:
        from .tokenizer import MusicTokenizer
        _TOK.append(MusicTokenizer.default())
    return _TOK[0]


def harmony_change(onset16: np.ndarray, pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per note: the share of pitch classes struck in this beat (this onset and the 3 16ths after it) that
    were not struck in the 2 beats before, and whether the lowest pitch struck changed (where a pianist
    changes the pedal)."""
    n = len(onset16)
    new_pc, bass_moved = np.zeros(n), np.zeros(n)
    if n == 0:
        return new_pc, bass_moved
    order = np.argsort(onset16, kind="stable")
    on, pc, pi = onset16[order], pitch[order] % 12, pitch[order]
    groups, first = np.unique(on, return_index=True)
    ends = np.r_[first[1:], n]
    lo_cur = np.searchsorted(on, groups, side="left")
    hi_cur = np.searchsorted(on, groups + 4, side="left")
    lo_prev = np.searchsorted(on, groups - 8, side="left")
    for g in range(len(groups)):
        cur = set(pc[lo_cur[g]:hi_cur[g]].tolist())
        prev = set(pc[lo_prev[g]:lo_cur[g]].tolist())
        val = len(cur - prev) / len(cur) if prev else 1.0
        low_prev = pi[lo_prev[g]:lo_cur[g]].min() if lo_cur[g] > lo_prev[g] else -1
        moved = float(low_prev < 0 or pi[lo_cur[g]:hi_cur[g]].min() % 12 != low_prev % 12)
        new_pc[order[first[g]:ends[g]]] = val
        bass_moved[order[first[g]:ends[g]]] = moved
    return new_pc, bass_moved


def part_features(g: PartGrid) -> np.ndarray:
    n = len(g.onset16)
    f = np.zeros((n, N_FEATURES), dtype=np.float32)
    if n == 0:
        return f
    col = 0
    if g.is_drum:
        cls = np.array([CLASSES.index(kit_class(int(p))) for p in g.pitch])
    else:
        cls = np.full(n, CLASSES.index(pitched_class(g.program)))
    f[np.arange(n), col + cls] = 1.0
    col += len(CLASSES)
    group = role_group(g.role, g.is_drum, g.program)
    f[:, col + ROLE_GROUPS.index(group)] = 1.0
    col += len(ROLE_GROUPS)
    f[:, col + style_index(g.style)] = 1.0
    col += len(STYLES)
    frac = g.barpos16 - np.floor(g.barpos16)
    pos = np.floor(g.barpos16).astype(np.int64)
    f[np.arange(n), col + pos % 4] = 1.0                      # 16th within the beat
    col += 4
    beat = np.minimum(pos // 4, 3)
    f[np.arange(n), col + beat] = 1.0                          # beat within the bar (4 = 4th or later)
    col += 4
    strength = np.where(pos == 0, 1.0, np.where(pos % 8 == 0, 0.75, np.where(pos % 4 == 0, 0.5,
                        np.where(pos % 2 == 0, 0.25, 0.0))))
    strength = np.where(frac > 0.01, 0.0, strength)
    order = np.argsort(g.onset16, kind="stable")
    on = g.onset16[order]
    density = (np.searchsorted(on, g.onset16 + 4, side="right") - np.searchsorted(on, g.onset16 - 4, side="left"))
    chord = np.searchsorted(on, g.onset16 + 1e-6, side="right") - np.searchsorted(on, g.onset16 - 1e-6, side="left")
    # Neighbouring onsets (distinct times) and pitches, in time order.
    uniq = np.unique(on)
    k = np.searchsorted(uniq, g.onset16)
    prev_gap = np.where(k > 0, g.onset16 - uniq[np.maximum(k - 1, 0)], 16.0)
    next_gap = np.where(k + 1 < len(uniq), uniq[np.minimum(k + 1, len(uniq) - 1)] - g.onset16, 16.0)
    p_sorted = g.pitch[order].astype(np.float64)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    prev_int = np.where(rank > 0, g.pitch - p_sorted[np.maximum(rank - 1, 0)], 0.0)
    next_int = np.where(rank + 1 < n, p_sorted[np.minimum(rank + 1, n - 1)] - g.pitch, 0.0)
    if g.is_drum:
        prev_int = next_int = new_pc = bass_moved = np.zeros(n)
    else:
        new_pc, bass_moved = harmony_change(g.onset16, g.pitch)
    extra = [
        strength,
        frac,
        g.pitch / 127.0,
        np.log2(np.clip(g.dur16, 0.25, 64)) / 4.0,
        g.velocity / 127.0,
        np.log1p(density) / 3.0,
        np.log1p(chord) / 2.0,
        np.clip(prev_int, -24, 24) / 24.0,
        np.clip(next_int, -24, 24) / 24.0,
        np.log2(np.clip(prev_gap, 0.25, 16)) / 4.0,
        np.log2(np.clip(next_gap, 0.25, 16)) / 4.0,
        g.bpm / 200.0,
        (g.bar16 / 16.0),
        np.full(n, float(g.is_drum)),
        np.ones(n),
        new_pc,
        bass_moved,
        (energy_level(g.onset16, g.barpos16, g.bar16, group) - 3.0) / 2.0,
    ]
    f[:, col:] = np.stack(extra, axis=1)
    return f


# --------------------------------------------------------------------------------------------
# Training data from the archives


def _class_mean_velocity(classes: list[str], vel: np.ndarray) -> np.ndarray:
    out = np.zeros(len(vel))
    cl = np.array(classes)
    for c in set(classes):
        m = cl == c
        out[m] = round(float(vel[m].mean()))
    return out


def groove_examples(item: dict) -> dict | None:
    """One Groove MIDI performance -> features, targets and class labels (None when unusable)."""
    import mido

    from .data import TD11_TO_GM
    from .midi_io import midi_to_score
    num, den = (int(x) for x in item["time_signature"].split("-"))
    score = midi_to_score(mido.MidiFile(file=io.BytesIO(item["midi"]), clip=True))
    notes = [(n.start, TD11_TO_GM.get(n.pitch, n.pitch), n.velocity) for p in score.parts for n in p.notes]
    if len(notes) < 16:
        return None
    notes.sort()
    bpm = float(score.tempos[0][1]) if score.tempos else float(item["bpm"])
    start = np.array([n[0] for n in notes], dtype=np.float64)
    pitch = np.array([n[1] for n in notes])
    vel = np.array([n[2] for n in notes], dtype=np.float64)
    q = np.round(start / STEP16)
    dev_ms = (start - q * STEP16) * 60000.0 / (bpm * PPQ)
    bar16 = num * 16 / den
    classes = [kit_class(int(p)) for p in pitch]
    svel = _class_mean_velocity(classes, vel)
    g = PartGrid(q, np.ones(len(q)), pitch, svel, np.mod(q, bar16), np.full(len(q), bar16), True, 0, "drums",
                 np.full(len(q), bpm), item.get("style") or "rock")
    z = np.zeros(len(q))
    target = np.stack([dev_ms / T_MS, (vel - svel) / V_SCALE, z, z - 1, z, z], axis=1)
    return {"x": part_features(g), "y": target.astype(np.float32), "cls": classes, "svel": svel, "vel": vel,
            "dev": dev_ms, "on16": q}


def pedal_targets(on16: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """(press, offset in beats, hold in beats) per note from pedal spans, both on one beat grid.

    on16: quantized onsets in 16ths; spans: (down, up) in beats. Each pedal press
    belongs to the latest onset at or before it (a press up to a 32nd early counts for the onset after
    it); an onset with no press gets (-1, 0, 0). Notes sharing an onset share its targets.
    """
    out = np.zeros((len(on16), 3))
    out[:, 0] = -1
    if len(on16) == 0 or len(spans) == 0:
        return out
    groups = np.unique(on16)
    g_beats = groups / 4.0
    taken: dict[int, tuple[float, float]] = {}
    for down, up in spans:
        k = int(np.searchsorted(g_beats, down + 0.125, side="right")) - 1
        if k < 0 or k in taken:
            continue
        taken[k] = (down - g_beats[k], up - down)
    gi = np.searchsorted(groups, on16)
    for k, (off_beats, hold) in taken.items():
        m = gi == k
        out[m, 0] = 1.0
        out[m, 1] = off_beats
        out[m, 2] = hold
    return out


def pop909_examples(song: dict) -> dict | None:
    """One POP909 song -> examples for its melody, bridge, piano (chords) and piano bass line."""
    import mido

    from .data import beat_index, seconds_to_ticks, split_bass
    from .midi_io import midi_to_score
    score = midi_to_score(mido.MidiFile(file=io.BytesIO(song["midi"]), clip=True), title=song["sid"])
    rows = [line.split() for line in song["beat_midi.txt"].decode().splitlines() if line.strip()]
    if len(rows) < 16:
        return None
    beat_sec = np.array([float(r[0]) for r in rows])
    beats = seconds_to_ticks(score.tempos, beat_sec)
    if np.any(np.diff(beats) <= 0):
        return None
    downs = [i for i, r in enumerate(rows) if len(r) > 2 and float(r[2]) == 1.0]
    first_down = downs[0] if downs else 0
    bpb = int(np.median(np.diff(downs))) if len(downs) > 2 else 4
    bpb = bpb if bpb in (2, 3, 4) else 4
    spb = np.diff(beat_sec)
    out = {"x": [], "y": [], "cls": [], "svel": [], "vel": [], "dev": [], "on16": []}
    tracks = {p.name.split(" ch")[0].upper(): p for p in score.parts}
    piano_pedal = np.zeros((0, 2))
    if "PIANO" in tracks and tracks["PIANO"].pedal:
        piano_pedal = beat_index(beats, np.array(tracks["PIANO"].pedal, dtype=np.float64).reshape(-1)).reshape(-1, 2)
    groups: list[tuple[str, int, list[Note]]] = []
    for name, role in (("MELODY", "melody"), ("BRIDGE", "counter-melody")):
        if name in tracks and tracks[name].notes:
            groups.append((role, 0, tracks[name].notes))
    if "PIANO" in tracks and tracks["PIANO"].notes:
        groups.append(("chords", 0, tracks["PIANO"].notes))
    if not groups:
        return None
    # Quantize every note to the 16th grid of the annotated beats; a song that does not sit on a 16th
    # grid (triplet feel) is left out.
    parsed = []
    for role, program, notes in groups:
        s = beat_index(beats, np.array([n.start for n in notes], dtype=np.float64))
        e = beat_index(beats, np.array([n.end for n in notes], dtype=np.float64))
        parsed.append((role, program, notes, s, e))
    allpos = np.concatenate([p[3] for p in parsed])
    if np.abs(allpos * 4 - np.round(allpos * 4)).mean() > 0.2:
        return None
    for role, program, notes, s, e in parsed:
        qs = np.round(s * 4)
        qe = np.maximum(np.round(e * 4), qs + 1)
        k = np.clip(np.floor(s).astype(np.int64), 0, len(spb) - 1)
        dev_ms = (s - qs / 4) * spb[k] * 1000.0
        ratio = (e - s) / ((qe - qs) / 4)
        # Split the piano's lowest voice off as a bass line, on the quantized onsets.
        qnotes = [Note(int(a) * STEP16 + 10 ** 6, int(b) * STEP16 + 10 ** 6, n.pitch, n.velocity)
                  for a, b, n in zip(qs, qe, notes)]
        subsets = [(role, program, np.arange(len(notes)))]
        if role == "chords":
            bass, _ = split_bass(qnotes)
            bass_keys = {(n.start, n.pitch) for n in bass}
            is_bass = np.array([(qn.start, qn.pitch) in bass_keys for qn in qnotes])
            subsets = [("chords", 0, np.nonzero(~is_bass)[0]), ("bass", 33, np.nonzero(is_bass)[0])]
        for r, prog, idx in subsets:
            if len(idx) < 8:
                continue
            vel = np.array([notes[i].velocity for i in idx], dtype=np.float64)
            svel = np.full(len(idx), round(float(vel.mean())))
            on16 = qs[idx] - first_down * 4
            bar16 = bpb * 4
            bpm = 60.0 / spb[k[idx]]
            g = PartGrid(on16, (qe - qs)[idx], np.array([notes[i].pitch for i in idx]), svel,
                         np.mod(on16, bar16), np.full(len(idx), float(bar16)), False, prog, r, bpm, "pop")
            ped = np.zeros((len(idx), 3))
            ped[:, 0] = -1
            if r == "chords":
                ped = pedal_targets(qs[idx], piano_pedal)
            y = np.stack([dev_ms[idx] / T_MS, (vel - svel) / V_SCALE,
                          np.clip(np.log(np.clip(ratio[idx], 1e-3, None)), -3, 1.5) / D_SCALE,
                          ped[:, 0], ped[:, 1] / P_SCALE,
                          np.where(ped[:, 0] > 0, np.log2(np.clip(ped[:, 2], MIN_HOLD_BEATS, 16)), 0) / H_SCALE],
                         axis=1)
            out["x"].append(part_features(g))
            out["y"].append(y.astype(np.float32))
            out["cls"] += [r if r in ("melody", "bass") else "piano"] * len(idx)
            out["svel"].append(svel)
            out["vel"].append(vel)
            out["dev"].append(dev_ms[idx])
            out["on16"].append(on16)
    if not out["x"]:
        return None
    return {"x": np.concatenate(out["x"]), "y": np.concatenate(out["y"]), "cls": out["cls"],
            "svel": np.concatenate(out["svel"]), "vel": np.concatenate(out["vel"]), "dev": np.concatenate(out["dev"]),
            "on16": np.concatenate(out["on16"])}


def cache_dir() -> Path:
    env = os.environ.get("COMPOSER_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "composer") / "perform"


SPLITS = ("train", "val", "test")


def build(data_dir: Path, out: Path, limit: int | None = None, progress=print) -> dict:
    """Read Groove MIDI and POP909 in memory and write {train,val,test}.npz (features, targets, labels);
    val holds Groove's own validation split (for choosing settings), POP909 has none."""
    from .data import _read_groove, _read_pop909, split_of
    t0 = time.time()
    buckets: dict[str, dict[str, list]] = {s: {"x": [], "y": [], "cls": [], "svel": [], "vel": [], "dev": [],
                                                "on16": [], "piece": [], "src": []} for s in SPLITS}
    counts = {"groove": {s: 0 for s in SPLITS}, "pop909": {s: 0 for s in SPLITS}}

    def add(split, ex, src):
        b = buckets[split]
        for k in ("x", "y", "svel", "vel", "dev", "on16"):
            b[k].append(np.asarray(ex[k]))
        b["cls"] += list(ex["cls"])
        b["src"] += [src] * len(ex["cls"])
        b["piece"].append(np.full(len(ex["cls"]), sum(counts[s][split] for s in counts), dtype=np.int64))
        counts[src][split] += 1

    for item in _read_groove(data_dir, limit):
        split = {"test": "test", "validation": "val"}.get(item.get("split", "train"), "train")
        try:
            ex = groove_examples(item)
        except Exception:  # a malformed file is skipped
            ex = None
        if ex is not None:
            add(split, ex, "groove")
    progress(f"groove read in {time.time() - t0:.0f} s")
    for song in _read_pop909(data_dir, limit):
        split = "test" if split_of(f"pop909/{song['sid']}") == "test" else "train"
        try:
            ex = pop909_examples(song)
        except Exception:
            ex = None
        if ex is not None:
            add(split, ex, "pop909")
    out.mkdir(parents=True, exist_ok=True)
    summary = {"pieces": counts, "seconds": round(time.time() - t0, 1)}
    for s, b in buckets.items():
        if not b["y"]:
            continue
        np.savez(out / f"{s}.npz", x=np.concatenate(b["x"]), y=np.concatenate(b["y"]), cls=np.array(b["cls"]),
                 svel=np.concatenate(b["svel"]), vel=np.concatenate(b["vel"]), dev=np.concatenate(b["dev"]),
                 on16=np.concatenate(b["on16"]), piece=np.concatenate(b["piece"]), src=np.array(b["src"]))
        summary[f"{s}_notes"] = int(sum(len(c) for c in b["y"]))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    progress(json.dumps(summary))
    return summary


# --------------------------------------------------------------------------------------------
# The diffusion model


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
    torch = _torch()
    nn = torch.nn

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


DEFAULT_CONFIG = {"n_features": N_FEATURES, "n_targets": N_TARGETS, "hidden": 192, "layers": 3, "steps": 100,
                  "sample_steps": 50, "schedule": "cosine",
                  "target_scales": {"timing_ms": T_MS, "velocity": V_SCALE, "log_duration_ratio": D_SCALE,
                                    "pedal_offset_beats": P_SCALE, "log2_pedal_hold_beats": H_SCALE},
                  "classes": list(CLASSES), "roles": list(ROLE_GROUPS), "max_shift_ms": MAX_SHIFT_MS}


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
    cfg = dict(DEFAULT_CONFIG)
    model = make_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    ab = torch.from_numpy(_cosine_alphas_bar(cfg["steps"])).float()
    t0 = time.time()
    step, losses, ema = 0, [], None
    budget = minutes * 60
    while time.time() - t0 < budget:
        idx = torch.multinomial(w, batch, replacement=True)
        xb, yb = x[idx], y[idx]
        t = torch.randint(0, cfg["steps"], (batch,))
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
    # Held-out denoising loss on the test notes at fixed noise.
    te = np.load(cache / "test.npz")
    g = torch.Generator().manual_seed(1)
    xt_, yt_ = torch.from_numpy(te["x"]).float(), torch.from_numpy(np.clip(te["y"], -6, 6)).float()
    with torch.no_grad():
        t = torch.randint(0, cfg["steps"], (len(yt_),), generator=g)
        noise = torch.randn(yt_.shape, generator=g)
        a = ab[t][:, None]
        test_loss = float(((model(a.sqrt() * yt_ + (1 - a).sqrt() * noise, t, xt_) - noise) ** 2).mean())
    summary = json.loads((cache / "summary.json").read_text()) if (cache / "summary.json").is_file() else {}
    pieces = summary.get("pieces", {})
    card = {
        "model": "expressive performance denoiser (symbolic/perform.py)",
        "parameters": sum(p.numel() for p in model.parameters()),
        "targets": ["timing_ms", "velocity", "log_duration_ratio", "pedal_press", "pedal_offset_beats",
                    "log2_pedal_hold_beats"][:cfg["n_targets"]],
        "data": {
            "groove": {"name": "Groove MIDI Dataset (Magenta; Gillick, Roberts, Engel, Eck, Bamman 2019)",
                       "license": "CC BY 4.0", "performances_train": pieces.get("groove", {}).get("train"),
                       "performances_test": pieces.get("groove", {}).get("test"),
                       "performances_val": pieces.get("groove", {}).get("val"),
                       "split": "the data set's own; validation not trained on, used to choose rare_boost"},
            "pop909": {"name": "POP909 (Music X Lab)", "license": "MIT",
                       "songs_train": pieces.get("pop909", {}).get("train"),
                       "songs_test": pieces.get("pop909", {}).get("test"),
                       "split": "symbolic.data.split_of('pop909/<id>') == 'test' held out",
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


# --------------------------------------------------------------------------------------------
# Applying it to a Score


def _bar_arrays(score: Score, ticks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(16ths from the bar start, 16ths in the bar) for each tick."""
    if not score.bars:
        bar = 4 * PPQ
        return np.mod(ticks, bar) / STEP16, np.full(len(ticks), bar / STEP16)
    starts = np.array([b.start for b in score.bars])
    lens = np.array([b.length for b in score.bars])
    k = np.clip(np.searchsorted(starts, ticks, side="right") - 1, 0, len(starts) - 1)
    off = ticks - starts[k]
    off = np.where(off >= lens[k], np.mod(off, lens[k]), off)
    return off / STEP16, lens[k] / STEP16


def _bpm_at(score: Score, ticks: np.ndarray) -> np.ndarray:
    tempos = score.tempos or [(0, 120.0)]
    tt = np.array([t for t, _ in tempos])
    bb = np.array([b for _, b in tempos], dtype=np.float64)
    k = np.clip(np.searchsorted(tt, ticks, side="right") - 1, 0, len(tt) - 1)
    return bb[k]


def score_features(score: Score, part: Part, style: str = "") -> np.ndarray:
    notes = part.notes
    ticks = np.array([n.start for n in notes], dtype=np.int64)
    barpos, bar16 = _bar_arrays(score, ticks)
    g = PartGrid(ticks / STEP16, np.array([n.duration / STEP16 for n in notes]), np.array([n.pitch for n in notes]),
                 np.array([n.velocity for n in notes], dtype=np.float64), barpos, bar16, part.is_drum, part.program,
                 part.role, _bpm_at(score, ticks), style or "pop")
    return part_features(g)


def perform(score: Score, seed: int = 0, amount: float = 1.0, weights: Path | str | None = None,
            style: str = "") -> Score:
    """A new Score: the same notes in the same order per part, with sampled timing, velocity and articulation.

    `amount` (0..1, larger values exaggerate) scales every deviation; 0 returns the quantized timing and
    velocities. Onsets never go below 0 and, within a part, a note never starts before a note written earlier.
    `style` (the plan's style or any text with a genre word) picks the feel: jazz swings, rock pushes, ...
    """
    import copy
    out = copy.deepcopy(score)
    amount = max(0.0, float(amount))
    if amount == 0 or not score.n_notes:
        return out
    model, cfg = load(weights)
    parts = [p for p in out.parts if p.notes]
    feats = [score_features(out, p, style) for p in parts]
    allf = np.concatenate(feats) if feats else np.zeros((0, N_FEATURES), np.float32)
    y = sample(model, cfg, allf, seed)
    sc = cfg.get("target_scales", {})
    t_ms, v_s, d_s = sc.get("timing_ms", T_MS), sc.get("velocity", V_SCALE), sc.get("log_duration_ratio", D_SCALE)
    h_s, p_s = sc.get("log2_pedal_hold_beats", H_SCALE), sc.get("pedal_offset_beats", P_SCALE)
    max_ms = float(cfg.get("max_shift_ms", MAX_SHIFT_MS))
    at = 0
    for p, f in zip(parts, feats):
        n = len(p.notes)
        yy = y[at:at + n]
        at += n
        starts = np.array([x.start for x in p.notes], dtype=np.int64)
        bpm = _bpm_at(out, starts)
        ms = np.clip(yy[:, 0] * t_ms, -max_ms, max_ms) * amount
        shift = np.round(ms * bpm * PPQ / 60000.0).astype(np.int64)
        shift = np.clip(shift, -PPQ // 4, PPQ // 4)
        dvel = yy[:, 1] * v_s * amount
        ratio = np.exp(np.clip(yy[:, 2] * d_s, -2.5, 1.0) * amount)
        order = np.argsort(starts, kind="stable")
        new_start = np.maximum(starts + shift, 0)
        # Monotonic at the grid: a note never starts before one written at an earlier position.
        done_max, group_max, prev_grid = 0, 0, None
        for i in order:
            if starts[i] != prev_grid:
                done_max, group_max, prev_grid = max(done_max, group_max), 0, starts[i]
            new_start[i] = max(new_start[i], done_max)
            group_max = max(group_max, new_start[i])
        for i, note in enumerate(p.notes):
            dur = note.duration if p.is_drum else max(1, int(round(note.duration * ratio[i])))
            s = int(new_start[i])
            vel = int(np.clip(round(note.velocity + dvel[i]), 1, 127))
            p.notes[i] = Note(s, s + max(1, dur), note.pitch, vel)
        if yy.shape[1] >= N_TARGETS and not p.is_drum and p.program in PEDAL_PROGRAMS and not p.pedal:
            offset = np.clip(yy[:, 4] * p_s, -0.25, 1.0) * PPQ
            hold = np.clip(2.0 ** (yy[:, 5] * h_s), MIN_HOLD_BEATS, 16.0) * PPQ
            spans = pedal_spans(starts, yy[:, 3], offset, hold, gap=PPQ // 32, min_len=PPQ // 8)
            p.pedal = [(int(a), int(b)) for a, b in spans]
    return out


def pedal_spans(starts: np.ndarray, press: np.ndarray, offset: np.ndarray, hold: np.ndarray,
                gap: float, min_len: float) -> list[tuple[float, float]]:
    """Sustain pedal (down, up) spans from per-note samples, all times in one unit.

    Notes that share a written onset vote together: the pedal goes down at that onset (plus the mean
    offset) when their mean press value is positive, and comes up after the mean hold, or `gap` before
    the next press, whichever is first. Spans shorter than `min_len` are dropped.
    """
    if len(starts) == 0:
        return []
    groups, inv = np.unique(starts, return_inverse=True)
    cnt = np.bincount(inv, minlength=len(groups))
    mean = lambda v: np.bincount(inv, weights=v, minlength=len(groups)) / cnt  # noqa: E731
    on = mean(press) > 0
    downs = np.maximum(groups[on] + mean(offset)[on], 0.0)
    holds = mean(hold)[on]
    order = np.argsort(downs, kind="stable")
    downs, holds = downs[order], holds[order]
    spans: list[tuple[float, float]] = []
    for i, d in enumerate(downs):
        up = d + holds[i]
        if i + 1 < len(downs):
            up = min(up, downs[i + 1] - gap)
        if spans and d < spans[-1][1]:
            continue
        if up - d >= min_len:
            spans.append((d, up))
    return spans


# --------------------------------------------------------------------------------------------
# Evaluation against held-out humans


def evaluate(cache: Path, weights: Path | None = None, seed: int = 0, split: str = "test") -> dict:
    model, cfg = load(weights)
    d = np.load(cache / f"{split}.npz")
    y = sample(model, cfg, d["x"], seed)
    rng = np.random.default_rng(seed)
    cls = d["cls"]
    hum_dev, hum_vel, svel = d["dev"], d["vel"], d["svel"]
    mod_dev = np.clip(y[:, 0] * T_MS, -MAX_SHIFT_MS, MAX_SHIFT_MS)
    mod_vel = np.clip(np.round(svel + y[:, 1] * V_SCALE), 1, 127)
    # The spread a baseline may know without seeing the held-out set: the training humans' (per class).
    train_sd = {}
    if (cache / "train.npz").is_file():
        tr = np.load(cache / "train.npz")
        tr_cls, tr_dev, tr_dv = tr["cls"], tr["dev"], tr["vel"] - tr["svel"]
        train_sd = {c: (float(tr_dev[tr_cls == c].std()), float(tr_dv[tr_cls == c].std())) for c in np.unique(tr_cls)}
    rows = []
    for name in ("kick", "snare", "hats", "cymbals", "toms", "melody", "piano", "bass"):
        m = cls == name
        if m.sum() < 20:
            continue
        s = f"Groove {split}" if name in DRUM_CLASSES else "POP909 held-out"
        sd_t = float(hum_dev[m].std())
        sd_v = float((hum_vel[m] - svel[m]).std())
        jit_dev = rng.normal(0, sd_t, m.sum())
        jit_vel = np.clip(np.round(svel[m] + rng.normal(0, sd_v, m.sum())), 1, 127)
        tr_t, tr_v = train_sd.get(name, (sd_t, sd_v))
        trj_dev = rng.normal(0, tr_t, m.sum())
        trj_vel = np.clip(np.round(svel[m] + rng.normal(0, tr_v, m.sum())), 1, 127)
        row = {"class": name, "set": s, "notes": int(m.sum()),
               "human_dev_mean": float(hum_dev[m].mean()), "human_dev_sd": sd_t,
               "model_dev_mean": float(mod_dev[m].mean()), "model_dev_sd": float(mod_dev[m].std()),
               "t_model": wasserstein1(mod_dev[m], hum_dev[m]), "t_quant": wasserstein1(np.zeros(m.sum()), hum_dev[m]),
               "t_jitter": wasserstein1(jit_dev, hum_dev[m]),
               "v_model": wasserstein1(mod_vel[m], hum_vel[m]), "v_quant": wasserstein1(svel[m], hum_vel[m]),
               "v_jitter": wasserstein1(jit_vel, hum_vel[m]),
               "t_jitter_train": wasserstein1(trj_dev, hum_dev[m]), "v_jitter_train": wasserstein1(trj_vel, hum_vel[m])}
        if "piece" in d.files:  # against the baseline that is closer on the whole set
            base_dev = np.zeros(m.sum()) if row["t_quant"] < row["t_jitter_train"] else trj_dev
            base_vel = svel[m] if row["v_quant"] < row["v_jitter_train"] else trj_vel
            row.update(piece_bootstrap(d["piece"][m], hum_dev[m], hum_vel[m], mod_dev[m], mod_vel[m],
                                       base_dev, base_vel, seed))
        rows.append(row)
    res = {"rows": rows, "notes": int(len(cls)), "sample_steps": int(cfg.get("sample_steps", cfg["steps"]))}
    if y.shape[1] >= N_TARGETS and "piece" in d.files and bool(((d["cls"] == "piano") & (d["src"] == "pop909")).any()):
        res["pedal"] = evaluate_pedal(d, y)
    return res


def piece_bootstrap(piece: np.ndarray, hum_dev, hum_vel, mod_dev, mod_vel, base_dev, base_vel, seed: int,
                    draws: int = 200) -> dict:
    """How sure the comparison is, given how few held-out pieces there are: the held-out pieces are drawn again
    with replacement `draws` times, and each time W1(model) - W1(baseline) is measured (negative: the model
    is closer); the 2.5th and 97.5th percentiles bound it. Also the W1 between two random halves of the
    held-out pieces (the humans against themselves, median of the draws)."""
    rng = np.random.default_rng(seed + 1)
    ids = np.unique(piece)
    if len(ids) < 2:  # nothing to draw again, no halves
        return {}
    rows_of = [np.nonzero(piece == p)[0] for p in ids]
    out = {}
    for key, hum, mod, base in (("t", hum_dev, mod_dev, base_dev), ("v", hum_vel, mod_vel, base_vel)):
        diffs, halves = [], []
        for _ in range(draws):
            pick = np.concatenate([rows_of[i] for i in rng.integers(0, len(ids), len(ids))])
            diffs.append(wasserstein1(mod[pick], hum[pick]) - wasserstein1(base[pick], hum[pick]))
            perm = rng.permutation(len(ids))
            a = np.concatenate([rows_of[i] for i in perm[:len(ids) // 2]])
            b = np.concatenate([rows_of[i] for i in perm[len(ids) // 2:]])
            halves.append(wasserstein1(hum[a], hum[b]))
        lo, hi = np.percentile(diffs, [2.5, 97.5])
        out[f"{key}_diff_ci"] = [float(lo), float(hi)]
        out[f"{key}_halves"] = float(np.median(halves))
    out["pieces"] = int(len(ids))
    return out


_EXTRA = len(CLASSES) + len(ROLE_GROUPS) + len(STYLES) + 8  # first of the scalar feature columns
BAR_COL = _EXTRA + 12


def _spans16(on16, y, bar16=None):
    """Pedal spans in 16ths from (press, offset, hold) targets in network scale (bar16: the bar rule)."""
    if bar16 is not None:  # press at the first onset of every bar, hold to the next bar
        bar = np.floor(on16 / bar16)
        first_on = {}
        for b, o in zip(bar.tolist(), on16.tolist()):
            first_on.setdefault(b, o)
        press = np.where(on16 == np.array([first_on[b] for b in bar.tolist()]), 1.0, -1.0)
        return pedal_spans(on16, press, np.zeros(len(on16)), bar16 - np.mod(on16, bar16), gap=0.125, min_len=0.5)
    off = np.clip(y[:, 1] * P_SCALE, -0.25, 1.0) * 4.0
    hold = np.clip(2.0 ** (y[:, 2] * H_SCALE), MIN_HOLD_BEATS, 16.0) * 4.0
    return pedal_spans(on16, y[:, 0], off, hold, gap=0.125, min_len=0.5)


def _matched(times, ref, tol: float) -> int:
    """How many of `times` pair one-to-one (greedily, in time order) with a `ref` time within `tol`."""
    ref = sorted(ref)
    used = [False] * len(ref)
    hits = 0
    for t in sorted(times):
        k = bisect.bisect_left(ref, t - tol)
        while k < len(ref) and ref[k] <= t + tol:
            if not used[k]:
                used[k] = True
                hits += 1
                break
            k += 1
    return hits


def _frames(spans, n: int) -> np.ndarray:
    f = np.zeros(n, dtype=bool)
    centers = np.arange(n) + 0.5
    for a, b in spans:
        f[(centers >= a) & (centers < b)] = True
    return f


def evaluate_pedal(d, y: np.ndarray) -> dict:
    """Pedal of the model and of a bar rule against the human pedal (POP909 held-out piano), per 16th frame."""
    m = (d["cls"] == "piano") & (d["src"] == "pop909")
    piece, on16, x, yh, ym = d["piece"][m], d["on16"][m], d["x"][m], d["y"][m][:, 3:6], y[m][:, 3:6]
    stats = {k: {"tp": 0, "fp": 0, "fn": 0, "frames": 0, "down": 0, "holds": [], "hits": 0}
             for k in ("model", "bar rule", "human")}
    for pid in np.unique(piece):
        k = piece == pid
        bar16 = float(np.median(x[k][:, BAR_COL] * 16.0))
        o = on16[k] - np.floor(on16[k].min() / bar16) * bar16  # from a barline, not negative
        order = np.argsort(o, kind="stable")
        o = o[order]
        n = int(o.max()) + 64
        ref_spans = _spans16(o, yh[k][order])
        ref = _frames(ref_spans, n)
        stats["human"]["frames"] += n
        stats["human"]["down"] += int(ref.sum())
        stats["human"]["holds"] += [(b - a) / 4 for a, b in ref_spans]
        for name, spans in (("model", _spans16(o, ym[k][order])), ("bar rule", _spans16(o, None, bar16))):
            f = _frames(spans, n)
            st = stats[name]
            st["tp"] += int((f & ref).sum())
            st["fp"] += int((f & ~ref).sum())
            st["fn"] += int((~f & ref).sum())
            st["frames"] += n
            st["down"] += int(f.sum())
            st["holds"] += [(b - a) / 4 for a, b in spans]
            st["hits"] += _matched([a for a, _ in spans], [a for a, _ in ref_spans], tol=2.0)
    out = {"pieces": int(len(np.unique(piece))), "onsets": int(m.sum())}
    hum = np.array(stats["human"]["holds"] or [0.0])
    out["human"] = {"down_fraction": stats["human"]["down"] / max(1, stats["human"]["frames"]),
                    "presses": len(stats["human"]["holds"]), "hold_median_beats": float(np.median(hum))}
    for name in ("model", "bar rule"):
        st = stats[name]
        prec = st["tp"] / max(1, st["tp"] + st["fp"])
        rec = st["tp"] / max(1, st["tp"] + st["fn"])
        holds = np.array(st["holds"] or [0.0])
        p_prec = st["hits"] / max(1, len(st["holds"]))
        p_rec = st["hits"] / max(1, len(stats["human"]["holds"]))
        out[name] = {"precision": prec, "recall": rec, "f1": 2 * prec * rec / max(1e-9, prec + rec),
                     "accuracy": 1 - (st["fp"] + st["fn"]) / max(1, st["frames"]),
                     "press_f1": 2 * p_prec * p_rec / max(1e-9, p_prec + p_rec),
                     "down_fraction": st["down"] / max(1, st["frames"]), "presses": len(st["holds"]),
                     "hold_median_beats": float(np.median(holds)), "hold_w1_beats": wasserstein1(holds, hum)}
    return out


def eval_markdown(res: dict, command: str) -> str:
    lines = ["## Performance", "",
             "Wasserstein-1 distance to held-out human performances (lower is better), per instrument class: "
             "timing deviation from the 16th grid in ms, and velocity (1-127). (b) the diffusion model applied to the "
             "quantized held-out notes (seed 0, humanize 1.0, " f"{res.get('sample_steps', 50)} sampling steps), (c) the quantized score (zero deviation, the score "
             "velocity = the class's mean velocity in the piece), (d) Gaussian jitter around the score with the "
             "training humans' standard deviation for that class (what a baseline can know), (e) the same with the "
             "held-out humans' own standard deviation (an oracle: it has seen the held-out spread). Drums: Groove MIDI "
             "test split; piano, melody and bass (the piano's lowest voice): the POP909 songs of the project's "
             "deterministic test split.", "",
             f"Command: `{command}`", "",
             "| class | held-out set | notes | human timing mean / sd (ms) | model timing mean / sd (ms) | "
             "timing W1 model | quantized | jitter | oracle jitter | velocity W1 model | quantized | jitter | "
             "oracle jitter |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rows = res["rows"]
    for r in rows:
        def b(v, others):
            return f"**{v:.2f}**" if v < min(others) else f"{v:.2f}"
        lines.append(f"| {r['class']} | {r['set']} | {r['notes']} | {r['human_dev_mean']:+.1f} / {r['human_dev_sd']:.1f} | "
                     f"{r['model_dev_mean']:+.1f} / {r['model_dev_sd']:.1f} | "
                     f"{b(r['t_model'], (r['t_quant'], r['t_jitter_train']))} | {r['t_quant']:.2f} | "
                     f"{r['t_jitter_train']:.2f} | {r['t_jitter']:.2f} | "
                     f"{b(r['v_model'], (r['v_quant'], r['v_jitter_train']))} | {r['v_quant']:.2f} | "
                     f"{r['v_jitter_train']:.2f} | {r['v_jitter']:.2f} |")
    wins_t = sum(r["t_model"] < min(r["t_quant"], r["t_jitter_train"]) for r in rows)
    wins_v = sum(r["v_model"] < min(r["v_quant"], r["v_jitter_train"]) for r in rows)
    oracle_t = [r["class"] for r in rows if r["t_model"] >= r["t_jitter"]]
    oracle_v = [r["class"] for r in rows if r["v_model"] >= r["v_jitter"]]
    lines += ["", f"The model is closer to the humans than the quantized score and the jitter in {wins_t} of {len(rows)} "
              f"classes for timing and {wins_v} of {len(rows)} for velocity (bold). Against the oracle jitter it is "
              f"closer in {len(rows) - len(oracle_t)} of {len(rows)} for timing"
              + (f" (not: {', '.join(oracle_t)})" if oracle_t else "")
              + f" and {len(rows) - len(oracle_v)} of {len(rows)} for velocity"
              + (f" (not: {', '.join(oracle_v)})" if oracle_v else "") + ".", "",
              *bootstrap_markdown(rows),
              *pedal_markdown(res.get("pedal")),
              "Full reproduction: `python -m symbolic.perform build` (reads ../shared/data into "
              "~/.cache/composer/perform), `python -m symbolic.perform train` (8 minutes, one thread), then the command above. "
              "POP909's MIDI mostly sits on its own (tempo-varying) beat grid: most of its held-out notes are within "
              "1 ms of a 16th, so the quantized baseline is already close there and the human timing spread comes "
              "from a minority of off-grid notes; its expressive tempo (the beat times) is not modelled.", ""]
    return "\n".join(lines)


def bootstrap_markdown(rows: list[dict]) -> list[str]:
    rows = [r for r in rows if "t_diff_ci" in r]
    if not rows:
        return []
    lines = ["### How sure: the held-out pieces drawn again", "",
             "Each held-out set has few pieces (performances or songs), and players differ more between pieces than "
             "within one, so each comparison is repeated on 200 draws of the held-out pieces with replacement: the "
             "interval holds 95% of the draws of W1(model) - W1(the better baseline of the table: quantized or "
             "jitter); below zero the model is closer in nearly every draw. 'Humans vs humans' is the W1 between "
             "two random halves of the held-out pieces (median of 200 splits): how far the humans are from each "
             "other.", "",
             "| class | pieces | timing: model - baseline | timing: humans vs humans | velocity: model - baseline | "
             "velocity: humans vs humans |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    verdict = {"t": {"below": [], "zero": [], "above": []}, "v": {"below": [], "zero": [], "above": []}}
    for r in rows:
        cells = []
        for key in ("t", "v"):
            lo, hi = r[f"{key}_diff_ci"]
            side = "below" if hi < 0 else "above" if lo > 0 else "zero"
            verdict[key][side].append(r["class"])
            ci = f"[{lo:+.2f}, {hi:+.2f}]"
            cells += [f"**{ci}**" if side == "below" else ci, f"{r[f'{key}_halves']:.2f}"]
        lines.append(f"| {r['class']} | {r['pieces']} | " + " | ".join(cells) + " |")

    def say(key, what):
        v = verdict[key]
        text = f"below zero in {len(v['below'])} of {len(rows)} classes for {what}"
        if v["zero"]:
            text += f", around zero for {', '.join(v['zero'])} (no sure difference either way)"
        if v["above"]:
            text += f", above zero for {', '.join(v['above'])} (the baseline surely closer)"
        return text
    return lines + ["", f"The interval lies {say('t', 'timing')}; {say('v', 'velocity')}.", ""]


def pedal_markdown(p: dict | None) -> list[str]:
    if not p:
        return []
    h = p["human"]
    lines = ["### Sustain pedal (piano)", "",
             f"POP909 held-out piano accompaniment ({p['pieces']} songs, {p['onsets']} notes): the pedal as 16th-note "
             "frames (down or up), compared with the human pedal (CC64 of the piano track, each press tied to the "
             "onset it follows). The bar rule presses at the first onset of every bar and lifts just before the next; "
             "no pedal at all (the quantized score) has recall 0 and accuracy = the share of time the human pedal is "
             "up. Press F1: pedal presses matched one-to-one with the human's within an 8th note.", "",
             "| pedal | frame precision | frame recall | frame F1 | frame accuracy | press F1 | time down | presses | "
             "median hold (beats) | hold W1 to human (beats) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
             f"| human | - | - | - | - | - | {h['down_fraction']:.0%} | {h['presses']} | {h['hold_median_beats']:.2f} | - |"]

    def bold(key, name, fmt="{:.3f}", low=False):
        vals = {k: p[k][key] for k in ("model", "bar rule")}
        best = (min if low else max)(vals, key=vals.get)
        return f"**{fmt.format(vals[name])}**" if name == best else fmt.format(vals[name])
    for name in ("model", "bar rule"):
        r = p[name]
        lines.append(f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {bold('f1', name)} | "
                     f"{bold('accuracy', name)} | {bold('press_f1', name)} | {r['down_fraction']:.0%} | "
                     f"{r['presses']} | {r['hold_median_beats']:.2f} | {bold('hold_w1_beats', name, '{:.2f}', True)} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    from .data import default_data_dir
    ap = argparse.ArgumentParser(prog="python -m symbolic.perform")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--data", default=None)
    b.add_argument("--cache", default=None)
    b.add_argument("--limit", type=int)
    t = sub.add_parser("train")
    t.add_argument("--cache", default=None)
    t.add_argument("--out", default=str(WEIGHTS_DIR))
    t.add_argument("--minutes", type=float, default=8.0)
    t.add_argument("--rare-boost", type=float, default=1.0, help="rare classes' weight ~ 1 / frequency ** this")
    e = sub.add_parser("eval")
    e.add_argument("--cache", default=None)
    e.add_argument("--weights", default=None)
    e.add_argument("--split", default="test", choices=["test", "val"], help="val: Groove's validation split")
    e.add_argument("--out", default=None, help="default: docs/EVAL_PERFORMANCE.md for test, CACHE/eval_val.md for val")
    args = ap.parse_args(argv)
    cache = Path(args.cache) if getattr(args, "cache", None) else cache_dir()
    if args.cmd == "build":
        build(Path(args.data) if args.data else default_data_dir(), cache, args.limit)
    elif args.cmd == "train":
        train(cache, Path(args.out), args.minutes, rare_boost=args.rare_boost)
    else:
        res = evaluate(cache, Path(args.weights) if args.weights else None, split=args.split)
        test = args.split == "test"
        command = "python -m symbolic.perform eval" + ("" if test else f" --split {args.split}")
        text = "# Performance evaluation\n" + eval_markdown(res, command).split("\n", 1)[1]
        # The validation table is for choosing settings: it never replaces the held-out one in docs/.
        out = Path(args.out) if args.out else Path("docs/EVAL_PERFORMANCE.md") if test else cache / f"eval_{args.split}.md"
        out.write_text(text)
        (cache / ("eval.json" if test else f"eval_{args.split}.json")).write_text(json.dumps(res, indent=1))
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
