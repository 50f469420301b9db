"""Score -> MusicXML (score-partwise) through music21.

The measures are built here, directly on the Score's bar grid, and exported
with makeNotation off, so music21 never re-notates (or copies) the piece.
piece.mid stays the performance grid; this is the page a player reads
(docs/NOTATION.md says how one is derived from the other):

* one part per player, named after its track, with an abbreviation, a GM
  instrument, MIDI program and channel; a lone keyboard's or guitar's
  accompaniment track ("Piano Chords") joins its tune ("Piano") as one part;
  pianos, harpsichord, celesta, organs and harp on a grand staff, each note in
  a hand (a merged tune in the right; a chord whole in the hand whose register
  holds it when one hand spans it, else split at its widest gap);
* exactly ``len(score.bars)`` measures in every part, a time signature wherever
  the meter changes, key signatures at the start and at each key change (a
  change inside a bar moves to the nearest barline), tempo marks (quarter =
  bpm), the style's feel ("Swing") and rehearsal marks (the section names) in
  the first part, the plan's chord symbols above the first pitched part at
  concert pitch, and a dynamic (pp ... ff, from the notes' velocities) at each
  section where a part's level changes;
* readable rhythm: notes snapped to a 16th grid; a gap shorter than a beat
  before the next onset is held through in lines, pads and basses, and in
  chords and arpeggios becomes a staccato note up to the next onset or beat
  line; notes split at barlines and into plain or dotted values with ties (an
  off-beat note is tied at the next beat unless one value carries it); equal
  onsets and lengths grouped into chords, overlapping notes of other lengths in
  further voices (at most four; past that a note is cut where the next one
  enters, so no onset is lost); rests fill every gap, a rest never splitting a
  beat where one value fits (dotted-quarter beats in compound meters); beams
  group eighths and shorter within each beat;
* pitches spelled from the key in force (flats in flat keys, sharps in sharp
  keys, the raised sixth and seventh in minor), with accidentals shown only
  where the key signature and the measure so far do not already imply them;
* transposing instruments (B-flat trumpet, clarinet, soprano and tenor sax;
  E-flat alto and baritone sax; horn and English horn in F) written at their
  written pitch and key with a ``<transpose>`` element; guitars and basses read
  in 8vb clefs, piccolo, celesta and glockenspiel in 8va when high, the viola in
  alto clef, a high cello, bassoon or trombone part in tenor clef, other parts
  in bass clef when their median pitch is below G3, treble otherwise;
* drums as a percussion part: percussion clef, unpitched notes on MuseScore's
  drum-set lines and noteheads (x for cymbals and hi-hat), hands (cymbals,
  snare, toms) stems up and feet (kick, pedal hi-hat) stems down, each sound
  its own ``<score-instrument>`` with its GM key as ``<midi-unpitched>``; a hit
  is notated up to the next hit in its voice (at most a quarter, one value)
  and is never tied.
"""
from __future__ import annotations

import bisect
import dataclasses
import gc
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TypeGuard
from xml.etree.ElementTree import Element, SubElement

from music21 import articulations, expressions, layout, metadata, meter, percussion, stream
from music21 import bar as m21bar
from music21 import chord as m21chord
from music21 import clef as m21clef
from music21 import defaults as m21defaults
from music21 import duration as m21duration
from music21 import dynamics as m21dynamics
from music21 import harmony as m21harmony
from music21 import instrument as m21instrument
from music21 import key as m21key
from music21 import note as m21note
from music21 import pitch as m21pitch
from music21 import tempo as m21tempo
from music21 import tie as m21tie
from music21.common.types import StepName
from music21.musicxml.m21ToXml import ScoreExporter

from .files import atomic_write
from .harmony import FLAT_NAMES, SHARP_NAMES, Chord, Key
from .instruments import GM_DRUM_NAMES
from .midi_io import channel_map
from .score import PPQ, Bar, Part, Progress, Score, plain_text

GRID = PPQ // 4          # a 16th note
MAX_VOICES = 4           # what notation programs accept on one staff
DRUM_MAX = PPQ           # a drum hit is notated at most a quarter long

# Note values in ticks that need no tie: plain and single-dotted, whole down to 64th.
_PLAIN = [1920, 960, 480, 240, 120, 60, 30]
_VALUES = sorted({v for p in _PLAIN for v in (p, p * 3 // 2)} - {45}, reverse=True)

_STEPS: tuple[StepName, ...] = ("C", "D", "E", "F", "G", "A", "B")
_NATURAL_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SHARP_ORDER = "FCGDAEB"
_FLAT_ORDER = "BEADGCF"

# GM drum key -> (display step, display octave, notehead, foot voice) on a five-line percussion staff:
# where MuseScore's drum set puts each sound it knows (read from its own MIDI import), feet stems down.
_DRUM_DISPLAY: dict[int, tuple[StepName, int, str, bool]] = {
    35: ("F", 4, "normal", True), 36: ("F", 4, "normal", True),
    37: ("C", 5, "x", False), 38: ("C", 5, "normal", False), 39: ("C", 5, "slash", False),
    40: ("C", 5, "normal", False), 41: ("A", 4, "normal", False), 42: ("G", 5, "x", False),
    43: ("A", 4, "normal", False), 44: ("D", 4, "x", True), 45: ("D", 5, "normal", False),
    46: ("E", 5, "x", False), 47: ("E", 5, "normal", False), 48: ("F", 5, "normal", False),
    49: ("A", 5, "x", False), 50: ("F", 5, "normal", False), 51: ("F", 5, "x", False),
    52: ("B", 5, "x", False), 53: ("F", 5, "diamond", False), 54: ("D", 5, "diamond", False),
    55: ("B", 5, "x", False), 56: ("E", 5, "inverted triangle", False), 57: ("B", 5, "x", False),
    59: ("D", 5, "x", False), 63: ("B", 4, "x", False), 64: ("G", 4, "x", False),
}

def _other_drums() -> None:
    """Every other key (the GM2 extras, Latin percussion, effects) on a line and notehead of its own."""
    used = {(st, o, h) for st, o, h, _f in _DRUM_DISPLAY.values()}
    lines: list[tuple[StepName, int]] = [("C", 5), ("B", 4), ("D", 5), ("A", 4), ("E", 5), ("G", 4), ("F", 5), ("F", 4),
             ("G", 5), ("E", 4), ("A", 5), ("D", 4), ("B", 5)]
    slots = ((st, o, h) for h in ("triangle", "diamond", "square", "slash", "circle-x", "x", "normal", "cross",
                                  "inverted triangle", "circle dot", "left triangle", "rectangle")
             for st, o in lines if (st, o, h) not in used)
    for key in [*range(27, 88), *range(0, 27), *range(88, 128)]:
        if key not in _DRUM_DISPLAY:
            st, o, h = next(slots)
            _DRUM_DISPLAY[key] = (st, o, h, False)


_other_drums()

# Where two sounds share a line and notehead (kick 35/36, snare 38/40, low toms, crashes), the one a drummer
# reads there first (the toms a kit has when it has two: high floor and high tom).
_PREFERRED_DRUMS = (36, 38, 42, 46, 49, 51, 44, 37, 39, 43, 50, 45, 47, 41, 48, 53, 54, 56, 59, 63, 64)
_DISPLAY_DRUM: dict[tuple[str, int, str], int] = {(st, o, h): k for k in reversed([*_PREFERRED_DRUMS, *sorted(_DRUM_DISPLAY)])
                 for st, o, h, _f in [_DRUM_DISPLAY[k]]}


def drum_at(step: str, octave: int, notehead: str = "normal") -> int | None:
    """The General MIDI drum written at a staff position and notehead, as this module (and MuseScore's
    drumset) writes them; None for a position and head no drum uses."""
    return _DISPLAY_DRUM.get((step, octave, notehead or "normal"))


# Transposing instruments by GM program: semitones written above sounding, and MusicXML's <transpose>
# (diatonic, chromatic, octave-change: written + that = sounding). Octave transposers (guitar, bass,
# piccolo, celesta, glockenspiel) are written at sounding pitch under an octave clef instead.
_TRANSPOSE: dict[int, tuple[int, tuple[int, int, int]]] = {
    56: (2, (-1, -2, 0)),     # trumpet in B-flat
    64: (2, (-1, -2, 0)),     # soprano sax in B-flat
    71: (2, (-1, -2, 0)),     # clarinet in B-flat
    65: (9, (-5, -9, 0)),     # alto sax in E-flat
    66: (14, (-1, -2, -1)),   # tenor sax in B-flat, an octave and a step
    67: (21, (-5, -9, -1)),   # baritone sax in E-flat, an octave and a sixth
    60: (7, (-4, -7, 0)),     # horn in F
    69: (7, (-4, -7, 0)),     # English horn in F
}


def _transposed(k: Key, up: int) -> Key:
    """The key a transposing instrument reads: its sharps from the circle of fifths (Key.sharps)."""
    return Key((k.tonic + up) % 12, k.mode)


class MusicXMLError(ValueError):
    """A Score that cannot be written as MusicXML."""


# --- grid and quantizing ----------------------------------------------------

def _bars(score: Score) -> list[Bar]:
    if score.bars:
        return list(score.bars)
    # No grid given: 4/4 bars that cover every note, at least one.
    n = max(1, -(-score.end_tick // (PPQ * 4)))
    return [Bar(i * PPQ * 4, 4, 4) for i in range(n)]


class _Grid:
    """16th-note points of every bar, counted from the bar's start, plus the last barline."""

    def __init__(self, bars: list[Bar]):
        pts: list[int] = []
        for b in bars:
            pts.extend(range(b.start, b.end, GRID))
        pts.append(bars[-1].end)
        self.points = pts
        self.last = bars[-1].end
        self.bar_starts = [b.start for b in bars]

    def snap(self, tick: int) -> int:
        pts = self.points
        i = bisect.bisect_left(pts, tick)
        if i == 0:
            return pts[0]
        if i == len(pts):
            return pts[-1]
        lo, hi = pts[i - 1], pts[i]
        return lo if tick - lo < hi - tick else hi

    def after(self, tick: int) -> int:
        """The first grid point strictly after tick (or the last barline)."""
        pts = self.points
        i = bisect.bisect_right(pts, tick)
        return pts[min(i, len(pts) - 1)]

    def bar_index(self, tick: int) -> int:
        return max(0, bisect.bisect_right(self.bar_starts, tick) - 1)


def _quantize(notes, grid: _Grid) -> list[tuple[int, int, int, int]]:
    """(start, end, pitch, velocity) on the grid; a repeated pitch cuts the earlier one short."""
    out: list[list[int]] = []
    for n in notes:
        s = grid.snap(n.start)
        if s >= grid.last:
            continue
        e = grid.snap(n.end)
        if e <= s:
            e = grid.after(s)
        out.append([s, e, n.pitch, n.velocity])
    out.sort(key=lambda q: (q[0], q[2], -q[1]))
    last: dict[int, list[int]] = {}
    kept: list[list[int]] = []
    for q in out:
        prev = last.get(q[2])
        if prev is not None and prev[1] > q[0]:
            if prev[0] == q[0]:      # same pitch, same onset: keep one, the longest
                prev[1] = max(prev[1], q[1])
                prev[3] = max(prev[3], q[3])
                continue
            prev[1] = q[0]
        last[q[2]] = q
        kept.append(q)
    return [tuple(q) for q in kept]  # type: ignore[misc]


# Roles whose notes are written held to the next onset (a sung or bowed line, a pad, a bass line);
# the others (chords, arpeggios) keep their shortness as a staccato mark instead of a rest.
LEGATO_ROLES = frozenset({"", "melody", "counter-melody", "pad", "bass"})


def _readable(voices: list[list[_Chord]], bars: list[Bar], grid: _Grid, role: str) -> None:
    """Each voice as a player reads it: a gap shorter than a beat before the voice's next chord is held
    through (legato roles); otherwise a chord lasts to its next chord or the next beat line, whichever
    comes first, with a staccato dot where it sounded half of that or less. So the page does not fill with
    short rests, and piece.mid keeps what sounds."""
    legato = role in LEGATO_ROLES
    for chords in voices:
        for j, c in enumerate(chords):
            b = bars[grid.bar_index(c.start)]
            beat = _beat(b)
            nxt = chords[j + 1].start if j + 1 < len(chords) else grid.last
            if c.end >= nxt:
                continue
            if legato and nxt - c.end < beat:
                c.end = nxt
                continue
            end_bar = bars[grid.bar_index(c.end - 1)]
            line = end_bar.start + -(-(c.end - end_bar.start) // beat) * beat
            new = min(nxt, line, end_bar.end)
            if new > c.end:
                c.staccato = 2 * (c.end - c.start) <= new - c.start
                c.end = new


# --- voices -----------------------------------------------------------------

class _Chord:
    __slots__ = ("start", "end", "pitches", "velocity", "staccato")

    def __init__(self, start: int, end: int, pitches: list[int], velocity: int, staccato: bool = False):
        self.start, self.end, self.pitches, self.velocity = start, end, pitches, velocity
        self.staccato = staccato


def _chords(qnotes) -> list[_Chord]:
    groups: dict[tuple[int, int], _Chord] = {}
    for s, e, p, v in qnotes:
        c = groups.get((s, e))
        if c is None:
            groups[(s, e)] = _Chord(s, e, [p], v)
        else:
            c.pitches.append(p)
            c.velocity = max(c.velocity, v)
    for c in groups.values():
        c.pitches.sort()
    # At one onset the highest chord comes first, so it takes the upper voice.
    return sorted(groups.values(), key=lambda c: (c.start, -c.pitches[-1], c.start - c.end))


def _assign_voices(chords: list[_Chord]) -> list[list[_Chord]]:
    """Interval partitioning: each chord goes to the first voice free at its onset.

    Past MAX_VOICES, a chord joins the chord that starts with it (taking its
    length) or cuts short the voice that frees up first, so no onset is lost.
    """
    voices: list[list[_Chord]] = []
    for c in chords:
        for v in voices:
            if v[-1].end <= c.start:
                v.append(c)
                break
        else:
            if len(voices) < MAX_VOICES:
                voices.append([c])
                continue
            same = next((v[-1] for v in voices if v[-1].start == c.start), None)
            if same is not None:
                same.pitches = sorted(set(same.pitches) | set(c.pitches))
                same.velocity = max(same.velocity, c.velocity)
                continue
            v = min(voices, key=lambda v: v[-1].end)
            v[-1].end = c.start
            v.append(c)
    return voices


def _drum_voices(qnotes, grid: _Grid, bars: list[Bar]) -> list[list[_Chord]]:
    """Hands (voice 1) then feet (voice 2); each hit lasts to the next hit in its voice, within its bar."""
    out: list[list[_Chord]] = []
    for foot in (False, True):
        onsets: dict[int, list[tuple[int, int]]] = {}
        for s, _e, p, v in qnotes:
            if _DRUM_DISPLAY[p][3] == foot:
                onsets.setdefault(s, []).append((p, v))
        starts = sorted(onsets)
        chords: list[_Chord] = []
        for i, s in enumerate(starts):
            bar_end = bars[grid.bar_index(s)].end
            e = min(bar_end, s + DRUM_MAX, starts[i + 1] if i + 1 < len(starts) else bar_end)
            pitches = sorted({p for p, _ in onsets[s]})
            chords.append(_Chord(s, e, pitches, max(v for _, v in onsets[s])))
        out.append(chords)
    return out


# --- durations --------------------------------------------------------------

def _greedy(length: int) -> list[int]:
    out = []
    for v in _VALUES:
        while length >= v:
            out.append(v)
            length -= v
    if length:
        raise MusicXMLError(f"a duration of {length} ticks cannot be notated")
    return out


def _split_note(pos: int, length: int, beat: int) -> list[int]:
    """A note of length ticks at pos (ticks into the bar) as tied plain/dotted values.

    A note off the beat is one value if that value ends by the second beat line
    (the syncopated quarter); otherwise it is tied at the next beat line.
    """
    off = pos % beat
    if off:
        if length in _VALUES and off + length <= 2 * beat:
            return [length]
        first = beat - off
        if length > first:
            return _greedy(first) + _greedy(length - first)
    return _greedy(length)


def _split_rest(pos: int, length: int, beat: int, compound: bool) -> list[int]:
    """Rests from pos (ticks into the bar): each plain value, a half at most, starts on a multiple
    of itself; in compound meters a whole beat gets one dotted rest and no rest crosses a beat."""
    out = []
    while length > 0:
        if compound and pos % beat == 0 and length >= beat:
            v = beat
        else:
            limit = length
            if compound:
                limit = min(limit, beat - pos % beat)
            # No whole rest short of a full bar: it would read as a whole-measure rest.
            v = next((p for p in _PLAIN[1:] if p <= limit and pos % p == 0), 0)
            if not v:   # off any binary position (odd meters): the largest value that fits
                v = next(x for x in _VALUES if x <= limit and x < 1920)
        out.append(v)
        pos += v
        length -= v
    return out


def _compound(b: Bar) -> bool:
    return b.denominator >= 8 and b.numerator % 3 == 0 and b.numerator > 3


def _beat(b: Bar) -> int:
    return (3 if _compound(b) else 1) * PPQ * 4 // b.denominator


def _beam_group(b: Bar) -> int:
    """Length of one beam group: a dotted quarter in compound meters, else a quarter (an eighth in x/16)."""
    unit = PPQ * 4 // b.denominator
    if b.denominator >= 8:
        return 3 * unit if b.numerator % 3 == 0 else 2 * unit
    return PPQ


def _beam_levels(length: int) -> int:
    return 1 if length >= 240 else 2 if length >= 120 else 3 if length >= 60 else 4


def _beam(items: list[tuple[int, int, object]], b: Bar, group: int) -> None:
    """Beam runs of notes shorter than a quarter that fall within one beam group."""
    run: list[tuple[int, int, object]] = []
    runs: list[list[tuple[int, int, object]]] = []
    current = None
    for tick, length, el in items:
        g = (tick - b.start) // group
        fits = el is not None and length < PPQ and (tick + length - b.start - 1) // group == g
        if fits and current == g and run:
            run.append((tick, length, el))
            continue
        if len(run) > 1:
            runs.append(run)
        run, current = ([(tick, length, el)], g) if fits else ([], None)
    if len(run) > 1:
        runs.append(run)
    for run in runs:
        levels = [_beam_levels(length) for _t, length, _e in run]
        last = len(run) - 1
        for i, (_t, _length, el) in enumerate(run):
            beams = el.beams  # type: ignore[attr-defined]
            for level in range(1, levels[i] + 1):
                left = i > 0 and levels[i - 1] >= level
                right = i < last and levels[i + 1] >= level
                if left and right:
                    beams.append("continue")
                elif right:
                    beams.append("start")
                elif left:
                    beams.append("stop")
                else:   # a lone shorter value: a hook toward the group
                    beams.append("partial", "right" if i == 0 else "left")


# --- spelling ---------------------------------------------------------------

_SPELLINGS: dict[tuple[int, str, int], tuple[dict[int, tuple[StepName, int]], dict[str, int]]] = {}


def _is_step(letter: str) -> TypeGuard[StepName]:
    return letter in _NATURAL_PC


def _spelling(k: Key) -> tuple[dict[int, tuple[StepName, int]], dict[str, int]]:
    """pc -> (step, alter) for a key, and the key signature's alter per step."""
    ident = (k.sharps, k.mode, k.tonic)
    got = _SPELLINGS.get(ident)
    if got is not None:
        return got
    sharps = k.sharps
    sig: dict[str, int] = {s: 0 for s in _STEPS}
    for s in (_SHARP_ORDER[:sharps] if sharps > 0 else _FLAT_ORDER[:-sharps]):
        sig[s] = 1 if sharps > 0 else -1
    names: dict[int, tuple[StepName, int]] = {}
    for s in _STEPS:
        names[(_NATURAL_PC[s] + sig[s]) % 12] = (s, sig[s])
    if k.mode == "minor":   # raised sixth and seventh, on the letters of the natural ones
        for low in (10, 8):
            pc = (k.tonic + low) % 12
            if pc in names and (pc + 1) % 12 not in names:
                s, a = names[pc]
                names[(pc + 1) % 12] = (s, a + 1)
    spelled = FLAT_NAMES if sharps < 0 or (sharps == 0 and k.uses_flats) else SHARP_NAMES
    for pc in range(12):
        if pc not in names:
            nm = spelled[pc]
            letter = nm[0]
            assert _is_step(letter)  # note names start with their letter
            names[pc] = (letter, {"#": 1, "b": -1}.get(nm[1:2], 0))
    _SPELLINGS[ident] = (names, sig)
    return names, sig


_ACC_NAMES = {-2: "double-flat", -1: "flat", 0: "natural", 1: "sharp", 2: "double-sharp"}


def _pitch(midi: int, names: dict[int, tuple[StepName, int]]) -> m21pitch.Pitch:
    step, alter = names[midi % 12]
    octave = max(0, (midi - _NATURAL_PC[step] - alter) // 12 - 1)   # MusicXML has no octave below 0
    p = m21pitch.Pitch(step=step, octave=octave)
    if alter:
        p.accidental = m21pitch.Accidental(_ACC_NAMES[alter])
    return p


def _mark_accidentals(items: list[tuple[int, bool, Sequence[m21pitch.Pitch]]], sig: dict[str, int]) -> None:
    """Show an accidental where the key signature and the measure so far do not imply it."""
    state: dict[tuple[str, int | None], int] = {}
    for _off, continued, pitches in sorted(items, key=lambda it: it[0]):
        for p in pitches:
            acc = p.accidental
            alter = int(acc.alter) if acc is not None else 0
            if continued:
                if acc is not None:
                    acc.displayStatus = False
                continue
            ident = (p.step, p.octave)
            if alter == state.get(ident, sig[p.step]):
                if acc is not None:
                    acc.displayStatus = False
            else:
                if acc is None:
                    p.accidental = acc = m21pitch.Accidental("natural")
                acc.displayStatus = True
                state[ident] = alter


# --- building the music21 score ------------------------------------------------

_TIE_TYPES = {(False, True): "start", (True, True): "continue", (True, False): "stop"}


def _instrument(part: Part, index: int) -> m21instrument.Instrument:
    if part.is_drum:
        inst: m21instrument.Instrument = m21instrument.UnpitchedPercussion()
        inst.instrumentName = part.name or "Drum Set"
    else:
        try:
            inst = m21instrument.instrumentFromMidiProgram(part.program)
        except Exception:  # noqa: BLE001 - music21 knows no class for this program
            inst = m21instrument.Instrument()
            inst.instrumentName = part.name
        inst.midiProgram = part.program
    inst.transposition = None          # written pitches are made here; <transpose> is added after export
    inst.partName = part.name
    inst.partAbbreviation = _abbreviation(part.name, inst.instrumentAbbreviation)
    inst.instrumentAbbreviation = None
    inst.partId = f"P{index + 1}"
    inst.instrumentId = f"P{index + 1}-I1"
    inst.midiChannel = 100 + index   # unique, so music21 reassigns nothing; replaced after export
    return inst


def _abbreviation(name: str, short: str | None) -> str:
    """'Violin II' -> 'Vln. II': the instrument's own short name (or the first letters) and any numeral."""
    words = name.split()
    numeral = words[-1] if len(words) > 1 and re.fullmatch(r"[IVX]+|\d+", words[-1]) else ""
    base = (short or "").strip().rstrip(".") or (words[0][:3] if words else "")
    return f"{base}. {numeral}".strip() if base else name


def _clef(part: Part, qnotes) -> m21clef.Clef:
    """The clef that fits the part's (written) range: octave clefs for the octave transposers, the alto
    clef for the viola, the tenor clef for a cello, bassoon or trombone part that lives high."""
    if part.is_drum:
        return m21clef.PercussionClef()
    pitches = sorted(q[2] for q in qnotes)
    median = pitches[len(pitches) // 2] if pitches else 60
    prog = part.program
    if 32 <= prog <= 39 or prog == 43:
        return m21clef.Bass8vbClef() if median < 60 else m21clef.Treble8vbClef()
    if 24 <= prog <= 31:
        return m21clef.Treble8vbClef() if median >= 48 else m21clef.BassClef()
    if prog in (72, 8, 9) and median >= 72:   # piccolo, celesta, glockenspiel: sound an octave (or two) up
        return m21clef.Treble8vaClef()
    if prog == 41:
        return m21clef.AltoClef() if 50 <= median < 69 else m21clef.TrebleClef() if median >= 69 \
            else m21clef.BassClef()
    if prog in (42, 57, 70):
        return m21clef.TenorClef() if 58 <= median < 67 else m21clef.TrebleClef() if median >= 67 \
            else m21clef.BassClef()
    return m21clef.BassClef() if median < 55 else m21clef.TrebleClef()


# MusicXML's <kind> (music21's names) per chord quality, and the tones added to that kind (degree, alter).
_KINDS: dict[str, tuple[str, tuple[tuple[int, int], ...]]] = {
    "maj": ("major", ()), "min": ("minor", ()), "dim": ("diminished", ()), "aug": ("augmented", ()),
    "sus2": ("suspended-second", ()), "sus4": ("suspended-fourth", ()), "5": ("power", ()),
    "7": ("dominant-seventh", ()), "maj7": ("major-seventh", ()), "min7": ("minor-seventh", ()),
    "minmaj7": ("minor-major-seventh", ()), "hdim7": ("half-diminished-seventh", ()),
    "dim7": ("diminished-seventh", ()), "aug7": ("augmented-seventh", ()),
    "7sus4": ("suspended-fourth-seventh", ()), "maj6": ("major-sixth", ()), "min6": ("minor-sixth", ()),
    "9": ("dominant-ninth", ()), "maj9": ("major-ninth", ()), "min9": ("minor-ninth", ()),
    "add9": ("major", ((9, 0),)), "7b9": ("dominant-seventh", ((9, -1),)), "7#9": ("dominant-seventh", ((9, 1),)),
    "11": ("dominant-11th", ()), "min11": ("minor-11th", ()), "13": ("dominant-13th", ()),
}


def _note_name(text: str) -> str | None:
    """'Eb' -> 'E-' (music21's spelling) from the front of a chord symbol or its bass."""
    if not text or text[0] not in "ABCDEFG":
        return None
    return text[0] + ("-" if text[1:2] == "b" else "#" if text[1:2] == "#" else "")


def _chord_symbol(chord: Chord, up: int = 0, names: dict[int, tuple[StepName, int]] | None = None
                  ) -> m21harmony.ChordSymbol | None:
    """The chord as a notation chord symbol spelled as the plan spells it (transposed `up` semitones for
    a transposing part, spelled in its written key); None for one it cannot name."""
    kind = _KINDS.get(chord.quality)
    root = _note_name(chord.text)
    bass = _note_name(chord.text.partition("/")[2])
    if kind is None or root is None:
        return None
    if up and names:
        def name(pc: int) -> str:
            step, alter = names[pc % 12]
            return step + {-2: "--", -1: "-", 0: "", 1: "#", 2: "##"}[alter]
        root = name(chord.root + up)
        bass = name(chord.bass + up) if chord.bass is not None and bass else None
    cs = m21harmony.ChordSymbol(root=root, bass=bass, kind=kind[0])
    for degree, alter in kind[1]:
        cs.addChordStepModification(m21harmony.ChordStepModification("add", degree, alter), updatePitches=False)
    cs.writeAsChord = False
    return cs


# Keyboards and the harp: one player on a grand staff (pianos, harpsichord, clavinet, celesta, organs, harp).
GRAND_STAFF = frozenset({*range(0, 9), *range(16, 21), 46})
HAND_SPAN = 14   # semitones one hand takes as a chord


def _hands(qnotes, tune: set[tuple[int, int]]) -> tuple[list, list]:
    """Right- and left-hand notes. A merged tune is the right hand's; any other chord goes whole to the
    hand whose register holds it when one hand spans it, else splits at its widest gap; a single note
    stays with the hand that played the last one near it, changing hands away from middle C."""
    right: list[tuple[int, int, int, int]] = []
    left: list[tuple[int, int, int, int]] = []
    groups: dict[int, list[tuple[int, int, int, int]]] = {}
    for q in qnotes:
        (right if (q[0], q[2]) in tune else groups.setdefault(q[0], [])).append(q)
    last_right = True
    for s in sorted(groups):
        group = sorted(groups[s], key=lambda q: q[2])
        pitches = [q[2] for q in group]
        if len(group) == 1:
            p = pitches[0]
            hand_right = p >= 64 or (p >= 55 and last_right)
            (right if hand_right else left).append(group[0])
            last_right = hand_right
            continue
        if pitches[-1] - pitches[0] <= HAND_SPAN:
            hand_right = sum(pitches) / len(pitches) >= 60
            (right if hand_right else left).extend(group)
            last_right = hand_right
            continue
        gaps = [(pitches[j + 1] - pitches[j], j) for j in range(len(pitches) - 1)]
        cut = max(gaps)[1] + 1
        left.extend(group[:cut])
        right.extend(group[cut:])
        last_right = True
    return right, left


def player_groups(parts: list[Part]) -> list[list[Part]]:
    """The tracks each player reads as one part: a lone keyboard's or guitar's accompaniment track
    ("Piano Chords") goes with its tune ("Piano"); every other track is a player of its own."""
    names = {p.name: p for p in parts}
    joined = {p.name for p in parts if p.name.endswith(" Chords") and not p.is_drum
              and (base := names.get(p.name[:-len(" Chords")])) is not None and base.program == p.program}
    return [[p] + ([names[p.name + " Chords"]] if p.name + " Chords" in joined else [])
            for p in parts if p.name not in joined]


def _players(parts: list[Part]) -> list[tuple[Part, frozenset[tuple[int, int]]]]:
    """One part per player; for a joined pair, the tune's (start, pitch), which the right hand takes."""
    out: list[tuple[Part, frozenset[tuple[int, int]]]] = []
    for group in player_groups(parts):
        p = group[0]
        if len(group) == 1:
            out.append((p, frozenset()))
            continue
        notes = sorted([n for q in group for n in q.notes], key=lambda n: (n.start, n.pitch))
        merged = dataclasses.replace(p, notes=notes, pedal=p.pedal or group[1].pedal)
        out.append((merged, frozenset((n.start, n.pitch) for n in p.notes)))
    return out


class _Builder:
    def __init__(self, score: Score, feel: str = "", tempo_words: str = ""):
        self.feel = feel
        self.tempo_words = tempo_words
        self.score = score
        self.bars = _bars(score)
        self.grid = _Grid(self.bars)
        self.origin = self.bars[0].start
        n = len(self.bars)
        # Key per bar: a key change snaps to the nearest barline.
        keys: list[Key | None] = [None] * n
        for tick, k in score.keys:
            i = self.grid.bar_index(tick)
            b = self.bars[i]
            if tick - b.start > b.length // 2:
                i += 1
            if i < n:
                for j in range(i, n):
                    keys[j] = k
        default = Key(0, "major")
        self.keys = [k or default for k in keys]
        self.drum_ids: dict[int, list[int]] = {}   # part index -> used drum keys
        # Tempo and rehearsal marks per bar, on the grid; of two tempi at one point the later wins.
        tempos: dict[int, float] = {}
        for tick, bpm in score.tempos:
            t = self.grid.snap(tick)
            if t < self.grid.last:
                tempos[t] = bpm
        self.tempo_marks: dict[int, list[tuple[int, float]]] = {}
        for t, bpm in sorted(tempos.items()):
            self.tempo_marks.setdefault(self.grid.bar_index(t), []).append((t, bpm))
        self.rehearsal_marks: dict[int, list[tuple[int, str]]] = {}
        for tick, name in score.markers:
            t = self.grid.snap(tick)
            if t < self.grid.last and str(name).strip():
                self.rehearsal_marks.setdefault(self.grid.bar_index(t), []).append((t, str(name).strip()))
        # Where the sections start (the markers), for the dynamics of each part.
        self.section_bounds = sorted({self.grid.snap(t) for t, _ in score.markers} | {self.bars[0].start}) + \
            [self.grid.last]
        # Chord symbols above the first pitched part (the top staff a player reads them from).
        # (at concert pitch when a part is, so the changes read the same as the piano's).
        pitched = [i for i, p in enumerate(score.parts) if not p.is_drum]
        self.chord_part = next((i for i in pitched if score.parts[i].program not in _TRANSPOSE), pitched[0]) \
            if pitched else None
        self.transposed: dict[int, int] = {}   # part index -> semitones written above sounding
        self.wedges: dict[int, list[tuple[int, int, str]]] = {}   # part index -> hairpins
        self.staves = 0   # staves in the whole score (a grand staff is two), for the page
        self.chord_marks: dict[int, dict[int, Chord]] = {}
        for tick, chord in score.chords:
            t = self.grid.snap(tick)
            if t < self.grid.last:
                self.chord_marks.setdefault(self.grid.bar_index(t), {})[t] = chord

    @staticmethod
    def key_signatures(m: stream.Measure, i: int, drum: bool, keys: list[Key]) -> None:
        if drum:
            if i == 0:
                m.coreInsert(0.0, m21key.KeySignature(0))
            return
        if i == 0 or keys[i].sharps != keys[i - 1].sharps:
            m.coreInsert(0.0, m21key.KeySignature(keys[i].sharps))

    def part(self, index: int, part: Part, tune: frozenset[tuple[int, int]] = frozenset()) -> list[stream.Part]:
        """The part's staves: one, or two (right and left hand) for a keyboard or harp; `tune` holds the
        (start, pitch) of notes that are a merged melody, which the right hand plays."""
        bars, grid = self.bars, self.grid
        up = 0 if part.is_drum else _TRANSPOSE.get(part.program, (0, (0, 0, 0)))[0]
        if up:   # written pitch: the player's part sounds `up` semitones lower than written
            self.transposed[index] = up
        keys = self.keys if not up else [_transposed(k, up) for k in self.keys]
        qnotes = _quantize(part.notes, grid)
        if up:
            qnotes = [(s, e, p + up, v) for s, e, p, v in qnotes if 0 <= p + up <= 127]
        if part.is_drum:
            self.drum_ids[index] = sorted({q[2] for q in qnotes})
        grand = not part.is_drum and part.program in GRAND_STAFF
        if grand:
            tune_q = {(grid.snap(s), p) for s, p in tune}
            right, left = _hands(qnotes, tune_q)
            staves: list[tuple[list[tuple[int, int, int, int]], m21clef.Clef]] = [
                (right, m21clef.TrebleClef()), (left, m21clef.BassClef())]
        else:
            staves = [(qnotes, _clef(part, qnotes))]
        self.staves += len(staves)
        marks, wedges = self.dynamic_marks(part)
        if wedges:
            self.wedges[index] = wedges
        out: list[stream.Part] = []
        for k, (notes, first_clef) in enumerate(staves):
            if part.is_drum:
                voices = _drum_voices(notes, grid, bars)
            else:
                voices = _assign_voices(_chords(notes))
                _readable(voices, bars, grid, part.role)
            # Per bar, per voice: chords sounding in the bar.
            per_bar: list[dict[int, list[_Chord]]] = [dict() for _ in bars]
            for vi, chords in enumerate(voices):
                for c in chords:
                    i = grid.bar_index(c.start)
                    while i < len(bars) and bars[i].start < c.end:
                        per_bar[i].setdefault(vi, []).append(c)
                        i += 1
            p: stream.Part = stream.PartStaff() if grand else stream.Part()
            p.id = f"P{index + 1}" if k == 0 else f"P{index + 1}-S{k + 1}"
            p.partName = part.name
            p.atSoundingPitch = True
            if k == 0:
                p.coreInsert(0.0, _instrument(part, index))
            top = k == 0
            prev_meter = None
            for i, b in enumerate(bars):
                m = stream.Measure(number=i + 1)
                if i == 0:
                    m.coreInsert(0.0, first_clef)
                self.key_signatures(m, i, part.is_drum, keys)
                if (b.numerator, b.denominator) != prev_meter:
                    m.coreInsert(0.0, meter.TimeSignature(f"{b.numerator}/{b.denominator}"))
                    prev_meter = (b.numerator, b.denominator)
                if index == 0 and top:
                    self.directions(m, i)
                if i in marks and top:
                    m.coreInsert((marks[i][0] - b.start) / PPQ, m21dynamics.Dynamic(marks[i][1]))
                if index == self.chord_part and top:
                    for t, chord in sorted(self.chord_marks.get(i, {}).items()):
                        cs = _chord_symbol(chord, up, _spelling(keys[i])[0])
                        if cs is not None:
                            m.coreInsert((t - b.start) / PPQ, cs)
                self.fill(m, b, keys[i], per_bar[i], part.is_drum)
                if i == len(bars) - 1:
                    m.rightBarline = m21bar.Barline("final")
                m.coreElementsChanged()
                p.coreInsert((b.start - self.origin) / PPQ, m)
            p.coreElementsChanged()
            out.append(p)
        return out

    def dynamic_marks(self, part: Part) -> tuple[dict[int, tuple[int, str]], list[tuple[int, int, str]]]:
        """The part's dynamic at the start of each section (the markers), where it changes: its notes' mean
        velocity there, read as pp ... ff; and a hairpin over the last two bars before a section two or more
        levels louder (a build) or softer (a fade). Returns bar index -> (tick of its first note, mark), and
        the hairpins as (first bar, bar where it stops, "crescendo" | "diminuendo")."""
        out: dict[int, tuple[int, str]] = {}
        wedges: list[tuple[int, int, str]] = []
        prev: tuple[int, int] | None = None   # (level, bar index the section started in)
        for lo, hi in zip(self.section_bounds, self.section_bounds[1:]):
            notes = [n for n in part.notes if lo <= n.start < hi]
            if not notes:
                continue
            mean = sum(n.velocity for n in notes) / len(notes)
            level = next(i for i, (top, _name) in enumerate(_DYNAMICS) if mean < top)
            first = self.grid.snap(min(n.start for n in notes))
            if first >= self.grid.last:
                continue
            bar = self.grid.bar_index(first)
            if prev is None or level != prev[0]:
                out[bar] = (first, _DYNAMICS[level][1])
            if prev is not None and abs(level - prev[0]) >= 2 and bar - 2 >= prev[1] + 1:
                start = self.grid.bar_index(self.grid.snap(lo))
                if any(self.bars[bar - 2].start <= n.start < self.bars[bar - 1].end for n in part.notes) \
                        and bar - 2 >= 0 and start == bar:
                    wedges.append((bar - 2, bar, "crescendo" if level > prev[0] else "diminuendo"))
            prev = (level, bar)
        return out, wedges

    def directions(self, m: stream.Measure, i: int) -> None:
        b = self.bars[i]
        if i == 0:
            # The tempo words, then the feel where they do not already name it ("Medium swing").
            said = [self.tempo_words] if self.tempo_words else []
            if self.feel and self.feel.split()[-1].lower() not in self.tempo_words.lower():
                said.append(self.feel)
            for text in said:
                words = expressions.TextExpression(text)
                words.placement = "above"  # type: ignore[assignment]
                words.style.fontWeight = "bold"  # type: ignore[attr-defined]  # a TextStyle, typed as its base Style
                m.coreInsert(0.0, words)
        for t, bpm in self.tempo_marks.get(i, []):
            # The beat a player counts: the dotted quarter in 6/8, 9/8 and 12/8.
            beat = 1.5 if _compound(self.bars[self.grid.bar_index(t)]) else 1.0
            number = round(float(bpm) / beat, 2)
            mm = m21tempo.MetronomeMark(number=int(number) if number == int(number) else number,
                                        referent=m21duration.Duration(beat))
            mm.placement = "above"  # type: ignore[assignment]  # music21 leaves it unannotated (inferred None)
            m.coreInsert((t - b.start) / PPQ, mm)
        for t, name in self.rehearsal_marks.get(i, []):
            rm = expressions.RehearsalMark(name)
            rm.placement = "above"  # type: ignore[attr-defined]  # music21's exporter reads it via hasattr
            m.coreInsert((t - b.start) / PPQ, rm)

    def fill(self, m: stream.Measure, b: Bar, key: Key, voices: dict[int, list[_Chord]], drum: bool) -> None:
        if not voices:
            r = m21note.Rest(quarterLength=b.length / PPQ)
            r.fullMeasure = True
            m.coreInsert(0.0, r)
            return
        names, sig = _spelling(key)
        beat = _beat(b)
        accidental_items: list[tuple[int, bool, Sequence[m21pitch.Pitch]]] = []
        # Voice numbers stay with the voices (so a tie never changes voice at a barline); a bar whose
        # only music is in a lower voice keeps that voice and gets a resting voice 1.
        used = sorted(voices)
        multi = len(used) > 1 or used[0] != 0
        for vi in ([0] if multi and used[0] != 0 else []) + used:
            target: stream.Stream = stream.Voice() if multi else m
            if multi:
                target.id = vi + 1
            stem: str | None
            if drum:
                stem = "down" if vi == 1 else "up"
            else:
                stem = ("up" if vi % 2 == 0 else "down") if multi else None
            pos = b.start
            items: list[tuple[int, int, object]] = []   # (tick, length, note or chord; None for a rest)
            for c in voices.get(vi, []):
                s, e = max(c.start, b.start), min(c.end, b.end)
                if s > pos:
                    self.rests(target, pos, s, b, beat, items)
                pieces = _split_note(s - b.start, e - s, beat)
                if drum:   # a hit is one value; whatever it does not cover becomes rest
                    pieces = pieces[:1]
                    e = s + pieces[0]
                off = s
                for j, length in enumerate(pieces):
                    before = c.start < b.start or j > 0
                    after = c.end > b.end or j < len(pieces) - 1
                    el = self.make_chord(c, length, drum, names, stem, _TIE_TYPES.get((before, after)))
                    if c.staccato and j == 0 and not drum:
                        el.articulations.append(articulations.Staccato())
                    if not drum:
                        accidental_items.append((off, before, el.pitches if isinstance(el, m21chord.Chord)
                                                 else [el.pitch]))
                    target.coreInsert((off - b.start) / PPQ, el)
                    items.append((off, length, el))
                    off += length
                pos = e
            if pos < b.end:
                self.rests(target, pos, b.end, b, beat, items)
            _beam(items, b, _beam_group(b))
            if multi:
                target.coreElementsChanged()
                m.coreInsert(0.0, target)
        if accidental_items:
            _mark_accidentals(accidental_items, sig)

    @staticmethod
    def rests(target: stream.Stream, s: int, e: int, b: Bar, beat: int, items: list) -> None:
        if s == b.start and e == b.end:
            r = m21note.Rest(quarterLength=b.length / PPQ)
            r.fullMeasure = True
            target.coreInsert(0.0, r)
            return
        pos = s
        for length in _split_rest(s - b.start, e - s, beat, _compound(b)):
            r = m21note.Rest(quarterLength=length / PPQ)
            r.fullMeasure = False       # spares the exporter a context search per rest
            target.coreInsert((pos - b.start) / PPQ, r)
            items.append((pos, length, None))
            pos += length

    def make_chord(self, c: _Chord, length: int, drum: bool, names, stem, tie_type):
        d = length / PPQ
        el: m21note.NotRest
        if drum:
            notes = []
            for pitch in c.pitches:
                step, octave, head, _foot = _DRUM_DISPLAY[pitch]
                u = m21note.Unpitched(quarterLength=d)
                u.displayStep, u.displayOctave = step, octave
                if head != "normal":
                    u.notehead = head
                u.id = f"drum{pitch}"   # mapped to its <score-instrument> after export
                notes.append(u)
            el = notes[0] if len(notes) == 1 else percussion.PercussionChord(notes, quarterLength=d)
        elif len(c.pitches) == 1:
            el = m21note.Note(_pitch(c.pitches[0], names), quarterLength=d)
            if tie_type:
                el.tie = m21tie.Tie(tie_type)
        else:
            members = [m21note.Note(_pitch(x, names)) for x in c.pitches]
            if tie_type:
                for n in members:
                    n.tie = m21tie.Tie(tie_type)
            el = m21chord.Chord(members, quarterLength=d)
        if stem:
            el.stemDirection = stem
        el.volume.velocity = c.velocity
        return el


# --- export -----------------------------------------------------------------

def _drum_instruments(sp: Element, part: Element, part_id: str, pitches: list[int], channel: int) -> None:
    """One <score-instrument> per drum sound (in the part's <score-part>), and an <instrument> reference on
    each drum note."""
    if pitches:
        for el in list(sp):
            if el.tag in ("score-instrument", "midi-instrument"):
                sp.remove(el)
        for pitch in pitches:
            name = GM_DRUM_NAMES.get(pitch, f"Percussion {pitch}")
            si = SubElement(sp, "score-instrument", id=f"{part_id}-I{pitch}")
            SubElement(si, "instrument-name").text = name
        for pitch in pitches:
            mi = SubElement(sp, "midi-instrument", id=f"{part_id}-I{pitch}")
            SubElement(mi, "midi-channel").text = str(channel + 1)
            SubElement(mi, "midi-program").text = "1"
            SubElement(mi, "midi-unpitched").text = str(pitch + 1)
    for n in part.iter("note"):
        nid = n.attrib.pop("id", None)
        if not nid or not nid.startswith("drum"):
            continue
        inst = Element("instrument", id=f"{part_id}-I{nid[4:]}")
        # <instrument> follows <duration> and any <tie> in a <note>.
        idx = 0
        for j, child in enumerate(list(n)):
            if child.tag in ("duration", "tie", "unpitched", "chord", "grace"):
                idx = j + 1
        n.insert(idx, inst)


def _one_instrument(sp: Element, part: Element, part_id: str) -> None:
    """A pitched part is one instrument: no per-note <instrument> (music21 gives a grand staff's lower staff
    one of its own), and only the part's own <score-instrument>."""
    own = f"{part_id}-I1"
    for el in list(sp):
        if el.tag in ("score-instrument", "midi-instrument", "midi-device") and el.get("id") not in (own, None):
            sp.remove(el)
    for n in part.iter("note"):
        for inst in n.findall("instrument"):
            n.remove(inst)


def _hairpins(part: Element, wedges: list[tuple[int, int, str]]) -> None:
    """Crescendo and diminuendo wedges below the (upper) staff, from a barline to a barline."""
    measures = part.findall("measure")

    def put(index: int, kind: str) -> None:
        if index >= len(measures):
            return
        m = measures[index]
        d = Element("direction", placement="below")
        SubElement(SubElement(d, "direction-type"), "wedge", type=kind, number="1")
        SubElement(d, "staff").text = "1"
        first = next((j for j, child in enumerate(m) if child.tag in ("note", "backup", "forward")), len(m))
        m.insert(first, d)
    for start, stop, kind in wedges:
        put(start, kind)
        put(stop, "stop")


# A staff with the space to the next one takes about 3 staff heights; an A4 page has about 250 mm for
# systems. A big ensemble gets smaller staves, so a whole system fits on a page, as a conductor's score is.
_PAGE_MM = 250.0
_STAFF_MM = (3.6, 7.0)


def _fit_the_page(root: Element, staves: int) -> None:
    """Scale the staff size (MusicXML's millimetres per 40 tenths) so one system of every staff fits."""
    mm = max(_STAFF_MM[0], min(_STAFF_MM[1], _PAGE_MM / (3.0 * max(1, staves))))
    scaling = root.find("defaults/scaling/millimeters")
    if scaling is not None:
        scaling.text = f"{mm:.2f}".rstrip("0").rstrip(".")


def _transpose_element(part: Element, how: tuple[int, int, int]) -> None:
    """<transpose> in the first measure's <attributes> (after the clef, where MusicXML orders it)."""
    attrs = part.find("measure/attributes")
    if attrs is None:
        return
    el = Element("transpose")
    SubElement(el, "diatonic").text = str(how[0])
    SubElement(el, "chromatic").text = str(how[1])
    if how[2]:
        SubElement(el, "octave-change").text = str(how[2])
    before = ("divisions", "key", "time", "staves", "part-symbol", "instruments", "clef", "staff-details")
    idx = max((j + 1 for j, child in enumerate(attrs) if child.tag in before), default=0)
    attrs.insert(idx, el)


def _midi_channels(parts: dict[str | None, Element], channels: list[tuple[int, int]]) -> None:
    """The channels of midi_io.channel_map (1-based in MusicXML), and a <midi-device> port past 16 channels;
    `parts` are the <score-part> elements by id."""
    for i, (port, ch) in enumerate(channels):
        sp = parts.get(f"P{i + 1}")
        if sp is None:
            continue
        for mi in [el for el in sp if el.tag == "midi-instrument"]:
            mc = mi.find("midi-channel")
            if mc is None:
                mc = Element("midi-channel")
                mi.insert(0, mc)
            mc.text = str(ch + 1)
            if port:
                sp.insert(list(sp).index(mi), Element("midi-device", id=mi.get("id", ""), port=str(port + 1)))


# Mean MIDI velocity -> the dynamic a player reads (upper bounds).
_DYNAMICS = ((40, "pp"), (54, "p"), (66, "mp"), (80, "mf"), (96, "f"), (999, "ff"))


def to_musicxml(score: Score, progress: Progress | None = None, feel: str = "", tempo_words: str = "") -> bytes:
    """The Score as MusicXML 4 (score-partwise, UTF-8, with DOCTYPE). `feel` is the style's playing
    instruction printed over the first bar ("Swing", "Shuffle"): the notes are written straight, as jazz
    is read; `tempo_words` go with the first metronome mark ("Allegro", "Medium swing")."""
    # music21 objects reference each other in cycles; collecting them while thousands are being
    # made costs a third of the export, so the collector waits until the document is done.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _to_musicxml(score, progress, feel, tempo_words)
    finally:
        if was_enabled:
            gc.enable()


# Characters XML 1.0 does not allow at all (a document holding one is not well-formed).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _plain_names(score: Score) -> Score:
    """The score with its title, part names and markers free of control characters (notes shared)."""
    parts = [dataclasses.replace(p, name=plain_text(p.name)) for p in score.parts]
    return dataclasses.replace(score, title=plain_text(score.title), parts=parts,
                               markers=[(t, plain_text(n)) for t, n in score.markers])


def _xml_legal(root: Element) -> None:
    """Drop XML-illegal characters from every text, tail and attribute in the tree, wherever they came from."""
    for el in root.iter():
        if el.text and _XML_ILLEGAL.search(el.text):
            el.text = _XML_ILLEGAL.sub("", el.text)
        if el.tail and _XML_ILLEGAL.search(el.tail):
            el.tail = _XML_ILLEGAL.sub("", el.tail)
        for k, v in el.attrib.items():
            if _XML_ILLEGAL.search(v):
                el.set(k, _XML_ILLEGAL.sub("", v))


def _to_musicxml(score: Score, progress: Progress | None, feel: str = "", tempo_words: str = "") -> bytes:
    if not score.parts:
        raise MusicXMLError("the score has no parts")
    score.validate()
    score = _plain_names(score)
    players = _players(score.parts)
    score = dataclasses.replace(score, parts=[p for p, _ in players])
    builder = _Builder(score, plain_text(feel), plain_text(tempo_words))
    channels = channel_map(score.parts)
    total = len(score.parts) + 1
    sc = stream.Score()
    md = metadata.Metadata()
    if score.title:
        md.title = score.title
    sc.coreInsert(0.0, md)
    for i, (part, tune) in enumerate(players):
        if progress:
            progress(i / total, f"notating {part.name}")
        staves = builder.part(i, part, tune)
        for st in staves:
            sc.coreInsert(0.0, st)
        if len(staves) > 1:
            group = layout.StaffGroup(staves, name=part.name, symbol="brace")
            group.barTogether = True
            sc.coreInsert(0.0, group)
    sc.coreElementsChanged()
    sc.atSoundingPitch = True
    if progress:
        progress(len(score.parts) / total, "writing MusicXML")
    exporter = ScoreExporter(sc, makeNotation=False)
    root = exporter.parse()
    heads = {sp.get("id"): sp for sp in root.iter("score-part")}   # each part's <score-part> and <part>, found once
    bodies = {p.get("id"): p for p in root.iter("part")}
    for i, part in enumerate(score.parts):
        pid = f"P{i + 1}"
        head, body = heads[pid], bodies[pid]
        if part.is_drum:
            _drum_instruments(head, body, pid, builder.drum_ids.get(i, []), channels[i][1])
        else:
            _one_instrument(head, body, pid)
        if i in builder.wedges:
            _hairpins(body, builder.wedges[i])
        if i in builder.transposed:
            _transpose_element(body, _TRANSPOSE[part.program][1])
    _midi_channels(heads, channels)
    _fit_the_page(root, builder.staves)
    ident = root.find("identification")
    if ident is not None:
        for cr in ident.findall("creator"):
            if cr.get("type") == "composer" and cr.text == m21defaults.author:
                ident.remove(cr)   # music21's placeholder, not the piece's composer
    movement = root.find("movement-title")
    if movement is not None and not score.title and movement.text == m21defaults.title:
        root.remove(movement)
    _xml_legal(root)
    data = exporter.asBytes()
    if progress:
        progress(1.0, "MusicXML done")
    return data


def write_musicxml(score: Score, path: str | os.PathLike, progress: Progress | None = None) -> Path:
    """Write the Score to path atomically: the old file stays intact if anything fails."""
    path = Path(path)
    return atomic_write(path, to_musicxml(score, progress))
