"""A plan read from a piece's notes, so that an imported piece can be edited like a composed one.

Key, meter and tempo come from the file (the key analysed from the notes where the file names none);
sections start at the file's markers and at every change of meter, tempo or key (eight-bar phrases where
there are no markers); each bar's chord is the chord whose tones best cover the notes sounding in it, with
a change at the half bar where the harmony clearly moves; each track's role is read from its register and
texture; each section's energy from how busy it is against the rest of the piece.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from symbolic.harmony import QUALITIES, Key, parse_key
from symbolic.score import MAX_BPM, MAX_TRACKS, MIN_BPM, Bar, Note, Part, Score

from .plan import MAX_SECTION_BARS, MAX_SECTIONS, Plan, PlanError

PHRASE = 8   # bars a section holds where the file marks none
# The chords a bar is read as: triads and the common sevenths (an extension is heard as its chord).
READ_AS = ("maj", "min", "7", "min7", "maj7", "dim", "hdim7", "sus4")
OUTSIDE = 0.6   # how much a sounding note outside the chord counts against it


def plan_from_score(score: Score, style: str = "") -> Plan:
    """A plan for the score's own notes (PlanError when it has none to read)."""
    pitched = [n for p in score.parts if not p.is_drum for n in p.notes]
    if not score.parts or not score.bars:
        raise PlanError("the piece has no parts or bars to read a plan from")
    key = score.keys[0][1] if score.keys else _key_of(pitched)
    bars = score.bars
    tracks = _tracks(score.parts)
    # The harmony is heard in the accompaniment and the bass; the tune's passing notes count half.
    heard = [(n, 0.5 if t["role"] == "melody" else 1.0) for p, t in zip(score.parts, tracks) if not p.is_drum
             for n in p.notes]
    cuts = _section_starts(score)
    sections, density = [], _notes_a_bar(score)
    levels = _energy_levels(density)
    meter = f"{bars[0].numerator}/{bars[0].denominator}"
    tempo = _bpm(score.tempos[0][1] if score.tempos else 120.0)
    last_key, last_meter, last_tempo = key.name, meter, tempo
    names: Counter[str] = Counter()
    for si, (first, stop) in enumerate(zip(cuts, [*cuts[1:], len(bars)])):
        tick = bars[first].start
        here_key = _at(score.keys, tick, key)
        here_meter = f"{bars[first].numerator}/{bars[first].denominator}"
        here_tempo = _bpm(_at(score.tempos, tick, tempo))
        name = _at(score.markers, tick, "") if any(t == tick for t, _ in score.markers) else ""
        name = (name.strip() or f"Section {si + 1}")[:64]
        names[name] += 1
        if names[name] > 1:
            name = f"{name[:60]} {names[name]}"
        chords = [_bar_chords(heard, bars[b], here_key) for b in range(first, stop)]
        section = {"name": name, "label": _label(si), "bars": stop - first, "chords": chords,
                   "energy": round(float(np.mean(levels[first:stop])))}
        if here_key.name != last_key:
            section["key"] = last_key = here_key.name
        if here_meter != last_meter:
            section["meter"] = last_meter = here_meter
        if abs(here_tempo - last_tempo) > 0.05:
            section["tempo"] = last_tempo = here_tempo
        sections.append(section)
    return Plan.model_validate({
        "title": (score.title or "Imported piece")[:120], "key": key.name, "meter": meter, "tempo": tempo,
        "style": style, "tracks": tracks, "sections": sections})


def _bpm(bpm: float) -> float:
    return round(min(MAX_BPM, max(MIN_BPM, bpm)), 2)


def _at(changes: list, tick: int, default):
    """The value of a (tick, value) list of changes in force at tick."""
    value = default
    for t, v in changes:
        if t > tick:
            break
        value = v
    return value


def _key_of(notes: list[Note]) -> Key:
    """The key the notes are in (music21's analysis of the first few thousand), C major when there are none."""
    from symbolic.metrics import analyze_key
    found = analyze_key(sorted(notes, key=lambda n: n.start)[:4000])
    return found if found is not None else parse_key("C major")


def _section_starts(score: Score) -> list[int]:
    """Bar indices where sections start: the markers and every change of meter, tempo or key; eight-bar
    phrases where the file marks nothing; no section longer than a plan allows, no more sections either."""
    starts = [b.start for b in score.bars]
    index = {t: i for i, t in enumerate(starts)}
    cuts = {0}
    for changes in (score.markers, score.tempos, score.keys):
        cuts |= {index[t] for t, _ in changes if t in index}
    cuts |= {i for i in range(1, len(score.bars)) if (score.bars[i].numerator, score.bars[i].denominator) !=
             (score.bars[i - 1].numerator, score.bars[i - 1].denominator)}
    if not score.markers:
        cuts |= set(range(0, len(score.bars), PHRASE))
    ordered = sorted(cuts)
    out: list[int] = []
    for first, stop in zip(ordered, [*ordered[1:], len(score.bars)]):
        out.extend(range(first, stop, MAX_SECTION_BARS))
    if len(out) > MAX_SECTIONS:   # a very long piece: longer sections, so that they fit
        per = math.ceil(len(score.bars) / MAX_SECTIONS)
        out = list(range(0, len(score.bars), max(per, 1)))
    return out


def _notes_a_bar(score: Score) -> np.ndarray:
    starts = np.array([b.start for b in score.bars])
    counts = np.zeros(len(starts))
    for p in score.parts:
        if p.notes:
            idx = np.searchsorted(starts, np.array([n.start for n in p.notes]), side="right") - 1
            np.add.at(counts, idx[idx >= 0], 1)
    return counts


def _energy_levels(density: np.ndarray) -> np.ndarray:
    """1-5 by how busy each bar is against the piece's own quietest and busiest (3 where all are alike)."""
    if not len(density) or np.ptp(density) == 0:
        return np.full(len(density), 3)
    lo, hi = np.percentile(density, 10), np.percentile(density, 90)
    if hi <= lo:
        return np.full(len(density), 3)
    return np.clip(1 + np.round(4 * (density - lo) / (hi - lo)), 1, 5).astype(int)


def _label(i: int) -> str:
    return chr(65 + i) if i < 26 else f"S{i + 1}"


def _weights(notes: list[tuple[Note, float]], lo: int, hi: int) -> tuple[np.ndarray, int | None]:
    """Pitch-class weights of the notes sounding in [lo, hi), by time sounded times each note's weight; and the
    lowest pitch class."""
    w = np.zeros(12)
    low = None
    for n, weight in notes:
        if n.start < hi and n.end > lo:
            w[n.pitch % 12] += weight * (min(n.end, hi) - max(n.start, lo))
            if low is None or n.pitch < low[0]:
                low = (n.pitch, n.pitch % 12)
    return w, (low[1] if low else None)


def _best_chord(w: np.ndarray, low: int | None, key: Key) -> tuple[str, float]:
    """The chord whose tones best cover the weights (the lowest note as root breaks ties), and its fit."""
    total = float(w.sum())
    best, fit = "", -math.inf
    scale = set((key.tonic + s) % 12 for s in key.scale)
    for quality in READ_AS:
        tones = [t % 12 for t in QUALITIES[quality][0]]
        for root in range(12):
            pcs = {(root + t) % 12 for t in tones}
            inside = sum(w[p] for p in pcs)
            score = (inside - OUTSIDE * (total - inside)) / total
            score += 0.08 * (root == low) + 0.03 * (root in scale) - 0.02 * (len(tones) > 3)
            if score > fit:
                best, fit = key.names[root] + QUALITIES[quality][1], score
    return best, fit


def _bar_chords(notes: list[tuple[Note, float]], bar: Bar, key: Key) -> list[dict]:
    """One chord for the bar, or two (at the half bar) where each half is clearly another chord."""
    beats = bar.numerator
    w, low = _weights(notes, bar.start, bar.end)
    if not w.any():
        return [{"symbol": key.names[key.tonic] + ("m" if key.mode == "minor" else ""), "beats": beats}]
    whole, fit = _best_chord(w, low, key)
    if beats % 2 == 0 and beats >= 4:
        mid = bar.start + (bar.end - bar.start) // 2
        (wa, la), (wb, lb) = _weights(notes, bar.start, mid), _weights(notes, mid, bar.end)
        if wa.any() and wb.any():
            (a, fa), (b, fb) = _best_chord(wa, la, key), _best_chord(wb, lb, key)
            if a != b and (fa + fb) / 2 > fit + 0.15:
                return [{"symbol": a, "beats": beats // 2}, {"symbol": b, "beats": beats // 2}]
    return [{"symbol": whole, "beats": beats}]


def _tracks(parts: list[Part]) -> list[dict]:
    """A track for each part (names made unique), its mixer as the file sets it, its role read from its
    register and texture: the highest single line leads, the lowest line is the bass, stacked notes are
    chords, other lines answer as counter-melodies."""
    parts = parts[:MAX_TRACKS]
    stats = {}
    for i, p in enumerate(parts):
        if p.is_drum or not p.notes:
            continue
        pitches = sorted(n.pitch for n in p.notes)
        onsets = Counter(n.start for n in p.notes)
        stats[i] = (pitches[len(pitches) // 2], len(p.notes) / len(onsets))   # median pitch, notes an onset
    lines = {i: s for i, s in stats.items() if s[1] < 1.5}
    melody = max(lines, key=lambda i: lines[i][0]) if lines else (max(stats, key=lambda i: stats[i][0]) if stats else None)
    low = [i for i in lines if i != melody and lines[i][0] < 55]
    bass = min(low, key=lambda i: lines[i][0]) if low else None
    taken: Counter[str] = Counter()
    out = []
    for i, p in enumerate(parts):
        role = "drums" if p.is_drum else "melody" if i == melody else "bass" if i == bass else \
            "chords" if i in stats and stats[i][1] >= 1.5 else "counter-melody"
        name = (p.name.strip() or f"Track {i + 1}")[:60]
        taken[name] += 1
        if taken[name] > 1:
            name = f"{name} {taken[name]}"
        track: dict = {"name": name, "role": role, "program": p.program, "drum": p.is_drum}
        if p.volume != 100:
            track["level"] = max(-40.0, min(2.0, round(40 * math.log10(max(p.volume, 1) / 100), 1)))
        if p.pan != 64:
            track["pan"] = round(max(-1.0, min(1.0, (p.pan - 64) / 63.5)), 2)
        if p.reverb:
            track["reverb"] = round(p.reverb / 127, 2)
        out.append(track)
    return out


__all__ = ["plan_from_score"]
