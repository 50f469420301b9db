"""The project folder: plan.json, piece.mid, piece.musicxml, mix.wav, stems/, history/.

Every write goes to a temporary file in the same folder and is renamed into place,
so an interrupted run never leaves a half-written file and the previous version
stays intact until the new one is complete.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from symbolic.files import atomic_write

PLAN = "plan.json"
MIDI = "piece.mid"
MUSICXML = "piece.musicxml"
MIX = "mix.wav"
STEMS = "stems"
HISTORY = "history"
MAX_HISTORY = 50

__all__ = ["atomic_write", "ensure_dir", "save_plan", "history", "ProjectError"]


class ProjectError(OSError):
    """A project folder that cannot be read or written."""


def ensure_dir(path: str | Path) -> Path:
    """Create the folder if needed and check that it is writable, with a one-line error otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".write-check.", dir=path)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise ProjectError(f"cannot write to {path}: {exc.strerror or exc}") from None
    return path


def snapshot(folder: str | Path) -> Path | None:
    """Keep the current plan.json (and piece.mid beside it) in history/ before they are replaced."""
    folder = Path(folder)
    plan = folder / PLAN
    if not plan.exists():
        return None
    hist = folder / HISTORY
    hist.mkdir(exist_ok=True)
    existing = history(folder)
    n = int(existing[-1].name.split("-")[1].split(".")[0]) + 1 if existing else 1
    target = hist / f"plan-{n:04d}.json"
    atomic_write(target, plan.read_bytes())
    midi = folder / MIDI
    if midi.exists():
        atomic_write(hist / f"piece-{n:04d}.mid", midi.read_bytes())
    for stale in existing[: max(0, len(existing) + 1 - MAX_HISTORY)]:
        stale.unlink(missing_ok=True)
        stale.with_name(stale.name.replace("plan-", "piece-").replace(".json", ".mid")).unlink(missing_ok=True)
    return target


def save_plan(folder: str | Path, plan_json: str) -> Path:
    """Write plan.json, keeping the previous plan (and its MIDI) in history/ for undo."""
    folder = Path(folder)
    target = folder / PLAN
    if target.exists() and target.read_text(encoding="utf-8") != plan_json:
        snapshot(folder)
    return atomic_write(target, plan_json)


def history(folder: str | Path) -> list[Path]:
    return sorted((Path(folder) / HISTORY).glob("plan-*.json"))


def undo(folder: str | Path) -> tuple[Path, bool]:
    """Put back the latest plan (and its MIDI) from history/; returns (plan path, whether MIDI came back)."""
    folder = Path(folder)
    snaps = history(folder)
    if not snaps:
        raise ProjectError(f"nothing to undo in {folder}")
    last = snaps[-1]
    midi = last.with_name(last.name.replace("plan-", "piece-").replace(".json", ".mid"))
    atomic_write(folder / PLAN, last.read_bytes())
    restored = midi.exists()
    if restored:
        atomic_write(folder / MIDI, midi.read_bytes())
        midi.unlink()
    last.unlink()
    return folder / PLAN, restored
