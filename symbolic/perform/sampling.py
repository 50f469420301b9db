"""Playing a score: sample each part's deviations with the performance model and apply them (timing, velocity,
articulation, sustain pedal)."""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from ..score import PPQ, Note, Part, Score
from .features import (
    MIN_HOLD_BEATS,
    N_FEATURES,
    N_TARGETS,
    PEDAL_PROGRAMS,
    bpm_at,
    score_features,
)
from .model import load, sample

# --------------------------------------------------------------------------------------------
# Applying it to a Score


def swing_ticks(score: Score, ticks: np.ndarray, swing: float) -> np.ndarray:
    """Written ticks moved to a swing feel: in meters counted in quarters (or halves), each beat's second
    eighth lands at swing / (1 + swing) of the beat and the rest of the beat is stretched or squeezed
    around it (a sixteenth moves in proportion); beats stay where they are. swing 1.0 is straight."""
    ticks = np.asarray(ticks, dtype=np.int64)
    if swing <= 1.0 or not len(ticks) or not score.bars:
        return ticks
    p = swing / (1.0 + swing)
    starts = np.array([b.start for b in score.bars], dtype=np.int64)
    dens = np.array([b.denominator for b in score.bars], dtype=np.int64)
    bi = np.clip(np.searchsorted(starts, ticks, side="right") - 1, 0, len(starts) - 1)
    q = PPQ
    pos = (ticks - starts[bi]) % q
    half = q / 2.0
    moved = np.where(pos <= half, pos * (2 * p), p * q + (pos - half) * 2 * (1 - p))
    out = ticks - pos + np.round(moved).astype(np.int64)
    # Compound and eighth-based meters (6/8, 7/8) keep their written grid.
    return np.where(dens[bi] <= 4, out, ticks)


# Style families whose straight eighths define them (a bossa's even eighths against a swing's long-short), and
# how far an off-beat eighth may move in them: 3% of a beat (the measure's on-grid window is 4%).
EVEN_FAMILIES = frozenset({"bossa"})
EVEN_TICKS = PPQ * 3 // 100


def perform(score: Score, seed: int = 0, amount: float = 1.0, weights: Path | str | None = None,
            style: str = "", swing: float = 1.0) -> Score:
    """A new Score: the same notes in the same order per part, with sampled timing, velocity and articulation.

    `amount` (0..1, larger values exaggerate) scales every deviation; 0 returns the quantized timing and
    velocities. Onsets never go below 0 and, within a part, a note never starts before a note written earlier.
    `style` (the plan's style or any text with a genre word) conditions the model; `swing` (the plan's
    ratio, symbolic.style) moves the off-beat eighths before the model's deviations, whatever the amount; in a
    straight Latin style (EVEN_FAMILIES) the off-beat eighths keep close to their place.
    """
    import copy
    out = copy.deepcopy(score)
    amount = max(0.0, float(amount))
    if not score.n_notes:
        return out
    if swing > 1.0:
        for p in out.parts:
            s0 = swing_ticks(out, np.array([n.start for n in p.notes]), swing)
            e0 = swing_ticks(out, np.array([n.end for n in p.notes]), swing)
            p.notes = [Note(int(a), int(max(b, a + 1)), n.pitch, n.velocity) for n, a, b in zip(p.notes, s0, e0)]
            p.pedal = [(int(a), int(b)) for a, b in zip(swing_ticks(out, np.array([x[0] for x in p.pedal]), swing),
                                                        swing_ticks(out, np.array([x[1] for x in p.pedal]), swing))]
    if amount == 0:
        return out
    from ..style import style_family
    even = swing <= 1.0 and style_family(style) in EVEN_FAMILIES and all(b.denominator == 4 and b.numerator % 3
                                                                       for b in score.bars)
    model, cfg = load(weights)
    parts = [p for p in out.parts if p.notes]
    # The model reads the written score (its features know the straight grid), and plays the swung one.
    feats = [score_features(score, w, style) for w in score.parts if w.notes]
    allf = np.concatenate(feats) if feats else np.zeros((0, N_FEATURES), np.float32)
    y = sample(model, cfg, allf, [(len(f), s) for f, s in zip(feats, part_seeds(parts, seed))])
    sc = cfg.target_scales
    t_ms, v_s, d_s = sc.timing_ms, sc.velocity, sc.log_duration_ratio
    h_s, p_s = sc.log2_pedal_hold_beats, sc.pedal_offset_beats
    max_ms = float(cfg.max_shift_ms)
    at = 0
    for p, _ in zip(parts, feats):
        n = len(p.notes)
        yy = y[at:at + n]
        at += n
        starts = np.array([x.start for x in p.notes], dtype=np.int64)
        bpm = bpm_at(out, starts)
        ms = np.clip(yy[:, 0] * t_ms, -max_ms, max_ms) * amount
        shift = np.round(ms * bpm * PPQ / 60000.0).astype(np.int64)
        shift = np.clip(shift, -PPQ // 4, PPQ // 4)
        if even:
            # Straight Latin eighths stay even: an off-beat eighth keeps within 3% of a beat of its place.
            off = (starts % PPQ) == PPQ // 2
            shift[off] = np.clip(shift[off], -EVEN_TICKS, EVEN_TICKS)
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


def part_seeds(parts: list[Part], seed: int) -> list[int]:
    """A seed per part from its name (and which of the parts so named it is): a part plays the same
    whatever the other parts hold, so regenerating one leaves the others' playing as it was."""
    seen: dict[str, int] = {}
    out = []
    for p in parts:
        k = seen[p.name] = seen.get(p.name, -1) + 1
        out.append(zlib.crc32(f"{seed}:{p.name}:{k}".encode()))
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


