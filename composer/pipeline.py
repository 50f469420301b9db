"""The steps of the flow as plain functions: the CLI and the TUI both call these.

brief -> plan -> arrange -> export (MIDI, MusicXML) -> render (mix, stems)
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from audio.render import RenderCancelled
from symbolic.midi_io import midi_bytes, read_midi
from symbolic.patterns import arrange as pattern_arrange
from symbolic.score import Score

from . import project
from .plan import Plan, load_plan
from .planner import plan_from_brief

__all__ = ["RenderCancelled", "Result", "make_plan", "arrange", "export", "render", "new_piece", "arrange_project",
           "read_plan", "load_project", "export_project"]

# progress(stage, fraction 0..1, message)
Progress = Callable[[str, float, str], None]


def _quiet(stage: str, fraction: float, message: str) -> None:
    pass


@dataclass
class Result:
    folder: Path
    plan: Plan
    score: Score
    files: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def make_plan(brief: str, seed: int = 0, progress: Progress = _quiet) -> Plan:
    progress("plan", 0.0, "reading the brief")
    plan = plan_from_brief(brief, seed)
    progress("plan", 1.0, f"{len(plan.sections)} sections, {plan.total_bars} bars, {plan.duration_seconds():.0f} s")
    return plan


ARRANGERS = ("patterns",)


def arrange(plan: Plan, seed: int = 0, arranger: str = "patterns", base: Score | None = None,
            bars: set[int] | None = None, tracks: set[str] | None = None, locked: set[str] | frozenset = frozenset(),
            progress: Progress = _quiet) -> Score:
    if arranger not in ARRANGERS:
        raise ValueError(f"unknown arranger {arranger!r}; choose from {', '.join(ARRANGERS)}")
    sheet = plan.to_sheet()
    score = pattern_arrange(sheet, seed=seed, base=base, bars=bars, tracks=tracks, locked=locked,
                            progress=lambda f, m: progress("arrange", f, m))
    score.validate()
    return score


def export(plan: Plan | None, score: Score, folder: str | Path, musicxml: bool = True,
           progress: Progress = _quiet) -> list[Path]:
    """Write plan.json (when given), piece.mid and piece.musicxml, each atomically."""
    from symbolic.musicxml import to_musicxml

    folder = project.ensure_dir(folder)
    progress("export", 0.0, "MIDI")
    mid = midi_bytes(score)
    xml = None
    if musicxml:
        xml = to_musicxml(score, progress=lambda f, m: progress("export", 0.1 + 0.85 * f, m))
    # Everything is built in memory first; files are replaced only once all of it succeeded.
    files = []
    if plan is not None:
        files.append(project.save_plan(folder, plan.to_json()))
    files.append(project.atomic_write(folder / project.MIDI, mid))
    if xml is not None:
        files.append(project.atomic_write(folder / project.MUSICXML, xml))
    progress("export", 1.0, ", ".join(p.name for p in files))
    return files


def render(score: Score, mix_path: str | Path, stems_dir: str | Path | None = None, soundfont: str | None = None,
           fmt: str | None = None, progress: Progress = _quiet, cancel: threading.Event | None = None):
    from audio.render import render_score

    mix_path = Path(mix_path)
    project.ensure_dir(mix_path.parent)
    if stems_dir is not None:
        project.ensure_dir(stems_dir)
    return render_score(score, soundfont=soundfont, mix_path=mix_path,
                        stems_dir=Path(stems_dir) if stems_dir is not None else None, fmt=fmt,
                        progress=lambda f, m: progress("render", f, m), cancel=cancel)


def new_piece(brief: str, folder: str | Path, seed: int = 0, audio: bool = True, soundfont: str | None = None,
              arranger: str = "patterns", fmt: str | None = None, progress: Progress = _quiet,
              cancel: threading.Event | None = None) -> Result:
    folder = project.ensure_dir(folder)
    if audio:
        # Fail before any work when no SoundFont can be found.
        from audio.soundfont import find_soundfont
        find_soundfont(soundfont)
    timings = {}
    t = time.perf_counter()
    plan = make_plan(brief, seed, progress)
    timings["plan"] = time.perf_counter() - t
    t = time.perf_counter()
    score = arrange(plan, seed, arranger, progress=progress)
    timings["arrange"] = time.perf_counter() - t
    t = time.perf_counter()
    files = export(plan, score, folder, progress=progress)
    timings["export"] = time.perf_counter() - t
    if audio:
        t = time.perf_counter()
        res = render(score, folder / (project.MIX if fmt in (None, "wav") else f"mix.{fmt}"),
                     folder / project.STEMS, soundfont, fmt, progress, cancel)
        files += res.files
        timings["render"] = time.perf_counter() - t
    return Result(folder, plan, score, files, timings)


def arrange_project(plan_path: str | Path, folder: str | Path, seed: int = 0, arranger: str = "patterns",
                    progress: Progress = _quiet) -> Result:
    plan = read_plan(plan_path)
    folder = project.ensure_dir(folder)
    score = arrange(plan, seed, arranger, progress=progress)
    files = export(plan, score, folder, progress=progress)
    return Result(folder, plan, score, files)


def read_plan(path: str | Path) -> Plan:
    path = Path(path)
    if path.is_dir():
        path = path / project.PLAN
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise project.ProjectError(f"cannot read {path}: {exc.strerror or exc}") from None
    return load_plan(text)


def load_project(folder: str | Path) -> tuple[Plan | None, Score | None]:
    folder = Path(folder)
    plan = read_plan(folder) if (folder / project.PLAN).exists() else None
    score = read_midi(folder / project.MIDI) if (folder / project.MIDI).exists() else None
    return plan, score


def export_project(folder: str | Path, progress: Progress = _quiet) -> list[Path]:
    """Re-export a project folder: from plan.json + piece.mid, or arrange the plan when there is no MIDI yet."""
    plan, score = load_project(folder)
    if plan is None and score is None:
        raise project.ProjectError(f"{folder} has neither {project.PLAN} nor {project.MIDI}")
    if score is None:
        score = arrange(plan, progress=progress)
    elif plan is not None:
        _apply_plan_meta(plan, score)
    return export(plan, score, folder, progress=progress)


def _apply_plan_meta(plan: Plan, score: Score) -> None:
    """Bring back what MIDI cannot carry (roles, section names) from the plan onto an imported score."""
    sheet = plan.to_sheet()
    roles = {p.name: p.role for p in sheet.parts}
    for part in score.parts:
        part.role = roles.get(part.name, part.role)
    if len(sheet.bars) == len(score.bars) or not score.bars:
        score.bars = [b.bar for b in sheet.bars]
    score.title = plan.title
