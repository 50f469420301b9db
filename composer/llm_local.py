"""A local transformers causal LM writes the Plan under the Plan's own constraints, offline.

The code emits the JSON structure and asks the model only to choose among valid values
(keys, meters, tempos, roles, programs, section names, lengths and chords that fit the key),
each scored by the model's likelihood after the brief and the JSON written so far. Any
model, even one with random weights, therefore yields a valid plan; a good model yields a
good one.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable, TypedDict, TypeVar

from symbolic.harmony import chord_from_token, parse_key
from symbolic.instruments import INSTRUMENTS

from .llm import LLMError
from .plan import Plan

KEYS = [f"{n} {m}" for m in ("major", "minor") for n in ("C", "G", "D", "A", "E", "B", "F#", "F", "Bb", "Eb", "Ab", "Db")]
METERS = ["4/4", "3/4", "6/8", "2/4", "2/2", "12/8", "5/4", "7/8"]
TEMPOS = [60, 72, 80, 90, 100, 110, 120, 132, 144, 160, 180]
ROLES = ["melody", "counter-melody", "chords", "pad", "arpeggio", "bass", "drums"]
SECTION_NAMES = ["Intro", "Verse", "Chorus", "Bridge", "A", "B", "C", "Outro"]
LABELS = {"Intro": "I", "Verse": "A", "Chorus": "B", "Bridge": "C", "A": "A", "B": "B", "C": "C", "Outro": "O"}
BARS = [4, 8, 12, 16]
COMMON_INSTRUMENTS = ["piano", "electric piano", "organ", "acoustic guitar", "electric guitar", "nylon guitar",
                      "electric bass", "upright bass", "violin", "viola", "cello", "strings", "harp", "flute",
                      "clarinet", "oboe", "alto sax", "tenor sax", "trumpet", "trombone", "french horn", "tuba",
                      "vibraphone", "marimba", "synth lead", "synth pad", "synth bass", "choir", "fiddle", "drums"]
# Chords offered per bar, as key-relative degrees: the diatonic triads, V7 and the other mode's colours.
DEGREES = {"major": ["0:maj", "2:min", "4:min", "5:maj", "7:maj", "9:min", "7:7", "10:maj"],
           "minor": ["0:min", "2:dim", "3:maj", "5:min", "7:maj", "8:maj", "7:7", "10:maj"]}

_T = TypeVar("_T")


class _Section(TypedDict):
    """One section of the plan as the planner writes it (the Plan's JSON)."""
    name: str
    label: str
    bars: int
    chords: list[list[dict[str, str | int]]]
    energy: int


class LocalPlanner:
    def __init__(self, path: str | Path, max_tracks: int = 6, max_sections: int = 8):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - both are dependencies
            raise LLMError(f"the local LLM route needs torch and transformers: {exc}") from None
        path = Path(path)
        if not (path / "config.json").exists():
            raise LLMError(f"{path} is not a transformers model folder (no config.json)")
        try:
            self.tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - transformers raises many kinds for a broken folder
            raise LLMError(f"cannot load the local model in {path}: {str(exc).splitlines()[0]}") from None
        self.model.eval()
        self.torch = torch
        self.max_tracks, self.max_sections = max_tracks, max_sections
        self.max_positions = int(getattr(self.model.config, "max_position_embeddings", 0)
                                 or getattr(self.model.config, "n_positions", 0) or 2048)

    # Score candidate continuations of a text by the model's log-likelihood.
    def choose(self, prefix: str, candidates: list[str]) -> int:
        torch = self.torch
        ids = self.tok(prefix, add_special_tokens=False)["input_ids"]
        cand = [self.tok(c, add_special_tokens=False)["input_ids"] or [0] for c in candidates]
        longest = max(len(c) for c in cand)
        keep = max(1, self.max_positions - longest - 1)
        ids = ids[-keep:]  # the model sees the most recent text when the prompt outgrows its window
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        batch = [ids + c + [pad] * (longest - len(c)) for c in cand]
        with torch.no_grad():
            logits = self.model(torch.tensor(batch)).logits.float()
        logp = torch.log_softmax(logits, dim=-1)
        scores = []
        for b, c in enumerate(cand):
            total = 0.0
            for j, t in enumerate(c):
                total += float(logp[b, len(ids) + j - 1, t]) if len(ids) + j - 1 >= 0 else 0.0
            scores.append(total / math.sqrt(len(c)))
        return max(range(len(candidates)), key=lambda i: scores[i])

    def plan(self, brief: str, progress: Callable[[str], None] = lambda m: None) -> Plan:
        prompt = f"Brief: {brief}\nPlan as JSON:\n"
        text = prompt + "{"

        def pick(field: str, options: list[_T], render: Callable[[_T], str] = json.dumps) -> _T:
            nonlocal text
            i = self.choose(text + f'"{field}": ', [render(o) for o in options])
            text += f'"{field}": {render(options[i])}, '
            return options[i]

        key = pick("key", KEYS)
        meter = pick("meter", METERS)
        tempo = pick("tempo", TEMPOS)
        progress("choosing the instruments")
        n_tracks = pick("track_count", list(range(1, self.max_tracks + 1)))
        names = COMMON_INSTRUMENTS
        tracks = []
        used: set[str] = set()
        for _ in range(int(n_tracks)):
            inst_key = pick("instrument", names)
            role = "drums" if INSTRUMENTS[inst_key].drum else pick("role", [r for r in ROLES if r != "drums"])
            inst = INSTRUMENTS[inst_key]
            name = inst.name
            while name in used:
                name = f"{name} {len(used) + 1}"
            used.add(name)
            tracks.append({"name": name, "role": role, "program": inst.program, "drum": inst.drum})
        progress("choosing the form")
        num, _ = (int(x) for x in str(meter).split("/"))
        k = parse_key(str(key))
        chords_for = [chord_from_token(t, k).text for t in DEGREES[k.mode]]
        sections: list[_Section] = []
        n_sections = pick("section_count", list(range(2, self.max_sections + 1)))
        for si in range(int(n_sections)):
            name = pick("name", SECTION_NAMES)
            bars = pick("bars", BARS)
            energy = pick("energy", [1, 2, 3, 4, 5])
            progress(f"choosing chords for {name}")
            bar_chords: list[list[dict[str, str | int]]] = []
            for b in range(int(bars)):
                if b == 0 and si == 0 or (b == int(bars) - 1 and si == int(n_sections) - 1):
                    symbol = chords_for[0]  # the tonic opens and closes the piece
                else:
                    symbol = pick("chord", chords_for)
                bar_chords.append([{"symbol": symbol, "beats": num}])
            count = sum(1 for s in sections if s["name"].split(" ")[0] == name)
            sections.append({"name": f"{name} {count + 1}" if count else name, "label": LABELS[name],
                             "bars": int(bars), "chords": bar_chords, "energy": int(energy)})
        text = " ".join(brief.split())  # the title is one line of plain text (the Plan refuses control characters)
        return Plan.model_validate({"title": text[:60] or "Untitled", "key": key, "meter": meter,
                                    "tempo": tempo, "style": text[:200], "tracks": tracks,
                                    "sections": sections})
