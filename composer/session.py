"""An editing session on one project: the state behind the TUI, built on the pipeline's functions.

Every edit (plan or notes) is undoable and redoable, and is saved to the project folder
at once (plan.json and piece.mid, atomically); MusicXML and audio are written on export
and render.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

from symbolic.arrange.finish import on_kit, playable
from symbolic.harmony import SHARP_NAMES, HarmonyError, parse_chord, parse_roman
from symbolic.instruments import INSTRUMENTS, instrument_for_program
from symbolic.score import PPQ, Note, Score

from . import pipeline, project
from .plan import Plan, PlanError, parse_meter
from .revise import new_track, rearrange, section_keys
from .transport import Timeline

MAX_UNDO = 100
MAX_TAKES = 24   # kept variations in a project


class SessionError(ValueError):
    """An edit that cannot be applied; the message is one line."""


class _RenderOptions(TypedDict):
    """The keyword arguments Session.render passes to pipeline.render."""
    renderer: str
    humanize: float
    humanize_seed: int
    plan: Plan | None
    diffusion: dict | None


@dataclass
class Session:
    folder: Path
    seed: int = 0
    plan: Plan | None = None
    score: Score | None = None
    alternatives: list[Score] = field(default_factory=list)   # the kept takes of the section first, then new ones
    kept: list[int] = field(default_factory=list)   # for each kept take in alternatives, its index in takes.json
    holder: project.Holder | None = None
    read_only: str = ""  # why edits cannot be saved (another writer holds the project), "" when they can

    @classmethod
    def open(cls, folder: str | Path, seed: int = 0) -> "Session":
        """Open a project and hold its lock while the session lasts; when another writer holds it, the
        session is read-only and says who."""
        folder = Path(folder)
        s = cls(folder, seed)
        try:
            s.holder = project.Holder(folder, "composer tui", wait=0)
        except project.ProjectBusy as exc:
            s.read_only = str(exc)
        if (folder / project.PLAN).exists() or (folder / project.MIDI).exists():
            s._load()
        return s

    def close(self) -> None:
        """Let other writers have the project."""
        if self.holder is not None:
            self.holder.release()
            self.holder = None

    def _need_writable(self) -> None:
        if self.read_only:
            raise SessionError(f"read-only: {self.read_only}")

    # --- history -----------------------------------------------------------------
    # One history with the CLI: every edit is saved with pipeline.save_edit (the previous plan and MIDI go to
    # history/), and undo/redo are `composer undo` / `composer redo`, so they survive quitting.

    def _commit(self, plan: Plan | None, score: Score | None, progress=pipeline._quiet, what: str = "") -> None:
        """Make (plan, score) current and save it as one edit (undoable, with everything that depends on it);
        `what` names it for undo and redo."""
        self._need_writable()
        if plan is None:
            raise SessionError("there is no plan yet: generate first")
        pipeline.save_edit(self.folder, plan, score, self.seed, progress, what=what)
        self.plan, self.score = plan, score

    def undo(self, progress=pipeline._quiet) -> list[str]:
        """Step back one edit; returns the edit's name (when it has one) and what changed in the plan
        (['the notes'] when only notes changed), [] when there is nothing to undo."""
        return self._step(pipeline.undo_project, progress)

    def redo(self, progress=pipeline._quiet) -> list[str]:
        return self._step(pipeline.redo_project, progress)

    def _step(self, fn, progress) -> list[str]:
        from .revise import diff_plans
        self._need_writable()
        entries = project.history(self.folder, redo=fn is pipeline.redo_project)
        if not entries:
            return []
        what = project.history_what(entries[-1])
        before = self.plan
        try:
            fn(self.folder, progress)
        except project.ProjectError as exc:
            raise SessionError(str(exc)) from None
        self._load()
        diff = diff_plans(before, self.plan) if before is not None and self.plan is not None else []
        return ([what] if what else []) + (diff or ([] if what else ["the notes"]))

    def _load(self) -> None:
        self.plan, self.score = pipeline.load_project(self.folder)
        if self.plan is not None and self.score is not None:
            pipeline.apply_plan_meta(self.plan, self.score)

    # Mute, solo and lock are the plan's (part of the project and of its history): read from it, never kept apart.
    @property
    def muted(self) -> set[str]:
        return {t.name for t in self.plan.tracks if t.mute} if self.plan is not None else set()

    @property
    def solo(self) -> set[str]:
        return {t.name for t in self.plan.tracks if t.solo} if self.plan is not None else set()

    @property
    def locked(self) -> set[str]:
        return {t.name for t in self.plan.tracks if t.lock} if self.plan is not None else set()

    # --- the mixer ----------------------------------------------------------------------

    FLAGS = ("mute", "solo", "lock")

    def toggle(self, track: str, flag: str) -> bool:
        """Mute, solo or lock a track (or undo that): saved in the plan as one undoable edit. Returns the new state."""
        if flag not in self.FLAGS:
            raise SessionError(f"unknown track switch {flag!r}; choose from {', '.join(self.FLAGS)}")
        self._need_plan()
        assert self.plan is not None
        current = next((t for t in self.plan.tracks if t.name == track), None)
        if current is None:
            raise SessionError(f"no track {track!r}")
        on = not getattr(current, flag)
        self._edit_tracks(track, {flag: True if on else None}, f"{flag} {track} {'on' if on else 'off'}")
        return on

    def set_mix(self, track: str, level: float | None = None, pan: float | None = None,
                reverb: float | None = None) -> None:
        """A track's mixer level (dB, -40 to +2), pan (-1 left to 1 right) and reverb send (0 to 1): in the
        plan, in piece.mid as channel volume, pan and reverb (CC7, CC10, CC91), heard in every render; one
        undoable edit."""
        self._need_plan()
        changes: dict[str, Any] = {}
        if level is not None:
            if not -40 <= level <= 2:
                raise SessionError(f"level {level:g} dB is outside -40 to +2 dB")
            changes["level"] = round(level, 1) or None
        if pan is not None:
            if not -1 <= pan <= 1:
                raise SessionError(f"pan {pan:g} is outside -1 (left) to 1 (right)")
            changes["pan"] = round(pan, 2) or None
        if reverb is not None:
            if not 0 <= reverb <= 1:
                raise SessionError(f"reverb {reverb:g} is outside 0 (dry) to 1")
            changes["reverb"] = round(reverb, 2) or None
        if changes:
            said = [f"level {changes['level'] or 0:+g} dB" if "level" in changes else "",
                    f"pan {changes['pan'] or 0:+g}" if "pan" in changes else "",
                    f"reverb {changes['reverb'] or 0:.0%}" if "reverb" in changes else ""]
            self._edit_tracks(track, changes, f"{track} " + ", ".join(x for x in said if x))

    def _with_track(self, track: str, edit) -> Plan:
        """The plan with one track's fields edited in place by edit(fields) (its JSON form), validated."""
        assert self.plan is not None
        data = self.plan.model_dump(mode="json", exclude_none=True)
        fields = next((t for t in data["tracks"] if t["name"] == track), None)
        if fields is None:
            raise SessionError(f"no track {track!r}")
        edit(fields)
        return Plan.model_validate(data)

    def _edit_tracks(self, track: str, changes: dict, what: str = "") -> None:
        def edit(t: dict) -> None:
            for k, v in changes.items():
                if v is None:
                    t.pop(k, None)
                else:
                    t[k] = v
        plan = self._with_track(track, edit)
        score = self.score
        if score is not None:
            score = replace(score, parts=[replace(p) for p in score.parts])
            pipeline.apply_mix(plan, score)
        self._commit(plan, score, what=what)

    # --- composing -------------------------------------------------------------------

    def generate(self, brief: str | None = None, progress=pipeline._quiet, planner: str = "rules", llm=None,
                 warn=None, on_plan=None) -> None:
        """Plan (from the brief, or keep the current plan) and arrange, then save both as one edit.
        on_plan(plan), when given, is called as soon as the plan is made, before arranging (from the calling
        thread), so a caller can show it while the notes are written; the session's plan changes only at the end."""
        plan = pipeline.make_plan(brief, self.seed, progress, planner=planner, llm=llm, warn=warn) if brief else self.plan
        if plan is None:
            raise SessionError("type a brief first")
        if on_plan is not None:
            on_plan(plan)
        score = pipeline.arrange(plan, self.seed, progress=progress)
        self._commit(plan, score, progress, "generate from the brief" if brief else "arrange the plan again")

    def section_bars(self, section: int) -> set[int]:
        assert self.plan is not None  # its callers check first (_need_score)
        sheet = self.plan.to_sheet()
        return set(sheet.sections[section].bar_range)

    def regenerate(self, section: int | None = None, track: str | None = None, bars: set[int] | None = None,
                   seed: int | None = None, progress=pipeline._quiet) -> None:
        """New material for a section, a track, a bar range or a cell; locked tracks stay as they are."""
        self._need_score()
        assert self.plan is not None
        if track is not None and track in self.locked:
            raise SessionError(f"{track} is locked: unlock it to regenerate it")
        if track is None and {t.name for t in self.plan.tracks} <= self.locked:
            raise SessionError("every track is locked: nothing to regenerate")
        if section is not None:
            bars = self.section_bars(section) if bars is None else bars
        self.seed = self.seed + 1 if seed is None else seed
        score = pipeline.arrange(self.plan, self.seed, base=self.score, bars=bars,
                                 tracks={track} if track else None, locked=frozenset(self.locked), progress=progress)
        where = self.plan.sections[section].name if section is not None else \
            f"bars {min(bars) + 1}-{max(bars) + 1}" if bars else "the piece"
        self._commit(self.plan, score, progress, f"regenerate {track or 'every unlocked track'} in {where}")

    def make_alternatives(self, section: int, track: str | None = None, n: int = 3, progress=pipeline._quiet) -> list[Score]:
        """The takes kept for a section, then n new candidates for it (or for one track of it), not applied
        until pick()."""
        self._need_score()
        assert self.plan is not None
        bars = self.section_bars(section)
        self.alternatives, self.kept = [], []
        for i, entry in enumerate(self.takes()):
            take = self._take_score(entry, section)
            if take is not None:
                self.alternatives.append(take)
                self.kept.append(i)
        for k in range(n):
            self.alternatives.append(pipeline.arrange(self.plan, self.seed + 101 + k + 31 * len(project.history(self.folder)),
                                                      base=self.score, bars=bars, tracks={track} if track else None,
                                                      locked=frozenset(self.locked), progress=progress))
        return self.alternatives

    def describe_take(self, score: Score, section: int, track: str | None = None) -> str:
        """What a take of a section is like, to compare alternatives by: notes a bar, the range, the share
        of notes off the beat, and how many of the current take's notes it keeps."""
        self._need_score()
        assert self.plan is not None and self.score is not None
        sheet = self.plan.to_sheet()
        sec = sheet.sections[section]
        lo, hi = sheet.bars[sec.first_bar].bar.start, sheet.bars[sec.first_bar + sec.n_bars - 1].bar.end

        def notes(sc: Score) -> list[tuple[int, int]]:
            return [(n.start, n.pitch) for p in sc.parts if (track is None or p.name == track) and not p.is_drum
                    for n in p.notes if lo <= n.start < hi]
        mine, current = notes(score), set(notes(self.score))
        if not mine:
            return "no pitched notes"
        off = sum(1 for t, _ in mine if (t - lo) % PPQ) / len(mine)
        low, high = min(p for _, p in mine), max(p for _, p in mine)
        same = sum(1 for x in mine if x in current) / len(mine)
        return (f"{len(mine) / sec.n_bars:.1f} notes a bar, {_pitch_text(low)}-{_pitch_text(high)}, "
                f"{off:.0%} off the beat, {same:.0%} as now")

    def pick(self, index: int) -> None:
        if not 0 <= index < len(self.alternatives):
            raise SessionError(f"no alternative {index + 1}")
        what = f"kept take {index + 1}" if index < len(self.kept) else f"alternative {chr(66 + index - len(self.kept))}"
        self._commit(self.plan, self.alternatives[index], what=what)
        self.alternatives, self.kept = [], []

    # --- kept takes: variations of a section saved in the project (takes.json) to pick later -------

    def takes(self) -> list[dict]:
        path = self.folder / project.TAKES
        if not path.exists():
            return []
        try:
            data = json.loads(path.read_text())
            return list(data["takes"])
        except (OSError, ValueError, KeyError, TypeError):
            raise SessionError(f"{path} is not a list of kept takes") from None

    def _section_span(self, section: int) -> tuple[int, int, str, int]:
        """(first tick, end tick, name, bars) of a section."""
        assert self.plan is not None
        sheet = self.plan.to_sheet()
        sec = sheet.sections[section]
        return (*sheet.ticks(sec), sec.name, sec.n_bars)

    def _take_score(self, entry: dict, section: int) -> Score | None:
        """The piece with a kept take in place of the section's notes of its tracks; None when the take is of
        another section, or the section has changed length, or none of its tracks is left."""
        assert self.score is not None
        lo, hi, name, n_bars = self._section_span(section)
        if entry.get("section") != name or entry.get("bars") != n_bars or entry.get("length") != hi - lo:
            return None
        parts, used = [], False
        for p in self.score.parts:
            notes = entry["notes"].get(p.name)
            if notes is None or p.name in self.locked:
                parts.append(p)
                continue
            used = True
            keep = [n for n in p.notes if not lo <= n.start < hi]
            parts.append(replace(p, notes=sorted(keep + [Note(lo + s, lo + e, pi, v) for s, e, pi, v in notes],
                                                 key=lambda n: (n.start, n.pitch, n.end))))
        return replace(self.score, parts=parts) if used else None

    def keep(self, index: int, section: int, track: str | None = None) -> int:
        """Keep alternative `index` as a variation of the section (its tracks' notes there), saved in the project
        to pick later; the piece does not change. Returns how many takes the project keeps."""
        self._need_writable()
        if not len(self.kept) <= index < len(self.alternatives):
            raise SessionError("only a new alternative can be kept" if index < len(self.kept) else
                               f"no alternative {index + 1}")
        takes = self.takes()
        if len(takes) >= MAX_TAKES:
            raise SessionError(f"the project keeps {MAX_TAKES} takes, the most it may: discard one first")
        lo, hi, name, n_bars = self._section_span(section)
        take = self.alternatives[index]
        notes = {p.name: [[n.start - lo, n.end - lo, n.pitch, n.velocity] for n in p.notes if lo <= n.start < hi]
                 for p in take.parts if (track is None or p.name == track) and p.name not in self.locked}
        takes.append({"section": name, "bars": n_bars, "length": hi - lo, "tracks": sorted(notes), "notes": notes})
        self._write_takes(takes, f"keep a take of {name}")
        self.kept.append(len(takes) - 1)
        # the kept one moves to the kept group at the front of the list
        self.alternatives.insert(len(self.kept) - 1, self.alternatives.pop(index))
        return len(takes)

    def discard(self, index: int) -> None:
        """Forget a kept take (index into alternatives)."""
        self._need_writable()
        if not 0 <= index < len(self.kept):
            raise SessionError("only a kept take can be discarded")
        takes = self.takes()
        gone = self.kept.pop(index)
        del takes[gone]
        self.alternatives.pop(index)
        self.kept = [k - (k > gone) for k in self.kept]
        self._write_takes(takes, "discard a kept take")

    def _write_takes(self, takes: list[dict], what: str) -> None:
        with project.transaction(self.folder, "composer tui", what=what) as tx:
            if takes:
                tx.write(self.folder / project.TAKES, json.dumps({"takes": takes}, separators=(",", ":")))
            elif (self.folder / project.TAKES).exists():
                tx.remove(self.folder / project.TAKES)

    # --- plan edits --------------------------------------------------------------------

    def parse_bar(self, section: int, text: str) -> list[dict]:
        """'Dm:2 A7' or Roman numerals 'ii7 V7' for one bar of a section -> chord entries; one-line errors."""
        self._need_plan()
        assert self.plan is not None
        key = section_keys(self.plan)[section]
        meter = parse_meter(self.plan.meter)
        for s in self.plan.sections[: section + 1]:
            meter = parse_meter(s.meter) if s.meter else meter
        entries: list[dict[str, Any]] = []
        tokens = text.split()
        if not tokens:
            raise SessionError("a bar needs at least one chord")
        for tok in tokens:
            sym, _, beats = tok.partition(":")
            try:
                chord = parse_chord(sym)
                symbol = chord.text
            except HarmonyError:
                try:
                    symbol = parse_roman(sym, key).text
                except HarmonyError:
                    raise SessionError(f"{sym!r} is neither a chord symbol (C, F#m7, Bb/D) nor a Roman numeral "
                                       f"(ii7, V7, bVII) in {key.name}") from None
            try:
                b = float(beats) if beats else None
            except ValueError:
                raise SessionError(f"{beats!r} is not a number of beats") from None
            entries.append({"symbol": symbol, "beats": b})
        fixed = sum(e["beats"] for e in entries if e["beats"])
        free = [e for e in entries if not e["beats"]]
        for e in free:
            e["beats"] = (meter[0] - fixed) / len(free)
        total = sum(e["beats"] for e in entries)
        if abs(total - meter[0]) > 1e-6 or any(e["beats"] <= 0 for e in entries):
            raise SessionError(f"the chords fill {total:g} beats but a {meter[0]}/{meter[1]} bar has {meter[0]}")
        return entries

    def idiom_note(self, section: int, entries: list[dict]) -> str:
        """A word on chords that leave the plan's style ("" when none do): an edit is the composer's to make,
        but they should know a reel does not usually go to Bb."""
        from .planner import outside_idiom
        assert self.plan is not None
        key = section_keys(self.plan)[section]
        genre = self.plan.style_idiom().genre
        out = outside_idiom(genre, key, [e["symbol"] for e in entries])
        return f"{', '.join(out)} {'is' if len(out) == 1 else 'are'} outside the {genre} idiom in {key.name}" if out else ""

    def set_bar_chords(self, section: int, bar: int, text: str, progress=pipeline._quiet) -> set[int]:
        """Change one bar's chords and re-arrange only the sections whose music changed."""
        entries = self.parse_bar(section, text)
        assert self.plan is not None  # parse_bar checked
        data = self.plan.model_dump(mode="json", exclude_none=True)
        data["sections"][section]["chords"][bar] = entries
        return self._apply_plan(data, progress, f"bar {bar + 1} of {self.plan.sections[section].name} to {text}")

    def revise(self, instruction: str, progress=pipeline._quiet, planner: str = "rules", llm=None,
               warn=None) -> list[str]:
        """The same revision as `composer revise` (an LLM falls back to the rules planner with a warning),
        keeping this session's locked tracks."""
        self._need_plan()
        self._need_writable()
        _, diff, _ = pipeline.revise_project(self.folder, instruction, planner=planner, llm=llm, seed=self.seed,
                                             progress=progress, warn=warn, locked=frozenset(self.locked))
        self._load()
        return diff

    def set_instrument(self, track: str, instrument: str) -> str:
        """Give a track another instrument: the same notes, moved by octaves into the new instrument's range
        (and one note at a time for a monophonic one); a track named after its instrument ("Cello",
        "Cello II", "Piano Chords") takes the new one's name. One undoable edit; returns the track's name."""
        self._need_plan()
        assert self.plan is not None
        inst = INSTRUMENTS.get(instrument.lower().strip())
        if inst is None:
            raise SessionError(f"unknown instrument {instrument!r}")
        old = next((t for t in self.plan.tracks if t.name == track), None)
        if old is None:
            raise SessionError(f"no track {track!r}")
        name = _renamed(track, instrument_for_program(old.program, old.drum).name, inst.name,
                        {t.name for t in self.plan.tracks} - {track})

        def edit(t: dict) -> None:
            if t["role"] == "drums" and not inst.drum or inst.drum and t["role"] != "drums":
                raise SessionError("drums and pitched instruments cannot swap places")
            t["program"], t["name"] = inst.program, name
            t.pop("kit", None)
            if inst.kit is not None:
                t["kit"] = inst.kit
        plan = self._with_track(track, edit)
        score = self.score
        if score is not None:
            # Same notes, new sound (chord symbols, pedal and all else stay), within what the instrument can
            # play; a hand drum takes its own strokes for the drum set's.
            score = replace(score, parts=[replace(p, name=name, program=inst.program, notes=list(p.notes))
                                          if p.name == track else p for p in score.parts])
            sheet = plan.to_sheet()
            if inst.kit is not None:
                on_kit(score, sheet, tracks={name})
            elif not inst.drum:
                playable(score, sheet, tracks={name})
        self._commit(plan, score, what=f"{track} to {inst.name}")
        return name

    def edit_notes(self, track: str, start: int, end: int, notes: list[Note], what: str = "") -> None:
        """Replace the track's notes that start in [start, end) with `notes` (a piano-roll edit): checked,
        then saved as one undoable edit. A locked track refuses."""
        self._need_score()
        assert self.plan is not None and self.score is not None
        if track in self.locked:
            raise SessionError(f"{track} is locked: unlock it to edit its notes")
        part = next((p for p in self.score.parts if p.name == track), None)
        if part is None:
            raise SessionError(f"no track {track!r}")
        for n in notes:
            if not (start <= n.start < end and n.end > n.start and 0 <= n.pitch <= 127 and 1 <= n.velocity <= 127):
                raise SessionError(f"a note at tick {n.start} (pitch {n.pitch}) is outside the section or the "
                                   "MIDI ranges")
        kept = [n for n in part.notes if not start <= n.start < end]
        new = sorted([*kept, *(Note(n.start, n.end, n.pitch, n.velocity) for n in notes)],
                     key=lambda n: (n.start, n.pitch, n.end))
        score = replace(self.score, parts=[replace(p, notes=new) if p.name == track else p for p in self.score.parts])
        self._commit(self.plan, score, what=f"{track}: {what or 'edit notes'}")

    SECTION_EDITS = ("rename", "bars", "energy", "tempo", "duplicate", "delete", "earlier", "later")

    def edit_section(self, index: int, action: str, value: str = "", progress=pipeline._quiet) -> str:
        """One edit of a section from the section editor: rename, bars, energy (1-5), tempo, duplicate, delete,
        move earlier or later. The plan changes and what it changes is re-arranged, as one undoable edit.
        Returns what was done, in words."""
        self._need_plan()
        assert self.plan is not None
        secs = self.plan.sections
        if not 0 <= index < len(secs):
            raise SessionError(f"no section {index + 1}")
        name = secs[index].name
        if action == "bars":
            try:
                bars = int(value)
            except ValueError:
                raise SessionError(f"bars: {value!r} is not a whole number") from None
            self.revise(f"make the {name} {bars} bars", progress)
            return f"{name} is {bars} bars"
        data = self.plan.model_dump(mode="json", exclude_none=True)
        sections = data["sections"]
        if action == "rename":   # the same music under another name: no note changes
            new = value.strip()
            if not new or new in {s.name for s in secs} - {name}:
                raise SessionError(f"a section needs a name of its own, not {new!r}")
            sections[index]["name"] = new
            plan = self._validated(data)
            score = self.score
            if score is not None:
                sheet = plan.to_sheet()
                start = sheet.bars[sheet.sections[index].first_bar].bar.start
                score = replace(score, markers=[(t, new if t == start and m == name else m) for t, m in score.markers])
            self._commit(plan, score, progress, f"rename {name} to {new}")
            return f"{name} is now {new}"
        elif action == "energy":
            if value.strip() not in ("1", "2", "3", "4", "5"):
                raise SessionError(f"energy is 1 (quietest) to 5 (fullest), not {value!r}")
            sections[index]["energy"] = int(value)
            done = f"{name} at energy {value.strip()}"
        elif action == "tempo":
            try:
                sections[index]["tempo"] = float(value)
            except ValueError:
                raise SessionError(f"tempo: {value!r} is not a number") from None
            done = f"{name} at {float(value):g} BPM"
        elif action == "duplicate":
            copy = json.loads(json.dumps(sections[index]))
            copy["name"] = _next_name(name, {s.name for s in secs})
            sections.insert(index + 1, copy)
            done = f"{name} repeated as {copy['name']}"
        elif action == "delete":
            if len(sections) == 1:
                raise SessionError("a piece keeps at least one section")
            sections.pop(index)
            done = f"{name} removed"
        elif action in ("earlier", "later"):
            other = index - 1 if action == "earlier" else index + 1
            if not 0 <= other < len(sections):
                raise SessionError(f"{name} is already the {'first' if action == 'earlier' else 'last'} section")
            sections[index], sections[other] = sections[other], sections[index]
            done = f"{name} moved {action}"
        else:
            raise SessionError(f"unknown section edit {action!r}; choose from {', '.join(self.SECTION_EDITS)}")
        self._apply_plan(data, progress, done)
        return done

    TRACK_EDITS = ("rename", "remove", "add")

    def edit_track(self, track: str, action: str, value: str = "", progress=pipeline._quiet) -> str:
        """Rename or remove a track, or add one (value: an instrument) that is arranged to fit the others
        (a bass plays the bass, a drum kit the drums, a keyboard or guitar the chords, others a counter-melody
        or a pad); one undoable edit. Returns what was done."""
        self._need_plan()
        assert self.plan is not None
        names = [t.name for t in self.plan.tracks]
        data = self.plan.model_dump(mode="json", exclude_none=True)
        if action == "add":
            inst = INSTRUMENTS.get(value.lower().strip())
            if inst is None:
                raise SessionError(f"unknown instrument {value!r}")
            entry = new_track(self.plan, inst)
            data["tracks"].append(entry)
            self._apply_plan(data, progress, f"add {entry['name']}")
            return f"added {entry['name']} ({entry['role']})"
        if track not in names:
            raise SessionError(f"no track {track!r}")
        if action == "rename":
            new = value.strip()
            if not new or new in set(names) - {track}:
                raise SessionError(f"a track needs a name of its own, not {new!r}")
            plan = self._with_track(track, lambda t: t.update(name=new))
            score = self.score
            if score is not None:
                score = replace(score, parts=[replace(p, name=new) if p.name == track else p for p in score.parts])
            self._commit(plan, score, progress, f"rename {track} to {new}")
            return f"{track} is now {new}"
        if action == "remove":
            if len(names) == 1:
                raise SessionError("a piece keeps at least one track")
            data["tracks"] = [t for t in data["tracks"] if t["name"] != track]
            plan = self._validated(data)
            score = self.score
            if score is not None:
                score = replace(score, parts=[p for p in score.parts if p.name != track])
            self._commit(plan, score, progress, f"remove {track}")
            return f"removed {track}"
        raise SessionError(f"unknown track edit {action!r}; choose from {', '.join(self.TRACK_EDITS)}")

    @staticmethod
    def _validated(data: dict) -> Plan:
        try:
            return Plan.model_validate(data)
        except Exception as exc:  # noqa: BLE001 - pydantic ValidationError or PlanError
            from pydantic import ValidationError

            from .plan import error_message
            msg = error_message(exc) if isinstance(exc, ValidationError) else str(exc)
            raise SessionError(msg) from None

    def _apply_plan(self, data: dict, progress, what: str = "") -> set[int]:
        new_plan = self._validated(data)
        assert self.plan is not None  # set_bar_chords checked
        score, regen = rearrange(self.plan, self.score, new_plan, _arrange(self.locked), self.seed)
        self._commit(new_plan, score, progress, what)
        return regen

    # --- output -----------------------------------------------------------------------------

    def audible_score(self, take: Score | None = None) -> Score:
        """The score (or a take of it) as heard: solo wins over mute."""
        self._need_score()
        score = take if take is not None else self.score
        assert score is not None
        keep = [p for p in score.parts
                if (p.name in self.solo if self.solo else p.name not in self.muted)]
        return replace(score, parts=keep)

    def mix_file(self) -> Path | None:
        """The newest mix (WAV or FLAC) when it follows the notes and the mixer as they are now, else None."""
        mixes = [p for p in (self.folder / project.MIX, self.folder / "mix.flac") if p.exists()]
        if not mixes:
            return None
        mix = max(mixes, key=lambda p: p.stat().st_mtime)
        made = max((self.folder / f).stat().st_mtime for f in (project.PLAN, project.MIDI) if (self.folder / f).exists())
        return mix if mix.stat().st_mtime >= made else None

    def timeline(self) -> Timeline:
        """Where the bars and sections start, in seconds, as the mix plays them."""
        self._need_score()
        assert self.score is not None
        return Timeline(self.score)

    def import_file(self, path: str | Path, progress=pipeline._quiet, warn=None) -> Score:
        """A MIDI or MusicXML file as this project's piece, with a plan read from its notes; one undoable edit
        (the piece that was here goes to history/)."""
        self._need_writable()
        score, _ = pipeline.import_piece(path, self.folder, progress, command="composer tui", warn=warn)
        self._load()
        return score

    def export(self, progress=pipeline._quiet, pdf: bool = False, parts: bool = False) -> list[Path]:
        """piece.mid and piece.musicxml; with pdf, the score engraved by MuseScore (and with parts, each part)."""
        self._need_score()
        assert self.plan is not None and self.score is not None
        self._need_writable()
        return pipeline.export(self.plan, self.score, self.folder, progress=progress, pdf=pdf, parts=parts)

    def render(self, soundfont: str | None = None, fmt: str | None = None, progress=pipeline._quiet,
               cancel: threading.Event | None = None, section: int | None = None, renderer: str = "fluidsynth",
               model: str | None = None, humanize: float = 1.0, take: Score | None = None):
        """Render the audible tracks (or one section, for auditioning, of the piece or of a take of it) with
        fluidsynth or a diffusion model, from the expressive performance when humanize > 0."""
        self._need_writable()
        score = self.audible_score(take)
        assert self.plan is not None  # audible_score checked
        if not score.parts:
            raise SessionError("every track is muted")
        if renderer == "diffusion" and not model:
            raise SessionError("the diffusion renderer needs a model folder (Render tab)")
        options: _RenderOptions = {
            "renderer": renderer, "humanize": humanize, "humanize_seed": self.seed, "plan": self.plan,
            "diffusion": {"model": model, "per_stem": False} if renderer == "diffusion" else None}
        mix = self.folder / (project.MIX if fmt in (None, "wav") else f"mix.{fmt}")
        if section is not None:
            score = _excerpt(score, self.plan, section)
            mix = self.folder / f"section-{section + 1}{'-take' if take is not None else ''}.wav"
            return pipeline.render(score, mix, None, soundfont, fmt, progress, cancel, **options)
        stems = self.folder / project.STEMS if renderer == "fluidsynth" else None
        return pipeline.render(score, mix, stems, soundfont, fmt, progress, cancel,
                               performed_midi=self.folder / pipeline.PERFORMED_MIDI if humanize > 0 else None,
                               **options)

    def _need_plan(self) -> None:
        if self.plan is None:
            raise SessionError("there is no plan yet: generate first")

    def _need_score(self) -> None:
        self._need_plan()
        if self.score is None:
            raise SessionError("there are no notes yet: generate first")


def _next_name(name: str, taken: set[str]) -> str:
    """A name for a repeat of a section: 'Chorus 2' after 'Chorus 1' (the next free number), 'Bridge 2'."""
    m = re.fullmatch(r"(.*?) (\d+)", name)
    base, k = (m.group(1), int(m.group(2)) + 1) if m else (name, 2)
    while f"{base} {k}" in taken:
        k += 1
    return f"{base} {k}"


def _pitch_text(pitch: int) -> str:
    return f"{SHARP_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _renamed(track: str, old: str, new: str, taken: set[str]) -> str:
    """The track's name after its instrument changes from `old` to `new`: the new instrument's name where the
    track was named after the old one (keeping a numeral or " Chords"), else as it was; never a name taken."""
    rest = track[len(old):] if track.startswith(old) else None
    if rest is None or (rest and not re.fullmatch(r" (?:[IVX]+|\d+|Chords)", rest)):
        return track
    name, k = new + rest, 2
    while name in taken:
        name, k = f"{new}{rest} {k}", k + 1
    return name


def _arrange(locked: set[str]):
    """The arranger as rearrange() calls it, with this session's locked tracks kept."""
    def fn(plan, seed=0, base=None, bars=None, tracks=None, **_):
        return pipeline.arrange(plan, seed, base=base, bars=bars, tracks=tracks, locked=frozenset(locked))
    return fn


def _excerpt(score: Score, plan: Plan, section: int) -> Score:
    """One section of the score, moved to start at zero (for auditioning)."""
    from symbolic.score import Bar
    sheet = plan.to_sheet()
    sec = sheet.sections[section]
    lo, hi = sheet.ticks(sec)
    parts = [replace(p, notes=[Note(n.start - lo, min(n.end, hi) - lo, n.pitch, n.velocity)
                               for n in p.notes if lo <= n.start < hi],
                     pedal=[(max(d, lo) - lo, min(u, hi) - lo) for d, u in p.pedal if d < hi and u > lo])
             for p in score.parts]
    bars = [Bar(b.bar.start - lo, b.bar.numerator, b.bar.denominator) for b in sheet.bars[sec.first_bar:sec.first_bar + sec.n_bars]]
    tempo = sheet.bars[sec.first_bar].tempo
    key = sheet.bars[sec.first_bar].key
    return Score(title=score.title, parts=parts, bars=bars, tempos=[(0, tempo)], keys=[(0, key)],
                 markers=[(0, sec.name)])


__all__ = ["Session", "SessionError", "PlanError"]
