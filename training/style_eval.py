"""The Style table: per style, the figures a musician hears first, for both arrangers and for human data.

    .venv/bin/python -m training.style_eval --out /tmp/style.md [--seeds 2] [--quick]

Each style has three briefs. Every brief and seed is planned (`make_plan`), arranged with the default
arranger ("auto": the transformer when its weights are installed) and with the patterns, and performed
(`perform_score`, where the feel and swing are applied). Timing figures (swing ratio, late and on-grid
off-beats) are read from the performed notes (on-grid: of the notes written on an off-beat eighth, the share
played within 0.04 of a beat of it; human data have no written part, so the first onset mid-beat stands in); pattern figures (ride, backbeat, walking bass, ...) from the
written ones; chord figures (seventh share, ii-V count, out-of-vocabulary share) from the whole plan, so they
are the same for both arrangers (and --quick, which arranges only a plan's first sections, still reads them all). Values are means over briefs and seeds. The human column comes from the Groove
MIDI Dataset (drum figures and swing, "beat" performances only, grouped by its style labels), from the
Nottingham tunes (notes per bar of reels, jigs and waltzes) and from the jazz lead sheets of chord_melody
(chord figures); "—" where no human data speak to the figure or the data folder is missing.

How the targets were chosen. Each target states what the idiom means and is checked against the human
column. Swing: triplet swing is 0.667 of the beat; Groove MIDI's jazz and shuffle drummers land their
off-beats at about 0.57-0.61 (lighter at fast tempos), so swing styles ask for 0.58-0.70 and straight styles
for at most 0.55 (human rock, funk and pop read 0.45-0.52, since straight off-beats are often played a little
early). Off-beats count as swung from 0.58 and as straight within 0.04 of 0.5; half of a swing tune's off-beats
should be late (Groove MIDI: jazz 0.50, so jazz asks 0.45 to leave room for fast tempos; shuffles 0.63). Pattern shares ask for the
idiom in most bars (0.75-0.8): a written pattern has no reason to leave its groove, while human drummers vary
theirs (Groove MIDI's "beat" takes are improvised grooves with variations, so its shares run lower: rock's
backbeat is about 0.5, jazz's hi-hat on 2 and 4 about 0.3-0.7). Walking asks for 0.8 of the bars, as a
walking bass walks through the chorus. Chord figures come from what the idiom's harmony is: jazz and bossa are
built on seventh chords (chord_melody's jazz standards: about 0.6 sevenths and several ii-Vs per 32 bars),
blues on dominant sevenths; celtic tunes on triads. Reels are running eighths (8 per bar); Nottingham's
"reels" (English dance tunes with many quarter notes) have a median of 5, so the target is 6; jigs are
running eighths in 6/8 (6 per bar; Nottingham 5), target 5. A melody a listener can follow is on top of the
texture (0.9 of its notes) and no instrument plays outside its range.
"""
from __future__ import annotations

import argparse
import io
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from symbolic import style_measures as sm
from symbolic.harmony import Chord, Key
from symbolic.metrics import nanmean
from symbolic.score import PPQ, Bar, Note, Score, Sheet

NAN = float("nan")
DASH = "—"


# --- what is measured: a take is one arranged piece or one human piece -----------------------------

@dataclass
class Take:
    bars: list[Bar]
    parts: list[tuple[str, list[Note]]] = field(default_factory=list)  # (role, written notes)
    played: list[list[Note]] | None = None  # per part, performed notes (None: no timing to read)
    chords: list[tuple[Chord, Key]] = field(default_factory=list)  # chord changes with the key they are in
    key: Key | None = None
    section_starts: list[int] | None = None
    score: Score | None = None
    chord_bars: int | None = None  # bars the chords span, when not the take's bars (a plan cut short)

    def role(self, role: str) -> list[Note]:
        """The first part of the role (a second melody would double the onsets)."""
        return next((ns for r, ns in self.parts if r == role), [])

    @property
    def drums(self) -> list[Note]:
        return [n for r, ns in self.parts if r == "drums" for n in ns]

    @property
    def accompaniment(self) -> list[Note]:
        return [n for r, ns in self.parts if r not in ("melody", "bass", "drums") for n in ns]

    @property
    def n_bars(self) -> int:
        return len(self.bars)


def _played_positions(t: Take) -> np.ndarray:
    if t.played is None:
        return np.array([])
    return np.concatenate([sm.offbeat_positions(ns, t.bars) for ns in t.played] or [np.array([])])


def _swing(t: Take) -> float:
    pos = _played_positions(t)
    return float(np.median(pos)) if len(pos) else NAN


def _late(t: Take) -> float:
    pos = _played_positions(t)
    return float(np.mean(pos >= sm.LATE)) if len(pos) else NAN


def _written_offbeats(t: Take) -> np.ndarray | None:
    """Where the notes written on an off-beat eighth were played, as a fraction of their beat; None for a take
    with no written part (human data)."""
    if t.played is None or t.score is None:   # only an arranged take has a written score beside its performance
        return None
    written = [ns for _, ns in t.parts if ns]
    if len(written) != len(t.played):
        return None
    starts = np.array([b.start for b in t.bars], dtype=np.int64)
    out = []
    for w, played in zip(written, t.played):
        for a, b in zip(w, played):
            bar = t.bars[max(0, int(np.searchsorted(starts, a.start, side="right")) - 1)]
            if bar.denominator in (2, 4) and (a.start - bar.start) % PPQ == PPQ // 2:
                out.append((b.start - (a.start - PPQ // 2)) / PPQ)
    return np.array(out, dtype=float)


def _on_grid(t: Take) -> float:
    # An arrangement: the notes written on the off-beat eighth (a written syncopation, such as a bossa bass's
    # anticipation on the beat's last sixteenth, is not one); human data: the first onset mid-beat.
    written = _written_offbeats(t)
    pos = written if written is not None else _played_positions(t)
    return float(np.mean(np.abs(pos - 0.5) <= sm.ON_GRID + 1e-9)) if len(pos) else NAN


def _drum(fn: Callable[[list[Note], Sequence[Bar]], float]) -> Callable[[Take], float]:
    return lambda t: fn(t.drums, t.bars) if t.drums else NAN


def _crashes(t: Take) -> float:
    if not t.drums or t.section_starts is None:
        return NAN
    return sm.crashes_not_at_section_start(t.drums, t.bars, t.section_starts)


def _of_role(role: str, fn: Callable[[list[Note], Sequence[Bar]], float]) -> Callable[[Take], float]:
    return lambda t: fn(t.role(role), t.bars) if t.role(role) else NAN


def _blue(t: Take) -> float:
    mel = t.role("melody")
    return sm.blue_note_share(mel, t.key) if mel and t.key is not None else NAN


def _sevenths(t: Take) -> float:
    return sm.seventh_share(c for c, _ in t.chords) if t.chords else NAN


def _two_five(t: Take) -> float:
    return sm.two_five_count([c for c, _ in t.chords], t.chord_bars or t.n_bars) if t.chords else NAN


def _oov(family: str) -> Callable[[Take], float]:
    vocab = sm.VOCABULARY[family]
    return lambda t: (float(np.mean([not sm.in_vocabulary(c, k, vocab) for c, k in t.chords]))
                      if t.chords else NAN)


def _oom_pah(t: Take) -> float:
    # Without a bass part the accompaniment's own downbeat is the oom (a piano's left hand).
    acc = t.accompaniment
    return sm.oom_pah_share(t.role("bass") or acc, acc, t.bars) if acc else NAN


def _range(t: Take) -> float:
    return sm.range_violations(t.score) if t.score is not None else NAN


def _on_top(t: Take) -> float:
    return sm.melody_on_top_share(t.score) if t.score is not None else NAN


@dataclass(frozen=True)
class Figure:
    label: str
    measure: Callable[[Take], float]
    digits: int = 2


FIGURES: dict[str, Figure] = {
    "swing": Figure("swing ratio (performed)", _swing),
    "late": Figure("late off-beat share (performed)", _late),
    "on_grid": Figure("on-grid off-beat share (performed)", _on_grid),
    "ride": Figure("ride share", _drum(sm.ride_share)),
    "hihat24": Figure("hi-hat on 2 & 4 share", _drum(sm.hihat_24_share)),
    "backbeat": Figure("backbeat share", _drum(sm.backbeat_share)),
    "kick1": Figure("kick on 1 share", _drum(sm.kick_on_one_share)),
    "one_drop": Figure("one-drop share", _drum(sm.one_drop_share)),
    "cross_stick": Figure("cross-stick share", _drum(sm.cross_stick_share)),
    "toms": Figure("tom hits per bar", _drum(sm.tom_hits_per_bar), 1),
    "crashes": Figure("crashes not at a section start", _crashes, 1),
    "walking": Figure("walking share (bass)", _of_role("bass", sm.walking_share)),
    "bass_leaps": Figure("octave-leap share (bass)", lambda t: sm.leap_share(t.role("bass")) if t.role("bass") else NAN),
    "notes_per_bar": Figure("median notes per bar (melody)", _of_role("melody", sm.median_notes_per_bar), 1),
    "blue": Figure("blue-note share (melody)", _blue),
    "sevenths": Figure("seventh-chord share (plan)", _sevenths),
    "two_five": Figure("ii-V per 32 bars (plan)", _two_five, 1),
    "oom_pah": Figure("oom-pah-pah share (bass + chords)", _oom_pah),
    "range": Figure("range violations (notes)", _range, 1),
    "on_top": Figure("melody-on-top share", _on_top),
}
for _family in sm.VOCABULARY:
    FIGURES[f"oov_{_family}"] = Figure(f"out-of-vocabulary share ({_family}, plan)", _oov(_family))


@dataclass(frozen=True)
class Target:
    lo: float | None = None
    hi: float | None = None

    def meets(self, value: float) -> bool | None:
        if math.isnan(value):
            return None
        return (self.lo is None or value >= self.lo - 1e-9) and (self.hi is None or value <= self.hi + 1e-9)

    def text(self, digits: int) -> str:
        f = f"{{:.{digits}f}}"
        if self.lo is not None and self.hi is not None:
            return f"{f.format(self.lo)}–{f.format(self.hi)}" if self.lo != self.hi else f.format(self.lo)
        if self.lo is not None:
            return f"≥ {f.format(self.lo)}"
        return f"≤ {f.format(self.hi)}" if self.hi is not None else "—"


def at_least(v: float) -> Target:
    return Target(lo=v)


def at_most(v: float) -> Target:
    return Target(hi=v)


SWUNG = Target(0.58, 0.70)
STRAIGHT = at_most(0.55)
ALL_STYLES = (("range", Target(0, 0)), ("on_top", at_least(0.9)))


@dataclass(frozen=True)
class Style:
    name: str
    briefs: tuple[str, str, str]
    figures: tuple[tuple[str, Target], ...]
    groove: frozenset[str] = frozenset()  # Groove MIDI style labels that play this style
    folk: str = ""  # Nottingham file prefix (reels, jigs, waltzes)
    lead_sheets: bool = False  # chord_melody's jazz lead sheets


STYLES: tuple[Style, ...] = (
    Style("jazz swing", (
        "a medium swing jazz tune, AABA, for tenor sax, piano, upright bass and drums, 160 bpm",
        "a bebop head for trumpet, alto sax, piano, upright bass and drums, 220 bpm",
        "a swinging jazz trio piece in F for piano, upright bass and drums, 140 bpm"),
        (("swing", SWUNG), ("late", at_least(0.45)), ("ride", at_least(0.75)), ("hihat24", at_least(0.6)),
         ("walking", at_least(0.8)), ("bass_leaps", at_most(0.05)), ("sevenths", at_least(0.6)),
         ("two_five", at_least(2)), ("oov_jazz", at_most(0.15))),
        groove=frozenset({"jazz", "jazz/swing", "jazz/mediumfast", "jazz/fast"}), lead_sheets=True),
    Style("jazz ballad", (
        "a slow jazz ballad for trumpet, piano, upright bass and drums, 60 bpm",
        "a late-night jazz ballad in Db for alto sax, piano, upright bass and drums, 66 bpm",
        "a tender jazz ballad for vibraphone, jazz guitar, upright bass and drums"),
        (("swing", SWUNG), ("sevenths", at_least(0.6)), ("two_five", at_least(2)), ("oov_jazz", at_most(0.15)),
         ("backbeat", at_most(0.25)), ("toms", at_most(0.5)), ("crashes", at_most(2))),
        lead_sheets=True),
    Style("bossa nova", (
        "a bossa nova for nylon guitar, flute, upright bass and drums, 130 bpm",
        "a gentle 1960s bossa nova for tenor sax, piano, acoustic bass and drums",
        "a bossa nova in D minor for clarinet, nylon guitar, upright bass and drums"),
        (("on_grid", at_least(0.7)), ("swing", STRAIGHT), ("cross_stick", at_least(0.75)),
         ("backbeat", at_most(0.2)), ("sevenths", at_least(0.6)), ("oov_bossa", at_most(0.15))),
        groove=frozenset({"latin/brazilian-bossa"})),
    Style("blues shuffle", (
        "a 12-bar shuffle blues in A for electric guitar, harmonica, bass and drums",
        "a slow Chicago blues shuffle for tenor sax, piano, electric bass and drums, 84 bpm",
        "a Texas shuffle blues in E for electric guitar, organ, bass and drums"),
        (("swing", SWUNG), ("late", at_least(0.5)), ("blue", at_least(0.05)), ("sevenths", at_least(0.6)),
         ("backbeat", at_least(0.8)), ("oov_blues", at_most(0.1))),
        groove=frozenset({"blues/shuffle", "rock/shuffle"})),
    Style("rock", (
        "a driving rock song for lead guitar, rhythm guitar, electric bass and drums, 128 bpm",
        "a hard rock anthem in E for distorted guitar, electric bass and drums",
        "an indie rock tune for electric guitar, organ, electric bass and drums"),
        (("backbeat", at_least(0.8)), ("kick1", at_least(0.8)), ("on_grid", at_least(0.7)), ("swing", STRAIGHT),
         ("toms", at_most(1)), ("crashes", at_most(4)), ("oov_pop", at_most(0.15))),
        groove=frozenset({"rock", "rock/indie"})),
    Style("pop", (
        "an upbeat pop song for piano, synth, electric bass and drums, 118 bpm",
        "a mid-tempo pop ballad for piano, strings, electric bass and drums",
        "a bright synth-pop song for synth lead, synth pad, synth bass and drums"),
        (("backbeat", at_least(0.8)), ("kick1", at_least(0.8)), ("on_grid", at_least(0.7)), ("swing", STRAIGHT),
         ("oov_pop", at_most(0.15))),
        groove=frozenset({"pop", "pop/soft", "pop/groove7"})),
    Style("funk", (
        "a tight funk groove for clavinet, electric guitar, slap bass and drums, 104 bpm",
        "a 70s funk tune for brass section, electric piano, electric bass and drums",
        "a funk groove in E minor for electric guitar, organ, electric bass and drums"),
        (("backbeat", at_least(0.8)), ("kick1", at_least(0.8)), ("on_grid", at_least(0.6)), ("swing", STRAIGHT),
         ("sevenths", at_least(0.5)), ("oov_jazz", at_most(0.2))),
        groove=frozenset({"funk", "funk/fast", "funk/rock", "funk/groove1", "funk/groove2", "funk/groove5"})),
    Style("reggae", (
        "a roots reggae groove for organ, electric guitar, electric bass and drums, 76 bpm",
        "a one-drop reggae song in G for electric guitar, electric piano, electric bass and drums",
        "a relaxed reggae tune for trumpet, organ, electric bass and drums"),
        (("one_drop", at_least(0.6)), ("kick1", at_most(0.3)), ("backbeat", at_most(0.25)),
         ("on_grid", at_least(0.5)), ("oov_pop", at_most(0.15))),
        groove=frozenset({"reggae", "reggae/slow"})),
    Style("celtic reel", (
        "a fast Celtic reel in D for fiddle, tin whistle, acoustic guitar and upright bass",
        "an Irish reel in G for fiddle, flute and acoustic guitar",
        "a Scottish reel in A for fiddle, accordion and acoustic guitar"),
        (("notes_per_bar", at_least(6)), ("on_grid", at_least(0.7)), ("swing", STRAIGHT),
         ("oov_celtic", at_most(0.1))),
        folk="reels"),
    Style("jig", (
        "a jig in 6/8 in G for fiddle, flute and acoustic guitar",
        "a lively Irish jig in D for tin whistle, fiddle and acoustic guitar, 6/8",
        "a double jig in E minor for flute, accordion and acoustic guitar, 6/8"),
        (("notes_per_bar", at_least(5)), ("oov_celtic", at_most(0.1))),
        folk="jigs"),
    Style("waltz", (
        "a Viennese waltz in 3/4 for strings and piano",
        "a gentle waltz in F for accordion, acoustic guitar and upright bass, 3/4",
        "a French musette waltz in 3/4 for accordion, nylon guitar and double bass"),
        (("oom_pah", at_least(0.6)), ("notes_per_bar", at_least(2)), ("oov_classical", at_most(0.15))),
        folk="waltzes"),
    Style("baroque", (
        "a baroque string quartet in D minor",
        "a baroque trio sonata for flute, violin, harpsichord and cello",
        "a baroque concerto grosso movement in G for strings and harpsichord, 100 bpm"),
        (("on_grid", at_least(0.8)), ("swing", STRAIGHT), ("bass_leaps", at_most(0.1)),
         ("oov_classical", at_most(0.1)))),
    Style("film cue", (
        "a film cue for orchestra, tense and slow",
        "a heroic cinematic theme for brass, strings and timpani, 100 bpm",
        "a gentle film score cue for piano, strings and french horn"),
        (("oov_classical", at_most(0.2)),)),
)


# --- arranged takes ----------------------------------------------------------------------------

def sheet_chords(sheet: Sheet) -> list[tuple[Chord, Key]]:
    """The plan's chord changes (a chord held over bars counts once) with the key of their bar."""
    out: list[tuple[Chord, Key]] = []
    for b in sheet.bars:
        for span in b.chords:
            c = span.chord
            if not out or (out[-1][0].root, out[-1][0].quality, out[-1][0].bass) != (c.root, c.quality, c.bass):
                out.append((c, b.key))
    return out


def shorten(plan, max_bars: int | None):
    """The plan's leading sections, enough of them for max_bars bars (the whole plan when None)."""
    if not max_bars or plan.total_bars <= max_bars:
        return plan
    keep, total = [], 0
    for sec in plan.sections:
        keep.append(sec)
        total += sec.bars
        if total >= max_bars:
            break
    return plan.model_copy(update={"sections": keep})


def arranged_take(score: Score, performed: Score, sheet: Sheet) -> Take:
    """An arranged piece; `sheet` is the whole plan's, so the chord figures read all of it when the
    arrangement was cut short."""
    return Take(bars=list(score.bars), parts=[(p.role or ("drums" if p.is_drum else ""), p.notes) for p in score.parts],
                played=[p.notes for p in performed.parts if p.notes], chords=sheet_chords(sheet),
                key=sheet.bars[0].key if sheet.bars else None, section_starts=[t for t, _ in score.markers],
                score=score, chord_bars=len(sheet.bars))


def measure_take(take: Take, names: Sequence[str]) -> dict[str, float]:
    return {n: FIGURES[n].measure(take) for n in names}


# --- human takes ---------------------------------------------------------------------------------

def groove_takes(data_dir: Path, labels: set[str], say: Callable[[str], None]) -> dict[str, list[Take]]:
    """Groove MIDI "beat" performances per style label, as drum-only takes with their own timing."""
    from training.corpora import DataError, groove_piece, read_groove
    try:
        items = read_groove(data_dir, None)
    except DataError as exc:
        say(f"no Groove MIDI data ({exc})")
        return {}
    out: dict[str, list[Take]] = {}
    for it in items:
        if it.get("beat_type") != "beat" or it.get("style") not in labels:
            continue
        piece, _ = groove_piece(it)
        if piece is None:
            continue
        drums = piece.tracks[0].notes
        out.setdefault(it["style"], []).append(Take(bars=piece.bars, parts=[("drums", drums)], played=[drums]))
    return out


def folk_takes(data_dir: Path, prefixes: set[str], say: Callable[[str], None]) -> dict[str, list[Take]]:
    """Nottingham tunes (melody track only, quantized) per file prefix."""
    import mido

    from symbolic.annotations import read_tar_members
    from symbolic.midi_io import midi_to_score
    from symbolic.score import ScoreError
    path = data_dir / "nottingham" / "nottingham.tar.gz"
    if not path.is_file():
        say(f"no Nottingham data ({path})")
        return {}
    files = read_tar_members(path, lambda n: "/MIDI/" in n and n.count("/") == 2 and n.endswith(".mid"))
    out: dict[str, list[Take]] = {}
    for name, data in sorted(files.items()):
        prefix = next((p for p in prefixes if name.rsplit("/", 1)[-1].startswith(p)), None)
        if prefix is None:
            continue
        try:
            score = midi_to_score(mido.MidiFile(file=io.BytesIO(data), clip=True))
        except (ScoreError, ValueError, OSError, EOFError):
            continue
        out.setdefault(prefix, []).append(Take(bars=score.bars, parts=[("melody", score.parts[0].notes)]))
    return out


def lead_sheet_takes(data_dir: Path, limit: int | None, say: Callable[[str], None]) -> list[Take]:
    """chord_melody's jazz lead sheets: chord changes (with the key) and the melody."""
    from training.corpora import DataError, lead_sheet_item_piece, read_lead_sheets
    try:
        items = [i for i in read_lead_sheets(data_dir, None) if i["source"] == "chord_melody"]
    except DataError as exc:
        say(f"no lead sheets ({exc})")
        return []
    out = []
    for it in items[:limit] if limit else items:
        piece, _ = lead_sheet_item_piece(it)
        if piece is None:
            continue
        chords: list[tuple[Chord, Key]] = []
        for i, bar in enumerate(piece.chords):
            key = Key(*piece.keys[i])
            for _, c in bar:
                if c is not None and (not chords or (chords[-1][0].root, chords[-1][0].quality)
                                      != (c.root, c.quality)):
                    chords.append((c, key))
        tonic, mode = piece.keys[0] if piece.keys else (0, "major")
        out.append(Take(bars=piece.bars, parts=[("melody", piece.tracks[0].notes)], chords=chords,
                        key=Key(tonic, mode)))
    return out


def human_figures(styles: Sequence[Style], data_dir: Path, quick: bool, say: Callable[[str], None]
                  ) -> dict[str, dict[str, float]]:
    """Per style, the human value of each of its figures (NaN where no human data speak to it)."""
    t0 = time.time()
    labels = {lab for s in styles for lab in s.groove}
    groove = groove_takes(data_dir, labels, say) if labels else {}
    folk = folk_takes(data_dir, {s.folk for s in styles if s.folk}, say) if any(s.folk for s in styles) else {}
    sheets = lead_sheet_takes(data_dir, 60 if quick else None, say) if any(s.lead_sheets for s in styles) else []
    say(f"human data read in {time.time() - t0:.0f} s: {sum(map(len, groove.values()))} Groove MIDI beats, "
        f"{sum(map(len, folk.values()))} Nottingham tunes, {len(sheets)} jazz lead sheets")
    out: dict[str, dict[str, float]] = {}
    for s in styles:
        takes = [t for lab in sorted(s.groove) for t in groove.get(lab, [])]
        takes += folk.get(s.folk, []) if s.folk else []
        takes += sheets if s.lead_sheets else []
        names = [n for n, _ in s.figures + ALL_STYLES]
        out[s.name] = {n: nanmean(FIGURES[n].measure(t) for t in takes) for n in names}
    return out


# --- the run -------------------------------------------------------------------------------------

def perform(score: Score, seed: int, plan) -> Score:
    """The pipeline's performance of the score in the plan's style and feel (its swing)."""
    from composer.pipeline import perform_score
    return perform_score(score, 1.0, seed, plan=plan)


def run_style(style: Style, seeds: int, briefs: int, max_bars: int | None, say: Callable[[str], None]
              ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Mean figures per arranger ("auto", "patterns") over briefs and seeds, and seconds spent per arranger."""
    from composer.pipeline import arrange, make_plan
    names = [n for n, _ in style.figures + ALL_STYLES]
    values: dict[str, dict[str, list[float]]] = {a: {n: [] for n in names} for a in ("auto", "patterns")}
    seconds = {"plan": 0.0, "auto": 0.0, "patterns": 0.0, "perform": 0.0}
    for brief in style.briefs[:briefs]:
        for seed in range(seeds):
            t = time.time()
            try:
                whole = make_plan(brief, seed=seed)
            except ValueError as exc:
                say(f"  {brief!r} seed {seed}: no plan ({exc})")
                continue
            plan = shorten(whole, max_bars)
            seconds["plan"] += time.time() - t
            sheet = whole.to_sheet()
            idiom = plan.style_idiom()
            feel = f"genre={idiom.genre} feel={idiom.feel} swing={idiom.swing}"
            line = [f"  {brief[:60]!r} seed {seed}: style {plan.style!r} {plan.meter} {plan.tempo:g} bpm, "
                    f"{plan.total_bars} bars {feel}".rstrip()]
            for arranger in ("auto", "patterns"):
                t = time.time()
                try:
                    score = arrange(plan, seed=seed, arranger=arranger, brief=brief)
                except (ValueError, RuntimeError) as exc:
                    say(f"  {brief!r} seed {seed} {arranger}: failed ({exc})")
                    continue
                seconds[arranger] += time.time() - t
                t2 = time.time()
                performed = perform(score, seed, plan)
                seconds["perform"] += time.time() - t2
                line.append(f"{arranger} {time.time() - t:.1f} s")
                for n, v in measure_take(arranged_take(score, performed, sheet), names).items():
                    values[arranger][n].append(v)
            say("; ".join(line))
    return {a: {n: nanmean(v) for n, v in vs.items()} for a, vs in values.items()}, seconds


def _cell(value: float, target: Target, digits: int) -> str:
    if value is None or math.isnan(value):
        return DASH
    ok = target.meets(value)
    return f"{value:.{digits}f} {'✓' if ok else '✗'}"


def table(styles: Sequence[Style], results: dict[str, dict[str, dict[str, float]]],
          human: dict[str, dict[str, float]], auto_name: str) -> str:
    """The markdown Style table: a row per (style, figure)."""
    lines = [f"| style | figure | target | default (auto: {auto_name}) | patterns | human |",
             "| --- | --- | --- | --- | --- | --- |"]
    for s in styles:
        for name, target in s.figures + ALL_STYLES:
            fig = FIGURES[name]
            r = results.get(s.name, {})
            cells = [_cell(r.get(a, {}).get(name, NAN), target, fig.digits) for a in ("auto", "patterns")]
            cells.append(_cell(human.get(s.name, {}).get(name, NAN), target, fig.digits))
            lines.append(f"| {s.name} | {fig.label} | {target.text(fig.digits)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def evaluate(seeds: int = 2, quick: bool = False, styles: Sequence[str] | None = None,
             max_bars: int | None = None, data_dir: Path | None = None,
             say: Callable[[str], None] = print) -> str:
    """Run the briefs and the human data; the markdown table (with a line on timings under it)."""
    from composer.pipeline import default_arranger, transformer_arranger
    from training.corpora import default_data_dir
    chosen = [s for s in STYLES if not styles or s.name in styles]
    if quick:
        seeds, briefs, max_bars = 1, 1, max_bars or 16
    else:
        briefs = 3
    auto = default_arranger()
    auto_name = ("patterns" if auto == "patterns" or transformer_arranger() is None else
                 "transformer" if auto == "transformer" else "the patterns' rhythm section, the transformer's lines")
    t0 = time.time()
    human = human_figures(chosen, data_dir or default_data_dir(), quick, say)
    t_human = time.time() - t0
    results: dict[str, dict[str, dict[str, float]]] = {}
    totals = {"plan": 0.0, "auto": 0.0, "patterns": 0.0, "perform": 0.0}
    for s in chosen:
        t = time.time()
        say(f"{s.name}:")
        results[s.name], secs = run_style(s, seeds, briefs, max_bars, say)
        for k, v in secs.items():
            totals[k] += v
        say(f"{s.name}: {time.time() - t:.0f} s")
    wall = time.time() - t0
    timing = (f"{len(chosen)} styles x {briefs} brief(s) x {seeds} seed(s)"
              f"{f', plans cut to about {max_bars} bars' if max_bars else ''}; wall {wall:.0f} s "
              f"(human data {t_human:.0f} s, auto {totals['auto']:.0f} s, patterns {totals['patterns']:.0f} s, "
              f"perform {totals['perform']:.0f} s)")
    say(timing)
    return table(chosen, results, human, auto_name) + "\n" + timing + "\n"


SECTION_TITLE = "## Style: what a player hears first"


def section(seeds: int = 2, quick: bool = False, data_dir: Path | None = None,
            say: Callable[[str], None] = print) -> str:
    """The Style section of docs/EVAL.md (its heading, how to read it, the table)."""
    body = evaluate(seeds, quick, None, None, data_dir, say)
    return "\n".join([
        SECTION_TITLE, "",
        f"Every style's briefs ({'1 brief, 1 seed, plans cut to about 16 bars' if quick else f'3 briefs x {seeds} seeds'})"
        " planned and arranged by the default arranger and by the patterns, performed as `composer new` performs "
        "them, and measured by `symbolic.style_measures` on the figures that define the style; the human column "
        "reads the same figures from Groove MIDI, the Nottingham tunes and the jazz lead sheets. ✓ meets the "
        "target, ✗ misses it. How the targets were chosen: `training/style_eval.py`.", "", body.rstrip(), ""])


def main(argv: Sequence[str] | None = None) -> str:
    ap = argparse.ArgumentParser(prog="python -m training.style_eval", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the markdown table here")
    ap.add_argument("--seeds", type=int, default=2, help="seeds per brief (default 2)")
    ap.add_argument("--quick", action="store_true", help="1 brief per style, 1 seed, plans cut to about 16 bars")
    ap.add_argument("--max-bars", type=int, default=None, help="cut each plan to its leading sections, about this many bars")
    ap.add_argument("--style", action="append", help="only this style (repeatable)")
    ap.add_argument("--data-dir", type=Path, default=None, help="the shared data folder (default ../shared/data)")
    args = ap.parse_args(argv)
    names = {s.name for s in STYLES}
    for s in args.style or []:
        if s not in names:
            ap.error(f"unknown style {s!r}; choose from {', '.join(sorted(names))}")
    md = evaluate(args.seeds, args.quick, args.style, args.max_bars, args.data_dir,
                  say=lambda m: print(m, file=sys.stderr, flush=True))
    if args.out:
        args.out.write_text(md, encoding="utf-8")
    print(md)
    return md


if __name__ == "__main__":
    main()
