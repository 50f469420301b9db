"""The Plan: the contract between planners, arrangers, the TUI and hand-written JSON files.

One pydantic model, validated at every boundary. Chord durations are in beats of
the meter (eighths in 6/8, quarters in 3/4); tempo is in quarter notes per minute,
as in MIDI.
"""
from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from symbolic import style as styles
from symbolic.grid import compound_meter
from symbolic.harmony import HarmonyError, Key, parse_chord, parse_key
from symbolic.instruments import INSTRUMENTS, PERCUSSION
from symbolic.score import (
    MAX_BPM,
    MAX_METER,
    MAX_SECONDS,
    MAX_TRACKS,
    METER_DENOMINATORS,
    MIN_BPM,
    PPQ,
    Bar,
    ChordSpan,
    PartSpec,
    Sheet,
    SheetBar,
    SheetSection,
)

MAX_SECTIONS = 64
MAX_SECTION_BARS = 512
MAX_BARS = 4096
# The arrangers write on a 16th-note grid, so a plan stops at sixteenths (a Score may hold /32 from MIDI).
PLAN_DENOMINATORS = tuple(d for d in METER_DENOMINATORS if d <= 16)
# A plan is at most a few MB of text (4096 bars, four chords a bar, indented: about 2 MB) and nests six
# deep (plan > sections > section > chords > bar > chord); anything past these caps is refused before
# json.loads, which would take GBs on a huge file and overflow the stack on deep nesting.
MAX_PLAN_CHARS = 4 * 1024 * 1024
MAX_JSON_DEPTH = 32
ROLES = ("melody", "counter-melody", "chords", "pad", "arpeggio", "bass", "drums")
Role = Literal["melody", "counter-melody", "chords", "pad", "arpeggio", "bass", "drums"]
_METER_RE = re.compile(r"^\s*(\d{1,9})\s*/\s*(\d{1,9})\s*$")


class PlanError(ValueError):
    """A plan that breaks the contract; the message names where."""


def parse_meter(text: str) -> tuple[int, int]:
    m = _METER_RE.match(text)
    if not m:
        raise PlanError(f"meter {text!r} is not of the form N/D, e.g. 3/4")
    num, den = int(m.group(1)), int(m.group(2))
    check_meter(num, den, repr(text))
    return num, den


def check_meter(num: int, den: int, shown: str | None = None) -> None:
    """PlanError unless num/den is a meter a plan can hold; the message names it and the range."""
    if den not in PLAN_DENOMINATORS or not (1 <= num <= MAX_METER):
        dens = ", ".join(map(str, PLAN_DENOMINATORS[:-1])) + f" or {PLAN_DENOMINATORS[-1]}"
        raise PlanError(f"meter {shown or f'{num}/{den}'} is not supported (numerator 1-{MAX_METER}, denominator {dens})")


# C0 and C1 controls (NUL, ESC, CR, ...), lone surrogates and U+FFFE/U+FFFF: names reach terminals (ESC
# starts an escape sequence), XML (where most controls are illegal) and UTF-8 files (a lone surrogate
# cannot be written). Free text (style, description) may hold tabs and line breaks.
_NAME_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_TEXT_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _plain(value: str, pattern: re.Pattern = _NAME_CONTROL) -> str:
    m = pattern.search(value) if isinstance(value, str) else None
    if m:
        raise ValueError(f"contains the control character U+{ord(m.group()):04X} at position {m.start() + 1}; "
                         f"use plain text")
    return value


def _sound(name: str) -> str:
    """How General MIDI plays a named instrument it lacks (", as a steel-string guitar"), or ''."""
    inst = INSTRUMENTS.get(re.sub(r"\s+[IVX]+$", "", name).lower())
    return f", as {inst.sound}" if inst is not None and inst.sound else ""


def _one_of(names: tuple[str, ...]) -> dict:
    return {"enum": list(names)}


class Track(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    role: Role
    program: int = Field(ge=0, le=127, description="General MIDI program 0-127 (ignored for drums)")
    drum: bool = False
    kit: str | None = Field(default=None, description="a drum track's instrument when it is not a drum set",
                            json_schema_extra=_one_of(tuple(PERCUSSION)))
    # The mixer (absent: as arranged, centre, playing, unlocked).
    level: float | None = Field(default=None, ge=-40, le=2, description="mixer level in dB (0: as arranged)")
    pan: float | None = Field(default=None, ge=-1, le=1, description="pan, -1 left to 1 right")
    reverb: float | None = Field(default=None, ge=0, le=1,
                                 description="reverb send, 0 to 1 (absent: the SoundFont's own amount)")
    mute: bool | None = Field(default=None, description="left out of the mix")
    solo: bool | None = Field(default=None, description="only soloed tracks are heard when any is")
    lock: bool | None = Field(default=None, description="kept as it is when the piece is regenerated")

    @property
    def volume(self) -> int:
        """The level as MIDI channel volume (CC7): 100 at 0 dB, General MIDI's 40 log10 curve."""
        return max(0, min(127, round(100 * 10 ** ((self.level or 0.0) / 40))))

    @property
    def pan_cc(self) -> int:
        """The pan as MIDI CC10: 0 left, 64 centre, 127 right."""
        return max(0, min(127, round(64 + 63.5 * (self.pan or 0.0))))

    @property
    def reverb_cc(self) -> int:
        """The reverb send as MIDI CC91, 0 to 127."""
        return max(0, min(127, round(127 * (self.reverb or 0.0))))

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value):
        return _plain(value)

    @model_validator(mode="after")
    def _drums(self) -> "Track":
        if self.role == "drums":
            self.drum = True
        if self.drum and self.role != "drums":
            raise ValueError(f"track {self.name!r} is a drum track but has role {self.role!r}")
        if self.kit is not None and (not self.drum or self.kit not in PERCUSSION):
            raise ValueError(f"track {self.name!r}: kit {self.kit!r} is not a percussion instrument of a drum track "
                             f"(choose from {', '.join(PERCUSSION)})")
        return self


class ChordEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: str = Field(min_length=1, max_length=24)
    beats: float = Field(gt=0, le=64)

    @field_validator("symbol")
    @classmethod
    def _plain_symbol(cls, value):
        return _plain(value)


def _parse_bar_text(text: str) -> list[dict]:
    """'Dm:2 A7' -> [{'symbol': 'Dm', 'beats': 2}, {'symbol': 'A7', 'beats': None}]."""
    out = []
    for tok in text.split():
        sym, _, beats = tok.partition(":")
        out.append({"symbol": sym, "beats": float(beats) if beats else None})
    return out


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1, max_length=16, description="repeat label such as A, A', B")
    bars: int = Field(ge=1, le=MAX_SECTION_BARS)
    chords: list[list[ChordEntry]] = Field(description="one list of chords per bar")
    key: str | None = None
    tempo: float | None = Field(default=None, ge=MIN_BPM, le=MAX_BPM)
    meter: str | None = None
    energy: int = Field(default=3, ge=1, le=5)
    description: str = Field(default="", max_length=500)

    @field_validator("name", "label", "key", "meter")
    @classmethod
    def _plain_names(cls, value):
        return _plain(value)

    @field_validator("description")
    @classmethod
    def _plain_text(cls, value):
        return _plain(value, _TEXT_CONTROL)

    @field_validator("chords", mode="before")
    @classmethod
    def _chord_text(cls, value):
        # Accept compact bars such as "Dm:2 Gm:1" or ["Dm", "A7"]; beats default to an equal split later.
        if not isinstance(value, list):
            return value
        bars = []
        for bar in value:
            if isinstance(bar, str):
                bar = _parse_bar_text(bar)
            elif isinstance(bar, list):
                bar = [_parse_bar_text(c)[0] if isinstance(c, str) and c.strip() else c for c in bar]
            bars.append(bar)
        return _fill_beats(bars)


def _fill_beats(bars: list) -> list:
    # Missing beats are filled in Plan validation where the meter is known; mark them 0 here.
    for bar in bars:
        if isinstance(bar, list):
            for c in bar:
                if isinstance(c, dict) and c.get("beats") is None:
                    c["beats"] = 1e-9  # placeholder, replaced by an equal split of the bar
    return bars


class Idiom(BaseModel):
    """The style as data: what the arrangers play and how the performance swings (symbolic.style)."""
    model_config = ConfigDict(extra="forbid")
    genre: str = Field(description="the genre whose definition this starts from",
                       json_schema_extra=_one_of(tuple(styles.GENRES)))
    feel: str = Field(default="straight", description="straight, swing, shuffle or compound",
                      json_schema_extra=_one_of(styles.FEELS))
    swing: float = Field(default=styles.STRAIGHT, ge=styles.STRAIGHT, le=styles.MAX_SWING,
                         description="long:short ratio of paired eighths when swung (2 = triplet swing)")
    drums: str = Field(default="backbeat", description="the drums' groove", json_schema_extra=_one_of(styles.GROOVES))
    bass: str = Field(default="pop", description="the bass idiom", json_schema_extra=_one_of(styles.BASS_IDIOMS))
    comping: str = Field(default="pop", description="how the chord instruments comp",
                         json_schema_extra=_one_of(styles.COMPING))

    @model_validator(mode="after")
    def _known(self) -> "Idiom":
        self.genre = styles.ALIASES.get(self.genre, self.genre)
        if self.genre not in styles.GENRES:
            raise ValueError(f"unknown genre {self.genre!r}; choose from {', '.join(styles.GENRES)}")
        if self.feel in ("straight", "compound"):
            self.swing = styles.STRAIGHT
        self.to_style()  # names each unknown feel, groove or idiom
        return self

    def to_style(self) -> styles.Idiom:
        return styles.Idiom(self.genre, self.feel, self.swing, self.drums, self.bass, self.comping)

    @classmethod
    def of(cls, idiom: styles.Idiom) -> "Idiom":
        return cls(genre=idiom.genre, feel=idiom.feel, swing=idiom.swing, drums=idiom.drums, bass=idiom.bass,
                   comping=idiom.comping)


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(default="Untitled", max_length=120)
    key: str = Field(description="e.g. 'D minor', 'Bb major'")
    meter: str = Field(default="4/4", description="e.g. '3/4', '6/8'")
    tempo: float = Field(ge=MIN_BPM, le=MAX_BPM, description="quarter notes per minute")
    style: str = Field(default="", max_length=500)
    idiom: Idiom | None = Field(default=None, description="the style as data; read from `style` when absent")
    tracks: list[Track] = Field(min_length=1, max_length=MAX_TRACKS)
    sections: list[Section] = Field(min_length=1, max_length=MAX_SECTIONS)

    @field_validator("title", "key", "meter")
    @classmethod
    def _plain_names(cls, value):
        return _plain(value)

    @field_validator("style")
    @classmethod
    def _plain_text(cls, value):
        return _plain(value, _TEXT_CONTROL)

    @model_validator(mode="after")
    def _check(self) -> "Plan":
        _check_key(self.key, "plan")
        if self.idiom is None:
            self.idiom = Idiom.of(styles.idiom_for(self.style, self.tempo))
        elif self.idiom.feel in ("swing", "shuffle") and self.idiom.swing == styles.STRAIGHT:
            self.idiom.swing = styles.swing_for_tempo(self.tempo, self.idiom.feel)
        meter = parse_meter(self.meter)
        names = [t.name for t in self.tracks]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise PlanError(f"track name {sorted(dup)[0]!r} is used twice")
        total_bars = 0
        for si, sec in enumerate(self.sections):
            where = f"section {si + 1} {sec.name!r}"
            if sec.key is not None:
                _check_key(sec.key, where)
            if sec.meter is not None:
                meter = parse_meter(sec.meter)
            if len(sec.chords) != sec.bars:
                raise PlanError(f"{where}: has {sec.bars} bars but chords for {len(sec.chords)} bars")
            for bi, bar in enumerate(sec.chords):
                if not bar:
                    raise PlanError(f"{where} bar {bi + 1}: no chord")
                unset = [c for c in bar if c.beats <= 1e-6]
                fixed = sum(c.beats for c in bar if c.beats > 1e-6)
                for c in unset:
                    c.beats = (meter[0] - fixed) / len(unset)
                for c in bar:
                    try:
                        parse_chord(c.symbol)
                    except HarmonyError as exc:
                        raise PlanError(f"{where} bar {bi + 1} chord {c.symbol!r}: {exc}") from None
                    ticks = c.beats * PPQ * 4 / meter[1]
                    if c.beats <= 0 or abs(ticks - round(ticks)) > 1e-6:
                        raise PlanError(f"{where} bar {bi + 1} chord {c.symbol!r}: {c.beats:g} beats is not a usable length")
                total = sum(c.beats for c in bar)
                if abs(total - meter[0]) > 1e-6:
                    raise PlanError(f"{where} bar {bi + 1} chord {bar[-1].symbol!r}: chords fill {total:g} beats "
                                    f"but a {meter[0]}/{meter[1]} bar has {meter[0]}")
            total_bars += sec.bars
        if total_bars > MAX_BARS:
            raise PlanError(f"plan has {total_bars} bars; at most {MAX_BARS} are allowed")
        secs = self.duration_seconds()
        if secs > MAX_SECONDS:
            raise PlanError(f"plan lasts {secs / 60:.1f} minutes; at most {MAX_SECONDS // 60} are allowed")
        return self

    # --- derived views ----------------------------------------------------

    def duration_seconds(self) -> float:
        meter, tempo, total = parse_meter(self.meter), self.tempo, 0.0
        for sec in self.sections:
            meter = parse_meter(sec.meter) if sec.meter else meter
            tempo = sec.tempo or tempo
            quarters = meter[0] * 4 / meter[1]
            total += sec.bars * quarters * 60.0 / tempo
        return total

    @property
    def total_bars(self) -> int:
        return sum(s.bars for s in self.sections)

    def style_idiom(self) -> styles.Idiom:
        """The plan's idiom as the arrangers and the performance read it (the validator always sets it; a plan
        built without validation reads it from its style words)."""
        return self.idiom.to_style() if self.idiom is not None else styles.idiom_for(self.style, self.tempo)

    def tempo_text(self) -> str:
        """The tempo as a musician reads it: the dotted quarter in compound meters (6/8, 9/8, 12/8)."""
        if compound_meter(*parse_meter(self.meter)):
            return f"dotted quarter = {self.tempo / 1.5:g} (quarter = {self.tempo:g})"
        return f"{self.tempo:g} BPM"

    def reading(self) -> str:
        """One line on how the brief was read: key, meter and tempo with its beat, form, style, parts."""
        form = " ".join(s.label for s in self.sections)
        if len(form) > 48:
            form = form[:45].rsplit(" ", 1)[0] + " ..."
        style = self.style_idiom().summary()
        keys = sorted({s.key for s in self.sections if s.key and s.key != self.key})
        return (f"read as: {self.key}" + (f" (sections in {', '.join(keys)})" if keys else "") +
                f"; {self.meter} at {self.tempo_text()}; form {form}; {style}; "
                + ", ".join(f"{t.name} ({t.role}{_sound(t.name)})" for t in self.tracks))

    def to_sheet(self) -> Sheet:
        """The bar grid the arrangers and exporters read; key, tempo and meter changes carry forward."""
        key, meter, tempo = parse_key(self.key), parse_meter(self.meter), self.tempo
        bars: list[SheetBar] = []
        sections: list[SheetSection] = []
        tick = 0
        for si, sec in enumerate(self.sections):
            key = parse_key(sec.key) if sec.key else key
            meter = parse_meter(sec.meter) if sec.meter else meter
            tempo = sec.tempo or tempo
            sections.append(SheetSection(sec.name, sec.label, sec.energy, len(bars), sec.bars, sec.description))
            beat = PPQ * 4 // meter[1]
            for bar_chords in sec.chords:
                bar = Bar(tick, meter[0], meter[1])
                spans, t = [], tick
                for c in bar_chords:
                    end = t + round(c.beats * beat)
                    spans.append(ChordSpan(t, end, parse_chord(c.symbol)))
                    t = end
                bars.append(SheetBar(len(bars), bar, float(tempo), key, spans, si))
                tick = bar.end
        parts = [PartSpec(t.name, t.role, t.program, t.drum, t.kit) for t in self.tracks]
        return Sheet(self.title, self.style, bars, sections, parts, self.style_idiom())

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), indent=2, ensure_ascii=False) + "\n"


def _check_key(text: str, where: str) -> Key:
    try:
        return parse_key(text)
    except HarmonyError as exc:
        raise PlanError(f"{where}: {exc}") from None


def error_message(exc: ValidationError) -> str:
    """One line naming the first problem in a pydantic error."""
    err = exc.errors()[0]
    msg = str(err.get("msg", "invalid plan"))
    msg = msg.removeprefix("Value error, ")
    loc = err.get("loc", ())
    if err.get("type") == "value_error" and not loc:
        return msg
    parts = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            prev = loc[i - 1] if i else ""
            names: dict[int | str, str] = {"sections": "section", "chords": "bar", "tracks": "track"}
            parts.append(names.get(prev, "item") + f" {item + 1}")
        elif item not in ("sections", "chords", "tracks"):
            parts.append(str(item))
    return (" ".join(parts) + ": " if parts else "") + msg


# Outside strings: a whole string (escapes included; possessive, so a broken one costs one pass), a lone
# escape, or a bracket.
_JSON_TOKEN = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"|\\.|[\[\]{}]', re.S)


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether the JSON text nests brackets deeper than limit (brackets inside strings do not count).
    One linear scan that stops at the first bracket too deep."""
    depth = 0
    for m in _JSON_TOKEN.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > limit:
                return True
        elif c in "]}":
            depth -= 1
    return False


def parse_json(text: str | bytes, what: str = "plan", max_chars: int = MAX_PLAN_CHARS,
               max_depth: int = MAX_JSON_DEPTH) -> object:
    """json.loads with a cap on size and nesting, checked first; PlanError with one line otherwise."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) > max_chars:
            raise PlanError(f"the {what} is {_size(len(text))}; at most {_size(max_chars)} is allowed")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PlanError(f"the {what} is not UTF-8 text (byte {exc.start + 1})") from None
    if len(text) > max_chars:
        raise PlanError(f"the {what} is {_size(len(text))}; at most {_size(max_chars)} is allowed")
    if json_depth_exceeds(text, max_depth):
        raise PlanError(f"the {what} nests deeper than {max_depth} levels of JSON brackets")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"the {what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:  # a second guard; the scan above should have caught it
        raise PlanError(f"the {what} nests too deeply") from None


def json_kind(value: object) -> str:
    """What a parsed JSON value is, in words, for error messages."""
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


def plan_from_data(data: object) -> Plan:
    """Validate parsed plan data (the same checks for files, projects and LLM answers); PlanError with one line."""
    if not isinstance(data, dict):
        raise PlanError(f"the plan is not a JSON object but {json_kind(data)}")
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise PlanError(error_message(exc)) from None
    except HarmonyError as exc:
        raise PlanError(str(exc)) from None
    except RecursionError:  # pydantic on data nested past Python's stack (data not from parse_json)
        raise PlanError("the plan nests too deeply") from None


def load_plan(text: str | bytes) -> Plan:
    """Parse and validate plan JSON text; raises PlanError with a one-line message."""
    return plan_from_data(parse_json(text))


def plan_schema() -> dict:
    return Plan.model_json_schema()
