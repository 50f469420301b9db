"""`composer`: every step of the flow as a command. Errors are one line and a non-zero exit."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from itertools import groupby
from pathlib import Path

from . import project

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class CliProgress:
    """Prints a line when a step starts, at most one a second while it runs, and when it ends."""

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream if stream is not None else sys.stderr  # the stderr of now, not of import time
        self.quiet = quiet
        self.stage: str | None
        self.stage, self.started, self.last = None, 0.0, 0.0

    def __call__(self, stage: str, fraction: float, message: str) -> None:
        if self.quiet:
            return
        now = time.perf_counter()
        if stage != self.stage:
            self.stage, self.started, self.last = stage, now, now
            print(f"[{stage}] {message}", file=self.stream, flush=True)
            return
        if fraction >= 1.0:
            print(f"[{stage}] done in {now - self.started:.1f}s: {message}", file=self.stream, flush=True)
            self.last = now
        elif now - self.last >= 1.0:
            print(f"[{stage}] {fraction * 100:3.0f}% {message}", file=self.stream, flush=True)
            self.last = now


def _user_errors() -> tuple[type[BaseException], ...]:
    from pydantic import ValidationError

    from audio.render import RenderError
    from audio.soundfont import SoundFontError
    from symbolic.engrave import EngraveError
    from symbolic.harmony import HarmonyError
    from symbolic.score import ScoreError

    from .brief import BriefError
    from .llm import LLMError
    from .plan import PlanError
    from .project import ProjectError
    from .revise import EditError
    return (BriefError, PlanError, ScoreError, HarmonyError, SoundFontError, RenderError, ProjectError,
            LLMError, EditError, EngraveError, ValidationError, OSError, ValueError)


def _warn(message: str) -> None:
    print(f"composer: {message}", file=sys.stderr, flush=True)


def _llm_settings(args):
    if getattr(args, "planner", "rules") != "llm":
        return None
    from .llm import load_settings
    return load_settings(url=args.llm_url, model=args.llm_model, path=args.llm_path, backend=args.llm_backend,
                         timeout=args.llm_timeout, retries=args.llm_retries)


def _sampling(args) -> dict:
    return {"temperature": args.temperature, "top_p": args.top_p, "n_candidates": args.candidates}


def _sampling_options(sp) -> None:
    g = sp.add_argument_group("transformer sampling")
    g.add_argument("--temperature", type=float, help="sampling temperature, 0-2 (0: greedy; default 1.0, pitches 1.1)")
    g.add_argument("--top-p", type=float, help="nucleus sampling mass, (0, 1] (default 1: no cut)")
    g.add_argument("--candidates", type=int, help="candidates written per section and track, the best kept (1-8, default 2)")


def _cmd_new(args) -> int:
    from .pipeline import new_piece
    res = new_piece(args.brief, args.out, seed=args.seed, audio=not args.no_audio, soundfont=args.soundfont,
                    arranger=args.arranger, fmt=args.format, progress=CliProgress(quiet=args.quiet),
                    planner=args.planner, llm=_llm_settings(args), fallback=not args.no_fallback, warn=_warn,
                    humanize=_humanize(args), sampling=_sampling(args))
    plan = res.plan
    print(f"{plan.title}: {plan.key}, {plan.meter}, {plan.tempo:g} BPM, {len(plan.sections)} sections, "
          f"{plan.total_bars} bars, {res.score.duration:.0f} s, {len(plan.tracks)} tracks")
    print(plan.reading())
    for f in res.files:
        print(f"  wrote {f}")
    return 0


def _cmd_plan(args) -> int:
    from . import project
    from .pipeline import make_plan
    plan = make_plan(args.brief, args.seed, CliProgress(quiet=args.quiet), planner=args.planner,
                     llm=_llm_settings(args), fallback=not args.no_fallback, warn=_warn)
    text = plan.to_json()
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        out = Path(args.output)
        project.ensure_dir(out.parent if str(out.parent) else Path("."))
        project.atomic_write(out, text)
        print(f"wrote {out}")
    return 0


def _cmd_arrange(args) -> int:
    from .pipeline import arrange_project
    res = arrange_project(args.plan, args.out, seed=args.seed, arranger=args.arranger,
                          progress=CliProgress(quiet=args.quiet), sampling=_sampling(args))
    for f in res.files:
        print(f"wrote {f}")
    return 0


def _cmd_render(args) -> int:
    from symbolic.midi_io import read_midi

    from .pipeline import follows_line, render
    progress = CliProgress(quiet=args.quiet)
    score = read_midi(args.midi)
    out = Path(args.output) if args.output else Path(args.midi).with_name("mix.wav")
    human = _humanize(args)
    performed = _performed_path(args.midi, out) if human > 0 else None
    if args.renderer == "diffusion":
        res = render(score, out, args.stems, args.soundfont, args.format, progress, renderer="diffusion",
                     diffusion=_diffusion_options(args), plan=_plan_beside(args.midi), warn=_warn,
                     humanize=human, humanize_seed=args.seed, performed_midi=performed)
    else:
        res = render(score, out, args.stems, args.soundfont, args.format, progress, humanize=human,
                     humanize_seed=args.seed, performed_midi=performed, plan=_plan_beside(args.midi))
    if performed is not None:
        print(f"wrote {performed}")
    print(f"rendered {score.duration:.1f} s of music in {res.seconds:.2f} s; peak {res.peak_dbfs:.2f} dBFS")
    if res.adherence:  # the diffusion renderer measures how its output follows the MIDI
        print(follows_line(res.adherence))
    for f in res.files:
        print(f"wrote {f}")
    return 0


# --- expressive performance options (--humanize, --no-humanize) ---

def _humanize(args) -> float:
    if getattr(args, "no_humanize", False):
        return 0.0
    amount = getattr(args, "humanize", 1.0)
    if not (0.0 <= amount <= 1.0):
        raise ValueError(f"--humanize must be between 0 and 1, not {amount:g}")
    return amount


def _performed_path(midi: str, mix: Path) -> Path | None:
    """piece.performed.mid beside piece.mid, or beside the mix when the MIDI's folder is not writable
    (None when the input is itself a performed file)."""
    import os
    path = Path(midi)
    if path.name.endswith(".performed.mid"):
        return None
    folder = path.parent if os.access(path.parent, os.W_OK) else mix.parent
    return folder / (path.stem + ".performed.mid")


def _humanize_options(sp) -> None:
    g = sp.add_argument_group("expressive performance")
    g.add_argument("--humanize", type=float, default=1.0, metavar="0..1",
                   help="how much of the performance model's timing, velocity and articulation to apply (default 1.0)")
    g.add_argument("--no-humanize", action="store_true", help="render the quantized notes as written")


# --- diffusion rendering options (composer render --renderer diffusion) ---

def _diffusion_options(args) -> dict:
    if not args.model:
        raise ValueError("--renderer diffusion needs --model (a diffusers pipeline folder, or a hub id with a network)")
    return {"model": args.model, "strength": args.strength, "guidance": args.guidance, "steps": args.steps,
            "seed": args.seed, "per_stem": args.per_stem, "device": args.device}


def _plan_beside(midi: str):
    """plan.json next to the MIDI file (a project folder), for per-section prompts; None if absent or invalid."""
    path = Path(midi).with_name("plan.json")
    if not path.is_file():
        return None
    from .pipeline import read_plan
    try:
        return read_plan(path)
    except Exception as exc:  # noqa: BLE001 - the prompts then come from the MIDI alone
        _warn(f"warning: ignoring {path} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
        return None


def _cmd_export(args) -> int:
    from .pipeline import export_project
    if args.parts and not args.pdf:
        raise ValueError("--parts goes with --pdf (one PDF per part beside the score)")
    for f in export_project(args.folder, progress=CliProgress(quiet=args.quiet), pdf=args.pdf, parts=args.parts):
        print(f"wrote {f}")
    return 0


def _cmd_import(args) -> int:
    from .pipeline import import_piece
    score, files = import_piece(args.midi, args.out, progress=CliProgress(quiet=args.quiet), warn=_warn)
    print(f"imported {len(score.parts)} tracks, {score.n_notes} notes, {len(score.bars)} bars")
    for f in files:
        print(f"wrote {f}")
    return 0


def _cmd_revise(args) -> int:
    from .pipeline import revise_project
    plan, diff, regen = revise_project(args.folder, args.instruction, planner=args.planner, llm=_llm_settings(args),
                                       seed=args.seed, fallback=not args.no_fallback,
                                       progress=CliProgress(quiet=args.quiet), warn=_warn)
    if not diff:
        print("the plan is unchanged")
        return 0
    for line in diff:
        print(line)
    print(f"re-arranged {len(regen)} of {plan.total_bars} bars; `composer undo {args.folder}` restores the previous plan")
    return 0


def _cmd_regenerate(args) -> int:
    from .pipeline import regenerate_project
    score, bars, tracks = regenerate_project(args.folder, section=args.section, tracks=args.track, bars=args.bars,
                                             locked=args.lock, seed=args.seed, arranger=args.arranger,
                                             sampling=_sampling(args), progress=CliProgress(quiet=args.quiet))
    # Contiguous runs, 1-based: "bars 21-32, 45-56" (a run is where bar - its rank stays the same).
    runs = [[b for _, b in g] for _, g in groupby(enumerate(sorted(bars)), key=lambda x: x[1] - x[0])]
    span = ("bar " if len(bars) == 1 else "bars ") + ", ".join(
        f"{r[0] + 1}-{r[-1] + 1}" if len(r) > 1 else f"{r[0] + 1}" for r in runs) if runs else "no bars"
    print(f"regenerated {', '.join(sorted(tracks))} in {span}; `composer undo {args.folder}` brings back the previous take")
    return 0


def _cmd_undo(args) -> int:
    from . import project
    from .pipeline import undo_project
    entries = project.history(args.folder)
    what = project.history_what(entries[-1]) if entries else ""
    plan = undo_project(args.folder, progress=CliProgress(quiet=args.quiet))
    said = f"undid {what}; " if what else ""
    print(f"{said}restored the previous plan: {plan.title}, {plan.key}, {plan.total_bars} bars")
    return 0


def _cmd_redo(args) -> int:
    from . import project
    from .pipeline import redo_project
    entries = project.history(args.folder, redo=True)
    what = project.history_what(entries[-1]) if entries else ""
    plan = redo_project(args.folder, progress=CliProgress(quiet=args.quiet))
    said = f"redid {what}; " if what else ""
    print(f"{said}brought back the undone change: {plan.title}, {plan.key}, {plan.total_bars} bars")
    return 0


def _cmd_train(args) -> int:
    from training.train import main as train_main
    return int(train_main(args.train_args) or 0)


def _cmd_data(args) -> int:
    from training.shards import main as data_main
    return int(data_main(args.data_args) or 0)


def _cmd_eval(args) -> int:
    import os

    from training.evaluate import run, run_section

    from .pipeline import model_dir
    say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    if args.only:
        print(run_section(Path(args.output), args.only, args.style_seeds, progress=say))
        return 0
    data = Path(args.data or Path(os.environ.get("COMPOSER_CACHE", Path.home() / ".cache" / "composer")) / "data"
                if not args.data else args.data)
    text = run(Path(args.output), data if (Path(data) / "test").exists() else None,
               None if args.no_model else model_dir(), n_heldout=args.n, n_own=args.captions, seed=args.seed,
               model_briefs=args.model_briefs, audio_pieces=args.audio, soundfont=args.soundfont,
               progress=say, style_seeds=args.style_seeds)
    print(text)
    return 0


def _cmd_schema(args) -> int:
    from .plan import plan_schema
    print(json.dumps(plan_schema(), indent=2))
    return 0


def _cmd_tui(args) -> int:
    from tui.app import run_app
    run_app(args.folder, soundfont=args.soundfont)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="composer", description="Compose structured multi-track music from a brief.")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name, fn, help_):
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(fn=fn)
        sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress output")
        return sp

    def llm_options(sp):
        g = sp.add_argument_group("planner")
        g.add_argument("--planner", choices=["rules", "llm"], default="rules",
                       help="rules (offline default) or llm (a local or remote language model)")
        g.add_argument("--llm-url", help="OpenAI-compatible base URL (Ollama, llama-server, vLLM, LM Studio, OpenAI); "
                                         "or COMPOSER_LLM_URL; the key comes from COMPOSER_LLM_API_KEY")
        g.add_argument("--llm-model", help="model name on that server (or COMPOSER_LLM_MODEL)")
        g.add_argument("--llm-path", help="a local transformers causal LM folder, used offline")
        g.add_argument("--llm-backend", choices=["auto", "openai", "ollama", "llamacpp", "vllm"],
                       help="how to ask for structured output (default: guessed from the URL)")
        g.add_argument("--llm-timeout", type=float, help="seconds to wait for an answer (default 120)")
        g.add_argument("--llm-retries", type=int, help="how often to send problems back before giving up (default 3)")
        g.add_argument("--no-fallback", action="store_true",
                       help="fail instead of falling back to the rules planner when the LLM fails")

    sp = add("new", _cmd_new, "plan, arrange, export and render a piece from a brief")
    sp.add_argument("brief", help="free-text brief, e.g. 'a melancholic waltz in D minor for string quartet'")
    sp.add_argument("--out", required=True, help="project folder to write")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--no-audio", action="store_true", help="skip rendering audio")
    sp.add_argument("--soundfont", help="SoundFont (.sf2/.sf3) to render with")
    sp.add_argument("--format", choices=["wav", "flac"], help="audio format (default wav)")
    _humanize_options(sp)
    sp.add_argument("--arranger", default="auto", choices=["auto", "transformer", "patterns"],
                    help="auto (the transformer when its weights are installed, else patterns), transformer or patterns")
    _sampling_options(sp)
    llm_options(sp)

    sp = add("plan", _cmd_plan, "write the form and chord plan for a brief")
    sp.add_argument("brief")
    sp.add_argument("-o", "--output", help="plan.json to write (default: standard output)")
    sp.add_argument("--seed", type=int, default=0)
    llm_options(sp)

    sp = add("revise", _cmd_revise, "edit a project's plan in words and re-arrange only what changed")
    sp.add_argument("folder", help="project folder")
    sp.add_argument("instruction", help="e.g. 'transpose up a whole step', 'make the chorus 16 bars', "
                                        "'make the bridge modulate to the relative minor'")
    sp.add_argument("--seed", type=int, default=0)
    llm_options(sp)

    sp = add("regenerate", _cmd_regenerate,
             "write new material for a section, bars or tracks of a project, keeping (and listening to) the rest")
    sp.add_argument("folder", help="project folder")
    sp.add_argument("--section", help="section number (1-based), name or label")
    sp.add_argument("--bars", help="bar or bar range of the piece, e.g. 9-12 (1-based; inside --section if both)")
    sp.add_argument("--track", action="append",
                    help="track, or role such as bass, to regenerate (repeat for more; default: all unlocked)")
    sp.add_argument("--lock", action="append", help="track to keep as it is (repeatable)")
    sp.add_argument("--seed", type=int, help="default: a new take each time")
    sp.add_argument("--arranger", default="auto", choices=["auto", "transformer", "patterns"])
    _sampling_options(sp)

    sp = add("undo", _cmd_undo, "restore the plan and MIDI from before the last change")
    sp.add_argument("folder", help="project folder")

    sp = add("redo", _cmd_redo, "bring back what the last undo took back")
    sp.add_argument("folder", help="project folder")

    sp = add("arrange", _cmd_arrange, "arrange a plan file into MIDI and MusicXML")
    sp.add_argument("plan", help="plan.json (or a project folder holding one)")
    sp.add_argument("--out", required=True, help="project folder to write")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--arranger", default="auto", choices=["auto", "transformer", "patterns"])
    _sampling_options(sp)

    sp = add("render", _cmd_render, "render a MIDI file to audio with a SoundFont (or a diffusion model)")
    sp.add_argument("midi", help="MIDI file")
    sp.add_argument("-o", "--output", help="mix file (.wav or .flac; default mix.wav beside the MIDI)")
    sp.add_argument("--stems", help="folder for one stem per track")
    sp.add_argument("--soundfont", help="SoundFont (.sf2/.sf3)")
    sp.add_argument("--format", choices=["wav", "flac"], help="format for the stems (default: the mix's)")
    g = sp.add_argument_group("diffusion renderer")
    g.add_argument("--renderer", choices=["fluidsynth", "diffusion"], default="fluidsynth",
                   help="fluidsynth (default) or diffusion (a diffusers audio pipeline conditioned on the MIDI)")
    g.add_argument("--model", help="diffusers pipeline folder (Stable Audio or AudioLDM2), or a hub id with a network")
    g.add_argument("--strength", type=float, default=0.5,
                   help="how far the SoundFont render is noised before denoising, 0-1 (default 0.5)")
    g.add_argument("--guidance", type=float, default=1.0,
                   help="strength of the pull toward the MIDI's chroma and onsets, 0 = none (default 1.0)")
    g.add_argument("--steps", type=int, help="denoising steps for a full run (default: the pipeline's usual)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--per-stem", action="store_true", help="render every track on its own and mix them (needed for --stems)")
    g.add_argument("--device", default="auto", help="auto (default: cuda, then mps, then cpu), cuda, mps or cpu")
    _humanize_options(sp)

    sp = add("export", _cmd_export, "write piece.mid and piece.musicxml for a project folder")
    sp.add_argument("folder")
    sp.add_argument("--pdf", action="store_true", help="also piece.pdf, engraved by MuseScore (mscore3, mscore or "
                    "MuseScore 4; COMPOSER_MUSESCORE names another)")
    sp.add_argument("--parts", action="store_true", help="with --pdf: one PDF per part in parts/")

    sp = add("import", _cmd_import, "start a project from your own MIDI or MusicXML file")
    sp.add_argument("midi", metavar="FILE", help="a MIDI (.mid) or MusicXML (.musicxml, .xml, .mxl) file")
    sp.add_argument("--out", required=True, help="project folder to write")

    add("schema", _cmd_schema, "print the Plan JSON schema")

    sp = add("eval", _cmd_eval, "measure the arrangers against held-out data and briefs; writes docs/EVAL.md")
    sp.add_argument("-o", "--output", default="docs/EVAL.md")
    sp.add_argument("--data", help="token shards (default: $COMPOSER_CACHE/data or ~/.cache/composer/data)")
    sp.add_argument("--n", type=int, default=1120, help="held-out sequences (the same number of each role)")
    sp.add_argument("--captions", type=int, default=24, help="captions in our own set")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--no-model", action="store_true", help="leave the transformer out")
    sp.add_argument("--model-briefs", type=int, help="run only the first N briefs of each set through the transformer")
    sp.add_argument("--audio", type=int, default=4, metavar="N",
                    help="render the first N pieces of our caption set and measure how the audio follows the MIDI (0: skip)")
    sp.add_argument("--soundfont", help="SoundFont for the audio part (default: the one `composer render` finds)")
    sp.add_argument("--style-seeds", type=int, default=2, metavar="N",
                    help="seeds per brief in the Style and Arrangement sections (per arranger; 0: skip them)")
    sp.add_argument("--only", choices=("style", "arrangement"),
                    help="measure only this section and replace it in the output, keeping the rest")

    sp = sub.add_parser("train", help="train the arranger model (see `composer train -- --help`)",
                        description="Train the arranger model; arguments after `--` go to the trainer, "
                                    "e.g. composer train -- --config configs/small.json --resume", add_help=True)
    sp.set_defaults(fn=_cmd_train)
    sp.add_argument("train_args", nargs=argparse.REMAINDER, help="trainer arguments")

    sp = sub.add_parser("data", help="build the training data (see `composer data -- --help`)",
                        description="Build token shards from ../shared/data and the music21 corpus; arguments after "
                                    "`--` go to the builder, e.g. composer data -- build --limit 20")
    sp.set_defaults(fn=_cmd_data)
    sp.add_argument("data_args", nargs=argparse.REMAINDER, help="builder arguments")

    sp = add("tui", _cmd_tui, "open the terminal workstation")
    sp.add_argument("folder", nargs="?", default=None, help="project folder to open")
    sp.add_argument("--soundfont", help="SoundFont (.sf2/.sf3)")
    return p


def _importing(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _interrupted(caught: list[int]) -> int:
    print("composer: interrupted; the project is as it was before this command", file=sys.stderr)
    return 128 + caught[0] if caught else EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("train_args", "data_args"):
        if getattr(args, name, None) and args.__dict__[name][:1] == ["--"]:
            args.__dict__[name] = args.__dict__[name][1:]
    caught: list[int] = []

    def stop(signum, frame):  # SIGINT, SIGTERM and SIGHUP unwind, so the staged files are cleaned up
        caught.append(signum)
        project.request_stop()  # a stop that lands where Python ignores exceptions still stops before the commit
        if _importing(frame):
            # Raised inside an import, the exception can be dropped by importlib's callbacks or abort the process
            # from a C++ extension's module code: ask again once the import is done.
            threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
            return
        raise KeyboardInterrupt

    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)} \
        if threading.current_thread() is threading.main_thread() else {}
    try:
        return int(args.fn(args) or 0)
    except KeyboardInterrupt:
        return _interrupted(caught)
    except Exception as exc:
        if caught:  # the stop landed inside C code (torch, safetensors) that turned it into another error
            return _interrupted(caught)
        if not isinstance(exc, _user_errors()):
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if exc.__class__.__name__ == "ValidationError":
            from .plan import error_message
            msg = error_message(exc)  # type: ignore[arg-type]
        print(f"composer: error: {msg}", file=sys.stderr)
        return EXIT_USER_ERROR
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        project.request_stop(False)


if __name__ == "__main__":
    sys.exit(main())
