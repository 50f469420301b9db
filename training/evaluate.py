"""`composer eval`: one table comparing the transformer, the pattern arranger and held-out human data.

Two parts, both deterministic for a seed:

* Held-out data: test-split sequences from the data build (one track over up to 8 bars with its
  chords, key, meter and tempo) are decoded; the arrangers write the same track from the same
  header and chords; per role we compare chord-tone ratio on strong beats, pitch-class entropy,
  scale consistency, groove consistency, empty-beat rate and note density.
* Briefs: the 17 MidiCaps captions and our own caption set go through the planner and the
  arrangers; we measure TB/TBT (MidiCaps tempo bins) and CK/CKD (music21's key of the notes against
  the requested key), key accuracy, chord-tone ratio against the plan and form agreement.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

from symbolic.harmony import Chord, HarmonyError, Key, parse_key
from symbolic.metrics import (
    analyze_key,
    cadence_rate,
    chord_tone_ratio,
    clash_rate,
    empty_beat_rate,
    form_agreement,
    groove_consistency,
    key_scores,
    nanmean,
    note_density,
    pitch_class_entropy,
    scale_consistency,
    tempo_scores,
    wasserstein1,
)
from symbolic.score import PPQ, Bar, ChordSpan, PartSpec, Sheet, SheetBar, SheetSection
from symbolic.tokenizer import MusicTokenizer
from training.captions import caption

NOT_LISTENING = "model, not listening"  # the model with every track written alone (an ablation)
ROLES = ("melody", "counter-melody", "chords", "pad", "arpeggio", "bass", "drums")
MIDICAPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "midicaps_examples" / "caption_examples.json"


def midicaps_examples(path: Path = MIDICAPS) -> list[dict]:
    """The 17 MidiCaps examples as {caption, key, tempo, meter}."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["tags"]
    out = []
    for block in re.split(r"\n\s*\n", data):
        cap = re.search(r"Caption:\s*(.+)", block)
        key = re.search(r"key tags:\s*([A-G][#b]?\s+(?:major|minor))", block)
        tempo = re.search(r"tempo tags:\s*\[(\d+)", block)
        meter = re.search(r"time signature tags:\s*(\d+/\d+)", block)
        if cap and key and tempo:
            out.append({"caption": cap.group(1).strip(), "key": key.group(1), "tempo": float(tempo.group(1)),
                        "meter": meter.group(1) if meter else "4/4"})
    return out


def own_captions(n: int = 24, seed: int = 0) -> list[dict]:
    """Captions in the MidiCaps style from random but plausible features (our caption set)."""
    from training.captions import caption
    rng = np.random.default_rng(seed)
    tonics = ["C", "G", "D", "A", "E", "F", "Bb", "Eb", "B", "F#", "Ab", "C#"]
    genres = ["pop", "rock", "jazz", "classical", "folk", "electronic", "ambient", "blues", "country", "soundtrack"]
    programs = [0, 4, 24, 25, 27, 32, 33, 40, 42, 48, 56, 65, 66, 71, 73]
    out = []
    for i in range(n):
        key = f"{tonics[int(rng.integers(len(tonics)))]} {'minor' if rng.random() < 0.4 else 'major'}"
        tempo = float(int(rng.integers(60, 180)))
        meter = ["4/4", "4/4", "4/4", "3/4", "6/8"][int(rng.integers(5))]
        progs = sorted(set(int(p) for p in rng.choice(programs, size=int(rng.integers(2, 5)), replace=False)))
        instruments = progs + (["drums"] if rng.random() < 0.5 else [])
        feats = {"key": key, "tempo": tempo, "meter": tuple(int(x) for x in meter.split("/")),
                 "instruments": instruments, "genre": genres[int(rng.integers(len(genres)))],
                 "duration": float(rng.integers(40, 150))}
        text = caption(feats, seed=i, style=0)  # the full template states key, tempo and meter
        out.append({"caption": text, "key": key, "tempo": tempo, "meter": meter})
    return out


# --- held-out data ---------------------------------------------------------------------------

def _sheet_for(header: dict, chords: list, n_bars: int, program: int, role: str, drum: bool) -> Sheet:
    num, den = header.get("meter", (4, 4))
    tonic, mode = header.get("key", (0, "major"))
    key = Key(int(tonic), mode)
    tempo = float(header.get("tempo", 120.0))
    bar_len = num * PPQ * 4 // den
    bars, carry = [], None
    for i in range(n_bars):
        start = i * bar_len
        spans = []
        tonic_chord = Chord(key.tonic, "min" if mode == "minor" else "maj")
        entries = [(o, c) for o, c in (chords[i] if i < len(chords) else []) if c is not None] or \
            [(0, carry or tonic_chord)]
        for j, (off, c) in enumerate(entries):
            end = entries[j + 1][0] if j + 1 < len(entries) else bar_len
            if end > off:
                spans.append(ChordSpan(start + off, start + end, c))
        if spans and spans[0].start > start:
            spans.insert(0, ChordSpan(start, spans[0].start, carry or spans[0].chord))
        carry = spans[-1].chord
        bars.append(SheetBar(i, Bar(start, num, den), tempo, key, spans, 0))
    section = SheetSection("A", "A", int(header.get("energy", 3)), 0, n_bars)
    part = PartSpec("Track", role, 0 if drum else int(program), drum)
    return Sheet("held-out", "", bars, [section], [part])


def heldout_picks(split: Path, n_seq: int, n: int, seed: int) -> list[int]:
    """n of the split's n_seq sequences, the same number of each role where the split's index names them
    (a uniform draw would give the rare roles a handful: 4 pads in 200), else drawn uniformly."""
    rng = np.random.default_rng(seed)
    index = split / "index.jsonl"
    if index.is_file():
        roles = [json.loads(line).get("role") for line in index.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(roles) == n_seq:
            groups: dict[str, list[int]] = {}
            for i, role in enumerate(roles):
                groups.setdefault(role, []).append(i)
            per = max(1, n // len(groups))
            return sorted(int(i) for role in sorted(groups)
                          for i in rng.choice(groups[role], size=min(per, len(groups[role])), replace=False))
    return sorted(int(i) for i in rng.choice(n_seq, size=min(n, n_seq), replace=False))


def heldout(data_dir: Path, n: int, seed: int, arrangers: dict, progress=print) -> dict:
    """Per role and system: the metrics over n test sequences (n / roles of each role)."""
    split = data_dir / "test"
    tokens = np.load(split / "tokens.npy", mmap_mode="r")
    offsets = np.load(split / "offsets.npy")
    tok = MusicTokenizer.in_folder(data_dir)
    picks = heldout_picks(split, len(offsets) - 1, n, seed)
    rows: dict[str, dict[str, list[dict]]] = {}
    for k, i in enumerate(picks):
        ids = tokens[offsets[i]:offsets[i + 1]].astype(np.int64).tolist()
        header, notes, chords = tok.decode(ids)
        role = header.get("role", "melody")
        drum = bool(header.get("drum"))
        n_bars = max(1, len(chords))
        program = 0 if header.get("program") in (None, "drums") else int(header["program"])
        sheet = _sheet_for(header, chords, n_bars, program, role, drum)
        # A caption in the style the model was trained on, written from the sequence's own header.
        text = caption({"key": header.get("key"), "tempo": header.get("tempo"), "meter": header.get("meter"),
                        "instruments": ["drums" if drum else program], "energy": header.get("energy")}, seed + k)
        systems = {"human": notes}
        for name, fn in arrangers.items():
            score = fn(sheet, seed + k, text)
            systems[name] = score.parts[0].notes
        for name, ns in systems.items():
            rows.setdefault(role, {}).setdefault(name, []).append(
                {**_track_metrics(ns, sheet, drum), "energy": int(header.get("energy", 3))})
        if progress and k % 25 == 0:
            progress(f"held-out {k}/{len(picks)}")
    return rows


def _track_metrics(notes, sheet: Sheet, drum: bool, bars=None) -> dict:
    """The per-track statistics over `bars` (default: all of the sheet's bars)."""
    bars = [b.bar for b in sheet.bars] if bars is None else bars
    out = {"density": note_density(notes, len(bars)), "groove": groove_consistency(notes, bars),
           "empty": empty_beat_rate(notes, bars)}
    if not drum:
        out.update({"ct": chord_tone_ratio(notes, sheet), "pce": pitch_class_entropy(notes),
                    "scale": scale_consistency(notes)})
    return out


# --- briefs -------------------------------------------------------------------------------------

def briefs(items: list[dict], seed: int, arrangers: dict, progress=print, limits: dict | None = None,
           roles: dict | None = None, tokenizer=None) -> dict:
    """TB/CK and plan metrics per caption; when `roles` is a dict, it also collects the per-role track
    metrics of every arranged piece over 8-bar windows (the size of the held-out sequences), with each
    window's energy level by `tokenizer`'s per-role density bins (the arranging model's; default: the
    shipped tokenizer)."""

    from composer.brief import parse_brief
    from composer.planner import plan_from_brief
    tok = tokenizer or MusicTokenizer.default()
    results: dict[str, list[dict]] = {}
    for k, item in enumerate(items):
        try:
            plan = plan_from_brief(item["caption"], seed)
        except Exception as exc:  # noqa: BLE001 - a caption the brief reader refuses counts as a miss
            for name in arrangers:
                results.setdefault(name, []).append({"error": str(exc)})
            continue
        sheet = plan.to_sheet()
        want = parse_key(item["key"])
        asked = parse_brief(item["caption"])  # what the caption itself states
        stated = {"key_named": asked.key_source == "named", "key_given": asked.key_source is not None,
                  "tempo_given": asked.tempo is not None, "meter_given": asked.meter is not None}
        want_meter = tuple(int(x) for x in item.get("meter", "4/4").split("/"))
        for name, fn in arrangers.items():
            if limits and k >= limits.get(name, len(items)):
                continue
            score = fn(sheet, seed, item["caption"])
            if roles is not None:
                for part, spec in zip(score.parts, sheet.parts):
                    for window in _windows(part.notes, sheet, spec.drum):
                        window["level"] = tok.energy_level(spec.role, window["density"])
                        roles.setdefault(spec.role, {}).setdefault(name, []).append(window)
            pitched = [n for p in score.parts if not p.is_drum for n in p.notes]
            got = analyze_key(pitched)
            ck, ckd = key_scores(want, got) if got else (False, False)
            tb, tbt = tempo_scores(item["tempo"], score.tempos[0][1])
            plan_key = parse_key(plan.key)
            parts = [p.notes for p in score.parts if not p.is_drum]
            clash = nanmean(clash_rate(ns, [n for j, other in enumerate(parts) if j != i for n in other])
                            for i, ns in enumerate(parts)) if len(parts) > 1 else float("nan")
            results.setdefault(name, []).append({
                **stated, "TB": tb, "TBT": tbt, "CK": ck, "CKD": ckd,
                "meter": all((b.numerator, b.denominator) == want_meter for b in score.bars),
                "key_acc": bool(got and got.tonic == plan_key.tonic and got.mode == plan_key.mode),
                "ct": chord_tone_ratio(pitched, sheet), "form": form_agreement(score, sheet), "clash": 100 * clash,
                "cadence": 100 * nanmean(cadence_rate(ns, sheet) for ns in parts)})
        if progress and k % 5 == 0:
            progress(f"briefs {k}/{len(items)}")
    return results


def _windows(notes, sheet: Sheet, drum: bool, size: int = 8) -> list[dict]:
    """Track metrics over each section's 8-bar windows, comparable with the held-out sequences."""
    out = []
    for sec in sheet.sections:
        for w0 in range(sec.first_bar, sec.first_bar + sec.n_bars, size):
            bars = [b.bar for b in sheet.bars[w0:min(w0 + size, sec.first_bar + sec.n_bars)]]
            inside = [n for n in notes if bars[0].start <= n.start < bars[-1].end]
            out.append({**_track_metrics(inside, sheet, drum, bars), "energy": sec.energy})
    return out


def energy_table(brief_roles: dict, systems: list[str]) -> list[str]:
    """Per system and role: the share of windows whose energy level (the part's notes per bar in the
    tokenizer's bins) is the plan's section energy, and the share within one level, over all roles."""
    roles = [r for r in ROLES if r in brief_roles]
    lines = ["| system | " + " | ".join(roles) + " | all | within one level |",
             "| --- | " + " | ".join("---:" for _ in roles) + " | ---: | ---: |"]
    for name in systems:
        ws = {r: brief_roles[r].get(name, []) for r in roles}
        every = [w for r in roles for w in ws[r]]
        if not every:
            continue

        def hit(rows, near=0):
            return f"{100 * sum(abs(w['level'] - w['energy']) <= near for w in rows) / len(rows):.0f}" if rows else "-"
        lines.append(f"| {name} | " + " | ".join(hit(ws[r]) for r in roles) + f" | {hit(every)} | {hit(every, 1)} |")
    return lines


def energy_matched(human: list[dict], windows: list[dict], size: int = 1000) -> list[dict]:
    """The human rows repeated so that their energy levels come in the same shares as the windows' (the
    plans ask for more energy than the held-out average, and density follows energy): each row about
    size x share(its level in the windows) / count(its level in the humans) times. Levels no human has
    are left out of the shares."""
    have = Counter(r["energy"] for r in human)
    want = Counter(w["energy"] for w in windows if w["energy"] in have)
    total = sum(want.values())
    if not total:
        return list(human)
    out = []
    for r in human:
        out += [r] * int(round(size * want[r["energy"]] / total / have[r["energy"]]))
    return out


MATCHED = "human, plans' energies"


def _energy_mix(brief_roles: dict) -> str:
    counts = Counter(w["energy"] for d in brief_roles.values()
                     for w in d.get("model", next(iter(d.values()), [])))
    total = sum(counts.values()) or 1
    return ", ".join(f"{e}: {100 * c / total:.0f}%" for e, c in sorted(counts.items()))


def role_table(rows: dict, systems: list[str]) -> list[str]:
    """Markdown rows: per role and system, the mean of each track metric."""
    lines = ["| role | system | n | ct | pce | scale | groove | empty | density |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for role in ROLES:
        if role not in rows:
            continue
        for name in systems:
            r = rows[role].get(name, [])
            if not r:
                continue
            lines.append(f"| {role} | {name} | {len({id(x) for x in r})} | {_num(r, 'ct')} | {_num(r, 'pce')} | {_num(r, 'scale')} | "
                         f"{_num(r, 'groove')} | {_num(r, 'empty')} | {_num(r, 'density', '{:.1f}')} |")
    return lines


CLOSER = ("pce", "groove", "empty", "density")


def closer_table(human: dict, rows: dict, a: str = "model", b: str = "patterns") -> list[str]:
    """Per metric: the roles where `a` is closer to the held-out humans than `b`, by the role means and by
    the whole distribution of per-sequence values (Wasserstein-1); and the chord-tone check."""
    lines = [f"| metric | roles where {a} is closer to human than {b}: means | {a} closer in | "
             f"by distribution (W1) | {a} closer in |",
             "| --- | --- | ---: | --- | ---: |"]

    def values(table: dict, role: str, system: str, key: str) -> list[float]:
        return [v for x in table.get(role, {}).get(system, []) if not math.isnan(v := x.get(key, float("nan")))]

    for key in CLOSER:
        won, won_w1, total = [], [], 0
        for role in ROLES:
            h, va, vb = (values(t, role, s, key) for t, s in ((human, "human"), (rows, a), (rows, b)))
            if not (h and va and vb):
                continue
            total += 1
            mh = float(np.mean(h))
            if abs(float(np.mean(va)) - mh) < abs(float(np.mean(vb)) - mh):
                won.append(role)
            if wasserstein1(va, h) < wasserstein1(vb, h):
                won_w1.append(role)
        lines.append(f"| {key} | {', '.join(won) or '-'} | {len(won)} of {total} | {', '.join(won_w1) or '-'} | "
                     f"{len(won_w1)} of {total} |")
    ok, total = [], 0
    for role in ROLES:
        h, va = values(human, role, "human", "ct"), values(rows, role, a, "ct")
        if not (h and va):
            continue
        total += 1
        if float(np.mean(va)) >= float(np.mean(h)) - 0.005:
            ok.append(role)
    lines.append(f"| ct at least the human's | {', '.join(ok) or '-'} | {len(ok)} of {total} | | |")
    return lines


def _pct(rows: list[dict], key: str) -> str:
    vals = [r[key] for r in rows if key in r]
    n_err = sum(1 for r in rows if "error" in r)
    if not vals and not n_err:
        return "-"
    return f"{100 * (sum(vals)) / max(1, len(vals) + n_err):.1f}"


def _num(rows: list[dict], key: str, fmt: str = "{:.2f}") -> str:
    v = nanmean(r.get(key, float("nan")) for r in rows)
    return "-" if math.isnan(v) else fmt.format(v)


def audio_adherence(items: list[dict], seed: int, arrange, n: int, soundfont=None, progress=print) -> list[dict]:
    """How closely the SoundFont renders follow the notation: the first `n` captions are planned and arranged,
    rendered from the notation MIDI and from the performed MIDI (the default humanize 1.0), and each mix is
    measured against the notation score (audio.metrics: chroma cosine, onset F1, basic-pitch note F1); the
    chroma cosine against the next piece's notation is the floor a mix that does not follow its MIDI gets."""
    from audio.metrics import adherence, chroma_cosine
    from audio.render import render_score
    from audio.soundfont import find_soundfont
    from composer.planner import plan_from_brief
    from symbolic.perform import perform
    sf = find_soundfont(soundfont)
    pieces = []
    for item in items[:n]:
        plan = plan_from_brief(item["caption"], seed)
        pieces.append((item["caption"], plan, arrange(plan.to_sheet(), seed, item["caption"])))
    rows = []
    for k, (cap, plan, score) in enumerate(pieces):
        other = pieces[(k + 1) % len(pieces)][2] if len(pieces) > 1 else None
        for name, s in (("notation", score), ("performed", perform(score, seed, 1.0, style=plan.style))):
            mix = render_score(s, soundfont=sf, with_stems=False)
            rows.append({"caption": cap, "render": name, "seconds": len(mix.mix) / mix.sample_rate,
                         "tracks": len(score.parts), **adherence(mix.mix, mix.sample_rate, score),
                         "chroma_other": chroma_cosine(mix.mix, mix.sample_rate, other) if other is not None else None})
        if progress:
            progress(f"audio {k + 1}/{len(pieces)}")
    return rows


def audio_table(rows: list[dict]) -> list[str]:
    def cell(v, fmt="{:.2f}"):
        return "-" if v is None else fmt.format(v)
    lines = ["| piece | render | seconds | tracks | chroma cosine | onset F1 | note F1 | chroma vs the next piece |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        cap = r["caption"] if len(r["caption"]) <= 60 else r["caption"][:57] + "..."
        lines.append(f"| {cap} | {r['render']} | {r['seconds']:.0f} | {r['tracks']} | {cell(r['chroma_cosine'])} | "
                     f"{cell(r['onset_f1'])} | {cell(r['note_f1'])} | {cell(r['chroma_other'])} |")
    for name in ("notation", "performed"):
        sel = [r for r in rows if r["render"] == name]
        if sel:
            mean = {k: nanmean(r[k] for r in sel if r[k] is not None)
                    for k in ("chroma_cosine", "onset_f1", "note_f1", "chroma_other")}
            lines.append(f"| all {len(sel)} (mean) | {name} | {sum(r['seconds'] for r in sel):.0f} | | {cell(mean['chroma_cosine'])} | "
                         f"{cell(mean['onset_f1'])} | {cell(mean['note_f1'])} | {cell(mean['chroma_other'])} |")
    return lines


def arrangers(model_dir: Path | None) -> dict:
    from symbolic.arrange.patterns import arrange as pattern_arrange
    out = {"patterns": lambda sheet, seed, brief="": pattern_arrange(sheet, seed=seed)}
    if model_dir is not None:
        from symbolic.arrange.transformer import GenerationError, TransformerArranger
        try:
            model = TransformerArranger.load(model_dir)
            out = {"model": lambda sheet, seed, brief="": model.arrange(sheet, seed=seed, brief=brief),
                   NOT_LISTENING: lambda sheet, seed, brief="": model.arrange(sheet, seed=seed, brief=brief,
                                                                             listen=False), **out}
        except GenerationError:
            pass
    return out


def splice(text: str, section: str) -> str:
    """`text` (a markdown document) with its section of the same `## ` heading replaced by `section`, or
    `section` added before the performance section (or at the end) where it has none."""
    heading = section.splitlines()[0]
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("## ")]
    mine = next((i for i in starts if lines[i] == heading), None)
    if mine is not None:
        end = next((i for i in starts if i > mine), len(lines))
    else:
        mine = end = next((i for i in starts if lines[i] == "## Performance"), len(lines))
    before = lines[:mine]
    while before and not before[-1].strip():
        before.pop()
    return "\n".join([*before, *([""] if before else []), *section.rstrip().splitlines(), "", *lines[end:]]).rstrip() + "\n"


def run_section(out: Path, which: str, seeds: int = 2, progress=print) -> str:
    """Measure one section ("style" or "arrangement") and replace it in `out` (docs/EVAL.md), keeping the rest."""
    from training import arrangement_eval, style_eval
    if which not in ("style", "arrangement"):
        raise ValueError(f"unknown section {which!r}; choose style or arrangement")
    body = style_eval.section(seeds, say=progress) if which == "style" else arrangement_eval.section(seeds, say=progress)
    text = Path(out).read_text(encoding="utf-8") if Path(out).exists() else "# Evaluation\n"
    text = splice(text, body)
    from symbolic.files import atomic_write
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, text)
    return text


def run(out: Path, data_dir: Path | None, model_dir: Path | None, n_heldout: int = 1120, n_own: int = 24,
        seed: int = 0, progress=print, model_briefs: int | None = None, audio_pieces: int = 0,
        soundfont=None, style_seeds: int = 2) -> str:
    t0 = time.perf_counter()
    systems = arrangers(model_dir)
    lines = ["# Evaluation", "",
             f"Produced by `composer eval` (seed {seed}); the same seed gives the same table. Systems: "
             + ", ".join(systems) + (", held-out human data" if data_dir else "") + ".", ""]
    rows: dict = {}
    if data_dir is not None and (data_dir / "test" / "tokens.npy").exists():
        # One track per held-out sequence: nothing to listen to, so the ablation is left out there.
        rows = heldout(data_dir, n_heldout, seed, {k: v for k, v in systems.items() if k != NOT_LISTENING}, progress)
        n_seq = sum(len(d["human"]) for d in rows.values())
        lines += [f"## Held-out data ({n_seq} test sequences, the same number of each role where the split has "
                  "them, up to 8 bars each, same header and chords)", "",
                  "ct: chord-tone ratio on strong beats against the chords; pce: pitch-class entropy (bits); "
                  "scale: scale consistency; groove: groove consistency; empty: empty-beat rate; density: notes per bar.",
                  "", *role_table(rows, ["human", *systems]), ""]
        if "model" in systems:
            lines += ["Closer to the held-out humans: by the absolute difference of the role means, and by the "
                      "Wasserstein-1 distance between the per-sequence values of the system and of the humans:", "",
                      *closer_table(rows, rows), ""]
    sets = []
    brief_roles: dict = {}
    # Energy levels by the bins of the model being measured (its training data's quantiles).
    tok = MusicTokenizer.in_folder(model_dir) if model_dir is not None else MusicTokenizer.default()
    if MIDICAPS.exists():
        sets.append(("MidiCaps examples", midicaps_examples()))
    sets.append((f"our caption set ({n_own})", own_captions(n_own, seed)))
    limits = None if model_briefs is None else {"model": model_briefs, NOT_LISTENING: model_briefs}
    for title, items in sets:
        res = briefs(items, seed, systems, progress, limits, roles=brief_roles, tokenizer=tok)
        lines += [f"## Briefs: {title}", "",
                  "TB/TBT: tempo in the requested MidiCaps bin / within one bin; CK/CKD: music21's key of the notes "
                  "is the requested key / or its relative; key acc: music21's key equals the plan's key; "
                  "ct: chord-tone ratio on strong beats against the plan; form: form agreement of bar self-similarity; "
                  "clash %: notes that start a semitone (or major seventh) from a note another track sounds "
                  "(mean over the pitched tracks); cad %: sections whose last bar's downbeat sounds only the chord's tones "
                  "(mean over the pitched tracks).",
                  "", "| system | n | TB % | TBT % | CK % | CKD % | key acc % | ct | form | clash % | cad % |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name in systems:
            r = res.get(name, [])
            lines.append(f"| {name} | {len(r)} | {_pct(r, 'TB')} | {_pct(r, 'TBT')} | {_pct(r, 'CK')} | {_pct(r, 'CKD')} | "
                         f"{_pct(r, 'key_acc')} | {_num(r, 'ct')} | {_num(r, 'form')} | {_num(r, 'clash', '{:.1f}')} | "
                         f"{_num(r, 'cadence', '{:.1f}')} |")
        lines += ["", "Where the caption states it (read by the brief reader): CK over captions that name the key, and "
                  "that name it or a chord progression; TB over captions that give a tempo (BPM or a tempo word); "
                  "meter: every bar of the piece in the caption's time signature, over captions that give one.", "",
                  "| system | key named: n | CK % | key or progression: n | CK % | tempo given: n | TB % | "
                  "meter given: n | meter % |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name in systems:
            r = [x for x in res.get(name, []) if "error" not in x]
            named = [x for x in r if x["key_named"]]
            given = [x for x in r if x["key_given"]]
            tempo = [x for x in r if x["tempo_given"]]
            meter = [x for x in r if x["meter_given"]]
            lines.append(f"| {name} | {len(named)} | {_pct(named, 'CK')} | {len(given)} | {_pct(given, 'CK')} | "
                         f"{len(tempo)} | {_pct(tempo, 'TB')} | {len(meter)} | {_pct(meter, 'meter')} |")
        lines += ["", "Text2midi's published figures on MidiCaps for comparison: TB 39.7, TBT 65.8, CK 33.6, CKD 35.6.", ""]
    # The held-out humans weighted to the plans' energy levels, per role (what the briefs are compared with).
    matched = {r: {"human": energy_matched(rows[r]["human"], [w for d in brief_roles[r].values() for w in d])}
               for r in brief_roles if r in rows}
    lines += ["## Briefs: the arranged tracks per role", "",
              "Every track of every piece arranged above (both caption sets), measured over each section's 8-bar "
              "windows like the held-out sequences; the human rows are the held-out data's. The plans ask for "
              f"more energy than the held-out average (section energy {_energy_mix(brief_roles)} of the arranged "
              "windows, 1-5; the held-out sequences' levels are quintiles of density) and a part's density "
              "follows its energy, so the briefs are compared with the held-out humans weighted to the plans' "
              f"energy levels ({MATCHED}; n counts the distinct sequences).", "",
              *role_table({r: {**({"human": rows[r]["human"], MATCHED: matched[r]["human"]} if r in rows else {}),
                               **d} for r, d in brief_roles.items()}, ["human", MATCHED, *systems]), ""]
    if "model" in systems and rows:
        lines += [f"Closer to the held-out humans ({MATCHED}):", "", *closer_table(matched, brief_roles), ""]
    lines += ["Energy as planned: % of the windows whose level (the part's notes per bar in the model's "
              "tokenizer's per-role bins, quintiles of the training data) is the section's planned energy, per "
              "role; over all roles, exactly and within one level.", "", *energy_table(brief_roles, list(systems)), ""]
    if audio_pieces > 0:
        arrange = systems.get("model", systems["patterns"])
        audio_rows = audio_adherence(own_captions(n_own, seed), seed, arrange, audio_pieces, soundfont, progress)
        lines += ["## Audio: the renders against the notation", "",
                  f"The first {len(audio_rows) // 2} pieces of our caption set ({'model' if 'model' in systems else 'patterns'}), "
                  "rendered with FluidSynth from the notation MIDI and from the performed MIDI (humanize 1.0), each "
                  "mix measured against the notation score with audio.metrics: chroma cosine (audio chromagram vs "
                  "the notes' chroma), onset F1 (spectral-flux onsets vs note onsets within 50 ms), note F1 "
                  "(basic-pitch's ONNX transcription vs the notes: same pitch, onset within 50 ms; '-' where "
                  "basic-pitch is not installed); the last column is the chroma cosine against the next piece's "
                  "notation, what a mix that does not follow its MIDI scores.", "", *audio_table(audio_rows), ""]
    if style_seeds > 0:
        from training import arrangement_eval, style_eval
        lines += [style_eval.section(style_seeds, say=progress), arrangement_eval.section(style_seeds, say=progress)]
    lines.append(f"Run time: {time.perf_counter() - t0:.0f} s on {os.cpu_count()} CPU cores.")
    perf = Path(out).parent / "EVAL_PERFORMANCE.md"
    if perf.exists():
        # The performance model has its own evaluation (python -m training.perform eval); keep it in one place.
        body = perf.read_text(encoding="utf-8")
        body = body.split("\n", 1)[1] if body.startswith("#") else body
        lines += ["", "## Performance", body.strip()]
    text = "\n".join(lines) + "\n"
    from symbolic.files import atomic_write
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, text)
    return text


__all__ = ["run", "midicaps_examples", "own_captions", "HarmonyError"]
