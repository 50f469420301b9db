"""MusicTokenizer: one track over a run of bars <-> a list of token ids.

The vocabulary is a miditok REMI vocabulary (Bar, Position, Pitch, PitchDrum, Velocity, Duration and
the PAD/BOS/EOS specials, with miditok's velocity and duration bins) plus control tokens added to it:

    Role_<melody|counter-melody|chords|pad|arpeggio|bass|drums>
    Program_<0..127> | Program_drums
    Key_<tonic 0..11>_<major|minor>
    Meter_<num>_<den>           for the meters in METERS
    Tempo_<0..8>                MidiCaps tempo bins (boundaries 40 60 70 90 110 140 160 210 BPM)
    Energy_<1..5>               notes per bar of the track, binned per role by quantiles of the data
    Section_<I|A|B|C|D|O|X>     intro, section classes A-D, outro, other/unknown
    FormPos_<0..3>              which quarter of the piece the run starts in
    Style_<family>              the style family (symbolic.style.FAMILIES: jazz, bossa, folk, classical, ...)
    Ctx_<melody|bass> | Ctx_end the parts already written, over the same bars, before a part's own
    Chord_<root 0..11>_<quality> | Chord_N
    Position_16 .. Position_31  (miditok's 4/4 REMI stops at Position_15; longer bars need more)

A sequence is::

    BOS Role Program Key Meter Tempo Energy Section FormPos Style
    [Ctx_melody (Bar (Position_p Pitch_n)*)*] [Ctx_bass (Bar (Position_p Pitch_n)*)*] Ctx_end
    Bar [Position_p Chord_x]+ [Position_p (Pitch_n Velocity_v Duration_d)+]*   (one group per bar)
    ...
    EOS

The context block carries what the other parts play in the same bars, as compact tokens the part
can listen to: the melody's top note and the bass's lowest at each of their onsets (no velocity or
duration); either may be missing (it is not written yet, or the piece has none), and Ctx_end always
closes the block. Positions count 16th notes (120 ticks at PPQ 480) from the start of the bar. Every bar states its
chord at Position_0, then each chord change inside the bar. Notes follow in onset order (pitch
ascending at one onset); a Position token is written whenever the onset moves. Durations are
miditok's REMI durations in quarter notes (16ths up to 4 beats, 8ths up to 8, quarters up to 16)
whatever the meter. Drum notes use PitchDrum tokens and carry no Duration (miditok leaves durations
out for drums too); they decode as 16th notes. One sequence has one meter.

The tokenizer config (miditok parameters, added tokens, the full vocabulary in id order and the
energy thresholds) is saved as JSON; `load` rebuilds the miditok tokenizer and checks that every id
is unchanged. The shipped config is symbolic/weights/musicgpt/tokenizer.json.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .annotations import TOKEN_QUALITIES, classify_intervals
from .harmony import Chord, HarmonyError, Key, chord_symbol, parse_chord, parse_key
from .score import PPQ, Bar, ChordSpan, Note
from .style import FAMILIES, style_family

FORMAT = "composer.music-tokenizer"
VERSION = 3
# The tokenizer the shipped model was trained with: the default everywhere (one copy, beside the weights).
TOKENIZER_PATH = Path(__file__).resolve().parent / "weights" / "musicgpt" / "tokenizer.json"

STEP = PPQ // 4  # one 16th note
MAX_POSITIONS = 32  # 16ths per bar (7/4 needs 28)
ROLES = ("melody", "counter-melody", "chords", "pad", "arpeggio", "bass", "drums")
METERS = ((2, 4), (3, 4), (4, 4), (5, 4), (6, 4), (7, 4), (2, 2), (3, 2),
          (3, 8), (5, 8), (6, 8), (7, 8), (9, 8), (12, 8))
TEMPO_BOUNDARIES = (40, 60, 70, 90, 110, 140, 160, 210)
TEMPO_VALUES = (35, 50, 65, 80, 100, 125, 150, 185, 230)  # a representative BPM per bin
SECTION_CLASSES = ("I", "A", "B", "C", "D", "O", "X")
ENERGY_LEVELS = 5
FORM_POSITIONS = 4
CHORD_QUALITIES = TOKEN_QUALITIES
DRUM_DURATION = STEP

# Notes per bar at the boundaries between energy levels 1|2|3|4|5, per role. The data build
# replaces these with quantiles measured on the training data (see training.shards).
DEFAULT_ENERGY_THRESHOLDS: dict[str, list[float]] = {
    "melody": [2.5, 4.0, 5.5, 7.5],
    "counter-melody": [2.0, 3.5, 5.0, 7.0],
    "chords": [4.0, 7.0, 10.0, 14.0],
    "pad": [2.0, 3.0, 4.0, 6.0],
    "arpeggio": [6.0, 9.0, 12.0, 16.0],
    "bass": [2.0, 3.0, 4.5, 6.5],
    "drums": [8.0, 12.0, 16.0, 22.0],
}

# miditok REMI parameters: a 16th grid, 8 velocities, no program or time-signature tokens (the
# program and the meter go in the header), GM drum keys as PitchDrum tokens.
MIDITOK_PARAMS: dict[str, Any] = {
    "pitch_range": [21, 108],
    "beat_res": [[0, 4, 4], [4, 8, 2], [8, 16, 1]],
    "num_velocities": 8,
    "special_tokens": ["PAD", "BOS", "EOS"],
    "use_velocities": True,
    "use_programs": False,
    "use_time_signatures": False,
    "use_chords": False,
    "use_rests": False,
    "use_tempos": False,
    "use_pitchdrum_tokens": True,
    "drums_pitch_range": [27, 88],
}

HEADER_FAMILIES = ("Role", "Program", "Key", "Meter", "Tempo", "Energy", "Section", "FormPos", "Style")
HEADER_LEN = 1 + len(HEADER_FAMILIES)  # BOS and one token per family
CONTEXT_ROLES = ("melody", "bass")  # the parts a part hears, in the order the context block gives them
# Who hears whom: the melody is written first and hears nothing, the bass hears the melody, the other
# pitched parts both; the drums keep their own time (their data has no other parts).
_HEARS = {"melody": (), "drums": (), "bass": ("melody",)}


def hears(role: str) -> tuple[str, ...]:
    """The CONTEXT_ROLES a part of this role is given before its own bars."""
    return _HEARS.get(role, CONTEXT_ROLES)


class TokenizerError(ValueError):
    """A track, a bar grid or a header the tokenizer cannot encode, or a config it cannot load."""


def _miditok_tokenizer(params: dict):
    import miditok

    beat_res = {(int(a), int(b)): int(r) for a, b, r in params["beat_res"]}
    kwargs = {k: v for k, v in params.items() if k not in ("beat_res", "pitch_range", "drums_pitch_range")}
    config = miditok.TokenizerConfig(
        beat_res=beat_res,
        pitch_range=tuple(params["pitch_range"]),
        drums_pitch_range=tuple(params["drums_pitch_range"]),
        **kwargs,
    )
    return miditok.REMI(config)


def added_tokens() -> list[str]:
    """The control tokens added to miditok's vocabulary, in id order."""
    out = [f"Position_{p}" for p in range(16, MAX_POSITIONS)]
    out += [f"Role_{r}" for r in ROLES]
    out += [f"Program_{p}" for p in range(128)] + ["Program_drums"]
    out += [f"Key_{t}_{m}" for m in ("major", "minor") for t in range(12)]
    out += [f"Meter_{n}_{d}" for n, d in METERS]
    out += [f"Tempo_{i}" for i in range(len(TEMPO_BOUNDARIES) + 1)]
    out += [f"Energy_{i}" for i in range(1, ENERGY_LEVELS + 1)]
    out += [f"Section_{s}" for s in SECTION_CLASSES]
    out += [f"FormPos_{i}" for i in range(FORM_POSITIONS)]
    out += [f"Chord_{r}_{q}" for r in range(12) for q in CHORD_QUALITIES] + ["Chord_N"]
    out += [f"Style_{f}" for f in FAMILIES]  # after the older tokens, so that their ids keep their meaning
    out += [f"Ctx_{r}" for r in CONTEXT_ROLES] + ["Ctx_end"]
    return out


# --- small helpers usable without a tokenizer ------------------------------------------------------


def tempo_bin(bpm: float) -> int:
    """MidiCaps tempo bin 0-8 of a tempo in quarter notes per minute."""
    return sum(1 for b in TEMPO_BOUNDARIES if bpm >= b)


_SECTION_WORDS = {
    "intro": "I", "introduction": "I", "i": "I", "prelude": "I",
    "outro": "O", "coda": "O", "ending": "O", "o": "O", "fadeout": "O", "tag": "O",
    "verse": "A", "theme": "A", "head": "A", "a": "A",
    "chorus": "B", "refrain": "B", "b": "B",
    "bridge": "C", "pre-chorus": "C", "prechorus": "C", "c": "C", "middle eight": "C",
    "d": "D",
}


def section_class(label: str | None = "", name: str | None = "") -> str:
    """Section class token value for a plan section or a corpus phrase label.

    Upper-case letters are classes A-D (E and later count as D, primes are dropped: A' -> A);
    intro/outro words and POP909's 'i'/'o' give I/O; verse -> A, chorus -> B, bridge/pre-chorus -> C;
    POP909's lower-case letters (phrases without melody), solos, interludes and unknown names give X.
    """
    lab = (label or "").strip().rstrip("'’0123456789 ")
    if lab in ("i", "o"):
        return lab.upper()
    if len(lab) == 1 and lab.isalpha():
        if lab.isupper():
            return lab if lab in "ABCDIOX" else "D"
        return "X"
    for text in (lab, name or ""):
        t = text.strip().lower()
        if not t:
            continue
        if t in _SECTION_WORDS:
            return _SECTION_WORDS[t]
        for word, cls in _SECTION_WORDS.items():
            if len(word) > 1 and t.startswith(word):
                return cls
    return "X"


def form_position(first_bar: int, n_bars_total: int) -> int:
    """Which quarter (0-3) of a piece of `n_bars_total` bars the bar `first_bar` lies in."""
    if n_bars_total <= 0:
        return 0
    return max(0, min(FORM_POSITIONS - 1, first_bar * FORM_POSITIONS // n_bars_total))


def reduce_chord(chord: Chord) -> tuple[int, str]:
    """(root, token quality) of a chord; qualities outside CHORD_QUALITIES are reduced by interval."""
    if chord.quality in CHORD_QUALITIES:
        return chord.root % 12, chord.quality
    return chord.root % 12, classify_intervals(chord.intervals)


# --- bars and chords as the tokenizer reads them -------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokBar:
    """A bar and its chords, as (tick offset inside the bar, Chord or None for no chord)."""

    bar: Bar
    chords: tuple[tuple[int, Chord | None], ...] = ()


ChordLike = Chord | str | tuple | None


def _as_chord(value: ChordLike) -> Chord | None:
    if value is None or isinstance(value, Chord):
        return value
    if isinstance(value, tuple):
        root, quality = value
        return Chord(int(root) % 12, str(quality), None, chord_symbol(int(root), str(quality)))
    text = str(value).strip()
    if text in ("", "N", "N.C.", "NC", "Chord_N"):
        return None
    if text.startswith("Chord_"):
        _, root, quality = text.split("_", 2)
        return Chord(int(root), quality, None, chord_symbol(int(root), quality))
    return parse_chord(text)


def _as_tokbar(item: Any) -> TokBar:
    """A SheetBar (absolute ChordSpans), a TokBar, or a (Bar, chords) pair with in-bar offsets."""
    if isinstance(item, TokBar):
        return item
    if hasattr(item, "bar") and hasattr(item, "chords"):  # SheetBar
        bar = item.bar
        chords: list[tuple[int, Chord | None]] = []
        for c in item.chords:
            if isinstance(c, ChordSpan):
                chords.append((max(0, c.start - bar.start), c.chord))
            else:
                off, ch = c
                chords.append((int(off), _as_chord(ch)))
        return TokBar(bar, tuple(chords))
    if isinstance(item, Bar):
        return TokBar(item, ())
    bar, chords = item
    out: list[tuple[int, Chord | None]] = []
    for c in chords or ():
        if isinstance(c, ChordSpan):
            out.append((max(0, c.start - bar.start), c.chord))
        else:
            off, ch = c
            out.append((int(off), _as_chord(ch)))
    return TokBar(bar, tuple(out))


def _as_key(value: Any) -> tuple[int, str]:
    if isinstance(value, Key):
        return value.tonic % 12, value.mode
    if isinstance(value, tuple):
        return int(value[0]) % 12, str(value[1])
    text = str(value)
    if text.startswith("Key_"):
        _, t, m = text.split("_")
        return int(t), m
    try:
        k = parse_key(text)
    except HarmonyError as exc:
        raise TokenizerError(str(exc)) from None
    return k.tonic, k.mode


# --- the tokenizer ----------------------------------------------------------------------------------


class MusicTokenizer:
    """Encode one track over a run of bars to ids and back; see the module docstring for the layout."""

    def __init__(self, energy_thresholds: Mapping[str, Sequence[float]] | None = None,
                 vocab: Sequence[str] | None = None, extra: dict | None = None) -> None:
        self.miditok = _miditok_tokenizer(MIDITOK_PARAMS)
        for tok in added_tokens():
            self.miditok.add_to_vocab(tok)
        built = [t for t, _ in sorted(self.miditok.vocab.items(), key=lambda kv: kv[1])]
        if vocab is not None and list(vocab) != built:
            diff = next((i for i, (a, b) in enumerate(zip(vocab, built)) if a != b), min(len(vocab), len(built)))
            raise TokenizerError(f"tokenizer vocabulary differs from the saved one at id {diff} "
                                 f"(installed miditok builds a different base vocabulary)")
        self.tokens: list[str] = built
        self.vocab: dict[str, int] = {t: i for i, t in enumerate(built)}
        self.energy_thresholds = {r: [float(x) for x in (energy_thresholds or {}).get(r, DEFAULT_ENERGY_THRESHOLDS[r])]
                                  for r in ROLES}
        self.extra = dict(extra or {})
        self.velocities = np.asarray(self.miditok.velocities, dtype=np.int64)
        self.duration_tokens: list[str] = []
        dur_ticks = []
        for beat, pos, res in self.miditok.durations:
            ticks = beat * PPQ + pos * PPQ // res
            dur_ticks.append(ticks)
            self.duration_tokens.append(f"Duration_{beat}.{pos}.{res}")
        self.duration_ticks = np.asarray(dur_ticks, dtype=np.int64)
        self.pitch_range = tuple(MIDITOK_PARAMS["pitch_range"])
        self.drum_range = tuple(MIDITOK_PARAMS["drums_pitch_range"])
        self._build_tables()

    # -- ids

    def _build_tables(self) -> None:
        v = self.vocab
        self.pad_id, self.bos_id, self.eos_id, self.bar_id = v["PAD_None"], v["BOS_None"], v["EOS_None"], v["Bar_None"]
        self.ctx_end_id = v["Ctx_end"]
        self._pos = [v[f"Position_{p}"] for p in range(MAX_POSITIONS)]
        self._pitch = {p: v[f"Pitch_{p}"] for p in range(self.pitch_range[0], self.pitch_range[1] + 1)}
        self._drum = {p: v[f"PitchDrum_{p}"] for p in range(self.drum_range[0], self.drum_range[1] + 1)}
        self._vel = {int(x): v[f"Velocity_{int(x)}"] for x in self.velocities}
        self._dur = {int(t): v[name] for t, name in zip(self.duration_ticks, self.duration_tokens)}
        # id -> (family, value) for decoding
        kinds: list[tuple[str, Any]] = []
        for tok in self.tokens:
            fam, _, val = tok.partition("_")
            if fam in ("Position", "Pitch", "PitchDrum", "Velocity", "Energy", "FormPos", "Tempo") and val.isdigit():
                kinds.append((fam, int(val)))
            elif fam == "Duration":
                b, p, r = (int(x) for x in val.split("."))
                kinds.append((fam, b * PPQ + p * PPQ // r))
            elif fam == "Program":
                kinds.append((fam, "drums" if val == "drums" else int(val)))
            elif fam == "Key":
                t, m = val.split("_")
                kinds.append((fam, (int(t), m)))
            elif fam == "Meter":
                n, d = val.split("_")
                kinds.append((fam, (int(n), int(d))))
            elif fam == "Chord":
                if val == "N":
                    kinds.append((fam, None))
                else:
                    root, quality = val.split("_", 1)
                    kinds.append((fam, (int(root), quality)))
            else:
                kinds.append((fam, val))
        self._kinds = kinds

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        """Id of a token string such as 'Chord_0_maj'; KeyError when it is not in the vocabulary."""
        return self.vocab[token]

    def token(self, token_id: int) -> str:
        return self.tokens[int(token_id)]

    def ids_of(self, prefix: str) -> list[int]:
        """Ids of every token whose string starts with `prefix` (e.g. 'Pitch_', 'Chord_'), in id order.

        'Pitch_' does not include 'PitchDrum_' tokens; ask for those with 'PitchDrum_'.
        """
        out = []
        for i, t in enumerate(self.tokens):
            if t.startswith(prefix) and not (prefix == "Pitch_" and t.startswith("PitchDrum")):
                out.append(i)
        return out

    @property
    def kinds(self) -> list[tuple[str, Any]]:
        """(family, value) of every id, e.g. ('Pitch', 60), ('Chord', (0, 'maj')), ('Chord', None),
        ('Duration', 480 ticks), ('Key', (9, 'minor')), ('Meter', (6, 8)), ('Bar', 'None')."""
        return self._kinds

    def family(self, token_id: int) -> str:
        """Token family ('Bar', 'Position', 'Pitch', 'Chord', 'Role', ...) of an id."""
        return self._kinds[int(token_id)][0]

    def to_tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids]

    # -- quantities

    def quantize_velocity(self, velocity: int) -> int:
        return int(self.velocities[int(np.argmin(np.abs(self.velocities - int(velocity))))])

    def quantize_duration(self, ticks: int) -> int:
        return int(self.duration_ticks[int(np.argmin(np.abs(self.duration_ticks - int(ticks))))])

    def quantize(self, notes: Iterable[Note], drum: bool = False, origin: int = 0) -> list[Note]:
        """Notes as the tokenizer stores them: onsets on the 16th grid counted from `origin`,
        durations and velocities on miditok's bins, pitched notes folded by octaves into the pitch
        range, drums outside the drum range dropped, drum durations one 16th, duplicates (same onset
        and pitch) merged keeping the longest. Sorted by (start, pitch)."""
        best: dict[tuple[int, int], Note] = {}
        lo, hi = self.drum_range if drum else self.pitch_range
        for n in notes:
            start = origin + int(round((n.start - origin) / STEP)) * STEP
            if start < 0:
                continue
            pitch = n.pitch
            if drum:
                if not lo <= pitch <= hi:
                    continue
                end = start + DRUM_DURATION
            else:
                while pitch < lo:
                    pitch += 12
                while pitch > hi:
                    pitch -= 12
                end = start + self.quantize_duration(max(STEP, n.end - n.start))
            q = Note(start, end, pitch, self.quantize_velocity(n.velocity))
            prev = best.get((start, pitch))
            if prev is None or q.end > prev.end:
                best[(start, pitch)] = q
        return sorted(best.values(), key=lambda x: (x.start, x.pitch))

    def energy(self, role: str, n_notes: int, n_bars: int) -> int:
        """Energy level 1-5 of a track with `n_notes` notes over `n_bars` bars."""
        return self.energy_level(role, n_notes / max(1, n_bars))

    def energy_level(self, role: str, density: float) -> int:
        """Energy level 1-5 of a track of this role with `density` notes per bar."""
        return 1 + sum(1 for t in self.energy_thresholds.get(role, DEFAULT_ENERGY_THRESHOLDS["melody"])
                       if density > t)

    # -- encoding

    def header_ids(self, header: dict, n_notes: int | None = None, n_bars: int | None = None) -> list[int]:
        """BOS and the nine header tokens for a header dict.

        Keys: role; program (0-127 or 'drums') or drum=True; key (Key, (tonic, mode), 'D minor' or a
        Key_ token); meter (num, den); tempo (BPM) or tempo_bin; energy (1-5; computed from
        n_notes/n_bars when absent); section (class letter, or label/name mapped by section_class);
        form_pos (0-3); style (a family in FAMILIES, or any style words, read by style_family; pop when absent).
        """
        role = header.get("role", "melody")
        if role not in ROLES:
            raise TokenizerError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        drum = self.is_drum_header(header)
        program = header.get("program", 0)
        prog_tok = "Program_drums" if drum else f"Program_{int(program)}"
        if prog_tok not in self.vocab:
            raise TokenizerError(f"program {program!r} outside 0-127")
        tonic, mode = _as_key(header.get("key", (0, "major")))
        if mode not in ("major", "minor"):
            raise TokenizerError(f"unknown mode {mode!r}")
        num, den = header.get("meter", (4, 4))
        if (int(num), int(den)) not in METERS:
            raise TokenizerError(f"meter {num}/{den} is not supported; supported: "
                                 + " ".join(f"{a}/{b}" for a, b in METERS))
        tb = header.get("tempo_bin")
        if tb is None:
            tb = tempo_bin(float(header.get("tempo", 120.0)))
        energy = header.get("energy")
        if energy is None:
            energy = self.energy(role, n_notes or 0, n_bars or 1) if n_notes is not None else 3
        energy = max(1, min(ENERGY_LEVELS, int(energy)))
        section = header.get("section", "X")
        if section not in SECTION_CLASSES:
            section = section_class(section, header.get("section_name", ""))
        form_pos = max(0, min(FORM_POSITIONS - 1, int(header.get("form_pos", 0))))
        style = str(header.get("style") or "pop")
        if style not in FAMILIES:
            style = style_family(style)
        v = self.vocab
        return [self.bos_id, v[f"Role_{role}"], v[prog_tok], v[f"Key_{tonic}_{mode}"], v[f"Meter_{int(num)}_{int(den)}"],
                v[f"Tempo_{int(tb)}"], v[f"Energy_{energy}"], v[f"Section_{section}"], v[f"FormPos_{form_pos}"],
                v[f"Style_{style}"]]

    @staticmethod
    def is_drum_header(header: dict) -> bool:
        return bool(header.get("drum")) or header.get("program") == "drums" or header.get("role") == "drums"

    def chord_id(self, chord: ChordLike) -> int:
        c = _as_chord(chord)
        if c is None:
            return self.vocab["Chord_N"]
        root, quality = reduce_chord(c)
        return self.vocab[f"Chord_{root}_{quality}"]

    def bar_ids(self, bar: Any, carry: ChordLike | int = None) -> list[int]:
        """Bar and the bar's chord tokens ([Position_p Chord_x], the first at position 0).

        Without a chord at the bar's start, the bar starts with `carry` (the chord sounding from the
        previous bar: a chord, a symbol or a Chord_ id), else with Chord_N.
        """
        tb = _as_tokbar(bar)
        n_pos = self._bar_positions(tb.bar)
        out = [self.bar_id]
        chords: dict[int, int] = {}
        for off, ch in sorted(tb.chords, key=lambda c: c[0]):
            pos = max(0, min(n_pos - 1, int(round(off / STEP))))
            chords[pos] = self.chord_id(ch)
        if 0 not in chords:
            if isinstance(carry, (int, np.integer)) and not isinstance(carry, bool):
                chords[0] = int(carry)
            else:  # a bool is no Chord_ id: chord_id reads it as text, like any other value
                chords[0] = self.chord_id(str(carry) if isinstance(carry, bool) else carry)
        prev = None
        for pos in sorted(chords):
            if chords[pos] == prev:
                continue
            out += [self._pos[pos], chords[pos]]
            prev = chords[pos]
        return out

    @staticmethod
    def _bar_positions(bar: Bar) -> int:
        n = bar.length // STEP
        if n > MAX_POSITIONS or bar.length % STEP:
            raise TokenizerError(f"a {bar.numerator}/{bar.denominator} bar does not fit the 16th grid "
                                 f"of at most {MAX_POSITIONS} positions")
        return n

    def context_ids(self, context: Mapping[str, Iterable[Note]] | None, bars: Sequence[Any]) -> list[int]:
        """The context block: for each role of CONTEXT_ROLES in `context` with notes in the bars, Ctx_<role>,
        then per bar Bar and (Position Pitch) at each onset (the melody's top note, the bass's lowest), then
        Ctx_end. Notes are in the bars' ticks; pitches outside the vocabulary's range move by octaves into it."""
        tbars = [_as_tokbar(b) for b in bars]
        out: list[int] = []
        lo_p, hi_p = self.pitch_range
        for role in CONTEXT_ROLES:
            notes = list((context or {}).get(role, ()))
            if not tbars or not notes:
                continue
            origin, end = tbars[0].bar.start, tbars[-1].bar.end
            pick: dict[int, int] = {}
            for n in notes:
                if not origin <= n.start < end:
                    continue
                t = origin + (n.start - origin + STEP // 2) // STEP * STEP
                p = n.pitch
                while p < lo_p:
                    p += 12
                while p > hi_p:
                    p -= 12
                if t not in pick or (p > pick[t] if role == "melody" else p < pick[t]):
                    pick[t] = p
            if not pick:
                continue
            out.append(self.vocab[f"Ctx_{role}"])
            onsets = sorted(pick.items())
            k = 0
            for b in tbars:
                out.append(self.bar_id)
                n_pos = self._bar_positions(b.bar)
                while k < len(onsets) and onsets[k][0] < b.bar.end:
                    t, p = onsets[k]
                    k += 1
                    out += [self._pos[min(n_pos - 1, (t - b.bar.start) // STEP)], self._pitch[p]]
        return out + [self.ctx_end_id]

    def encode(self, part_notes: Iterable[Note], bars: Sequence[Any], header: dict,
               context: Mapping[str, Iterable[Note]] | None = None) -> list[int]:
        """Ids of one track over `bars` (SheetBars, TokBars or (Bar, chords) pairs; one meter), with the
        `context` block of the other parts (role -> notes; see context_ids) between header and bars.

        Notes are in the same ticks as the bars; those starting before the first bar or at/after the
        end of the last bar are left out. The header's meter defaults to the bars' meter.
        """
        tbars = [_as_tokbar(b) for b in bars]
        if not tbars:
            raise TokenizerError("no bars to encode")
        meters = {(b.bar.numerator, b.bar.denominator) for b in tbars}
        if len(meters) > 1:
            raise TokenizerError("one sequence must keep one meter; got " + ", ".join(f"{a}/{b}" for a, b in sorted(meters)))
        meter = meters.pop()
        if "meter" in header and tuple(int(x) for x in header["meter"]) != meter:
            raise TokenizerError(f"header meter {header['meter']} differs from the bars' {meter[0]}/{meter[1]}")
        for a, b in zip(tbars, tbars[1:]):
            if b.bar.start != a.bar.end:
                raise TokenizerError(f"bars are not contiguous at tick {b.bar.start}")
        drum = self.is_drum_header(header)
        origin = tbars[0].bar.start
        end = tbars[-1].bar.end
        notes = [n for n in self.quantize(part_notes, drum, origin) if origin <= n.start < end]
        h = dict(header)
        h["meter"] = meter
        ids = self.header_ids(h, n_notes=len(notes), n_bars=len(tbars)) + self.context_ids(context, tbars)
        ni = 0
        carry: int | None = None
        for b in tbars:
            bar_ids = self.bar_ids(b, carry)
            carry = bar_ids[-1]
            ids += bar_ids
            last_pos = None
            while ni < len(notes) and notes[ni].start < b.bar.end:
                n = notes[ni]
                ni += 1
                pos = (n.start - b.bar.start) // STEP
                if pos != last_pos:
                    ids.append(self._pos[pos])
                    last_pos = pos
                if drum:
                    ids += [self._drum[n.pitch], self._vel[n.velocity]]
                else:
                    ids += [self._pitch[n.pitch], self._vel[n.velocity], self._dur[n.end - n.start]]
        ids.append(self.eos_id)
        return ids

    # -- decoding

    def decode(self, ids: Iterable[int]) -> tuple[dict, list[Note], list[list[tuple[int, Chord | None]]]]:
        """(header, notes in ticks from the start of the first bar, chords per bar).

        Chords per bar are (tick offset inside the bar, Chord or None for no chord). Decoding is
        lenient so that sampled sequences always give something: the header is read from the tokens
        after BOS up to the first other token, tokens out of place (and notes before the first Bar)
        are skipped, a note without a velocity gets velocity 79, a pitched note without a duration an
        8th, and decoding stops at EOS.
        """
        kinds = self._kinds
        seq = [int(i) for i in ids if 0 <= int(i) < len(kinds)]
        header: dict[str, Any] = {}
        i = 0
        while i < len(seq) and kinds[seq[i]][0] in ("PAD", "BOS"):
            i += 1
        while i < len(seq) and kinds[seq[i]][0] in HEADER_FAMILIES:
            fam, val = kinds[seq[i]]
            if fam == "Role":
                header["role"] = val
            elif fam == "Program":
                header["program"] = val
                header["drum"] = val == "drums"
            elif fam == "Key":
                header["key"] = val
            elif fam == "Meter":
                header["meter"] = val
            elif fam == "Tempo":
                header["tempo_bin"] = val
                header["tempo"] = float(TEMPO_VALUES[val])
            elif fam == "Energy":
                header["energy"] = val
            elif fam == "Section":
                header["section"] = val
            elif fam == "FormPos":
                header["form_pos"] = val
            elif fam == "Style":
                header["style"] = val
            i += 1
        num, den = header.get("meter", (4, 4))
        bar_len = num * PPQ * 4 // den
        if self.ctx_end_id in seq[i:i + 4 * MAX_POSITIONS * 32]:
            end = seq.index(self.ctx_end_id, i)
            header["context"] = self._read_context(seq[i:end], bar_len)
            i = end + 1
        drum = bool(header.get("drum")) or header.get("role") == "drums"
        notes: list[Note] = []
        chords: list[list[tuple[int, Chord | None]]] = []
        bar = -1
        pos = 0
        while i < len(seq):
            fam, val = kinds[seq[i]]
            if fam == "EOS":
                break
            if fam == "Bar":
                bar += 1
                pos = 0
                chords.append([])
                i += 1
                continue
            if bar < 0:  # content before the first Bar has no bar to go in
                i += 1
                continue
            if fam == "Position":
                pos = val
                i += 1
                continue
            if fam == "Chord":
                c = None if val is None else Chord(val[0], val[1], None, chord_symbol(val[0], val[1]))
                chords[bar].append((pos * STEP, c))
                i += 1
                continue
            if fam in ("Pitch", "PitchDrum"):
                pitch = val
                i += 1
                vel = 79
                if i < len(seq) and kinds[seq[i]][0] == "Velocity":
                    vel = kinds[seq[i]][1]
                    i += 1
                dur = DRUM_DURATION if fam == "PitchDrum" or drum else PPQ // 2
                if i < len(seq) and kinds[seq[i]][0] == "Duration":
                    if fam == "Pitch":
                        dur = kinds[seq[i]][1]
                    i += 1
                start = bar * bar_len + pos * STEP
                notes.append(Note(start, start + dur, pitch, max(1, min(127, vel))))
                continue
            i += 1  # anything else out of place
        notes.sort(key=lambda n: (n.start, n.pitch))
        return header, notes, chords

    def _read_context(self, seq: list[int], bar_len: int) -> dict[str, list[Note]]:
        """role -> the context block's notes (a 16th long, velocity 79), in ticks from the first bar."""
        out: dict[str, list[Note]] = {}
        role, bar, pos = None, -1, 0
        for t in seq:
            fam, val = self._kinds[t]
            if fam == "Ctx":
                role, bar, pos = val, -1, 0
                out.setdefault(val, [])
            elif fam == "Bar":
                bar, pos = bar + 1, 0
            elif fam == "Position":
                pos = val
            elif fam == "Pitch" and role is not None and bar >= 0:
                start = bar * bar_len + pos * STEP
                out[role].append(Note(start, start + STEP, val, 79))
        return out

    # -- augmentation

    def transpose_map(self, semitones: int) -> np.ndarray:
        """An id -> id table (int64) that transposes a sequence by `semitones`: Pitch, Key and Chord
        tokens move; drums and everything else stay. Pitches that leave the range map to -1."""
        out = np.arange(self.vocab_size, dtype=np.int64)
        for i, (fam, val) in enumerate(self._kinds):
            if fam == "Pitch":
                p = val + semitones
                out[i] = self._pitch.get(p, -1)
            elif fam == "Key":
                out[i] = self.vocab[f"Key_{(val[0] + semitones) % 12}_{val[1]}"]
            elif fam == "Chord" and val is not None:
                out[i] = self.vocab[f"Chord_{(val[0] + semitones) % 12}_{val[1]}"]
        return out

    # -- persistence

    def config(self) -> dict:
        """The JSON-serializable config: miditok parameters, added tokens, vocabulary, thresholds."""
        from importlib.metadata import version

        return {
            "format": FORMAT,
            "version": VERSION,
            "ppq": PPQ,
            "ticks_per_position": STEP,
            "max_positions": MAX_POSITIONS,
            "miditok": {"tokenization": "REMI", "miditok_version": version("miditok"), "params": MIDITOK_PARAMS},
            "roles": list(ROLES),
            "meters": [list(m) for m in METERS],
            "tempo_boundaries": list(TEMPO_BOUNDARIES),
            "tempo_values": list(TEMPO_VALUES),
            "sections": list(SECTION_CLASSES),
            "chord_qualities": list(CHORD_QUALITIES),
            "energy_measure": "notes per bar of the track",
            "energy_thresholds": self.energy_thresholds,
            "added_tokens": added_tokens(),
            "vocab": self.tokens,
            "extra": self.extra,
        }

    def config_hash(self) -> str:
        text = json.dumps({k: v for k, v in self.config().items() if k != "extra"}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def save(self, path: str | Path) -> Path:
        """Write the config as JSON (atomic)."""
        from .files import atomic_write

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(path, json.dumps(self.config(), indent=1) + "\n")

    @classmethod
    def from_config(cls, config: dict) -> MusicTokenizer:
        if config.get("format") != FORMAT:
            raise TokenizerError(f"not a {FORMAT} config")
        if config.get("version") != VERSION:
            raise TokenizerError(f"tokenizer config version {config.get('version')!r}, expected {VERSION}")
        if config.get("miditok", {}).get("params") != MIDITOK_PARAMS:
            raise TokenizerError("tokenizer config was made with other miditok parameters")
        if config.get("added_tokens") != added_tokens():
            raise TokenizerError("tokenizer config has other control tokens than this version of the code")
        return cls(config.get("energy_thresholds"), config.get("vocab"), config.get("extra"))

    @classmethod
    def load(cls, path: str | Path) -> MusicTokenizer:
        path = Path(path)
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise TokenizerError(f"cannot read tokenizer config {path}: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise TokenizerError(f"tokenizer config {path} is not valid JSON: {exc}") from None
        return cls.from_config(config)

    @classmethod
    def in_folder(cls, folder: str | Path) -> MusicTokenizer:
        """The tokenizer.json that a model or shard folder carries, else the default."""
        path = Path(folder) / "tokenizer.json"
        return cls.load(path) if path.is_file() else cls.default()

    @classmethod
    def default(cls) -> MusicTokenizer:
        """The shipped tokenizer (symbolic/weights/musicgpt/tokenizer.json), or a fresh one with default thresholds."""
        return _default_tokenizer()


@lru_cache(maxsize=1)
def _default_tokenizer() -> MusicTokenizer:
    if TOKENIZER_PATH.is_file():
        return MusicTokenizer.load(TOKENIZER_PATH)
    return MusicTokenizer()
