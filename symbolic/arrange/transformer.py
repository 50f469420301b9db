"""The transformer arranger: MusicGPT fills every (section, track) of a Sheet under the plan's constraints.

Each (section, track) becomes one or more rows of at most `chunk_bars` bars (GenerationConfig): the header of control
tokens from the plan (role, program, key, meter, tempo, energy, section, place in the form), then for
every bar the Bar token and the plan's chords are forced, and the model writes only the notes. A
logits mask per row keeps the token grammar (Position > Pitch > Velocity > Duration), the
instrument's range, drum keys only on the drum track, and onsets inside the bar; on strong beats
pitches of the bar's chord get a bonus; in the melody, the accompaniment and the drums, a next onset or
bar end that would leave a whole beat silent gets a penalty (the model alone rests more than the humans
there). Pitches are drawn a little hotter than the rhythm, and the lead lines' rhythm hotter than the
rest. All rows (and N candidates of each) are sampled together in one batch with the key/value cache;
the best candidate per cell is kept by harmonic fit to the chords, rhythmic fit to the meter, closeness
to the planned energy and likeness to the brief (the candidate's caption against the brief under the
sentence encoder). Sections that share a label reuse their material with a controlled variation, and so do
the repeated phrases inside a long section (_repeat_phrases); locked tracks and bars outside the request
are copied from the base score.

Tracks listen to each other: the lead parts (melody, bass) are written first, then the rest with a
logit penalty on pitch classes a semitone from what the tracks already written (or kept from the base
score) sound at that onset, and with that consonance as one more term of the candidate ranking.
Regenerating one track given the others uses the same path, the others being the kept tracks.
"""
from __future__ import annotations

import bisect
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..grid import pulses
from ..instruments import instrument_of
from ..metrics import clashes
from ..model import pad_prompts
from ..score import PPQ, Note, PartSpec, Score, Sheet, SheetBar, SheetSection
from ..style import blue_notes
from ..tokenizer import STEP, MusicTokenizer, form_position, hears, section_class
from .base import VARIED_ROLES, bar_index, copy_kept, one_per_onset, variation_amount, vary
from .generation import GenerationConfig

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights" / "musicgpt"
_ENERGY_WORDS = ("sparse, calm and gentle", "relaxed", "steady", "lively and energetic", "busy, intense and driving")


class GenerationError(RuntimeError):
    pass


@dataclass
class Row:
    """One sequence to write: a chunk of one (section, part), one candidate."""

    cell: tuple[int, int]          # (section index, part index)
    candidate: int
    bars: list[SheetBar]
    spec: PartSpec
    energy: int
    prompt: list[int]
    forced: list[list[int]]        # per bar: Bar + chord tokens
    low: int
    high: int
    # generation state
    bar: int = 0                   # index of the bar being written
    queue: list[int] = field(default_factory=list)  # forced tokens still to emit
    expect: str = "bar"            # grammar state: note-start | pitch | velocity | duration
    last_pos: int = -1
    notes_in_bar: int = 0
    notes: int = 0                 # notes written in the chunk so far, and at how many onsets
    onsets: int = 0
    budget: float = math.inf       # notes per bar the plan's energy allows, on average
    until: int = 0                 # the row's notes sound until this tick, counted from the bar's start
    last_pitch: int = -1           # the line's last pitch (-1: none yet)
    leap: int = 0                  # the direction of the line's last move when it leapt a fifth or more, else 0
    done: bool = False
    out: list[int] = field(default_factory=list)
    heard: dict[int, frozenset] = field(default_factory=dict)  # tick -> pitch classes other tracks sound
    blue: frozenset = frozenset()  # pitch classes that may rub against what is heard (a blues lead's blue notes)
    cadence: frozenset = frozenset()  # indices (in `bars`) of bars that end a section
    tune: dict[int, list[int]] = field(default_factory=dict)  # bar (in `bars`) -> the melody's onsets (16ths)
    # the vocabulary mask of the pitches the row may write: unset until TransformerArranger._pitch_mask makes it
    pitch_ok: torch.Tensor = field(init=False, repr=False, compare=False)
    forced_after: list[int] = field(init=False, repr=False, compare=False)  # per bar: forced tokens of the later bars

    def __post_init__(self) -> None:
        self.forced_after = [sum(len(f) for f in self.forced[b + 1:]) for b in range(len(self.forced))]


class TransformerArranger:
    def __init__(self, model, tokenizer: MusicTokenizer, text_embed: Callable[[list[str]], np.ndarray] | None = None,
                 config: GenerationConfig | None = None):
        self.model = model.eval()
        self.cfg = config or GenerationConfig()
        self.tok = tokenizer
        self.text_embed = text_embed
        k = tokenizer._kinds
        self.fam = [f for f, _ in k]
        self.val = [v for _, v in k]
        self.V = tokenizer.vocab_size
        self.ids = {f: torch.tensor([i for i, (ff, _) in enumerate(k) if ff == f], dtype=torch.long)
                    for f in set(self.fam)}
        self.pitch_of = {i: v for i, (f, v) in enumerate(k) if f in ("Pitch", "PitchDrum")}
        self.pos_of = {i: v for i, (f, v) in enumerate(k) if f == "Position"}

    @classmethod
    def load(cls, directory: str | Path = WEIGHTS_DIR, text: bool = True) -> "TransformerArranger":
        from ..model import MusicGPT
        directory = Path(directory)
        if not (directory / "model.safetensors").exists():
            raise GenerationError(f"no trained model in {directory}")
        model = MusicGPT.from_pretrained(directory)
        tok = MusicTokenizer.in_folder(directory)
        embed = None
        if text:
            try:
                from ..text import embed as embed_fn
                embed = embed_fn
            except Exception:  # noqa: BLE001 - the model still works with an empty text prefix
                embed = None
        return cls(model, tok, embed, GenerationConfig.load(directory))

    # --- building rows ------------------------------------------------------------------

    def _header(self, sheet: Sheet, si: int, spec: PartSpec, bars: list[SheetBar], energy: int) -> list[int]:
        sec = sheet.sections[si]
        key = bars[0].key
        header = {"role": spec.role, "program": "drums" if spec.drum else spec.program, "drum": spec.drum,
                  "key": (key.tonic, key.mode), "meter": (bars[0].bar.numerator, bars[0].bar.denominator),
                  "tempo": bars[0].tempo, "energy": energy, "section": section_class(sec.label, sec.name),
                  "form_pos": form_position(bars[0].index, len(sheet.bars)), "style": sheet.idiom.genre}
        return self.tok.header_ids(header)

    def _context(self, sheet: Sheet, score: Score, written: dict[tuple[int, int], list[Note]], si: int,
                 pi: int) -> dict[str, list[Note]]:
        """What the part (si, pi) hears (symbolic.tokenizer.hears): the notes of the parts of those roles kept
        in `score` or written in an earlier stage, in the section's bars."""
        lo, hi = sheet.ticks(sheet.sections[si])
        out: dict[str, list[Note]] = {}
        for qi, spec in enumerate(sheet.parts):
            if qi == pi or spec.drum or spec.role not in hears(sheet.parts[pi].role):
                continue
            notes = written.get((si, qi)) or [n for n in score.parts[qi].notes if lo <= n.start < hi]
            if notes:
                out.setdefault(spec.role, []).extend(notes)
        return out

    def _rows(self, sheet: Sheet, cells: list[tuple[int, int]], n_candidates: int,
              context: Callable[[int, int], dict[str, list[Note]]] | None = None) -> list[Row]:
        rows = []
        for si, pi in cells:
            sec = sheet.sections[si]
            spec = sheet.parts[pi]
            inst = instrument_of(spec.name, spec.program, spec.drum)
            bars = [sheet.bars[i] for i in sec.bar_range]
            heard = context(si, pi) if context is not None else {}
            room = self.model.config.block_size - 16
            per_bar = self.cfg.tokens_per_bar.get(spec.role, 48)
            if heard:  # the context block takes its share of the window
                per_bar += math.ceil(len(self.tok.context_ids(heard, bars)) / len(bars))
            for chunk in _chunks(bars, max(1, min(self.cfg.chunk_bars, room // per_bar))):
                prompt = self._header(sheet, si, spec, chunk, sec.energy) + self.tok.context_ids(heard, chunk)
                forced, carry = [], None
                for b in chunk:
                    ids = self.tok.bar_ids(b, carry)
                    carry = ids[-1]
                    forced.append(ids)
                ends = frozenset(i for i, b in enumerate(chunk) if b.index == sec.last_bar)
                budget = self.energy_budget(spec.role, sec.energy)
                blue = blue_notes(sheet.idiom.genre, chunk[0].key.tonic) if spec.role in self.cfg.theme_roles \
                    else frozenset()
                tune = _onsets_by_bar(heard.get("melody", []), chunk) if spec.role in self.cfg.answer_roles else {}
                for k in range(n_candidates):
                    rows.append(Row((si, pi), k, chunk, spec, sec.energy, list(prompt), [list(f) for f in forced],
                                    inst.low, inst.high, cadence=ends, budget=budget, blue=blue, tune=tune))
        return rows

    def energy_budget(self, role: str, energy: int) -> float:
        """Notes per bar a part of this role may write on average at this energy level (1-5)."""
        t = self.tok.energy_thresholds.get(role)
        if not t or self.cfg.energy_slack <= 0:
            return math.inf
        level = min(max(int(energy), 1), len(t) + 1)
        return self.cfg.energy_slack * (t[level - 1] if level <= len(t) else self.cfg.top_level_span * t[-1])

    # --- the constrained sampling loop ------------------------------------------------------

    def _tables(self) -> None:
        if hasattr(self, "pos_val"):
            return
        V = self.V
        self.pos_val = torch.full((V,), -1, dtype=torch.long)
        self.pitch_val = torch.full((V,), -1, dtype=torch.long)
        for i, p in self.pos_of.items():
            self.pos_val[i] = p
        for i, p in self.pitch_of.items():
            self.pitch_val[i] = p
        fam = np.array(self.fam)
        self.is_pitch = torch.from_numpy(fam == "Pitch")
        self.is_drum_pitch = torch.from_numpy(fam == "PitchDrum")
        self.is_vel = torch.from_numpy(fam == "Velocity")
        self.is_dur = torch.from_numpy(fam == "Duration")
        self.is_pos = self.pos_val >= 0
        self.pos_id = {p: i for i, p in self.pos_of.items()}
        self._bias_cache: dict[tuple | frozenset, torch.Tensor] = {}

    def _pitch_mask(self, row: Row) -> torch.Tensor:
        if not hasattr(row, "pitch_ok"):
            if row.spec.drum:
                row.pitch_ok = self.is_drum_pitch.clone()
            else:
                row.pitch_ok = self.is_pitch & (self.pitch_val >= row.low) & (self.pitch_val <= row.high)
        return row.pitch_ok

    def _chord_bias(self, bar: SheetBar, pos: int, harmony_only: bool = False,
                    blue: frozenset = frozenset()) -> torch.Tensor:
        tick = bar.bar.start + pos * STEP
        chord = bar.chord_at(tick)
        strong = any(p.start == tick and p.strength >= 0.6 for p in pulses(bar))
        key = (chord.root, chord.quality, chord.bass, bar.key.tonic, bar.key.mode, strong, harmony_only, blue)
        bias = self._bias_cache.get(key)
        if bias is None:
            pcs = torch.tensor(sorted(chord.pitch_classes))
            scale = torch.tensor(sorted(bar.key.scale_pcs | blue))  # blue notes are in a blues player's scale
            pc = self.pitch_val % 12
            in_chord = self.is_pitch & torch.isin(pc, pcs)
            off_key = self.is_pitch & ~torch.isin(pc, scale) & ~in_chord
            on, off, out = self.cfg.chord_bias
            bias = in_chord.float() * (on if strong else off) - off_key.float() * out
            if blue and not strong:  # a blues player leans on the blue notes between the beats
                bias = bias + self.cfg.blue_bias * (self.is_pitch & torch.isin(pc, torch.tensor(sorted(blue))) &
                                                    ~in_chord).float()
            if strong and harmony_only:  # finite, so that a zero weight elsewhere in the batch stays zero
                bias = bias - 1e4 * (self.is_pitch & ~in_chord).float()
            self._bias_cache[key] = bias
        return bias

    def _listen_bias(self, heard: frozenset | None, blue: frozenset = frozenset()) -> torch.Tensor | float:
        if not heard:
            return 0.0
        bias = self._bias_cache.get((heard, blue))
        if bias is None:
            clash = [pc for pc in range(12) if clashes(pc, heard) and pc not in blue]
            bias = -self.cfg.listen_penalty * (self.is_pitch & torch.isin(self.pitch_val % 12, torch.tensor(clash))).float()
            self._bias_cache[(heard, blue)] = bias
        return bias

    def _listen(self, rows: list[Row], sheet: Sheet, score: Score, written: dict[tuple[int, int], list[Note]]) -> None:
        """Give every row the pitch classes that the other pitched tracks (kept in `score`, or written in
        an earlier stage) sound at each 16th of its bars."""
        for r in rows:
            si, pi = r.cell
            lo, hi = r.bars[0].bar.start, r.bars[-1].bar.end
            others = [n for qi, part in enumerate(score.parts) if qi != pi and not sheet.parts[qi].drum
                      for n in part.notes if n.start < hi and n.end > lo]
            others += [n for (sj, qj), notes in written.items() if sj == si and qj != pi
                       for n in notes if n.start < hi and n.end > lo]
            heard = {}
            for tick in range(lo, hi, STEP):
                pcs = frozenset(n.pitch % 12 for n in others if n.start <= tick < n.end)
                if pcs:
                    heard[tick] = pcs
            r.heard = heard

    def _advance(self, row: Row, token: int) -> int:
        """Update a row after the sampler chose `token`; returns the token actually emitted
        (the end of a bar is replaced by the plan's next Bar and chords, or by EOS after the last)."""
        eos = self.tok.eos_id
        if not row.queue and self.fam[token] in ("Bar", "EOS"):
            row.until = max(0, row.until - row.bars[row.bar].bar.length)
            row.bar += 1
            row.queue = list(row.forced[row.bar]) if row.bar < len(row.bars) else [eos]
        if row.queue:
            token = row.queue.pop(0)
            row.out.append(token)
            if token == eos:
                row.done = True
            elif not row.queue:
                row.expect, row.last_pos, row.notes_in_bar = "note-start", -1, 0
            return token
        row.out.append(token)
        fam = self.fam[token]
        if fam == "Position":
            row.last_pos = self.pos_of[token]
            row.expect = "pitch"
            row.onsets += 1
        elif fam in ("Pitch", "PitchDrum"):
            pitch = self.val[token]
            if row.expect == "pitch":  # the first note of a new onset (right after its Position): the line moves
                move = pitch - row.last_pitch if row.last_pitch >= 0 else 0
                row.leap = (move > 0) - (move < 0) if abs(move) >= 7 else 0
            row.last_pitch = pitch
            row.expect = "velocity"
            row.notes_in_bar += 1
            row.notes += 1
            if fam == "PitchDrum":
                row.until = max(row.until, (row.last_pos + 1) * STEP)
        elif fam == "Velocity":
            row.expect = "after-note" if row.spec.drum else "duration"
        elif fam == "Duration":
            row.expect = "after-note"
            row.until = max(row.until, row.last_pos * STEP + self.val[token])
        return token

    @torch.no_grad()
    def _sample(self, rows: list[Row], text: torch.Tensor | None, temperature: float, top_p: float,
                seed: int, progress=None, pitch_temperature: float | None = None) -> None:
        """Sample every row together. Masks are built for the whole batch at once from each row's
        grammar state; only the state updates run per row in Python."""
        self._tables()
        model = self.model
        gen = torch.Generator().manual_seed(seed)
        V = self.V
        for r in rows:
            r.queue = list(r.forced[0])
        B = len(rows)
        # Prompts differ in length where their context blocks do: left-padded, the pads hidden from attention.
        prompts, mask, _ = pad_prompts([r.prompt for r in rows], self.tok.pad_id, "cpu")
        need = [len(r.prompt) + sum(len(f) for f in r.forced) + len(r.bars) * self.cfg.max_notes_per_bar.get(r.spec.role, 32) * 4 + 4
                for r in rows]
        cap = min(model.config.block_size, max(need))
        cache = model.new_cache(B, model.config.n_text_tokens + cap + 1)
        logits = model(prompts, text, past=cache, attention_mask=mask).logits[:, -1].float()
        steps = cap - prompts.shape[1]
        pitch_ok = torch.stack([self._pitch_mask(r) for r in rows])          # (B, V)
        bias = torch.zeros(B, V)
        max_notes = torch.tensor([self.cfg.max_notes_per_bar.get(r.spec.role, 32) for r in rows])
        drum = torch.tensor([r.spec.drum for r in rows])
        active = torch.arange(B)
        # Pitches may be drawn hotter than the rhythm (positions, bar ends): variety of notes without gaps;
        # the rhythm's temperature is per row (rhythm_heat by role).
        rhythm_t = torch.tensor([float(temperature) * self.cfg.rhythm_heat.get(r.spec.role, 1.0) for r in rows])
        pitch_heat = float(temperature if pitch_temperature is None else pitch_temperature)
        pitch_t = torch.tensor([pitch_heat * self.cfg.pitch_role_heat.get(r.spec.role, 1.0) for r in rows])
        bar_eos = torch.zeros(V, dtype=torch.bool)
        bar_eos[self.tok.bar_id] = True
        bar_eos[self.tok.eos_id] = True
        rest = self.cfg.rest_penalty > 0
        for step in range(steps):
            act = active.tolist()
            n = len(act)
            left = steps - step - 1
            # Each row's grammar state, read in Python and handed to torch once per step.
            state_l, forced_l = [0] * n, [0] * n
            last_l, npos_l, notes_l = [0] * n, [1] * n, [0] * n
            # The energy budget: another onset only while its expected notes (the row's mean per onset)
            # fit in what the bars so far allow, another note at this onset only while below it.
            onset_l, note_l = [True] * n, [True] * n
            gap_l = [1 << 20] * n     # onsets from here leave a beat silent
            bar_gap_l = [False] * n   # ending the bar now leaves one
            answer: list[tuple[int, int]] = []  # (row, Position id) on the melody's onsets
            for j, ri in enumerate(act):
                r = rows[ri]
                if r.done:  # kept in the batch until enough rows are done to make dropping them pay
                    forced_l[j] = self.tok.pad_id
                    continue
                if not r.queue and r.expect in ("note-start", "after-note") and left <= r.forced_after[r.bar] + 4:
                    # Out of room: close this bar and the rest with the plan's bars and no more notes.
                    r.queue = [t for f in r.forced[r.bar + 1:] for t in f] + [self.tok.eos_id]
                    r.bar = len(r.bars) - 1
                if r.queue:
                    forced_l[j] = r.queue[0]
                else:
                    state_l[j] = _STATES[r.expect]
                last_l[j] = r.last_pos
                npos_l[j] = r.bars[r.bar].bar.length // STEP
                notes_l[j] = r.notes_in_bar
                if r.budget < math.inf:
                    allowed = r.budget * (r.bar + 1)
                    onset_l[j] = r.notes + max(1.0, r.notes / max(1, r.onsets)) <= allowed
                    note_l[j] = r.notes < allowed
                if rest and r.spec.role in self.cfg.rest_roles:
                    bar = r.bars[r.bar].bar
                    beat = PPQ * 4 // bar.denominator
                    silent = -(-r.until // beat) * beat + beat  # the end of the first beat nothing sounds in yet
                    gap_l[j] = silent // STEP
                    bar_gap_l[j] = silent <= bar.length
                if r.tune and r.expect in ("note-start", "after-note") and not r.queue:
                    answer += [(j, self.pos_id[p]) for p in r.tune.get(r.bar, ()) if p > r.last_pos and p in self.pos_id]
            state, forced = torch.tensor(state_l), torch.tensor(forced_l)
            last_pos, n_pos, notes = torch.tensor(last_l), torch.tensor(npos_l), torch.tensor(notes_l)
            onset_ok, note_ok = torch.tensor(onset_l), torch.tensor(note_l)
            gap_pos, bar_gap = torch.tensor(gap_l), torch.tensor(bar_gap_l)
            mask = torch.zeros(n, V, dtype=torch.bool)
            sel = state == 0
            if bool(sel.any()):
                idx = sel.nonzero().squeeze(1)
                mask[idx, forced[idx]] = True
            sel = state == _STATES["pitch"]
            if bool(sel.any()):
                mask[sel] = pitch_ok[active[sel]]
            sel = state == _STATES["velocity"]
            if bool(sel.any()):
                mask[sel] = self.is_vel
            sel = state == _STATES["duration"]
            if bool(sel.any()):
                mask[sel] = self.is_dur
            sel = (state == _STATES["note-start"]) | (state == _STATES["after-note"])
            if bool(sel.any()):
                room = (notes < max_notes[active])[:, None]
                pos = self.is_pos[None, :] & (self.pos_val[None, :] > last_pos[:, None]) & (self.pos_val[None, :] < n_pos[:, None])
                starts = (pos & room & onset_ok[:, None]) | bar_eos[None, :]
                after = (state == _STATES["after-note"])[:, None] & room & note_ok[:, None] & pitch_ok[active]
                mask[sel] = (starts | after)[sel]
            use_bias = ((state == _STATES["pitch"]) | (state == _STATES["after-note"])) & ~drum[active]
            scores = logits + bias[active] * use_bias[:, None]
            if rest:
                onset = ((state == _STATES["note-start"]) | (state == _STATES["after-note"]))[:, None]
                gap = (self.is_pos[None, :] & (self.pos_val[None, :] >= gap_pos[:, None])) | \
                    (bar_eos[None, :] & bar_gap[:, None])
                scores = scores - self.cfg.rest_penalty * (gap & onset).float()
            if answer:  # a counter-line answers in the melody's rests rather than doubling its rhythm
                at = torch.tensor(answer, dtype=torch.long)
                scores = scores.index_put((at[:, 0], at[:, 1]), torch.tensor(-self.cfg.answer_penalty), accumulate=True)
            scores = scores.masked_fill(~mask, -math.inf)
            if temperature <= 0:
                choice = scores.argmax(-1)
            else:
                choice = _sample_rows(_heat(scores, rhythm_t[active], pitch_t[active], self.is_pitch), 1.0, top_p, gen)
            chosen = torch.where(state == 0, forced, choice).tolist()
            nxt_l = [self.tok.pad_id] * n
            for j, ri in enumerate(act):
                r = rows[ri]
                if r.done:
                    continue
                before = (r.expect, r.last_pos, r.bar)
                nxt_l[j] = self._advance(r, chosen[j])
                if not r.done and not r.spec.drum and r.expect in ("pitch", "after-note") and \
                        (r.last_pos, r.bar) != before[1:]:
                    harmony_only = r.spec.role in self.cfg.harmony_roles or r.bar in r.cadence
                    bias[ri] = self._chord_bias(r.bars[r.bar], r.last_pos, harmony_only, r.blue) + \
                        self._listen_bias(r.heard.get(r.bars[r.bar].bar.start + r.last_pos * STEP), r.blue)
                    if r.last_pitch >= 0 and self.cfg.step_bias and r.spec.role in self.cfg.step_roles:
                        move = self.pitch_val - r.last_pitch
                        near = self.is_pitch & (move.abs() <= 2)
                        if r.leap:  # a leap is answered by a step back, and more surely
                            bias[ri] += 2 * self.cfg.step_bias * (near & (move * r.leap < 0)).float()
                        else:
                            bias[ri] += self.cfg.step_bias * near.float()
            nxt = torch.tensor(nxt_l)
            keep = [j for j, ri in enumerate(act) if not rows[ri].done]
            if not keep:
                break
            # Dropping rows copies the whole cache: done only once a quarter of the batch is done.
            if len(keep) <= n - max(1, n // 4):
                keep_t = torch.tensor(keep, dtype=torch.long)
                cache.select(keep_t)
                active = active[keep_t]
                nxt = nxt[keep_t]
            logits = model(nxt[:, None], past=cache).logits[:, -1].float()
            if progress and step % 64 == 0:
                progress(min(0.95, step / max(1, steps)), f"writing notes: {sum(r.done for r in rows)}/{B} sequences done")

    # --- scoring candidates -------------------------------------------------------------------

    def _notes(self, row: Row) -> list[Note]:
        _, notes, _ = self.tok.decode(row.prompt + row.out)
        origin = row.bars[0].bar.start
        end = row.bars[-1].bar.end
        out = []
        for n in notes:
            s = origin + n.start
            e = min(origin + n.end, end)
            if s < end and e > s:
                out.append(Note(s, e, n.pitch, n.velocity))
        return _hold(out, row.bars) if row.spec.role in self.cfg.harmony_roles else out

    def score_candidate(self, row: Row, notes: list[Note]) -> float:
        """Harmonic fit + rhythmic fit + closeness to the planned energy + consonance with what the other
        tracks sound (each 0..1)."""
        if not notes:
            return -1.0
        strong_hits = strong_total = 0
        on_grid = 0.0
        downbeats = set()
        for n in notes:
            bi = _bar_in(row.bars, n.start)
            bar = row.bars[bi]
            ps = pulses(bar)
            if n.start == bar.bar.start:
                downbeats.add(bi)
            if any(p.start == n.start for p in ps):
                on_grid += 1
                if not row.spec.drum and any(p.start == n.start and p.strength >= 0.6 for p in ps):
                    strong_total += 1
                    strong_hits += n.pitch % 12 in bar.chord_at(n.start).pitch_classes
            else:
                # Off-beat 8ths and 16ths are part of any style; they weigh less than the beats, not nothing.
                on_grid += 0.8 if (n.start - bar.bar.start) % (2 * STEP) == 0 else 0.6
        harmonic = strong_hits / strong_total if strong_total else 1.0
        # Drums fit the meter by marking the bars (a hit on the downbeat), not by avoiding off-beats.
        rhythmic = len(downbeats) / len(row.bars) if row.spec.drum else on_grid / len(notes)
        level = self.tok.energy(row.spec.role, len(notes), len(row.bars))
        energy = 1.0 - abs(level - row.energy) / 4
        clashing = 0 if row.spec.drum else sum(clashes(n.pitch, row.heard.get(n.start, ())) and n.pitch % 12 not in row.blue
                                               for n in notes)
        return harmonic + rhythmic + energy + 1.0 - clashing / len(notes)

    def describe(self, row: Row, notes: list[Note]) -> str:
        """A caption of one candidate in the words briefs use (energy, register, motion, articulation)."""
        role = row.spec.role
        name = "drums" if row.spec.drum else instrument_of(row.spec.name, row.spec.program).name.lower()
        level = self.tok.energy(role, len(notes), len(row.bars))
        words = [_ENERGY_WORDS[level - 1]]
        if notes and not row.spec.drum:
            mean = sum(n.pitch for n in notes) / len(notes)
            words.append("low" if mean < 48 else "high" if mean > 74 else "")
        words.append(f"{name} {role.replace('-', ' ')} part")
        if len(notes) > 2:
            onsets = sorted(notes, key=lambda n: (n.start, n.pitch))
            if not row.spec.drum and role in ("melody", "counter-melody", "bass"):
                leaps = [abs(b.pitch - a.pitch) for a, b in zip(onsets, onsets[1:])]
                words.append("with smooth stepwise lines" if sum(leaps) / len(leaps) <= 2.5 else
                             "with wide leaps" if sum(leaps) / len(leaps) >= 5 else "")
            gaps = [b.start - a.start for a, b in zip(onsets, onsets[1:]) if b.start > a.start]
            if gaps and not row.spec.drum:
                held = sum(min(n.duration, g) for n, g in zip(onsets, gaps)) / sum(gaps)
                words.append("played legato" if held > 0.9 else "short and punchy" if held < 0.5 else "")
        return " ".join(w for w in words if w)

    def text_fit(self, rows: list[Row], candidates: list[list[Note]], brief_emb: np.ndarray | None) -> list[float]:
        """Similarity of each candidate's caption to the brief, by the same sentence encoder the model
        reads (local, no network); zeros without an encoder or a brief."""
        if brief_emb is None or self.text_embed is None or len(rows) == 0:
            return [0.0] * len(rows)
        texts = [self.describe(r, ns) for r, ns in zip(rows, candidates)]
        uniq = sorted(set(texts))
        embs = self.text_embed(uniq)
        b = np.asarray(brief_emb, dtype=np.float64)
        b = b / (np.linalg.norm(b) + 1e-9)
        cos = {t: float(np.dot(e, b) / (np.linalg.norm(e) + 1e-9)) for t, e in zip(uniq, np.asarray(embs, np.float64))}
        return [self.cfg.text_weight * cos[t] for t in texts]

    # --- the arranger --------------------------------------------------------------------------

    def _write(self, rows: list[Row], emb: np.ndarray | None, temperature: float, top_p: float, seed: int,
               progress, pitch_temperature: float) -> dict[tuple[int, int], list[Note]]:
        """Sample the rows together and keep the best candidate of every chunk; the notes per cell."""
        text = None if emb is None else torch.tensor(np.repeat(emb[None, :], len(rows), axis=0), dtype=torch.float32)
        self._sample(rows, text, temperature, top_p, seed, progress, pitch_temperature)
        candidates = [self._notes(r) for r in rows]
        fits = self.text_fit(rows, candidates, emb)
        best: dict[tuple[int, int], dict[int, tuple[float, list[Note]]]] = {}
        for r, notes, fit in zip(rows, candidates, fits):
            s = self.score_candidate(r, notes) + fit
            chunk = r.bars[0].index
            cur = best.setdefault(r.cell, {}).get(chunk)
            if cur is None or s > cur[0]:
                best[r.cell][chunk] = (s, notes)
        return {cell: [n for _, (_, ns) in sorted(chunks.items()) for n in ns] for cell, chunks in best.items()}

    def arrange(self, sheet: Sheet, seed: int = 0, base: Score | None = None, bars: set[int] | None = None,
                tracks: set[str] | None = None, locked: set[str] | frozenset = frozenset(), brief: str = "",
                n_candidates: int | None = None, temperature: float | None = None, top_p: float | None = None, progress=None,
                pitch_temperature: float | None = None, listen: bool = True) -> Score:
        """Write the notes of the sheet (or of `bars` x `tracks`, keeping the rest of `base` and the
        `locked` tracks). Pitches are sampled at `pitch_temperature` (default temperature x pitch_heat).
        With `listen`, the lead parts are written first and every part avoids clashing with the others."""
        cfg = self.cfg.sampling(n_candidates=n_candidates, temperature=temperature, top_p=top_p)
        n_candidates, temperature, top_p = cfg.n_candidates, cfg.temperature, cfg.top_p
        if pitch_temperature is None:
            pitch_temperature = temperature * cfg.pitch_heat
        score = sheet.empty_score()
        regen_bars = set(range(len(sheet.bars))) if bars is None else set(bars)
        regen_tracks = {p.name for p in sheet.parts} if tracks is None else set(tracks)
        regen_tracks -= set(locked)
        if base is not None:
            copy_kept(base, score, sheet, regen_bars, regen_tracks)
        # One cell per (section material, part): later sections with the same material reuse it.
        first_of: dict[tuple, int] = {}
        cells, reuse = [], {}
        for si, sec in enumerate(sheet.sections):
            if not any(b in regen_bars for b in sec.bar_range):
                continue
            sig = _material_signature(sheet, sec)
            for pi, spec in enumerate(sheet.parts):
                if spec.name not in regen_tracks:
                    continue
                # The theme comes back whatever the energy; the other parts only at the same energy (a
                # return at the climax of a build gets a fuller accompaniment of its own).
                key = (sig, pi) if spec.role in self.cfg.theme_roles else (sig, sec.energy, pi)
                if key in first_of:
                    reuse[(si, pi)] = first_of[key]
                else:
                    first_of[key] = si
                    cells.append((si, pi))
        material: dict[tuple[int, int], list[Note]] = {}
        if cells:
            emb = None
            if self.text_embed is not None and self.model.config.n_text_tokens:
                emb = self.text_embed([brief or sheet.style or sheet.title])[0]
            lead = [c for c in cells if sheet.parts[c[1]].role in self.cfg.lead_roles]
            stages = [st for st in (lead, [c for c in cells if c not in lead]) if st] if listen else [cells]
            for k, stage in enumerate(stages):
                part_progress = None
                if progress:
                    def part_progress(f, msg, k=k):
                        progress((k + f) / len(stages), msg)
                rows = self._rows(sheet, stage, n_candidates,
                                  lambda si, pi: self._context(sheet, score, material, si, pi))
                if listen:
                    self._listen(rows, sheet, score, material)
                written = self._write(rows, emb, temperature, top_p, seed + 7919 * k, part_progress, pitch_temperature)
                for (si, pi), notes in written.items():
                    if all(b in regen_bars for b in sheet.sections[si].bar_range):
                        written[(si, pi)] = _repeat_phrases(sheet, si, sheet.parts[pi], notes, seed)
                material.update(written)
        for (si, pi), src in list(reuse.items()):
            notes = material.get((src, pi), [])
            off = sheet.bars[sheet.sections[si].first_bar].bar.start - sheet.bars[sheet.sections[src].first_bar].bar.start
            moved = [Note(n.start + off, n.end + off, n.pitch, n.velocity) for n in notes]
            spec = sheet.parts[pi]
            if spec.role in VARIED_ROLES:
                moved = _vary_notes(sheet, si, spec, moved, seed)
            material[(si, pi)] = _fit_changed(moved, sheet, si, src, spec)
        for (si, pi), notes in material.items():
            part = score.parts[pi]
            if not sheet.parts[pi].drum:
                notes = _land(notes, sheet, sheet.sections[si], sheet.parts[pi])
            lo, hi = sheet.ticks(sheet.sections[si])
            for n in notes:
                if lo <= n.start < hi and bar_index(sheet, n.start) in regen_bars:
                    part.notes.append(n)
        for part in score.parts:
            part.notes = one_per_onset(part.notes)
        if progress:
            progress(1.0, f"wrote {score.n_notes} notes")
        return score


def _land(notes: list[Note], sheet: Sheet, sec: SheetSection, spec: PartSpec) -> list[Note]:
    """The cadence arrives on the harmony: at the downbeat of the section's last bar, a note held over it
    off the chord stops there, and one struck there off the chord (a varied repeat can move one) takes the
    nearest chord tone in the instrument's range. Sampling already masks the new notes struck there."""
    last = sheet.bars[sec.last_bar]
    t = last.bar.start
    pcs = last.chord_at(t).pitch_classes
    inst = instrument_of(spec.name, spec.program, spec.drum)
    out = []
    for n in notes:
        if n.pitch % 12 in pcs or not n.start <= t < n.end:
            out.append(n)
        elif n.start < t:
            out.append(Note(n.start, t, n.pitch, n.velocity))
        else:
            near = [p for p in range(n.pitch - 6, n.pitch + 7) if p % 12 in pcs and inst.low <= p <= inst.high]
            if near:
                out.append(Note(n.start, n.end, min(near, key=lambda p: (abs(p - n.pitch), p)), n.velocity))
    return out


def _chunks(bars: list[SheetBar], most: int) -> list[list[SheetBar]]:
    """A section's bars in runs of at most `most`, as even as they go and in whole 4-bar phrases where
    a run can hold one: 8 bars at most 7 are 4 + 4, not 7 + 1 (a lone bar has no phrase to follow,
    and the longest run sets how many steps the whole batch takes)."""
    if most >= 4:
        most -= most % 4
    n = -(-len(bars) // most)
    size, extra = divmod(len(bars), n)
    out, at = [], 0
    for i in range(n):
        k = size + (i < extra)
        out.append(bars[at:at + k])
        at += k
    return out


def _onsets_by_bar(notes: list[Note], bars: list[SheetBar]) -> dict[int, list[int]]:
    """Per bar (index in `bars`): the 16th positions where these notes start."""
    out: dict[int, set[int]] = {}
    for n in notes:
        if bars[0].bar.start <= n.start < bars[-1].bar.end and n.start % STEP == 0:
            bi = _bar_in(bars, n.start)
            out.setdefault(bi, set()).add((n.start - bars[bi].bar.start) // STEP)
    return {b: sorted(ps) for b, ps in out.items()}


def _bar_in(bars: list[SheetBar], tick: int) -> int:
    for i in range(len(bars) - 1, -1, -1):
        if bars[i].bar.start <= tick:
            return i
    return 0


def _bar_signature(b: SheetBar) -> tuple:
    """What two bars must share for one's notes to fit the other: meter, key and chords in place."""
    return (b.bar.numerator, b.bar.denominator, b.key.tonic, b.key.mode,
            tuple((c.start - b.bar.start, c.chord.root, c.chord.quality) for c in b.chords))


def _material_signature(sheet: Sheet, sec: SheetSection) -> tuple:
    """Sections share material when their label, length, every bar's meter and key, and the chord roots in
    place agree up to the last two bars: a return keeps its theme through a new cadence or a seventh added
    to a chord (its notes are fitted to those bars, _fit_changed)."""
    bars = [sheet.bars[i] for i in sec.bar_range]
    head = bars[:-2] if len(bars) > 2 else bars
    return (sec.material, len(bars), tuple((b.bar.numerator, b.bar.denominator, b.key.tonic, b.key.mode)
                                           for b in bars),
            tuple(tuple((c.start - b.bar.start, c.chord.root) for c in b.chords) for b in head))


def _fit_changed(notes: list[Note], sheet: Sheet, si: int, src: int, spec: PartSpec) -> list[Note]:
    """Reused notes in the bars whose chords differ from the source's: a note struck on a beat (or held a
    beat or more) off the new chord takes its nearest chord tone, a bass note where a chord starts the root;
    passing notes and a blues line's blue notes stay."""
    a, b = sheet.sections[si], sheet.sections[src]
    changed = {a.first_bar + k for k in range(a.n_bars)
               if _bar_signature(sheet.bars[a.first_bar + k]) != _bar_signature(sheet.bars[b.first_bar + k])}
    if not changed or spec.drum:
        return notes
    inst = instrument_of(spec.name, spec.program, spec.drum)
    out = []
    for n in notes:
        bi = bar_index(sheet, n.start)
        if bi not in changed:
            out.append(n)
            continue
        bar = sheet.bars[bi]
        span = next((c for c in bar.chords if c.start <= n.start < c.end), bar.chords[-1])
        beat = PPQ if bar.bar.denominator == 4 else PPQ * 3 // 2
        strong = (n.start - bar.bar.start) % beat == 0 or n.duration >= beat
        pcs = {span.chord.root} if spec.role == "bass" and n.start == span.start else span.chord.pitch_classes
        blue = blue_notes(sheet.idiom.genre, bar.key.tonic) if spec.role != "bass" else frozenset()
        if n.pitch % 12 in pcs or not strong or n.pitch % 12 in blue:
            out.append(n)
            continue
        near = [q for q in range(n.pitch - 6, n.pitch + 7) if q % 12 in pcs and inst.low <= q <= inst.high]
        out.append(Note(n.start, n.end, min(near, key=lambda q: (abs(q - n.pitch), q)), n.velocity) if near else n)
    return out


def _repeat_phrases(sheet: Sheet, si: int, spec: PartSpec, notes: list[Note], seed: int) -> list[Note]:
    """Phrases come back inside a long section as sections do across the piece: an 8-bar (or 4-bar)
    phrase whose chords repeat an earlier phrase of the section up to its last two bars (the planner's
    a a' b a'', each with a new cadence) takes that phrase's notes there, varied like a repeated section;
    its cadence bars keep their own notes. Rows are written chunk by chunk, so without this a long section
    would never state its phrase again."""
    sec = sheet.sections[si]
    n = sec.n_bars
    size = 8 if n % 8 == 0 else 4 if n % 4 == 0 else 0
    if not size or n < 2 * size:
        return notes
    bars = [sheet.bars[i] for i in sec.bar_range]
    keep = size - 2
    heads: dict[tuple, int] = {}
    out = list(notes)
    for j in range(0, n, size):
        head = tuple(_bar_signature(b) for b in bars[j:j + keep])
        src = heads.setdefault(head, j)
        if src == j:
            continue
        lo, hi = bars[j].bar.start, bars[j + keep].bar.start
        s_lo = bars[src].bar.start
        off = lo - s_lo
        copied = [Note(x.start + off, min(x.end + off, hi), x.pitch, x.velocity) for x in notes
                  if s_lo <= x.start < s_lo + (hi - lo)]
        if spec.role in VARIED_ROLES:
            copied = _vary_in(sheet, si, spec, bars[j:j + keep + 1], copied, 0.1, f"phrase|{seed}|{si}|{j}|{spec.name}",
                              final=False)
        out = [x for x in out if not lo <= x.start < hi] + copied
    return sorted(out, key=lambda x: (x.start, x.pitch))


def _vary_in(sheet: Sheet, si: int, spec: PartSpec, bars: list[SheetBar], notes: list[Note], amount: float,
             key: str, final: bool) -> list[Note]:
    """patterns.vary over `bars` of section si, with a generator seeded from `key`."""
    from .base import Cell
    inst = instrument_of(spec.name, spec.program, spec.drum)
    sec = sheet.sections[si]
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    cell = Cell(sheet, spec, si, bars, sec.energy, sheet.idiom, inst.low, inst.high, rng, final,
                None, sec.energy)
    return vary(notes, cell, amount, rng)


def _vary_notes(sheet: Sheet, si: int, spec: PartSpec, notes: list[Note], seed: int) -> list[Note]:
    sec = sheet.sections[si]
    amount = variation_amount(sheet, si)
    if not amount:
        return notes
    return _vary_in(sheet, si, spec, [sheet.bars[i] for i in sec.bar_range], notes, amount,
                    f"vary|{seed}|{si}|{spec.name}", final=si == len(sheet.sections) - 1)


_STATES = {"note-start": 1, "after-note": 2, "pitch": 3, "velocity": 4, "duration": 5}


def _hold(notes: list[Note], bars: list[SheetBar]) -> list[Note]:
    """Held harmony: each note lasts at least until the part's next onset (or the last bar's end), through
    the plan's chord changes while its pitch class is in the next chord (a common tone), and up to the
    first change where it is not. A pad that the energy budget keeps to a chord a bar then sounds through
    the bar instead of leaving it silent, without holding a tone against the next chord."""
    spans = [c for b in bars for c in b.chords]
    starts = [c.start for c in spans]
    end = bars[-1].bar.end
    onsets = sorted({n.start for n in notes})
    out = []
    for n in notes:
        k = bisect.bisect_right(onsets, n.start)
        until = min(onsets[k] if k < len(onsets) else end, end)
        if n.end >= until:
            out.append(n)
            continue
        j = max(0, bisect.bisect_right(starts, n.start) - 1)
        stop = spans[j].end
        while stop < until and j + 1 < len(spans) and n.pitch % 12 in spans[j + 1].chord.pitch_classes:
            j += 1
            stop = spans[j].end
        out.append(Note(n.start, max(n.end, min(until, stop)), n.pitch, n.velocity))
    return out


def _heat(scores: torch.Tensor, rhythm: torch.Tensor, pitch_t: torch.Tensor, is_pitch: torch.Tensor) -> torch.Tensor:
    """Logits at the rhythm's temperature (per row), with the choice among pitches at `pitch_t` (per row) and the
    pitch family's total mass still taken at the rhythm's: after a note, 'another note at this onset'
    against 'the next onset' is a rhythm decision (a hotter pitch temperature alone would thin the
    chords); only the choice among pitches is hotter."""
    pitch = is_pitch[None, :] & torch.isfinite(scores)
    cool = scores / rhythm[:, None]
    mass = torch.logsumexp(cool.masked_fill(~pitch, -math.inf), dim=1, keepdim=True)
    within = torch.log_softmax((scores / pitch_t[:, None]).masked_fill(~pitch, -math.inf), dim=1)
    return torch.where(pitch, mass + within, cool)


def _sample_rows(scores: torch.Tensor, temperature: float, top_p: float, gen: torch.Generator) -> torch.Tensor:
    """Nucleus sampling for every row of (n, V) masked logits."""
    probs = torch.softmax(scores / temperature, dim=-1)
    if top_p < 1.0:
        sp, si = torch.sort(probs, dim=-1, descending=True)
        cum = torch.cumsum(sp, dim=-1)
        sp = sp.masked_fill(cum - sp > top_p, 0.0)
        probs = torch.zeros_like(probs).scatter_(1, si, sp)
        probs = probs / probs.sum(-1, keepdim=True)
    return torch.multinomial(probs, 1, generator=gen).squeeze(1)
