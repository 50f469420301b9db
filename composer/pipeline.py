"""The steps of the flow as plain functions: the CLI and the TUI both call these.

brief -> plan -> arrange -> export (MIDI, MusicXML) -> render (mix, stems)
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from audio.render import RenderCancelled, RenderResult
from symbolic.arrange import Arranger
from symbolic.arrange.finish import finish
from symbolic.arrange.patterns import PatternArranger
from symbolic.midi_io import midi_bytes, read_midi
from symbolic.score import Score

from . import project
from .llm import LLMError, LLMSettings, ask_for_plan, load_settings, messages_for_brief, messages_for_revision
from .plan import MAX_PLAN_CHARS, Plan, PlanError, load_plan
from .planner import plan_from_brief

__all__ = ["RenderCancelled", "Result", "make_plan", "arrange", "export", "render", "new_piece", "arrange_project",
           "read_plan", "load_project", "export_project", "revise_project", "regenerate_project", "undo_project",
           "redo_project", "save_edit",
           "LLMError"]

# progress(stage, fraction 0..1, message)
StepProgress = Callable[[str, float, str], None]  # (step, fraction 0..1, message)


def _quiet(stage: str, fraction: float, message: str) -> None:
    pass


@dataclass
class Result:
    folder: Path
    plan: Plan
    score: Score
    files: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def make_plan(brief: str, seed: int = 0, progress: StepProgress = _quiet, planner: str = "rules",
              llm: LLMSettings | None = None, fallback: bool = True, warn: Callable[[str], None] | None = None) -> Plan:
    """The plan for a brief, from the rules planner or an LLM (checked, repaired, or replaced by the
    rules planner with a warning when the LLM fails and fallback is on)."""
    progress("plan", 0.0, "reading the brief")
    if planner == "llm":
        plan = _llm_plan(brief, seed, progress, llm or load_settings(), fallback, warn or (lambda m: progress("plan", 0.5, m)))
    elif planner == "rules":
        plan = plan_from_brief(brief, seed)
    else:
        raise ValueError(f"unknown planner {planner!r}; choose rules or llm")
    progress("plan", 1.0, f"{len(plan.sections)} sections, {plan.total_bars} bars, {plan.duration_seconds():.0f} s")
    return plan


def _llm_plan(brief: str, seed: int, progress: StepProgress, settings: LLMSettings, fallback: bool,
              warn: Callable[[str], None]) -> Plan:
    from .brief import parse_brief
    parse_brief(brief)  # the same one-line errors for an empty or impossible brief
    try:
        if settings.path:
            from .llm_local import LocalPlanner
            return LocalPlanner(settings.path).plan(brief, lambda m: progress("plan", 0.3, m))
        if not settings.url:
            raise LLMError("no LLM configured: give --llm-url or --llm-path, or set COMPOSER_LLM_URL")
        result = ask_for_plan(messages_for_brief(brief), settings, progress=lambda m: progress("plan", 0.3, m))
        for w in result.warnings:
            warn(f"warning: {w}")
        return result.plan
    except LLMError as exc:
        if not fallback:
            raise
        warn(f"warning: {exc}; using the rules planner instead")
        return plan_from_brief(brief, seed)


def revise_project(folder: str | Path, instruction: str, planner: str = "rules", llm: LLMSettings | None = None,
                   seed: int = 0, fallback: bool = True, progress: StepProgress = _quiet,
                   warn: Callable[[str], None] | None = None,
                   locked: frozenset[str] = frozenset()) -> tuple[Plan, list[str], set[int]]:
    """Edit a project's plan, keep the previous one for undo, and re-arrange only what changed.
    Returns (new plan, diff lines, regenerated bar indices)."""
    with project.transaction(folder, "composer revise", what=instruction):
        return _revise(Path(folder), instruction, planner, llm, seed, fallback, progress,
                       warn or (lambda m: progress("revise", 0.5, m)), locked)


def _revise(folder: Path, instruction: str, planner: str, llm: LLMSettings | None, seed: int, fallback: bool,
            progress: StepProgress, warn: Callable[[str], None], locked: frozenset[str]) -> tuple[Plan, list[str], set[int]]:
    from .revise import diff_plans, rearrange, rules_revise
    old_plan, old_score = load_project(folder)
    if old_plan is None:
        raise project.ProjectError(f"{folder} has no {project.PLAN} to revise")
    progress("revise", 0.0, f"editing the plan: {instruction}")
    if planner == "llm":
        settings = llm or load_settings()
        try:
            if not settings.url:
                raise LLMError("no LLM server configured for revisions: give --llm-url or set COMPOSER_LLM_URL")
            result = ask_for_plan(messages_for_revision(old_plan, instruction), settings,
                                  progress=lambda m: progress("revise", 0.3, m))
            for w in result.warnings:
                warn(f"warning: {w}")
            new_plan = result.plan
        except LLMError as exc:
            if not fallback:
                raise
            warn(f"warning: {exc}; using the rules planner's edits instead")
            new_plan = rules_revise(old_plan, instruction)
    else:
        new_plan = rules_revise(old_plan, instruction)
    diff = diff_plans(old_plan, new_plan)
    if not diff:
        return new_plan, [], set()
    def arranger(plan: Plan, seed: int = 0, base: Score | None = None, bars: set[int] | None = None,
                 tracks: set[str] | None = None, **_) -> Score:
        return arrange(plan, seed, base=base, bars=bars, tracks=tracks, locked=locked)
    score, regen = rearrange(old_plan, old_score, new_plan, arranger, seed)
    export(new_plan, score, folder, progress=progress)
    _refresh_performed(folder, score, seed, progress, new_plan)
    progress("revise", 1.0, f"{len(diff)} changes, {len(regen)} bars re-arranged")
    return new_plan, diff, regen


def _section_bars(plan: Plan, section: str) -> set[int]:
    """The bars of a section given by its 1-based number, its name or its label; a name without its number
    ('chorus' for 'Chorus 1', 'Chorus 2') means every section of that name, so repeats stay alike."""
    sheet = plan.to_sheet()
    want = section.strip().lower()
    if want.isdigit() and 1 <= int(want) <= len(sheet.sections):
        return set(sheet.sections[int(want) - 1].bar_range)
    for match in (lambda sec: sec.name.lower() == want, lambda sec: sec.label.lower() == want,
                  lambda sec: re.sub(r"\s*\d+$", "", sec.name.lower()) == want):
        found = [sec for sec in sheet.sections if match(sec)]
        if found:
            return {b for sec in found for b in sec.bar_range}
    names = ", ".join(f"{i + 1} {s.name}" for i, s in enumerate(plan.sections))
    raise ValueError(f"no section {section!r} in this plan (sections: {names})")


def _bar_range(plan: Plan, text: str) -> set[int]:
    """'5-8' or '5' (1-based bars of the piece, inclusive) -> 0-based bar indices."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+))?\s*", text)
    if not m:
        raise ValueError(f"--bars wants a bar or a range like 5-8, not {text!r}")
    first, last = int(m.group(1)), int(m.group(2) or m.group(1))
    if not 1 <= first <= last <= plan.total_bars:
        raise ValueError(f"bars {text} are not inside the piece's {plan.total_bars} bars")
    return set(range(first - 1, last))


def regenerate_project(folder: str | Path, section: str | None = None, tracks: list[str] | None = None,
                       bars: str | None = None, locked: list[str] | None = None, seed: int | None = None,
                       arranger: str = "auto", sampling: dict | None = None,
                       progress: StepProgress = _quiet) -> tuple[Score, set[int], set[str]]:
    """New material for a section, a bar range and/or some tracks of a project, keeping the rest (and
    the locked tracks) as they are; the regenerated tracks listen to the kept ones. The previous
    piece.mid goes to history/ so `undo` brings it back. Returns (score, bars, tracks) regenerated."""
    check_sampling(sampling)
    what = "regenerate " + " ".join(x for x in (
        ", ".join(tracks or []), f"section {section}" if section else "", f"bars {bars}" if bars else "") if x)
    with project.transaction(folder, "composer regenerate", what=what if what != "regenerate " else "regenerate") as tx:
        return _regenerate(tx, Path(folder), section, tracks, bars, locked, seed, arranger, sampling, progress)


def _regenerate(tx: project.Transaction, folder: Path, section: str | None, tracks: list[str] | None,
                bars: str | None, locked: list[str] | None, seed: int | None, arranger: str, sampling: dict | None,
                progress: StepProgress) -> tuple[Score, set[int], set[str]]:
    plan, base = load_project(folder)
    if plan is None or base is None:
        raise project.ProjectError(f"{folder} needs both {project.PLAN} and {project.MIDI} to regenerate a part of it")
    names = {t.name.lower(): t.name for t in plan.tracks}
    roles = {t.name: t.role for t in plan.tracks}

    def track_names(given: list[str] | None, flag: str) -> set[str]:
        """Tracks by name, or every track of a role ('bass', 'melody', 'drums')."""
        out = set()
        for t in given or []:
            by_role = {n for n, r in roles.items() if r == t.lower().strip()}
            if t.lower() not in names and not by_role:
                raise ValueError(f"{flag}: no track or role {t!r} in this plan "
                                 f"(tracks: {', '.join(f'{n} ({r})' for n, r in roles.items())})")
            out |= {names[t.lower()]} if t.lower() in names else by_role
        return out
    want_tracks = track_names(tracks, "--track") or None
    keep = track_names(locked, "--lock") | {t.name for t in plan.tracks if t.lock}   # locked in the TUI too
    regen_bars: set[int] | None = None
    if section is not None:
        regen_bars = _section_bars(plan, section)
    if bars is not None:
        span = _bar_range(plan, bars)
        regen_bars = span if regen_bars is None else regen_bars & span
        if not regen_bars:
            raise ValueError(f"bars {bars} are not inside section {section!r}")
    chosen = set(want_tracks or names.values()) - keep
    if not chosen:
        raise ValueError("every track asked for is locked: nothing to regenerate")
    if seed is None:  # a new take each time, reproducible from the project's history
        seed = 1 + len(project.history(folder))
    apply_plan_meta(plan, base)
    score = arrange(plan, seed, arranger, base=base, bars=regen_bars, tracks=want_tracks, locked=frozenset(keep),
                    progress=progress, brief=plan.style, sampling=sampling)
    tx.snapshot()
    export(None, score, folder, progress=progress)
    _refresh_performed(folder, score, seed, progress, plan)
    return score, regen_bars if regen_bars is not None else set(range(plan.total_bars)), chosen


def undo_project(folder: str | Path, progress: StepProgress = _quiet) -> Plan:
    """Restore the previous plan.json and piece.mid exactly, and rewrite piece.musicxml (and the performed MIDI)
    to match; what was current goes to history/redo/ for redo_project."""
    return _step(Path(folder), False, progress)


def redo_project(folder: str | Path, progress: StepProgress = _quiet) -> Plan:
    """Bring back what the last undo took back (until another edit is made)."""
    return _step(Path(folder), True, progress)


def _step(folder: Path, redo: bool, progress: StepProgress) -> Plan:
    verb = "redo" if redo else "undo"
    with project.transaction(folder, f"composer {verb}") as tx:
        snaps = project.history(folder, redo=redo)
        if not snaps:
            raise project.ProjectError(f"nothing to {verb} in {folder}")
        last = snaps[-1]
        midi = project.history_entry(last)
        # Read and check the entry before anything is replaced: a corrupt one changes nothing and stays.
        try:
            plan_text = last.read_text(encoding="utf-8")
            plan = load_plan(plan_text)
            score = read_midi(midi) if midi.is_file() else None
        except (OSError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise project.ProjectError(f"cannot {verb}: {last} is not a usable plan ({reason}); nothing was "
                                       f"changed (delete it to {verb} past it)") from None
        tx.snapshot(redo=not redo, forget_redo=False, what=project.history_what(last))  # redo names it too
        tx.write(project.PLAN, plan_text)
        if score is not None:
            tx.write(project.MIDI, midi.read_bytes())
        tx.drop(last)
        if score is None:
            score = read_midi(folder / project.MIDI) if (folder / project.MIDI).exists() else None
        if score is not None:
            apply_plan_meta(plan, score)
            tx.write(project.MUSICXML, musicxml_bytes(plan, score, lambda f, m: progress("export", f, m)))
            _refresh_performed(folder, score, 0, progress, plan)
    return plan


def save_edit(folder: str | Path, plan: Plan, score: Score | None, seed: int = 0, progress: StepProgress = _quiet,
              command: str = "composer tui", what: str = "") -> list[Path]:
    """One edit of a project, as one unit: the previous plan and MIDI go to history/ (undo brings them back,
    and says `what` it took back), and plan.json, piece.mid, piece.musicxml and the performed MIDI are all
    rewritten to match."""
    folder = Path(folder)
    with project.transaction(folder, command, what=what) as tx:
        tx.snapshot()
        if score is None:
            return [tx.write(project.PLAN, plan.to_json())]
        files = export(plan, score, folder, progress=progress)
        _refresh_performed(folder, score, seed, progress, plan)
    return files


ARRANGERS = ("auto", "transformer", "patterns")


def model_dir() -> Path:
    """Where the transformer's weights are: $COMPOSER_MODEL_DIR, else the ones shipped in the package."""
    import os

    from symbolic.arrange.transformer import WEIGHTS_DIR
    return Path(os.environ.get("COMPOSER_MODEL_DIR") or WEIGHTS_DIR)


_ARRANGER_CACHE: dict[str, object] = {}


def check_sampling(sampling: dict | None) -> dict:
    """The user's sampling options (temperature 0-2, top_p in (0, 1], n_candidates 1-8), checked by the
    transformer's GenerationConfig; None values are dropped."""
    from symbolic.arrange.generation import GenerationConfig
    opts = {k: v for k, v in (sampling or {}).items() if v is not None}
    GenerationConfig().sampling(**opts)
    return opts


def default_arranger() -> str:
    """What "auto" means: $COMPOSER_ARRANGER when set (auto, transformer or patterns), else auto."""
    import os

    choice = os.environ.get("COMPOSER_ARRANGER", "").strip().lower() or "auto"
    if choice not in ARRANGERS:
        raise ValueError(f"COMPOSER_ARRANGER={choice!r} is not an arranger; choose from {', '.join(ARRANGERS)}")
    return choice


def transformer_arranger():
    """The transformer arranger, loaded once per process; None when no trained weights are installed."""
    from symbolic.arrange.transformer import GenerationError, TransformerArranger
    folder = model_dir()
    if str(folder) not in _ARRANGER_CACHE:
        try:
            _ARRANGER_CACHE[str(folder)] = TransformerArranger.load(folder)
        except GenerationError:
            _ARRANGER_CACHE[str(folder)] = None
    return _ARRANGER_CACHE[str(folder)]


def arrange(plan: Plan, seed: int = 0, arranger: str = "auto", base: Score | None = None,
            bars: set[int] | None = None, tracks: set[str] | None = None, locked: set[str] | frozenset = frozenset(),
            progress: StepProgress = _quiet, brief: str = "", sampling: dict | None = None) -> Score:
    """Fill the plan's tracks. auto: the style's rhythm section (drums, bass, comping) from the patterns and
    the lines from the transformer when its weights are installed, else all from the patterns; then what every
    arrangement goes through (symbolic.arrange.finish). `sampling` sets the transformer's temperature,
    top_p and candidates per cell (the patterns ignore it)."""
    if arranger == "auto":
        arranger = default_arranger()
    if arranger not in ARRANGERS:
        raise ValueError(f"unknown arranger {arranger!r}; choose from {', '.join(ARRANGERS)}")
    sheet = plan.to_sheet()
    model = transformer_arranger() if arranger in ("auto", "transformer") else None
    if arranger == "transformer" and model is None:
        raise ValueError(f"no trained transformer weights in {model_dir()}; use --arranger patterns")
    chosen: Arranger = PatternArranger()
    if model is not None:
        from symbolic.arrange.ensemble import EnsembleArranger
        chosen = model if arranger == "transformer" else EnsembleArranger(model)
    label = {"transformer": "transformer arranger", "auto": "the style's patterns with the transformer arranger"}
    progress("arrange", 0.0, f"{label[arranger]} ({model_dir()})" if model is not None else "pattern arranger")
    opts = check_sampling(sampling) if model is not None else {}  # the patterns do not sample
    score = chosen.arrange(sheet, seed=seed, base=base, bars=bars, tracks=tracks, locked=locked,
                           brief=brief or plan.style, progress=lambda f, m: progress("arrange", f, m), **opts)
    finish(score, sheet, bars, ({p.name for p in sheet.parts} if tracks is None else set(tracks)) - set(locked))
    apply_mix(plan, score)
    score.validate()
    return score


def musicxml_bytes(plan: Plan | None, score: Score, progress=None) -> bytes:
    """The score's MusicXML with the plan's tempo words and feel over the first bar ("Medium swing", "Swing")."""
    from symbolic.grid import compound_meter
    from symbolic.musicxml import to_musicxml

    from .plan import parse_meter
    if plan is None:
        return to_musicxml(score, progress)
    idiom = plan.style_idiom()
    beat = plan.tempo / 1.5 if compound_meter(*parse_meter(plan.meter)) else plan.tempo
    return to_musicxml(score, progress, feel=idiom.feel_words, tempo_words=idiom.tempo_words(beat))


PDF = "piece.pdf"
PARTS = "parts"


def engrave_pdfs(plan: Plan | None, score: Score, xml: bytes, parts: bool = False,
                 progress: StepProgress = _quiet) -> tuple[bytes, dict[str, bytes]]:
    """The score as a PDF, and with parts one PDF per part (file name -> bytes), engraved by MuseScore."""
    import dataclasses
    import tempfile

    from symbolic import engrave
    from symbolic.musicxml import player_groups
    if engrave.find() is None:
        raise engrave.EngraveError(f"--pdf needs MuseScore: {engrave.HOW}")
    with tempfile.TemporaryDirectory(prefix="composer-pdf-") as tmp:
        def pdf(name: str, data: bytes) -> bytes:
            src, out = Path(tmp) / f"{name}.musicxml", Path(tmp) / f"{name}.pdf"
            src.write_bytes(data)
            engrave.convert(src, out)
            return out.read_bytes()
        progress("export", 0.0, "engraving the score")
        score_pdf = pdf("piece", xml)
        out: dict[str, bytes] = {}
        if parts:
            groups = player_groups(score.parts)
            for i, group in enumerate(groups):
                progress("export", (i + 1) / (len(groups) + 1), f"engraving the {group[0].name} part")
                name = re.sub(r"[^\w.-]+", "-", group[0].name).strip("-.") or f"part-{i + 1}"
                out[f"{i + 1:02d}-{name}.pdf"] = pdf(f"part{i}", musicxml_bytes(
                    plan, dataclasses.replace(score, parts=group)))
    return score_pdf, out


def export(plan: Plan | None, score: Score, folder: str | Path, musicxml: bool = True,
           progress: StepProgress = _quiet, pdf: bool = False, parts: bool = False) -> list[Path]:
    """Write plan.json (when given), piece.mid and piece.musicxml, each atomically; with pdf, piece.pdf
    (and with parts, parts/NN-<part>.pdf) engraved by MuseScore, in the same commit."""

    folder = Path(folder)
    progress("export", 0.0, "MIDI")
    mid = midi_bytes(score)
    xml = None
    if musicxml or pdf:
        xml = musicxml_bytes(plan, score, lambda f, m: progress("export", 0.1 + 0.85 * f, m))
    pdfs = engrave_pdfs(plan, score, xml, parts, progress) if pdf and xml is not None else None
    files = []
    with project.transaction(folder, "composer export") as tx:
        if plan is not None:
            text = plan.to_json()
            current = folder / project.PLAN
            if current.is_file() and not tx.staged(current) and current.read_text(encoding="utf-8") != text:
                tx.snapshot()  # the previous plan (and its MIDI) stays for undo
            files.append(tx.write(project.PLAN, text))
        files.append(tx.write(project.MIDI, mid))
        if xml is not None and musicxml:
            files.append(tx.write(project.MUSICXML, xml))
        if pdfs is not None:
            files.append(tx.write(PDF, pdfs[0]))
            if pdfs[1]:
                folder_parts = tx.target_dir(PARTS)
                for name, data in pdfs[1].items():
                    (folder_parts / name).write_bytes(data)
                files.append(folder / PARTS)
    progress("export", 1.0, ", ".join(p.name for p in files))
    return files


RENDERERS = ("fluidsynth", "diffusion")


def follows_line(adherence: dict) -> str:
    """One line on how a render follows the MIDI (a diffusion render's RenderResult.adherence), '' when unmeasured."""
    if not adherence:
        return ""
    return ("follows the MIDI: chroma cosine {chroma_cosine:.2f}, onset F1 {onset_f1:.2f} "
            "(its SoundFont start: {start_chroma_cosine:.2f}, {start_onset_f1:.2f})").format(**adherence)


def render(score: Score, mix_path: str | Path, stems_dir: str | Path | None = None, soundfont: str | None = None,
           fmt: str | None = None, progress: StepProgress = _quiet, cancel: threading.Event | None = None,
           *, renderer: str = "fluidsynth", diffusion: dict | None = None, plan: Plan | None = None,
           warn: Callable[[str], None] | None = None, humanize: float = 0.0, humanize_seed: int = 0,
           performed_midi: str | Path | None = None):
    """Render a Score to mix_path (and stems). renderer="diffusion" takes its options in `diffusion`
    (model, strength, guidance, steps, seed, per_stem, device, ...; see audio.diffusion.render_diffusion)
    and uses `plan` for per-section prompts. humanize > 0 renders the expressive performance of the score
    (symbolic.perform) instead of the quantized notes, and writes its MIDI to `performed_midi` when given."""
    from audio.render import render_score

    if renderer not in RENDERERS:
        raise ValueError(f"unknown renderer {renderer!r}; choose from {', '.join(RENDERERS)}")
    if renderer == "diffusion" and stems_dir is not None and not (diffusion or {}).get("per_stem"):
        raise ValueError("stems from the diffusion renderer need per-stem rendering (--per-stem)")
    mix_path = Path(mix_path)
    with project.transaction(mix_path.parent, "composer render") as tx:
        # --- expressive performance (symbolic.perform) ---
        if humanize > 0 or swung(plan):
            score = perform_score(score, humanize, humanize_seed, performed_midi, progress, plan)
        # The renderers write into the staging folder; the files are swapped in when all of them are done.
        mix_at = tx.target(mix_path)
        stems_at = tx.target_dir(stems_dir) if stems_dir is not None else None
        res: RenderResult
        # --- diffusion renderer (audio.diffusion) ---
        if renderer == "diffusion":
            from audio.diffusion import DiffusionSettings, render_diffusion
            opts = dict(diffusion or {})
            model = opts.pop("model", None)
            res = render_diffusion(score, model, mix_at, DiffusionSettings(**opts), stems_dir=stems_at, fmt=fmt,
                                   soundfont=soundfont, plan=plan, progress=lambda f, m: progress("render", f, m),
                                   cancel=cancel, warn=warn)
        else:
            res = render_score(score, soundfont=soundfont, mix_path=mix_at, stems_dir=stems_at, fmt=fmt,
                               progress=lambda f, m: progress("render", f, m), cancel=cancel)
    # Report the files where they are now.
    res.files = [mix_path if f == mix_at
                 else Path(stems_dir) / f.name if stems_dir is not None and f.parent == stems_at else f
                 for f in res.files]
    return res


# --- expressive performance (symbolic.perform) ---

PERFORMED_MIDI = project.PERFORMED


def swung(plan: Plan | None) -> bool:
    return plan is not None and plan.style_idiom().swung


def perform_score(score: Score, amount: float = 1.0, seed: int = 0, midi_path: str | Path | None = None,
                  progress: StepProgress = _quiet, plan: Plan | None = None) -> Score:
    """The performed version of a quantized score in the plan's style and feel (its swing ratio); its MIDI
    is written to midi_path when given."""
    from symbolic.perform import perform
    progress("perform", 0.0, f"performing {score.n_notes} notes (humanize {amount:g})")
    ratio = plan.style_idiom().swing if plan is not None and swung(plan) else 1.0
    performed = perform(score, seed=seed, amount=amount, style=plan.style if plan else "", swing=ratio)
    if midi_path is not None:
        with project.transaction(Path(midi_path).parent, "composer render") as tx:
            tx.write(midi_path, midi_bytes(performed))
    progress("perform", 1.0, "performed")
    return performed


def _refresh_performed(folder: Path, score: Score, seed: int, progress: StepProgress = _quiet,
                       plan: Plan | None = None) -> None:
    """Keep a project's performed MIDI in step with its piece.mid after a revision or an undo (a swung plan
    always has one: the swing is in the performance)."""
    if (Path(folder) / PERFORMED_MIDI).exists() or swung(plan):
        perform_score(score, 1.0, seed, Path(folder) / PERFORMED_MIDI, progress, plan)


def new_piece(brief: str, folder: str | Path, seed: int = 0, audio: bool = True, soundfont: str | None = None,
              arranger: str = "auto", fmt: str | None = None, progress: StepProgress = _quiet,
              cancel: threading.Event | None = None, planner: str = "rules", llm: LLMSettings | None = None,
              fallback: bool = True, warn: Callable[[str], None] | None = None, humanize: float = 1.0,
              sampling: dict | None = None) -> Result:
    check_sampling(sampling)  # before any work
    with project.transaction(folder, "composer new"):
        return _new_piece(brief, Path(folder), seed, audio, soundfont, arranger, fmt, progress, cancel, planner, llm,
                          fallback, warn, humanize, sampling)


def _new_piece(brief: str, folder: Path, seed: int, audio: bool, soundfont: str | None, arranger: str,
               fmt: str | None, progress: StepProgress, cancel: threading.Event | None, planner: str,
               llm: LLMSettings | None, fallback: bool, warn: Callable[[str], None] | None, humanize: float,
               sampling: dict | None) -> Result:
    if audio:
        # Fail before any work when no SoundFont can be found.
        from audio.soundfont import find_soundfont
        find_soundfont(soundfont)
    timings = {}
    t = time.perf_counter()
    plan = make_plan(brief, seed, progress, planner=planner, llm=llm, fallback=fallback, warn=warn)
    timings["plan"] = time.perf_counter() - t
    t = time.perf_counter()
    score = arrange(plan, seed, arranger, progress=progress, brief=brief, sampling=sampling)
    timings["arrange"] = time.perf_counter() - t
    t = time.perf_counter()
    files = export(plan, score, folder, progress=progress)
    timings["export"] = time.perf_counter() - t
    performs = humanize > 0 or swung(plan)
    if performs:  # the performed MIDI beside the quantized one
        t = time.perf_counter()
        performed = perform_score(score, humanize, seed, folder / PERFORMED_MIDI, progress, plan)
        files.append(folder / PERFORMED_MIDI)
        timings["perform"] = time.perf_counter() - t
    if audio:
        t = time.perf_counter()
        res = render(performed if performs else score,
                     folder / (project.MIX if fmt in (None, "wav") else f"mix.{fmt}"),
                     folder / project.STEMS, soundfont, fmt, progress, cancel)
        files += res.files
        timings["render"] = time.perf_counter() - t
    return Result(folder, plan, score, files, timings)


def arrange_project(plan_path: str | Path, folder: str | Path, seed: int = 0, arranger: str = "auto",
                    progress: StepProgress = _quiet, sampling: dict | None = None) -> Result:
    check_sampling(sampling)
    plan = read_plan(plan_path)
    with project.transaction(folder, "composer arrange"):
        score = arrange(plan, seed, arranger, progress=progress, sampling=sampling)
        files = export(plan, score, folder, progress=progress)
    return Result(Path(folder), plan, score, files)


def read_plan(path: str | Path) -> Plan:
    path = Path(path)
    if path.is_dir():
        path = path / project.PLAN
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_PLAN_CHARS + 1)  # load_plan refuses anything longer: read no more than that
    except OSError as exc:
        raise project.ProjectError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_PLAN_CHARS:
        raise project.ProjectError(f"{path} is {path.stat().st_size / 2**20:.1f} MB; a plan is at most "
                                   f"{MAX_PLAN_CHARS / 2**20:.1f} MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise project.ProjectError(f"{path} is not UTF-8 text") from None
    return load_plan(text)


def load_project(folder: str | Path) -> tuple[Plan | None, Score | None]:
    folder = Path(folder)
    plan = read_plan(folder) if (folder / project.PLAN).exists() else None
    score = read_midi(folder / project.MIDI) if (folder / project.MIDI).exists() else None
    return plan, score


def export_project(folder: str | Path, progress: StepProgress = _quiet, pdf: bool = False,
                   parts: bool = False) -> list[Path]:
    """Re-export a project folder: from plan.json + piece.mid, or arrange the plan when there is no MIDI yet;
    with pdf, also the engraved score (and parts)."""
    with project.transaction(folder, "composer export"):
        return _export_project(Path(folder), progress, pdf, parts)


def _export_project(folder: Path, progress: StepProgress, pdf: bool = False, parts: bool = False) -> list[Path]:
    plan, score = load_project(folder)
    if plan is None and score is None:
        raise project.ProjectError(f"{folder} has neither {project.PLAN} nor {project.MIDI}")
    if score is None:
        assert plan is not None  # checked above: one of the two exists
        score = arrange(plan, progress=progress)
    elif plan is not None:
        apply_plan_meta(plan, score)
    return export(plan, score, folder, progress=progress, pdf=pdf, parts=parts)


def import_piece(path: str | Path, folder: str | Path, progress: StepProgress = _quiet,
                 command: str = "composer import", warn: Callable[[str], None] | None = None
                 ) -> tuple[Score, list[Path]]:
    """A user's MIDI or MusicXML file as the project's piece, with a plan read from its notes (key, meter,
    tempo, sections, chords, tracks and roles) so that it can be revised, regenerated and edited like a
    composed one; as one change: a piece already there goes to history/ (undo brings it back). Where no plan
    can hold the piece (a meter a plan cannot have), the notes come in alone and `warn` says why."""
    from pydantic import ValidationError

    from symbolic.importer import read_piece

    from .analysis import plan_from_score
    score = read_piece(path)
    folder = Path(folder)
    plan: Plan | None
    try:
        plan = plan_from_score(score)
    except (PlanError, ValidationError) as exc:
        plan = None
        why = exc.errors()[0]["msg"].removeprefix("Value error, ") if isinstance(exc, ValidationError) else str(exc)
        (warn or (lambda _m: None))(f"imported the notes without a plan: {why}")
    if plan is not None:
        for part, track in zip(score.parts, plan.tracks):
            part.name = track.name   # the plan's names, made unique
        apply_plan_meta(plan, score)
    with project.transaction(folder, command, what=f"import {Path(path).name}") as tx:
        if (folder / project.PLAN).exists() or (folder / project.MIDI).exists():
            tx.snapshot()
        if plan is None and (folder / project.PLAN).exists():
            tx.remove(project.PLAN)
        if (folder / PERFORMED_MIDI).exists():
            tx.remove(PERFORMED_MIDI)
        files = export(plan, score, folder, progress=progress)
    return score, files


def apply_mix(plan: Plan, score: Score) -> None:
    """The plan's mixer onto the score's parts: level, pan and reverb send (MIDI CC7, CC10 and CC91 in
    piece.mid, heard in every render)."""
    mix = {t.name: (t.volume, t.pan_cc, t.reverb_cc) for t in plan.tracks}
    for part in score.parts:
        if part.name in mix:
            part.volume, part.pan, part.reverb = mix[part.name]


def apply_plan_meta(plan: Plan, score: Score) -> None:
    """Bring back what MIDI cannot carry (roles, section names, chord symbols) from the plan onto an imported score."""
    sheet = plan.to_sheet()
    roles = {p.name: p.role for p in sheet.parts}
    for part in score.parts:
        part.role = roles.get(part.name, part.role)
    if len(sheet.bars) == len(score.bars) or not score.bars:
        score.bars = [b.bar for b in sheet.bars]
        score.chords = sheet.chord_changes()
    score.title = plan.title
    apply_mix(plan, score)
