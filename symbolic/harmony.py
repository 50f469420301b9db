"""Music theory helpers: keys, chord symbols, Roman-numeral degrees.

Everything here is pure and small so that the planner, the arrangers, the
exporters and the tests share one definition of what a chord or a key is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
SHARP_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
FLAT_NAMES = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # natural minor; V and vii° borrow the leading tone
HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)

# Chord qualities: canonical name -> (intervals above the root, symbol suffix).
QUALITIES: dict[str, tuple[tuple[int, ...], str]] = {
    "maj": ((0, 4, 7), ""),
    "min": ((0, 3, 7), "m"),
    "dim": ((0, 3, 6), "dim"),
    "aug": ((0, 4, 8), "aug"),
    "sus2": ((0, 2, 7), "sus2"),
    "sus4": ((0, 5, 7), "sus4"),
    "5": ((0, 7), "5"),
    "7": ((0, 4, 7, 10), "7"),
    "maj7": ((0, 4, 7, 11), "maj7"),
    "min7": ((0, 3, 7, 10), "m7"),
    "minmaj7": ((0, 3, 7, 11), "mMaj7"),
    "hdim7": ((0, 3, 6, 10), "m7b5"),
    "dim7": ((0, 3, 6, 9), "dim7"),
    "aug7": ((0, 4, 8, 10), "aug7"),
    "7sus4": ((0, 5, 7, 10), "7sus4"),
    "maj6": ((0, 4, 7, 9), "6"),
    "min6": ((0, 3, 7, 9), "m6"),
    "9": ((0, 4, 7, 10, 14), "9"),
    "maj9": ((0, 4, 7, 11, 14), "maj9"),
    "min9": ((0, 3, 7, 10, 14), "m9"),
    "add9": ((0, 4, 7, 14), "add9"),
    "7b9": ((0, 4, 7, 10, 13), "7b9"),
    "7#9": ((0, 4, 7, 10, 15), "7#9"),
    "11": ((0, 4, 7, 10, 14, 17), "11"),
    "min11": ((0, 3, 7, 10, 14, 17), "m11"),
    "13": ((0, 4, 7, 10, 14, 21), "13"),
}

# Spellings accepted after the root, mapped to a canonical quality.
_ALIASES = {
    "": "maj", "maj": "maj", "M": "maj", "major": "maj",
    "m": "min", "min": "min", "-": "min", "minor": "min", "mi": "min",
    "dim": "dim", "°": "dim", "o": "dim", "aug": "aug", "+": "aug",
    "sus2": "sus2", "sus4": "sus4", "sus": "sus4", "5": "5",
    "7": "7", "dom7": "7", "maj7": "maj7", "M7": "maj7", "Δ": "maj7", "Δ7": "maj7", "ma7": "maj7",
    "m7": "min7", "min7": "min7", "-7": "min7", "mi7": "min7",
    "mMaj7": "minmaj7", "mmaj7": "minmaj7", "m(maj7)": "minmaj7", "minmaj7": "minmaj7",
    "m7b5": "hdim7", "ø": "hdim7", "ø7": "hdim7", "hdim7": "hdim7", "-7b5": "hdim7", "min7b5": "hdim7",
    "dim7": "dim7", "°7": "dim7", "o7": "dim7",
    "aug7": "aug7", "+7": "aug7", "7#5": "aug7", "7+5": "aug7",
    "7sus4": "7sus4", "7sus": "7sus4", "9sus4": "7sus4",
    "6": "maj6", "maj6": "maj6", "m6": "min6", "min6": "min6", "-6": "min6",
    "9": "9", "maj9": "maj9", "M9": "maj9", "m9": "min9", "min9": "min9", "-9": "min9",
    "add9": "add9", "add2": "add9", "2": "add9", "69": "maj6", "6/9": "maj6",
    "7b9": "7b9", "7#9": "7#9", "11": "11", "m11": "min11", "min11": "min11", "13": "13",
    "7b5": "7", "m7#5": "min7", "maj7#11": "maj7", "7#11": "7", "9#11": "9", "13b9": "13",
}
_SUFFIXES = sorted(_ALIASES, key=len, reverse=True)
_ROOT_RE = re.compile(r"^([A-Ga-g])([#♯b♭]*)")


class HarmonyError(ValueError):
    """A chord symbol or key that cannot be read."""


def parse_note_name(text: str) -> int:
    """'F#' -> 6, 'Bb' -> 10. Raises HarmonyError."""
    m = _ROOT_RE.match(text.strip())
    if not m or m.end() != len(text.strip()):
        raise HarmonyError(f"unknown note name {text!r}")
    pc = PITCH_CLASS[m.group(1).upper()]
    for acc in m.group(2):
        pc += 1 if acc in "#♯" else -1
    return pc % 12


@dataclass(frozen=True, slots=True)
class Chord:
    """A parsed chord symbol: root pitch class, quality, optional bass pitch class."""

    root: int
    quality: str
    bass: int | None = None
    text: str = ""

    @property
    def intervals(self) -> tuple[int, ...]:
        return QUALITIES[self.quality][0]

    @property
    def pitch_classes(self) -> frozenset[int]:
        pcs = {(self.root + i) % 12 for i in self.intervals}
        if self.bass is not None:
            pcs.add(self.bass)
        return frozenset(pcs)

    @property
    def triad(self) -> tuple[int, ...]:
        """Root, third (or sus tone) and fifth as pitch classes: the tones a strong beat should land on."""
        return tuple((self.root + i) % 12 for i in self.intervals[:3])

    @property
    def bass_pc(self) -> int:
        return self.root if self.bass is None else self.bass

    @property
    def is_minor(self) -> bool:
        return self.quality in ("min", "min7", "min6", "min9", "min11", "minmaj7", "hdim7", "dim", "dim7")


@lru_cache(maxsize=4096)
def parse_chord(symbol: str) -> Chord:
    """Parse a chord symbol such as 'C', 'F#m7', 'Bbmaj7/D', 'G7sus4', 'Eø'.

    Raises HarmonyError with the reason when the symbol cannot be read.
    """
    text = symbol.strip()
    if not text:
        raise HarmonyError("empty chord symbol")
    m = _ROOT_RE.match(text)
    if not m:
        raise HarmonyError(f"chord {symbol!r} does not start with a note name A-G")
    root = parse_note_name(m.group(0))
    rest = text[m.end():]
    bass = None
    if "/" in rest and rest not in ("6/9",):
        head, _, tail = rest.rpartition("/")
        try:
            bass = parse_note_name(tail)
        except HarmonyError as exc:
            raise HarmonyError(f"chord {symbol!r} has an unknown bass note {tail!r}") from exc
        rest = head
    rest = rest.strip("()")
    if rest not in _ALIASES:
        raise HarmonyError(f"chord {symbol!r} has an unknown quality {rest!r}")
    return Chord(root, _ALIASES[rest], bass, text)


def chord_symbol(root: int, quality: str, bass: int | None = None, flats: bool = False) -> str:
    names = FLAT_NAMES if flats else SHARP_NAMES
    out = names[root % 12] + QUALITIES[quality][1]
    if bass is not None and bass % 12 != root % 12:
        out += "/" + names[bass % 12]
    return out


@dataclass(frozen=True, slots=True)
class Key:
    tonic: int
    mode: str  # "major" | "minor"
    tonic_name: str = ""

    @property
    def name(self) -> str:
        return f"{self.tonic_name or self.names[self.tonic]} {self.mode}"

    @property
    def sharps(self) -> int:
        """Key-signature accidentals: positive sharps, negative flats."""
        major_tonic = self.tonic if self.mode == "major" else (self.tonic + 3) % 12
        fifths = (major_tonic * 7) % 12  # position on the circle of fifths
        if fifths > 6:
            fifths -= 12
        # Respect the spelling the user asked for (F# major vs Gb major).
        tn = self.tonic_name
        if fifths == 6 and tn.endswith("b"):
            fifths = -6
        if fifths == -6 and tn.endswith("#"):
            fifths = 6
        if fifths == -5 and tn and tn.endswith("#"):
            fifths = 7
        if fifths == 5 and tn.endswith("b") and tn.startswith("C"):
            fifths = -7
        return fifths

    @property
    def uses_flats(self) -> bool:
        return self.sharps < 0 or (self.sharps == 0 and self.mode == "minor" and self.tonic in (2, 5, 7, 0))

    @property
    def names(self) -> list[str]:
        return FLAT_NAMES if self.sharps < 0 else SHARP_NAMES

    @property
    def scale(self) -> tuple[int, ...]:
        steps = MAJOR_SCALE if self.mode == "major" else MINOR_SCALE
        return tuple((self.tonic + s) % 12 for s in steps)

    @property
    def scale_pcs(self) -> frozenset[int]:
        pcs = set(self.scale)
        if self.mode == "minor":
            pcs.add((self.tonic + 11) % 12)  # leading tone
        return frozenset(pcs)

    def transpose(self, semitones: int) -> "Key":
        pc = (self.tonic + semitones) % 12
        return Key(pc, self.mode, "")

    def relative(self) -> "Key":
        if self.mode == "major":
            return Key((self.tonic + 9) % 12, "minor")
        return Key((self.tonic + 3) % 12, "major")

    def midi_name(self) -> str:
        """Name for a MIDI key-signature meta event ('Bb', 'F#m')."""
        k = self.sharps
        major_names = {0: "C", 1: "G", 2: "D", 3: "A", 4: "E", 5: "B", 6: "F#", 7: "C#",
                       -1: "F", -2: "Bb", -3: "Eb", -4: "Ab", -5: "Db", -6: "Gb", -7: "Cb"}
        minor_names = {0: "A", 1: "E", 2: "B", 3: "F#", 4: "C#", 5: "G#", 6: "D#", 7: "A#",
                       -1: "D", -2: "G", -3: "C", -4: "F", -5: "Bb", -6: "Eb", -7: "Ab"}
        return major_names[k] if self.mode == "major" else minor_names[k] + "m"

    def spell(self, pc: int) -> str:
        return self.names[pc % 12]

    def __str__(self) -> str:
        return self.name


_MODE_WORDS = {
    "major": "major", "maj": "major", "ionian": "major", "lydian": "major", "mixolydian": "major", "": "major",
    "minor": "minor", "min": "minor", "m": "minor", "aeolian": "minor", "dorian": "minor", "phrygian": "minor",
}


def parse_key(text: str) -> Key:
    """'D minor', 'Dm', 'F# major', 'Bb', 'eb minor' -> Key. Raises HarmonyError."""
    t = text.strip().replace("♯", "#").replace("♭", "b")
    m = re.match(r"^([A-Ga-g])(#|b|-sharp|-flat| sharp| flat)?\s*(.*)$", t)
    if not m:
        raise HarmonyError(f"unknown key {text!r}")
    acc = (m.group(2) or "").strip("- ")
    acc = {"sharp": "#", "flat": "b"}.get(acc, acc)
    tonic_name = m.group(1).upper() + acc
    mode_word = m.group(3).strip().lower()
    if mode_word not in _MODE_WORDS:
        raise HarmonyError(f"unknown mode {m.group(3)!r} in key {text!r}")
    return Key(parse_note_name(tonic_name), _MODE_WORDS[mode_word], tonic_name)


# --- Roman-numeral degrees -------------------------------------------------
# Tables derived from data store chords relative to the tonic as "<semitones>:<quality>",
# e.g. "7:7" is V7 in any key. This keeps them transposable and unambiguous.

_NUMERALS = ["I", "II", "III", "IV", "V", "VI", "VII"]
_DEGREE_OFFSETS = {"I": 0, "II": 2, "III": 4, "IV": 5, "V": 7, "VI": 9, "VII": 11}
_MINOR_DEGREE_OFFSETS = {"I": 0, "II": 2, "III": 3, "IV": 5, "V": 7, "VI": 8, "VII": 10}


def degree_token(chord: Chord, key: Key) -> str:
    return f"{(chord.root - key.tonic) % 12}:{chord.quality}"


# Scale degree (0-6) of each chromatic offset from the tonic, so roots are spelled by letter:
# C# (raised 7th) in D minor rather than Db, Bb (flat 7th) in C rather than A#.
_DEGREE_OF_OFFSET = {"major": (0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6), "minor": (0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6)}
_LETTERS = "CDEFGAB"


def spell_degree(offset: int, key: Key, raised: bool = False) -> str:
    """Name of the note `offset` semitones above the tonic, spelled by scale degree; `raised` spells a
    chromatic note as the degree below it raised (a leading tone: F# rather than Gb in C)."""
    offset %= 12
    natural = (0, 2, 3, 5, 7, 8, 10) if key.mode == "minor" else (0, 2, 4, 5, 7, 9, 11)
    if raised and offset not in natural and not (key.mode == "minor" and offset in (4, 9, 11)):
        degree = _DEGREE_OF_OFFSET[key.mode][(offset - 1) % 12]
    elif key.mode == "minor" and offset == 11:
        degree = 6
    elif key.mode == "minor" and offset == 4:
        degree = 2
    elif key.mode == "minor" and offset == 9:
        degree = 5
    else:
        degree = _DEGREE_OF_OFFSET[key.mode][offset]
    tonic_name = key.tonic_name or key.names[key.tonic]
    letter = _LETTERS[(_LETTERS.index(tonic_name[0]) + degree) % 7]
    pc = (key.tonic + offset) % 12
    diff = (pc - PITCH_CLASS[letter] + 6) % 12 - 6
    if abs(diff) > 1:
        return key.names[pc]
    return letter + {0: "", 1: "#", -1: "b"}[diff]


def chord_from_token(token: str, key: Key, bass_token: int | None = None) -> Chord:
    off, quality = token.split(":", 1)
    root = (key.tonic + int(off)) % 12
    # A diminished chord is a leading-tone chord: its chromatic root is a raised degree (B°7 in Bb, not Cb°7).
    raised = quality in ("dim", "dim7")
    return Chord(root, quality, None, spell_degree(int(off), key, raised) + QUALITIES[quality][1])


def roman(chord: Chord, key: Key) -> str:
    """Roman numeral of a chord in a key: 'V7', 'bVII', 'ii', 'vii°'."""
    offsets = _DEGREE_OFFSETS if key.mode == "major" else _MINOR_DEGREE_OFFSETS
    off = (chord.root - key.tonic) % 12
    prefix, numeral = "", None
    for name, o in offsets.items():
        if o == off:
            numeral = name
    if numeral is None:
        for name, o in offsets.items():
            if (o - 1) % 12 == off:
                numeral, prefix = name, "b"
                break
    if numeral is None:  # pragma: no cover - every offset is covered by a degree or a flat degree
        numeral = "?"
    if chord.is_minor:
        numeral = numeral.lower()
    suffix = {"dim": "°", "dim7": "°7", "hdim7": "ø7", "aug": "+", "min": "", "maj": ""}.get(
        chord.quality, QUALITIES[chord.quality][1].lstrip("m") if chord.is_minor else QUALITIES[chord.quality][1])
    return prefix + numeral + suffix


_ROMAN_RE = re.compile(r"^([b#]?)(VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i)(.*)$")


def parse_roman(text: str, key: Key) -> Chord:
    """'V7' in D minor -> A7; 'bVII' in C -> Bb; 'ii7' -> Dm7 in C."""
    m = _ROMAN_RE.match(text.strip())
    if not m:
        raise HarmonyError(f"unknown Roman numeral {text!r}")
    acc, numeral, rest = m.groups()
    offsets = _DEGREE_OFFSETS if key.mode == "major" else _MINOR_DEGREE_OFFSETS
    off = offsets[numeral.upper()] + (1 if acc == "#" else -1 if acc == "b" else 0)
    minor = numeral.islower()
    special = {"°": "dim", "o": "dim", "°7": "dim7", "o7": "dim7", "ø7": "hdim7", "ø": "hdim7", "+": "aug"}
    if rest in special:
        quality = special[rest]
    elif minor and ("m" + rest) in _ALIASES:
        quality = _ALIASES["m" + rest]  # ii7 is a minor seventh, not a dominant one
    elif rest in QUALITIES:
        quality = rest
    elif rest in _ALIASES:
        quality = _ALIASES[rest]
    else:
        raise HarmonyError(f"unknown chord quality {rest!r} in Roman numeral {text!r}")
    root = (key.tonic + off) % 12
    return Chord(root, quality, None, _spell_offset(off % 12, acc, key) + QUALITIES[quality][1])


def _spell_offset(off: int, acc: str, key: Key) -> str:
    """Spell a degree with the accidental the numeral asked for: bVII in C is Bb, #IV is F#."""
    name = spell_degree(off, key)
    if acc == "b" and "#" in name or acc == "#" and name.endswith("b") and len(name) > 1:
        names = FLAT_NAMES if acc == "b" else SHARP_NAMES
        return names[(key.tonic + off) % 12]
    return name


def diatonic_triads(key: Key) -> list[Chord]:
    out = []
    scale = list(HARMONIC_MINOR if key.mode == "minor" else MAJOR_SCALE)
    for i, step in enumerate(scale):
        third = (scale[(i + 2) % 7] - step) % 12
        fifth = (scale[(i + 4) % 7] - step) % 12
        q = {(4, 7): "maj", (3, 7): "min", (3, 6): "dim", (4, 8): "aug"}[(third, fifth)]
        root = (key.tonic + step) % 12
        out.append(Chord(root, q, None, chord_symbol(root, q, None, key.uses_flats)))
    return out
