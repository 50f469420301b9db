"""The Arrangement table: what an arranger checks in a score, per brief, for both arrangers.

    .venv/bin/python -m training.arrangement_eval [--seeds 2] [--out /tmp/arr.md]

Briefs across styles and ensembles are planned (`make_plan`) and arranged with the default arranger and with
the patterns; each score is read by `symbolic.style_measures`:

- the instruments the brief names (an ensemble as its players) that play: all of them (a part named after each
  with notes; one General MIDI lacks plays the nearest sound);
- the melody on top: share of its notes at or above every other pitched part sounding with it (target 0.9: a
  listener follows the top line; a held accompaniment tone may still cross it now and then);
- the bass the lowest voice: share of the accompaniment's notes that start under the bass note sounding
  (at most 0.01: a crossing now and then in a close texture is heard as the bass line's);
- range and idiom: notes outside the instrument's comfortable range and outside its extreme range
  (symbolic/data/ranges.json), onsets where a part starts a chord its one player cannot hold (a chord on a
  wind, more strings than a guitar has or a span its hand cannot stop, a keyboard chord out of two hands'
  reach); all three must be 0;
- the lead's line: share of moves by step (at least 0.5: folk and art melodies move mostly by step, about 0.6-0.7
  of their moves in the Nottingham and Essen tunes), moves wider than an octave (at most 0.02) and leaps of a
  fifth or more answered by a turn back (at least 0.6, the rule of a leap recovered by step in the other
  direction, which the tunes follow about two times in three);
- the counter-melody's onsets that fall with the melody's (at most 0.5: it answers in the melody's rests
  rather than doubling its rhythm; a harmony part in thirds would read 1.0);
- the form: bar-by-bar similarity of the melody and bass of sections with the same material (A and A')
  against sections with other material (A and B); a return is recognisable when the first is at least twice the second and 0.1 above it
  (a return at a climax keeps its tune over a fuller accompaniment of its own, so it is not a copy);
- the energy arc, for briefs that build or fade: the last third against the first in mean velocity (the
  difference in velocity steps, and the ratio), notes per bar and pitch span; building asks for at least 12
  steps louder (a dynamic level or more: mp to f is about 20), ratios above 1.1, 1.5 and 1.2 (louder, denser,
  wider); fading for less than the first third in each.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from symbolic import style_measures as sm

NAN = float("nan")
DASH = "—"

BRIEFS = [
    "a jazz tune in F major, AABA, with tenor sax, piano, upright bass and drums, medium swing at 160 bpm, two minutes",
    "a baroque string quartet in G major, two minutes",
    "a relaxed bossa nova in D minor for flute, nylon guitar, upright bass and drums at 128 bpm, two minutes",
    "a 12-bar shuffle blues in A with electric guitar, piano, electric bass and drums at 100 bpm, two minutes",
    "a dark film cue in C minor for strings and french horn that starts quietly and builds to a climax, 90 seconds",
    "an Irish reel in D major for fiddle, tin whistle and bodhran, 100 seconds",
    "a gentle lullaby in F major in 6/8 for piano, flute and cello, one minute",
    "a synth-pop song in A minor with synth lead, synth pad, synth bass and drums, verse-chorus, two minutes",
    "a march in Bb major for concert band with a trio section in Eb major, two minutes",
    "a slow nocturne in A minor for piano and cello that fades away at the end, 90 seconds",
    "a nocturne for solo piano in Eb major, 90 seconds",
    "an epic piece for string orchestra with brass and timpani in D minor that builds to a climax, two minutes",
    "a driving rock song in E minor for lead guitar, rhythm guitar, electric bass and drums, two minutes",
    "a folk duo in G major for fiddle and acoustic guitar, 90 seconds",
]

# (column, what it reads, how many digits, target test or None)
COLUMNS: list[tuple[str, int, Callable[[float], bool] | None]] = [
    ("named instruments with a part", 2, lambda v: v == 1.0),
    ("on top", 2, lambda v: v >= 0.9),
    ("under the bass", 3, lambda v: v <= 0.01),
    ("out of comfortable range", 0, lambda v: v == 0),
    ("out of extreme range", 0, lambda v: v == 0),
    ("chords no one can hold", 0, lambda v: v == 0),
    ("steps", 2, lambda v: v >= 0.5),
    ("leaps > octave", 3, lambda v: v <= 0.02),
    ("leaps answered", 2, lambda v: v >= 0.6),
    ("counter on the melody's onsets", 2, lambda v: v <= 0.5),
    ("same material", 2, None),
    ("other material", 2, None),
    ("velocity last - first", 1, None),
    ("velocity last/first", 2, None),
    ("density last/first", 2, None),
    ("span last/first", 2, None),
]


# What a build asks of the last third over the first: louder, denser, wider (a fade: each under 1).
ARC_FLOORS = {"velocity last - first": 12.0, "velocity last/first": 1.1, "density last/first": 1.5,
              "span last/first": 1.2}


def arc(brief: str) -> str:
    """'builds', 'fades' or '' as the brief asks."""
    text = brief.lower()
    if any(w in text for w in ("build", "climax", "grows", "crescendo")):
        return "builds"
    if any(w in text for w in ("fade", "dies away", "diminuendo")):
        return "fades"
    return ""


def named_share(brief: str, score) -> float:
    """Share of the instruments the brief names (an ensemble as its players) that play in the score: a part
    named after each, with notes."""
    from composer.brief import parse_brief
    named = [inst.name for inst in parse_brief(brief).instruments]
    if not named:
        return NAN
    playing = [p.name for p in score.parts if p.notes]
    left = list(playing)
    got = 0
    for name in named:
        hit = next((p for p in left if p.startswith(name)), None)
        if hit is not None:
            left.remove(hit)
            got += 1
    return got / len(named)


def measure(score, sheet, brief: str = "") -> dict[str, float]:
    bars = [b.bar for b in sheet.bars]
    same, other = sm.section_similarity(score, sheet)
    vel, dens, span = sm.energy_arc(score, bars)
    return {"named instruments with a part": named_share(brief, score) if brief else NAN,
            "velocity last - first": sm.velocity_rise(score, bars), "on top": sm.melody_on_top_share(score), "under the bass": sm.under_bass_share(score), "out of comfortable range": sm.range_violations(score),
            "out of extreme range": sm.extreme_violations(score),
            "chords no one can hold": sm.unplayable_chords(score), "steps": sm.step_share(score),
            "leaps > octave": sm.wide_leap_share(score), "leaps answered": sm.answered_leap_share(score),
            "counter on the melody's onsets": sm.counter_doubling_share(score),
            "same material": same, "other material": other,
            "velocity last/first": vel, "density last/first": dens, "span last/first": span}


def _mean(values: list[float]) -> float:
    real = [v for v in values if not math.isnan(v)]
    return float(np.mean(real)) if real else NAN


def run(seeds: int = 2, briefs: Sequence[str] = BRIEFS, say: Callable[[str], None] = print
        ) -> dict[str, dict[str, dict[str, float]]]:
    """brief -> arranger ("auto", "patterns") -> column -> mean over seeds."""
    from composer.pipeline import arrange, make_plan
    out: dict[str, dict[str, dict[str, float]]] = {}
    for brief in briefs:
        got: dict[str, dict[str, list[float]]] = {a: {c: [] for c, _, _ in COLUMNS} for a in ("auto", "patterns")}
        for seed in range(seeds):
            try:
                plan = make_plan(brief, seed=seed)
            except ValueError as exc:
                say(f"  {brief!r} seed {seed}: no plan ({exc})")
                continue
            sheet = plan.to_sheet()
            for arranger in got:
                t = time.time()
                score = arrange(plan, seed=seed, arranger=arranger, brief=brief)
                for c, v in measure(score, sheet, brief).items():
                    got[arranger][c].append(v)
                say(f"  {brief[:50]!r} seed {seed} {arranger}: {time.time() - t:.1f} s")
        out[brief] = {a: {c: _mean(v) for c, v in cols.items()} for a, cols in got.items()}
    return out


def human(data_dir: Path, songs: int = 300, say: Callable[[str], None] = print) -> dict[str, dict[str, float]]:
    """The line and counter-melody figures of human music: the Nottingham tunes' melodies and POP909's
    melodies with their secondary melody (its BRIDGE track) as the counter-line."""
    import io

    import mido

    from symbolic.annotations import read_tar_members
    from symbolic.midi_io import midi_to_score
    from symbolic.score import ScoreError
    out: dict[str, dict[str, float]] = {}
    sources = {"Nottingham tunes": (data_dir / "nottingham" / "nottingham.tar.gz",
                                    lambda n: "/MIDI/" in n and n.count("/") == 2 and n.endswith(".mid")),
               "POP909": (data_dir / "pop909" / "pop909.tar.gz",
                          lambda n: n.count("/") == 2 and n.endswith(".mid") and "/versions/" not in n)}
    for name, (path, want) in sources.items():
        if not path.is_file():
            say(f"no {name} data ({path})")
            continue
        files = sorted(read_tar_members(path, want).items())[:songs]
        figs: dict[str, list[float]] = {"steps": [], "leaps > octave": [], "leaps answered": [],
                                        "counter on the melody's onsets": []}
        for _, data in files:
            try:
                score = midi_to_score(mido.MidiFile(file=io.BytesIO(data), clip=True))
            except (ScoreError, ValueError, OSError, EOFError):
                continue
            named = {p.name.upper(): p for p in score.parts}
            melody = named.get("MELODY", score.parts[0] if score.parts else None)
            if melody is None:
                continue
            steps, wide, answered = sm.line_figures(melody.notes)
            figs["steps"].append(steps)
            figs["leaps > octave"].append(wide)
            figs["leaps answered"].append(answered)
            if "BRIDGE" in named:
                figs["counter on the melody's onsets"].append(sm.doubling_share(melody.notes, named["BRIDGE"].notes))
        out[f"human: {name} ({len(files)} pieces)"] = {c: _mean(v) for c, v in figs.items()}
    return out


def _cell(column: str, value: float, brief: str, res: dict[str, float]) -> str:
    if math.isnan(value):
        return DASH
    digits, test = next((d, t) for c, d, t in COLUMNS if c == column)
    text = f"{value:.{digits}f}"
    kind = arc(brief)
    if column == "same material":
        other = res.get("other material", NAN)
        ok = None if math.isnan(other) else value >= max(other + 0.1, 2 * other)
    elif column in ARC_FLOORS:
        if not kind:
            return DASH
        ok = value > ARC_FLOORS[column] if kind == "builds" else value < (0.0 if "-" in column else 1.0)
    else:
        ok = None if test is None else test(value)
    return text if ok is None else f"{text} {'✓' if ok else '✗'}"


def table(results: dict[str, dict[str, dict[str, float]]], people: dict[str, dict[str, float]] | None = None
          ) -> str:
    lines = ["| brief | arranger | " + " | ".join(c for c, _, _ in COLUMNS) + " |",
             "| --- | --- | " + " | ".join("---" for _ in COLUMNS) + " |"]
    for brief, by in results.items():
        for arranger, res in by.items():
            cells = [_cell(c, res.get(c, NAN), brief, res) for c, _, _ in COLUMNS]
            name = brief if arranger == "auto" else ""
            lines.append(f"| {name} | {'default' if arranger == 'auto' else 'patterns'} | " + " | ".join(cells) + " |")
    for name, res in (people or {}).items():
        cells = [_cell(c, res.get(c, NAN), "", res) for c, _, _ in COLUMNS]
        lines.append(f"| {name} | — | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


SECTION_TITLE = "## Arrangement: what an arranger checks"


def section(seeds: int = 2, data_dir: Path | None = None, say: Callable[[str], None] = print) -> str:
    """The Arrangement section of docs/EVAL.md."""
    from training.corpora import default_data_dir
    t0 = time.time()
    body = table(run(seeds, say=say), human(data_dir or default_data_dir(), say=say))
    return "\n".join([
        SECTION_TITLE, "",
        f"{len(BRIEFS)} briefs x {seeds} seeds, planned and arranged by the default arranger and by the patterns, "
        "read by `symbolic.style_measures` (means over seeds). ✓ meets the target, ✗ misses it; what each column "
        "reads and how the targets were chosen: `training/arrangement_eval.py`. Ranges and idioms are those of "
        "`symbolic/data/ranges.json`. The energy columns are judged for briefs that build or fade.", "",
        body.rstrip(), "", f"Wall time {time.time() - t0:.0f} s.", ""])


def main(argv: Sequence[str] | None = None) -> str:
    ap = argparse.ArgumentParser(prog="python -m training.arrangement_eval", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the markdown table here")
    ap.add_argument("--seeds", type=int, default=2, help="seeds per brief (default 2)")
    ap.add_argument("--data-dir", type=Path, default=None, help="the shared data folder (default ../shared/data)")
    args = ap.parse_args(argv)
    md = section(args.seeds, args.data_dir, say=lambda m: print(m, file=sys.stderr, flush=True))
    if args.out:
        args.out.write_text(md, encoding="utf-8")
    print(md)
    return md


if __name__ == "__main__":
    main()
