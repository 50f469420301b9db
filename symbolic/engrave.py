"""Engraving with MuseScore's command line: MusicXML (or MIDI) in, PDF, PNG or MusicXML out.

MuseScore 3 (Debian's ``mscore3``), an ``mscore``/``musescore`` on the PATH or MuseScore 4's command line
(``COMPOSER_MUSESCORE`` names one explicitly) converts headless. What its importer prints while reading a
file is returned as the complaints, so the caller (and the tests) can hold a score to "opens cleanly".
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

COMMANDS = ("mscore3", "mscore", "musescore3", "musescore", "mscore4portable", "MuseScore4", "MuseScore3")
HOW = "install MuseScore (Debian: apt-get install musescore3) or name its command in COMPOSER_MUSESCORE"

# What MuseScore prints on every run: Qt's start-up notes and its own progress lines.
_BANNER = re.compile(r"^(QStandardPaths: |convert <|\tto <|\.\.\. success!|qt\.|libpng warning|$)")
# MuseScore 3's MusicXML reader keeps a list of instrument changes per part and prints this when a
# drum part sounds two of its instruments at one moment (its own drum exports do the same): the drums
# still import and play right, so it is counted apart from the complaints.
DRUM_BOOKKEEPING = re.compile(r"^instr '[^']*', tick \S+ \(\d+\): element already exists$")


class EngraveError(RuntimeError):
    """MuseScore is missing, or could not convert the file."""


def find() -> str | None:
    """The MuseScore command to run, or None."""
    named = os.environ.get("COMPOSER_MUSESCORE")
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    return next((path for cmd in COMMANDS if (path := shutil.which(cmd))), None)


def convert(src: str | os.PathLike, out: str | os.PathLike, timeout: float = 600) -> list[str]:
    """Convert src to out (the format from out's suffix: .pdf, .png, .musicxml, .mid) and return what
    MuseScore printed beyond its banner. PNG output is one file per page: out-1.png, out-2.png, ..."""
    exe = find()
    if exe is None:
        raise EngraveError(f"no MuseScore command found: {HOW}")
    src, out = Path(src), Path(out)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    try:
        res = subprocess.run([exe, "-o", str(out), str(src)], capture_output=True, text=True, env=env,
                             timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise EngraveError(f"MuseScore took over {timeout:.0f} s on {src.name}") from None
    lines = [ln.rstrip() for ln in (res.stdout + res.stderr).splitlines()]
    said = [ln for ln in lines if not _BANNER.match(ln)]
    made = out.exists() or (out.suffix == ".png" and out.with_name(f"{out.stem}-1.png").exists())
    if res.returncode != 0 or not made:
        detail = said[-1] if said else f"exit status {res.returncode}"
        raise EngraveError(f"MuseScore could not convert {src.name}: {detail}")
    return said


def complaints(said: list[str]) -> list[str]:
    """The lines of what MuseScore said that are not its drum-part bookkeeping."""
    return [ln for ln in said if not DRUM_BOOKKEEPING.match(ln)]
