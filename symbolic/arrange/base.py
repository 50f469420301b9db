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
UNDER_ROLES = ("counter-melody", "chords", "pad", "arpeggio")


def lead_on_top(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """Voice the accompaniment under the melody, as an arranger writes it: a note of an accompanying part (of
    `tracks`, in `bars`) that sounds above a melody note it meets drops by octaves to below the lowest of them,
    inside its instrument's range. Where it cannot, a chord loses that tone; a single line keeps it (a descant).
    Returns how many notes moved or went."""
    from ..instruments import instrument_for_program

    lead = sorted((n for spec, p in zip(sheet.parts, score.parts) if spec.role == "melody" and not spec.drum
                   for n in p.notes), key=lambda n: n.start)
    if not lead:
        return 0
    starts = np.array([n.start for n in lead], dtype=np.int64)
    longest = max(n.duration for n in lead)
    changed = 0
    for spec, part in zip(sheet.parts, score.parts):
        if spec.role not in UNDER_ROLES or spec.drum or (tracks is not None and spec.name not in tracks):
            continue
        low = instrument_for_program(spec.program).low
        onsets: dict[int, int] = {}
        for n in part.notes:
            onsets[n.start] = onsets.get(n.start, 0) + 1
        out = []
        for n in part.notes:
            if bars is not None and bar_index(sheet, n.start) not in bars:
                out.append(n)
                continue
            lo = int(np.searchsorted(starts, n.start - longest, side="left"))
            hi = int(np.searchsorted(starts, n.end, side="left"))
            ceiling = min((m.pitch for m in lead[lo:hi] if m.end > n.start), default=None)
            if ceiling is None or n.pitch <= ceiling:
                out.append(n)
                continue
            pitch = n.pitch - 12 * ((n.pitch - ceiling + 11) // 12)
            changed += 1
            if pitch >= low:
                out.append(Note(n.start, n.end, pitch, n.velocity))
            elif onsets[n.start] == 1:
                out.append(n)
                changed -= 1
            else:
                onsets[n.start] -= 1
        part.notes = one_per_onset(out)  # a tone moved onto its chord's own octave goes
    return changed


# A drum set's keys by what they do, for a part whose instrument is a hand or frame drum.
_LOW_KEYS = frozenset({35, 36, 41, 43, 45, 47, 64, 66})
_ACCENT_KEYS = frozenset({37, 38, 39, 40, 48, 50, 60, 61, 62, 63, 65})


def on_kit(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """Play every drum part on its own instrument: a part whose kit is a hand or frame drum (a bodhrán, a
    cajón) takes only that instrument's strokes: a drum set's low drums become its low stroke, snares and
    toms its accent, cymbals and hats its middle stroke. Returns how many notes changed."""
    from ..instruments import PERCUSSION
    changed = 0
    for spec, part in zip(sheet.parts, score.parts):
        if not spec.drum or spec.kit is None or (tracks is not None and spec.name not in tracks):
            continue
        strokes = PERCUSSION[spec.kit].strokes
        low, mid, accent = strokes[0], strokes[min(1, len(strokes) - 1)], strokes[-1]
        out, seen = [], set()
        for n in part.notes:
            key = n.pitch
            if key not in strokes and (bars is None or bar_index(sheet, n.start) in bars):
                key = low if n.pitch in _LOW_KEYS else accent if n.pitch in _ACCENT_KEYS else mid
                changed += 1
            if (n.start, key) not in seen:
                seen.add((n.start, key))
                out.append(Note(n.start, n.end, key, n.velocity))
        part.notes = out
    return changed


LEAD_ROLES = ("melody", "counter-melody")


def playable(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """Keep every part to what its instrument can play: notes outside its range move by octaves into it; a
    monophonic instrument (a wind, brass, a solo voice) sounds one note at a time and a solo string at most a
    double stop within an octave. A lead keeps its top note; monophonic parts of one role share the chord out
    between them (the first takes its top note, the next the one below, as divisi). Returns how many notes
    moved or went."""
    from ..instruments import instrument_for_program, notes_at_once
    changed = 0
    divisi: dict[str, int] = {}
    for spec, part in zip(sheet.parts, score.parts):
        if spec.drum or (tracks is not None and spec.name not in tracks):
            continue
        inst = instrument_for_program(spec.program)
        most = notes_at_once(spec.program)
        desk = divisi.get(spec.role, 0)
        if most == 1:
            divisi[spec.role] = desk + 1
        fixed = [n for n in part.notes if bars is not None and bar_index(sheet, n.start) not in bars]
        free = [n for n in part.notes if bars is None or bar_index(sheet, n.start) in bars]
        moved = []
        for n in free:
            pitch = n.pitch
            while pitch < inst.low and pitch + 12 <= inst.high:
                pitch += 12
            while pitch > inst.high and pitch - 12 >= inst.low:
                pitch -= 12
            changed += pitch != n.pitch
            moved.append(Note(n.start, n.end, pitch, n.velocity))
        groups: dict[int, list[Note]] = {}
        for n in moved:
            groups.setdefault(n.start, []).append(n)
        kept: list[Note] = []
        for start in sorted(groups):
            # One note per pitch at an onset (an octave move can land on a tone already there).
            chord = sorted({n.pitch: n for n in groups[start]}.values(), key=lambda n: -n.pitch)
            if len(chord) > most:
                if most == 1:
                    chord = [chord[0] if spec.role in LEAD_ROLES else chord[min(desk, len(chord) - 1)]]
                else:
                    chord = [chord[0]] + [n for n in chord[1:] if chord[0].pitch - n.pitch <= 12][:most - 1]
            changed += len(groups[start]) - len(chord)
            kept += chord
        if most == 1:
            # One breath, one line: a note stops where the next begins.
            for i in range(len(kept) - 1):
                if kept[i].end > kept[i + 1].start:
                    kept[i] = Note(kept[i].start, kept[i + 1].start, kept[i].pitch, kept[i].velocity)
        part.notes = sorted(fixed + kept, key=lambda n: (n.start, n.pitch))
    return changed


# Where each role sits in the texture, in velocity steps from the section's level (the lead above, pads under).
ROLE_LEVEL = {"melody": 4, "counter-melody": -6, "chords": -12, "pad": -16, "arpeggio": -14, "bass": -2, "drums": -8}


def level(energy: int, role: str) -> float:
    """The mean velocity of a role at a planned energy (1 pp ... 5 ff): 70 + 9 per level above 1."""
    return 61 + 9 * energy + ROLE_LEVEL.get(role, 0)


def dynamics(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> None:
    """The planned energy as dynamics: each part's velocities in a section are centred on the level of the
    section's energy for its role (its own accents kept, a little narrowed), and the last two bars before a
    louder or softer section ramp towards its level (a crescendo into a climax, a diminuendo out of it)."""
    for spec, part in zip(sheet.parts, score.parts):
        if tracks is not None and spec.name not in tracks:
            continue
        out = []
        by_section: list[list[Note]] = [[] for _ in sheet.sections]
        starts = [sheet.bars[sec.first_bar].bar.start for sec in sheet.sections]
        for n in part.notes:
            si = max(0, int(np.searchsorted(starts, n.start, side="right")) - 1)
            if bars is None or bar_index(sheet, n.start) in bars:
                by_section[si].append(n)
            else:
                out.append(n)
        for si, notes in enumerate(by_section):
            if not notes:
                continue
            sec = sheet.sections[si]
            here = level(sec.energy, spec.role)
            nxt = level(sheet.sections[si + 1].energy, spec.role) if si + 1 < len(sheet.sections) else here
            ramp_from = sheet.bars[max(sec.first_bar, sec.last_bar - 1)].bar.start
            ramp_to = sheet.bars[sec.last_bar].bar.end
            mean = float(np.mean([n.velocity for n in notes]))
            for n in notes:
                target = here
                if nxt != here and n.start >= ramp_from:
                    target = here + (nxt - here) * (n.start - ramp_from) / max(1, ramp_to - ramp_from)
                v = int(round(target + 0.7 * (n.velocity - mean)))
                out.append(Note(n.start, n.end, n.pitch, min(124, max(16, v))))
        part.notes = sorted(out, key=lambda n: (n.start, n.pitch))


def singing_center(low: int, high: int) -> int:
    """Where a lead sings on an instrument of this range: around C5 when it reaches C6, else just above the
    middle of its range (as the pattern melody is written)."""
    return max(low + 9, min(high - 7, 72 if high >= 84 else (low + high) // 2 + 2))


def sing(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """Keep the melody in its instrument's singing register: a section whose melody sits more than a fifth
    below the singing centre (or more than a sixth above it) moves by an octave as a whole, when the whole
    phrase fits the range. Returns how many sections moved."""
    from ..instruments import instrument_for_program
    moved = 0
    for spec, part in zip(sheet.parts, score.parts):
        if spec.role != "melody" or spec.drum or (tracks is not None and spec.name not in tracks):
            continue
        inst = instrument_for_program(spec.program)
        centre = singing_center(inst.low, inst.high)
        for sec in sheet.sections:
            if bars is not None and not any(b in bars for b in sec.bar_range):
                continue
            lo, hi = sheet.bars[sec.first_bar].bar.start, sheet.bars[sec.last_bar].bar.end
            mine = [n for n in part.notes if lo <= n.start < hi and (bars is None or bar_index(sheet, n.start) in bars)]
            if not mine:
                continue
            median = float(np.median([n.pitch for n in mine]))
            shift = 12 if median < centre - 7 else -12 if median > centre + 9 else 0
            if shift and all(inst.low <= n.pitch + shift <= inst.high for n in mine):
                ids = {id(n) for n in mine}
                part.notes = [Note(n.start, n.end, n.pitch + shift, n.velocity) if id(n) in ids else n
                              for n in part.notes]
                moved += 1
    return moved


def finish(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> Score:
    """What every arrangement goes through, whichever arranger wrote it, on the `tracks` x `bars` it wrote:
    each instrument to what it can play, the melody in its singing register and on top of the accompaniment,
    hand drums on their own strokes, then the planned energy as dynamics."""
    for step in (playable, sing, lead_on_top, on_kit, dynamics):
        step(score, sheet, bars, tracks)
    return score
