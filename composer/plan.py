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

from symbolic.harmony import HarmonyError, Key, parse_chord, parse_key
from symbolic.score import (PPQ, Bar, ChordSpan, PartSpec, Sheet, SheetBar, SheetSection, MAX_TRACKS)

MAX_SECONDS = 30 * 60
MAX_SECTIONS = 64
MAX_SECTION_BARS = 512
MAX_BARS = 4096
ROLES = ("melody", "counter-melody", "chords", "pad", "arpeggio", "bass", "drums")
Role = Literal["melody", "counter-melody", "chords", "pad", "arpeggio", "bass", "drums"]
_METER_RE = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{1,2})\s*$")


class PlanError(ValueError):
    """A plan that breaks the contract; the message names where."""


def parse_meter(text: str) -> tuple[int, int]:
    m = _METER_RE.match(text)
    if not m:
        raise PlanError(f"meter {text!r} is not of the form N/D, e.g. 3/4")
    num, den = int(m.group(1)), int(m.group(2))
    if den not in (1, 2, 4, 8, 16) or not (1 <= num <= 32):
        raise PlanError(f"meter {text!r} is not supported (numerator 1-32, denominator 1, 2, 4, 8 or 16)")
    return num, den


class Track(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    role: Role
    program: int = Field(ge=0, le=127, description="General MIDI program 0-127 (ignored for drums)")
    drum: bool = False

    @model_validator(mode="after")
    def _drums(self) -> "Track":
        if self.role == "drums":
            self.drum = True
        if self.drum and self.role != "drums":
            raise ValueError(f"track {self.name!r} is a drum track but has role {self.role!r}")
        return self


class ChordEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: str = Field(min_length=1, max_length=24)
    beats: float = Field(gt=0, le=64)


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
    tempo: float | None = Field(default=None, ge=20, le=320)
    meter: str | None = None
    energy: int = Field(default=3, ge=1, le=5)
    description: str = Field(default="", max_length=500)

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


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(default="Untitled", max_length=120)
    key: str = Field(description="e.g. 'D minor', 'Bb major'")
    meter: str = Field(default="4/4", description="e.g. '3/4', '6/8'")
    tempo: float = Field(ge=20, le=320, description="quarter notes per minute")
    style: str = Field(default="", max_length=500)
    tracks: list[Track] = Field(min_length=1, max_length=MAX_TRACKS)
    sections: list[Section] = Field(min_length=1, max_length=MAX_SECTIONS)

    @model_validator(mode="after")
    def _check(self) -> "Plan":
        _check_key(self.key, "plan")
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
        parts = [PartSpec(t.name, t.role, t.program, t.drum) for t in self.tracks]
        return Sheet(self.title, self.style, bars, sections, parts)

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
            parts.append({"sections": "section", "chords": "bar", "tracks": "track"}.get(prev, "item") + f" {item + 1}")
        elif item not in ("sections", "chords", "tracks"):
            parts.append(str(item))
    return (" ".join(parts) + ": " if parts else "") + msg


def load_plan(text: str) -> Plan:
    """Parse and validate plan JSON text; raises PlanError with a one-line message."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"plan is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise PlanError(error_message(exc)) from None


def plan_schema() -> dict:
    return Plan.model_json_schema()
