"""The performance model's inputs: per-note features of a quantized score (instrument class, role, style, metrical
position, beat strength, durations, neighbours, chord size, tempo, energy) and the constants that shape them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..score import PPQ, Part, Score

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights" / "perform"
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
    from ..style import style_family
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
        from ..tokenizer import MusicTokenizer
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


def bpm_at(score: Score, ticks: np.ndarray) -> np.ndarray:
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
                 part.role, bpm_at(score, ticks), style or "pop")
    return part_features(g)


_EXTRA = len(CLASSES) + len(ROLE_GROUPS) + len(STYLES) + 8  # first of the scalar feature columns


BAR_COL = _EXTRA + 12
