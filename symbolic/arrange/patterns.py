"""The pattern arranger: role-aware patterns that follow a Sheet exactly.

Fast, deterministic and plan-faithful; it is the fallback arranger and the
baseline that learned arrangers must beat. Material is a function of
(seed, section label, part, chords, meter, energy), so sections that share a
label share their material; later occurrences get a controlled variation.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..grid import SIXTEENTH, Pulse, is_compound, pulses
from ..harmony import Chord
from ..instruments import GM_DRUMS, PERCUSSION, Percussion, instrument_of
from ..score import PPQ, ChordSpan, Note, PartSpec, Score, Sheet, SheetBar
from ..style import RUNNING_GENRES, blue_notes
from .base import (
    VARIED_ROLES,
    Cell,
    bar_index,
    copy_kept,
    nearest,
    scale_neighbor,
    singing_center,
    variation_amount,
    vary,
)


def _rng(*keys: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, keys)).encode()))


# --- the beat grid -----------------------------------------------------------


# --- pitch helpers -----------------------------------------------------------


def voicing(chord: Chord, center: float, prev: list[int] | None, n: int = 4) -> list[int]:
    """A close voicing of the chord around center, voice-led from prev when given."""
    pcs = [(chord.root + i) % 12 for i in chord.intervals]
    if len(pcs) > n:  # drop the fifth first, keep colour tones
        fifth = (chord.root + 7) % 12
        if fifth in pcs:
            pcs.remove(fifth)
        pcs = pcs[:n]
    best, best_cost = None, None
    for inv in range(len(pcs)):
        order = pcs[inv:] + pcs[:inv]
        lowest = nearest(order[0], center - 5, 30, 100)
        notes, cur = [], lowest
        for pc in order:
            while cur % 12 != pc:
                cur += 1
            notes.append(cur)
            cur += 1
        mid = sum(notes) / len(notes)
        cost = abs(mid - center)
        if prev:
            cost = sum(min(abs(a - b) for b in prev) for a in notes) / len(notes) + 0.3 * cost
        if best_cost is None or cost < best_cost:
            best, best_cost = notes, cost
    return best or []


# --- the arranger --------------------------------------------------------------


def arrange(sheet: Sheet, seed: int = 0, base: Score | None = None, bars: set[int] | None = None,
            tracks: set[str] | None = None, locked: set[str] | frozenset = frozenset(),
            progress=None) -> Score:
    """Fill the sheet's parts. With base, only the given bars/tracks are (re)generated and
    everything else, including locked tracks, is copied from base unchanged."""
    score = sheet.empty_score()
    regen_bars = set(range(len(sheet.bars))) if bars is None else set(bars)
    regen_tracks = {p.name for p in sheet.parts} if tracks is None else set(tracks)
    regen_tracks -= set(locked)
    if base is not None:
        copy_kept(base, score, sheet, regen_bars, regen_tracks)
    total = len(sheet.parts) * len(sheet.sections)
    done = 0
    for pi, spec in enumerate(sheet.parts):
        part = score.parts[pi]
        if spec.name not in regen_tracks:
            done += len(sheet.sections)
            continue
        inst = instrument_of(spec.name, spec.program, spec.drum)
        for si, sec in enumerate(sheet.sections):
            done += 1
            sec_bars = [sheet.bars[i] for i in sec.bar_range]
            if not any(b.index in regen_bars for b in sec_bars):
                continue
            notes = _section_notes(sheet, spec, inst, si, sec_bars, seed)
            lo = {b.index: b for b in sec_bars}
            for n in notes:
                if sheet.bars[bar_index(sheet, n.start)].index in regen_bars and bar_index(sheet, n.start) in lo:
                    part.notes.append(n)
            if progress:
                progress(done / total, f"arranged {spec.name} in {sec.name}")
        part.sort()
    return score


def _section_notes(sheet: Sheet, spec: PartSpec, inst, si: int, bars: list[SheetBar], seed: int) -> list[Note]:
    sec = sheet.sections[si]
    base_label = sec.material
    low, high = inst.low, inst.high
    nxt = sheet.sections[si + 1].energy if si + 1 < len(sheet.sections) else None
    first = next(s for s in sheet.sections if s.material == base_label)
    cell = Cell(sheet, spec, si, bars, sec.energy, sheet.idiom, low, high,
                _rng(seed, base_label, spec.name, spec.role, len(bars)), si == len(sheet.sections) - 1, nxt,
                first.energy)
    gen: Callable[[Cell], list[Note]] = GENERATORS.get(spec.role, _chords)
    if spec.role == "melody" and sheet.idiom.genre in RUNNING_GENRES:
        gen = _running
    if spec.drum and spec.kit is not None:
        perc = PERCUSSION[spec.kit]
        gen = lambda c: _percussion(c, perc)  # noqa: E731
    notes = gen(cell)
    amount = variation_amount(sheet, si)
    if amount and spec.role in VARIED_ROLES:
        notes = vary(notes, cell, amount, _rng(seed, "vary", si, spec.name))
    seen: set[tuple[int, int]] = set()
    out = []
    for n in notes:
        if n.end > n.start and (n.start, n.pitch) not in seen:
            seen.add((n.start, n.pitch))
            out.append(n)
    return out


def _vel(cell: Cell, strength: float, rng: np.random.Generator, base: int = 0) -> int:
    v = 52 + 9 * cell.energy + int(18 * strength) + base + int(rng.integers(-4, 5))
    return int(min(max(v, 20), 124))


# --- melody ----------------------------------------------------------------------

_MELODY_CELLS: dict[str, list[list[tuple[float, float]]]] = {
    # rhythm cells per pulse, in fractions of the pulse: onsets and durations
    "simple": [
        [(0, 1)], [(0, 1)], [(0, .5), (.5, .5)], [(0, .5), (.5, .5)], [(0, .75), (.75, .25)],
        [(0, .25), (.25, .25), (.5, .5)], [(0, 2)], [(0, .5), (.5, .25), (.75, .25)],
    ],
    "compound": [
        [(0, 1)], [(0, 2 / 3), (2 / 3, 1 / 3)], [(0, 1 / 3), (1 / 3, 1 / 3), (2 / 3, 1 / 3)], [(0, 1 / 3), (1 / 3, 2 / 3)],
        [(0, 2)],
    ],
}


def _motif_rhythm(cell: Cell, bar: SheetBar, rng: np.random.Generator, density: float) -> list[tuple[int, int, float]]:
    """(start, duration, strength) of the notes of one bar."""
    ps = pulses(bar)
    cells = _MELODY_CELLS["compound" if is_compound(bar) else "simple"]
    out: list[tuple[int, int, float]] = []
    i = 0
    while i < len(ps):
        p = ps[i]
        weights = np.ones(len(cells))
        for ci, c in enumerate(cells):
            n = len(c)
            span = max(f[0] + f[1] for f in c)
            if span > 1 and i + 1 >= len(ps):
                weights[ci] = 0
                continue
            weights[ci] *= (density ** (n - 1)) if n > 1 else 1.0
            if span > 1:
                weights[ci] *= 0.6 / density
        c = cells[int(rng.choice(len(cells), p=weights / weights.sum()))]
        for frac_start, frac_len in c:
            st = p.start + int(round(frac_start * p.length / SIXTEENTH)) * SIXTEENTH
            ln = max(SIXTEENTH, int(round(frac_len * p.length / SIXTEENTH)) * SIXTEENTH)
            out.append((st, ln, p.strength if frac_start == 0 else 0.1))
        i += 2 if max(f[0] + f[1] for f in c) > 1 else 1
    # A rest now and then keeps phrases breathing (never on the downbeat).
    if len(out) > 3 and rng.random() < 0.25:
        j = int(rng.integers(1, len(out)))
        out.pop(j)
    return out


def _melody(cell: Cell, counter: bool = False) -> list[Note]:
    rng = cell.rng
    if counter:
        center = max(cell.low + 7, min(cell.high - 12, 62))
    else:
        center = singing_center(cell.low, cell.high)
    low, high = max(cell.low, int(center) - 12), min(cell.high, int(center) + 12)
    density = {1: 0.35, 2: 0.5, 3: 0.7, 4: 0.85, 5: 1.0}[cell.base_energy]
    if counter:
        density *= 0.45
    notes: list[Note] = []
    n_bars = len(cell.bars)
    phrase = 4 if n_bars >= 4 else n_bars
    motif: list[tuple[int, int, float]] | None = None
    motif_bar_start = 0
    prev = nearest(cell.bars[0].key.tonic, center, low, high)
    leap = 0
    for bi, bar in enumerate(cell.bars):
        pos = bi % phrase
        phrase_end = pos == phrase - 1 or bi == n_bars - 1
        section_end = bi == n_bars - 1
        if phrase_end:
            # Cadence: a long note on the downbeat (plus a pickup in busy styles).
            ps = pulses(bar)
            rhythm = [(ps[0].start, bar.bar.length if section_end or len(ps) < 3 else ps[-1].start - ps[0].start, 1.0)]
            if not section_end and len(ps) >= 3 and rng.random() < 0.5:
                rhythm.append((ps[-1].start, ps[-1].length, 0.3))
        elif pos in (0, 2) and motif is not None and rng.random() < 0.7:
            shift = bar.bar.start - motif_bar_start
            rhythm = [(s + shift, d, st) for s, d, st in motif]
            if any(s + d > bar.bar.end for s, d, _ in rhythm):
                rhythm = _motif_rhythm(cell, bar, rng, density)
        else:
            rhythm = _motif_rhythm(cell, bar, rng, density)
            if pos == 0 and motif is None:
                motif, motif_bar_start = rhythm, bar.bar.start
        # Phrase contour: rise toward the third bar, fall to the cadence.
        arch = [0, 3, 5, -2][pos] if phrase == 4 else 0
        target_center = center + arch + (2 if cell.energy >= 4 else 0)
        for k, (st, dur, strength) in enumerate(rhythm):
            chord = bar.chord_at(st)
            key = bar.key
            if section_end and k == 0 and cell.last_section and key.tonic in chord.pitch_classes:
                pc = key.tonic
                pitch = nearest(pc, prev, low, high)
            elif strength >= 0.3 or k == 0:
                tones = list(chord.triad)
                weights = np.array([abs(nearest(pc, prev, low, high) - prev) for pc in tones], dtype=float)
                pull = np.array([abs(nearest(pc, prev, low, high) - target_center) for pc in tones], dtype=float)
                score = np.exp(-(weights * 0.35 + pull * 0.12))
                if abs(leap) >= 7:
                    # A leap is answered: the line turns back after it.
                    score *= np.array([4.0 if (nearest(pc, prev, low, high) - prev) * leap < 0 else 0.25
                                       for pc in tones])
                if phrase_end:
                    score *= np.array([2.0 if pc in (chord.root, key.tonic) else 1.0 for pc in tones])
                pc = tones[int(rng.choice(len(tones), p=score / score.sum()))]
                pitch = nearest(pc, prev, low, high)
            else:
                # Passing or neighbour tone: a step in the key toward the centre.
                direction = 1 if prev < target_center else -1
                if rng.random() < 0.3:
                    direction = -direction
                if abs(leap) >= 7:
                    direction = -1 if leap > 0 else 1
                pitch = scale_neighbor(prev, direction, key)
                blue = blue_notes(cell.idiom.genre, key.tonic)
                if blue and rng.random() < 0.35:
                    # A blues player bends into the flat third, fifth or seventh on the way.
                    pitch = min((nearest(pc, prev, low, high) for pc in blue), key=lambda p: (abs(p - prev), p))
            pitch = min(max(pitch, low), high)
            end = min(st + dur, bar.bar.end)
            notes.append(Note(st, end, pitch, _vel(cell, strength, rng, -6 if counter else 4)))
            leap, prev = pitch - prev, pitch
    return notes


def _counter(cell: Cell) -> list[Note]:
    return _melody(cell, counter=True)


def _running(cell: Cell) -> list[Note]:
    """A fiddle tune's line (reels, jigs, hornpipes): running eighths with a chord tone on every beat, steps
    and the chord's skips between, turning at the edges of its compass; the second half of each 8-bar strain
    opens as the first did, and each strain (and section) closes on a half-bar note with eighths leading on into
    the next; only the piece's last bar holds for the whole bar (a set of reels runs on between its parts)."""
    rng = cell.rng
    center = max(cell.low + 9, min(cell.high - 9, 74))
    low, high = max(cell.low, center - 10), min(cell.high, center + 12)
    eighth = PPQ // 2
    prev = nearest(cell.bars[0].key.tonic, center, low, high)
    direction = 1 if rng.random() < 0.5 else -1
    notes: list[Note] = []
    opening: dict[int, tuple[tuple, list[tuple[int, int]]]] = {}  # bar of the strain -> (its chords, its (offset, pitch))
    n_bars = len(cell.bars)
    for bi, bar in enumerate(cell.bars):
        start, end = bar.bar.start, bar.bar.end
        beat = 3 * eighth if is_compound(bar) else 2 * eighth
        in_strain = bi % 8
        chords_key = tuple((c.start - start, c.chord.root, c.chord.quality) for c in bar.chords)
        if 4 <= in_strain < 6 and (in_strain - 4) in opening and opening[in_strain - 4][0] == chords_key:
            for off, pitch in opening[in_strain - 4][1]:
                notes.append(Note(start + off, start + off + eighth, pitch, _vel(cell, 0.6 if off % beat == 0 else 0.2, rng, 4)))
            prev = notes[-1].pitch
            continue
        if bi == n_bars - 1 or in_strain == 7:
            # The strain's close: the tonic or a chord tone held, then (mid-tune) eighths leading on.
            chord = bar.chord_at(start)
            pc = bar.key.tonic if bar.key.tonic in chord.pitch_classes else chord.root
            pitch = nearest(pc, prev, low, high)
            final = cell.last_section and bi == n_bars - 1
            hold = end - start if final else 2 * beat if end - start > 2 * beat else beat
            notes.append(Note(start, start + hold, pitch, _vel(cell, 1.0, rng, 4)))
            prev = pitch
            for t in range(start + hold, end, eighth):
                prev = scale_neighbor(prev, direction, bar.key)
                notes.append(Note(t, t + eighth, min(max(prev, low), high), _vel(cell, 0.2, rng, 4)))
            continue
        played = []
        for t in range(start, end, eighth):
            chord = bar.chord_at(t)
            if (t - start) % beat == 0:
                if rng.random() < 0.2:
                    direction = -direction
                tones = sorted({nearest(pc, prev + 2 * direction, low, high) for pc in chord.triad})
                pitch = min(tones, key=lambda p: (abs(p - (prev + 2 * direction)), p))
            elif rng.random() < 0.25:
                # A skip to the next chord tone, the fiddle's arpeggio figure.
                ahead = [p for p in range(prev + direction, prev + 6 * direction, direction) if p % 12 in chord.pitch_classes]
                pitch = ahead[0] if ahead else scale_neighbor(prev, direction, bar.key)
            else:
                pitch = scale_neighbor(prev, direction, bar.key)
            if pitch >= high - 1:
                direction = -1
            elif pitch <= low + 1:
                direction = 1
            pitch = min(max(pitch, low), high)
            notes.append(Note(t, t + eighth, pitch, _vel(cell, 0.6 if (t - start) % beat == 0 else 0.2, rng, 4)))
            played.append((t - start, pitch))
            if abs(pitch - prev) >= 7:
                direction = -1 if pitch > prev else 1   # a leap is answered by a turn back
            prev = pitch
        if in_strain < 2:
            opening[in_strain] = (chords_key, played)
    return notes


# --- harmony roles -------------------------------------------------------------------

_COMP = {
    # onsets per pulse by energy, as (fraction, length fraction); None sustains the whole chord span
    "pop": {1: None, 2: [(0, 1)], 3: [(0, .5), (.5, .5)], 4: [(0, .5), (.5, .5)], 5: [(0, .25), (.25, .25), (.5, .25), (.75, .25)]},
    "rock": {1: None, 2: [(0, 1)], 3: [(0, .5), (.5, .5)], 4: [(0, .5), (.5, .5)], 5: [(0, .5), (.5, .5)]},
    "sustained": {1: None, 2: None, 3: [(0, 1)], 4: [(0, .5), (.5, .5)], 5: [(0, .5), (.5, .5)]},
    "strum": {1: None, 2: [(0, 1)], 3: [(0, .5), (.5, .5)], 4: [(0, .5), (.5, .5)], 5: [(0, .5), (.5, .5)]},
}


def _chords(cell: Cell) -> list[Note]:
    rng = cell.rng
    center = max(cell.low + 14, min(cell.high - 10, 64))
    notes: list[Note] = []
    prev: list[int] | None = None
    comp = cell.idiom.comping
    for bi, bar in enumerate(cell.bars):
        ps = pulses(bar)
        last = cell.last_section and bi == len(cell.bars) - 1
        for span in bar.chords:
            v = voicing(span.chord, center, prev, 4 if span.chord.quality not in ("maj", "min") else 3)
            prev = v
            hits: list[tuple[int, int, float]] = []
            if last:
                hits = [(span.start, span.end - span.start, 1.0)]
            elif comp == "oom-pah" or (bar.bar.numerator == 3 and bar.bar.denominator == 4 and
                                       comp in ("sustained", "strum", "pop")):
                hits = [(p.start, p.length, 0.3) for p in ps[1:] if span.start <= p.start < span.end]
                if not hits:
                    hits = [(span.start, span.end - span.start, 0.3)]
            elif comp == "jazz":
                # Charleston-like comping: on the beat, then the and of two.
                for p in ps:
                    if not (span.start <= p.start < span.end):
                        continue
                    if p.strength >= 1.0:
                        hits.append((p.start, p.length, 1.0))
                    elif p.strength >= 0.3 and rng.random() < 0.5:
                        hits.append((p.start + p.length // 2, p.length // 2, 0.3))
            elif comp == "stabs":
                # Funk stabs: short chords on the sixteenths around the beat, busier with energy.
                grid = [0, 3, 6, 10] + ([12, 14] if cell.energy >= 4 else [])
                if (bar.bar.numerator, bar.bar.denominator) != (4, 4):
                    grid = [(p.start - bar.bar.start) // SIXTEENTH + k for p in ps for k in (0, 3)]
                hits = [(bar.bar.start + k * SIXTEENTH, SIXTEENTH, 0.6 if k % 4 == 0 else 0.3) for k in grid
                        if span.start <= bar.bar.start + k * SIXTEENTH < span.end]
            elif comp == "shuffle":
                # The blues shuffle comp: the chord on every beat, its fifth rising to the sixth on the
                # (swung) off-beat, as a guitar plays it.
                sixth = [p + 2 if (p - span.chord.root) % 12 == 7 else p for p in v]
                for p in ps:
                    if span.start <= p.start < span.end:
                        half = p.length // 2
                        hits.append((p.start, half, p.strength))
                        vel_off = _vel(cell, 0.2, rng, -14)
                        notes += [Note(p.start + half, p.start + p.length, q, vel_off) for q in sixth
                                  if cell.low <= q <= cell.high]
            elif comp == "skank":
                hits = [(p.start + p.length // 2, p.length // 2, 0.6) for p in ps if span.start <= p.start < span.end]
            elif comp == "bossa":
                pat = [(0, 1.5), (1.5, 1.0), (3, 1.0)]  # in beats, inside each two-beat group
                beat = PPQ * 4 // bar.bar.denominator
                for g in range(span.start, span.end, 2 * beat):
                    for o, dur in pat:
                        st = g + int(o * beat / 2)
                        if st < span.end:
                            hits.append((st, min(int(dur * beat / 2), span.end - st), 0.5))
            else:
                pattern = _COMP.get(comp, _COMP["pop"]).get(cell.energy)
                if pattern is None:
                    hits = [(span.start, span.end - span.start, 1.0)]
                else:
                    for p in ps:
                        if not (span.start <= p.start < span.end):
                            continue
                        for fs, fl in pattern:
                            st = p.start + int(round(fs * p.length / SIXTEENTH)) * SIXTEENTH
                            ln = max(SIXTEENTH, int(round(fl * p.length / SIXTEENTH)) * SIXTEENTH)
                            hits.append((st, ln, p.strength if fs == 0 else 0.1))
                    if not hits:
                        hits = [(span.start, span.end - span.start, 0.6)]
            for st, ln, strength in hits:
                end = min(st + ln, span.end)
                vel = _vel(cell, strength, rng, -12)
                for pitch in v:
                    if cell.low <= pitch <= cell.high:
                        notes.append(Note(st, end, pitch, vel))
    if not any(p.role == "bass" for p in cell.sheet.parts):
        notes += _bass(cell, simple=True)
    return notes


def _pad(cell: Cell) -> list[Note]:
    rng = cell.rng
    center = max(cell.low + 12, min(cell.high - 12, 62))
    notes, prev = [], None
    for bar in cell.bars:
        for span in bar.chords:
            v = voicing(span.chord, center, prev, 4)
            prev = v
            vel = _vel(cell, 0.3, rng, -20)
            for pitch in v:
                if cell.low <= pitch <= cell.high:
                    notes.append(Note(span.start, span.end, pitch, vel))
    return notes


def _arpeggio(cell: Cell) -> list[Note]:
    rng = cell.rng
    step = SIXTEENTH if cell.energy >= 4 and not any(is_compound(b) for b in cell.bars) else 2 * SIXTEENTH
    center = max(cell.low + 12, min(cell.high - 14, 60))
    shape = [0, 1, 2, 3, 2, 1] if rng.random() < 0.5 else [0, 1, 2, 3, 4, 3, 2, 1]
    notes = []
    for bi, bar in enumerate(cell.bars):
        last = cell.last_section and bi == len(cell.bars) - 1
        for span in bar.chords:
            base = voicing(span.chord, center, None, 3)
            tones = base + [p + 12 for p in base]
            if last:
                notes.append(Note(span.start, span.end, tones[0], _vel(cell, 1.0, rng, -10)))
                continue
            i = 0
            for st in range(span.start, span.end, step):
                pitch = tones[shape[i % len(shape)] % len(tones)]
                strength = 1.0 if st == bar.bar.start else 0.2
                if cell.low <= pitch <= cell.high:
                    notes.append(Note(st, min(st + step, span.end), pitch, _vel(cell, strength, rng, -14)))
                i += 1
    return notes


def _walk(root: int, target: int, chord, key, beats: int, low: int, high: int, rng) -> list[int]:
    """A walking line for one chord, a note a beat: the root, a way through the chord and the scale towards
    the next root, and an approach a step (chromatic or diatonic) from it on the last beat."""
    if beats <= 1:
        return [root][:beats]
    # A step into the next root, chromatic or in the scale, from the side nearer the line.
    steps = sorted({p for p in (target - 1, target + 1, scale_neighbor(target, -1, key), scale_neighbor(target, 1, key))
                    if low <= p <= high and p != target}, key=lambda p: (p == root, abs(p - root), p))
    approach = steps[int(rng.integers(min(2, len(steps))))] if steps else target
    inner = beats - 2
    if inner == 0:
        return [root, approach]
    tones = set(chord.pitch_classes) | set(key.scale_pcs)
    lo, hi = sorted((root, approach))
    between = [p for p in range(lo + 1, hi) if p % 12 in tones and low <= p <= high]
    if approach < root:
        between.reverse()
    if len(between) >= inner:
        # Evenly through the notes between: a scale run when they are few, chord skips when many.
        return [root, *[between[(k + 1) * len(between) // (inner + 1)] for k in range(inner)], approach]
    # Too close to walk straight there: up (or down) through the chord and back.
    third, fifth, top = ((chord.root + i) % 12 for i in (chord.intervals[1], 7, chord.intervals[-1]))
    if root + 7 <= high:
        arch = [nearest(pc, root + 4 + 3 * k, low, high) for k, pc in enumerate((third, fifth, top))]
    else:
        arch = [nearest(pc, root - 5 + 2 * k, low, high) for k, pc in enumerate((fifth, third, chord.root))]
    return [root, *arch[:inner], approach][:beats]


@dataclass
class _Span:
    """One chord of a bass line, with the pitches a figure is made of."""
    cell: Cell
    bar: SheetBar
    span: ChordSpan
    ps: list[Pulse]
    root: int
    third: int
    fifth: int
    next_root: int
    low: int
    high: int
    center: int
    vel: Callable[[float], int]


def _running_bass(x: _Span) -> list[Note]:
    """A continuo's running line: through the scale towards the next root, in quarters (eighths when the
    section is busy)."""
    slots = [(p.start, p.length, p.strength) for p in x.ps] if x.cell.energy < 4 else [
        q for p in x.ps for q in ((p.start, p.length // 2, p.strength), (p.start + p.length // 2, p.length // 2, 0.1))]
    line = _walk(x.root, x.next_root, x.span.chord, x.bar.key, len(slots), x.low, x.high, x.cell.rng)
    return [Note(st, st + ln, pitch, x.vel(strength)) for (st, ln, strength), pitch in zip(slots, line)]


def _pedal_bass(x: _Span) -> list[Note]:
    """A pedal point: the key's tonic held under every chord, struck again each bar."""
    if x.span is not x.bar.chords[0]:
        return []
    return [Note(x.bar.bar.start, x.bar.bar.end, nearest(x.bar.key.tonic, x.center, x.low, x.high), x.vel(1.0))]


def _tumbao_bass(x: _Span) -> list[Note]:
    """The Afro-Cuban tumbao: nothing on one (the last note rings over it), the fifth on the and of two, the
    next chord's root anticipated on four."""
    beat, start = x.ps[0].length, x.span.start
    out = []
    if x.span is x.bar.chords[0] and x.bar is x.cell.bars[0]:
        out.append(Note(start, start + beat, x.root, x.vel(1.0)))
    out.append(Note(start + 3 * beat // 2, start + 3 * beat, x.fifth, x.vel(0.6)))
    out.append(Note(start + 3 * beat, x.span.end + beat, x.next_root, x.vel(0.8)))
    return out


def _reggae_bass(x: _Span) -> list[Note]:
    """Room for the one-drop's kick on three: a long root on one, a pickup on the and of two, then the fifth
    and a step into the next root on four and its and."""
    beat, start = x.ps[0].length, x.span.start
    step = scale_neighbor(x.next_root, 1 if x.next_root < x.fifth else -1, x.bar.key)
    line = [(0, 3 * beat // 2, x.root, 1.0), (3 * beat // 2, beat // 2, x.third, 0.3),
            (3 * beat, beat // 2, x.fifth, 0.6), (7 * beat // 2, beat // 2, step, 0.3)]
    return [Note(start + off, min(start + off + ln, x.span.end), min(max(pitch, x.low), x.high), x.vel(strength))
            for off, ln, pitch, strength in line if start + off < x.span.end]


# The figures played chord by chord (the pedal holds through every energy, so `_bass` plays it first).
_BASS_FIGURES: dict[str, Callable[[_Span], list[Note]]] = {
    "running": _running_bass, "tumbao": _tumbao_bass, "reggae": _reggae_bass}


def _bass(cell: Cell, simple: bool = False) -> list[Note]:
    rng = cell.rng
    # Without a bass part the chord instrument's own lowest octave and a half carries the roots.
    low, high = (cell.low, cell.high) if not simple else (max(cell.low, 36), max(min(cell.high, 55), cell.low + 12))
    center = max(low + 7, min(high - 12, 40 if not simple else 45))
    idiom = cell.idiom.bass
    notes: list[Note] = []
    prev = nearest(cell.bars[0].chords[0].chord.bass_pc, center, low, high)
    all_spans = [(b, s) for b in cell.bars for s in b.chords]
    for i, (bar, span) in enumerate(all_spans):
        chord = span.chord
        root = nearest(chord.bass_pc, center if abs(prev - center) > 7 else prev, low, high)
        fifth = nearest((chord.root + 7) % 12, root + 5, low, high)
        third = nearest((chord.root + chord.intervals[1]) % 12, root + 3, low, high)
        nxt = all_spans[i + 1][1].chord if i + 1 < len(all_spans) else chord
        # Where the next chord's root will be (the rule above, one chord on), so lines lead into it.
        next_root = nearest(nxt.bass_pc, center if abs(root - center) > 7 else root, low, high)
        ps = [p for p in pulses(bar) if span.start <= p.start < span.end]
        last = cell.last_section and bar is cell.bars[-1]
        vel = lambda s: _vel(cell, s, rng, -2)  # noqa: E731
        x = _Span(cell, bar, span, ps, root, third, fifth, next_root, low, high, center, vel)
        if idiom == "pedal" and not simple:  # held at every energy, to the last bar
            notes += _pedal_bass(x)
        elif last or simple or cell.energy <= 1 or not ps:
            notes.append(Note(span.start, span.end, root, vel(1.0)))
        elif idiom == "walking" and cell.energy >= 2:
            line = _walk(root, next_root, chord, bar.key, len(ps), low, high, rng)
            for p, pitch in zip(ps, line):
                notes.append(Note(p.start, p.start + p.length, pitch, vel(p.strength)))
        elif idiom in ("two-feel", "walking") and len(ps) % 2 == 0:
            # Half notes on the strong beats: the root, then the fifth (an approach into a new chord).
            for k in range(0, len(ps), 2):
                p = ps[k]
                pitch = root if k == 0 else (next_root + (1 if next_root < fifth else -1) if k + 2 >= len(ps)
                                             and next_root != root else fifth)
                end = ps[k + 1].start + ps[k + 1].length
                notes.append(Note(p.start, end, min(max(pitch, low), high), vel(p.strength)))
        elif idiom in _BASS_FIGURES and (idiom not in ("tumbao", "reggae") or len(ps) == 4):
            notes += _BASS_FIGURES[idiom](x)
        elif idiom == "boogie":
            # Eighth-note pairs climbing the chord's sixth and flat seventh (swung in the performance).
            sixth = nearest((chord.root + 9) % 12, root + 9, low, high)
            seventh = nearest((chord.root + 10) % 12, root + 10, low, high)
            line = [root, third, fifth, sixth, seventh, sixth, fifth, third]
            for k, p in enumerate(ps):
                pitch = min(max(line[k % len(line)], low), high)
                half = p.length // 2
                notes.append(Note(p.start, p.start + half, pitch, vel(p.strength)))
                notes.append(Note(p.start + half, p.start + p.length, pitch, vel(0.1)))
        elif idiom == "waltz" or (bar.bar.numerator == 3 and bar.bar.denominator == 4):
            notes.append(Note(ps[0].start, ps[0].start + ps[0].length, root, vel(1.0)))
            for p in ps[1:]:
                if idiom == "waltz" or cell.energy >= 3:
                    notes.append(Note(p.start, p.start + p.length, fifth if p is ps[-1] else root, vel(0.2)))
        elif idiom in ("bossa", "root-fifth"):
            for k, p in enumerate(ps):
                pitch = root if k % 2 == 0 else fifth
                if idiom == "bossa":
                    notes.append(Note(p.start, p.start + p.length * 3 // 4, pitch, vel(p.strength)))
                    notes.append(Note(p.start + p.length * 3 // 4, p.start + p.length, pitch, vel(0.1)))
                else:
                    notes.append(Note(p.start, p.start + p.length, pitch, vel(p.strength)))
        elif cell.energy >= 4 or idiom in ("eighths", "funk"):
            eighth = 2 * SIXTEENTH
            t = span.start
            while t < span.end:
                pitch = root
                if idiom == "funk" and rng.random() < 0.3:
                    pitch = root + 12 if root + 12 <= high else fifth
                near_end = t + eighth >= span.end and span is bar.chords[-1] and next_root != root
                if near_end and rng.random() < 0.5:
                    pitch = next_root + (1 if next_root < root else -1)
                strength = 1.0 if t == bar.bar.start else 0.2
                notes.append(Note(t, min(t + eighth, span.end), min(max(pitch, low), high), vel(strength)))
                t += eighth
        else:
            for k, p in enumerate(ps):
                if k == 0:
                    pitch = root
                elif k == len(ps) - 1 and len(ps) > 2 and next_root != root:
                    pitch = scale_neighbor(next_root, 1 if next_root < root else -1, bar.key)
                elif k % 2 == 0:
                    pitch = fifth
                else:
                    if rng.random() < 0.5:
                        continue
                    pitch = root
                dur = p.length if k < len(ps) - 1 else span.end - p.start
                notes.append(Note(p.start, p.start + dur, min(max(pitch, low), high), vel(p.strength)))
        prev = root
    # merge continued notes: drop zero-length ones
    return [n for n in notes if n.end > n.start]


# --- drums ---------------------------------------------------------------------------------

D = GM_DRUMS


def _groove(groove: str, bar: SheetBar, energy: int) -> list[tuple[int, int, float]]:
    """(tick, drum, strength) for one bar."""
    ps = pulses(bar)
    start, length = bar.bar.start, bar.bar.length
    hits: list[tuple[int, int, float]] = []
    hat = D["ride"] if energy >= 5 else (D["open_hh"] if energy >= 5 else D["closed_hh"])
    compound = is_compound(bar)
    eighth = 2 * SIXTEENTH
    if groove == "swing":
        for k, p in enumerate(ps):
            hits.append((p.start, D["ride"], p.strength))
            if k % 2 == 1:
                hits.append((p.start + p.length * 2 // 3 // SIXTEENTH * SIXTEENTH, D["ride"], 0.1))
                hits.append((p.start, D["pedal_hh"], 0.3))
        hits.append((start, D["kick"], 0.3))
        return hits
    if groove == "none":
        return hits
    if groove == "brushes" and not compound:
        # Brushes: a soft snare stroke on every beat, the hi-hat foot on 2 and 4, a feathered kick on 1.
        hits += [(p.start, D["snare"], 0.0) for p in ps]
        hits += [(p.start, D["pedal_hh"], 0.3) for k, p in enumerate(ps) if k % 2 == 1]
        hits.append((start, D["kick"], 0.0))
        return hits
    if groove in ("half-time", "orchestral") and energy <= 2:
        hits += [(p.start, D["closed_hh"] if energy == 2 else D["side_stick"], 0.2) for p in ps]
        hits.append((start, D["kick"], 0.6))
        return hits
    if groove == "march":
        for t in range(start, start + length, SIXTEENTH * 2):
            hits.append((t, D["snare"], 0.6 if (t - start) % (PPQ) == 0 else 0.1))
        hits += [(p.start, D["kick"], 1.0) for p in ps]
        return hits
    if compound or len(ps) == 3 and bar.bar.denominator == 4:
        # Triple feel: kick on one, snare on the middle pulse (6/8) or beats 2 and 3 (3/4, brushed).
        step = eighth if not compound else eighth
        for t in range(start, start + length, step):
            hits.append((t, hat, 0.2))
        hits.append((ps[0].start, D["kick"], 1.0))
        if compound:
            for p in ps[1:]:
                hits.append((p.start, D["snare"], 0.8 if energy >= 3 else 0.4))
        else:
            for p in ps[1:]:
                hits.append((p.start, D["side_stick"] if energy <= 3 else D["snare"], 0.4))
        return hits
    if len(ps) != 4 and len(ps) != 2:
        # Odd meters: kick on group starts, snare on the last group, hats on every eighth.
        for t in range(start, start + length, eighth):
            hits.append((t, hat, 0.2))
        hits.append((ps[0].start, D["kick"], 1.0))
        for p in ps[1:-1]:
            if p.length > PPQ or p.strength >= 0.6:
                hits.append((p.start, D["kick"], 0.6))
        hits.append((ps[-1].start, D["snare"], 0.8))
        return hits
    beat = ps[0].length
    b = [p.start for p in ps] if len(ps) == 4 else [start, start + beat // 2, start + beat, start + beat * 3 // 2]
    if groove == "four-on-the-floor":
        hits += [(t, D["kick"], 1.0) for t in b]
        hits += [(t + (b[1] - b[0]) // 2, D["open_hh"], 0.4) for t in b]
        hits += [(b[1], D["clap"], 0.8), (b[3], D["clap"], 0.8)]
        return hits
    if groove == "bossa":
        hits += [(b[0], D["kick"], 0.8), (b[1] + (b[1] - b[0]) // 2, D["kick"], 0.4), (b[2], D["kick"], 0.8),
                 (b[3] + (b[1] - b[0]) // 2, D["kick"], 0.4)]
        for t in (0, 3, 6, 10, 13):
            hits.append((start + t * SIXTEENTH * length // (16 * SIXTEENTH), D["side_stick"], 0.4))
        for t in range(start, start + length, eighth):
            hits.append((t, D["closed_hh"], 0.2))
        return hits
    if groove == "one-drop":
        hits += [(b[2], D["kick"], 1.0), (b[2], D["side_stick"], 0.8)]
        for t in range(start, start + length, eighth):
            hits.append((t, D["closed_hh"], 0.2))
        return hits
    sub = SIXTEENTH if groove in ("funk", "hiphop") or energy >= 5 else eighth
    if energy <= 1:
        sub = beat
    for t in range(start, start + length, sub):
        hits.append((t, hat, 0.4 if (t - start) % beat == 0 else 0.15))
    half_time = groove in ("half-time", "hiphop")
    hits.append((b[0], D["kick"], 1.0))
    if half_time:
        hits.append((b[2], D["snare"], 1.0))
        hits.append((b[2] + (b[1] - b[0]) * 3 // 2, D["kick"], 0.5))
    else:
        hits.append((b[2], D["kick"], 0.8))
        hits += [(b[1], D["snare"], 1.0), (b[3], D["snare"], 1.0)]
        if energy >= 3:
            hits.append((b[1] + (b[1] - b[0]) // 2, D["kick"], 0.4))
        if groove == "funk":
            hits.append((b[3] + (b[1] - b[0]) * 3 // 4, D["kick"], 0.4))
    return hits


def _fill(bar: SheetBar, energy: int, rng: np.random.Generator) -> list[tuple[int, int, float]]:
    """A fill over the last pulse (two at higher energy) leading into the next section."""
    ps = pulses(bar)
    n = 2 if energy >= 4 and len(ps) >= 4 else 1
    start = ps[-n].start
    toms = [D["high_tom"], D["mid_tom"], D["low_tom"], D["floor_tom"]]
    hits = []
    steps = list(range(start, bar.bar.end, SIXTEENTH))
    for k, t in enumerate(steps):
        if rng.random() < 0.25 and k % 2:
            continue
        drum = D["snare"] if k < len(steps) // 2 else toms[min(3, (k - len(steps) // 2) * 4 // max(1, len(steps) - len(steps) // 2))]
        hits.append((t, drum, 0.5 + 0.5 * k / len(steps)))
    return hits


def _drums(cell: Cell) -> list[Note]:
    rng = cell.rng
    notes: list[Note] = []
    n = len(cell.bars)
    for bi, bar in enumerate(cell.bars):
        last_bar = bi == n - 1
        if cell.last_section and last_bar:
            hits = [(bar.bar.start, D["kick"], 1.0), (bar.bar.start, D["crash"], 1.0)]
        else:
            hits = _groove(cell.idiom.drums, bar, cell.energy)
            if last_bar and cell.next_energy is not None:
                cut = pulses(bar)[-(2 if cell.energy >= 4 and len(pulses(bar)) >= 4 else 1)].start
                hits = [h for h in hits if h[0] < cut or h[1] == D["kick"] and h[0] == cut]
                hits += _fill(bar, cell.energy, rng)
            if bi == 0 and (cell.section > 0 or cell.energy >= 4):
                hits = [h for h in hits if not (h[0] == bar.bar.start and h[1] in (D["closed_hh"], D["ride"]))]
                hits.append((bar.bar.start, D["crash"], 1.0))
        seen = set()
        for t, drum, strength in sorted(hits):
            if (t, drum) in seen or t >= bar.bar.end:
                continue
            seen.add((t, drum))
            notes.append(Note(t, min(t + SIXTEENTH, bar.bar.end), drum, _vel(cell, strength, rng, -8)))
    return notes


def _percussion(cell: Cell, perc: Percussion) -> list[Note]:
    """A hand or frame drum's part (bodhrán, cajón, congas, a shaker...): its own strokes, lighter than a kit.
    Frame drums run in eighths with the low stroke on the beats; hand drums play bass on one, slaps and open
    tones after it; a shaker keeps the subdivision; a tambourine marks two and four. No crashes, no toms."""
    rng = cell.rng
    low, mid, high = perc.strokes[0], perc.strokes[min(1, len(perc.strokes) - 1)], perc.strokes[min(2, len(perc.strokes) - 1)]
    eighth = 2 * SIXTEENTH
    notes: list[Note] = []
    for bi, bar in enumerate(cell.bars):
        start, end = bar.bar.start, bar.bar.end
        ps = pulses(bar)
        beats = {p.start: p.strength for p in ps}
        hits: list[tuple[int, int, float]] = []
        if cell.last_section and bi == len(cell.bars) - 1:
            hits = [(start, low, 1.0)]
        elif perc.style == "frame":
            step = eighth if cell.energy >= 2 else ps[0].length
            for t in range(start, end, step):
                strong = beats.get(t, 0.0)
                hits.append((t, low if strong >= 0.6 else mid if t in beats else high, max(strong, 0.15)))
        elif perc.style == "shaker":
            step = SIXTEENTH if cell.energy >= 4 and not is_compound(bar) else eighth
            hits = [(t, low, 0.5 if t in beats else 0.1) for t in range(start, end, step)]
        elif perc.style == "backbeat":
            hits = [(p.start, low, 0.7) for k, p in enumerate(ps) if k % 2 == 1 or len(ps) % 2]
            if cell.energy >= 4:
                hits += [(p.start + p.length // 2, low, 0.1) for p in ps]
        else:  # hand drums
            for k, p in enumerate(ps):
                if k == 0:
                    hits.append((p.start, low, 1.0))
                elif p.strength >= 0.6 or k == len(ps) - 1:
                    hits.append((p.start, high, 0.6))
                else:
                    hits.append((p.start, mid, 0.3))
                if cell.energy >= 3 and (k % 2 == 1 or len(ps) < 4):
                    hits.append((p.start + p.length // 2, mid, 0.2))
            if len(perc.strokes) >= 4 and cell.energy >= 2:  # the shaker and tambourine of a light percussion part
                hits += [(t, perc.strokes[2], 0.1) for t in range(start, end, eighth)]
                hits += [(p.start, perc.strokes[3], 0.4) for k, p in enumerate(ps) if k % 2 == 1]
        seen = set()
        for t, key, strength in sorted(hits):
            if (t, key) not in seen and t < end:
                seen.add((t, key))
                notes.append(Note(t, min(t + SIXTEENTH, end), key, _vel(cell, strength, rng, -14)))
    return notes


GENERATORS = {
    "melody": _melody,
    "counter-melody": _counter,
    "chords": _chords,
    "pad": _pad,
    "arpeggio": _arpeggio,
    "bass": _bass,
    "drums": _drums,
}


class PatternArranger:
    """The pattern arranger behind the Arranger protocol (the style comes from the sheet; `brief` is unused)."""

    def arrange(self, sheet: Sheet, seed: int = 0, base: Score | None = None, bars: set[int] | None = None,
                tracks: set[str] | None = None, locked: set[str] | frozenset = frozenset(), brief: str = "",
                progress=None) -> Score:
        return arrange(sheet, seed=seed, base=base, bars=bars, tracks=tracks, locked=locked, progress=progress)
