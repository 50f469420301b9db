"""The internal Score: notes in integer ticks on a bar grid, plus the Sheet the arrangers read.

Plain validated containers in the spirit of pretty_midi; conversions to MIDI,
MusicXML and audio live at the edges (midi_io, musicxml, audio.render).
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .harmony import Chord, Key
from .style import Idiom

PPQ = 480
# Caps every path shares (brief, plan, MIDI import, rendering): the single definition.
# What a long step reports as it goes: (fraction 0..1, message); the pipeline adds the step's name.
Progress = Callable[[float, str], None]

MAX_TRACKS = 32
MAX_SECONDS = 30 * 60
# A performance may push the last notes and the sustain pedal a little past the written end, so a score
# checked by validate() (and so any render) may run this much past MAX_SECONDS; imports get no such room.
RELEASE_SECONDS = 60
MIN_BPM, MAX_BPM = 20.0, 400.0
MAX_METER = 32  # numerator 1-32, denominator a power of two 1-32
METER_DENOMINATORS = (1, 2, 4, 8, 16, 32)


class ScoreError(ValueError):
    """An invalid note, part or score."""


# Line and field separators among the C0/C1 controls read as a space; the other controls (NUL, ESC,
# ...), lone surrogates and the non-characters U+FFFE/U+FFFF are dropped.
_CONTROL_SPACE = re.compile("[\t\n\v\f\r\x1c-\x1f\x85]+")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]+")


def plain_text(text: str) -> str:
    """A name or marker without control characters (ordinary Unicode is kept), on one line.

    Titles, part names and markers come from users' files and reach terminals (where ESC starts an
    escape sequence), XML (where most controls are illegal) and file names.
    """
    text = _CONTROL.sub("", _CONTROL_SPACE.sub(" ", str(text)))
    return re.sub(" {2,}", " ", text).strip()


@dataclass(slots=True)
class Note:
    start: int
    end: int
    pitch: int
    velocity: int

    def __post_init__(self) -> None:
        if not (0 <= self.pitch <= 127):
            raise ScoreError(f"pitch {self.pitch} outside 0-127")
        if not (1 <= self.velocity <= 127):
            raise ScoreError(f"velocity {self.velocity} outside 1-127")
        if self.start < 0 or self.end <= self.start:
            raise ScoreError(f"note {self.pitch} has start {self.start} and end {self.end}")

    @property
    def duration(self) -> int:
        return self.end - self.start


@dataclass
class Part:
    """One instrument: a named track with a GM program (drums use the GM drum bank)."""

    name: str
    program: int = 0
    is_drum: bool = False
    role: str = ""
    notes: list[Note] = field(default_factory=list)
    # Sustain pedal (MIDI CC64) as (down, up) tick spans, sorted and disjoint.
    pedal: list[tuple[int, int]] = field(default_factory=list)
    # The mixer: channel volume (CC7) and pan (CC10, 0 left, 64 centre, 127 right), as General MIDI starts them,
    # and the reverb send (CC91; 0, as FluidSynth starts it, leaves the SoundFont's own amount).
    volume: int = 100
    pan: int = 64
    reverb: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.program <= 127):
            raise ScoreError(f"part {self.name!r} has program {self.program} outside 0-127")
        if not all(0 <= v <= 127 for v in (self.volume, self.pan, self.reverb)):
            raise ScoreError(f"part {self.name!r} has volume {self.volume}, pan {self.pan} or reverb "
                             f"{self.reverb} outside 0-127")
        check_pedal(self.pedal, self.name)

    def sort(self) -> None:
        self.notes.sort(key=lambda n: (n.start, n.pitch, n.end))


def sounding(notes: list[Note]) -> Callable[[int], list[int]]:
    """For some notes, a function giving the pitches of those that sound at a tick (struck at or before it,
    not yet ended)."""
    ordered = sorted(notes, key=lambda n: n.start)
    starts = [n.start for n in ordered]
    longest = max((n.duration for n in ordered), default=0)

    def at(tick: int) -> list[int]:
        lo, hi = bisect.bisect_left(starts, tick - longest), bisect.bisect_right(starts, tick)
        return [m.pitch for m in ordered[lo:hi] if m.end > tick]
    return at


def check_pedal(spans: list[tuple[int, int]], name: str = "") -> None:
    """Raise ScoreError unless the pedal spans are sorted, disjoint and non-empty."""
    prev = -1
    for down, up in spans:
        if down < 0 or up <= down or down < prev:
            raise ScoreError(f"part {name!r} has a sustain pedal span ({down}, {up}) that is empty, "
                             "negative or overlaps the previous one")
        prev = up


@dataclass(frozen=True, slots=True)
class Bar:
    start: int
    numerator: int
    denominator: int

    @property
    def length(self) -> int:
        return self.numerator * PPQ * 4 // self.denominator

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass
class Score:
    """Multi-track music on a bar grid. Times are ticks at PPQ 480."""

    title: str = ""
    parts: list[Part] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    tempos: list[tuple[int, float]] = field(default_factory=lambda: [(0, 120.0)])
    keys: list[tuple[int, Key]] = field(default_factory=list)
    markers: list[tuple[int, str]] = field(default_factory=list)
    # The plan's chord symbols where they change (and at each section start), for notation; MIDI has no
    # place for them, so a score read back from MIDI gets them from its plan.
    chords: list[tuple[int, Chord]] = field(default_factory=list)
    ppq: int = PPQ

    @property
    def end_tick(self) -> int:
        last_note = max((n.end for p in self.parts for n in p.notes), default=0)
        last_bar = self.bars[-1].end if self.bars else 0
        return max(last_note, last_bar)

    @property
    def last_tick(self) -> int:
        """The last tick anything sounds or is scheduled: end_tick or a later sustain pedal release."""
        last_pedal = max((up for p in self.parts for _, up in p.pedal), default=0)
        return max(self.end_tick, last_pedal)

    @property
    def n_notes(self) -> int:
        return sum(len(p.notes) for p in self.parts)

    def time_signatures(self) -> list[tuple[int, int, int]]:
        """(tick, numerator, denominator) wherever the meter changes."""
        out: list[tuple[int, int, int]] = []
        for b in self.bars:
            if not out or (out[-1][1], out[-1][2]) != (b.numerator, b.denominator):
                out.append((b.start, b.numerator, b.denominator))
        return out

    def seconds(self, tick: int) -> float:
        """Seconds at a tick under the tempo map."""
        t, sec, bpm = 0, 0.0, self.tempos[0][1] if self.tempos else 120.0
        for tt, b in self.tempos[1:]:
            if tt >= tick:
                break
            sec += (tt - t) * 60.0 / (bpm * self.ppq)
            t, bpm = tt, b
        return sec + (tick - t) * 60.0 / (bpm * self.ppq)

    @property
    def duration(self) -> float:
        return self.seconds(self.end_tick)

    def bar_at(self, tick: int) -> int:
        starts = [b.start for b in self.bars]
        return max(0, bisect.bisect_right(starts, tick) - 1)

    def key_at(self, tick: int) -> Key | None:
        cur = None
        for t, k in self.keys:
            if t > tick:
                break
            cur = k
        return cur

    def validate(self) -> None:
        """Raise ScoreError unless the score is within the caps every consumer (export, render) relies on."""
        if len(self.parts) > MAX_TRACKS:
            raise ScoreError(f"{len(self.parts)} tracks; at most {MAX_TRACKS} are allowed")
        for i, b in enumerate(self.bars):
            check_meter(b.numerator, b.denominator, f"bar {i + 1}")
        for i in range(1, len(self.bars)):
            if self.bars[i].start != self.bars[i - 1].end:
                raise ScoreError(f"bar {i + 1} does not start where bar {i} ends")
        prev = -1
        for tick, bpm in self.tempos:
            check_tempo(bpm, tick)
            if tick < prev or tick < 0:  # the tempo map is searched by tick: it must be in order
                raise ScoreError(f"tempo change at tick {tick} is out of order")
            prev = tick
        # Every duration check goes through the tempo map, so the tempos are checked first.
        seconds = self.seconds(self.last_tick)
        if seconds > MAX_SECONDS + RELEASE_SECONDS:
            raise ScoreError(f"the score lasts {seconds / 60:.1f} minutes; at most {MAX_SECONDS // 60} minutes "
                             f"(plus {RELEASE_SECONDS} s of release) are allowed")


def check_tempo(bpm: float, tick: int = 0) -> None:
    """Raise ScoreError unless bpm is a finite tempo within MIN_BPM-MAX_BPM."""
    if not (MIN_BPM <= bpm <= MAX_BPM):  # also false for NaN
        raise ScoreError(f"tempo {bpm:g} BPM at tick {tick} is outside {MIN_BPM:g}-{MAX_BPM:g} BPM")


def check_meter(numerator: int, denominator: int, where: str = "") -> None:
    """Raise ScoreError unless the meter has a numerator 1-32 and a power-of-two denominator 1-32."""
    at = f" at {where}" if where else ""
    if not (1 <= numerator <= MAX_METER) or denominator not in METER_DENOMINATORS:
        raise ScoreError(f"time signature {numerator}/{denominator}{at} is outside numerators 1-{MAX_METER} "
                         f"and denominators {', '.join(map(str, METER_DENOMINATORS))}")


# --- the Sheet: what arrangers read ----------------------------------------

@dataclass(frozen=True, slots=True)
class ChordSpan:
    start: int  # absolute tick
    end: int
    chord: Chord


@dataclass
class SheetBar:
    index: int
    bar: Bar
    tempo: float
    key: Key
    chords: list[ChordSpan]
    section: int

    def chord_at(self, tick: int) -> Chord:
        for c in self.chords:
            if c.start <= tick < c.end:
                return c.chord
        return self.chords[-1].chord


@dataclass
class SheetSection:
    name: str
    label: str
    energy: int
    first_bar: int
    n_bars: int
    description: str = ""

    @property
    def bar_range(self) -> range:
        return range(self.first_bar, self.first_bar + self.n_bars)

    @property
    def material(self) -> str:
        """The material the label names: A' and A'' are A varied (a label of primes only is its own)."""
        return self.label.strip().rstrip("'’ ") or self.label.strip()

    @property
    def primes(self) -> int:
        label = self.label.strip()
        return len(label) - len(label.rstrip("'’"))

    @property
    def last_bar(self) -> int:
        """Index of the section's last bar (where its cadence falls)."""
        return self.first_bar + self.n_bars - 1


@dataclass
class PartSpec:
    name: str
    role: str
    program: int
    drum: bool = False
    kit: str | None = None  # a drum part that is not a drum set: its instrument (symbolic.instruments.PERCUSSION)


@dataclass
class Sheet:
    """A lead sheet for a whole piece: the bar grid with meter, tempo, key and chords, the form and the parts."""

    title: str
    style: str
    bars: list[SheetBar]
    sections: list[SheetSection]
    parts: list[PartSpec]
    idiom: Idiom = field(default_factory=Idiom)  # the style as data: feel, grooves (symbolic.style)

    def ticks(self, section: SheetSection) -> tuple[int, int]:
        """Where a section starts and ends, in ticks."""
        return self.bars[section.first_bar].bar.start, self.bars[section.last_bar].bar.end

    def empty_score(self) -> Score:
        score = Score(title=self.title)
        score.bars = [b.bar for b in self.bars]
        score.tempos, score.keys, score.markers = [], [], []
        for b in self.bars:
            if not score.tempos or score.tempos[-1][1] != b.tempo:
                score.tempos.append((b.bar.start, b.tempo))
            if not score.keys or score.keys[-1][1] != b.key:
                score.keys.append((b.bar.start, b.key))
        for s in self.sections:
            score.markers.append((self.bars[s.first_bar].bar.start, s.name))
        score.chords = self.chord_changes()
        score.parts = [Part(p.name, p.program, p.drum, p.role) for p in self.parts]
        return score

    def chord_changes(self) -> list[tuple[int, Chord]]:
        """(tick, chord) wherever the chord symbol changes, and at the start of every section."""
        starts = {self.bars[s.first_bar].bar.start for s in self.sections if s.first_bar < len(self.bars)}
        out: list[tuple[int, Chord]] = []
        for b in self.bars:
            for c in b.chords:
                if not out or c.start in starts or out[-1][1].text != c.chord.text:
                    out.append((c.start, c.chord))
        return out
