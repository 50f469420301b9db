"""What every arranger shares: voice-leading helpers, the Cell a role generator fills, copying the kept parts of
a base score, and varying repeated material."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..grid import pulses
from ..harmony import Key
from ..score import Note, PartSpec, Score, Sheet, SheetBar
from ..style import Idiom


def nearest(pc: int, target: float, low: int, high: int) -> int:
    """The pitch of pitch class pc closest to target, inside [low, high] when possible."""
    base = int(round(target)) - 6
    cands = [p for p in range(base, base + 13) if p % 12 == pc % 12]
    best = min(cands, key=lambda p: abs(p - target))
    while best < low:
        best += 12
    while best > high:
        best -= 12
    return best


def scale_neighbor(pitch: int, direction: int, key: Key) -> int:
    scale = key.scale_pcs
    p = pitch + direction
    while p % 12 not in scale:
        p += direction
    return p


@dataclass
class Cell:
    """Everything a role generator needs for one section of one part."""

    sheet: Sheet
    spec: PartSpec
    section: int
    bars: list[SheetBar]
    energy: int
    idiom: Idiom
    low: int
    high: int
    rng: np.random.Generator
    last_section: bool
    next_energy: int | None  # energy of the following section, None at the end
    base_energy: int = 3     # energy of the label's first section: repeats keep its melodic rhythm


def bar_index(sheet: Sheet, tick: int) -> int:
    lo, hi = 0, len(sheet.bars) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sheet.bars[mid].bar.start <= tick:
            lo = mid
        else:
            hi = mid - 1
    return lo


def copy_kept(base: Score, score: Score, sheet: Sheet, regen_bars: set[int], regen_tracks: set[str]) -> None:
    by_name = {p.name: p for p in base.parts}
    for part in score.parts:
        old = by_name.get(part.name)
        if old is None:
            continue
        if part.name not in regen_tracks:
            part.notes = [Note(n.start, n.end, n.pitch, n.velocity) for n in old.notes]
        else:
            part.notes = [Note(n.start, n.end, n.pitch, n.velocity) for n in old.notes
                          if bar_index(sheet, n.start) not in regen_bars]


def variation_amount(sheet: Sheet, si: int) -> float:
    """How much a section varies the material it repeats: nothing the first time a label's material is
    heard, then more with each prime (A 0, A' 0.2, A'' 0.32, at most 0.4; a plain repeat A 0.08)."""
    sec = sheet.sections[si]
    if not any(s.material == sec.material for s in sheet.sections[:si]):
        return 0.0
    return min(0.4, 0.08 + 0.12 * sec.primes)


# The parts whose reused material is varied (the others come back as they were).
VARIED_ROLES = ("melody", "counter-melody", "arpeggio", "bass")


def vary(notes: list[Note], cell: Cell, amount: float, rng: np.random.Generator) -> list[Note]:
    """Controlled variation of reused material: some weak-beat notes move to a chord tone or a step."""
    if not notes:
        return notes
    end_bar_start = cell.bars[-1].bar.start
    out = []
    for n in notes:
        if n.start < end_bar_start and rng.random() < amount:
            bar = cell.bars[bar_index(cell.sheet, n.start) - cell.bars[0].index]
            chord = bar.chord_at(n.start)
            on_pulse = any(p.start == n.start for p in pulses(bar))
            if cell.spec.role == "bass" and any(c.start == n.start for c in bar.chords):
                out.append(n)  # the bass keeps its root under every chord change
                continue
            if on_pulse:
                pitch = nearest(rng.choice(chord.triad), n.pitch + rng.choice([-3, 3]), cell.low, cell.high)
            else:
                pitch = scale_neighbor(n.pitch, int(rng.choice([-1, 1])), bar.key)
            pitch = min(max(pitch, cell.low), cell.high)
            out.append(Note(n.start, n.end, pitch, n.velocity))
        else:
            out.append(n)
    return out


def one_per_onset(notes: list[Note]) -> list[Note]:
    """The notes in time order with one note per (onset, pitch): the longest of a doubled pair stays."""
    seen: set[tuple[int, int]] = set()
    out = []
    for n in sorted(notes, key=lambda n: (n.start, n.pitch, -n.end)):
        if (n.start, n.pitch) not in seen:
            seen.add((n.start, n.pitch))
            out.append(n)
    return out


# The parts voiced under the lead: they may sound its pitch classes but not above it.


def singing_center(low: int, high: int) -> int:
    """Where a lead sings on an instrument of this comfortable range: around C5 when it reaches C6, else an
    octave under the top of the range (a guitar about E4, a trumpet G4, a cello E4), as the pattern melody is
    written."""
    return max(low + 9, min(high - 7, 72 if high >= 84 else high - 12))
