"""Readers for the chord and structure annotations of public corpora.

Pure helpers shared by the harmony-table builder (training.harmony_table) and the training-data builder
(training.corpora): Harte chord labels (McGill Billboard, POP909), reduction of any chord to a small
set of token qualities, key estimation from chords, POP909 phrase labels, music21 chord symbols and
barlines of lead sheets, compressed MusicXML and in-memory .tar.gz reading.
"""
from __future__ import annotations

import io
import re
import sqlite3
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import cast

from .harmony import HarmonyError, parse_note_name

# Qualities a token may carry; every chord is reduced to the nearest of these.
TOKEN_QUALITIES = ("maj", "min", "7", "maj7", "min7", "dim", "hdim7", "dim7", "aug",
                   "sus4", "sus2", "maj6", "min6", "9")
MODES = ("major", "minor")

# --- chord qualities ----------------------------------------------------------------------------

# Semitones of chord degrees (Harte / MusicXML numbering).
DEGREE_SEMITONES = {1: 0, 2: 2, 3: 4, 4: 5, 5: 7, 6: 9, 7: 11, 8: 12, 9: 14, 10: 16, 11: 17,
                     12: 19, 13: 21}

# Harte shorthands as degree lists.
_HARTE_SHORTHANDS = {
    "maj": "1,3,5", "min": "1,b3,5", "dim": "1,b3,b5", "aug": "1,3,#5",
    "maj7": "1,3,5,7", "min7": "1,b3,5,b7", "7": "1,3,5,b7", "dim7": "1,b3,b5,bb7",
    "hdim7": "1,b3,b5,b7", "minmaj7": "1,b3,5,7", "maj6": "1,3,5,6", "min6": "1,b3,5,6",
    "9": "1,3,5,b7,9", "maj9": "1,3,5,7,9", "min9": "1,b3,5,b7,9",
    "11": "1,3,5,b7,9,11", "maj11": "1,3,5,7,9,11", "min11": "1,b3,5,b7,9,11",
    "13": "1,3,5,b7,9,11,13", "maj13": "1,3,5,7,9,11,13", "min13": "1,b3,5,b7,9,11,13",
    "sus2": "1,2,5", "sus4": "1,4,5", "1": "1", "5": "1,5",
}
_DEGREE_RE = re.compile(r"^(\*?)([#b\-]*)(\d{1,2})$")


def degree_semitones(text: str) -> tuple[bool, int]:
    """'b7' -> (False, 10); '*3' -> (True, 4) (an omitted degree); '#11' -> (False, 18).

    Flats may be written 'b' (Harte) or '-' (music21). Raises ValueError.
    """
    m = _DEGREE_RE.match(text.strip())
    if not m or int(m.group(3)) not in DEGREE_SEMITONES:
        raise ValueError(f"unknown chord degree {text!r}")
    shift = sum(1 if a == "#" else -1 for a in m.group(2))
    return m.group(1) == "*", DEGREE_SEMITONES[int(m.group(3))] + shift


def classify_intervals(intervals: Iterable[int]) -> str:
    """Reduce a chord (semitones above its root; 9ths may be 2 or 14) to one of TOKEN_QUALITIES.

    A major and a minor third together read as a major chord with a sharp ninth; a 2nd, 4th or 6th
    next to a third reads as a 9th, 11th or 13th; a chord without a third is sus4, sus2, a seventh
    chord (power chord with a flat seventh) or a major chord (power chords).
    """
    pcs = {i % 12 for i in intervals}
    has = pcs.__contains__
    if has(4):
        if has(8) and not has(7):
            return "7" if has(10) else "aug"
        if has(10):
            return "9" if (has(2) or has(5) or has(9)) else "7"
        if has(11):
            return "maj7"
        if has(9):
            return "maj6"
        return "maj"
    if has(3):
        if has(6) and not has(7):
            if has(9):
                return "dim7"
            return "hdim7" if has(10) else "dim"
        if has(10):
            return "min7"
        if has(9):
            return "min6"
        return "min"  # also minor-major seventh
    if has(5):
        return "sus4"
    if has(2):
        return "sus2"
    if has(10):
        return "7"
    if has(6) and not has(7):
        return "dim"
    return "maj"


def parse_harte(label: str) -> tuple[int, str] | None:
    """A Harte chord label -> (root pitch class, token quality); None for no chord ('N', 'X', '*').

    'C:maj' -> (0, 'maj'); 'G:7(b9)' -> (7, '7'); 'F:maj/3' -> (5, 'maj'); 'Bb:sus4(b7)' ->
    (10, 'sus4'); 'C:5' -> (0, 'maj'); 'E:hdim7' -> (4, 'hdim7'). Raises ValueError when unreadable.
    """
    text = "".join(ch for ch in label if ch.isprintable()).strip()
    if text.count("(") > text.count(")"):  # a few POP909 labels lost their closing bracket
        text = text.rstrip(",") + ")"
    if text in ("N", "X", "*", "&pause", "") or text.startswith("&"):
        return None
    root_text, sep, rest = text.partition(":")
    try:
        root = parse_note_name(root_text)
    except HarmonyError as exc:
        raise ValueError(f"chord {label!r}: {exc}") from exc
    if not sep:
        rest = "maj"
    rest, _, _bass = rest.partition("/")  # the bass note does not change the quality
    m = re.match(r"^([^(]*)(?:\((.*)\))?$", rest.strip())
    if not m:
        raise ValueError(f"chord {label!r}: cannot read {rest!r}")
    shorthand, extra = m.group(1).strip(), m.group(2)
    if not shorthand:
        shorthand = "1" if extra else "maj"
    if shorthand not in _HARTE_SHORTHANDS:
        raise ValueError(f"chord {label!r}: unknown shorthand {shorthand!r}")
    intervals = {degree_semitones(d)[1] for d in _HARTE_SHORTHANDS[shorthand].split(",")}
    if extra:
        for d in extra.split(","):
            if not d.strip():
                continue
            omit, semis = degree_semitones(d)
            if omit:
                intervals.discard(semis)
            else:
                intervals.add(semis)
    return root, classify_intervals(intervals)


# --- keys from chords ---------------------------------------------------------------------------

_MINORISH = {"min", "min7", "min6"}
_DIMISH = {"dim", "hdim7", "dim7"}


def chord_class(quality: str) -> str:
    """'M' major/tonic-like, 'D' dominant seventh/ninth, 'm' minor, 'd' diminished, 's' suspended."""
    if quality in _MINORISH:
        return "m"
    if quality in _DIMISH:
        return "d"
    if quality in ("7", "9"):
        return "D"
    if quality in ("sus4", "sus2"):
        return "s"
    return "M"


# How typical a chord class on a degree is for a key (diatonic chords high, common borrowings low).
_KEY_FIT = {
    "major": {(0, "M"): 1.0, (0, "D"): 0.4, (2, "m"): 0.8, (2, "D"): 0.6, (2, "M"): 0.4, (2, "d"): 0.3,
              (4, "m"): 0.7, (4, "D"): 0.5, (4, "M"): 0.3, (5, "M"): 1.0, (5, "m"): 0.3, (5, "D"): 0.3,
              (6, "d"): 0.3, (7, "M"): 0.9, (7, "D"): 1.2, (8, "M"): 0.3, (9, "m"): 0.8, (9, "D"): 0.5,
              (9, "M"): 0.3, (10, "M"): 0.4, (10, "D"): 0.3, (11, "d"): 0.6, (3, "M"): 0.2,
              (0, "s"): 0.7, (7, "s"): 0.8, (2, "s"): 0.5, (5, "s"): 0.5},
    "minor": {(0, "m"): 1.0, (0, "D"): 0.3, (0, "M"): 0.2, (2, "d"): 0.7, (2, "m"): 0.3, (3, "M"): 0.8,
              (5, "m"): 0.9, (5, "D"): 0.3, (5, "M"): 0.3, (7, "D"): 1.2, (7, "M"): 0.9, (7, "m"): 0.6,
              (8, "M"): 0.9, (10, "M"): 0.8, (10, "D"): 0.6, (11, "d"): 0.7, (11, "M"): 0.2,
              (0, "s"): 0.6, (7, "s"): 0.7},
}
_TONIC_CLASS = {"major": "M", "minor": "m"}


def key_score(chords: list[tuple[int, str, float]], tonic: int, mode: str) -> float:
    """How well (root, quality, weight) chords fit a key.

    Each chord scores by how typical it is in the key; chords on the tonic with the key's quality,
    dominant-to-tonic resolutions onto the tonic, and a tonic first or last chord weigh extra.
    """
    if not chords:
        return 0.0
    fit = _KEY_FIT[mode]
    want = _TONIC_CLASS[mode]
    total = sum(w for _, _, w in chords) or 1.0
    score = 0.0
    prev: tuple[int, str] | None = None
    for root, quality, w in chords:
        deg, cls = (root - tonic) % 12, chord_class(quality)
        score += w * fit.get((deg, cls), 0.0)
        if deg == 0 and cls == want:
            score += w
            if prev is not None and prev[1] == "D" and (prev[0] - root) % 12 == 7:
                score += 1.0  # V7 -> I
        prev = (root, cls)
    last_root, last_q, _ = chords[-1]
    if (last_root - tonic) % 12 == 0 and chord_class(last_q) == want:
        score += 0.15 * total
    first_root, first_q, _ = chords[0]
    if (first_root - tonic) % 12 == 0 and chord_class(first_q) == want:
        score += 0.05 * total
    return score


def estimate_key(chords: list[tuple[int, str, float]],
                 candidates: Iterable[tuple[int, str]] | None = None,
                 prior: Iterable[tuple[int, str]] = ()) -> tuple[int, str]:
    """Best (tonic, mode) for the chords, among `candidates` (default: all 24 keys).

    Keys in `prior` (e.g. those of the key signature) get a bonus of 10% of the total weight.
    """
    keys = list(candidates) if candidates is not None else [(t, m) for m in MODES for t in range(12)]
    prior = set(prior)
    total = sum(w for _, _, w in chords) or 1.0
    best, best_score = keys[0], float("-inf")
    for key in keys:
        s = key_score(chords, *key) + (0.1 * total if key in prior else 0.0)
        if s > best_score + 1e-9:
            best, best_score = key, s
    return best


# --- archives -----------------------------------------------------------------------------------


def read_tar_members(path: Path, want: Callable[[str], bool]) -> dict[str, bytes]:
    """Members of a .tar.gz whose name passes `want`, as bytes, keyed by name."""
    out: dict[str, bytes] = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if member.isfile() and want(member.name):
                fh = tar.extractfile(member)
                if fh is not None:
                    out[member.name] = fh.read()
    return out


# --- POP909 phrase labels -----------------------------------------------------------------------

_PHRASE_RE = re.compile(r"([A-Za-z])(\d+)")


def parse_pop909_phrases(label: str) -> list[tuple[str, int]]:
    """'i4A8B8o2' -> [('i', 4), ('A', 8), ('B', 8), ('o', 2)]."""
    return [(m.group(1), int(m.group(2))) for m in _PHRASE_RE.finditer(label.strip())]


# --- lead sheets through music21 ----------------------------------------------------------------


def m21_chord(cs) -> tuple[int, str] | None:
    """A music21 ChordSymbol -> (root pc, token quality); None for 'N.C.' or unreadable symbols."""
    from music21 import harmony

    if isinstance(cs, harmony.NoChord):
        return None
    try:
        root = cs.root()
    except Exception:  # noqa: BLE001 - music21 raises assorted errors on broken symbols
        return None
    if root is None:
        return None
    kind = cs.chordKind or ""
    intervals: set[int] | None = None
    if kind in harmony.CHORD_TYPES:
        try:
            # music21 leaves CHORD_TYPES untyped (inferred Sequence[str] values); item 0 is the degree string
            degrees = cast(str, harmony.CHORD_TYPES[kind][0])
            intervals = {degree_semitones(d)[1] for d in degrees.split(",")}
            for mod in cs.getChordStepModifications():
                semis = DEGREE_SEMITONES.get(int(mod.degree))
                if semis is None:
                    continue
                shift = int(mod.interval.semitones) if mod.interval is not None else 0
                if mod.modType == "add":
                    intervals.add(semis + shift)
                elif mod.modType == "subtract":
                    intervals = {i for i in intervals if i % 12 != semis % 12}
                elif mod.modType == "alter":
                    intervals = {i for i in intervals if i % 12 != semis % 12} | {semis + shift}
        except (ValueError, TypeError):
            intervals = None
    if intervals is None:
        try:
            intervals = {(p.pitchClass - root.pitchClass) % 12 for p in cs.pitches}
        except Exception:  # noqa: BLE001
            return None
    return root.pitchClass, classify_intervals(intervals)


def is_pickup(measure, first: bool) -> bool:
    """True for an incomplete first measure (an anacrusis) of a music21 part."""
    if not first:
        return False
    if measure.number == 0:
        return True
    ts = measure.timeSignature
    try:
        return ts is not None and measure.duration.quarterLength + 1e-6 < ts.barDuration.quarterLength \
            and measure.paddingLeft > 0
    except Exception:  # noqa: BLE001
        return False


_SECTION_BARLINES = {"double", "final", "light-light", "light-heavy", "heavy-light", "heavy-heavy"}
MIN_LEAD_SHEET_SECTION = 4  # bars; shorter stretches between section marks stay with their neighbour


def section_break_after(measure) -> bool:
    """A double, final or end-repeat barline closes a section of a lead sheet."""
    from music21 import bar

    rb = measure.rightBarline
    if rb is None:
        return False
    if isinstance(rb, bar.Repeat):
        return rb.direction == "end"
    return rb.type in _SECTION_BARLINES


def section_break_before(measure) -> bool:
    """A rehearsal mark or a start-repeat barline opens a section of a lead sheet."""
    from music21 import bar, expressions

    lb = measure.leftBarline
    if isinstance(lb, bar.Repeat) and lb.direction == "start":
        return True
    return bool(measure.getElementsByClass(expressions.RehearsalMark))


def mxl_to_xml(data: bytes) -> bytes:
    """The MusicXML document inside a compressed .mxl file (bytes)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        target = None
        if "META-INF/container.xml" in names:
            m = re.search(rb"full-path\s*=\s*['\"]([^'\"]+)['\"]", z.read("META-INF/container.xml"))
            if m:
                target = m.group(1).decode("utf-8")
        if target not in names:
            target = next(n for n in names if n.endswith((".xml", ".musicxml")) and not n.startswith("META-INF"))
        return z.read(target)


def openewld_genres(db: bytes) -> dict[str, str]:
    """OpenEWLD's SQLite database (bytes) -> {lead-sheet path inside the dataset folder: main genre}."""
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "openewld.db"
        db_path.write_bytes(db)
        con = sqlite3.connect(str(db_path))
        try:
            rows = con.execute(
                "SELECT w.path_leadsheet, g.genre, g.occurrences FROM works w "
                "LEFT JOIN work_genres g ON g.id = w.id").fetchall()
        finally:
            con.close()
    best: dict[str, tuple[int, str]] = {}
    for leadsheet, genre, occ in rows:
        if leadsheet and genre and (leadsheet not in best or (occ or 0) > best[leadsheet][0]):
            best[leadsheet] = (occ or 0, genre)
    return {k: v[1] for k, v in best.items()}
