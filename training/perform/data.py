"""Training data for the performance model from the archives: Groove MIDI drums and POP909 piano, melody and
bass, each note quantized to its own piece's grid, as (feature, target) arrays in a cache."""
from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import numpy as np

from symbolic.perform.features import (
    D_SCALE,
    H_SCALE,
    MIN_HOLD_BEATS,
    P_SCALE,
    STEP16,
    T_MS,
    V_SCALE,
    PartGrid,
    kit_class,
    part_features,
)
from symbolic.score import PPQ, Note

# --------------------------------------------------------------------------------------------
# Training data from the archives


def _class_mean_velocity(classes: list[str], vel: np.ndarray) -> np.ndarray:
    out = np.zeros(len(vel))
    cl = np.array(classes)
    for c in set(classes):
        m = cl == c
        out[m] = round(float(vel[m].mean()))
    return out


def groove_examples(item: dict) -> dict | None:
    """One Groove MIDI performance -> features, targets and class labels (None when unusable)."""
    import mido

    from symbolic.midi_io import midi_to_score
    from training.corpora import TD11_TO_GM
    num, den = (int(x) for x in item["time_signature"].split("-"))
    score = midi_to_score(mido.MidiFile(file=io.BytesIO(item["midi"]), clip=True))
    notes = [(n.start, TD11_TO_GM.get(n.pitch, n.pitch), n.velocity) for p in score.parts for n in p.notes]
    if len(notes) < 16:
        return None
    notes.sort()
    bpm = float(score.tempos[0][1]) if score.tempos else float(item["bpm"])
    start = np.array([n[0] for n in notes], dtype=np.float64)
    pitch = np.array([n[1] for n in notes])
    vel = np.array([n[2] for n in notes], dtype=np.float64)
    q = np.round(start / STEP16)
    dev_ms = (start - q * STEP16) * 60000.0 / (bpm * PPQ)
    bar16 = num * 16 / den
    classes = [kit_class(int(p)) for p in pitch]
    svel = _class_mean_velocity(classes, vel)
    g = PartGrid(q, np.ones(len(q)), pitch, svel, np.mod(q, bar16), np.full(len(q), bar16), True, 0, "drums",
                 np.full(len(q), bpm), item.get("style") or "rock")
    z = np.zeros(len(q))
    target = np.stack([dev_ms / T_MS, (vel - svel) / V_SCALE, z, z - 1, z, z], axis=1)
    return {"x": part_features(g), "y": target.astype(np.float32), "cls": classes, "svel": svel, "vel": vel,
            "dev": dev_ms, "on16": q}


def pedal_targets(on16: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """(press, offset in beats, hold in beats) per note from pedal spans, both on one beat grid.

    on16: quantized onsets in 16ths; spans: (down, up) in beats. Each pedal press
    belongs to the latest onset at or before it (a press up to a 32nd early counts for the onset after
    it); an onset with no press gets (-1, 0, 0). Notes sharing an onset share its targets.
    """
    out = np.zeros((len(on16), 3))
    out[:, 0] = -1
    if len(on16) == 0 or len(spans) == 0:
        return out
    groups = np.unique(on16)
    g_beats = groups / 4.0
    taken: dict[int, tuple[float, float]] = {}
    for down, up in spans:
        k = int(np.searchsorted(g_beats, down + 0.125, side="right")) - 1
        if k < 0 or k in taken:
            continue
        taken[k] = (down - g_beats[k], up - down)
    gi = np.searchsorted(groups, on16)
    for k, (off_beats, hold) in taken.items():
        m = gi == k
        out[m, 0] = 1.0
        out[m, 1] = off_beats
        out[m, 2] = hold
    return out


def pop909_examples(song: dict) -> dict | None:
    """One POP909 song -> examples for its melody, bridge, piano (chords) and piano bass line."""
    import mido

    from symbolic.midi_io import midi_to_score
    from training.corpora import beat_index, seconds_to_ticks, split_bass
    score = midi_to_score(mido.MidiFile(file=io.BytesIO(song["midi"]), clip=True), title=song["sid"])
    rows = [line.split() for line in song["beat_midi.txt"].decode().splitlines() if line.strip()]
    if len(rows) < 16:
        return None
    beat_sec = np.array([float(r[0]) for r in rows])
    beats = seconds_to_ticks(score.tempos, beat_sec)
    if np.any(np.diff(beats) <= 0):
        return None
    downs = [i for i, r in enumerate(rows) if len(r) > 2 and float(r[2]) == 1.0]
    first_down = downs[0] if downs else 0
    bpb = int(np.median(np.diff(downs))) if len(downs) > 2 else 4
    bpb = bpb if bpb in (2, 3, 4) else 4
    spb = np.diff(beat_sec)
    out: dict[str, list] = {"x": [], "y": [], "cls": [], "svel": [], "vel": [], "dev": [], "on16": []}
    tracks = {p.name.split(" ch")[0].upper(): p for p in score.parts}
    piano_pedal = np.zeros((0, 2))
    if "PIANO" in tracks and tracks["PIANO"].pedal:
        piano_pedal = beat_index(beats, np.array(tracks["PIANO"].pedal, dtype=np.float64).reshape(-1)).reshape(-1, 2)
    groups: list[tuple[str, int, list[Note]]] = []
    for name, role in (("MELODY", "melody"), ("BRIDGE", "counter-melody")):
        if name in tracks and tracks[name].notes:
            groups.append((role, 0, tracks[name].notes))
    if "PIANO" in tracks and tracks["PIANO"].notes:
        groups.append(("chords", 0, tracks["PIANO"].notes))
    if not groups:
        return None
    # Quantize every note to the 16th grid of the annotated beats; a song that does not sit on a 16th
    # grid (triplet feel) is left out.
    parsed = []
    for role, program, notes in groups:
        s = beat_index(beats, np.array([n.start for n in notes], dtype=np.float64))
        e = beat_index(beats, np.array([n.end for n in notes], dtype=np.float64))
        parsed.append((role, program, notes, s, e))
    allpos = np.concatenate([p[3] for p in parsed])
    if np.abs(allpos * 4 - np.round(allpos * 4)).mean() > 0.2:
        return None
    for role, program, notes, s, e in parsed:
        qs = np.round(s * 4)
        qe = np.maximum(np.round(e * 4), qs + 1)
        k = np.clip(np.floor(s).astype(np.int64), 0, len(spb) - 1)
        dev_ms = (s - qs / 4) * spb[k] * 1000.0
        ratio = (e - s) / ((qe - qs) / 4)
        # Split the piano's lowest voice off as a bass line, on the quantized onsets.
        qnotes = [Note(int(a) * STEP16 + 10 ** 6, int(b) * STEP16 + 10 ** 6, n.pitch, n.velocity)
                  for a, b, n in zip(qs, qe, notes)]
        subsets = [(role, program, np.arange(len(notes)))]
        if role == "chords":
            bass, _ = split_bass(qnotes)
            bass_keys = {(n.start, n.pitch) for n in bass}
            is_bass = np.array([(qn.start, qn.pitch) in bass_keys for qn in qnotes])
            subsets = [("chords", 0, np.nonzero(~is_bass)[0]), ("bass", 33, np.nonzero(is_bass)[0])]
        for r, prog, idx in subsets:
            if len(idx) < 8:
                continue
            vel = np.array([notes[i].velocity for i in idx], dtype=np.float64)
            svel = np.full(len(idx), round(float(vel.mean())))
            on16 = qs[idx] - first_down * 4
            bar16 = bpb * 4
            bpm = 60.0 / spb[k[idx]]
            g = PartGrid(on16, (qe - qs)[idx], np.array([notes[i].pitch for i in idx]), svel,
                         np.mod(on16, bar16), np.full(len(idx), float(bar16)), False, prog, r, bpm, "pop")
            ped = np.zeros((len(idx), 3))
            ped[:, 0] = -1
            if r == "chords":
                ped = pedal_targets(qs[idx], piano_pedal)
            y = np.stack([dev_ms[idx] / T_MS, (vel - svel) / V_SCALE,
                          np.clip(np.log(np.clip(ratio[idx], 1e-3, None)), -3, 1.5) / D_SCALE,
                          ped[:, 0], ped[:, 1] / P_SCALE,
                          np.where(ped[:, 0] > 0, np.log2(np.clip(ped[:, 2], MIN_HOLD_BEATS, 16)), 0) / H_SCALE],
                         axis=1)
            out["x"].append(part_features(g))
            out["y"].append(y.astype(np.float32))
            out["cls"] += [r if r in ("melody", "bass") else "piano"] * len(idx)
            out["svel"].append(svel)
            out["vel"].append(vel)
            out["dev"].append(dev_ms[idx])
            out["on16"].append(on16)
    if not out["x"]:
        return None
    return {"x": np.concatenate(out["x"]), "y": np.concatenate(out["y"]), "cls": out["cls"],
            "svel": np.concatenate(out["svel"]), "vel": np.concatenate(out["vel"]), "dev": np.concatenate(out["dev"]),
            "on16": np.concatenate(out["on16"])}


def cache_dir() -> Path:
    env = os.environ.get("COMPOSER_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "composer") / "perform"


SPLITS = ("train", "val", "test")


def build(data_dir: Path, out: Path, limit: int | None = None, progress=print) -> dict:
    """Read Groove MIDI and POP909 in memory and write {train,val,test}.npz (features, targets, labels);
    val holds Groove's own validation split (for choosing settings), POP909 has none."""
    from training.corpora import read_groove, read_pop909, split_of
    t0 = time.time()
    buckets: dict[str, dict[str, list]] = {s: {"x": [], "y": [], "cls": [], "svel": [], "vel": [], "dev": [],
                                                "on16": [], "piece": [], "src": []} for s in SPLITS}
    counts = {"groove": {s: 0 for s in SPLITS}, "pop909": {s: 0 for s in SPLITS}}

    def add(split, ex, src):
        b = buckets[split]
        for k in ("x", "y", "svel", "vel", "dev", "on16"):
            b[k].append(np.asarray(ex[k]))
        b["cls"] += list(ex["cls"])
        b["src"] += [src] * len(ex["cls"])
        b["piece"].append(np.full(len(ex["cls"]), sum(counts[s][split] for s in counts), dtype=np.int64))
        counts[src][split] += 1

    for item in read_groove(data_dir, limit):
        split = {"test": "test", "validation": "val"}.get(item.get("split", "train"), "train")
        try:
            ex = groove_examples(item)
        except Exception:  # noqa: BLE001 - a malformed file is skipped
            ex = None
        if ex is not None:
            add(split, ex, "groove")
    progress(f"groove read in {time.time() - t0:.0f} s")
    for song in read_pop909(data_dir, limit):
        split = "test" if split_of(f"pop909/{song['sid']}") == "test" else "train"
        try:
            ex = pop909_examples(song)
        except Exception:  # noqa: BLE001 - reported to the caller
            ex = None
        if ex is not None:
            add(split, ex, "pop909")
    out.mkdir(parents=True, exist_ok=True)
    summary = {"pieces": counts, "seconds": round(time.time() - t0, 1)}
    for s, b in buckets.items():
        if not b["y"]:
            continue
        np.savez(out / f"{s}.npz", x=np.concatenate(b["x"]), y=np.concatenate(b["y"]), cls=np.array(b["cls"]),
                 svel=np.concatenate(b["svel"]), vel=np.concatenate(b["vel"]), dev=np.concatenate(b["dev"]),
                 on16=np.concatenate(b["on16"]), piece=np.concatenate(b["piece"]), src=np.array(b["src"]))
        summary[f"{s}_notes"] = int(sum(len(c) for c in b["y"]))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    progress(json.dumps(summary))
    return summary


