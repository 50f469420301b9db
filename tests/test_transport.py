"""Playback: the transport plays a stretch of real rendered audio through a player process and keeps the
position as bars and sections. The audio device here is a null sink (a process that takes the WAV file and
lasts as long as it plays), the way a machine without sound hardware plays."""
import sys
import time
import wave

import numpy as np
import pytest
import soundfile as sf

from composer.transport import PLAYER_ENV, Timeline, Transport, TransportError, clock, player_command
from symbolic.score import PPQ, Bar, Note, Part, Score

NULL_SINK = """
import sys, time, wave
with wave.open(sys.argv[1]) as w:
    print(w.getnframes() / w.getframerate(), flush=True)
    time.sleep(w.getnframes() / w.getframerate())
"""


def null_sink(folder):
    """A player command for a machine without a sound card: reads the WAV, says its length, lasts that long."""
    script = folder / "nullsink.py"
    script.write_text(NULL_SINK)
    return [sys.executable, str(script)]


def two_tempo_score():
    """Four 4/4 bars at 120 BPM, then four at 60: bars start at 0, 2, 4, 6, then 8, 12, 16, 20 s."""
    bars = [Bar(i * 4 * PPQ, 4, 4) for i in range(8)]
    notes = [Note(i * PPQ, i * PPQ + PPQ // 2, 60 + i % 12, 80) for i in range(32)]
    return Score("t", [Part("Piano", 0, notes=notes)], bars=bars, tempos=[(0, 120.0), (16 * PPQ, 60.0)],
                 markers=[(0, "Verse"), (16 * PPQ, "Chorus")])


def test_the_timeline_reads_bars_and_sections_under_the_tempo_map():
    tl = Timeline(two_tempo_score())
    assert tl.starts == pytest.approx([0, 2, 4, 6, 8, 12, 16, 20])
    assert tl.at(0).bar == 0 and tl.at(0).section == "Verse"
    assert tl.at(7.9).bar == 3 and tl.at(8.0).bar == 4 and tl.at(8.0).section == "Chorus"
    assert tl.at(13).bar == 5
    assert tl.tick_at(9.0) == 16 * PPQ + PPQ     # a beat into bar 5 at 60 BPM
    assert tl.bar_start(5) == pytest.approx(12)
    with pytest.raises(TransportError, match="bar 9 is outside the piece's 1-8"):
        tl.bar_start(8)
    assert clock(64.9) == "1:04"


def test_the_transport_plays_a_stretch_and_knows_where_it_is(tmp_path):
    rate = 8000
    audio = tmp_path / "mix.wav"
    sf.write(audio, 0.1 * np.sin(np.arange(rate * 6) / 10.0).astype(np.float32), rate)
    t = Transport(null_sink(tmp_path))
    try:
        t.play(audio, start=2.0, end=3.5)
        clip = t.folder / "play.wav"
        with wave.open(str(clip)) as w:    # the player gets just the stretch asked for
            assert w.getnframes() == int(1.5 * rate)
        p0 = t.position()
        time.sleep(0.6)
        p1 = t.position()
        assert p0 is not None and p1 is not None and 2.0 <= p0 < p1 <= 3.5 and p1 - p0 >= 0.5
        proc = t.proc
        t.stop()
        assert t.position() is None and proc is not None and proc.poll() is not None   # the player is gone
        t.play(audio, start=5.8, offset=40.0)   # a take rendered alone: its time in the piece is the offset
        assert 40.0 <= (t.position() or 0) <= 40.2
        time.sleep(0.6)
        assert t.position() is None             # the player ended with its stretch: the transport says so
        with pytest.raises(TransportError, match="nothing to play"):
            t.play(audio, start=7.0)
    finally:
        t.close()
    assert not t.folder.exists()


def test_the_player_command_comes_from_the_environment_when_named(monkeypatch):
    monkeypatch.setenv(PLAYER_ENV, f"{sys.executable} -c pass")
    assert player_command() == [sys.executable, "-c", "pass"]
    monkeypatch.setenv(PLAYER_ENV, "no-such-player-here --quiet")
    with pytest.raises(TransportError, match="no-such-player-here"):
        player_command()
