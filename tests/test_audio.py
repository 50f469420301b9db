"""Rendering with the real FluidSynth library and a real SoundFont."""
from __future__ import annotations

import copy
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio import render as R
from audio.render import RenderCancelled, RenderError, render_midi_file, render_score, safe_stem_names, ticks_to_samples
from audio.soundfont import SoundFontError, find_soundfont
from symbolic.midi_io import midi_bytes
from symbolic.score import PPQ
from tests.helpers import band_score

BAR = 4 * PPQ


pytestmark = pytest.mark.usefixtures("fluidsynth_library")


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    a, b = a[:n].ravel().astype(np.float64), b[:n].ravel().astype(np.float64)
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


def dbfs(a: np.ndarray) -> float:
    return 20 * np.log10(np.abs(a).max())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, soundfont):
    out = tmp_path_factory.mktemp("render")
    score = band_score()
    return score, out, render_score(score, soundfont, mix_path=out / "mix.wav", stems_dir=out / "stems")


def test_wav_mix_and_stems(rendered):
    score, out, res = rendered
    assert res.sample_rate == 44100
    assert res.mix.dtype == np.float32 and res.mix.ndim == 2 and res.mix.shape[1] == 2
    assert list(res.stems) == [p.name for p in score.parts]
    assert all(s.shape == res.mix.shape for s in res.stems.values())
    assert res.files == [out / "mix.wav"] + [out / "stems" / f"{n}.wav" for n in ("Piano", "Drums", "Bass")]
    # length: the music (2 bars at 120 bpm = 4 s) plus a release tail of at most 2 s
    assert 4.0 < res.duration <= 6.0 + 0.1
    np.testing.assert_allclose(sum(res.stems.values()), res.mix, atol=1e-5)

    mix, sr = sf.read(out / "mix.wav", dtype="float32")
    info = sf.info(out / "mix.wav")
    assert (sr, info.channels, info.subtype, info.format) == (44100, 2, "PCM_16", "WAV")
    assert mix.shape == res.mix.shape
    stems = [sf.read(out / "stems" / f"{n}.wav", dtype="float32")[0] for n in ("Piano", "Drums", "Bass")]
    # each file rounds to 16 bits on its own, so the sum may be off by half a step per file
    assert np.abs(sum(stems) - mix).max() <= 2 / 32768
    assert not list(out.rglob("*.part"))


def test_peak_is_minus_one_dbfs(rendered):
    _, out, res = rendered
    assert -1.0 - 1e-4 <= res.peak_dbfs <= -1.0 + 1e-6
    assert -1.5 < dbfs(res.mix) <= -1.0 + 1e-6
    mix, _ = sf.read(out / "mix.wav")
    assert -1.5 < dbfs(mix) <= -1.0
    for stem in res.stems.values():
        assert np.abs(stem).max() <= 1.0


def test_flac_and_fmt_override(tmp_path, soundfont):
    score = band_score(bars=1)
    res = render_score(score, soundfont, mix_path=tmp_path / "song.flac", stems_dir=tmp_path / "st")
    assert [p.suffix for p in res.files] == [".flac"] * 4
    mix, sr = sf.read(tmp_path / "song.flac", dtype="float32")
    assert sr == 44100 and mix.shape == res.mix.shape
    assert sf.info(tmp_path / "song.flac").format == "FLAC"
    assert np.abs(mix - res.mix).max() <= 2 / 32768  # written as round(x * 32767), read as n / 32768
    res = render_score(score, soundfont, mix_path=tmp_path / "song.wav", stems_dir=tmp_path / "st2", fmt="flac")
    assert res.files[0].suffix == ".wav" and {p.suffix for p in res.files[1:]} == {".flac"}
    with pytest.raises(RenderError):
        render_score(score, soundfont, mix_path=tmp_path / "song.mp3")


def test_drum_stem_uses_the_drum_bank(rendered, soundfont):
    score, _, res = rendered
    drums = res.stems["Drums"]
    assert dbfs(drums) > -40
    pitched = copy.deepcopy(score)
    pitched.parts[1].is_drum = False
    other = render_score(pitched, soundfont)
    assert correlation(drums, other.stems["Drums"]) < 0.5
    # the other parts come out the same either way
    assert correlation(res.stems["Bass"], other.stems["Bass"]) > 0.99


def test_single_part_and_mix_only(tmp_path, soundfont):
    score = band_score(bars=1)
    solo = copy.deepcopy(score)
    solo.parts = solo.parts[:1]
    res = render_score(solo, soundfont)
    assert list(res.stems) == ["Piano"] and np.array_equal(res.stems["Piano"], res.mix)
    res = render_score(score, soundfont, mix_path=tmp_path / "m.wav", with_stems=False)
    assert res.stems == {} and res.files == [tmp_path / "m.wav"]
    assert -1.0 - 1e-4 <= res.peak_dbfs <= -1.0 + 1e-6
    with pytest.raises(RenderError):
        render_score(score, soundfont, stems_dir=tmp_path / "x", with_stems=False)


def test_worker_count_does_not_change_the_music(soundfont):
    score = band_score(bars=1)
    one = render_score(score, soundfont, workers=1)
    two = render_score(score, soundfont, workers=3)
    # Only the first 64-sample block of a voice may differ a little: FluidSynth ramps a reused
    # voice object from its previous amplitudes, and which voices get reused depends on the split.
    assert abs(one.gain - two.gain) / one.gain < 0.05
    assert correlation(one.mix, two.mix) > 0.99


_FIRST_RENDER = """
import sys
import numpy as np
from audio.render import render_score
from tests.helpers import band_score
score = band_score(hats=False, bars=2)
first, second = (render_score(score, sys.argv[1], with_stems=False, workers=2).mix for _ in range(2))
print(len(first), len(second), int(len(first) == len(second) and np.array_equal(first, second)))
"""


@pytest.mark.slow
def test_the_first_render_in_a_process_is_like_the_next(soundfont):
    # Synths created at once in worker threads used to race FluidSynth's one-time set-up:
    # the first render of a process came out different in about half the runs.
    import subprocess
    import sys
    root = Path(__file__).resolve().parent.parent
    for _ in range(4):
        out = subprocess.run([sys.executable, "-c", _FIRST_RENDER, str(soundfont)], cwd=root,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split()[-1] == "1", out.stdout


def test_bad_soundfont_path(tmp_path):
    with pytest.raises(SoundFontError, match="does not exist"):
        find_soundfont(tmp_path / "missing.sf2")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SoundFontError, match="not a .sf2"):
        find_soundfont(tmp_path / "notes.txt")
    (tmp_path / "fake.sf2").write_bytes(b"not a soundfont at all")
    with pytest.raises(SoundFontError, match="not a SoundFont"):
        find_soundfont(tmp_path / "fake.sf2")
    with pytest.raises(SoundFontError):
        render_score(band_score(bars=1), tmp_path / "missing.sf2", mix_path=tmp_path / "m.wav")
    assert not (tmp_path / "m.wav").exists()


def test_no_soundfont_found(monkeypatch, tmp_path, soundfont):
    monkeypatch.delenv("COMPOSER_SOUNDFONT", raising=False)
    monkeypatch.setenv("COMPOSER_SOUNDFONT_SEARCH", "0")
    with pytest.raises(SoundFontError, match="no SoundFont found"):
        find_soundfont()
    with pytest.raises(SoundFontError):
        render_score(band_score(bars=1), mix_path=tmp_path / "m.wav")
    assert not (tmp_path / "m.wav").exists()
    with pytest.raises(SoundFontError):
        find_soundfont(search=False)
    monkeypatch.setenv("COMPOSER_SOUNDFONT", str(soundfont))
    assert find_soundfont() == Path(soundfont).resolve()
    monkeypatch.setenv("COMPOSER_SOUNDFONT", str(tmp_path / "gone.sf2"))
    with pytest.raises(SoundFontError, match="COMPOSER_SOUNDFONT"):
        find_soundfont()


@pytest.mark.parametrize("when", ["before", "rendering", "normalized", "writing"])
def test_cancel_writes_nothing_and_keeps_old_files(tmp_path, soundfont, when):
    mix = tmp_path / "mix.wav"
    mix.write_bytes(b"previous render")
    stems = tmp_path / "stems"
    cancel = threading.Event()
    if when == "before":
        cancel.set()
    seen: list[str] = []

    def progress(fraction: float, message: str) -> None:
        seen.append(message)
        if message.startswith(when):
            cancel.set()

    # long enough that the synthesizers are still busy when the first progress report arrives
    score = band_score(bars=40 if when == "rendering" else 1)
    with pytest.raises(RenderCancelled):
        render_score(score, soundfont, mix_path=mix, stems_dir=stems, progress=progress, cancel=cancel)
    assert mix.read_bytes() == b"previous render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix.wav"]
    if when == "rendering":
        assert "normalized" not in seen


def test_progress_reports(soundfont, tmp_path):
    seen: list[tuple[float, str]] = []
    render_score(band_score(bars=1), soundfont, mix_path=tmp_path / "m.wav", progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and seen[-1] == (1.0, "done")


def test_stem_names_are_safe_and_unique(tmp_path, soundfont):
    assert safe_stem_names(["Piano", "piano", "a/b:c", "", "CON", "..."]) == ["Piano", "piano-2", "a_b_c", "part", "CON_", "part-2"]
    score = band_score(bars=1)
    score.parts[0].name = "Lead/Rhythm"
    score.parts[2].name = "Lead/Rhythm"
    res = render_score(score, soundfont, stems_dir=tmp_path)
    assert [p.name for p in res.files] == ["Lead_Rhythm.wav", "Drums.wav", "Lead_Rhythm-2.wav"]
    assert list(res.stems) == ["Lead/Rhythm", "Drums", "Lead/Rhythm 2"]


def test_tempo_map_conversion():
    score = band_score(bars=4)
    score.tempos = [(0, 120.0), (BAR, 90.0), (3 * BAR + 240, 150.0)]
    ticks = np.arange(0, score.end_tick + 1, 37)
    expected = np.rint(np.array([score.seconds(int(t)) for t in ticks]) * 44100)
    assert np.array_equal(ticks_to_samples(score, ticks), expected)


def test_render_midi_file(tmp_path, soundfont):
    midi = tmp_path / "piece.mid"
    midi.write_bytes(midi_bytes(band_score(bars=1)))
    res = render_midi_file(midi, tmp_path / "out.wav", stems_dir=tmp_path / "stems", soundfont=soundfont)
    assert (tmp_path / "out.wav").is_file() and len(res.stems) == 3
    (tmp_path / "bad.mid").write_bytes(b"garbage")
    with pytest.raises(RenderError):
        render_midi_file(tmp_path / "bad.mid", tmp_path / "bad.wav", soundfont=soundfont)


def test_missing_library_is_reported(monkeypatch):
    import sys

    monkeypatch.setattr(R, "_lib_cache", [])
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # import fluidsynth -> ImportError
    with pytest.raises(RenderError, match="libfluidsynth3"):
        R._load_library()


def test_the_mixer_level_pan_and_reverb_are_heard_and_survive_the_midi_file(tmp_path, soundfont):
    """A part's volume (CC7) and pan (CC10) shape its stem: panned hard left it sounds mostly in the left
    channel, at volume 50 it is quieter than the same notes at the default 100; piece.mid carries both."""
    from symbolic.midi_io import read_midi
    score = band_score(bars=2)
    centre = score.parts[0]
    # An organ: its samples are mono in the GM SoundFonts we find (FluidR3's grand piano is stereo, so a
    # hard-left pan still leaves the piano's own right channel: 1.7 to 1 there).
    centre.program = 19
    left, soft, dry, wet = (copy.deepcopy(centre) for _ in range(4))
    left.name, left.pan = "Left", 0
    soft.name, soft.volume = "Soft", 50
    # The reverb send adds to the reverb a SoundFont gives each instrument; its organs and strings have much of
    # their own, a piano little, so a piano shows the send.
    dry.name, wet.name, dry.program, wet.program, wet.reverb = "Dry", "Wet", 0, 0, 127
    score.parts = [centre, left, soft, dry, wet]
    res = render_score(score, soundfont)

    def rms(name, ch=None):
        a = res.stems[name] if ch is None else res.stems[name][:, ch]
        return float(np.sqrt(np.mean(a ** 2)))
    assert 0.8 < rms(centre.name, 0) / rms(centre.name, 1) < 1.25
    assert rms("Left", 0) / rms("Left", 1) > 2
    assert rms("Soft") < 0.5 * rms(centre.name)   # General MIDI's 40 log10 curve: 50 is 12 dB under 100
    # The reverb send (CC91): after the last note is released the wet part rings on, the dry one fades.
    end = int((score.seconds(max(n.end for n in centre.notes)) + 0.3) * res.sample_rate)

    def tail(name):
        return float(np.sqrt(np.mean(res.stems[name][end:] ** 2))) / rms(name)
    assert tail("Wet") > 2 * tail("Dry")
    (tmp_path / "m.mid").write_bytes(midi_bytes(score))
    assert [(p.volume, p.pan, p.reverb) for p in read_midi(tmp_path / "m.mid").parts] == \
        [(100, 64, 0), (100, 0, 0), (50, 64, 0), (100, 64, 0), (100, 64, 127)]
