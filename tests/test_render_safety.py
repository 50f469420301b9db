"""Memory safety of the FluidSynth renderer: every write into the numpy buffers stays inside them.

FluidSynth is handed raw pointers into the workers' buffers (ctypes), so a render length that misses an event
(a sustain pedal released long after the last note) made it write past their end: a segfault or
`munmap_chunk(): invalid pointer`. The renders that crashed run here many times, in process and as a
subprocess (where a crash shows as a return code instead of killing pytest).
"""
import os
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from audio import render
from audio.render import SAMPLE_RATE, TAIL_SECONDS, RenderError, render_midi_file, render_score, ticks_to_samples
from symbolic.midi_io import midi_bytes
from symbolic.score import MAX_SECONDS, PPQ, Bar, Note, Part, Score

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("fluidsynth_library")


def pedal_midi(path: Path, note_seconds: float, pedal_up_seconds: float) -> Path:
    """One short note under a sustain pedal pressed at 0 and released long after the note (120 BPM)."""
    per_second = 2 * 480
    mid = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    note_end, up = int(note_seconds * per_second), int(pedal_up_seconds * per_second)
    track.append(mido.Message("control_change", control=64, value=127, time=0))
    track.append(mido.Message("note_on", note=60, velocity=100, time=0))
    track.append(mido.Message("note_off", note=60, velocity=0, time=note_end))
    track.append(mido.Message("control_change", control=64, value=0, time=up - note_end))
    mid.save(path)
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "composer.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.mark.slow
def test_pedal_released_after_the_last_note_renders_50_times(tmp_path):
    path = pedal_midi(tmp_path / "pedal.mid", 0.5, 20.0)
    for _ in range(50):
        res = render_midi_file(path, None)
        # The render covers the pedal: the note rings (fading) until the pedal comes up at 20 s.
        assert res.duration >= 20.0
        assert np.isfinite(res.mix).all()


@pytest.mark.slow
def test_pedal_held_two_minutes_renders_in_a_subprocess(tmp_path):
    """The 45-byte file that segfaulted `composer render` every time (rc 139)."""
    path = pedal_midi(tmp_path / "pedal120.mid", 0.25, 120.0)
    out = tmp_path / "out.wav"
    res = cli("-q", "render", str(path), "-o", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    assert sf.info(str(out)).duration >= 120.0
    again = render_midi_file(path, None, with_stems=False, workers=1)
    assert again.duration >= 120.0


def test_render_length_covers_every_event():
    """Score.last_tick (the render length) includes pedal releases after the last note and bar."""
    score = Score(title="p", bars=[Bar(0, 4, 4)])
    score.parts = [Part("Piano", 0, notes=[Note(0, PPQ, 60, 90)], pedal=[(0, 100 * PPQ)])]
    assert score.end_tick == 4 * PPQ and score.last_tick == 100 * PPQ
    res = render_score(score, with_stems=False)
    assert res.duration >= score.seconds(score.last_tick)


def test_worker_refuses_events_past_its_buffers(soundfont):
    """The guard behind the fix: a render length shorter than the events is an error, never a write."""
    score = Score(title="p", bars=[Bar(0, 4, 4)])
    score.parts = [Part("Piano", 0, notes=[Note(0, PPQ, 60, 90)], pedal=[(0, 40 * PPQ)])]
    short = int(ticks_to_samples(score, np.array([score.end_tick]))[0])
    with pytest.raises(RenderError, match="outside the render length"):
        render._Worker(render._load_library(), soundfont, score, [0], True, short,
                       short + int(TAIL_SECONDS * SAMPLE_RATE), render._Reporter(None, None))


def test_score_over_the_length_cap_is_refused_before_allocating():
    """A two-hour score once rendered a 1.27 GB WAV; now it is one line, before any buffer exists."""
    score = Score(title="long", bars=[Bar(0, 4, 4)])
    two_hours = 2 * 3600 * 2 * PPQ  # ticks at 120 BPM
    score.parts = [Part("Piano", 0, notes=[Note(0, PPQ, 60, 90), Note(two_hours - PPQ, two_hours, 62, 90)])]
    with pytest.raises(RenderError, match=f"at most {MAX_SECONDS // 60} minutes"):
        render_score(score, with_stems=False)
    # A pedal alone can make a score too long as well.
    score.parts = [Part("Piano", 0, notes=[Note(0, PPQ, 60, 90)], pedal=[(0, two_hours)])]
    with pytest.raises(RenderError, match="minutes"):
        render_score(score, with_stems=False)


@pytest.mark.parametrize("bpm", [0.0, -60.0, float("nan"), float("inf"), 1000.0])
def test_score_with_a_bad_tempo_is_refused(bpm):
    score = Score(title="t", bars=[Bar(0, 4, 4)], tempos=[(0, bpm)])
    score.parts = [Part("Piano", 0, notes=[Note(0, PPQ, 60, 90)])]
    with pytest.raises(RenderError, match="outside 20-400 BPM"):
        render_score(score, with_stems=False)


@pytest.mark.slow
def test_performed_waltz_renders_50_times(tmp_path):
    """The performance model holds the pedal past the last note (up to seconds): 50 takes, each rendered.

    At 72 BPM some takes released the pedal later than the old buffers reached (`munmap_chunk(): invalid
    pointer`, or a segfault under PYTHONMALLOC=debug).
    """
    from composer.pipeline import arrange, make_plan, perform_score

    plan = make_plan("a slow waltz in F major for piano, 3/4, 20 seconds, 72 BPM")
    score = arrange(plan, 0, "patterns")
    worst, worst_score = -1, None
    for seed in range(50):
        performed = perform_score(score, 1.0, seed, None, lambda *a: None, plan)
        past = performed.seconds(performed.last_tick) - performed.seconds(performed.end_tick)
        if past > worst:
            worst, worst_score = past, performed
        res = render_score(performed, with_stems=True)
        assert res.duration >= performed.seconds(performed.last_tick) - 1 / SAMPLE_RATE
        assert np.isfinite(res.mix).all()
    assert worst > 0  # the pedal did run past the notes, so the test exercises the cause
    # The take with the longest pedal overrun, through the real command line once.
    path = tmp_path / "waltz.mid"
    path.write_bytes(midi_bytes(worst_score))
    out = tmp_path / "waltz.wav"
    res = cli("-q", "render", str(path), "-o", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    assert sf.info(str(out)).duration >= worst_score.seconds(worst_score.last_tick) - 0.01
