"""How the transformer arranger samples: one dataclass, saved as `generation.json` beside the weights
it was tuned for (the values were chosen on that model's validation split; docs/MODEL_CARD.md,
"Generation settings", has the measurements behind each one)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

FILE = "generation.json"
FORMAT = "composer.generation"


@dataclass(frozen=True)
class GenerationConfig:
    # --- what a user may change per call (the CLI's sampling flags) ---
    temperature: float = 1.0           # the rhythm's temperature; 0 is greedy
    top_p: float = 1.0                 # nucleus mass; 1 keeps every token
    n_candidates: int = 2              # candidates per cell, ranked; each is one more row in the batch
    # --- tuned with the weights ---
    chunk_bars: int = 8                # bars per row at most, so that a row fits the context
    # tokens a bar of each role takes, about: how many bars a row of that role can hold
    tokens_per_bar: dict[str, int] = field(default_factory=lambda: {
        "melody": 32, "counter-melody": 28, "chords": 72, "pad": 28, "arpeggio": 64, "bass": 28, "drums": 64})
    # notes a bar may hold at most per role (the grammar closes the bar after that)
    max_notes_per_bar: dict[str, int] = field(default_factory=lambda: {
        "melody": 16, "counter-melody": 12, "chords": 40, "pad": 16, "arpeggio": 32, "bass": 16, "drums": 48})
    # ranking = harmonic + rhythmic + energy + consonance fits (each 0..1) + text_weight x caption cosine
    text_weight: float = 2.0
    # logit bonus for chord tones on strong onsets, on weak onsets, and penalty outside the key: strong beats
    # carry the harmony, weak ones are left to the model (passing and neighbour tones)
    chord_bias: tuple[float, float, float] = (3.0, 0.0, 1.5)
    # roles that only sound the harmony: chord tones by mask, held to the next onset through common tones
    harmony_roles: tuple[str, ...] = ("pad",)
    # pitches are drawn this much hotter than the rhythm (only the choice among pitches, not their share)
    pitch_heat: float = 1.1
    # per-role factors on the rhythm's and the pitches' temperatures (the model alone is plainer than humans)
    rhythm_heat: dict[str, float] = field(default_factory=lambda: {"melody": 1.25, "counter-melody": 1.125})
    pitch_role_heat: dict[str, float] = field(default_factory=lambda: {"bass": 1.1, "chords": 1.2})
    # penalty for a pitch class a semitone from what another track sounds at the onset
    listen_penalty: float = 2.0
    # bonus between the beats for the blue notes of a blues or jazz lead (they are exempt from the penalties)
    blue_bias: float = 2.0
    # penalty for an onset that would leave a whole beat silent, in the roles humans keep sounding
    rest_penalty: float = 1.5
    rest_roles: tuple[str, ...] = ("melody", "chords", "arpeggio", "bass", "drums")
    # penalty for an onset on one of the melody's, in the roles that answer it (the parts hear the melody)
    answer_penalty: float = 0.0
    answer_roles: tuple[str, ...] = ("counter-melody",)
    # bonus for a pitch a step (up to 2 semitones) from the line's last note, in the roles that sing (after a leap
    # of a fifth or more, only a step back): the model's tunes leap more than sung melodies do
    step_bias: float = 0.0
    step_roles: tuple[str, ...] = ("melody",)
    # the energy as a note budget: energy_slack x the upper bound of the level's notes per bar (level 5:
    # top_level_span x its lower bound); 0 turns the budget off
    energy_slack: float = 1.25
    top_level_span: float = 2.0
    # written first, so that the others can listen to them
    lead_roles: tuple[str, ...] = ("melody", "bass")
    # reused in a repeat of a section even when its planned energy differs
    theme_roles: tuple[str, ...] = ("melody", "counter-melody")

    def __post_init__(self) -> None:
        if not 0 <= self.temperature <= 2:
            raise ValueError(f"--temperature must be between 0 and 2, not {self.temperature:g}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"--top-p must be in (0, 1], not {self.top_p:g}")
        if not 1 <= self.n_candidates <= 8:
            raise ValueError(f"--candidates must be between 1 and 8, not {self.n_candidates}")
        if self.chunk_bars < 1:
            raise ValueError(f"chunk_bars must be at least 1, not {self.chunk_bars}")

    def sampling(self, **options: Any) -> "GenerationConfig":
        """A copy with a user's sampling options (temperature, top_p, n_candidates; None keeps the value)."""
        known = {"temperature", "top_p", "n_candidates"}
        for key in options:
            if key not in known:
                raise ValueError(f"unknown sampling option {key!r}")
        return replace(self, **{k: v for k, v in options.items() if v is not None})

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": 1, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> "GenerationConfig":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        names = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(names) - {"format", "version"})
        if unknown:
            raise ValueError(f"unknown generation settings: {', '.join(unknown)}")
        kw: dict[str, Any] = {}
        for key, value in data.items():
            if key in names:
                default = getattr(cls(), key)
                kw[key] = tuple(value) if isinstance(default, tuple) else value
        return cls(**kw)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / FILE
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "GenerationConfig":
        """The settings saved beside the weights; the defaults above when the folder has none."""
        path = Path(directory) / FILE
        if not path.exists():
            return cls()
        if path.stat().st_size > 64 * 1024:
            raise ValueError(f"{path} is larger than 64 KB")
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: {e}") from None
