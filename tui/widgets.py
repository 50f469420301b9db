"""Widgets of the composer app: piano roll, chord editor, alternatives picker, instrument picker, help."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import DataTable, Input, Label, OptionList, Static

from symbolic.harmony import FLAT_NAMES, SHARP_NAMES, Key, spell_degree


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


class PianoRoll(Static):
    """Notes of one track in one section as a text grid: a row per pitch, a column per 16th."""

    DEFAULT_CSS = """
    PianoRoll { width: auto; height: auto; }
    """

    def show(self, notes, start: int, end: int, bar_starts: list[int], title: str, drum: bool = False,
             key: Key | None = None) -> None:
        """Draw the notes; pitch names are spelled in `key` (the key at that point of the piece)."""
        step = 120  # a 16th at PPQ 480
        cols = max(1, (end - start) // step)
        if not notes:
            self.update(Text(f"{title}\n(no notes)"))
            return
        lo = min(n.pitch for n in notes)
        hi = max(n.pitch for n in notes)
        rows = {p: [" "] * cols for p in range(lo, hi + 1)}
        bars = {(b - start) // step for b in bar_starts if start <= b < end}
        for p in rows:
            for c in bars:
                if c < cols:
                    rows[p][c] = "│"
        for n in notes:
            c0 = max(0, (n.start - start) // step)
            c1 = min(cols, max(c0 + 1, (n.end - start + step - 1) // step))
            row = rows[n.pitch]
            row[c0] = "█" if drum else "▐"
            for c in range(c0 + 1, c1):
                row[c] = "█" if not drum else row[c]
        out = Text(title + "\n", style="bold")
        for p in range(hi, lo - 1, -1):
            label = f"{p:3d}" if drum else pitch_name(p, key).ljust(4)
            out.append(label.rjust(4) + " ", style="dim")
            out.append("".join(rows[p]) + "\n", style="cyan" if p % 12 not in (1, 3, 6, 8, 10) else "blue")
        self.update(out)


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
    Picker > Vertical { width: 64; height: auto; max-height: 20; border: round $accent; padding: 1 2; background: $surface; }
    Picker OptionList { height: auto; max-height: 14; }
    """

    def __init__(self, title: str, options: list[str]):
        super().__init__()
        self.title_text, self.options = title, options

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield OptionList(*self.options, id="picker-options")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option_index)

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
