"""Building the harmony table (composer/data/harmony.json) from public chord corpora; see composer/tables.py.

    python -m training.harmony_table build [--data ../shared/data] [--out composer/data/harmony.json] [--limit N]

Archives are read in memory; nothing is unpacked or copied into the repository.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from composer.tables import (
    SECTION_NAMES,
    STYLES,
    TABLE_PATH,
    VERSION,
    TableError,
    load_table,
)
from symbolic.annotations import (
    MIN_LEAD_SHEET_SECTION,
    MODES,
    chord_class,
    classify_intervals,
    estimate_key,
    is_pickup,
    m21_chord,
    mxl_to_xml,
    parse_harte,
    parse_pop909_phrases,
    read_tar_members,
    section_break_after,
    section_break_before,
)
from symbolic.harmony import HarmonyError, parse_note_name
from training.corpora import DataError, default_data_dir, read_lead_sheets, read_pop909

# Pruning: entries seen fewer times than this are left out of the shipped table.
MIN_COUNT = 2
MAX_FORM_SEQUENCES = 150


def token_of(root: int, quality: str, tonic: int) -> str:
    """Degree token; the same form as `symbolic.harmony.degree_token`."""
    return f"{(root - tonic) % 12}:{quality}"

# --------------------------------------------------------------------------------------------
# A common shape for every source: songs of sections of bars of chords


@dataclass
class RawBar:
    chords: list[tuple[int, str, float]]  # (root pc, quality, weight); consecutive repeats allowed
    frame: int = 0  # index into RawSong.frames (the key in force)


@dataclass
class RawSection:
    name: str | None
    bars: list[RawBar] = field(default_factory=list)


@dataclass
class RawSong:
    sections: list[RawSection]
    frames: list[tuple[int, str]]  # (tonic pc, mode) per frame


def _bar_tokens(bar: RawBar, tonic: int) -> tuple[str, ...]:
    out: list[str] = []
    for root, quality, _ in bar.chords:
        tok = token_of(root, quality, tonic)
        if not out or out[-1] != tok:
            out.append(tok)
    return tuple(out)


def _new_mode_stats() -> dict:
    return {"start": Counter(), "next": defaultdict(Counter), "split": defaultdict(Counter),
            "per_bar": Counter(), "cadence": Counter(), "penult": defaultdict(Counter),
            "phrase_end": Counter()}


class Stats:
    """Counters for the chord part of the table."""

    def __init__(self) -> None:
        self.chords: dict[str, dict[str, dict]] = defaultdict(lambda: defaultdict(_new_mode_stats))

    def add_song(self, song: RawSong, style: str) -> int:
        """Count one song; returns the number of bar-to-bar transitions it gave."""
        frames = song.frames
        style_stats = self.chords[style]
        transitions = 0
        prev: tuple[tuple[str, ...], int] | None = None  # (tokens, frame) of the previous bar
        for section in song.sections:
            if section.name is None:  # dropped (silence, noise): breaks the chain
                prev = None
                continue
            bars = [(_bar_tokens(b, frames[b.frame][0]), b.frame) for b in section.bars]
            n = len(bars)
            for i, (toks, frame) in enumerate(bars):
                if not toks:
                    prev = None
                    continue
                st = style_stats[frames[frame][1]]
                if i == 0:
                    st["start"][toks[0]] += 1
                st["per_bar"][str(min(len(toks), 4))] += 1
                if len(toks) >= 2:
                    st["split"][toks[0]][toks[1]] += 1
                if prev is not None and prev[1] == frame:
                    st["next"][prev[0][0]][toks[0]] += 1
                    transitions += 1
                if i == n - 1:
                    st["cadence"][toks[0]] += 1
                    if n >= 2 and bars[i - 1][0] and bars[i - 1][1] == frame:
                        st["penult"][bars[i - 1][0][-1]][toks[0]] += 1
                elif (i + 1) % 4 == 0:
                    st["phrase_end"][toks[0]] += 1
                prev = (toks, frame)
        return transitions

    def export(self, min_count: int = MIN_COUNT) -> dict:
        out: dict = {}
        for style in STYLES:
            if style not in self.chords:
                continue
            out[style] = {}
            for mode in MODES:
                st = self.chords[style].get(mode) or _new_mode_stats()
                out[style][mode] = {
                    "start": _prune(st["start"], min_count),
                    "next": _prune_nested(st["next"], min_count),
                    "split": _prune_nested(st["split"], min_count),
                    "per_bar": {k: int(st["per_bar"].get(k, 0)) for k in ("1", "2", "3", "4")},
                    "cadence": _prune(st["cadence"], min_count),
                    "penult": _prune_nested(st["penult"], min_count),
                    "phrase_end": _prune(st["phrase_end"], min_count),
                }
        return out


def _prune(counter: Counter, min_count: int) -> dict[str, int]:
    items = [(k, int(v)) for k, v in counter.items() if v >= min_count]
    return dict(sorted(items, key=lambda kv: (-kv[1], kv[0])))


def _prune_nested(table: dict[str, Counter], min_count: int) -> dict[str, dict[str, int]]:
    out = {}
    for key in sorted(table, key=lambda k: (-sum(table[k].values()), k)):
        inner = _prune(table[key], min_count)
        if inner:
            out[key] = inner
    return out


# --------------------------------------------------------------------------------------------
# Archive access


def _archive(data_dir: Path, folder: str, name: str) -> Path:
    path = data_dir / folder / name
    if not path.is_file():
        raise TableError(f"missing {path}")
    return path


# --------------------------------------------------------------------------------------------
# McGill Billboard

_SECTION_MAP = {
    "intro": "intro", "pre-intro": "intro", "fadein": "intro", "fade-in": "intro",
    "verse": "verse", "vocal": "verse", "spoken-verse": "verse", "spoken": "verse", "theme": "verse",
    "main-theme": "verse", "head": "verse",
    "pre-chorus": "pre-chorus", "prechorus": "pre-chorus", "pre chorus": "pre-chorus",
    "chorus": "chorus", "refrain": "chorus", "secondary-theme": "chorus",
    "bridge": "bridge", "middle-eight": "bridge",
    "solo": "solo", "instrumental-break": "solo",
    "interlude": "interlude", "instrumental": "interlude", "trans": "interlude", "transition": "interlude",
    "pre-verse": "interlude", "break": "interlude", "modulation": "interlude", "key-change": "interlude",
    "outro": "outro", "coda": "outro", "fadeout": "outro", "fade-out": "outro", "ending": "outro",
}
_DROPPED_SECTIONS = {"silence", "end", "noise", "applause", "talking", "z"}


def normalize_section(name: str) -> str | None:
    """Billboard section name -> one of SECTION_NAMES; None for silence/noise/end or unknown names."""
    n = name.strip().lower()
    n = re.sub(r"^\([^)]*\)\s*", "", n)  # "(secondary) theme"
    n = re.sub(r"[\s_-]+", "-", n)
    n = re.sub(r"-(one|two|three|four|five|six|[a-d])$", "", n)
    if n in _DROPPED_SECTIONS:
        return None
    if n in _SECTION_MAP:
        return _SECTION_MAP[n]
    for key, value in _SECTION_MAP.items():  # e.g. 'intro-b' -> intro, 'verse2' -> verse
        if n.startswith(key):
            return value
    return None


_LETTER_RE = re.compile(r"^[A-Z]'*$")
_REPEAT_RE = re.compile(r"^x(\d+)$")
_METER_MARK_RE = re.compile(r"^\(\d+/\d+\)$")


@dataclass
class BillboardChart:
    """A parsed Billboard chart: sections with raw bars, plus their names for the forms table."""

    song: RawSong
    form: list[tuple[str, int]]  # (normalized section name, bars) per kept section
    unknown: Counter = field(default_factory=Counter)  # unreadable chord labels


def parse_billboard(text: str) -> BillboardChart:  # noqa: C901 - one pass over the chart grammar, read top to bottom
    """Parse one `salami_chords.txt` chart.

    Bars are `| ... |` groups; inside a bar each element is one beat-slot: a Harte chord, `.` (the
    previous chord again), `N`/`&pause`/`*` (no chord) or a metre mark like `(3/4)`. A trailing `xN`
    repeats the line's bars. `# tonic:` may change mid-song: each tonic gets its own frame, and each
    frame's mode is read from the chords on its tonic root (minor when minor chords there outweigh
    major ones).
    """
    tonic: int | None = None
    frame_tonics: list[int] = []
    frame = -1
    sections: list[RawSection] = []
    letter_names: dict[str, str | None] = {}
    current: RawSection | None = None
    unknown: Counter = Counter()
    prev_chord: tuple[int, str] | None = None

    def set_tonic(pc: int) -> None:
        nonlocal tonic, frame
        if tonic != pc:
            tonic = pc
            frame_tonics.append(pc)
            frame = len(frame_tonics) - 1

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            if key.strip() == "tonic":
                try:
                    set_tonic(parse_note_name(value.strip()))
                except HarmonyError:
                    unknown[value.strip()] += 1
            continue
        _, _, content = line.partition("\t")
        if not content:
            content = line
        first, last = content.find("|"), content.rfind("|")
        head = content[:first] if first >= 0 else content
        bars_text = content[first:last + 1] if first >= 0 else ""
        tail = content[last + 1:] if first >= 0 else ""
        # Section label (letter) and name.
        letter, name = None, None
        for part in head.split(","):
            p = part.strip()
            if not p or "(" in p or ")" in p or p == "->":
                continue
            if _LETTER_RE.match(p):
                letter = p
            elif name is None:
                name = p
        if letter is not None or name is not None:
            if name is not None:
                norm = normalize_section(name)
                if letter is not None:
                    letter_names[letter.rstrip("'")] = norm
            elif letter is not None and letter.rstrip("'") in letter_names:
                norm = letter_names[letter.rstrip("'")]
            elif letter is not None and letter.startswith("Z"):
                norm = None
            else:
                norm = current.name if current is not None else "verse"
            current = RawSection(norm)
            sections.append(current)
            if norm is None:
                prev_chord = None
        if not bars_text:
            continue
        if current is None:
            current = RawSection("verse")
            sections.append(current)
        if tonic is None:
            set_tonic(0)
        repeat = 1
        for part in tail.split(","):
            m = _REPEAT_RE.match(part.strip())
            if m:
                repeat = max(1, min(int(m.group(1)), 64))
        line_bars: list[RawBar] = []
        for bar_text in bars_text.strip("|").split("|"):
            elems = [e for e in bar_text.split() if not _METER_MARK_RE.match(e)]
            if not elems:
                continue
            weight = 1.0 / len(elems)
            chords: list[tuple[int, str, float]] = []
            for e in elems:
                if e == ".":
                    if prev_chord is not None:
                        chords.append((prev_chord[0], prev_chord[1], weight))
                    continue
                try:
                    parsed = parse_harte(e)
                except ValueError:
                    unknown[e] += 1
                    parsed = None
                prev_chord = parsed
                if parsed is not None:
                    chords.append((parsed[0], parsed[1], weight))
            line_bars.append(RawBar(chords, frame))
        for _ in range(repeat):
            current.bars.extend(RawBar(list(b.chords), b.frame) for b in line_bars)

    # Mode per frame, from the chords on the frame's tonic root.
    weights: list[defaultdict[str, float]] = [defaultdict(float) for _ in frame_tonics]
    frame_chords: list[list[tuple[int, str, float]]] = [[] for _ in frame_tonics]
    for sec in sections:
        for bar in sec.bars:
            for root, quality, w in bar.chords:
                frame_chords[bar.frame].append((root, quality, w))
                if root == frame_tonics[bar.frame]:
                    cls = chord_class(quality)
                    weights[bar.frame]["minor" if cls in ("m", "d") else "major" if cls in ("M", "D") else "sus"] += w
    frames = []
    for i, t in enumerate(frame_tonics):
        if weights[i]["minor"] > weights[i]["major"]:
            mode = "minor"
        elif weights[i]["major"] > weights[i]["minor"]:
            mode = "major"
        else:
            mode = estimate_key(frame_chords[i], candidates=[(t, "major"), (t, "minor")])[1]
        frames.append((t, mode))
    form = [(s.name, len(s.bars)) for s in sections if s.name is not None and s.bars]
    sections = [s for s in sections if s.bars or s.name is None]
    return BillboardChart(RawSong(sections, frames or [(0, "major")]), form, unknown)


def _billboard_identity(text: str) -> tuple[str, str] | None:
    """(title, artist) from a chart's header, normalized; None when the header lacks them."""
    head: dict[str, str] = {}
    for line in text.splitlines()[:8]:
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            head.setdefault(key.strip(), re.sub(r"\W+", " ", value).strip().lower())
    if not head.get("title"):
        return None
    return head["title"], head.get("artist", "")


def _billboard(data_dir: Path, limit: int | None, stats: Stats, progress) -> dict:
    path = _archive(data_dir, "mcgill_billboard", "billboard_salami_chords.tar.gz")
    files = read_tar_members(path, lambda n: n.endswith("/salami_chords.txt"))
    names = sorted(files)[:limit] if limit else sorted(files)
    songs, transitions = 0, 0
    unknown: Counter = Counter()
    sequences: Counter = Counter()
    first_seen: dict[tuple, int] = {}
    section_bars: dict[str, Counter] = defaultdict(Counter)
    seen: set[tuple[str, str]] = set()
    duplicates = 0
    for idx, name in enumerate(names):
        text = files[name].decode("utf-8", errors="replace")
        ident = _billboard_identity(text)
        if ident is not None:
            if ident in seen:  # the collection charts some songs more than once
                duplicates += 1
                continue
            seen.add(ident)
        chart = parse_billboard(text)
        unknown.update(chart.unknown)
        n = stats.add_song(chart.song, "pop")
        if n == 0:
            continue
        songs += 1
        transitions += n
        for sec_name, bars in _merge_ends(chart.form):
            section_bars[sec_name][str(bars)] += 1
        seq = tuple(_merge_ends(chart.form))
        if seq:
            sequences[seq] += 1
            first_seen.setdefault(seq, idx)
    if duplicates:
        progress(f"  billboard: skipped {duplicates} repeated charts of the same song")
    if unknown:
        progress(f"  billboard: {sum(unknown.values())} unreadable chord labels, e.g. "
                 f"{', '.join(k for k, _ in unknown.most_common(5))}")
    return {"songs": songs, "transitions": transitions, "sequences": sequences,
            "first_seen": first_seen, "section_bars": section_bars}


def _typical_form(seq: tuple[tuple[str, int], ...]) -> bool:
    names = {n for n, _ in seq}
    total = sum(b for _, b in seq)
    return ("verse" in names and "chorus" in names and 4 <= len(seq) <= 24 and 32 <= total <= 200
            and all(1 <= b <= 32 for _, b in seq))


def _regularity(seq: tuple[tuple[str, int], ...]) -> float:
    """Share of the bars that lie in sections of 4, 8, 12 or 16 bars (tenths)."""
    total = sum(b for _, b in seq) or 1
    return round(sum(b for _, b in seq if b in (4, 8, 12, 16)) / total, 1)


def _merge_ends(form: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Adjacent intro or outro parts (e.g. 'outro' then 'fadeout') become one section."""
    out: list[tuple[str, int]] = []
    for name, bars in form:
        if out and name == out[-1][0] and name in ("intro", "outro"):
            out[-1] = (name, out[-1][1] + bars)
        else:
            out.append((name, bars))
    return out


def _export_billboard_forms(res: dict, min_count: int) -> dict:
    seqs: Counter = res["sequences"]
    order = sorted(seqs, key=lambda s: (not _typical_form(s), -seqs[s], -_regularity(s), res["first_seen"][s]))
    chosen = [[[[n, b] for n, b in s], int(seqs[s])] for s in order[:MAX_FORM_SEQUENCES]]
    section_bars = {}
    for name in SECTION_NAMES:
        if name in res["section_bars"]:
            c = res["section_bars"][name]
            section_bars[name] = dict(sorted(((k, int(v)) for k, v in c.items() if v >= min_count),
                                             key=lambda kv: int(kv[0])))
    return {"sequences": chosen, "section_bars": section_bars}


# --------------------------------------------------------------------------------------------
# POP909 (structure annotations)

_KEY_RE = re.compile(r"([A-G][#b]?):(maj|min)")
_CHORD_LINE_RE = re.compile(r"^(.*?)\s*\[[^\]]*\]\s+(-?\d+)\s+(\d+(?:\.\d+)?)(?:\s+\S+)*\s*$")


def parse_pop909(chord_text: str, key_text: str, label_text: str, beats_per_bar: int = 4) -> RawSong:
    """One POP909 song from finalized_chord.txt, analyzed_key.txt and human_label1.txt.

    Chords are laid out beat by beat and cut into bars of `beats_per_bar`; phrases from the label
    line become sections. With one analyzed key it applies throughout; with several (a modulating
    song) each phrase takes the listed key that fits its chords best; with none the key is estimated
    from the chords.
    """
    beats: list[tuple[int, str] | None] = []
    for line in chord_text.splitlines():
        m = _CHORD_LINE_RE.match(line.strip())
        if not m:
            continue
        dur = int(round(float(m.group(3))))
        try:
            chord = parse_harte(m.group(1).replace(" ", ""))
        except ValueError:
            chord = None
        beats.extend([chord] * max(dur, 0))
    n_bars = len(beats) // beats_per_bar + (1 if len(beats) % beats_per_bar else 0)
    bars: list[list[tuple[int, str, float]]] = []
    for b in range(n_bars):
        chunk = beats[b * beats_per_bar:(b + 1) * beats_per_bar]
        bars.append([(c[0], c[1], 1.0) for c in chunk if c is not None])
    phrases = parse_pop909_phrases(label_text) or [("A", n_bars)]
    spans: list[tuple[str, int, int]] = []
    pos = 0
    for letter, length in phrases:
        if pos >= n_bars:
            break
        spans.append((letter, pos, min(pos + length, n_bars)))
        pos += length
    if pos < n_bars:
        spans.append(("o", pos, n_bars))

    keys = [(parse_note_name(t), "major" if q == "maj" else "minor") for t, q in _KEY_RE.findall(key_text)]
    all_chords = [c for bar in bars for c in bar]
    if not keys:
        keys = [estimate_key(all_chords)]
    frames = list(dict.fromkeys(keys))
    sections = []
    for letter, start, end in spans:
        span_chords = [c for bar in bars[start:end] for c in bar]
        key = keys[0] if len(frames) == 1 else estimate_key(span_chords or all_chords, candidates=frames)
        fi = frames.index(key)
        sections.append(RawSection(letter, [RawBar(bar, fi) for bar in bars[start:end]]))
    return RawSong(sections, frames)


def _pop909(data_dir: Path, limit: int | None, stats: Stats, progress) -> dict:
    songs, transitions = 0, 0
    phrases: dict[str, Counter] = defaultdict(Counter)
    labels: list[str] = []
    for item in read_pop909(data_dir, limit, midi=False):
        f = {k: v.decode("utf-8", errors="replace") for k, v in item.items() if k.endswith(".txt")}
        label = f.get("human_label1.txt", "").strip()
        beats = 3 if item["meter"][0] == 3 else 4
        song = parse_pop909(f["finalized_chord.txt"], f.get("analyzed_key.txt", ""), label, beats)
        n = stats.add_song(song, "pop")
        if n == 0:
            continue
        songs += 1
        transitions += n
        for letter, length in parse_pop909_phrases(label):
            if 1 <= length <= 64:
                phrases[letter][str(length)] += 1
        if label:
            labels.append(label)
    return {"songs": songs, "transitions": transitions, "phrases": phrases, "labels": labels}


def _export_pop909_forms(res: dict, min_count: int) -> dict:
    phrases = {}
    for letter in sorted(res["phrases"]):
        c = {k: int(v) for k, v in res["phrases"][letter].items() if v >= min_count}
        if c:
            phrases[letter] = dict(sorted(c.items(), key=lambda kv: int(kv[0])))
    counts = Counter(res["labels"])
    order = list(dict.fromkeys(res["labels"]))  # first-seen order breaks ties
    pos = {lab: i for i, lab in enumerate(order)}
    chosen = sorted(order, key=lambda lab: (-counts[lab], pos[lab]))[:MAX_FORM_SEQUENCES]
    return {"phrases": phrases, "sequences": [[lab, int(counts[lab])] for lab in chosen]}


# --------------------------------------------------------------------------------------------
# Lead sheets (MusicXML with chord symbols) and RomanText, through music21


def parse_lead_sheet(data: bytes) -> RawSong | None:
    """One MusicXML lead sheet (uncompressed bytes) -> a song; None without chords.

    Each measure's chord symbols are read in order; a chord written just after the downbeat (less
    than a beat in, as OCR'd sheets often have) counts as the downbeat chord, otherwise the previous
    chord still sounds there. Chordless bars at the start and end are dropped, and a pickup bar is
    not counted. Sections are cut at double/final/repeat barlines and rehearsal marks (at least
    MIN_LEAD_SHEET_SECTION bars each); without such marks the song is one section. The key is
    estimated from the chords, favouring the keys of the first key signature.
    """
    from music21 import converter, harmony, stream
    from music21 import key as m21key

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = converter.parseData(data, format="musicxml")
    assert isinstance(score, stream.Score)  # MusicXML parses to a Score
    parts: list[stream.Stream] = list(score.parts) or [score]
    part = max(parts, key=lambda p: len(list(p.recurse().getElementsByClass(harmony.ChordSymbol))))
    measures = list(part.getElementsByClass("Measure"))
    bars: list[list[tuple[int, str, float]]] = []
    breaks: set[int] = set()  # bar indices that open a section
    prev: tuple[int, str] | None = None
    for idx, m in enumerate(measures):
        symbols = sorted(m.recurse().getElementsByClass(harmony.ChordSymbol), key=lambda c: float(c.offset))
        found: list[tuple[tuple[int, str] | None, float]] = [(m21_chord(c), float(c.offset)) for c in symbols]
        chords: list[tuple[int, str]] = []
        if prev is not None and (not found or found[0][1] >= 1.0):
            chords.append(prev)
        for chord, _ in found:
            prev = chord
            if chord is not None:
                chords.append(chord)
        if is_pickup(m, idx == 0):
            continue
        if section_break_before(m):
            breaks.add(len(bars))
        w = 1.0 / len(chords) if chords else 0.0
        bars.append([(r, q, w) for r, q in chords])
        if section_break_after(m):
            breaks.add(len(bars))
    filled = [i for i, b in enumerate(bars) if b]
    if not filled:
        return None
    first, last = filled[0], filled[-1] + 1
    bars = bars[first:last]
    cuts = [0]
    for b in sorted(i - first for i in breaks):
        if b - cuts[-1] >= MIN_LEAD_SHEET_SECTION and len(bars) - b >= MIN_LEAD_SHEET_SECTION:
            cuts.append(b)
    cuts.append(len(bars))
    flat = [c for bar in bars for c in bar]
    prior: list[tuple[int, str]] = []
    ks = next(iter(part.recurse().getElementsByClass(m21key.KeySignature)), None)
    if ks is not None:
        major = (ks.sharps * 7) % 12
        prior = [(major, "major"), ((major + 9) % 12, "minor")]
    tonic, mode = estimate_key(flat, prior=prior)
    sections = [RawSection("song", [RawBar(b, 0) for b in bars[a:z]]) for a, z in zip(cuts, cuts[1:])]
    return RawSong(sections, [(tonic, mode)])


def _lead_sheets(items: list[tuple[str, dict]], style: str, stats: Stats, progress, label: str) -> dict:
    songs, transitions, failed = 0, 0, 0
    t0 = time.time()
    for i, (name, item) in enumerate(items):
        try:
            song = parse_lead_sheet(mxl_to_xml(item["data"]) if item["mxl"] else item["data"])
        except Exception as exc:  # noqa: BLE001 - a broken file should not stop the build
            failed += 1
            if failed <= 3:
                progress(f"  {label}: skipped {name}: {type(exc).__name__}: {str(exc)[:80]}")
            continue
        if song is None:
            continue
        n = stats.add_song(song, style)
        if n:
            songs += 1
            transitions += n
        if (i + 1) % 100 == 0:
            progress(f"  {label}: {i + 1}/{len(items)} files ({time.time() - t0:.0f} s)")
    if failed:
        progress(f"  {label}: {failed} files could not be read")
    return {"songs": songs, "transitions": transitions}


def _lead_sheet_items(data_dir: Path, limit: int | None) -> dict[str, list[tuple[str, dict]]]:
    """The lead sheets (training.corpora) by table source: chord_melody, OpenEWLD's jazz and the rest."""
    out: dict[str, list[tuple[str, dict]]] = {"chord_melody": [], "openewld_jazz": [], "openewld": []}
    for item in read_lead_sheets(data_dir, None):
        if item["source"] == "chord_melody":
            out["chord_melody"].append((item["id"], item))
        else:
            out["openewld_jazz" if item["genre"] == "jazz" else "openewld"].append((item["id"], item))
    return {k: v[:limit] if limit else v for k, v in out.items()}


def parse_roman_text(path: str | Path) -> RawSong | None:
    """A RomanText analysis (music21 corpus) -> a one-section song with a frame per local key."""
    from music21 import converter, roman, stream

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = converter.parse(str(path))
    assert isinstance(score, stream.Score)  # RomanText parses to a Score
    part = score.parts[0] if score.parts else score
    frames: list[tuple[int, str]] = []
    bars: list[RawBar] = []
    prev: tuple[int, str, int] | None = None  # (root, quality, frame)
    for idx, m in enumerate(part.getElementsByClass("Measure")):
        rns = sorted(m.recurse().getElementsByClass(roman.RomanNumeral), key=lambda r: float(r.offset))
        items: list[tuple[int, str, int]] = []
        if prev is not None and (not rns or float(rns[0].offset) > 0):
            items.append(prev)
        for rn in rns:
            try:
                k = rn.key
                key = (k.tonic.pitchClass, "minor" if k.mode in ("minor", "dorian", "phrygian", "aeolian", "locrian")
                       else "major")
                root = rn.root().pitchClass
                quality = classify_intervals({(p.pitchClass - root) % 12 for p in rn.pitches})
            except Exception:  # noqa: BLE001
                continue
            if key not in frames:
                frames.append(key)
            prev = (root, quality, frames.index(key))
            items.append(prev)
        if idx == 0 and m.number == 0:
            continue
        if not items:
            bars.append(RawBar([], 0))
            continue
        frame = items[0][2]
        bars.append(RawBar([(r, q, 1.0) for r, q, f in items if f == frame], frame))
    if not frames:
        return None
    return RawSong([RawSection("piece", bars)], frames)


def _rntxt(limit: int | None, stats: Stats, progress) -> dict:
    from music21 import corpus

    paths = sorted(str(p) for p in corpus.getPaths(fileExtensions=("rntxt",)))
    paths = paths[:limit] if limit else paths
    songs, transitions = 0, 0
    for p in paths:
        try:
            song = parse_roman_text(p)
        except Exception as exc:  # noqa: BLE001
            progress(f"  music21_rntxt: skipped {Path(p).name}: {type(exc).__name__}")
            continue
        if song is None:
            continue
        n = stats.add_song(song, "classical")
        if n:
            songs += 1
            transitions += n
    return {"songs": songs, "transitions": transitions}


# --------------------------------------------------------------------------------------------
# Building

SOURCES = {
    "billboard": {"license": "CC0-1.0 (McGill Billboard Project)", "style": "pop"},
    "pop909": {"license": "MIT (POP909, hierarchical-structure-analysis)", "style": "pop"},
    "chord_melody": {"license": "MIT (chord-melody-dataset)", "style": "jazz"},
    "openewld_jazz": {"license": "MIT; scores public domain (OpenEWLD)", "style": "jazz"},
    "openewld": {"license": "MIT; scores public domain (OpenEWLD)", "style": "folk"},
    "music21_rntxt": {"license": "BSD-3-Clause (music21 corpus)", "style": "classical"},
}


def build_table(data_dir: Path, limit: int | None = None, progress=print) -> dict:
    """Build the harmony table from the raw data sets in `data_dir` (see module docstring).

    `limit` caps the songs read per source (quick checks). Raises TableError when `data_dir` or a
    required archive is missing.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise TableError(f"data directory {data_dir} does not exist")
    progress = progress or (lambda *_: None)
    stats = Stats()
    results: dict[str, dict] = {}

    def run(name: str, fn: Callable[[], dict]) -> dict:
        t0 = time.time()
        res = fn()
        results[name] = res
        progress(f"{name}: {res['songs']} songs, {res['transitions']} bar transitions "
                 f"({time.time() - t0:.1f} s)")
        return res

    try:  # the corpus readers name a missing archive
        bb = run("billboard", lambda: _billboard(data_dir, limit, stats, progress))
        p9 = run("pop909", lambda: _pop909(data_dir, limit, stats, progress))
        t0 = time.time()
        sheets = _lead_sheet_items(data_dir, limit)
        progress(f"  lead sheets: {', '.join(f'{len(v)} {k}' for k, v in sheets.items())} ({time.time() - t0:.1f} s)")
        for name, items in sheets.items():
            run(name, partial(_lead_sheets, items, SOURCES[name]["style"], stats, progress, name))
        run("music21_rntxt", lambda: _rntxt(limit, stats, progress))
    except DataError as exc:
        raise TableError(str(exc)) from None
    sources = {name: {"songs": int(results[name]["songs"]), **SOURCES[name]} for name in SOURCES}
    return {
        "version": VERSION,
        "sources": sources,
        "chords": stats.export(MIN_COUNT),
        "forms": {"pop": _export_billboard_forms(bb, MIN_COUNT), "pop909": _export_pop909_forms(p9, MIN_COUNT)},
    }


def write_table(table: dict, out: Path) -> int:
    """Write the table as compact JSON (keys in a fixed order); returns the size in bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(table, ensure_ascii=False, separators=(",", ":"))
    out.write_text(text + "\n", encoding="utf-8")
    return out.stat().st_size


def count_transitions(table: dict) -> int:
    return sum(n for style in table["chords"].values() for mode in style.values()
               for row in mode["next"].values() for n in row.values())


def top_transitions(table: dict, style: str = "pop", mode: str = "major", n: int = 10) -> list[tuple[str, str, int]]:
    rows = [(a, b, c) for a, row in table["chords"][style][mode]["next"].items() for b, c in row.items()]
    return sorted(rows, key=lambda r: (-r[2], r[0], r[1]))[:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.harmony_table",
                                     description="Build the chord/form table the planner uses.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build composer/data/harmony.json from the raw data sets")
    b.add_argument("--data", type=Path, default=None,
                   help="folder of the data sets (default: $COMPOSER_DATA or ../shared/data)")
    b.add_argument("--out", type=Path, default=TABLE_PATH, help=f"output file (default: {TABLE_PATH})")
    b.add_argument("--limit", type=int, default=None, help="read at most N songs per source")
    args = parser.parse_args(argv)

    data_dir = args.data if args.data is not None else default_data_dir()
    if not data_dir.is_dir():
        print(f"error: data directory {data_dir} not found (use --data or set COMPOSER_DATA)", file=sys.stderr)
        return 2
    t0 = time.time()
    try:
        table = build_table(data_dir, args.limit, progress=lambda msg: print(msg, flush=True))
    except TableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = write_table(table, args.out)
    print(f"wrote {args.out} ({size / 1024:.0f} KB) in {time.time() - t0:.0f} s")
    for name, src in table["sources"].items():
        print(f"  {name:14s} {src['songs']:5d} songs  ({src['style']})")
    print(f"  bar transitions kept in the table: {count_transitions(table)}")
    if "pop" in table["chords"]:
        top = ", ".join(f"{a}->{b} {c}" for a, b, c in top_transitions(table, n=5))
        print(f"  top pop/major transitions: {top}")
    if args.out.resolve() == TABLE_PATH:
        load_table.cache_clear()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
