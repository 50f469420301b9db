"""The corpora, read once each into one piece type (Piece: bars with chords, keys, tempi and sections, and tracks
with a role and a GM program), for the token shards and the performance model.

* POP909 (MIT): MELODY -> melody, BRIDGE -> counter-melody, PIANO -> accompaniment and a bass track
  made from the piano's lowest voice (see `split_bass`; those notes leave the accompaniment, so the
  two tracks add up to the piano part). Each run of the accompaniment is labelled by its texture
  (`accompaniment_role`): broken chords -> arpeggio, long held chords -> pad, else chords. Bars, chords and phrase labels come from the hierarchical
  structure annotations (POP909_structure, MIT), aligned to the MIDI through the melody; notes are
  moved onto the annotated beat grid before quantizing to 16ths. Compound-meter songs (triplet
  subdivision) become 12/8.
* Groove MIDI (CC BY 4.0): drums, Roland TD-11 keys mapped to General MIDI, the data set's own
  train/validation/test split and BPM, no chords (Chord_N).
* OpenEWLD (MIT, public-domain scores) and chord-melody-dataset (MIT): melody with the lead sheet's
  chord symbols, read with music21; the key is estimated from the chords.
* music21's Bach chorales (BSD): soprano -> melody, alto -> counter-melody, tenor -> pad, bass -> bass,
  chords recognized per beat from the four voices; a choir, string, organ or wind sound per piece.

Nottingham (GPL-3.0) is not used. The split is by piece (a hash of its id; lead sheets by their
normalized title so that a song in both collections lands in one split; Groove by its own split).
"""
from __future__ import annotations

import bisect
import csv
import hashlib
import io
import math
import os
import re
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from symbolic.annotations import (
    estimate_key,
    m21_chord,
    mxl_to_xml,
    openewld_genres,
    parse_harte,
    parse_pop909_phrases,
    read_tar_members,
    section_break_after,
    section_break_before,
)
from symbolic.harmony import QUALITIES, Chord, chord_symbol, parse_note_name
from symbolic.score import PPQ, Bar, Note
from symbolic.tokenizer import (
    METERS,
    STEP,
)

if TYPE_CHECKING:
    from music21.stream import Measure

VAL_PERCENT = 5
TEST_PERCENT = 5
SPLITS = ("train", "val", "test")

Say = Callable[[str], None]  # a line of news for the person running the build


class DataError(RuntimeError):
    """The data folder or an archive is missing."""


def default_data_dir() -> Path:
    env = os.environ.get("COMPOSER_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big")


def split_of(key: str) -> str:
    """Deterministic train/val/test split of a piece from a hash of its key."""
    h = stable_hash(key) % 100
    if h < TEST_PERCENT:
        return "test"
    if h < TEST_PERCENT + VAL_PERCENT:
        return "val"
    return "train"


# --------------------------------------------------------------------------------------------
# The common shape of a piece


@dataclass
class PieceTrack:
    name: str
    role: str
    program: int
    drum: bool
    notes: list[Note]


@dataclass
class Piece:
    id: str
    source: str
    split: str
    bars: list[Bar]                                   # contiguous, from tick 0
    chords: list[list[tuple[int, Chord | None]]]      # per bar: (tick offset in the bar, chord)
    keys: list[tuple[int, str]]                        # per bar: (tonic, mode)
    tempos: list[float]                                # per bar, quarter notes per minute
    sections: list[tuple[int, int, str]]               # (first bar, bars, label) when annotated
    tracks: list[PieceTrack]
    genre: str = ""
    title: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_bars(self) -> int:
        return len(self.bars)

    def seconds(self) -> float:
        return sum(b.length / PPQ * 60.0 / max(1.0, t) for b, t in zip(self.bars, self.tempos))

    def main_meter(self) -> tuple[int, int]:
        c = Counter((b.numerator, b.denominator) for b in self.bars)
        return c.most_common(1)[0][0] if c else (4, 4)


def make_chord(root: int, quality: str) -> Chord:
    return Chord(root % 12, quality, None, chord_symbol(root % 12, quality))


def bars_of(meter: tuple[int, int], n_bars: int) -> list[Bar]:
    num, den = meter
    length = num * PPQ * 4 // den
    return [Bar(i * length, num, den) for i in range(n_bars)]


def chords_per_bar(changes: list[tuple[int, Chord | None]], bars: list[Bar]) -> list[list[tuple[int, Chord | None]]]:
    """Absolute (tick, chord) changes -> per bar lists that always state the chord at offset 0."""
    changes = sorted(changes, key=lambda c: c[0])
    out: list[list[tuple[int, Chord | None]]] = []
    ci = 0
    current: Chord | None = None
    for bar in bars:
        while ci < len(changes) and changes[ci][0] <= bar.start:
            current = changes[ci][1]
            ci += 1
        items: list[tuple[int, Chord | None]] = [(0, current)]
        while ci < len(changes) and changes[ci][0] < bar.end:
            tick, chord = changes[ci]
            off = (tick - bar.start) // STEP * STEP
            if off == 0:
                items[0] = (0, chord)
            elif chord != items[-1][1]:
                items.append((off, chord))
            current = chord
            ci += 1
        out.append(items)
    return out


# --------------------------------------------------------------------------------------------
# Chord recognition from notes (chorales)

_TEMPLATES = [(q, frozenset(i % 12 for i in QUALITIES[q][0])) for q in
              ("maj", "min", "7", "dim", "min7", "maj7", "hdim7", "dim7", "aug", "sus4", "maj6", "min6")]
_COMPLEXITY = {"maj": 0.0, "min": 0.0, "7": 0.06, "dim": 0.04, "min7": 0.08, "maj7": 0.1, "hdim7": 0.08,
               "dim7": 0.08, "aug": 0.2, "sus4": 0.15, "maj6": 0.15, "min6": 0.15}


def recognize_chord(weights: dict[int, float], bass: int | None) -> tuple[int, str] | None:
    """Best (root, quality) for pitch-class weights (e.g. sounding time per pitch class).

    Chord tones score their weight, other tones cost half theirs, a missing third or root costs, and
    a root in the bass is a bonus; ties go to simpler chords. None when nothing sounds.
    """
    total = sum(weights.values())
    if total <= 0:
        return None
    best, best_score = None, -1e9
    for root in range(12):
        for quality, pcs in _TEMPLATES:
            tones = {(root + i) % 12 for i in pcs}
            inside = sum(w for pc, w in weights.items() if pc in tones)
            outside = total - inside
            missing = sum(1 for i in pcs if weights.get((root + i) % 12, 0.0) <= 0)
            score = inside - 0.6 * outside - 0.15 * total * missing
            if weights.get(root, 0.0) <= 0:
                score -= 0.3 * total
            if bass is not None and bass == root:
                score += 0.25 * total
            score -= _COMPLEXITY[quality] * total
            if score > best_score + 1e-9:
                best, best_score = (root, quality), score
    return best


def recognize_chords(parts: list[list[Note]], bars: list[Bar]) -> list[tuple[int, Chord | None]]:
    """Chord changes (tick, chord) recognized beat by beat from all parts' notes."""
    notes = sorted((n for p in parts for n in p), key=lambda n: n.start)
    starts = [n.start for n in notes]
    max_len = max((n.end - n.start for n in notes), default=0)
    changes: list[tuple[int, Chord | None]] = []
    prev: tuple[int, str] | None = None
    for bar in bars:
        beat = _beat_ticks(bar)
        for t0 in range(bar.start, bar.end, beat):
            t1 = min(bar.end, t0 + beat)
            lo = bisect.bisect_left(starts, t0 - max_len)
            hi = bisect.bisect_left(starts, t1)
            weights: dict[int, float] = defaultdict(float)
            bass_pitch = None
            for n in notes[lo:hi]:
                ov = min(n.end, t1) - max(n.start, t0)
                if ov <= 0:
                    continue
                weights[n.pitch % 12] += ov * (1.5 if n.start >= t0 else 1.0)
                if n.start <= t0 + STEP and (bass_pitch is None or n.pitch < bass_pitch):
                    bass_pitch = n.pitch
            rc = recognize_chord(dict(weights), None if bass_pitch is None else bass_pitch % 12)
            if rc is None:
                continue
            if rc != prev:
                changes.append((t0, make_chord(*rc)))
                prev = rc
    return changes


def _beat_ticks(bar: Bar) -> int:
    if bar.denominator == 8 and bar.numerator % 3 == 0:
        return 3 * PPQ // 2
    return PPQ * 4 // bar.denominator if bar.denominator <= 4 else PPQ


# --------------------------------------------------------------------------------------------
# POP909


POP909_BASS_PROGRAM = 33  # electric bass (finger)
BASS_CEILING = 60  # the bass voice is taken from notes below C4
MIN_CHORD_FIT = 0.5  # songs whose on-beat piano notes fit the chord annotation less are left out


def split_bass(notes: list[Note], ceiling: int = BASS_CEILING) -> tuple[list[Note], list[Note]]:
    """Split a piano part into (bass line, the rest).

    At each onset the lowest new note below `ceiling` belongs to the bass when no note from an
    earlier onset is still sounding below it (a held bass note keeps the broken chord above it out
    of the bass). Bass notes are cut where the next bass note starts, so the line is monophonic.
    """
    by_onset: dict[int, list[Note]] = defaultdict(list)
    for n in notes:
        by_onset[n.start].append(n)
    bass: list[Note] = []
    sounding: list[Note] = []  # notes from earlier onsets
    for t in sorted(by_onset):
        sounding = [n for n in sounding if n.end > t]
        group = sorted(by_onset[t], key=lambda n: n.pitch)
        low = group[0]
        if low.pitch < ceiling and not any(s.pitch < low.pitch for s in sounding):
            bass.append(low)
        sounding.extend(group)
    chosen = {id(n) for n in bass}
    rest = [n for n in notes if id(n) not in chosen]
    line: list[Note] = []
    for i, n in enumerate(bass):
        end = n.end
        if i + 1 < len(bass) and bass[i + 1].start < end:
            end = bass[i + 1].start
        line.append(Note(n.start, end, n.pitch, n.velocity))
    return line, rest


def _tempo_seconds(tempos: list[tuple[int, float]], ppq: int = PPQ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ticks = np.array([t for t, _ in tempos], dtype=np.float64)
    bpms = np.array([b for _, b in tempos], dtype=np.float64)
    secs = np.zeros_like(ticks)
    for i in range(1, len(ticks)):
        secs[i] = secs[i - 1] + (ticks[i] - ticks[i - 1]) * 60.0 / (bpms[i - 1] * ppq)
    return ticks, bpms, secs


def seconds_to_ticks(tempos: list[tuple[int, float]], seconds: np.ndarray) -> np.ndarray:
    """MIDI ticks (float) at times in seconds under a tempo map [(tick, bpm)]."""
    ticks, bpms, secs = _tempo_seconds(tempos)
    k = np.clip(np.searchsorted(secs, seconds, side="right") - 1, 0, len(ticks) - 1)
    return ticks[k] + (seconds - secs[k]) * bpms[k] * PPQ / 60.0


def beat_index(beats: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    """Fractional beat index of ticks on a beat grid (extrapolated before and after it)."""
    k = np.clip(np.searchsorted(beats, ticks, side="right") - 1, 0, len(beats) - 2)
    return k + (ticks - beats[k]) / (beats[k + 1] - beats[k])


def _pop909_index(data_dir: Path) -> dict[str, tuple[int, int]]:
    """song id -> (beats per measure, quavers per beat) from index.csv."""
    path = data_dir / "pop909" / "index.csv"
    out: dict[str, tuple[int, int]] = {}
    if not path.is_file():
        return out
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            if row and row[0].strip().isdigit() and len(row) >= 6:
                try:
                    out[row[0].strip().zfill(3)] = (int(row[-2]), int(row[-1]))
                except ValueError:
                    continue
    return out


_CHORD_LINE_RE = re.compile(r"^(.*?)\s*\[[^\]]*\]\s+(-?\d+)\s+(\d+(?:\.\d+)?)")
_KEY_RE = re.compile(r"([A-G][#b]?):(maj|min)")


def read_pop909(data_dir: Path, limit: int | None, midi: bool = True) -> list[dict]:
    """The files of each POP909 song, as bytes: the performance MIDI and beats (pop909.tar.gz) and the
    structure analysis (chords, key, phrase labels, melody). Without `midi`, only the analysis, for the
    songs that have a chord file (the harmony table reads no notes)."""
    want_main = re.compile(r"^POP909/(\d{3})/(\d{3}\.mid|beat_midi\.txt)$")
    want_struct = re.compile(r"^POP909_structure/(\d{3})/(human_label1\.txt|finalized_chord\.txt|melody\.txt|"
                             r"analyzed_key\.txt)$")
    struct = _archive(data_dir, "pop909_structure", "pop909_structure.tar.gz")
    files = read_tar_members(struct, lambda n: bool(want_struct.match(n)))
    if midi:
        main = _archive(data_dir, "pop909", "pop909.tar.gz")
        files.update(read_tar_members(main, lambda n: bool(want_main.match(n))))
    songs: dict[str, dict] = defaultdict(dict)
    for name, data in files.items():
        m = want_main.match(name) or want_struct.match(name)
        assert m is not None  # read_tar_members kept only the names these patterns match
        sid, fname = m.group(1), m.group(2)
        songs[sid]["midi" if fname.endswith(".mid") else fname] = data
    need = ("midi", "beat_midi.txt") if midi else ("finalized_chord.txt",)
    ids = sorted(s for s in songs if all(k in songs[s] for k in need))
    if limit:
        ids = ids[:limit]
    meters = _pop909_index(data_dir)
    return [{"sid": s, "meter": meters.get(s, (2, 2)), **songs[s]} for s in ids]


def pop909_piece(song: dict, shift: int = 0) -> tuple[Piece | None, str]:
    """One POP909 song -> a Piece (or None and the reason it was skipped)."""
    import mido

    from symbolic.midi_io import midi_to_score

    sid = song["sid"]
    score = midi_to_score(mido.MidiFile(file=io.BytesIO(song["midi"]), clip=True), title=sid)
    beat_rows = [line.split() for line in song["beat_midi.txt"].decode().splitlines() if line.strip()]
    if len(beat_rows) < 8:
        return None, "too few beats"
    beat_sec = np.array([float(r[0]) for r in beat_rows])
    beats = seconds_to_ticks(score.tempos, beat_sec)  # midi_to_score gives ticks at PPQ 480
    if np.any(np.diff(beats) <= 0):
        return None, "beats out of order"
    tracks = {p.name.split(" ch")[0].upper(): p for p in score.parts}
    if "PIANO" not in tracks:
        return None, "no PIANO track"
    nb, nq = song["meter"]
    if (nb, nq) == (3, 3):
        return None, "9/8 song"
    all_notes = [n for p in score.parts for n in p.notes]
    onsets = beat_index(beats, np.array([n.start for n in all_notes], dtype=np.float64))
    frac = onsets - np.floor(onsets)
    compound = False
    if nq == 3:
        trip = np.mean((np.abs(frac - 1 / 3) < 0.06) | (np.abs(frac - 2 / 3) < 0.06))
        sixt = np.mean((np.abs(frac - 0.25) < 0.06) | (np.abs(frac - 0.75) < 0.06))
        compound = bool(trip > sixt)
    sub = 6 if compound else 4  # 16ths per annotated beat
    beats_per_bar = 3 if nb == 3 and nq == 2 else 4
    meter = (12, 8) if compound else (3, 4) if beats_per_bar == 3 else (4, 4)
    err = np.abs(onsets * sub - np.round(onsets * sub)).mean() if len(onsets) else 1.0
    if err > 0.2:
        return None, f"notes off the beat grid (mean error {err:.2f} of a 16th)"

    # Where the annotations' bar 0 lies on the MIDI beat grid: through the first melody note.
    offset = None
    mel = tracks.get("MELODY")
    if mel is not None and mel.notes and "melody.txt" in song:
        rest = 0
        for line in song["melody.txt"].decode().splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            if int(parts[0]) != 0:
                break
            rest += int(parts[1])
        first = float(beat_index(beats, np.array([mel.notes[0].start], dtype=np.float64))[0])
        offset = int(round(first - rest / 4))
    if offset is None:
        downs = [i for i, r in enumerate(beat_rows) if len(r) > 2 and float(r[2]) == 1.0]
        offset = downs[0] if downs else 0
    offset += shift
    fit = None
    if not shift:
        offset, fit = _align_chords(tracks["PIANO"].notes, beats, song, sub, offset)
        if fit is not None and fit < MIN_CHORD_FIT:
            return None, f"piano and chord annotation disagree (chord-tone share {fit:.2f})"

    def to_ticks(midi_ticks: np.ndarray) -> np.ndarray:
        b = beat_index(beats, midi_ticks.astype(np.float64)) - offset
        return np.round(b * sub).astype(np.int64) * STEP

    def convert(notes: list[Note]) -> list[Note]:
        if not notes:
            return []
        s = to_ticks(np.array([n.start for n in notes]))
        e = to_ticks(np.array([n.end for n in notes]))
        out = []
        for n, a, b in zip(notes, s, e):
            if a < 0:
                continue
            out.append(Note(int(a), int(max(b, a + STEP)), n.pitch, n.velocity))
        return out

    melody = convert(tracks["MELODY"].notes) if "MELODY" in tracks else []
    bridge = convert(tracks["BRIDGE"].notes) if "BRIDGE" in tracks else []
    piano = convert(tracks["PIANO"].notes)
    bass, chords_part = split_bass(piano)
    bar_len = meter[0] * PPQ * 4 // meter[1]

    label = song.get("human_label1.txt", b"").decode(errors="replace").strip()
    phrases = parse_pop909_phrases(label)
    chord_rows = _chord_rows(song)
    chord_beats = sum(d for _, d in chord_rows)
    label_bars = sum(n for _, n in phrases)
    if phrases and abs(chord_beats - label_bars * beats_per_bar) > 2 * beats_per_bar:
        phrases = []  # labels that do not match the chord annotation's length
    last = max((n.end for n in melody + bridge + piano), default=0)
    n_bars = max(label_bars, math.ceil(max(0, last - STEP) / bar_len), 1)
    bars = bars_of(meter, n_bars)

    changes: list[tuple[int, Chord | None]] = []
    pos = 0.0
    for ch, dur in chord_rows:
        tick = int(round(pos * sub)) * STEP
        changes.append((tick, None if ch is None else make_chord(*ch)))
        pos += dur
    if pos > 0:
        changes.append((int(round(pos * sub)) * STEP, None))
    per_bar = chords_per_bar(changes, bars)

    sections: list[tuple[int, int, str]] = []
    at = 0
    for letter, length in phrases:
        if at >= n_bars or length <= 0:
            break
        sections.append((at, min(length, n_bars - at), letter))
        at += length
    if sections and at < n_bars:
        sections.append((at, n_bars - at, "o"))

    # Key: analyzed key(s); with several, each section takes the one its chords fit best.
    key_text = song.get("analyzed_key.txt", b"").decode(errors="replace")
    keys_found = [(parse_note_name(t), "major" if q == "maj" else "minor") for t, q in _KEY_RE.findall(key_text)]
    flat = [(c.root, c.quality, 1.0) for bar in per_bar for _, c in bar if c is not None]
    if not keys_found:
        keys_found = [estimate_key(flat)] if flat else [(0, "major")]
    candidates = list(dict.fromkeys(keys_found))
    keys = [candidates[0]] * n_bars
    if len(candidates) > 1:
        for first, length, _ in sections or [(0, n_bars, "")]:
            chunk = [(c.root, c.quality, 1.0) for bar in per_bar[first:first + length] for _, c in bar if c is not None]
            k = estimate_key(chunk or flat, candidates=candidates)
            keys[first:first + length] = [k] * length

    # Tempo per bar from the annotated beats (quarter notes per minute).
    quarters_per_beat = 1.5 if compound else 1.0
    spb = np.diff(beat_sec)
    median = float(np.median(spb)) if len(spb) else 0.5
    tempos = []
    for i in range(n_bars):
        a = offset + i * beats_per_bar
        seg = spb[max(0, a):max(0, a + beats_per_bar)]
        s = float(np.mean(seg)) if len(seg) else median
        tempos.append(round(60.0 / s * quarters_per_beat, 1))

    tracks_out = [PieceTrack("Melody", "melody", 0, False, melody), PieceTrack("Bridge", "counter-melody", 0, False, bridge),
                  PieceTrack("Piano", "chords", 0, False, chords_part),
                  PieceTrack("Bass", "bass", POP909_BASS_PROGRAM, False, bass)]
    piece = Piece(id=f"pop909/{sid}", source="pop909", split=split_of(f"pop909/{sid}"), bars=bars, chords=per_bar,
                  keys=keys, tempos=tempos, sections=sections, tracks=[t for t in tracks_out if t.notes],
                  genre="pop", title=sid, meta={"label": label, "compound": compound,
                        "chord_fit": None if fit is None else round(float(fit), 3)})
    return piece, ""


def _chord_masks(song: dict) -> list[int]:
    """Pitch-class bit masks of the annotated chord on each beat of POP909_structure's grid."""
    masks: list[int] = []
    for ch, beats in _chord_rows(song):
        mask = 0
        if ch is not None:
            for i in QUALITIES[ch[1]][0]:
                mask |= 1 << ((ch[0] + i) % 12)
        masks.extend([mask] * int(round(beats)))
    return masks


def _chord_rows(song: dict) -> list[tuple[tuple[int, str] | None, float]]:
    """(chord or None, beats) per line of POP909_structure's finalized_chord.txt."""
    rows: list[tuple[tuple[int, str] | None, float]] = []
    for line in song.get("finalized_chord.txt", b"").decode(errors="replace").splitlines():
        m = _CHORD_LINE_RE.match(line.strip())
        if not m:
            continue
        try:
            ch = parse_harte(m.group(1).replace(" ", ""))
        except ValueError:
            ch = None
        rows.append((ch, float(m.group(3))))
    return rows


def _align_chords(piano: list[Note], beats: np.ndarray, song: dict, sub: int, guess: int,
                  reach: int = 8) -> tuple[int, float | None]:
    """The beat of the MIDI grid where the annotations' bar 0 lies.

    The melody gives a first guess; the chord annotation decides: of the offsets within `reach`
    beats of the guess, the one under which most on-beat piano notes are chord tones wins (the
    guess keeps ties within 2%). Returns (offset, share of chord tones or None when unknown).
    """
    masks = _chord_masks(song)
    if not masks or not piano:
        return guess, None
    pos = beat_index(beats, np.array([n.start for n in piano], dtype=np.float64))
    on = np.abs(pos - np.round(pos)) * sub < 0.5
    if on.sum() < 20:
        return guess, None
    b = np.round(pos[on]).astype(np.int64)
    bit = np.array([1 << (n.pitch % 12) for n, o in zip(piano, on) if o], dtype=np.int64)
    table = np.array(masks, dtype=np.int64)

    def fit(offset: int) -> float:
        idx = b - offset
        ok = (idx >= 0) & (idx < len(table))
        if ok.sum() < 10:
            return 0.0
        sel = table[idx[ok]]
        voiced = sel != 0
        if voiced.sum() < 10:
            return 0.0
        return float(np.mean((sel[voiced] & bit[ok][voiced]) != 0))

    base = fit(guess)
    best, best_fit = guess, base
    for off in range(guess - reach, guess + reach + 1):
        f = fit(off)
        if f > best_fit + 0.02 and f > best_fit:
            best, best_fit = off, f
    return best, best_fit


def _archive(data_dir: Path, folder: str, name: str) -> Path:
    path = data_dir / folder / name
    if not path.is_file():
        raise DataError(f"missing {path}")
    return path


# --------------------------------------------------------------------------------------------
# Groove MIDI

# Roland TD-11 keys that General MIDI plays as other sounds -> the GM drum they stand for.
TD11_TO_GM = {22: 42, 26: 46, 58: 43, 47: 45, 50: 48, 40: 38, 52: 57, 55: 49, 59: 51}
_GROOVE_STYLES = {"hiphop": "hip-hop", "neworleans": "New Orleans", "afrocuban": "Afro-Cuban",
                  "middleeastern": "Middle Eastern", "highlife": "highlife", "dance": "dance"}


def groove_style(style: str) -> str:
    head = style.split("/")[0].strip().lower()
    return _GROOVE_STYLES.get(head, head)


def read_groove(data_dir: Path, limit: int | None) -> list[dict]:
    path = _archive(data_dir, "groove_midi", "groove_midi.tar.gz")
    files = read_tar_members(path, lambda n: n.endswith((".mid", "info.csv")))
    info_name = next((n for n in files if n.endswith("info.csv")), None)
    if info_name is None:
        raise DataError(f"{path} has no info.csv")
    rows = list(csv.DictReader(io.StringIO(files[info_name].decode("utf-8"))))
    by_name = {n.split("groove/", 1)[-1]: data for n, data in files.items() if n.endswith(".mid")}
    items = []
    for row in sorted(rows, key=lambda r: r["midi_filename"]):
        data = by_name.get(row["midi_filename"])
        if data is not None:
            items.append({**row, "midi": data})
    return items[:limit] if limit else items


def groove_piece(item: dict) -> tuple[Piece | None, str]:
    import mido

    from symbolic.midi_io import midi_to_score

    num, den = (int(x) for x in item["time_signature"].split("-"))
    if (num, den) not in METERS:
        return None, f"meter {num}/{den}"
    score = midi_to_score(mido.MidiFile(file=io.BytesIO(item["midi"]), clip=True))
    notes = []
    for p in score.parts:
        for n in p.notes:
            notes.append(Note(n.start, n.end, TD11_TO_GM.get(n.pitch, n.pitch), n.velocity))
    if not notes:
        return None, "no notes"
    bar_len = num * PPQ * 4 // den
    last = max(n.start for n in notes)
    n_bars = max(1, (last + STEP // 2) // bar_len + 1)
    bars = bars_of((num, den), n_bars)
    bpm = float(item.get("bpm") or score.tempos[0][1])
    pid = "groove/" + item["id"]
    split = {"train": "train", "validation": "val", "test": "test"}.get(item.get("split", ""), split_of(pid))
    key = (stable_hash(pid) % 12, "major" if stable_hash(pid + "/mode") % 2 else "minor")
    track = PieceTrack("Drums", "drums", 0, True, sorted(notes, key=lambda n: (n.start, n.pitch)))
    piece = Piece(id=pid, source="groove", split=split, bars=bars, chords=[[(0, None)] for _ in bars],
                  keys=[key] * n_bars, tempos=[bpm] * n_bars, sections=[], tracks=[track],
                  genre=groove_style(item.get("style", "")), title=item["id"],
                  meta={"beat_type": item.get("beat_type", ""), "style": item.get("style", ""),
                        "drummer": item.get("drummer", "")})
    return piece, ""


# --------------------------------------------------------------------------------------------
# music21 scores: lead sheets and chorales

DEFAULT_VELOCITY = 80


def _meter_of_length(ticks: int) -> tuple[int, int]:
    if ticks % PPQ == 0:
        return ticks // PPQ, 4
    if ticks % (PPQ // 2) == 0:
        return ticks // (PPQ // 2), 8
    return max(1, ticks // STEP), 16


@dataclass
class _Measure:
    m21: Measure
    start: int   # tick of the bar
    pad: int     # ticks before the measure's content (a pickup is right-aligned in its bar)
    bar: Bar


def m21_grid(part) -> list[_Measure]:
    """The bar grid of a music21 part: one bar per measure, a pickup padded to a full bar, the last
    measure filled to a full bar, other measures as long as their content (irregular ones get the
    meter of their length, e.g. 2/4 inside 4/4)."""
    measures = list(part.getElementsByClass("Measure"))
    out: list[_Measure] = []
    ts = None
    tick = 0
    for i, m in enumerate(measures):
        if m.timeSignature is not None:
            ts = m.timeSignature
        num, den = (ts.numerator, ts.denominator) if ts is not None else (4, 4)
        full = num * PPQ * 4 // den
        actual = int(round(float(m.duration.quarterLength) * PPQ))
        pad = 0
        if actual <= 0 or actual == full:
            length, meter = full, (num, den)
        elif i == 0 and actual < full:
            length, meter, pad = full, (num, den), full - actual
        elif i == len(measures) - 1 and actual < full:
            length, meter = full, (num, den)
        else:
            length = actual - actual % STEP if actual % STEP else actual
            meter = _meter_of_length(length)
        if length <= 0:
            continue
        bar = Bar(tick, meter[0], meter[1])
        if bar.length != length:  # a length the meter cannot express exactly (e.g. 16ths)
            bar = Bar(tick, length // STEP, 16)
        out.append(_Measure(m, tick, pad, bar))
        tick += bar.length
    return out


def m21_notes(grid: list[_Measure], velocity: int = DEFAULT_VELOCITY) -> list[Note]:
    """Notes (ties merged, grace notes dropped, chords split) of a part's measures on the grid."""
    from music21 import harmony

    notes: list[Note] = []
    for gm in grid:
        for el in gm.m21.recurse().notes:
            if isinstance(el, harmony.ChordSymbol):
                continue
            ql = float(el.duration.quarterLength)
            if ql <= 0 or el.duration.isGrace:
                continue
            tie = getattr(el, "tie", None)
            if tie is not None and tie.type in ("stop", "continue"):
                # the note carries on: lengthen the open note of that pitch
                for p in el.pitches:
                    for prev in reversed(notes[-8:]):
                        if prev.pitch == p.midi:
                            prev.end += int(round(ql * PPQ))
                            break
                continue
            off = float(el.getOffsetInHierarchy(gm.m21))
            start = gm.start + gm.pad + int(round(off * PPQ))
            end = start + max(1, int(round(ql * PPQ)))
            for p in el.pitches:
                if 0 <= p.midi <= 127:
                    notes.append(Note(start, end, int(p.midi), velocity))
    notes.sort(key=lambda n: (n.start, n.pitch))
    return notes


def m21_chord_changes(grid: list[_Measure]) -> list[tuple[int, Chord | None]]:
    from music21 import harmony

    out: list[tuple[int, Chord | None]] = []
    for gm in grid:
        for cs in gm.m21.recurse().getElementsByClass(harmony.ChordSymbol):
            off = float(cs.getOffsetInHierarchy(gm.m21))
            rq = m21_chord(cs)
            tick = gm.start + gm.pad + int(round(off * PPQ))
            out.append((tick, None if rq is None else make_chord(*rq)))
    out.sort(key=lambda c: c[0])
    return out


def _m21_tempo(part) -> float | None:
    from music21 import tempo

    for mm in part.recurse().getElementsByClass(tempo.MetronomeMark):
        try:
            bpm = mm.getQuarterBPM()
        except Exception:  # noqa: BLE001
            bpm = None
        if bpm and 20 <= bpm <= 320:
            return float(bpm)
    return None


def _key_prior(part) -> list[tuple[int, str]]:
    from music21 import key as m21key

    ks = next(iter(part.recurse().getElementsByClass(m21key.KeySignature)), None)
    if ks is None:
        return []
    major = (ks.sharps * 7) % 12
    return [(major, "major"), ((major + 9) % 12, "minor")]


def _lead_sheet_sections(grid: list[_Measure], first: int, last: int) -> list[tuple[int, int, str]]:
    """Sections cut at double/final/repeat barlines and rehearsal marks (at least 4 bars each)."""
    breaks = set()
    for i, gm in enumerate(grid):
        if section_break_before(gm.m21):
            breaks.add(i)
        if section_break_after(gm.m21):
            breaks.add(i + 1)
    cuts = [first]
    for b in sorted(breaks):
        if b - cuts[-1] >= 4 and last - b >= 4:
            cuts.append(b)
    cuts.append(last)
    if len(cuts) <= 2:
        return []
    return [(a, z - a, "") for a, z in zip(cuts, cuts[1:])]


LEAD_SHEET_TEMPO = 100.0  # when a lead sheet gives no metronome mark


def lead_sheet_piece(pid: str, source: str, xml: bytes, genre: str, split_key: str) -> tuple[Piece | None, str]:
    """A MusicXML lead sheet -> a melody Piece with the sheet's chord symbols."""
    from music21 import converter, harmony, stream

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = converter.parseData(xml, format="musicxml")
    assert isinstance(score, stream.Score)  # MusicXML parses to a Score
    parts: list[stream.Stream] = list(score.parts) or [score]
    part = max(parts, key=lambda p: len(list(p.recurse().getElementsByClass(harmony.ChordSymbol))))
    grid = m21_grid(part)
    if not grid:
        return None, "no measures"
    notes = m21_notes(grid)
    changes = m21_chord_changes(grid)
    if not notes:
        return None, "no notes"
    if not any(c is not None for _, c in changes):
        return None, "no chord symbols"
    bars = [gm.bar for gm in grid]
    per_bar = chords_per_bar(changes, bars)
    flat = [(c.root, c.quality, 1.0) for bar in per_bar for _, c in bar if c is not None]
    key = estimate_key(flat, prior=_key_prior(part))
    bpm = _m21_tempo(part)
    title = ""
    if score.metadata is not None:
        title = score.metadata.title or ""
    sections = _lead_sheet_sections(grid, 0, len(bars))
    piece = Piece(id=pid, source=source, split=split_of(split_key), bars=bars, chords=per_bar,
                  keys=[key] * len(bars), tempos=[bpm or LEAD_SHEET_TEMPO] * len(bars), sections=sections,
                  tracks=[PieceTrack("Melody", "melody", 0, False, notes)], genre=genre, title=title,
                  meta={"tempo_source": "score" if bpm else "default"})
    return piece, ""


def title_key(name: str) -> str:
    """A normalized song title, so that one song from two collections gets one split."""
    stem = name.rsplit("/", 1)[-1]
    stem = re.sub(r"\.(mxl|xml|musicxml)$", "", stem)
    stem = stem.split("__")[0]
    return "leadsheet/" + re.sub(r"[^a-z0-9]+", "", stem.lower())


_EWLD_GENRES = {"Stage & Screen": "show tune", "Pop": "pop", "Jazz": "jazz", "Rock": "rock", "Folk": "folk",
                "Country": "country", "Blues": "blues", "Latin": "latin", "Classical": "classical",
                "Religious": "religious", "Children's": "children's song", "Electronic": "electronic",
                "Funk / Soul": "soul", "Hip Hop": "hip-hop", "Reggae": "reggae", "Non-Music": "pop",
                "Brass & Military": "march"}


def read_lead_sheets(data_dir: Path, limit: int | None) -> list[dict]:
    items: list[dict] = []
    path = _archive(data_dir, "openewld", "openewld.tar.gz")
    files = read_tar_members(path, lambda n: n.endswith((".mxl", ".db")))
    db_name = next((n for n in files if n.endswith(".db")), None)
    genres = openewld_genres(files[db_name]) if db_name is not None else {}
    ewld = []
    for name in sorted(n for n in files if n.endswith(".mxl")):
        rel = name.split("/", 1)[1] if "/" in name else name
        genre = _EWLD_GENRES.get(genres.get(rel, ""), genres.get(rel, "").lower() or "pop")
        rel_id = rel.replace("dataset/", "", 1).rsplit("/", 1)[0]
        ewld.append({"source": "openewld", "id": "openewld/" + rel_id, "data": files[name], "mxl": True,
                     "genre": genre, "split_key": title_key(rel_id)})
    items += ewld[:limit] if limit else ewld
    path = _archive(data_dir, "chord_melody", "chord_melody_one_key.tar.gz")
    files = read_tar_members(path, lambda n: n.endswith(".xml"))
    cm = []
    for name in sorted(files):
        stem = name.rsplit("/", 1)[-1][:-4]
        cm.append({"source": "chord_melody", "id": "chord_melody/" + stem, "data": files[name], "mxl": False,
                   "genre": "jazz", "split_key": title_key(stem)})
    items += cm[:limit] if limit else cm
    return items


def lead_sheet_item_piece(item: dict) -> tuple[Piece | None, str]:
    xml = mxl_to_xml(item["data"]) if item["mxl"] else item["data"]
    return lead_sheet_piece(item["id"], item["source"], xml, item["genre"], item["split_key"])


# Sounds for the four chorale voices (soprano, alto, tenor, bass), one set per piece.
CHORALE_ENSEMBLES = {
    "choir": (52, 52, 52, 52),
    "strings": (40, 40, 41, 42),
    "organ": (19, 19, 19, 19),
    "winds": (73, 68, 71, 70),
    "brass": (56, 60, 57, 58),
}
CHORALE_TEMPO = 80.0
CHORALE_ROLES = ("melody", "counter-melody", "pad", "bass")
_VOICE_NAMES = ("soprano", "alto", "tenor", "bass")


def voices_notes(voices: list) -> tuple[list[_Measure], list[list[Note]], str]:
    """The bar grid of the first voice and every voice's notes on it; why not, when the voices disagree on
    the grid or one is empty."""
    grid = m21_grid(voices[0])
    if not grid:
        return grid, [], "no measures"
    out = []
    for v in voices:
        g = m21_grid(v)
        if len(g) != len(grid) or any(a.bar != b.bar for a, b in zip(g, grid)):
            return grid, [], "voices disagree on the bar grid"
        out.append(m21_notes(g))
    if any(not vn for vn in out):
        return grid, [], "an empty voice"
    return grid, out, ""


def read_chorales(limit: int | None) -> list[dict]:
    from music21 import corpus

    names = sorted(set(corpus.chorales.Iterator(returnType="filename")))
    names = names[:limit] if limit else names
    return [{"name": n} for n in names]


def chorale_piece(item: dict) -> tuple[Piece | None, str]:
    from music21 import corpus

    name = item["name"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = corpus.parse(name)
    parts = list(score.parts)
    named = {}
    for p in parts:
        pname = (p.partName or p.id or "").strip().lower()
        for v in _VOICE_NAMES:
            if pname.startswith(v) and v not in named:
                named[v] = p
    if len(named) == 4:
        voices = [named[v] for v in _VOICE_NAMES]
    elif len(parts) == 4:
        def mean_pitch(p) -> float:
            ps = [x.midi for n in p.recurse().notes for x in n.pitches]
            return sum(ps) / len(ps) if ps else 0.0
        voices = sorted(parts, key=mean_pitch, reverse=True)
    else:
        return None, f"{len(parts)} parts"
    grid, voice_notes, why = voices_notes(voices)
    if why:
        return None, why
    bars = [gm.bar for gm in grid]
    per_bar = chords_per_bar(recognize_chords(voice_notes, bars), bars)
    key = _score_key(score, per_bar, voices[0])
    pid = name.replace("\\", "/")
    ensemble = sorted(CHORALE_ENSEMBLES)[stable_hash(pid) % len(CHORALE_ENSEMBLES)]
    programs = CHORALE_ENSEMBLES[ensemble]
    tracks = [PieceTrack(v.capitalize(), role, prog, False, notes)
              for v, role, prog, notes in zip(_VOICE_NAMES, CHORALE_ROLES, programs, voice_notes)]
    piece = Piece(id=pid, source="bach_chorales", split=split_of(pid), bars=bars, chords=per_bar,
                  keys=[key] * len(bars), tempos=[CHORALE_TEMPO] * len(bars), sections=[], tracks=tracks,
                  genre="baroque", title=pid.rsplit("/", 1)[-1],
                  meta={"ensemble": ensemble, "tempo_source": "default"})
    return piece, ""


# --------------------------------------------------------------------------------------------
# The music21 corpus beyond the chorales: dance tunes and folk songs (one melody), string quartets and
# Renaissance choral music (several voices), for the styles the other sources lack.

def _corpus_dir() -> Path:
    from music21 import corpus

    return Path(corpus.__file__).resolve().parent


# (collection, genre label, files kept): the Essen collection is large and all one kind of song, so a
# few of its files are enough beside the Celtic collections.
M21_TUNES = (("ryansMammoth", "celtic folk", None), ("oneills1850", "celtic folk", None),
             ("essenFolksong", "folk", ("altdeu10", "altdeu20", "ballad10", "ballad20", "boehme10", "erk10",
                                        "kinder0", "fink0", "irl")))
# Melody sounds for a tune, one per tune.
TUNE_PROGRAMS = {"celtic folk": (110, 73, 78, 21), "folk": (73, 0, 52, 71, 68)}
# The quarter-note tempo a tune without a metronome mark is played at, by meter (a reel's cut time at
# about half = 90, a jig's dotted quarter at about 110, songs moderately).
TUNE_TEMPOS = {(2, 2): 180.0, (4, 4): 180.0, (6, 8): 165.0, (9, 8): 165.0, (12, 8): 165.0, (2, 4): 150.0,
               (3, 4): 120.0, (3, 2): 120.0}
SONG_TEMPO = 100.0
# (folder, genre, programs per voice count or None for a choir, files kept: every n-th)
M21_VOICES = (("haydn", "classical string quartet", 1), ("mozart", "classical string quartet", 1),
              ("beethoven", "classical string quartet", 1), ("palestrina", "renaissance choral", 8),
              ("monteverdi", "renaissance madrigal choral", 1))
QUARTET = (40, 40, 41, 42)
CHOIR = 52
VOICES_TEMPO = {"classical string quartet": 100.0}


def read_m21_tunes(limit: int | None) -> list[dict]:
    base = _corpus_dir()
    items = []
    for folder, genre, keep in M21_TUNES:
        files = sorted((base / folder).glob("*.abc"))
        if keep is not None:
            files = [f for f in files if f.stem in keep]
        if limit and folder != "ryansMammoth":
            continue  # a limited (quick) build skips the books of hundreds of tunes a file
        files = files[:limit] if limit else files
        items += [{"path": str(f), "collection": folder, "genre": genre} for f in files]
    return items


def read_m21_voices(limit: int | None) -> list[dict]:
    base = _corpus_dir()
    items = []
    for folder, genre, every in M21_VOICES:
        files = sorted(f for f in (base / folder).rglob("*") if f.suffix in (".mxl", ".krn"))
        # one encoding per movement (Beethoven's op. 18 no. 1 is there as .krn and .mxl); no piano sonatas
        files = [f for f in files if not (f.suffix == ".krn" and f.with_suffix(".mxl").exists())
                 and "k545" not in f.parts]
        files = files[::every]
        files = files[:limit] if limit else files
        items += [{"path": str(f), "collection": folder, "genre": genre} for f in files]
    return items


def _split_long_bars(bars: list[Bar]) -> list[Bar]:
    """4/2 and 4/1 bars (Renaissance and Essen notation) as 2/2 bars: the meters the tokenizer knows."""
    out = []
    for b in bars:
        if (b.numerator, b.denominator) in ((4, 2), (8, 4), (4, 1)):
            half = b.length // (2 if b.denominator != 1 else 4)
            out += [Bar(b.start + i * half, 2, 2) for i in range(b.length // half)]
        else:
            out.append(b)
    return out


def tune_chords(notes: list[Note], bars: list[Bar]) -> list[tuple[int, Chord | None]]:
    """A chord a bar read from a lone melody: its notes weighted by length, the downbeat's twice."""
    starts = [n.start for n in notes]
    out: list[tuple[int, Chord | None]] = []
    prev = None
    for bar in bars:
        lo, hi = bisect.bisect_left(starts, bar.start), bisect.bisect_left(starts, bar.end)
        weights: dict[int, float] = defaultdict(float)
        for n in notes[lo:hi]:
            weights[n.pitch % 12] += (min(n.end, bar.end) - n.start) * (2.0 if n.start == bar.start else 1.0)
        rc = recognize_chord(dict(weights), None) if weights else None
        if rc is not None and rc != prev:
            out.append((bar.start, make_chord(*rc)))
            prev = rc
    return out


def _score_key(score, per_bar, part) -> tuple[int, str]:
    from music21 import key as m21key

    k = next(iter(score.recurse().getElementsByClass(m21key.Key)), None)
    if k is not None and k.mode in ("major", "minor"):
        return k.tonic.pitchClass, k.mode
    flat = [(c.root, c.quality, 1.0) for bar in per_bar for _, c in bar if c is not None]
    return estimate_key(flat, prior=_key_prior(part))


def tune_pieces(item: dict) -> tuple[list[Piece], str]:
    """Every tune of an ABC file (one or many) -> melody Pieces labelled with the collection's genre."""
    from music21 import converter, stream

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = converter.parse(item["path"])
    scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed] if isinstance(parsed, stream.Score) else []
    out = []
    why = ""
    for i, score in enumerate(scores):
        parts = list(score.parts) or [score]
        grid = m21_grid(parts[0])
        notes = m21_notes(grid) if grid else []
        if len(notes) < 8:
            why = "a tune without notes"
            continue
        bars = _split_long_bars([gm.bar for gm in grid])
        per_bar = chords_per_bar(tune_chords(notes, bars), bars)
        key = _score_key(score, per_bar, parts[0])
        title = (score.metadata.title if score.metadata is not None else "") or f"tune {i}"
        pid = f"{item['collection']}/{Path(item['path']).stem}/{i}"
        meter = (bars[0].numerator, bars[0].denominator)
        bpm = _m21_tempo(parts[0]) or (TUNE_TEMPOS.get(meter, SONG_TEMPO) if item["genre"] == "celtic folk" else SONG_TEMPO)
        programs = TUNE_PROGRAMS[item["genre"]]
        program = programs[stable_hash(pid) % len(programs)]
        out.append(Piece(id=pid, source="m21_tunes", split=split_of("tune/" + title_key(title) + item["collection"]),
                         bars=bars, chords=per_bar, keys=[key] * len(bars), tempos=[bpm] * len(bars), sections=[],
                         tracks=[PieceTrack("Melody", "melody", program, False, notes)], genre=item["genre"],
                         title=title, meta={"collection": item["collection"], "tempo_source": "default"}))
    return out, why or ("no tunes" if not out else "")


def voices_piece(score, pid: str, source: str, genre: str, programs: tuple[int, ...] | None,
                 tempo: float, meta: dict) -> tuple[Piece | None, str]:
    """A score of 3-6 single voices (top to bottom) -> a Piece: the top voice the melody, the lowest the
    bass, the second a counter-melody and the rest pads; chords recognized from all the voices."""
    voices = list(score.parts)
    if not 3 <= len(voices) <= 6:
        return None, f"{len(voices)} parts"
    grid, voice_notes, why = voices_notes(voices)
    if why:
        return None, why
    bars = _split_long_bars([gm.bar for gm in grid])
    per_bar = chords_per_bar(recognize_chords(voice_notes, bars), bars)
    key = _score_key(score, per_bar, voices[0])
    n = len(voices)
    roles = ["melody", "counter-melody"] + ["pad"] * (n - 3) + ["bass"]
    progs = programs if programs is not None and len(programs) == n else (CHOIR,) * n
    names = [(v.partName or f"Voice {i + 1}").strip() for i, v in enumerate(voices)]
    tracks = [PieceTrack(name, role, prog, False, notes)
              for name, role, prog, notes in zip(names, roles, progs, voice_notes)]
    work = pid.rsplit("/", 1)[0] if pid.count("/") > 1 else pid  # a quartet's movements share one split
    piece = Piece(id=pid, source=source, split=split_of(work), bars=bars, chords=per_bar,
                  keys=[key] * len(bars), tempos=[tempo] * len(bars), sections=[], tracks=tracks, genre=genre,
                  title=pid.rsplit("/", 1)[-1], meta=meta)
    return piece, ""


def m21_voices_piece(item: dict) -> tuple[Piece | None, str]:
    from music21 import converter, stream

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = converter.parse(item["path"])
    if not isinstance(score, stream.Score) or not len(score.parts):
        return None, "not a score of parts"
    path = Path(item["path"])
    pid = f"{item['collection']}/{path.parent.name}/{path.stem}" if path.parent.name != item["collection"] \
        else f"{item['collection']}/{path.stem}"
    quartet = "quartet" in item["genre"]
    bpm = _m21_tempo(score.parts[0])
    if bpm is None:
        bars0 = score.parts[0].recurse().getElementsByClass("TimeSignature").first()
        half = bars0 is not None and bars0.denominator == 2
        bpm = VOICES_TEMPO.get(item["genre"], 120.0 if half else CHORALE_TEMPO)
    return voices_piece(score, pid, "m21_" + ("quartets" if quartet else "choral"), item["genre"],
                        QUARTET if quartet else None, bpm, {"tempo_source": "default"})


# --------------------------------------------------------------------------------------------
# Reading every source

SOURCE_INFO = {
    "pop909": {"license": "MIT", "name": "POP909 + POP909 hierarchical structure annotations"},
    "groove": {"license": "CC BY 4.0", "name": "Groove MIDI Dataset (Magenta)"},
    "openewld": {"license": "MIT; scores public domain", "name": "OpenEWLD"},
    "chord_melody": {"license": "MIT", "name": "chord-melody-dataset"},
    "bach_chorales": {"license": "BSD-3-Clause (music21 corpus)", "name": "Bach chorales, music21 corpus"},
    "m21_tunes": {"license": "public-domain tune books (Ryan's Mammoth Collection 1883, O'Neill's Music of "
                             "Ireland 1903); Essen Folksong Collection: research use, see the corpus's "
                             "essenFolksong/license.txt; encodings distributed with the music21 corpus",
                  "name": "Ryan's Mammoth, O'Neill's 1850 and Essen folk songs, music21 corpus"},
    "m21_quartets": {"license": "public-domain works; encodings distributed with the music21 corpus "
                                "(music21/corpus/license.txt)",
                     "name": "Haydn, Mozart and Beethoven string quartets, music21 corpus"},
    "m21_choral": {"license": "public-domain works; encodings distributed with the music21 corpus "
                              "(music21/corpus/license.txt)",
                   "name": "Palestrina masses (every 8th file) and Monteverdi madrigals, music21 corpus"},
}


def _parse_item(task: tuple[str, dict]) -> tuple[str, list[Piece], str]:
    kind, item = task
    try:
        if kind == "m21_tunes":
            return (kind, *tune_pieces(item))
        if kind == "pop909":
            piece, why = pop909_piece(item)
        elif kind == "groove":
            piece, why = groove_piece(item)
        elif kind == "lead_sheet":
            piece, why = lead_sheet_item_piece(item)
        elif kind == "m21_voices":
            piece, why = m21_voices_piece(item)
        else:
            piece, why = chorale_piece(item)
    except Exception as exc:  # noqa: BLE001 - one broken file must not stop the build
        return kind, [], f"{type(exc).__name__}: {str(exc)[:80]}"
    return kind, [piece] if piece is not None else [], why


def read_pieces(data_dir: Path, limit: int | None = None, workers: int = 1, progress: Say = print,
                sources: tuple[str, ...] = ("pop909", "groove", "lead_sheets", "bach_chorales", "m21_tunes",
                                            "m21_voices")) -> list[Piece]:
    """Every piece of every source, parsed (in `workers` processes when more than 1)."""
    tasks: list[tuple[str, dict]] = []
    t0 = time.time()
    if "pop909" in sources:
        tasks += [("pop909", s) for s in read_pop909(data_dir, limit)]
    if "groove" in sources:
        tasks += [("groove", s) for s in read_groove(data_dir, limit)]
    if "lead_sheets" in sources:
        tasks += [("lead_sheet", s) for s in read_lead_sheets(data_dir, limit)]
    if "bach_chorales" in sources:
        tasks += [("chorale", s) for s in read_chorales(limit)]
    if "m21_tunes" in sources:
        tasks += [("m21_tunes", s) for s in read_m21_tunes(limit)]
    if "m21_voices" in sources:
        tasks += [("m21_voices", s) for s in read_m21_voices(limit)]
    progress(f"read {len(tasks)} files from the archives ({time.time() - t0:.1f} s); parsing "
             f"with {workers} process{'es' if workers > 1 else ''}")
    pieces: list[Piece] = []
    skipped: dict[str, Counter] = defaultdict(Counter)
    t0 = time.time()
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            results = pool.imap(_parse_item, tasks, chunksize=4)
            for i, (kind, got, why) in enumerate(results):
                _collect(kind, got, why, pieces, skipped)
                if (i + 1) % 500 == 0:
                    progress(f"  parsed {i + 1}/{len(tasks)} ({time.time() - t0:.0f} s)")
    else:
        for i, task in enumerate(tasks):
            kind, got, why = _parse_item(task)
            _collect(kind, got, why, pieces, skipped)
            if (i + 1) % 500 == 0:
                progress(f"  parsed {i + 1}/{len(tasks)} ({time.time() - t0:.0f} s)")
    for kind, reasons in sorted(skipped.items()):
        total = sum(reasons.values())
        top = "; ".join(f"{r} ({n})" for r, n in reasons.most_common(4))
        progress(f"  {kind}: skipped {total}: {top}")
    progress(f"parsed {len(pieces)} pieces ({time.time() - t0:.0f} s)")
    return pieces


def _collect(kind: str, got: list[Piece], why: str, pieces: list[Piece], skipped: dict[str, Counter]) -> None:
    if why:
        skipped[kind][re.sub(r"\d+(\.\d+)?", "#", why)] += 1
    pieces.extend(got)


