"""Per-style measurements: the things a musician hears first (swing, ride, backbeat, walking bass, ...).

Pure functions over the internal Score types (notes in ticks at PPQ 480, bars from the score's grid). Each
returns a float, NaN when the measure does not apply (no drums, no eligible bars, no chords), so the same
code measures the arrangers' output and human data.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .harmony import Chord, Key, parse_roman
from .instruments import instrument_of
from .score import PPQ, Bar, Note, Score, sounding

NAN = float("nan")
TOL = PPQ // 8  # a 32nd note: how far from a grid point a hit may land and still count as on it
SWING_WINDOW = (0.4, 0.8)  # where in the beat an off-beat eighth may land, straight (0.5) to hard swing
ON_GRID = 0.04  # an off-beat within this of 0.5 of the beat is played straight
LATE = 0.58  # an off-beat at this fraction of the beat or later is swung (between straight 0.5 and triplet 0.667)

KICK = frozenset({35, 36})
SNARE = frozenset({38, 40})
CROSS_STICK = frozenset({37})
HIHAT = frozenset({42, 44, 46})
RIDE = frozenset({51, 53, 59})
CRASH = frozenset({49, 57})
TOMS = frozenset({41, 43, 45, 47, 48, 50})

SEVENTH_QUALITIES = frozenset({"7", "maj7", "min7", "minmaj7", "hdim7", "dim7", "aug7", "7sus4", "9", "maj9",
                               "min9", "7b9", "7#9", "11", "min11", "13"})
DOMINANT_QUALITIES = frozenset({"7", "9", "11", "13", "7b9", "7#9", "aug7", "7sus4"})
MINOR_SEVENTH_QUALITIES = frozenset({"min7", "min9", "min11", "hdim7"})


# --- the grid ------------------------------------------------------------------------------------

def beat_ticks(bar: Bar) -> int:
    """Ticks in one beat of the bar's meter (its denominator's note value)."""
    return PPQ * 4 // bar.denominator


def _bar_starts(bars: Sequence[Bar]) -> np.ndarray:
    return np.array([b.start for b in bars], dtype=np.int64)


def _by_bar(notes: Iterable[Note], bars: Sequence[Bar], early: int = TOL) -> list[list[Note]]:
    """The notes whose onset falls in each bar, in time order. A note up to `early` ticks before a bar line
    belongs to the bar it leads into: a downbeat played a hair early is still that bar's downbeat."""
    out: list[list[Note]] = [[] for _ in bars]
    if not bars:
        return out
    starts = _bar_starts(bars)
    for n in sorted(notes, key=lambda n: (n.start, n.pitch)):
        i = int(np.searchsorted(starts, n.start + early, side="right")) - 1
        if 0 <= i < len(bars) and n.start + early < bars[i].end:
            out[i].append(n)
    return out


def _hit_near(notes: Iterable[Note], tick: int, pitches: frozenset[int], tol: int = TOL) -> bool:
    return any(n.pitch in pitches and abs(n.start - tick) <= tol for n in notes)


def _share(flags: Sequence[bool]) -> float:
    return float(np.mean(flags)) if len(flags) else NAN


# --- timing: swing and the off-beat --------------------------------------------------------------

def offbeat_positions(notes: Iterable[Note], bars: Sequence[Bar]) -> np.ndarray:
    """Per quarter-note beat, where the first onset in the middle of the beat (0.4-0.8) lands, as a fraction
    of the beat; simple meters only (denominator 2 or 4), where an off-beat eighth is a swing eighth.

    One sample per beat: a beat of straight sixteenths (0, .25, .5, .75) reads 0.5, not the 0.75 too."""
    out: list[float] = []
    for bar, ns in zip(bars, _by_bar(notes, bars)):
        if bar.denominator not in (2, 4):
            continue
        first: dict[int, float] = {}
        for n in ns:
            k, pos = divmod(n.start - bar.start, PPQ)
            frac = pos / PPQ
            if SWING_WINDOW[0] <= frac < SWING_WINDOW[1] and frac < first.get(k, 2.0):
                first[k] = frac
        out.extend(first.values())
    return np.array(out, dtype=float)


def swing_ratio(notes: Iterable[Note], bars: Sequence[Bar]) -> float:
    """Median position of the off-beat eighth within the beat: 0.5 straight, 0.667 triplet swing."""
    pos = offbeat_positions(notes, bars)
    return float(np.median(pos)) if len(pos) else NAN


def late_offbeat_share(notes: Iterable[Note], bars: Sequence[Bar], lo: float = LATE) -> float:
    """Share of off-beat eighths that land at `lo` of the beat or later (swung)."""
    pos = offbeat_positions(notes, bars)
    return float(np.mean(pos >= lo)) if len(pos) else NAN


def on_grid_offbeat_share(notes: Iterable[Note], bars: Sequence[Bar]) -> float:
    """Share of off-beat eighths within 0.04 of the beat's middle (played straight)."""
    pos = offbeat_positions(notes, bars)
    return float(np.mean(np.abs(pos - 0.5) <= ON_GRID + 1e-9)) if len(pos) else NAN


# --- drums ---------------------------------------------------------------------------------------

def _drum_bars(drums: Iterable[Note], bars: Sequence[Bar], meters: set[tuple[int, int]] | None = None
               ) -> list[tuple[Bar, list[Note]]]:
    """(bar, hits) for the bars where the drums play, optionally only bars of the given meters."""
    return [(b, ns) for b, ns in zip(bars, _by_bar(drums, bars))
            if ns and (meters is None or (b.numerator, b.denominator) in meters)]


def ride_share(drums: Iterable[Note], bars: Sequence[Bar]) -> float:
    """Share of the bars where the drums play that have 3 or more ride hits (GM 51, 53, 59)."""
    return _share([sum(n.pitch in RIDE for n in ns) >= 3 for _, ns in _drum_bars(drums, bars)])


def hihat_24_share(drums: Iterable[Note], bars: Sequence[Bar]) -> float:
    """Share of the 4/4 bars where the drums play with a hi-hat (GM 42, 44, 46) on beats 2 and 4."""
    return _share([_hit_near(ns, b.start + PPQ, HIHAT) and _hit_near(ns, b.start + 3 * PPQ, HIHAT)
                   for b, ns in _drum_bars(drums, bars, {(4, 4)})])


def _loudest_near(notes: Iterable[Note], tick: int, pitches: frozenset[int], tol: int = TOL) -> int:
    return max((n.velocity for n in notes if n.pitch in pitches and abs(n.start - tick) <= tol), default=0)


def backbeat_share(drums: Iterable[Note], bars: Sequence[Bar]) -> float:
    """Share of the 4/4 bars where the drums play with a snare (GM 38, 40) on beats 2 and 4, louder than any
    snare on 1 and 3 (brushes stroking every beat alike are not a backbeat)."""
    flags = []
    for b, ns in _drum_bars(drums, bars, {(4, 4)}):
        back = min(_loudest_near(ns, b.start + k * PPQ, SNARE) for k in (1, 3))
        front = max(_loudest_near(ns, b.start + k * PPQ, SNARE) for k in (0, 2))
        flags.append(back > 0 and back > front)
    return _share(flags)


def kick_on_one_share(drums: Iterable[Note], bars: Sequence[Bar]) -> float:
    """Share of the bars where the drums play with a kick (GM 35, 36) on the downbeat."""
    return _share([_hit_near(ns, b.start, KICK) for b, ns in _drum_bars(drums, bars)])


def one_drop_share(drums: Iterable[Note], bars: Sequence[Bar]) -> float:
    """Share of the 4/4 bars where the drums play with a kick on beat 3 and none on beat 1 (reggae's one drop)."""
    return _share([_hit_near(ns, b.start + 2 * PPQ, KICK) and not _hit_near(ns, b.start, KICK)
                   for b, ns in _drum_bars(drums, bars, {(4, 4)})])


def cross_stick_share(drums: Iterable[Note], bars: Sequence[Bar]) -> float:
    """Share of the bars where the drums play that have 2 or more cross-stick hits (GM 37)."""
    return _share([sum(n.pitch in CROSS_STICK for n in ns) >= 2 for _, ns in _drum_bars(drums, bars)])


def tom_hits_per_bar(drums: Iterable[Note], bars: Sequence[Bar]) -> float:
    """Tom hits (GM 41, 43, 45, 47, 48, 50) per bar where the drums play."""
    played = _drum_bars(drums, bars)
    return sum(n.pitch in TOMS for _, ns in played for n in ns) / len(played) if played else NAN


def crashes_not_at_section_start(drums: Iterable[Note], bars: Sequence[Bar], section_starts: Iterable[int]
                                 ) -> float:
    """Crash hits (GM 49, 57) that do not fall on the first beat of a section."""
    drums = list(drums)
    if not drums:
        return NAN
    starts = sorted(set(section_starts))
    firsts = []
    for t in starts:
        b = bars[max(0, int(np.searchsorted(_bar_starts(bars), t, side="right")) - 1)] if bars else None
        firsts.append((t - TOL, t + (beat_ticks(b) if b else PPQ)))
    return float(sum(n.pitch in CRASH and not any(lo <= n.start < hi for lo, hi in firsts) for n in drums))


# --- bass and melody lines -----------------------------------------------------------------------

def _line(notes: Iterable[Note]) -> list[Note]:
    """The lowest note at each onset, in time order: a bass line with double stops read as one voice."""
    low: dict[int, Note] = {}
    for n in notes:
        if n.start not in low or n.pitch < low[n.start].pitch:
            low[n.start] = n
    return [low[t] for t in sorted(low)]


def walking_share(bass: Iterable[Note], bars: Sequence[Bar]) -> float:
    """Share of the 4/4, 2/2 and 3/4 bars where the bass plays that walk: an onset on every quarter, about one
    note per quarter (within 1), and 3/4 of the moves a fifth (5 semitones) or less."""
    line = _line(bass)
    flags = []
    prev: Note | None = None
    for bar, ns in zip(bars, _by_bar(line, bars)):
        if not ns:
            continue
        if (bar.numerator, bar.denominator) in ((4, 4), (2, 2), (3, 4)):
            beats = bar.length // PPQ
            on_every = all(any(abs(n.start - (bar.start + k * PPQ)) <= TOL for n in ns) for k in range(beats))
            seq = ([prev] if prev is not None else []) + ns
            moves = [abs(b.pitch - a.pitch) for a, b in zip(seq, seq[1:])]
            small = sum(m <= 5 for m in moves) >= 0.75 * len(moves) if moves else False
            flags.append(on_every and abs(len(ns) - beats) <= 1 and small)
        prev = ns[-1]
    return _share(flags)


def leap_share(notes: Iterable[Note]) -> float:
    """Share of moves between consecutive onsets (lowest note of each) of an octave (12 semitones) or more."""
    line = _line(notes)
    moves = [abs(b.pitch - a.pitch) for a, b in zip(line, line[1:])]
    return float(np.mean([m >= 12 for m in moves])) if moves else NAN


def median_notes_per_bar(notes: Iterable[Note], bars: Sequence[Bar]) -> float:
    """Median number of onsets per bar over the bars where the part plays (a reel's running eighths: 8)."""
    counts = [len({n.start for n in ns}) for ns in _by_bar(notes, bars) if ns]
    return float(np.median(counts)) if counts else NAN


def blue_note_share(notes: Iterable[Note], key: Key) -> float:
    """Share of notes on a blue note of the key: b3 (in major), b5 or b7 above the tonic."""
    blue = {3, 6, 10} if key.mode == "major" else {6, 10}
    pcs = [(n.pitch - key.tonic) % 12 for n in notes]
    return float(np.mean([pc in blue for pc in pcs])) if pcs else NAN


def oom_pah_share(bass: Iterable[Note], accompaniment: Iterable[Note], bars: Sequence[Bar]) -> float:
    """Share of the 3/4 bars where the bass plays on beat 1 and the accompaniment on beats 2 and 3 (a waltz)."""
    flags = []
    for bar, bs, acc in zip(bars, _by_bar(bass, bars), _by_bar(accompaniment, bars)):
        if (bar.numerator, bar.denominator) != (3, 4) or not (bs or acc):
            continue
        flags.append(any(abs(n.start - bar.start) <= TOL for n in bs)
                     and all(any(abs(n.start - bar.start - k * PPQ) <= TOL for n in acc) for k in (1, 2)))
    return _share(flags)


# --- chord symbols -------------------------------------------------------------------------------

def _changes(chords: Iterable[Chord]) -> list[Chord]:
    """The chord sequence with repeats of the same symbol in a row merged."""
    out: list[Chord] = []
    for c in chords:
        if not out or (out[-1].root, out[-1].quality, out[-1].bass) != (c.root, c.quality, c.bass):
            out.append(c)
    return out


def seventh_share(chords: Iterable[Chord]) -> float:
    """Share of the chord symbols that are seventh chords or richer (7, maj7, m7, m7b5, dim7, 9, 13, ...)."""
    cs = list(chords)
    return float(np.mean([c.quality in SEVENTH_QUALITIES for c in cs])) if cs else NAN


def two_five_count(chords: Iterable[Chord], n_bars: int | None = None) -> float:
    """ii-V motions (m7 or m7b5, then a dominant a fourth up) in the chord changes; per 32 bars when n_bars
    is given."""
    cs = _changes(chords)
    if not cs:
        return NAN
    count = sum(a.quality in MINOR_SEVENTH_QUALITIES and b.quality in DOMINANT_QUALITIES
                and (b.root - a.root) % 12 == 5 for a, b in zip(cs, cs[1:]))
    return count * 32 / n_bars if n_bars else float(count)


# Quality classes a vocabulary is written in: colour tones (6, add9, 9 on a maj7) keep the class.
_QUALITY_CLASS = {
    "maj": "maj", "maj6": "maj", "add9": "maj", "min": "min", "min6": "min", "dim": "dim", "aug": "aug",
    "sus2": "sus", "sus4": "sus", "5": "sus",
    "7": "7", "9": "7", "11": "7", "13": "7", "7b9": "7", "7#9": "7", "7sus4": "7", "aug7": "7",
    "maj7": "maj7", "maj9": "maj7", "min7": "min7", "min9": "min7", "min11": "min7", "minmaj7": "minmaj7",
    "hdim7": "hdim7", "dim7": "dim7",
}
# The triad under each class: a bare triad is in a vocabulary that lists a richer chord on it.
_CLASS_TRIAD = {"7": "maj", "maj7": "maj", "min7": "min", "minmaj7": "min", "hdim7": "dim", "dim7": "dim"}

Vocabulary = Mapping[str, frozenset[tuple[int, str]]]  # mode -> {(semitones above the tonic, quality class)}


def vocabulary(major: Iterable[str], minor: Iterable[str]) -> dict[str, frozenset[tuple[int, str]]]:
    """A vocabulary from Roman numerals per mode: 'ii7', 'bVII', 'vii°7', 'V7/V' (secondary), 'N6'.

    Minor-mode numerals count from the natural minor scale, so there VI and VII are the flat sixth and seventh."""
    def entry(text: str, mode: str) -> tuple[int, str]:
        if text == "N6":
            text = "bII"
        head, _, target = text.partition("/")
        root = 0
        if target:
            root = parse_roman(target, Key(0, mode)).root
        c = parse_roman(head, Key(root, "major" if target else mode))
        return c.root % 12, _QUALITY_CLASS[c.quality]
    return {"major": frozenset(entry(t, "major") for t in major),
            "minor": frozenset(entry(t, "minor") for t in minor)}


def in_vocabulary(chord: Chord, key: Key, vocab: Vocabulary) -> bool:
    """Whether the chord's degree and quality class are in the vocabulary for the key's mode. A bare triad
    matches a richer chord on the same triad; a sus or power chord matches a major or minor one."""
    allowed = vocab.get(key.mode, frozenset())
    off = (chord.root - key.tonic) % 12
    cls = _QUALITY_CLASS.get(chord.quality, chord.quality)
    if (off, cls) in allowed:
        return True
    if cls in ("maj", "min", "dim"):
        return any(o == off and _CLASS_TRIAD.get(c) == cls for o, c in allowed)
    if cls == "sus":
        return any(o == off and (c in ("maj", "min") or _CLASS_TRIAD.get(c) in ("maj", "min")) for o, c in allowed)
    return False


def out_of_vocabulary_share(chords: Iterable[Chord], key: Key, vocab: Vocabulary) -> float:
    """Share of the chord symbols outside the style's vocabulary (degree and quality class in the key)."""
    cs = list(chords)
    return float(np.mean([not in_vocabulary(c, key, vocab) for c in cs])) if cs else NAN


_SECONDARY = ["V7/ii", "V7/iii", "V7/IV", "V7/V", "V7/vi"]
_DIATONIC_MAJOR = ["I", "ii", "iii", "IV", "V", "vi", "vii°"]
_DIATONIC_MINOR = ["i", "ii°", "III", "iv", "v", "V", "VI", "VII", "#vii°"]
# What an idiomatic chart of each style family uses, per mode; anything else reads as out of the idiom.
VOCABULARY: dict[str, dict[str, frozenset[tuple[int, str]]]] = {
    "jazz": vocabulary(
        ["Imaj7", "I7", "ii7", "iii7", "IVmaj7", "iv7", "V7", "vi7", "viiø7", "bII7", "bIIImaj7", "bVImaj7",
         "bVII7", "#i°7", "#ii°7", "#iv°7", "iiø7", "#ivø7", "VI7", "II7", "III7", "VII7", *_SECONDARY],
        ["i7", "imMaj7", "iiø7", "bII7", "IIImaj7", "iv7", "IV7", "v7", "V7", "VImaj7", "VII7", "#vii°7", "ii7",
         "V7/iv", "V7/III", "V7/VI", "V7/V"]),
    "blues": vocabulary(["I7", "IV7", "V7", "ii7", "VI7", "#iv°7", "bVII7", "iv7"],
                        ["i7", "iv7", "v7", "V7", "VI7", "ii7", "iiø7", "VII7"]),
    "celtic": vocabulary(["I", "IV", "V", "V7", "bVII", "vi", "ii", "V7/V"], ["i", "VII", "VI", "iv", "v", "III", "V"]),
    "bossa": vocabulary(
        ["Imaj7", "ii7", "iii7", "IVmaj7", "V7", "vi7", "viiø7", "iv7", "bVII7", "bII7", "#i°7", "#ii°7", "#iv°7",
         "iiø7", *_SECONDARY],
        ["i7", "imMaj7", "iiø7", "IIImaj7", "iv7", "v7", "V7", "VImaj7", "VII7", "bII7", "#vii°7", "V7/iv",
         "V7/III"]),
    "pop": vocabulary([*_DIATONIC_MAJOR, "Imaj7", "ii7", "iii7", "IVmaj7", "V7", "vi7", "bVII", "iv", "bVI",
                       "bIII", "V/ii", "V/iii", "V/V", "V/vi", *_SECONDARY],
                      [*_DIATONIC_MINOR, "i7", "iv7", "v7", "V7", "VImaj7", "IIImaj7", "V/V", "bII"]),
    "classical": vocabulary([*_DIATONIC_MAJOR, "V7", "Imaj7", "ii7", "iii7", "IVmaj7", "vi7", "viiø7", "vii°7",
                             "V/V", "V7/V", "vii°7/V", "N6", "iv", "V7/IV", "V7/vi", "V7/ii"],
                            [*_DIATONIC_MINOR, "V7", "iiø7", "iv7", "IIImaj7", "VImaj7", "#vii°7", "V/V", "V7/V",
                             "N6", "V7/iv", "VII7", "V7/III"]),
}


# --- the whole score -----------------------------------------------------------------------------

def range_violations(score: Score) -> float:
    """Notes of pitched parts outside their instrument's comfortable range (symbolic/data/ranges.json)."""
    bad = 0
    for p in score.parts:
        if p.is_drum:
            continue
        inst = instrument_of(p.name, p.program)
        bad += sum(not (inst.low <= n.pitch <= inst.high) for n in p.notes)
    return float(bad)


def extreme_violations(score: Score) -> float:
    """Notes of pitched parts outside what a professional plays on the instrument at all (its extreme range)."""
    bad = 0
    for p in score.parts:
        if not p.is_drum:
            inst = instrument_of(p.name, p.program)
            bad += sum(not (inst.lowest <= n.pitch <= inst.highest) for n in p.notes)
    return float(bad)


def unplayable_chords(score: Score) -> float:
    """Onsets where a pitched part starts notes its one player cannot hold together: a chord on a wind, more
    strings than a guitar has or a span its hand cannot stop, a keyboard chord out of two hands' reach."""
    from .arrange.finish import holdable
    bad = 0
    for p in score.parts:
        if p.is_drum:
            continue
        inst = instrument_of(p.name, p.program)
        at: dict[int, set[int]] = {}
        for n in p.notes:
            at.setdefault(n.start, set()).add(n.pitch)
        bad += sum(not holdable(sorted(ps), inst) for ps in at.values())
    return float(bad)


def under_bass_share(score: Score) -> float:
    """Share of the accompaniment's notes (counter-melody, chords, pad, arpeggio) that start under the bass note
    sounding: the bass is the lowest voice."""
    notes = [n for p in score.parts if p.role == "bass" and not p.is_drum for n in p.notes]
    if not notes:
        return NAN
    bass = sounding(notes)
    under = total = 0
    for p in score.parts:
        if p.role not in ("counter-melody", "chords", "pad", "arpeggio") or p.is_drum:
            continue
        for n in p.notes:
            floor = min(bass(n.start), default=None)
            if floor is not None:
                total += 1
                under += n.pitch < floor
    return under / total if total else NAN


def _onset_pcs(notes: Iterable[Note]) -> dict[int, set[int]]:
    """The pitch classes struck at each onset."""
    out: dict[int, set[int]] = {}
    for n in notes:
        out.setdefault(n.start, set()).add(n.pitch % 12)
    return out


def doubles_tune(notes: Sequence[Note], melody: Sequence[Note], tol: int = TOL) -> bool:
    """Whether a part plays the tune: 0.8 of its onsets fall with a melody onset of the same pitch class, and it
    strikes at least half as often as the melody where it plays (a note held under the tune is not the tune)."""
    if not notes or not melody:
        return False
    lo, hi = min(n.start for n in notes), max(n.end for n in notes)
    if len(notes) < 0.5 * len({m.start for m in melody if lo <= m.start < hi}):
        return False
    tune = _onset_pcs(melody)
    starts = np.array(sorted(tune), dtype=np.int64)
    hits = 0
    for n in notes:
        i = int(np.searchsorted(starts, n.start - tol))
        hits += any(abs(int(starts[j]) - n.start) <= tol and n.pitch % 12 in tune[int(starts[j])]
                    for j in (i, i + 1) if j < len(starts))
    return hits >= 0.8 * len(notes)


def melody_on_top_share(score: Score) -> float:
    """Share of melody notes at or above the highest note the other pitched parts sound at their onset
    (melody notes with nothing else sounding are left out)."""
    melody = [n for p in score.parts if p.role == "melody" and not p.is_drum for n in p.notes]
    # A part playing the tune with the melody (in unison or octaves, as a session's whistle does) is the tune,
    # and so is a counter-melody's note struck with the tune's top note in unison or octaves above (violins in
    # octaves).
    peak = {m.start: m.pitch for m in _top_line(melody)}

    def doubling(n: Note) -> bool:
        t = peak.get(n.start)
        return t is not None and n.pitch >= t and (n.pitch - t) % 12 == 0
    others = [n for p in score.parts if p.role != "melody" and not p.is_drum and not doubles_tune(p.notes, melody)
              for n in p.notes if not (p.role == "counter-melody" and doubling(n))]
    if not melody or not others:
        return NAN
    heard = sounding(others)
    on_top = total = 0
    for m in melody:
        top = max(heard(m.start), default=None)
        if top is None:
            continue
        total += 1
        on_top += m.pitch >= top
    return on_top / total if total else NAN


# --- arrangement craft: the lead's line, the parts together, the form and the energy --------------------------

def _lead(score: Score, role: str = "melody") -> list[Note]:
    return _top_line([n for p in score.parts if p.role == role and not p.is_drum for n in p.notes])


def _top_line(notes: Iterable[Note]) -> list[Note]:
    top: dict[int, Note] = {}
    for n in notes:
        if n.start not in top or n.pitch > top[n.start].pitch:
            top[n.start] = n
    return [top[t] for t in sorted(top)]


def line_figures(notes: Iterable[Note]) -> tuple[float, float, float]:
    """A line's (top note at each onset) share of moves by step (a second or a repeat), share of moves wider
    than an octave, and share of its leaps (a fifth or more) answered by a turn back."""
    line = _top_line(notes)
    moves = [b.pitch - a.pitch for a, b in zip(line, line[1:])]
    if not moves:
        return NAN, NAN, NAN
    answered = [m2 * m1 < 0 for m1, m2 in zip(moves, moves[1:]) if abs(m1) >= 7]
    return (float(np.mean([abs(m) <= 2 for m in moves])), float(np.mean([abs(m) > 12 for m in moves])),
            _share(answered))


def step_share(score: Score) -> float:
    """Share of the melody's moves by step."""
    return line_figures(_lead(score))[0]


def wide_leap_share(score: Score) -> float:
    """Share of the melody's moves wider than an octave."""
    return line_figures(_lead(score))[1]


def answered_leap_share(score: Score) -> float:
    """Of the melody's leaps (a fifth or more), the share answered: the next move turns back."""
    return line_figures(_lead(score))[2]


def doubling_share(melody: Iterable[Note], counter: Iterable[Note], tol: int = TOL) -> float:
    """Share of a second line's onsets that fall with an onset of the first while sounding another note
    (doubling its rhythm rather than answering in its rests); a note doubling the tune itself, in unison or
    octaves, is the tune and is left out."""
    tune = _onset_pcs(melody)
    starts = np.array(sorted(tune), dtype=np.int64)
    if not len(starts):
        return NAN
    flags = []
    for n in {n.start: n for n in counter}.values():
        i = int(np.searchsorted(starts, n.start))
        near = [int(starts[j]) for j in (i - 1, i) if 0 <= j < len(starts) and abs(int(starts[j]) - n.start) <= tol]
        if near and n.pitch % 12 in tune[near[0]]:
            continue
        flags.append(bool(near))
    return float(np.mean(flags)) if flags else NAN


def counter_doubling_share(score: Score) -> float:
    """Share of the counter-melody's onsets that fall with a melody onset (nan where it plays the tune itself)."""
    melody = [n for p in score.parts if p.role == "melody" and not p.is_drum for n in p.notes]
    counter = [n for p in score.parts if p.role == "counter-melody" and not p.is_drum
               and not doubles_tune(p.notes, melody) for n in p.notes]
    return doubling_share(_top_line(melody), _top_line(counter))


def _bar_content(score: Score, bars: Sequence[Bar], roles: Sequence[str] = ()) -> list[set[tuple[int, int, int]]]:
    """Per bar: (part, sixteenth in the bar, pitch) of every pitched onset (of the parts in `roles`, if any)."""
    out: list[set[tuple[int, int, int]]] = [set() for _ in bars]
    starts = _bar_starts(bars)
    for pi, p in enumerate(score.parts):
        if p.is_drum or (roles and p.role not in roles):
            continue
        for n in p.notes:
            b = int(np.searchsorted(starts, n.start, side="right")) - 1
            if 0 <= b < len(bars):
                out[b].add((pi, (n.start - bars[b].start) * 4 // PPQ, n.pitch))
    return out


def section_similarity(score: Score, sheet) -> tuple[float, float]:
    """(sections sharing their material, sections that do not): the mean bar-by-bar similarity (Jaccard of
    part, sixteenth and pitch of the onsets) of two sections' aligned bars, read on the melody and the bass
    (the tune and the harmony's foundation, what makes a return the same music; the accompaniment may be
    orchestrated anew) or on every pitched part where there is neither. A returning A is recognisably the
    same music when the first is high; contrasting sections contrast when the second is low."""
    roles = ("melody", "bass") if any(p.role in ("melody", "bass") and not p.is_drum for p in score.parts) else ()
    content = _bar_content(score, [b.bar for b in sheet.bars], roles)
    same: list[float] = []
    other: list[float] = []
    secs = sheet.sections
    for i in range(len(secs)):
        for j in range(i + 1, len(secs)):
            a, b = secs[i], secs[j]
            sims = []
            for k in range(min(a.n_bars, b.n_bars)):
                x, y = content[a.first_bar + k], content[b.first_bar + k]
                if x or y:
                    sims.append(len(x & y) / len(x | y))
            if sims:
                (same if a.material == b.material else other).append(float(np.mean(sims)))
    return (float(np.mean(same)) if same else NAN), (float(np.mean(other)) if other else NAN)


def _thirds(score: Score, bars: Sequence[Bar]) -> tuple[list[list[int]], list[list[int]], list[int]] | None:
    """The first and last third of the bars: the velocities of their pitched notes, each bar's pitch span, and
    how many bars each third has (None under three bars)."""
    n = len(bars)
    if n < 3:
        return None
    starts = _bar_starts(bars)
    thirds = [range(0, n // 3), range(n - n // 3, n)]
    vel: list[list[int]] = [[], []]
    per_bar: dict[int, list[int]] = {}
    for p in score.parts:
        if p.is_drum:
            continue
        for note in p.notes:
            b = int(np.searchsorted(starts, note.start, side="right")) - 1
            per_bar.setdefault(b, []).append(note.pitch)
            for t, r in enumerate(thirds):
                if b in r:
                    vel[t].append(note.velocity)
    spans = [[max(per_bar[b]) - min(per_bar[b]) for b in r if b in per_bar] for r in thirds]
    return vel, spans, [len(r) for r in thirds]


def velocity_rise(score: Score, bars: Sequence[Bar]) -> float:
    """Mean velocity of the pitched notes in the last third of the bars minus that of the first third."""
    got = _thirds(score, bars)
    if got is None or not got[0][0] or not got[0][1]:
        return NAN
    vel = got[0]
    return float(np.mean(vel[1]) - np.mean(vel[0]))


def energy_arc(score: Score, bars: Sequence[Bar]) -> tuple[float, float, float]:
    """Last third of the piece over its first third: (mean velocity, pitched onsets per bar, pitch span per
    bar). Above 1 the piece ends louder, denser and wider than it starts."""
    got = _thirds(score, bars)
    if got is None:
        return NAN, NAN, NAN
    vel, spans, sizes = got
    if not vel[0] or not vel[1] or not spans[0]:
        return NAN, NAN, NAN
    return (float(np.mean(vel[1]) / np.mean(vel[0])), (len(vel[1]) / sizes[1]) / max(1e-9, len(vel[0]) / sizes[0]),
            float(np.mean(spans[1]) / max(1e-9, float(np.mean(spans[0])))))
