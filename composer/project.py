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


def save_plan(folder: str | Path, plan_json: str) -> Path:
    """Write plan.json, keeping the previous plan in history/ for undo."""
    folder = Path(folder)
    target = folder / PLAN
    if target.exists():
        old = target.read_text(encoding="utf-8")
        if old != plan_json:
            hist = folder / HISTORY
            hist.mkdir(exist_ok=True)
            existing = sorted(hist.glob("plan-*.json"))
            n = int(existing[-1].stem.split("-")[1]) + 1 if existing else 1
            atomic_write(hist / f"plan-{n:04d}.json", old)
            for stale in existing[: max(0, len(existing) + 1 - MAX_HISTORY)]:
                stale.unlink(missing_ok=True)
    return atomic_write(target, plan_json)


def history(folder: str | Path) -> list[Path]:
    return sorted((Path(folder) / HISTORY).glob("plan-*.json"))
