"""Symbolic quality metrics: harmony against a plan, key, tempo bins, and MusPy-style statistics.

All functions take plain notes (Note or (start, end, pitch) tuples in ticks at PPQ 480) and return floats,
so the same code measures the model, the pattern arranger and held-out human data.
"""
from __future__ import annotations

import bisect
import math
from typing import Iterable, Sequence

import numpy as np

from .harmony import Key
from .score import PPQ, Note, Score, Sheet

TEMPO_BOUNDARIES = (40, 60, 70, 90, 110, 140, 160, 210)  # MidiCaps tempo bins
MAJOR_PROFILE = (0, 2, 4, 5, 7, 9, 11)


def tempo_bin(bpm: float) -> int:
    return sum(1 for b in TEMPO_BOUNDARIES if bpm >= b)


def tempo_scores(requested: float, got: float) -> tuple[bool, bool]:
    """(TB, TBT): same MidiCaps tempo bin; same or neighbouring bin."""
    a, b = tempo_bin(requested), tempo_bin(got)
    return a == b, abs(a - b) <= 1


def key_scores(requested: Key, got: Key) -> tuple[bool, bool]:
    """(CK, CKD): the same key; the same key or its relative (same signature), as Text2midi counts them."""
    exact = requested.tonic == got.tonic and requested.mode == got.mode
    return exact, exact or requested.sharps == got.sharps


def analyze_key(notes: Sequence[Note]) -> Key | None:
    """music21's key analysis of the pitches (duration-weighted), as a Key."""
    import music21

    if not notes:
        return None
    s: music21.stream.Stream[music21.note.Note] = music21.stream.Stream()
    for n in notes:
        m = music21.note.Note(midi=n.pitch)
        m.quarterLength = max(0.25, (n.end - n.start) / PPQ)
        s.insert(n.start / PPQ, m)
    k = s.analyze("key")
    return Key(k.tonic.pitchClass, k.mode if k.mode in ("major", "minor") else "major")


def chord_tone_ratio(notes: Iterable[Note], sheet: Sheet, strong_only: bool = True) -> float:
    """Share of note onsets on strong beats (beat 1, and the middle of 4-beat bars) that are tones of the plan's chord."""
    from .grid import pulses

    starts = [b.bar.start for b in sheet.bars]
    hits = total = 0
    for n in notes:
        i = int(np.searchsorted(starts, n.start, side="right")) - 1
        if i < 0:
            continue
        bar = sheet.bars[i]
        if strong_only and not any(p.start == n.start and p.strength >= 0.6 for p in pulses(bar)):
            continue
        total += 1
        hits += n.pitch % 12 in bar.chord_at(n.start).pitch_classes
    return hits / total if total else float("nan")


def cadence_rate(notes: Sequence[Note], sheet: Sheet) -> float:
    """Share of sections whose last bar starts on the harmony: every note the track sounds at that
    downbeat (struck there or held into it) is a tone of the chord there. Sections where the track is
    silent at that moment are left out."""
    landed = total = 0
    for sec in sheet.sections:
        last = sheet.bars[sec.last_bar]
        t = last.bar.start
        sounding = [n for n in notes if n.start <= t < n.end]
        if not sounding:
            continue
        total += 1
        landed += all(n.pitch % 12 in last.chord_at(t).pitch_classes for n in sounding)
    return landed / total if total else float("nan")


def pitch_class_entropy(notes: Iterable[Note]) -> float:
    """Entropy (bits) of the pitch-class histogram; 0 for one pitch class, log2(12) for all equally."""
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += 1
    if hist.sum() == 0:
        return float("nan")
    p = hist / hist.sum()
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def scale_consistency(notes: Iterable[Note]) -> float:
    """Largest share of notes inside one of the 24 major/minor scales."""
    pcs = [n.pitch % 12 for n in notes]
    if not pcs:
        return float("nan")
    hist = np.bincount(pcs, minlength=12)
    best = 0
    for tonic in range(12):
        for steps in (MAJOR_PROFILE, (0, 2, 3, 5, 7, 8, 10)):
            best = max(best, sum(hist[(tonic + s) % 12] for s in steps))
    return best / len(pcs)


def _onset_patterns(notes: Sequence[Note], score_bars, grid: int = PPQ // 4) -> list[np.ndarray]:
    starts = np.array([b.start for b in score_bars])
    pats = [np.zeros(max(1, b.length // grid), dtype=bool) for b in score_bars]
    for n in notes:
        i = int(np.searchsorted(starts, n.start, side="right")) - 1
        if 0 <= i < len(pats):
            k = (n.start - score_bars[i].start) // grid
            if k < len(pats[i]):
                pats[i][k] = True
    return pats


def groove_consistency(notes: Sequence[Note], bars) -> float:
    """1 minus the mean Hamming distance between consecutive bars' onset patterns (MusPy)."""
    pats = _onset_patterns(notes, bars)
    dists = [np.mean(a != b) for a, b in zip(pats, pats[1:]) if len(a) == len(b) and (a.any() or b.any())]
    return float(1 - np.mean(dists)) if dists else float("nan")


def empty_beat_rate(notes: Sequence[Note], bars) -> float:
    """Share of beats during which no note sounds (MusPy's empty-beat rate)."""
    starts, ends = [], []
    for b in bars:
        step = PPQ * 4 // b.denominator
        for t in range(b.start, b.end, step):
            starts.append(t)
            ends.append(min(t + step, b.end))
    if not starts:
        return float("nan")
    beat_start, beat_end = np.array(starts), np.array(ends)
    sounding = np.zeros(len(starts), dtype=bool)
    for n in notes:
        lo = np.searchsorted(beat_end, n.start, side="right")   # first beat ending after the onset
        hi = np.searchsorted(beat_start, n.end, side="left")    # beats starting before the release
        sounding[lo:hi] = True
    return float(1 - sounding.mean())


def clashes(pitch: int, sounding) -> bool:
    """A semitone (or major seventh) against a pitch class sounding at the onset, not doubled there."""
    pc = pitch % 12
    return pc not in sounding and any((pc - p) % 12 in (1, 11) for p in sounding)


def clash_rate(notes: Sequence[Note], others: Sequence[Note]) -> float:
    """Share of the notes whose onset falls on a note of `others` a semitone (or major seventh) away,
    without the same pitch class sounding there too: the harsh clashes between two parts."""
    if not notes:
        return float("nan")
    others = sorted(others, key=lambda n: n.start)
    starts = [n.start for n in others]
    longest = max((n.end - n.start for n in others), default=0)
    bad = 0
    for n in notes:
        lo = bisect.bisect_left(starts, n.start - longest)
        hi = bisect.bisect_right(starts, n.start)
        bad += clashes(n.pitch, {o.pitch % 12 for o in others[lo:hi] if o.end > n.start})
    return bad / len(notes)


def wasserstein1(a: Iterable[float], b: Iterable[float]) -> float:
    """Wasserstein-1 distance between two samples: the area between their empirical CDFs (exact)."""
    x, y = (np.sort(np.asarray(v if isinstance(v, np.ndarray) else list(v), float)) for v in (a, b))
    if not len(x) or not len(y):
        return float("nan")
    grid = np.sort(np.concatenate([x, y]))
    fx = np.searchsorted(x, grid[:-1], side="right") / len(x)
    fy = np.searchsorted(y, grid[:-1], side="right") / len(y)
    return float(np.sum(np.abs(fx - fy) * np.diff(grid)))


def note_density(notes: Sequence[Note], n_bars: int) -> float:
    return len(notes) / max(1, n_bars)


def bar_vectors(notes: Sequence[Note], bars) -> np.ndarray:
    """One vector per bar: pitch-class histogram and onset pattern, for self-similarity."""
    pats = _onset_patterns(notes, bars)
    width = max(len(p) for p in pats) if pats else 16
    starts = np.array([b.start for b in bars])
    out = np.zeros((len(bars), 12 + width))
    for n in notes:
        i = int(np.searchsorted(starts, n.start, side="right")) - 1
        if 0 <= i < len(bars):
            out[i, n.pitch % 12] += 1
    for i, p in enumerate(pats):
        out[i, 12:12 + len(p)] = p
    return out


def form_agreement(score: Score, sheet: Sheet) -> float:
    """How well bar-level self-similarity mirrors the planned form: mean cosine similarity of bar
    pairs in sections that share a label (same bar of the section) minus that of pairs in sections
    with different labels. Higher is better; about 0 means the form is not audible."""
    notes = [n for p in score.parts for n in p.notes]
    vec = bar_vectors(notes, [b.bar for b in sheet.bars])
    norm = np.linalg.norm(vec, axis=1, keepdims=True)
    vec = vec / np.where(norm == 0, 1, norm)
    sim = vec @ vec.T
    same: list[float] = []
    diff: list[float] = []
    secs = sheet.sections
    for i, a in enumerate(secs):
        for b in secs[i + 1:]:
            la, lb = a.material, b.material
            for k in range(min(a.n_bars, b.n_bars)):
                v = sim[a.first_bar + k, b.first_bar + k]
                (same if la == lb else diff).append(v)
    if not same or not diff:
        return float("nan")
    return float(np.mean(same) - np.mean(diff))


def nanmean(values: Iterable[float]) -> float:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else float("nan")
