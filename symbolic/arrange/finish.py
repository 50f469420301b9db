"""What every arrangement goes through, whichever arranger wrote it (finish): the craft an arranger applies to
a draft. Each step takes the score, the sheet and the bars x tracks that were written, and changes only those."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..score import PPQ, Note, Score, Sheet, SheetSection, sounding
from ..style import RUNNING_GENRES, blue_notes
from .base import bar_index, one_per_onset, scale_neighbor, singing_center

if TYPE_CHECKING:
    from ..instruments import Instrument


UNDER_ROLES = ("counter-melody", "chords", "pad", "arpeggio")


def _role_parts(score: Score, sheet: Sheet, role: str, tracks: set[str] | None):
    """(spec, part, instrument) of each pitched part of a role among `tracks` (all when None)."""
    from ..instruments import instrument_of
    for spec, part in zip(sheet.parts, score.parts):
        if spec.role == role and not spec.drum and (tracks is None or spec.name in tracks):
            yield spec, part, instrument_of(spec.name, spec.program)


def _role_notes(score: Score, sheet: Sheet, role: str) -> list[Note]:
    """Every note of the pitched parts of a role."""
    return [n for spec, p in zip(sheet.parts, score.parts) if spec.role == role and not spec.drum for n in p.notes]


def lead_on_top(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """Voice the accompaniment under the melody, as an arranger writes it: a note of an accompanying part (of
    `tracks`, in `bars`) that sounds above a melody note it meets drops by octaves to below the lowest of them,
    inside its instrument's range. Where it cannot, a chord loses that tone; a single line held over a dip of
    the tune stops there, one that starts above it takes the nearest chord tone under it, and one with no room
    under the tune keeps its note (a descant).
    Returns how many notes moved or went."""
    from ..instruments import instrument_of

    lead = sorted(_role_notes(score, sheet, "melody"), key=lambda n: n.start)
    if not lead:
        return 0
    starts = np.array([n.start for n in lead], dtype=np.int64)
    longest = max(n.duration for n in lead)
    top = {m.start: m.pitch for m in _top_notes(sorted(lead, key=lambda m: (m.start, -m.pitch)))}
    changed = 0
    for spec, part in zip(sheet.parts, score.parts):
        if spec.role not in UNDER_ROLES or spec.drum or (tracks is not None and spec.name not in tracks):
            continue
        low = instrument_of(spec.name, spec.program).low
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
            # A counter-line doubling the tune an octave up (the climax's violins in octaves) is the tune.
            t = top.get(n.start)
            if ceiling is None or n.pitch <= ceiling or \
                    (spec.role == "counter-melody" and t is not None and n.pitch >= t and (n.pitch - t) % 12 == 0):
                out.append(n)
                continue
            pitch = n.pitch - 12 * ((n.pitch - ceiling + 11) // 12)
            changed += 1
            if pitch >= low:
                out.append(Note(n.start, n.end, pitch, n.velocity))
            elif onsets[n.start] == 1:
                # A single line held over the tune's dip stops where the tune goes under it; one that starts
                # above the tune and cannot go under is a descant and stays.
                under = next((m.start for m in lead[lo:hi] if m.end > n.start and m.pitch < n.pitch), n.start)
                if under - n.start >= PPQ // 4:
                    out.append(Note(n.start, under, n.pitch, n.velocity))
                    continue
                pcs = sheet.bars[bar_index(sheet, n.start)].chord_at(n.start).pitch_classes
                below = next((p for p in range(ceiling - 1, max(low, n.pitch - 12) - 1, -1) if p % 12 in pcs), None)
                if below is not None:  # the nearest chord tone under the tune, within an octave
                    out.append(Note(n.start, n.end, below, n.velocity))
                else:
                    out.append(n)
                    changed -= 1
            else:
                onsets[n.start] -= 1
        part.notes = one_per_onset(out)  # a tone moved onto its chord's own octave goes
    return changed


def bass_under(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """The bass is the lowest voice: an accompanying note that starts under the bass note sounding moves up an
    octave (when that stays in its range and under the melody), or leaves its chord; a lone line keeps it.
    Returns how many notes moved or went."""
    from ..instruments import instrument_of
    bass, tune = sounding(_role_notes(score, sheet, "bass")), sounding(_role_notes(score, sheet, "melody"))
    changed = 0
    for spec, part in zip(sheet.parts, score.parts):
        if spec.role not in UNDER_ROLES or spec.drum or (tracks is not None and spec.name not in tracks):
            continue
        inst = instrument_of(spec.name, spec.program)
        onsets: dict[int, int] = {}
        for n in part.notes:
            onsets[n.start] = onsets.get(n.start, 0) + 1
        out = []
        for n in part.notes:
            floor = min(bass(n.start), default=None)
            if floor is None or n.pitch >= floor or (bars is not None and bar_index(sheet, n.start) not in bars):
                out.append(n)
                continue
            up = n.pitch + 12 * ((floor - n.pitch + 11) // 12)
            ceiling = min(tune(n.start), default=128)
            if up <= min(inst.high, ceiling):
                out.append(Note(n.start, n.end, up, n.velocity))
                changed += 1
            elif onsets[n.start] > 1:
                onsets[n.start] -= 1
                changed += 1
            else:
                out.append(n)
        part.notes = one_per_onset(out)
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


def holdable(pitches: list[int], inst: Instrument) -> bool:
    """Whether one player sounds these pitches together: a fretted instrument one note per string, the fretted
    notes within a hand's span (four frets) and under its top fret; a keyboard each hand's notes within its reach
    (five fingers); a bowed string a double stop on two neighbouring strings; others at most their voices."""
    if len(pitches) <= 1:
        return True
    if len(pitches) > inst.voices:
        return False
    if inst.tuning:
        return _fretted(sorted(pitches, reverse=True), inst.tuning, inst.frets, set(), [],
                        7 if inst.bowed else 4, inst.bowed)
    if inst.hands:
        return _hands(sorted(pitches), inst.hands, inst.reach)
    return inst.voices != 2 or max(pitches) - min(pitches) <= 12


def _fretted(left: list[int], tuning: tuple[int, ...], frets: int, used: set[int], held: list[int],
             stretch: int = 4, adjacent: bool = False) -> bool:
    """Whether the pitches in `left` each find a string of their own (neighbouring strings when `adjacent`)
    with the stopped notes within `stretch` frets (semitones) of each other."""
    if not left:
        return True
    p = left[0]
    for s, open_ in enumerate(tuning):
        fret = p - open_
        if s in used or not 0 <= fret <= frets or (adjacent and used and min(abs(s - u) for u in used) != 1):
            continue
        span = [f for f in (*held, fret) if f > 0]
        if span and max(span) - min(span) > stretch:
            continue
        if _fretted(left[1:], tuning, frets, used | {s}, held + [fret], stretch, adjacent):
            return True
    return False


def _hands(pitches: list[int], hands: int, reach: int) -> bool:
    """Sorted pitches split low to high among the hands, each at most five notes within `reach`."""
    if not pitches:
        return True
    if hands == 0:
        return False
    for k in range(1, min(5, len(pitches)) + 1):
        if pitches[k - 1] - pitches[0] > reach:
            break
        if _hands(pitches[k:], hands - 1, reach):
            return True
    return False


def voicing(chord: list[Note], inst: Instrument, keep: int = 0) -> list[Note]:
    """The notes of a chord (high to low) one player holds: the one at `keep` (the top, or a desk's share), then
    the bass, then the others from the top down while the hand can still hold them."""
    pitches = [n.pitch for n in chord]
    if holdable(pitches, inst):
        return chord
    order = [keep, len(chord) - 1, *range(len(chord))]
    out: list[int] = []
    for i in order:
        if i not in out and holdable([chord[j].pitch for j in (*out, i)], inst):
            out.append(i)
    return sorted((chord[i] for i in out), key=lambda n: -n.pitch)


def playable(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """Keep every part to what its instrument can play: notes outside its comfortable range move by octaves into
    it; chords become what one player holds (a wind, brass or solo voice one note at a time, a solo string a
    double stop, a guitar one note per string within a hand's span, a pianist's hands within their reach). A
    lead keeps its top note; monophonic parts of one role share the chord out between them (the first takes its
    top note, the next the one below, as divisi). Returns how many notes moved or went."""
    from ..instruments import instrument_of
    changed = 0
    divisi: dict[str, int] = {}
    for spec, part in zip(sheet.parts, score.parts):
        if spec.drum or (tracks is not None and spec.name not in tracks):
            continue
        inst = instrument_of(spec.name, spec.program)
        desk = divisi.get(spec.role, 0)
        if inst.voices == 1:
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
            top = 0 if inst.voices != 1 or spec.role in LEAD_ROLES else min(desk, len(chord) - 1)
            chord = voicing(chord, inst, top) if inst.voices != 1 else [chord[top]]
            changed += len(groups[start]) - len(chord)
            kept += chord
        if inst.voices == 1:
            # One breath, one line: a note stops where the next begins.
            for i in range(len(kept) - 1):
                if kept[i].end > kept[i + 1].start:
                    kept[i] = Note(kept[i].start, kept[i + 1].start, kept[i].pitch, kept[i].velocity)
        part.notes = sorted(fixed + kept, key=lambda n: (n.start, n.pitch))
    return changed


# Where each role sits in the texture, in velocity steps from the section's level (the lead above, pads under),
# each within about half a dynamic of it: in a tutti every part reads the section's dynamic.
ROLE_LEVEL = {"melody": 4, "counter-melody": -4, "chords": -6, "pad": -8, "arpeggio": -7, "bass": -1, "drums": -4}


def level(energy: int, role: str) -> float:
    """The mean velocity of a role at a planned energy: from 47 at level 1 (p) by 14 a level to 103 at 5 (ff),
    near the middle of each written dynamic's velocities (musicxml's p, mp, mf, f, ff), so a quiet section
    reads p or mp in the score and a loud one f or ff."""
    return 33 + 14 * energy + ROLE_LEVEL.get(role, 0)


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


def sing(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """Keep the melody in its instrument's singing register: a section whose melody sits more than a fifth
    below the singing centre (or more than a sixth above it) moves by an octave as a whole, when the whole
    phrase fits the range. Returns how many sections moved."""
    from ..instruments import instrument_of
    moved = 0
    for spec, part in zip(sheet.parts, score.parts):
        if spec.role != "melody" or spec.drum or (tracks is not None and spec.name not in tracks):
            continue
        inst = instrument_of(spec.name, spec.program)
        centre = singing_center(inst.low, inst.high)
        for sec in sheet.sections:
            if bars is not None and not any(b in bars for b in sec.bar_range):
                continue
            lo, hi = sheet.ticks(sec)
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


def octaves(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """A second bass part (the double basses under the cellos) doubles the first an octave below, as an
    orchestra's bass line is written (at another octave only when most of the line does not fit there).
    Returns how many notes it plays."""
    from ..instruments import instrument_of
    basses = [(spec, part) for spec, part in zip(sheet.parts, score.parts) if spec.role == "bass" and not spec.drum]
    if len(basses) < 2:
        return 0
    first = basses[0][1].notes
    played = 0
    for spec, part in basses[1:]:
        if tracks is not None and spec.name not in tracks:
            continue
        inst = instrument_of(spec.name, spec.program)
        mine = [n for n in first if bars is None or bar_index(sheet, n.start) in bars]
        out = {sh: sum(not inst.low <= n.pitch + sh <= inst.high for n in mine) for sh in (-12, 0, -24, 12)}
        # An octave below wherever most of the line fits there (playable lifts the few notes under the range).
        shift = -12 if out[-12] <= 0.2 * len(mine) else min((0, -24, 12), key=lambda sh: out[sh])
        keep = [n for n in part.notes if bars is not None and bar_index(sheet, n.start) not in bars]
        part.notes = sorted(keep + [Note(n.start, n.end, n.pitch + shift, n.velocity) for n in mine],
                            key=lambda n: (n.start, n.pitch))
        played += len(mine)
    return played


# The idioms whose bass is an orchestral one: its low octave is kept for the weight of the loud sections.
ORCHESTRAL_GENRES = ("film", "classical", "minuet", "waltz", "lullaby", "ballad", "ambient", "hymn")


def _quiet_ends(sheet: Sheet) -> list[SheetSection]:
    """The quiet sections (energy 2 or less) at the soft end of a piece that builds from them to energy 4 or
    more, or that fades into them from two levels louder; none in a piece without such an arc."""
    secs = sheet.sections
    if not secs:
        return []
    top = max(s.energy for s in secs)
    if top >= 4 and secs[0].energy <= 2:
        return [s for s in secs if s.energy <= 2]
    out = []
    if top - secs[-1].energy >= 2 and secs[-1].energy <= 2:
        for sec in reversed(secs):
            if sec.energy > 2:
                break
            out.append(sec)
    return out[::-1]


def depth(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """The texture is narrower at the soft end of a piece that builds or fades: there the bass sounds an octave
    higher, where its instrument has those notes and they stay under the other parts (the cellos' pedal in
    their tenor register, the low octave and the double basses kept for the loud sections), and without a bass
    the harmony's lowest voice, where it lies more than an octave under the chord, closes up an octave and stays
    its bass (the last bar keeps its low root).
    Orchestral textures only (a bowed bass, or a concert idiom). Returns how many notes moved."""
    quiet = _quiet_ends(sheet)
    if not quiet:
        return 0
    moved = 0
    bass = [(part, inst) for _s, part, inst in _role_parts(score, sheet, "bass", tracks)
            if inst.bowed or sheet.idiom.genre in ORCHESTRAL_GENRES]
    for part, inst in bass:
        out = list(part.notes)
        for sec in quiet:
            lo, hi = sheet.ticks(sec)
            idx = [i for i, n in enumerate(out) if lo <= n.start < hi and (bars is None or bar_index(sheet, n.start) in bars)]
            if not idx:
                continue
            others = [n.pitch for q, p in zip(sheet.parts, score.parts) if p is not part and not q.drum
                      for n in p.notes if lo <= n.start < hi]
            top = max(out[i].pitch for i in idx) + 12
            if top > inst.high or (others and top >= min(others)):
                continue
            for i in idx:
                n = out[i]
                out[i] = Note(n.start, n.end, n.pitch + 12, n.velocity)
            moved += len(idx)
        part.notes = sorted(out, key=lambda n: (n.start, n.pitch))
    if _role_notes(score, sheet, "bass") or sheet.idiom.genre not in ORCHESTRAL_GENRES:
        return moved
    spans = [sheet.ticks(sec) for sec in quiet]
    last = sheet.bars[-1].bar.start
    for _spec, part, _inst in _role_parts(score, sheet, "chords", tracks):
        by_onset: dict[int, list[Note]] = {}
        for n in part.notes:
            by_onset.setdefault(n.start, []).append(n)
        out = []
        for t, ns in sorted(by_onset.items()):
            ns = sorted(ns, key=lambda n: n.pitch)
            inside = any(a <= t < b for a, b in spans) and t < last and \
                (bars is None or bar_index(sheet, t) in bars)
            if inside and len(ns) >= 3 and ns[0].pitch + 12 < ns[1].pitch:
                low = ns[0]
                ns[0] = Note(low.start, low.end, low.pitch + 12, low.velocity)
                moved += 1
            out.extend(ns)
        part.notes = one_per_onset(out)  # a voice closing onto its chord's own octave goes
    return moved


def unison(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """In a dance tune (a reel, a jig) the second melody instrument plays the tune with the lead, as a session
    does: the counter-melody of a one-line instrument or a fiddle takes the melody's notes at the octave that
    fits it best in each section, simplified at each phrase's last bar (its off-beat notes tied into the beat).
    Returns how many notes it plays."""
    if sheet.idiom.genre not in RUNNING_GENRES:
        return 0
    tune = sorted(_role_notes(score, sheet, "melody"), key=lambda n: (n.start, -n.pitch))
    if not tune:
        return 0
    played = 0
    for _spec, part, inst in _role_parts(score, sheet, "counter-melody", tracks):
        if inst.voices != 1 and inst.family != "strings":
            continue
        keep = [n for n in part.notes if bars is not None and bar_index(sheet, n.start) not in bars]
        out: list[Note] = []
        for sec in sheet.sections:
            lo, hi = sheet.ticks(sec)
            mine = [n for n in tune if lo <= n.start < hi and (bars is None or bar_index(sheet, n.start) in bars)]
            if not mine:
                continue
            shift = min((12 * k for k in range(-3, 4)),
                        key=lambda sh: (sum(not inst.low <= n.pitch + sh <= inst.high for n in mine), abs(sh)))
            seen: set[int] = set()
            for n in mine:
                if n.start in seen:   # one note at a time: the tune's top note
                    continue
                seen.add(n.start)
                b = bar_index(sheet, n.start)
                bar = sheet.bars[b].bar
                beat = PPQ if bar.denominator == 4 else PPQ * 3 // 2
                last_of_phrase = (b - sec.first_bar) % 4 == 3
                if last_of_phrase and (n.start - bar.start) % beat and out and out[-1].end >= n.start - 30:
                    out[-1] = Note(out[-1].start, n.end, out[-1].pitch, out[-1].velocity)
                    continue
                out.append(Note(n.start, n.end, n.pitch + shift, max(1, n.velocity - 6)))
        part.notes = sorted(keep + out, key=lambda n: (n.start, n.pitch))
        played += len(out)
    return played


def climax(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """At the climax of a piece that builds (its loudest sections, energy 5, after quieter ones) the texture
    widens: the counter-melody doubles the tune an octave above, where its instrument sings that high (violins
    in octaves, a flute over the strings). Returns how many notes it plays there."""
    secs = sheet.sections
    if not secs or max(s.energy for s in secs) < 5 or min(s.energy for s in secs) > 3:
        return 0
    tune = sorted(_role_notes(score, sheet, "melody"), key=lambda n: (n.start, -n.pitch))
    played = 0
    for _spec, part, inst in _role_parts(score, sheet, "counter-melody", tracks):
        for sec in secs:
            if sec.energy < 5:
                continue
            lo, hi = sheet.ticks(sec)
            mine = _top_notes([n for n in tune if lo <= n.start < hi
                               and (bars is None or bar_index(sheet, n.start) in bars)])
            if not mine or sum(inst.low <= n.pitch + 12 <= inst.high for n in mine) < 0.9 * len(mine):
                continue
            span = {bar_index(sheet, n.start) for n in mine}
            keep = [n for n in part.notes if not (lo <= n.start < hi and bar_index(sheet, n.start) in span)]
            part.notes = sorted(keep + [Note(n.start, n.end, n.pitch + 12, n.velocity) for n in mine],
                                key=lambda n: (n.start, n.pitch))
            played += len(mine)
    return played


def _top_notes(notes: list[Note]) -> list[Note]:
    """The top note at each onset of notes sorted by (start, -pitch)."""
    return [n for i, n in enumerate(notes) if i == 0 or notes[i - 1].start != n.start]


HARMONY_ROLES = ("chords", "pad", "arpeggio")


def resting(sheet: Sheet) -> dict[str, set[int]]:
    """Which parts sit out which sections, as an arranger spreads an ensemble over the form instead of starting
    everyone at bar 1: brass, timpani and a second bass (off the tune) keep their weight for the loud sections
    when the piece has a climax (energy 4 or more), resting where the energy is 2 or less; a counter-melody enters after an
    opening section of energy 2 or less and rests in sections of energy 1; a second harmony layer (pad or
    arpeggio) rests at energy 1 where chords play. Only in ensembles of three or more pitched parts; the
    melody, the first bass, the drums and a section's only harmony part always play, and no part rests
    everywhere."""
    from ..instruments import instrument_of
    pitched = [spec for spec in sheet.parts if not spec.drum]
    secs = sheet.sections
    if len(pitched) < 3 or len(secs) < 2:
        return {}
    climax = max(sec.energy for sec in secs) >= 4
    first_bass = next((spec for spec in pitched if spec.role == "bass"), None)
    out: dict[str, set[int]] = {}
    for spec in pitched:
        inst = instrument_of(spec.name, spec.program)
        rest: set[int] = set()
        for si, sec in enumerate(secs):
            if spec.role == "melody" or spec is first_bass:
                continue
            # Weight for the loud sections: brass, timpani, and a second bass (the double basses under the cellos).
            weight = inst.family == "brass" or inst.name == "Timpani" or spec.role == "bass"
            if weight and climax and sec.energy <= 2:
                rest.add(si)
            if spec.role == "counter-melody" and (sec.energy <= 1 or (si == 0 and sec.energy <= 2)):
                rest.add(si)
            if spec.role in ("pad", "arpeggio") and sec.energy <= 1 and any(
                    o.role == "chords" and not o.drum for o in sheet.parts):
                rest.add(si)
        # A section keeps at least one harmony part.
        if spec.role in HARMONY_ROLES:
            others = [o for o in pitched if o is not spec and o.role in HARMONY_ROLES]
            rest = {si for si in rest if any(si not in out.get(o.name, set()) for o in others)}
        if rest and len(rest) < len(secs):
            out[spec.name] = rest
    return out


def entries(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """Parts sit out the sections `resting` gives them. Returns how many notes went."""
    rest = resting(sheet)
    gone = 0
    for spec, part in zip(sheet.parts, score.parts):
        if spec.name not in rest or (tracks is not None and spec.name not in tracks):
            continue
        spans = [sheet.ticks(sheet.sections[si]) for si in rest[spec.name]]
        keep = [n for n in part.notes if not any(lo <= n.start < hi for lo, hi in spans)
                or (bars is not None and bar_index(sheet, n.start) not in bars)]
        gone += len(part.notes) - len(keep)
        part.notes = keep
    return gone


def smooth(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """A lead line rarely leaps more than an octave: a note (with its chord) more than an octave from the one
    before moves by octaves towards it as far as the comfortable range allows, and the notes after it follow
    while they too would leap; a melody's leap is answered by a turn back (_recover). Returns how many
    onsets moved."""
    from ..instruments import instrument_of
    moved = 0
    for spec, part in zip(sheet.parts, score.parts):
        if spec.role not in LEAD_ROLES or spec.drum or (tracks is not None and spec.name not in tracks):
            continue
        inst = instrument_of(spec.name, spec.program)
        at: dict[int, list[Note]] = {}
        for n in part.notes:
            at.setdefault(n.start, []).append(n)
        out: list[Note] = []
        prev: int | None = None
        for start in sorted(at):
            group = at[start]
            top = max(n.pitch for n in group)
            free = bars is None or bar_index(sheet, start) in bars
            shift = 0
            if free and prev is not None and abs(top - prev) > 12:
                step = -12 if top > prev else 12
                while abs(top + shift - prev) > 12 and all(inst.low <= n.pitch + shift + step <= inst.high
                                                           for n in group):
                    shift += step
            moved += shift != 0
            out += [Note(n.start, n.end, n.pitch + shift, n.velocity) for n in group]
            prev = top + shift
        part.notes = _recover(out, sheet, inst, bars) if spec.role == "melody" else out
    return moved


def _recover(notes: list[Note], sheet: Sheet, inst: Instrument, bars: set[int] | None) -> list[Note]:
    """A leap (a fifth or more) is answered: where the line goes on the same way after it (or repeats the
    note it leapt to), the next note turns back, by a step of the scale, or to a chord tone within a fourth
    when it falls on a beat."""
    line = sorted(notes, key=lambda n: (n.start, -n.pitch))
    tops = [n for i, n in enumerate(line) if i == 0 or line[i - 1].start != n.start]
    by_id = {id(n): n for n in line}
    for a, c, d in zip(tops, tops[1:], tops[2:]):
        leap = c.pitch - by_id[id(a)].pitch
        if abs(leap) < 7 or (d.pitch - c.pitch) * leap < 0:
            continue
        bi = bar_index(sheet, d.start)
        if bars is not None and bi not in bars:
            continue
        bar = sheet.bars[bi]
        blue = blue_notes(sheet.idiom.genre, bar.key.tonic)
        if d.pitch % 12 in blue:
            continue   # a blue note bent into is the style's, whatever the line did before it
        back = -1 if leap > 0 else 1
        beat = PPQ if bar.bar.denominator == 4 else PPQ * 3 // 2
        if (d.start - bar.bar.start) % beat == 0:
            pcs = bar.chord_at(d.start).pitch_classes
            near = [c.pitch + back * k for k in range(1, 6) if (c.pitch + back * k) % 12 in pcs]
            pitch = near[0] if near else scale_neighbor(c.pitch, back, bar.key)
        else:
            # A step back in the scale, or to a blue note on the way in a style that plays them.
            step = scale_neighbor(c.pitch, back, bar.key)
            bent = [c.pitch + back * k for k in (1, 2) if (c.pitch + back * k) % 12 in blue]
            pitch = bent[0] if bent and abs(bent[0] - c.pitch) <= abs(step - c.pitch) else step
        if inst.low <= pitch <= inst.high:
            by_id[id(d)] = Note(d.start, d.end, pitch, d.velocity)
    return sorted(by_id.values(), key=lambda n: (n.start, n.pitch))


def answer(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> int:
    """A counter-melody answers the melody instead of doubling its rhythm: where the melody strikes, the
    counter-melody holds the note it has when that note belongs to the chord there, or else enters half a beat
    later, in the melody's gap; so it moves where the melody holds or rests. Returns how many counter-melody
    onsets were tied over or moved."""
    tol = 30
    lead = sorted({n.start for n in _role_notes(score, sheet, "melody")})
    if not lead or sheet.idiom.genre in RUNNING_GENRES:   # a dance tune's second melody plays the tune (unison)
        return 0
    starts = np.array(lead, dtype=np.int64)
    tied = 0
    for _spec, part, _inst in _role_parts(score, sheet, "counter-melody", tracks):
        notes = sorted(part.notes, key=lambda n: (n.start, -n.pitch))
        out: list[Note] = []
        for n in notes:
            prev = out[-1] if out else None
            i = int(np.searchsorted(starts, n.start - tol))
            with_lead = i < len(starts) and abs(int(starts[i]) - n.start) <= tol
            beat = PPQ if sheet.bars[bar_index(sheet, n.start)].bar.denominator == 4 else PPQ * 3 // 2
            moving = with_lead
            free = bars is None or bar_index(sheet, n.start) in bars
            if (free and moving and prev is not None and prev.start < n.start and prev.end >= n.start - tol
                    and prev.pitch % 12 in sheet.bars[bar_index(sheet, n.start)].chord_at(n.start).pitch_classes):
                out[-1] = Note(prev.start, max(prev.end, n.end), prev.pitch, prev.velocity)
                tied += 1
                continue
            late = n.start + beat // 2
            if (free and moving and late < n.end - beat // 4
                    and not np.any(np.abs(starts - late) <= tol) and (prev is None or prev.end <= n.start)):
                n = Note(late, n.end, n.pitch, n.velocity)   # enters in the melody's gap
                tied += 1
            out.append(n)
        part.notes = out
    return tied


def finish(score: Score, sheet: Sheet, bars: set[int] | None = None, tracks: set[str] | None = None) -> Score:
    """What every arrangement goes through, whichever arranger wrote it, on the `tracks` x `bars` it wrote:
    a dance tune's second melody instrument on the tune, a second bass in octaves with the first, parts
    entering and resting across the form, the texture narrower at the soft end of a piece that builds
    or fades, each instrument to what it can play, the lead without leaps past an
    octave and in its singing register, the counter-melody answering it (and doubling the tune an octave up at
    a build's climax), the melody on top of the
    accompaniment and the bass under it, hand drums on their own strokes, then the planned energy as dynamics."""
    # playable again after lead_on_top: a tone it dropped an octave may leave a chord no hand can hold.
    for step in (unison, octaves, entries, depth, playable, smooth, sing, answer, climax, lead_on_top, bass_under, playable,
                 on_kit, dynamics):
        step(score, sheet, bars, tracks)
    return score
