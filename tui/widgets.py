"""Widgets of the composer app: piano roll, chord editor, alternatives picker, instrument picker, help."""
from __future__ import annotations

import bisect
from collections.abc import Callable

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import DataTable, Input, Label, OptionList

from symbolic.harmony import FLAT_NAMES, SHARP_NAMES, Key, spell_degree
from symbolic.instruments import GM_DRUM_NAMES
from symbolic.score import Note


def pitch_name(pitch: int, key: Key | None = None) -> str:
    """'Bb4' for MIDI 70 in B-flat major, 'A#4' in E major: the notes of the key's scale (with the raised 7th
    in minor) by their scale letter (C# in D minor), the others with flats in flat keys and sharps otherwise."""
    pc = pitch % 12
    if key is None:
        name = SHARP_NAMES[pc]
    elif pc in key.scale_pcs:
        name = spell_degree(pc - key.tonic, key)
    else:
        name = (FLAT_NAMES if key.uses_flats else SHARP_NAMES)[pc]
    accidental = name[1:].count("#") - name[1:].count("b")  # Cb4 is MIDI 59, B#3 is MIDI 60
    return f"{name}{(pitch - accidental) // 12 - 1}"


STEP = 120       # a roll column: a 16th at PPQ 480
LABEL = 11       # width of the row labels


class PianoRoll(Widget, can_focus=True):
    """One track in one section, editable: a row per pitch (per drum sound, named), a column per 16th, bar
    numbers and the plan's chord symbols above. The cursor moves by 16th and semitone; notes are added,
    selected, deleted, moved, lengthened and made louder or softer here, and each edit is posted as
    Edited(notes) for the app to save as one undoable step. Long sections scroll with the cursor."""

    BINDINGS = [
        Binding("left", "move(-1, 0)", "Earlier", show=False), Binding("right", "move(1, 0)", "Later", show=False),
        Binding("up", "move(0, 1)", "Higher", show=False), Binding("down", "move(0, -1)", "Lower", show=False),
        Binding("home", "bar(-1)", "Previous bar", show=False), Binding("end", "bar(1)", "Next bar", show=False),
        Binding("pageup", "move(0, 12)", "Octave up", show=False),
        Binding("pagedown", "move(0, -12)", "Octave down", show=False),
        Binding("space", "select", "Select note", show=False),
        Binding("enter", "add", "Add note", show=False),
        Binding("delete,backspace", "delete", "Delete notes", show=False),
        Binding("shift+left", "shift(-1, 0)", "Move notes earlier", show=False),
        Binding("shift+right", "shift(1, 0)", "Move notes later", show=False),
        Binding("shift+up", "shift(0, 1)", "Move notes up", show=False),
        Binding("shift+down", "shift(0, -1)", "Move notes down", show=False),
        Binding("plus,equals_sign", "length(1)", "Longer", show=False),
        Binding("minus", "length(-1)", "Shorter", show=False),
        Binding("greater_than_sign", "velocity(10)", "Louder", show=False),
        Binding("less_than_sign", "velocity(-10)", "Softer", show=False),
        Binding("b", "regenerate", "Regenerate these bars", show=False),
    ]
    DEFAULT_CSS = """
    PianoRoll { width: 1fr; height: auto; min-height: 8; }
    PianoRoll:focus { background: $boost; }
    """

    class Edited(Message):
        """The notes of the shown track and section after an edit (the whole section's notes)."""

        def __init__(self, notes: list[Note], what: str) -> None:
            super().__init__()
            self.notes, self.what = notes, what

    class RegenerateBars(Message):
        """New material asked for the bars from `first` to `last` (0-based bars of the piece)."""

        def __init__(self, first: int, last: int) -> None:
            super().__init__()
            self.first, self.last = first, last

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.message = ""            # shown instead of a roll (no piece yet, arranging)
        self.notes: list[Note] = []
        self.start = self.end = 0
        self.bar_starts: list[int] = []
        self.first_bar = 0           # the piece's bar index of the section's first bar
        self.chords: list[tuple[int, str]] = []
        self.title = ""
        self.drum = False
        self.key: Key | None = None
        self.locked = False
        self.cursor = (0, 60)        # (tick, pitch)
        self.view = 0                # first column shown
        self.selected: set[int] = set()   # indices into notes
        self.ident: tuple = ()
        self.memory: dict[tuple, tuple] = {}   # ident -> (cursor, view, selected (start, pitch)) left behind
        self.playhead: int | None = None       # the tick now playing, when the transport plays
        self.span: tuple[int, int, int, int] | None = None   # comfortable low, high; extreme lowest, highest

    # --- what is shown --------------------------------------------------------------------------

    def update(self, message: str) -> None:  # type: ignore[override]
        self.message, self.ident = message, ()
        self.refresh(layout=True)

    def show(self, notes, start: int, end: int, bar_starts: list[int], title: str, drum: bool = False,
             key: Key | None = None, chords: list[tuple[int, str]] | None = None, first_bar: int = 0,
             locked: bool = False, span: tuple[int, int, int, int] | None = None) -> None:
        """Show a track's notes in [start, end); the cursor and view stay where they were when the same
        track and section come back (after an edit, an undo, a render). `span` is the instrument's comfortable
        and extreme range (low, high, lowest, highest): rows beyond the first are marked, beyond the second
        no note goes."""
        self.span = span
        ident = (title.split(" (")[0], start, end)
        same = ident == self.ident
        if not same and self.ident:   # where the user was in each track and section, for coming back
            self.memory[self.ident] = (self.cursor, self.view, {(self.notes[i].start, self.notes[i].pitch)
                                                                for i in self.selected if i < len(self.notes)})
        self.message, self.ident = "", ident
        self.notes = sorted(notes, key=lambda n: (n.start, n.pitch))
        self.start, self.end, self.title, self.drum, self.key = start, end, title, drum, key
        self.bar_starts = [b for b in bar_starts if start <= b < end]
        self.first_bar, self.chords, self.locked = first_bar, chords or [], locked
        if not same and ident in self.memory:
            self.cursor, self.view, chosen = self.memory.pop(ident)
            self.selected = {i for i, n in enumerate(self.notes) if (n.start, n.pitch) in chosen}
        elif not same:
            self.selected = set()
            pitch = self.notes[0].pitch if self.notes else (38 if drum else 60)
            self.cursor, self.view = (start, pitch), 0
        else:
            self.selected = {i for i in self.selected if i < len(self.notes)}
        self.refresh(layout=True)

    def set_playhead(self, tick: int | None) -> None:
        """Mark the column now playing (None: nothing plays); redrawn only when the column changes."""
        column = None if tick is None else (tick - self.start) // STEP
        if column != (None if self.playhead is None else (self.playhead - self.start) // STEP):
            self.refresh()
        self.playhead = tick

    def _rows(self) -> list[int]:
        """Pitches shown, high to low: the notes' range and the cursor with some room (drums: the sounds used)."""
        pitches = {n.pitch for n in self.notes} | {self.cursor[1]}
        if self.drum:
            return sorted(pitches | {36, 38, 42}, reverse=True)
        lo, hi = min(pitches) - 2, max(pitches) + 2
        if hi - lo < 12:
            lo, hi = lo - (12 - (hi - lo)) // 2, lo - (12 - (hi - lo)) // 2 + 12
        return list(range(min(127, hi), max(0, lo) - 1, -1))

    def _label(self, pitch: int) -> str:
        if self.drum:
            return GM_DRUM_NAMES.get(pitch, str(pitch))[:LABEL - 1]
        return pitch_name(pitch, self.key)

    def _row_style(self, pitch: int) -> str:
        """A row label: dim inside the comfortable range, yellow beyond it, red beyond the extreme one."""
        if self.span is None or self.span[0] <= pitch <= self.span[1]:
            return "dim"
        return "yellow" if self.span[2] <= pitch <= self.span[3] else "red"

    def _playable(self, pitches: list[int]) -> bool:
        """Whether every pitch is one the instrument has; says which is not."""
        if self.span is None:
            return True
        bad = [q for q in pitches if not self.span[2] <= q <= self.span[3]]
        if bad:
            self.app.notify(f"{self._label(bad[0])} is outside what the instrument can play "
                            f"({self._label(self.span[2])}-{self._label(self.span[3])})", severity="warning")
        return not bad

    def get_content_height(self, container, viewport, width: int) -> int:
        return 1 if self.message else len(self._rows()) + 3

    def render(self) -> Text:
        if self.message:
            return Text(self.message)
        width = max(8, self.size.width - LABEL)
        cols = max(1, (self.end - self.start) // STEP)
        cur_col = (self.cursor[0] - self.start) // STEP
        if cur_col < self.view:
            self.view = cur_col
        elif cur_col >= self.view + width:
            self.view = cur_col - width + 1
        shown = range(self.view, min(cols, self.view + width))
        bars = {(b - self.start) // STEP: self.first_bar + i + 1 for i, b in enumerate(self.bar_starts)}
        out = Text()
        state = " (locked)" if self.locked else ""
        rng = "" if self.span is None else \
            f"  range {self._label(self.span[0])}-{self._label(self.span[1])}"
        out.append(f"{self.title}{state}  bar {self.bar_of(self.cursor[0]) + 1}, {self._label(self.cursor[1])}{rng}\n",
                   style="bold")
        line = [" "] * len(shown)
        for c, number in bars.items():
            if c in shown:
                for j, ch in enumerate(str(number)):
                    if c - self.view + j < len(line):
                        line[c - self.view + j] = ch
        head = -1 if self.playhead is None or not self.start <= self.playhead < self.end else \
            (self.playhead - self.start) // STEP
        if head in shown:
            line[head - self.view] = "▼"
        out.append(" " * LABEL + "".join(line) + "\n", style="dim")
        line = [" "] * len(shown)
        for tick, symbol in self.chords:
            c = (tick - self.start) // STEP - self.view
            if 0 <= c < len(line):
                for j, ch in enumerate(symbol):
                    if c + j < len(line):
                        line[c + j] = ch
        out.append(" " * LABEL + "".join(line) + "\n", style="green")
        cells: dict[tuple[int, int], tuple[str, int]] = {}
        for i, n in enumerate(self.notes):
            c0 = (n.start - self.start) // STEP
            c1 = max(c0 + 1, -(-(n.end - self.start) // STEP))
            for c in range(c0, c1 if not self.drum else c0 + 1):
                cells[(n.pitch, c)] = ("▐" if c == c0 else "█", i)
        for p in self._rows():
            out.append(self._label(p).ljust(LABEL)[:LABEL], style=self._row_style(p))
            black = not self.drum and p % 12 in (1, 3, 6, 8, 10)
            for c in shown:
                ch, i = cells.get((p, c), ("│" if c in bars else "·" if c % 4 == 0 else " ", -1))
                style = "blue" if black else "cyan"
                if i >= 0:
                    style = "bold yellow" if i in self.selected else style
                if c == head:
                    style += " on dark_red"
                if (p, c) == (self.cursor[1], cur_col) and self.has_focus:
                    style += " reverse"
                out.append(ch, style=style)
            out.append("\n")
        return out

    # --- editing ------------------------------------------------------------------------------

    def bar_of(self, tick: int) -> int:
        return max(0, bisect.bisect_right(self.bar_starts, tick) - 1) + self.first_bar

    def _under_cursor(self) -> int | None:
        t, p = self.cursor
        return next((i for i, n in enumerate(self.notes) if n.pitch == p and n.start <= t < max(n.end, n.start + STEP)),
                    None)

    def _targets(self) -> list[int]:
        if self.selected:
            return sorted(self.selected)
        i = self._under_cursor()
        return [] if i is None else [i]

    def _edit(self, notes: list[Note], what: str, selected: set[int] | None = None) -> None:
        if self.locked:
            self.app.notify("The track is locked: unlock it (l) to edit its notes", severity="warning")
            return
        keep = [(n.start, n.pitch) for i, n in enumerate(notes) if selected and i in selected]
        self.notes = sorted(notes, key=lambda n: (n.start, n.pitch))
        self.selected = {i for i, n in enumerate(self.notes) if (n.start, n.pitch) in keep}
        self.refresh(layout=True)
        self.post_message(self.Edited(list(self.notes), what))

    def action_move(self, dt: int, dp: int) -> None:
        if self.message:
            return
        t, p = self.cursor
        if self.drum and dp:
            rows = self._rows()
            j = rows.index(p) - (1 if dp > 0 else -1) * (1 if abs(dp) == 1 else 4)
            p = rows[max(0, min(len(rows) - 1, j))] if 0 <= j < len(rows) else max(27, min(87, p + dp))
        else:
            p = max(0, min(127, p + dp))
        t = max(self.start, min(self.end - STEP, t + dt * STEP))
        self.cursor = (t, p)
        self.refresh(layout=True)

    def action_bar(self, direction: int) -> None:
        starts = [*self.bar_starts, self.end]
        t = self.cursor[0]
        if direction < 0:
            t = max((b for b in starts if b < t), default=self.start)
        else:
            t = min((b for b in starts if b > t), default=self.end)
        self.cursor = (max(self.start, min(self.end - STEP, t)), self.cursor[1])
        self.refresh()

    def action_select(self) -> None:
        i = self._under_cursor()
        if i is not None:
            self.selected ^= {i}
            self.refresh()

    def action_add(self) -> None:
        if self.message:
            return
        i = self._under_cursor()
        if i is not None:
            self.action_select()
            return
        t, p = self.cursor
        if not self._playable([p]):
            return
        length = STEP if self.drum else 4 * STEP
        nxt = min((n.start for n in self.notes if n.pitch == p and n.start > t), default=self.end)
        note = Note(t, min(t + length, nxt, self.end), p, 90 if self.drum else 80)
        self._edit([*self.notes, note], f"add {self._label(p)}")

    def action_delete(self) -> None:
        gone = set(self._targets())
        if gone:
            self._edit([n for i, n in enumerate(self.notes) if i not in gone], f"delete {len(gone)} note(s)")

    def action_shift(self, dt: int, dp: int) -> None:
        idx = self._targets()
        if not idx:
            return
        moved = []
        for i, n in enumerate(self.notes):
            if i in idx:
                s, e = n.start + dt * STEP, n.end + dt * STEP
                if s < self.start or s >= self.end or not 0 <= n.pitch + dp <= 127:
                    return   # would leave the section or the keyboard: nothing moves
                n = Note(s, e, n.pitch + dp, n.velocity)
            moved.append(n)
        if dp and not self._playable([moved[i].pitch for i in idx]):
            return
        self.cursor = (max(self.start, min(self.end - STEP, self.cursor[0] + dt * STEP)),
                       max(0, min(127, self.cursor[1] + dp)))
        self._edit(moved, "move notes", set(idx))

    def action_length(self, steps: int) -> None:
        idx = self._targets()
        if idx and not self.drum:
            notes = [Note(n.start, max(n.start + STEP, n.end + steps * STEP), n.pitch, n.velocity) if i in idx else n
                     for i, n in enumerate(self.notes)]
            self._edit(notes, "longer notes" if steps > 0 else "shorter notes", set(idx))

    def action_velocity(self, delta: int) -> None:
        idx = self._targets()
        if idx:
            notes = [Note(n.start, n.end, n.pitch, max(1, min(127, n.velocity + delta))) if i in idx else n
                     for i, n in enumerate(self.notes)]
            self._edit(notes, "louder" if delta > 0 else "softer", set(idx))

    def action_regenerate(self) -> None:
        ticks = [self.notes[i].start for i in self.selected] or [self.cursor[0]]
        self.post_message(self.RegenerateBars(self.bar_of(min(ticks)), self.bar_of(max(ticks))))


class BarValidator(Validator):
    def __init__(self, check):
        super().__init__()
        self.check = check

    def validate(self, value: str) -> ValidationResult:
        try:
            self.check(value)
        except ValueError as exc:
            return self.failure(str(exc))
        return self.success()


class Picker(ModalScreen[int | None]):
    """Choose one of several options (alternatives A/B/C..., instruments)."""

    BINDINGS = [Binding("escape", "cancel", "Keep the current one", id="cancel-pick")]
    DEFAULT_CSS = """
    Picker { align: center middle; }
    Picker > Vertical { width: 80; max-width: 95%; height: auto; max-height: 24; border: round $accent; padding: 1 2;
                        background: $surface; }
    Picker OptionList { height: auto; max-height: 14; }
    Picker #picker-hint { width: 100%; color: $text-muted; }
    """

    def __init__(self, title: str, options: list[str], filter: bool = False,
                 keys: dict[str, Callable[[int], list[str] | None]] | None = None, hint: str = ""):
        """keys: a key -> what it does to the highlighted option (its index), returning the options as they
        are after it (None: unchanged); the picker stays open. hint says what those keys do."""
        super().__init__()
        self.title_text, self.options, self.filter, self.keys, self.hint = title, options, filter, keys or {}, hint
        self.shown = list(range(len(options)))   # indices into options, as listed now

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            if self.filter:
                yield Input(placeholder="type to filter", id="picker-filter")
            yield OptionList(*self.options, id="picker-options")
            if self.hint:
                yield Label(self.hint, id="picker-hint")

    def on_key(self, event: events.Key) -> None:
        """The picker's own keys act on the highlighted option (not while typing a filter)."""
        fn = self.keys.get(event.key)
        if fn is None or isinstance(self.focused, Input):
            return
        event.stop()
        event.prevent_default()
        options = self.query_one("#picker-options", OptionList)
        at = options.highlighted
        if at is None or not self.shown:
            return
        changed = fn(self.shown[at])
        if changed is not None:
            self.options, self.shown = changed, list(range(len(changed)))
            options.clear_options()
            options.add_options(changed)
            options.highlighted = min(at, len(changed) - 1)

    def on_input_changed(self, event: Input.Changed) -> None:
        """Keep the options whose text holds every typed word."""
        words = event.value.lower().split()
        self.shown = [i for i, o in enumerate(self.options) if all(w in o.lower() for w in words)]
        options = self.query_one("#picker-options", OptionList)
        options.clear_options()
        options.add_options([self.options[i] for i in self.shown])
        if self.shown:
            options.highlighted = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.shown:
            self.dismiss(self.shown[self.query_one("#picker-options", OptionList).highlighted or 0])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.shown[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


class Ask(ModalScreen[str | None]):
    """One line of input, validated (live, or on Enter); Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-ask")]
    DEFAULT_CSS = """
    Ask { align: center middle; }
    Ask > Vertical { width: 60; height: auto; border: round $accent; padding: 1 2; background: $surface; }
    Ask #ask-error { color: $error; height: auto; }
    """

    def __init__(self, title: str, check, value: str = "", placeholder: str = "", hint: str = "", live: bool = False):
        super().__init__()
        self.title_text, self.check, self.value = title, check, value
        self.placeholder, self.hint, self.live = placeholder, hint, live

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            if self.hint:
                yield Label(self.hint, classes="dim")
            yield Input(self.value, placeholder=self.placeholder, id="ask-input",
                        validators=[BarValidator(self.check)],
                        validate_on=["changed", "submitted"] if self.live else ["submitted"])
            yield Label("", id="ask-error")

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.live:
            result = event.validation_result
            self.query_one("#ask-error", Label).update("" if result is None or result.is_valid
                                                       else result.failure_descriptions[0])

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.validation_result is None or event.validation_result.is_valid:
            self.dismiss(event.value)
        else:
            self.query_one("#ask-error", Label).update(event.validation_result.failure_descriptions[0])

    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    """A yes/no question before something that cannot be taken back in one key: y or Enter says yes,
    n or Escape says no."""

    BINDINGS = [Binding("y,enter", "answer(True)", "Yes", id="confirm-yes"),
                Binding("n,escape", "answer(False)", "No", id="confirm-no")]
    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical { width: 64; height: auto; border: round $warning; padding: 1 2; background: $surface; }
    """

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, id="confirm-question")
            yield Label("y / Enter: yes    n / Esc: no", classes="dim")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ChordEditor(Ask):
    """Edit one bar's chords as symbols or Roman numerals, validated as you type."""

    def __init__(self, title: str, value: str, check):
        super().__init__(title, check, value=value, live=True,
                         hint="Chord symbols (Dm:2 A7) or Roman numerals (ii7 V7); beats after a colon")


class Help(ModalScreen[None]):
    """The keys as they are bound now (after the config file's remapping)."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="close-help")]
    DEFAULT_CSS = """
    Help { align: center middle; }
    Help > Vertical { width: auto; max-width: 100%; height: auto; max-height: 100%; border: round $accent;
                      padding: 0 1; background: $surface; }
    Help DataTable { width: auto; height: auto; max-height: 16; }
    """

    def __init__(self, rows: list[tuple[str, str]], notes: str = ""):
        super().__init__()
        self.rows, self.notes = rows, notes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Keys (esc closes)")
            yield DataTable(id="help-keys", cursor_type="none", show_header=False, zebra_stripes=True)
            if self.notes:
                yield Label(self.notes, id="help-notes")

    def on_mount(self) -> None:
        table = self.query_one("#help-keys", DataTable)
        table.add_columns("key", "action")
        for row in self.rows:
            table.add_row(*row)

    def text(self) -> str:
        """The help as plain text, one key and its action a line."""
        return "\n".join(f"{k}  {a}" for k, a in self.rows) + ("\n" + self.notes if self.notes else "")

    def action_close(self) -> None:
        self.dismiss(None)
