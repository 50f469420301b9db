"""The terminal workstation: compose, edit, regenerate, render and export without leaving the terminal.

Blocking work runs in thread workers that report progress and can be cancelled; every
action goes through composer.session / composer.pipeline, the same functions the CLI uses.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.keys import format_key
from textual.timer import Timer
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    ProgressBar,
    RichLog,
    Select,
    TabbedContent,
    TabPane,
)

from composer import pipeline
from composer.llm import LLMSettings, load_settings
from composer.session import Session, SessionError
from composer.transport import PLAYER_ENV, Timeline, Transport, TransportError, clock, player_command
from symbolic.instruments import INSTRUMENTS, instrument_of

from .widgets import Ask, ChordEditor, Confirm, Help, PianoRoll, Picker, pitch_name


class Cancelled(Exception):
    pass


CELL0 = 8   # the Arrangement table's first section column (after track, role, M, S, L, level, pan, reverb)


def _instrument_choices(drum: bool | None = None) -> tuple[list, list[str]]:
    """One entry per instrument (the table's aliases share one), with its comfortable and extreme range:
    (instruments, labels)."""
    insts = sorted({v.name: v for v in INSTRUMENTS.values() if drum is None or v.drum == drum}.values(),
                   key=lambda v: v.name)
    return insts, [v.name if v.drum else f"{v.name}  {pitch_name(v.low)}-{pitch_name(v.high)}"
                          f" (extreme {pitch_name(v.lowest)}-{pitch_name(v.highest)})" for v in insts]


def _pan_text(pan: float) -> str:
    return "C" if abs(pan) < 0.005 else f"{'L' if pan < 0 else 'R'}{abs(pan) * 100:.0f}"


class ComposerApp(App):
    """Brief and revise boxes; plan, arrangement, piano-roll and render tabs; progress and log."""

    CSS_PATH = "app.tcss"
    TITLE = "composer"
    BINDINGS = [
        # Help and quit first: the footer shows keys in this order and cuts the last ones on a narrow terminal.
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("g", "generate", "Generate", id="generate"),
        Binding("r", "render", "Render", id="render"),
        Binding("e", "export", "Export", id="export"),
        Binding("E", "export_pdf", "Export PDF", id="export-pdf", show=False),
        Binding("o", "score", "Score", id="score", show=False),
        Binding("I", "import_file", "Import", id="import", show=False),
        Binding("x", "regenerate", "Regen", id="regenerate"),
        Binding("a", "alternatives", "A/B", id="alternatives"),
        Binding("p", "play", "Play", id="play"),
        Binding("P", "play_from", "Play from bar", id="play-from", show=False),
        Binding("ctrl+z", "undo", "Undo", id="undo"),
        Binding("ctrl+y", "redo", "Redo", id="redo"),
        Binding("m", "mute", "Mute", id="mute", show=False),
        Binding("s", "solo", "Solo", id="solo", show=False),
        Binding("l", "lock", "Lock", id="lock", show=False),
        Binding("i", "instrument", "Instrument", id="instrument", show=False),
        Binding("y", "style", "Style", id="style", show=False),
        Binding("full_stop", "level(1)", "Level up", id="level-up", show=False),
        Binding("comma", "level(-1)", "Level down", id="level-down", show=False),
        Binding("right_square_bracket", "pan(0.1)", "Pan right", id="pan-right", show=False),
        Binding("left_square_bracket", "pan(-0.1)", "Pan left", id="pan-left", show=False),
        Binding("right_curly_bracket", "reverb(0.1)", "More reverb", id="reverb-up", show=False),
        Binding("left_curly_bracket", "reverb(-0.1)", "Less reverb", id="reverb-down", show=False),
        Binding("b", "regenerate_bars", "Regenerate bars", id="regenerate-bars", show=False),
        Binding("c", "cancel", "Cancel", id="cancel", show=False),
        Binding("1", "show_tab('tab-plan')", "Plan", id="tab-plan", show=False),
        Binding("2", "show_tab('tab-arrangement')", "Arrangement", id="tab-arrangement", show=False),
        Binding("3", "show_tab('tab-roll')", "Piano roll", id="tab-roll", show=False),
        Binding("4", "show_tab('tab-render')", "Render", id="tab-render", show=False),
        Binding("slash", "focus_revise", "Revise", id="focus-revise", show=False),
        Binding("escape", "leave_input", "Leave the text box", id="leave-input", show=False),
    ]

    # The help screen: binding ids (their keys are looked up as bound now) and what they do.
    HELP_TOPICS = [
        (("generate",), "generate from the brief"),
        (("regenerate",), "regenerate the section (or the cell in Arrangement)"),
        (("regenerate-bars",), "regenerate a bar range"),
        (("alternatives",), "three alternatives, then pick (A/B)"),
        (("mute", "solo", "lock"), "mute, solo, lock the track"),
        (("level-down", "level-up"), "the track's level down, up (1 dB)"),
        (("pan-left", "pan-right"), "pan the track left, right"),
        (("reverb-down", "reverb-up"), "the track's reverb send down, up (10%)"),
        (("instrument",), "change the track's instrument"),
        (("style",), "change the style: a genre's groove, the feel, the swing"),
        (("render",), "render mix and stems"),
        (("play",), "play the section (the mix in Render, from the cursor in the roll); again: stop"),
        (("play-from",), "play from a bar"),
        (("export",), "export MIDI and MusicXML"),
        (("export-pdf",), "export MIDI, MusicXML and the printed score and parts (PDF, through MuseScore)"),
        (("score",), "open the printed score (engraved again when the notes changed)"),
        (("import",), "import a MIDI or MusicXML file as the piece (its plan read from the notes)"),
        (("cancel",), "cancel the running task"),
        (("undo", "redo"), "undo, redo (plan and notes)"),
        (("tab-plan", "tab-arrangement", "tab-roll", "tab-render"), "Plan, Arrangement, Piano roll, Render tab"),
        (("focus-revise",), "type a revision (\"transpose up a tone\", \"make it swing\"); the brief box before a piece exists"),
        (("leave-input",), "leave a text box, so keys act"),
        (("help",), "this help"),
        (("quit",), "quit"),
    ]
    # The main widget of each tab: what switching tabs and leaving a text box focus.
    MAIN = {"tab-plan": "#sections", "tab-arrangement": "#cells", "tab-roll": "#roll", "tab-render": "#do-render"}

    def __init__(self, folder: str | Path | None = None, soundfont: str | None = None, seed: int = 0):
        super().__init__()
        self.folder = Path(folder) if folder else Path.cwd() / "composer-project"
        self.session = Session.open(self.folder, seed)
        self.soundfont = soundfont
        self.cancel_event = threading.Event()
        self.busy = False
        self.planned = None  # the plan of a piece being arranged, shown before its notes are written
        self.section = 0
        self.track: str | None = None
        self.roll_pending: tuple | None = None   # (track, start, end, notes, what): a roll edit not yet saved
        self.transport: Transport | None = None  # made at the first play, when there is an audio device
        self.timeline: Timeline | None = None    # the bars' times of the piece that plays
        self._play_timer: Timer | None = None
        self.llm: LLMSettings | None
        try:
            self.llm = load_settings()
        except Exception:  # noqa: BLE001 - a broken config file must not stop the app
            self.llm = None

    @property
    def plan(self):
        return self.session.plan

    @property
    def score(self):
        return self.session.score

    @property
    def shown_plan(self):
        """The plan the Plan tab shows: the one being arranged, else the session's."""
        return self.planned if self.planned is not None else self.session.plan

    # --- keys -------------------------------------------------------------------------

    def keys_for(self, binding_id: str) -> list[str]:
        """The keys a binding has now (the config file may have remapped them), as a person writes them."""
        keymap = getattr(self, "_keymap", {}) or {}
        if binding_id == "command-palette":
            keys = self.COMMAND_PALETTE_BINDING
        else:
            keys = keymap.get(binding_id) or ",".join(b.key for b in self.BINDINGS
                                                      if isinstance(b, Binding) and b.id == binding_id)
        return [_key_text(k.strip()) for k in keys.split(",") if k.strip()]

    def key_for(self, binding_id: str) -> str:
        """The first key of a binding, or '' when it has none."""
        keys = self.keys_for(binding_id)
        return keys[0] if keys else ""

    def help_rows(self) -> list[tuple[str, str]]:
        """(keys, action) for the help screen, from the bindings as they are now."""
        rows = []
        for ids, what in self.HELP_TOPICS:
            keys = [self.key_for(i) for i in ids]
            if len(ids) == 4 and keys == ["1", "2", "3", "4"]:
                text = "1-4"
            else:
                text = " ".join(k for k in keys if k)
            rows.append((text, what))
        rows.insert(len(rows) - 2, (self.key_for("command-palette"), "command palette"))
        rows[-2:-2] = self.ROLL_HELP
        return rows

    # The piano roll's own keys (they act while the roll has the focus).
    ROLL_HELP = [("arrows home end pgup pgdn", "roll: cursor by 16th, semitone, bar, octave"),
                 ("enter space delete", "roll: add a note (or select one), select, delete"),
                 ("shift+arrows", "roll: move the selected notes"),
                 ("+ - < >", "roll: longer, shorter, softer, louder"),
                 ("b", "roll: regenerate the bars of the selection")]

    # --- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="boxes"):
            yield Input(placeholder="Brief: a melancholic waltz in D minor for string quartet, ABA, two minutes",
                        id="brief")
            yield Input(placeholder="Revise: transpose up a tone / make the chorus 16 bars" +
                        (" (LLM)" if self.llm and self.llm.configured else ""), id="revise")
        with TabbedContent(id="tabs"):
            with TabPane("Plan", id="tab-plan"):
                with Horizontal():
                    yield DataTable(id="sections", cursor_type="row", zebra_stripes=True)
                    yield DataTable(id="chords", cursor_type="row")
            with TabPane("Arrangement", id="tab-arrangement"):
                yield DataTable(id="cells", cursor_type="cell")
            with TabPane("Piano roll", id="tab-roll"):
                with VerticalScroll(id="roll-scroll"):
                    yield PianoRoll(id="roll")
            with TabPane("Render", id="tab-render"):
                with VerticalScroll(id="render-settings"):
                    with Horizontal(classes="row"):
                        yield Label("SoundFont ")
                        yield Input(self.soundfont or "", placeholder="empty: the default GM SoundFont", id="soundfont")
                    with Horizontal(classes="row"):
                        yield Label("Format ")
                        yield Select([("WAV", "wav"), ("FLAC", "flac")], value="wav", allow_blank=False, id="format")
                        yield Label(" Renderer ")
                        yield Select([("fluidsynth", "fluidsynth"), ("diffusion", "diffusion")], value="fluidsynth",
                                     allow_blank=False, id="renderer")
                    with Horizontal(classes="row"):
                        yield Label("Humanize ")
                        yield Select([("full", "1.0"), ("half", "0.5"), ("off", "0")], value="1.0",
                                     allow_blank=False, id="humanize")
                        yield Label(" Diffusion model ")
                        yield Input("", placeholder="a diffusers pipeline folder", id="diffusion-model")
                    with Horizontal(classes="row"):
                        yield Button("Render (r)", id="do-render")
                        yield Button("Export (e)", id="do-export")
                        yield Button("Play (p)", id="do-play")
                    yield Label("", id="render-status")
        with Vertical(id="status"):
            yield Label("", id="transport")
            yield ProgressBar(total=100, show_eta=False, id="progress")
            yield RichLog(id="log", max_lines=500, wrap=True, markup=False)
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        self.query_one(Footer).compact = event.size.width < 120   # more keys fit on a narrow terminal

    def on_mount(self) -> None:
        self.query_one("#sections", DataTable).add_columns("Section", "Bars", "Key", "Meter", "Tempo", "En")
        self.query_one("#chords", DataTable).add_columns("Bar", "Chords")
        self.sub_title = str(self.folder)
        self._load_keymap()
        for button, binding, label in (("#do-render", "render", "Render"), ("#do-export", "export", "Export"),
                                       ("#do-play", "play", "Play")):
            key = self.key_for(binding)
            self.query_one(button, Button).label = f"{label} ({key})" if key else label
        if self.session.read_only:
            self.log_line(f"read-only: {self.session.read_only}")
        elif self.plan is not None:
            self.log_line(f"opened {self.folder} (held for writing: other composer commands wait)")
        self.refresh_views()
        (self.query_one("#sections", DataTable) if self.plan else self.query_one("#brief", Input)).focus()

    def on_unmount(self) -> None:
        self.session.close()

    def _load_keymap(self) -> None:
        """Users remap keys by binding id in the config file: {"keys": {"generate": "ctrl+g"}}."""
        from composer.llm import LLMError, read_config
        try:
            keys = read_config().get("keys", {})
        except LLMError as exc:
            self.log_line(f"keys: {exc}")
            return
        if isinstance(keys, dict) and keys:
            self.set_keymap({str(k): str(v) for k, v in keys.items()})

    # --- views ------------------------------------------------------------------------------

    def log_line(self, text: str) -> None:
        self.query_one("#log", RichLog).write(text)

    def refresh_views(self) -> None:
        self._show_sections()
        self._show_chords()
        self._show_cells()
        self._show_roll()
        self._show_outputs()

    def _show_outputs(self) -> None:
        """Which outputs follow the notes as they are now: a mix older than piece.mid is stale."""
        labels = self.query("#render-status")
        if not labels:
            return
        self.query_one("#render-status", Label).update(self.output_status())

    def output_status(self) -> str:
        folder = self.folder
        mid = folder / "piece.mid"
        if not mid.exists():
            return "No piece yet."
        mixes = [p for p in (folder / "mix.wav", folder / "mix.flac") if p.exists()]
        if not mixes:
            return "Not rendered yet: r renders the mix and stems."
        mix = max(mixes, key=lambda p: p.stat().st_mtime)
        if mix.stat().st_mtime < mid.stat().st_mtime:
            return f"{mix.name} is older than the notes (edited since): r renders it again."
        return f"{mix.name} and stems/ follow the notes as they are now."

    def _show_sections(self) -> None:
        table = self.query_one("#sections", DataTable)
        table.clear()
        plan = self.shown_plan
        if plan is None:
            self.sub_title = f"{self.folder} - no plan yet: type a brief and press Enter"
            return
        self.sub_title = (f"{plan.title} - {plan.key}, {plan.meter}, {plan.tempo:g} BPM, {plan.total_bars} bars, "
                          f"{plan.duration_seconds():.0f} s - {plan.style_idiom().summary()}")
        key, meter, tempo = plan.key, plan.meter, plan.tempo
        for sec in plan.sections:
            key, meter, tempo = sec.key or key, sec.meter or meter, sec.tempo or tempo
            table.add_row(sec.name, str(sec.bars), key, meter, f"{tempo:g}", str(sec.energy))
        self.section = min(self.section, len(plan.sections) - 1)
        table.move_cursor(row=self.section)

    def _show_chords(self) -> None:
        tables = self.query("#chords")
        if not tables:  # a highlight that arrives while the app is closing, after its screen has gone
            return
        table = tables.first(DataTable)
        table.clear()
        if self.shown_plan is None:
            return
        sec = self.shown_plan.sections[self.section]
        for i, bar in enumerate(sec.chords):
            table.add_row(str(i + 1), " ".join(f"{c.symbol}:{c.beats:g}" if len(bar) > 1 else c.symbol for c in bar))

    def _show_cells(self) -> None:
        table = self.query_one("#cells", DataTable)
        where = table.cursor_coordinate   # the cursor stays on the cell the user left it on
        table.clear(columns=True)
        plan = self.shown_plan
        if plan is None:
            return
        table.add_columns("Track", "Role", "M", "S", "L", "Level", "Pan", "Rev", *[s.name for s in plan.sections])
        counts = self._cell_counts() if self.planned is None else {}
        for t in plan.tracks:
            row = [t.name, t.role, "M" if t.name in self.session.muted else "·", "S" if t.name in self.session.solo else "·",
                   "L" if t.name in self.session.locked else "·", f"{t.level or 0:+.0f} dB", _pan_text(t.pan or 0.0),
                   "·" if t.reverb is None else f"{t.reverb:.0%}"]
            row += [str(counts.get((t.name, i), 0)) if self.planned is None else "…" for i in range(len(plan.sections))]
            table.add_row(*row)
        if table.row_count:
            table.move_cursor(row=min(where.row, table.row_count - 1), column=min(where.column, len(table.columns) - 1))

    def _cell_counts(self) -> dict[tuple[str, int], int]:
        if self.score is None:
            return {}
        sheet = self.plan.to_sheet()
        starts = [(sheet.bars[s.first_bar].bar.start, sheet.bars[s.first_bar + s.n_bars - 1].bar.end) for s in sheet.sections]
        out: dict[tuple[str, int], int] = {}
        for p in self.score.parts:
            for i, (lo, hi) in enumerate(starts):
                out[(p.name, i)] = sum(1 for n in p.notes if lo <= n.start < hi)
        return out

    def _show_roll(self) -> None:
        rolls = self.query("#roll")
        if not rolls:  # a highlight that arrives while the app is closing, after its screen has gone
            return
        roll = rolls.first(PianoRoll)
        if self.planned is not None:
            roll.update("Arranging: the notes appear here when the piece is written.")
            return
        if self.plan is None or self.score is None:
            roll.update("Generate a piece, then pick a section and a track in the Arrangement tab.")
            return
        name = self.track or self.plan.tracks[0].name
        part = next((p for p in self.score.parts if p.name == name), self.score.parts[0])
        sheet = self.plan.to_sheet()
        sec = sheet.sections[self.section]
        lo = sheet.bars[sec.first_bar].bar.start
        hi = sheet.bars[sec.first_bar + sec.n_bars - 1].bar.end
        if self.roll_pending is not None and roll.ident[:1] == (f"{part.name} in {sec.name}",):
            return   # the roll shows an edit still being saved: it is newer than the session's notes
        notes = [n for n in part.notes if lo <= n.start < hi]
        key = sheet.bars[sec.first_bar].key
        chords = [(c.start, c.chord.text) for b in sheet.bars[sec.first_bar:sec.first_bar + sec.n_bars]
                  for c in b.chords]
        inst = instrument_of(part.name, part.program, part.is_drum)
        roll.show(notes, lo, hi, [b.bar.start for b in sheet.bars], f"{part.name} in {sec.name} ({key.name})",
                  part.is_drum, key=key, chords=chords, first_bar=sec.first_bar, locked=part.name in self.session.locked,
                  span=None if part.is_drum else (inst.low, inst.high, inst.lowest, inst.highest))

    # --- piano-roll edits ---------------------------------------------------------------------

    @on(PianoRoll.Edited)
    def _roll_edited(self, event: PianoRoll.Edited) -> None:
        """Save a roll edit as one undoable step; edits made while a task runs are saved when it ends,
        the latest state of the section in one step."""
        if self.plan is None or self.score is None:
            return
        roll = self.query_one("#roll", PianoRoll)
        name = roll.ident[0].split(" in ")[0]
        self.roll_pending = (name, roll.start, roll.end, event.notes, event.what)
        if not self.busy:
            self.run_task("saving the edit", self._save_roll)

    def _save_roll(self) -> str:
        done = []
        while self.roll_pending is not None:
            name, lo, hi, notes, what = self.roll_pending
            self.session.edit_notes(name, lo, hi, notes, what)
            done.append(what)
            if self.roll_pending is not None and self.roll_pending[3] is notes:
                self.roll_pending = None
        return "edited " + ", ".join(done)

    @on(PianoRoll.RegenerateBars)
    def _roll_regenerate(self, event: PianoRoll.RegenerateBars) -> None:
        if self._need_score() and not self._arranging("regenerate bars"):
            self.run_task("regenerating", self._regenerate_bars, event.first + 1, event.last + 1, self.track)

    # --- selection ------------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#sections")
    def _section_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.shown_plan is not None and event.cursor_row is not None and event.cursor_row != self.section:
            self.section = event.cursor_row
            self._show_chords()
            self._show_roll()

    @on(DataTable.CellHighlighted, "#cells")
    def _cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        plan = self.shown_plan
        if plan is None:
            return
        row, col = event.coordinate.row, event.coordinate.column
        if row < len(plan.tracks):
            self.track = plan.tracks[row].name
        if col >= CELL0 and col - CELL0 < len(plan.sections):
            self.section = col - CELL0
        self._show_roll()

    # The track editor: Enter on a track's row of the Arrangement tab.
    TRACK_MENU = ("Rename...", "Instrument...", "Remove", "Add a track...")

    @on(DataTable.CellSelected, "#cells")
    def _edit_track(self, event: DataTable.CellSelected) -> None:
        if self.plan is None or self._arranging("edit its tracks"):
            return
        row = event.coordinate.row
        if not 0 <= row < len(self.plan.tracks):
            return
        track = self.plan.tracks[row].name

        def chosen(k: int | None) -> None:
            if k == 0:
                def named(text: str | None) -> None:
                    if text and text.strip():
                        self.run_task("editing the track", self._track_job, track, "rename", text.strip())
                self.push_screen(Ask(f"{track}: a new name", lambda text: text, value=track), named)
            elif k == 1:
                self.action_instrument()
            elif k == 2:
                self._confirm_then(f"Remove {track} and its notes? (undo brings it back)",
                                   "editing the track", self._track_job, track, "remove", "")
            elif k == 3:
                insts, labels = _instrument_choices()

                def picked(i: int | None) -> None:
                    if i is not None:
                        self.run_task("adding a track", self._track_job, "", "add", insts[i].name)
                self.push_screen(Picker("Add a track: the instrument", labels, filter=True), picked)
        self.push_screen(Picker(f"Track {track}", list(self.TRACK_MENU)), chosen)

    def _track_job(self, track: str, action: str, value: str) -> str:
        done = self.session.edit_track(track, action, value, self._progress)
        if action == "rename":
            self.track = value
        return done

    # The section editor: Enter on a section of the Plan tab. (label, Session.edit_section action, asks for)
    SECTION_MENU = (("Rename...", "rename", "a new name"), ("Bars...", "bars", "bars, 1-64"),
                    ("Energy...", "energy", "energy, 1 (quietest) to 5 (fullest)"), ("Tempo...", "tempo", "BPM"),
                    ("Duplicate (a repeat after it)", "duplicate", ""), ("Delete", "delete", ""),
                    ("Move earlier", "earlier", ""), ("Move later", "later", ""))

    @on(DataTable.RowSelected, "#sections")
    def _edit_section(self, event: DataTable.RowSelected) -> None:
        if self.plan is None or self._arranging("edit its sections") or event.cursor_row is None:
            return
        index = event.cursor_row
        sec = self.plan.sections[index]

        def chosen(k: int | None) -> None:
            if k is None:
                return
            _label, action, ask = self.SECTION_MENU[k]
            if not ask:
                if action == "delete":
                    self._confirm_then(f"Delete {sec.name} and its notes? (undo brings it back)",
                                       "editing the section", self._section_job, index, action, "")
                else:
                    self.run_task("editing the section", self._section_job, index, action, "")
                return
            current = {"rename": sec.name, "bars": str(sec.bars), "energy": str(sec.energy),
                       "tempo": f"{sec.tempo or self.plan.tempo:g}"}[action]

            def answered(text: str | None) -> None:
                if text is not None and text.strip():
                    self.run_task("editing the section", self._section_job, index, action, text.strip())
            self.push_screen(Ask(f"{sec.name}: {ask}", lambda text: text, value=current), answered)
        self.push_screen(Picker(f"Section {index + 1}: {sec.name} ({sec.bars} bars, energy {sec.energy})",
                                [label for label, _a, _q in self.SECTION_MENU]), chosen)

    def _section_job(self, index: int, action: str, value: str) -> str:
        return self.session.edit_section(index, action, value, self._progress)

    @on(DataTable.RowSelected, "#chords")
    def _edit_chord(self, event: DataTable.RowSelected) -> None:
        if self._arranging("edit its chords"):
            return
        if self.plan is None:
            return
        bar = event.cursor_row
        sec = self.plan.sections[self.section]
        value = " ".join(f"{c.symbol}:{c.beats:g}" for c in sec.chords[bar])
        section = self.section

        def done(text: str | None) -> None:
            if text is not None:
                self.run_task("re-arranging", self._set_chords, section, bar, text)
        self.push_screen(ChordEditor(f"{sec.name}, bar {bar + 1}", value,
                                     lambda v: self.session.parse_bar(section, v)), done)

    # --- tasks ---------------------------------------------------------------------------------

    def _progress(self, stage: str, fraction: float, message: str) -> None:
        """Called from worker threads."""
        if self.cancel_event.is_set():
            raise Cancelled()
        self.call_from_thread(self._show_progress, stage, fraction, message)

    def _show_progress(self, stage: str, fraction: float, message: str) -> None:
        self.query_one("#progress", ProgressBar).update(progress=fraction * 100)
        if fraction in (0.0, 1.0) or not message.startswith("arranged"):
            self.log_line(f"[{stage}] {message}")

    def run_task(self, what: str, job, *args) -> bool:
        """Run one blocking job at a time in a thread worker; its message or error goes to the log.
        False when another task is running (nothing started)."""
        if self.busy:
            cancel = self.key_for("cancel")
            self.notify("A task is running: wait" + (f", or press {cancel} to cancel it" if cancel else ""),
                        severity="warning")
            return False
        self.busy = True
        self.cancel_event.clear()
        self.query_one("#progress", ProgressBar).update(progress=0)
        self.log_line(f"{what}...")
        self._worker(job, *args)
        return True

    @work(thread=True, exclusive=True, group="task")
    def _worker(self, job, *args) -> None:
        try:
            message = job(*args)
            self.call_from_thread(self._finish, message)
        except (Cancelled, pipeline.RenderCancelled):
            self.call_from_thread(self._finish, "cancelled; files already saved are intact", True)
        except Exception as exc:  # noqa: BLE001 - shown in the log, never a crash
            self.call_from_thread(self._finish, f"error: {str(exc).splitlines()[0] if str(exc) else exc!r}", True)

    def _finish(self, message: str, error: bool = False) -> None:
        self.busy = False
        self.planned = None
        if error:
            self.roll_pending = None   # the roll shows the notes as saved again
        elif self.roll_pending is not None:   # roll edits made while the task ran
            self.log_line(message)
            self.run_task("saving the edit", self._save_roll)
            return
        self.log_line(message)
        self.notify(message, severity="error" if error else "information")
        if not error:
            self.query_one("#progress", ProgressBar).update(progress=100)
        self.refresh_views()

    # Jobs: they run in the worker thread and return the message to show.

    def _generate(self, brief: str) -> str:
        t = time.perf_counter()
        self.session.generate(brief or None, self._progress,
                              on_plan=lambda plan: self.call_from_thread(self._show_planned, plan))
        return f"generated {self.score.n_notes} notes in {time.perf_counter() - t:.1f}s; saved in {self.folder}"

    def _show_planned(self, plan) -> None:
        """The plan is made and the notes are being written: show the sections and chords now."""
        if not self.busy:  # the task ended already (cancelled or failed)
            return
        self.planned = plan
        self.refresh_views()

    def _set_chords(self, section: int, bar: int, text: str) -> str:
        note = self.session.idiom_note(section, self.session.parse_bar(section, text))
        regen = self.session.set_bar_chords(section, bar, text, self._progress)
        return (f"bar {bar + 1} of {self.plan.sections[section].name} is now {text}; re-arranged {len(regen)} bars"
                + (f" (note: {note})" if note else ""))

    def _revise(self, instruction: str) -> str:
        planner = "llm" if self.llm and self.llm.url else "rules"
        diff = self.session.revise(instruction, self._progress, planner=planner, llm=self.llm,
                                   warn=lambda m: self.call_from_thread(self.log_line, m))
        return "\n".join(diff) if diff else "the plan is unchanged"

    def _regenerate(self, section: int, track: str | None) -> str:
        self.session.regenerate(section=section, track=track, progress=self._progress)
        return f"regenerated {track or 'every unlocked track'} in {self.plan.sections[section].name}"

    def _regenerate_bars(self, first: int, last: int, track: str | None) -> str:
        self.session.regenerate(bars=set(range(first - 1, last)), track=track, progress=self._progress)
        return f"regenerated bars {first}-{last} of the piece"

    def _alternatives(self, section: int, track: str | None) -> str:
        self.session.make_alternatives(section, track, n=3, progress=self._progress)
        self.call_from_thread(self._pick_alternative, section, track)
        kept = len(self.session.kept)
        return f"3 alternatives ready{f' beside {kept} kept' if kept else ''}: pick one (Escape keeps the current one)"

    def _export(self, pdf: bool = False) -> str:
        files = self.session.export(self._progress, pdf=pdf, parts=pdf)
        return "exported " + ", ".join(f.name for f in files)

    def _render(self, section: int | None = None) -> str:
        sf, fmt = self._render_settings()
        renderer = str(self.query_one("#renderer", Select).value)
        model = self.query_one("#diffusion-model", Input).value.strip() or None
        humanize = float(str(self.query_one("#humanize", Select).value))
        res = self.session.render(sf, fmt, self._progress, self.cancel_event, section=section,
                                  renderer=renderer, model=model, humanize=humanize)
        what = f"section {section + 1}" if section is not None else f"the mix and {len(res.stems)} stems"
        follows = pipeline.follows_line(res.adherence)
        return f"rendered {what} in {res.seconds:.1f}s (peak {res.peak_dbfs:.1f} dBFS)" + (f"; {follows}" if follows else "")

    # --- the transport ------------------------------------------------------------------------

    def _play(self, what: str, index: int = 0, take=None) -> str:
        """Play a stretch of the piece (in the worker): what is "piece", "section" (index), "bar" (index, to
        the end) or "take" (section index, the take's score, rendered for it); the mix is rendered first when
        it is missing or older than the notes."""
        player = player_command()
        timeline = self.session.timeline()
        sheet = self.plan.to_sheet()
        if what in ("section", "take"):
            sec = sheet.sections[index]
            first, stop = sec.first_bar, sec.first_bar + sec.n_bars
            said = f"{sec.name}" + (" (the take)" if what == "take" else "")
        else:
            first, stop = (index if what == "bar" else 0), len(timeline.starts)
            said = f"from bar {first + 1}" if what == "bar" else "the piece"
        start = timeline.bar_start(first)
        end = timeline.starts[stop] if stop < len(timeline.starts) else None
        mix = self.session.mix_file()
        if player is None:
            where = f"the mix is {mix}" if mix is not None else \
                f"{self.key_for('render') or 'render'} renders the mix into {self.folder / 'mix.wav'}"
            return (f"no audio device found here: {where}; bar {first + 1} starts at {clock(start)} "
                    f"(set {PLAYER_ENV} to a command that plays a WAV file)")
        if what == "take":
            self.session.render(*self._render_settings(), self._progress, self.cancel_event, section=index, take=take)
            mix, offset, start, end = self.folder / f"section-{index + 1}-take.wav", start, 0.0, None
        else:
            if mix is None:
                self._render()
                mix = self.session.mix_file()
                assert mix is not None    # just rendered
            offset = start
        self.call_from_thread(self._start_playing, player, mix, start, end, offset, timeline)
        return f"playing {said} ({clock(offset)})"

    def _render_settings(self) -> tuple[str | None, str]:
        """The Render tab's SoundFont and format."""
        sf = self.query_one("#soundfont", Input).value.strip() or self.soundfont
        return sf or None, str(self.query_one("#format", Select).value)

    def _start_playing(self, player: list[str], audio: Path, start: float, end: float | None, offset: float,
                       timeline: Timeline) -> None:
        if self.transport is None or self.transport.command != player:
            if self.transport is not None:
                self.transport.close()
            self.transport = Transport(player)
        try:
            self.transport.play(audio, start, end, offset)
        except TransportError as exc:
            self.log_line(f"error: {exc}")
            return
        self.timeline = timeline
        if self._play_timer is None:
            self._play_timer = self.set_interval(0.2, self._show_transport)
        self._show_transport()

    def _show_transport(self) -> None:
        """The play position, moving: time, bar and section in the status line, a play head in the roll."""
        pos = self.transport.position() if self.transport is not None else None
        label, roll = self.query_one("#transport", Label), self.query_one("#roll", PianoRoll)
        if pos is None or self.timeline is None:
            label.update("")
            label.display = False
            roll.set_playhead(None)
            if self._play_timer is not None:
                self._play_timer.stop()
                self._play_timer = None
            return
        where = self.timeline.at(pos)
        key = self.key_for("play")
        label.display = True
        label.update(f"▶ {clock(pos)} / {clock(self.timeline.duration)}   bar {where.bar + 1}   {where.section}" +
                     (f"   ({key} stops)" if key else ""))
        roll.set_playhead(self.timeline.tick_at(pos))

    def close_transport(self) -> None:
        """The player stops with the app."""
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def stop_playing(self) -> str:
        """Stop the transport; says where it stopped ("" when nothing played)."""
        pos = self.transport.position() if self.transport is not None else None
        if self.transport is not None:
            self.transport.stop()
        self._show_transport()
        if pos is None or self.timeline is None:
            return ""
        return f"stopped at bar {self.timeline.at(pos).bar + 1} ({clock(pos)})"

    def _score_preview(self) -> str:
        """The printed score, engraved when it is missing or older than the notes, opened in the system's
        PDF viewer; where there is none, where the file is."""
        pdf, mid = self.folder / "piece.pdf", self.folder / "piece.mid"
        if not pdf.exists() or pdf.stat().st_mtime < mid.stat().st_mtime:
            self.session.export(self._progress, pdf=True)
        viewer = next((shutil.which(c) for c in ("xdg-open", "open") if shutil.which(c)), None)
        if viewer is None:
            return f"the score is {pdf} (no PDF viewer found here to open it)"
        subprocess.Popen([viewer, str(pdf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return f"opened {pdf.name}"

    def action_score(self) -> None:
        if self._need_score():
            self.run_task("preparing the score", self._score_preview)

    # --- actions ---------------------------------------------------------------------------------

    @on(Input.Submitted, "#brief")
    def _brief_submitted(self) -> None:
        self.action_show_tab("tab-plan")  # out of the box, so the next keys act (and the plan is in view)
        self._start_generate()

    @on(Input.Submitted, "#revise")
    def _revise_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() and self._need_plan():
            if self.run_task("revising", self._revise, event.value.strip()):
                self.action_show_tab("tab-plan")

    @on(Button.Pressed, "#do-render")
    def _render_pressed(self) -> None:
        self.action_render()

    @on(Button.Pressed, "#do-export")
    def _export_pressed(self) -> None:
        self.action_export()

    @on(Button.Pressed, "#do-play")
    def _play_pressed(self) -> None:
        self.action_play()

    def _arranging(self, what: str) -> bool:
        """Whether a piece is being arranged (its plan shown, its notes not yet written); says so when it is."""
        if self.planned is not None:
            self.notify(f"The piece is being arranged: {what} when it is written", severity="warning")
        return self.planned is not None

    def _need_plan(self) -> bool:
        if self.plan is None:
            key = self.key_for("generate")
            self.notify(f"Generate a piece first (type a brief, then Enter{' or ' + key if key else ''})",
                        severity="warning")
            return False
        return True

    def _need_score(self) -> bool:
        if self.score is None:
            key = self.key_for("generate")
            self.notify(f"Nothing arranged yet: generate first{f' ({key})' if key else ''}", severity="warning")
            return False
        return True

    def action_generate(self) -> None:
        self._start_generate()

    def action_import_file(self) -> None:
        """Ask for a MIDI or MusicXML file; replacing a piece asks first (undo brings it back)."""
        from symbolic.importer import MIDI_SUFFIXES, MUSICXML_SUFFIXES

        def check(text: str) -> Path:
            path = Path(text.strip()).expanduser()
            if not path.is_file():
                raise ValueError(f"no file {path}")
            if path.suffix.lower() not in MIDI_SUFFIXES + MUSICXML_SUFFIXES:
                raise ValueError("a MIDI (.mid) or MusicXML (.musicxml, .xml, .mxl) file")
            return path

        def done(text: str | None) -> None:
            if not text:
                return
            path = check(text)
            if self.score is None:
                self.run_task("importing", self._import, path)
            else:
                self._confirm_then(f"Replace the current piece with {path.name}? (undo brings it back)",
                                   "importing", self._import, path, no="kept the current piece")
        self.push_screen(Ask("Import a MIDI or MusicXML file", check, placeholder="path/to/song.mid"), done)

    def _import(self, path: Path) -> str:
        score = self.session.import_file(path, self._progress, warn=lambda m: self.call_from_thread(self.log_line, m))
        self.section, self.track = 0, None
        plan = f"; {len(self.plan.sections)} sections read from the notes" if self.plan is not None else ""
        return f"imported {path.name}: {len(score.parts)} tracks, {score.n_notes} notes, {len(score.bars)} bars{plan}"

    def _start_generate(self) -> None:
        brief = self.query_one("#brief", Input).value.strip()
        if not brief and self.plan is None:
            self.notify("Type a brief first", severity="warning")
            return
        if self.busy or self.score is None:   # nothing to lose (or run_task says a task is running)
            self.run_task("generating", self._generate, brief)
            return
        what = "a new piece from the brief" if brief else "every note of the piece, arranged afresh"
        self._confirm_then(f"Replace the current piece with {what}? (undo brings it back)",
                           "generating", self._generate, brief, no="kept the current piece")

    def _confirm_then(self, question: str, what: str, job, *args, no: str = "") -> None:
        """Ask first; on yes run the job as a task, on no say `no` (when given) and do nothing."""
        def answered(yes: bool | None) -> None:
            if yes:
                self.run_task(what, job, *args)
            elif no:
                self.log_line(no)
        self.push_screen(Confirm(question), answered)

    def action_export(self) -> None:
        if self._need_score():
            self.run_task("exporting", self._export)

    def action_export_pdf(self) -> None:
        if self._need_score():
            self.run_task("engraving", self._export, True)

    def action_render(self) -> None:
        if self._need_score():
            self.run_task("rendering", self._render)

    def action_play(self) -> None:
        """Play (or stop): the mix from the Render tab, from the cursor's bar in the roll, else the section."""
        stopped = self.stop_playing()
        if stopped:
            self.log_line(stopped)
            return
        if not self._need_score() or self._arranging("play it"):
            return
        tab = self.query_one("#tabs", TabbedContent).active
        if tab == "tab-render":
            self.run_task("preparing playback", self._play, "piece")
        elif tab == "tab-roll" and self.query_one("#roll", PianoRoll).ident:
            roll = self.query_one("#roll", PianoRoll)
            self.run_task("preparing playback", self._play, "bar", roll.bar_of(roll.cursor[0]))
        else:
            self.run_task("preparing playback", self._play, "section", self.section)

    def action_play_from(self) -> None:
        if not self._need_score() or self._arranging("play it"):
            return
        self.stop_playing()
        total = self.plan.total_bars

        def parse(text: str) -> int:
            try:
                bar = int(text.strip())
            except ValueError:
                raise ValueError("write a bar number") from None
            if not 1 <= bar <= total:
                raise ValueError(f"bars run from 1 to {total}")
            return bar

        def done(text: str | None) -> None:
            if text:
                self.run_task("preparing playback", self._play, "bar", parse(text) - 1)
        self.push_screen(Ask(f"Play from bar (1-{total})", parse, placeholder="e.g. 17"), done)

    def action_regenerate(self) -> None:
        if self._need_score():
            track = self.track if self.query_one("#tabs", TabbedContent).active == "tab-arrangement" else None
            self.run_task("regenerating", self._regenerate, self.section, track)

    def action_regenerate_bars(self) -> None:
        if not self._need_score():
            return
        total = self.plan.total_bars
        track = self.track if self.query_one("#tabs", TabbedContent).active == "tab-arrangement" else None

        def parse(text: str) -> tuple[int, int]:
            parts = text.replace(" ", "").replace("to", "-").split("-")
            try:
                first, last = int(parts[0]), int(parts[-1])
            except ValueError:
                raise ValueError("write a bar range such as 9-12") from None
            if not 1 <= first <= last <= total:
                raise ValueError(f"bars run from 1 to {total}")
            return first, last

        def done(text: str | None) -> None:
            if text:
                self.run_task("regenerating bars", self._regenerate_bars, *parse(text), track)
        self.push_screen(Ask(f"Regenerate bars of the piece (1-{total})" + (f", {track} only" if track else ""),
                             parse, placeholder="e.g. 9-12"), done)

    def action_alternatives(self) -> None:
        if self._need_score():
            track = self.track if self.query_one("#tabs", TabbedContent).active == "tab-arrangement" else None
            self.run_task("writing alternatives", self._alternatives, self.section, track)

    def _take_options(self, section: int, track: str | None) -> list[str]:
        """The current take (A), the kept takes (K1, K2...), then the new alternatives (B, C...), each with
        what it is like."""
        s = self.session
        assert s.score is not None   # alternatives are made from a piece
        return [f"{self._take_name(i)}: {s.describe_take(take, section, track)}"
                for i, take in enumerate([s.score, *s.alternatives])]

    def _take_name(self, index: int) -> str:
        """A (current), K1.. (kept), B.. (new) for an index into [current, *alternatives]."""
        kept = len(self.session.kept)
        if index == 0:
            return "A (current)"
        return f"K{index} (kept)" if index <= kept else chr(65 + index - kept)

    def _pick_alternative(self, section: int, track: str | None) -> None:
        name = self.plan.sections[section].name

        def audition(index: int) -> None:
            stopped = self.stop_playing()
            if stopped:
                self.log_line(stopped)
                return
            if index == 0:
                self.run_task("preparing playback", self._play, "section", section)
            else:
                self.run_task("rendering the take", self._play, "take", section, self.session.alternatives[index - 1])

        def keep(index: int) -> list[str] | None:
            try:
                n = self.session.keep(index - 1, section, track)
            except SessionError as exc:
                self.notify(str(exc), severity="warning")
                return None
            self.log_line(f"kept it as K{len(self.session.kept)}, a variation of {name} ({n} in the project)")
            return self._take_options(section, track)

        def discard(index: int) -> list[str] | None:
            try:
                self.session.discard(index - 1)
            except SessionError as exc:
                self.notify(str(exc), severity="warning")
                return None
            self.log_line(f"discarded a kept take of {name}")
            return self._take_options(section, track)

        def done(index: int | None) -> None:
            self.stop_playing()
            if not index:
                self.log_line("kept the current version (A)")
                return
            picked = self._take_name(index)
            self.session.pick(index - 1)
            self.log_line(f"picked {picked} for {name}")
            self.refresh_views()
        self.push_screen(Picker(f"{name}{' (' + track + ')' if track else ''}: A is the current take; pick one",
                                self._take_options(section, track), keys={"p": audition, "k": keep, "d": discard},
                                hint="p plays the highlighted take (again: stop), k keeps it as a variation to "
                                     "pick later, d discards a kept one; Enter picks, Escape keeps A"), done)

    def _current_track(self) -> str:
        """The selected track of the session's plan (the first when the selection belongs to another plan)."""
        names = [t.name for t in self.plan.tracks]
        return self.track if self.track is not None and self.track in names else names[0]

    def _toggle(self, flag: str) -> None:
        """Mute, solo or lock: saved in the project (undoable, kept when it reopens)."""
        if self._need_plan() and not self._arranging(f"{flag} a track"):
            self.run_task("saving", self._toggle_job, self._current_track(), flag)

    def _toggle_job(self, name: str, flag: str) -> str:
        on = self.session.toggle(name, flag)
        return f"{flag} {name}: {'on' if on else 'off'}"

    def action_mute(self) -> None:
        self._toggle("mute")

    def action_solo(self) -> None:
        self._toggle("solo")

    def action_lock(self) -> None:
        self._toggle("lock")

    def _mix(self, level: float = 0.0, pan: float = 0.0, reverb: float = 0.0) -> None:
        """Nudge the track's level (dB), pan or reverb send; saved in the project, heard in the next render."""
        if not self._need_plan() or self._arranging("change the mix"):
            return
        name = self._current_track()
        track = next(t for t in self.plan.tracks if t.name == name)
        new_level = round(max(-40.0, min(2.0, (track.level or 0.0) + level)), 1)
        new_pan = round(max(-1.0, min(1.0, (track.pan or 0.0) + pan)), 2)
        new_reverb = round(max(0.0, min(1.0, (track.reverb or 0.0) + reverb)), 2)
        self.run_task("saving", self._mix_job, name, new_level if level else None, new_pan if pan else None,
                      new_reverb if reverb else None)

    def _mix_job(self, name: str, level: float | None, pan: float | None, reverb: float | None = None) -> str:
        self.session.set_mix(name, level=level, pan=pan, reverb=reverb)
        track = next(t for t in self.plan.tracks if t.name == name)
        return (f"{name}: level {track.level or 0:+.1f} dB, pan {_pan_text(track.pan or 0.0)}, "
                f"reverb {track.reverb or 0:.0%}")

    def action_level(self, step: float) -> None:
        self._mix(level=step)

    def action_pan(self, step: float) -> None:
        self._mix(pan=step)

    def action_reverb(self, step: float) -> None:
        self._mix(reverb=step)

    def action_instrument(self) -> None:
        if not self._need_plan():
            return
        if self._arranging("change instruments"):
            return
        track = self._current_track()
        drum = next(t.drum for t in self.plan.tracks if t.name == track)
        insts, labels = _instrument_choices(drum)

        def done(index: int | None) -> None:
            if index is not None:
                try:
                    name = self.session.set_instrument(track, insts[index].name)
                    self.track = name
                    self.log_line(f"{track} now plays as {insts[index].name}" +
                                  (f", renamed {name}" if name != track else ""))
                except ValueError as exc:
                    self.notify(str(exc), severity="error")
                self.refresh_views()
        self.push_screen(Picker(f"Instrument for {track}", labels, filter=True), done)

    # The style edits offered by `y`: each is a revision in the words `composer revise` reads.
    STYLE_EDITS = ("make it swing", "straight eighths", "shuffle feel", "lighter swing", "harder swing",
                   *(f"{g} feel" for g in ("jazz", "jazz ballad", "bossa", "blues", "rock", "pop", "funk", "reggae",
                                           "reel", "jig", "classical", "film")),
                   "walking bass", "two-feel bass", "play brushes")

    def action_style(self) -> None:
        if not self._need_plan():
            return
        if self._arranging("change the style"):
            return
        current = self.plan.style_idiom().summary()

        def done(index: int | None) -> None:
            if index is not None and self.run_task("revising", self._revise, self.STYLE_EDITS[index]):
                self.action_show_tab("tab-plan")
        self.push_screen(Picker(f"Style ({current})", list(self.STYLE_EDITS)), done)

    def action_show_tab(self, tab: str) -> None:
        """Switch tabs and focus the tab's main widget (focus is what keeps a tab selected)."""
        self.query_one("#tabs", TabbedContent).active = tab
        self.query_one(self.MAIN[tab]).focus(scroll_visible=False)   # the tab opens at its top

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "leave_input":  # Escape only means something in a text box of the main screen
            return isinstance(self.focused, Input) and self.screen is self.screen_stack[0]
        return True

    def action_focus_revise(self) -> None:
        """Into the revise box (the brief box while there is no piece to revise)."""
        self.query_one("#revise" if self.plan else "#brief", Input).focus()

    def action_leave_input(self) -> None:
        """Out of the text box to the current tab's main widget, so that keys act again."""
        tab = self.query_one("#tabs", TabbedContent).active or "tab-plan"
        self.query_one(self.MAIN[tab]).focus()

    def action_undo(self) -> None:
        if self.busy:
            return
        self._step("undo", self.session.undo)

    def action_redo(self) -> None:
        if self.busy:
            return
        self._step("redo", self.session.redo)

    def _step(self, verb: str, fn) -> None:
        try:
            changed = fn()
        except SessionError as exc:
            self.log_line(f"error: {exc}")
            return
        self.log_line(f"{verb}: " + "; ".join(changed) if changed else f"nothing to {verb}")
        self.refresh_views()

    async def action_quit(self) -> None:
        """Quit; while a task runs, ask first (its work would be thrown away; saved files stay whole)."""
        if not self.busy:
            self.close_transport()
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.action_cancel()
                self.close_transport()
                self.exit()
        self.push_screen(Confirm("A task is running. Cancel it and quit? (files already saved stay whole)"),
                         answered)

    def action_cancel(self) -> None:
        if self.busy:
            self.cancel_event.set()
            for w in self.workers:
                if w.group == "task":
                    w.cancel()
            self.log_line("cancelling...")

    def action_help(self) -> None:
        """The keys as bound now, remapped ones included."""
        self.push_screen(Help(self.help_rows(), "Enter on a bar of the chords table edits its chords."))

    # The palette: every action, with the keys it is bound to now.
    PALETTE = [
        ("Generate", "generate", "Plan and arrange the piece from the brief", "generate", ()),
        ("Regenerate section", "regenerate", "New material for the selected section (or cell)", "regenerate", ()),
        ("Alternatives", "alternatives", "Alternatives for the section (or cell): hear, keep, pick", "alternatives", ()),
        ("Regenerate bars", "regenerate-bars", "New material for a bar range of the piece", "regenerate_bars", ()),
        ("Export", "export", "Write piece.mid and piece.musicxml", "export", ()),
        ("Export PDF", "export-pdf", "Also print the score and its parts to PDF with MuseScore", "export_pdf", ()),
        ("Open the score", "score", "The printed score in the system's PDF viewer", "score", ()),
        ("Import", "import", "A MIDI or MusicXML file as the piece, its plan read from the notes", "import_file", ()),
        ("Render", "render", "Render mix and stems with fluidsynth", "render", ()),
        ("Play", "play", "Play (or stop) the section, the mix from Render, the roll from its cursor", "play", ()),
        ("Play from bar", "play-from", "Play the mix from a bar", "play_from", ()),
        ("Undo", "undo", "Undo the last edit", "undo", ()),
        ("Redo", "redo", "Redo the last undone edit", "redo", ()),
        ("Mute track", "mute", "Mute the selected track", "mute", ()),
        ("Solo track", "solo", "Solo the selected track", "solo", ()),
        ("Lock track", "lock", "Lock the selected track against regeneration", "lock", ()),
        ("Level up", "level-up", "The selected track 1 dB louder", "level", (1,)),
        ("Level down", "level-down", "The selected track 1 dB softer", "level", (-1,)),
        ("Pan left", "pan-left", "Pan the selected track left", "pan", (-0.1,)),
        ("Pan right", "pan-right", "Pan the selected track right", "pan", (0.1,)),
        ("More reverb", "reverb-up", "More reverb on the selected track", "reverb", (0.1,)),
        ("Less reverb", "reverb-down", "Less reverb on the selected track", "reverb", (-0.1,)),
        ("Change instrument", "instrument", "Pick another instrument for the selected track", "instrument", ()),
        ("Change style", "style", "A genre's groove, the feel, the swing", "style", ()),
        ("Revise", "focus-revise", "Type a revision in words", "focus_revise", ()),
        ("Cancel", "cancel", "Cancel the running task", "cancel", ()),
        ("Help", "help", "The keys, as bound now", "help", ()),
    ]

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        for title, binding, help_, action, args in self.PALETTE:
            keys = " ".join(self.keys_for(binding))
            fn = getattr(self, f"action_{action}")
            yield SystemCommand(title, f"{help_}{f'  [{keys}]' if keys else ''}",
                                (lambda fn=fn, args=args: fn(*args)))


def _key_text(key: str) -> str:
    """A Textual key as a person writes it: 'ctrl+g', '?', 'f5'."""
    *mods, last = key.split("+")
    shown = format_key(last)
    if not (shown.isascii() and shown.isprintable()):
        shown = last
    return "+".join([*mods, shown])


def keys_markdown(rows: list[tuple[str, str]]) -> str:
    """The help screen's rows as the README's table of keys."""
    cell = [f"`{k}`" if " " not in k or len(k) < 2 else " ".join(f"`{x}`" for x in k.split()) for k, _ in rows]
    return "\n".join(["| key | action |", "| --- | --- |",
                      *(f"| {c} | {what.replace('|', '/')} |" for c, (_, what) in zip(cell, rows))])


def run_app(folder: str | None = None, soundfont: str | None = None) -> None:
    app = ComposerApp(folder, soundfont)
    try:
        app.run()
    finally:
        app.close_transport()
        app.session.close()


__all__ = ["ComposerApp", "keys_markdown", "run_app"]
