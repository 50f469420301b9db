"""The terminal workstation: see the plan, generate, export and render with progress.

Blocking work runs in thread workers that report progress and can be cancelled;
every action calls the same composer.pipeline functions as the CLI.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Input, Label, ProgressBar, RichLog

from composer import pipeline, project
from composer.plan import Plan


class Cancelled(Exception):
    pass


class ComposerApp(App):
    """Brief box, plan and tracks tables, progress bar and log."""

    CSS_PATH = "app.tcss"
    TITLE = "composer"
    BINDINGS = [
        Binding("g", "generate", "Generate", id="generate"),
        Binding("e", "export", "Export", id="export"),
        Binding("r", "render", "Render", id="render"),
        Binding("c", "cancel", "Cancel", id="cancel"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, folder: str | Path | None = None, soundfont: str | None = None, seed: int = 0):
        super().__init__()
        self.folder = Path(folder) if folder else Path.cwd() / "composer-project"
        self.soundfont = soundfont
        self.seed = seed
        self.plan: Plan | None = None
        self.score = None
        self.cancel_event = threading.Event()
        self.busy = False

    # --- layout ---------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="brief-row"):
            yield Input(placeholder="Brief, e.g. a melancholic waltz in D minor for string quartet, ABA, two minutes",
                        id="brief")
        with Horizontal(id="main"):
            with Vertical(id="plan-pane"):
                yield Label("Plan", classes="pane-title", id="plan-title")
                yield DataTable(id="sections", cursor_type="row", zebra_stripes=True)
            with Vertical(id="tracks-pane"):
                yield Label("Tracks", classes="pane-title")
                yield DataTable(id="tracks", cursor_type="row")
        with Vertical(id="status"):
            yield ProgressBar(total=100, show_eta=False, id="progress")
            yield RichLog(id="log", max_lines=500, wrap=True, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        sections = self.query_one("#sections", DataTable)
        sections.add_columns("Section", "Label", "Bars", "Key", "Meter", "Tempo", "Energy", "Chords")
        tracks = self.query_one("#tracks", DataTable)
        tracks.add_columns("Track", "Role", "Program")
        self.sub_title = str(self.folder)
        if (self.folder / project.PLAN).exists() or (self.folder / project.MIDI).exists():
            try:
                self.plan, self.score = pipeline.load_project(self.folder)
                self.log_line(f"opened {self.folder}")
            except Exception as exc:  # a broken project must not crash the app
                self.log_line(f"cannot open {self.folder}: {exc}")
        self.show_plan()
        # With a plan open the keys act at once; a new project starts in the brief box.
        (self.query_one("#sections", DataTable) if self.plan else self.query_one("#brief", Input)).focus()

    # --- helpers -----------------------------------------------------------------

    def log_line(self, text: str) -> None:
        self.query_one("#log", RichLog).write(text)

    def show_plan(self) -> None:
        sections = self.query_one("#sections", DataTable)
        tracks = self.query_one("#tracks", DataTable)
        sections.clear()
        tracks.clear()
        plan = self.plan
        if plan is None:
            self.query_one("#plan-title", Label).update("Plan: none yet - type a brief and press Enter or g")
            return
        self.query_one("#plan-title", Label).update(
            f"{plan.title} - {plan.key}, {plan.meter}, {plan.tempo:g} BPM, {plan.total_bars} bars, "
            f"{plan.duration_seconds():.0f} s")
        key, meter, tempo = plan.key, plan.meter, plan.tempo
        for sec in plan.sections:
            key, meter, tempo = sec.key or key, sec.meter or meter, sec.tempo or tempo
            chords = " | ".join(" ".join(c.symbol for c in bar) for bar in sec.chords)
            sections.add_row(sec.name, sec.label, str(sec.bars), key, meter, f"{tempo:g}", str(sec.energy), chords)
        for t in plan.tracks:
            tracks.add_row(t.name, t.role, "drums" if t.drum else str(t.program))

    def _progress(self, stage: str, fraction: float, message: str) -> None:
        """Called from worker threads."""
        if self.cancel_event.is_set():
            raise Cancelled()
        self.call_from_thread(self._show_progress, stage, fraction, message)

    def _show_progress(self, stage: str, fraction: float, message: str) -> None:
        self.query_one("#progress", ProgressBar).update(progress=fraction * 100)
        if fraction in (0.0, 1.0) or not message.startswith("arranged"):
            self.log_line(f"[{stage}] {message}")

    def _start(self, what: str) -> bool:
        if self.busy:
            self.notify("A task is running: wait, or press c to cancel it", severity="warning")
            return False
        self.busy = True
        self.cancel_event.clear()
        self.query_one("#progress", ProgressBar).update(progress=0)
        self.log_line(f"{what}...")
        return True

    def _finish(self, message: str, error: bool = False) -> None:
        self.busy = False
        self.log_line(message)
        self.notify(message, severity="error" if error else "information")
        if not error:
            self.query_one("#progress", ProgressBar).update(progress=100)

    # --- actions -----------------------------------------------------------------

    @on(Input.Submitted, "#brief")
    def _brief_submitted(self) -> None:
        self.action_generate()

    def action_generate(self) -> None:
        brief = self.query_one("#brief", Input).value.strip()
        if not brief and self.plan is None:
            self.notify("Type a brief first", severity="warning")
            return
        self.run_task("generating", self._generate, brief)

    def action_export(self) -> None:
        if self.score is None:
            self.notify("Nothing to export yet: generate first (g)", severity="warning")
            return
        self.run_task("exporting", self._export)

    def action_render(self) -> None:
        if self.score is None:
            self.notify("Nothing to render yet: generate first (g)", severity="warning")
            return
        self.run_task("rendering", self._render)

    def run_task(self, what: str, job, *args) -> None:
        """Run one blocking job at a time in a thread worker; its result message or error goes to the log."""
        if self._start(what):
            self._worker(job, *args)

    @work(thread=True, exclusive=True, group="task")
    def _worker(self, job, *args) -> None:
        try:
            message = job(*args)
            self.call_from_thread(self._finish, message)
        except (Cancelled, pipeline.RenderCancelled):
            self.call_from_thread(self._finish, "cancelled; files already saved are intact", True)
        except Exception as exc:  # shown in the log, never a crash
            self.call_from_thread(self._finish, f"error: {str(exc).splitlines()[0] if str(exc) else exc!r}", True)

    # Jobs: they run in the worker thread and return the message to show.

    def _generate(self, brief: str) -> str:
        t = time.perf_counter()
        plan = pipeline.make_plan(brief, self.seed, self._progress) if brief else self.plan
        self.call_from_thread(self._set_plan, plan)
        score = pipeline.arrange(plan, self.seed, progress=self._progress)
        self.score = score
        pipeline.export(plan, score, self.folder, musicxml=False, progress=self._progress)
        return (f"generated {score.n_notes} notes in {time.perf_counter() - t:.1f}s; "
                f"saved plan.json and piece.mid in {self.folder}")

    def _export(self) -> str:
        files = pipeline.export(self.plan, self.score, self.folder, progress=self._progress)
        return "exported " + ", ".join(f.name for f in files)

    def _render(self) -> str:
        res = pipeline.render(self.score, self.folder / project.MIX, self.folder / project.STEMS, self.soundfont,
                              progress=self._progress, cancel=self.cancel_event)
        return f"rendered mix.wav and {len(res.stems)} stems in {res.seconds:.1f}s (peak {res.peak_dbfs:.1f} dBFS)"

    def _set_plan(self, plan: Plan) -> None:
        self.plan = plan
        self.show_plan()

    def action_cancel(self) -> None:
        if self.busy:
            self.cancel_event.set()
            for w in self.workers:
                if w.group == "task":
                    w.cancel()
            self.log_line("cancelling...")

    def action_help(self) -> None:
        self.notify("g generate · e export · r render · c cancel · ctrl+p commands · q quit", timeout=6)

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        yield SystemCommand("Generate", "Plan and arrange the piece from the brief", self.action_generate)
        yield SystemCommand("Export", "Write piece.mid and piece.musicxml", self.action_export)
        yield SystemCommand("Render", "Render mix.wav and stems with fluidsynth", self.action_render)
        yield SystemCommand("Cancel", "Cancel the running task", self.action_cancel)


def run_app(folder: str | None = None, soundfont: str | None = None) -> None:
    ComposerApp(folder, soundfont).run()


__all__ = ["ComposerApp", "run_app"]
