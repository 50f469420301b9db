"""Playback of rendered audio: a player process for a stretch of it, and the clock that says where it is.

The audio device is reached through a command that plays a WAV file (afplay, paplay, aplay, ffplay, or
the one named in $COMPOSER_PLAYER, e.g. "mpv --really-quiet"). Players cannot report their position, so the
transport keeps it: the time since the player started, from where the stretch starts in the piece, read as
a bar and a section of the score.
"""
from __future__ import annotations

import bisect
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from symbolic.score import Score

PLAYER_ENV = "COMPOSER_PLAYER"


class TransportError(ValueError):
    """Playback that cannot start; the message is one line."""


def player_command() -> list[str] | None:
    """A command that plays a WAV file on this machine's audio device, or None when there is none."""
    named = os.environ.get(PLAYER_ENV, "").strip()
    if named:
        cmd = shlex.split(named)
        if not shutil.which(cmd[0]):
            raise TransportError(f"{PLAYER_ENV} names {cmd[0]!r}, which is not installed")
        return cmd
    has_device = Path("/dev/snd").exists() or os.environ.get("PULSE_SERVER") or \
        Path(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent"), "pulse").exists()
    for cmd, needs_device in (["afplay"], False), (["paplay"], True), (["aplay", "-q"], True), \
                              (["ffplay", "-nodisp", "-autoexit", "-loglevel", "quiet"], True):
        if shutil.which(cmd[0]) and (has_device or not needs_device):
            return cmd
    return None


@dataclass(frozen=True)
class Where:
    """A moment of the piece: seconds from its start, the bar (from 0) and the section it falls in."""
    seconds: float
    bar: int
    section: str


class Timeline:
    """Where each bar and section of a score starts, in seconds under its tempo map."""

    def __init__(self, score: Score):
        self.ticks = [b.start for b in score.bars]
        self.starts = [score.seconds(t) for t in self.ticks]
        self.markers = sorted(score.markers)
        self.duration = score.duration

    def bar_start(self, bar: int) -> float:
        if not 0 <= bar < len(self.starts):
            raise TransportError(f"bar {bar + 1} is outside the piece's 1-{len(self.starts)}")
        return self.starts[bar]

    def at(self, seconds: float) -> Where:
        bar = max(0, bisect.bisect_right(self.starts, seconds + 1e-6) - 1)
        tick = self.ticks[bar] if self.ticks else 0
        section = next((name for t, name in reversed(self.markers) if t <= tick), "")
        return Where(seconds, bar, section)

    def tick_at(self, seconds: float) -> int:
        """The tick sounding at a time (linear inside the bar)."""
        bar = max(0, bisect.bisect_right(self.starts, seconds) - 1)
        if bar + 1 >= len(self.starts):
            return self.ticks[bar] if self.ticks else 0
        t0, t1, s0, s1 = self.ticks[bar], self.ticks[bar + 1], self.starts[bar], self.starts[bar + 1]
        return int(t0 + (t1 - t0) * min(1.0, (seconds - s0) / max(s1 - s0, 1e-9)))


def clock(seconds: float) -> str:
    """0:07, 1:04."""
    s = max(0, int(seconds))
    return f"{s // 60}:{s % 60:02d}"


class Transport:
    """Plays one stretch of an audio file at a time and knows where it is."""

    def __init__(self, command: list[str]):
        self.command = command
        self.proc: subprocess.Popen | None = None
        self.folder = Path(tempfile.mkdtemp(prefix="composer-play-"))
        self.began = 0.0     # monotonic time the player started
        self.offset = 0.0    # the piece's time at the clip's start
        self.end = 0.0       # the piece's time at the clip's end

    def play(self, audio: Path, start: float = 0.0, end: float | None = None, offset: float | None = None) -> None:
        """Play audio from `start` to `end` seconds of the file; `offset` is where the file's `start` is in the
        piece (default: `start`, the file being the whole piece)."""
        self.stop()
        try:
            info = sf.info(str(audio))
        except (RuntimeError, OSError) as exc:
            raise TransportError(f"cannot read {audio.name}: {exc}") from None
        first = max(0, min(info.frames, int(start * info.samplerate)))
        last = info.frames if end is None else max(first, min(info.frames, int(end * info.samplerate)))
        if last <= first:
            raise TransportError(f"nothing to play in {audio.name} from {clock(start)}")
        data, rate = sf.read(str(audio), start=first, stop=last, dtype="float32", always_2d=True)
        clip = self.folder / "play.wav"
        sf.write(str(clip), np.clip(data, -1, 1), rate, subtype="PCM_16")
        self.proc = subprocess.Popen([*self.command, str(clip)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.began = time.monotonic()
        self.offset = start if offset is None else offset
        self.end = self.offset + (last - first) / rate

    def position(self) -> float | None:
        """The piece's time now playing; None when nothing plays (stopped, or the player ended)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self.proc = None
            return None
        return min(self.end, self.offset + time.monotonic() - self.began)

    @property
    def playing(self) -> bool:
        return self.position() is not None

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


__all__ = ["Timeline", "Transport", "TransportError", "Where", "clock", "player_command"]
