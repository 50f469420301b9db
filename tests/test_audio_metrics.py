"""MIDI adherence metrics on real FluidSynth renders: chroma cosine, onset F1, basic-pitch note F1."""
from __future__ import annotations

import numpy as np
import pytest

from audio import metrics as M
from audio import render as R
from audio.render import render_score
from symbolic.score import PPQ, Bar, Note, Part, Score

BAR = 4 * PPQ
SR = R.SAMPLE_RATE


pytestmark = pytest.mark.usefixtures("fluidsynth_library")


def melody(pitches=(60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65), program: int = 0, bpm: float = 100.0) -> Score:
    score = Score(title="melody")
    score.tempos = [(0, bpm)]
    score.bars = [Bar(i * BAR, 4, 4) for i in range((len(pitches) + 3) // 4)]
    part = Part("Lead", program, role="melody")
    part.notes = [Note(i * PPQ, i * PPQ + PPQ - 40, p, 100) for i, p in enumerate(pitches)]
    score.parts = [part]
    return score


def band(root: int = 0, bars: int = 4) -> Score:
    """Piano chords, a bass line and drums; `root` transposes the pitched parts."""
    score = Score(title="band")
    score.tempos = [(0, 120.0)]
    score.bars = [Bar(i * BAR, 4, 4) for i in range(bars)]
    piano, bass, drums = Part("Piano", 0, role="chords"), Part("Bass", 33, role="bass"), Part("Drums", 0, True, "drums")
    progression = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]
    for b in range(bars):
        chord = progression[b % 4]
        for q in range(4):
            t = b * BAR + q * PPQ
            piano.notes += [Note(t, t + PPQ - 30, p + root, 85) for p in chord]
            bass.notes.append(Note(t, t + PPQ - 20, chord[0] - 24 + root, 100))
            # Kick and closed hi-hat: the small test SoundFont's snares have a second attack 185 ms in.
            drums.notes.append(Note(t, t + 100, 36 if q % 2 == 0 else 42, 100))
    score.parts = [piano, bass, drums]
    return score


@pytest.fixture(scope="module")
def renders(soundfont):
    scores = {"melody": melody(), "band": band(), "band+6": band(6)}
    return {k: (s, render_score(s, soundfont, with_stems=False).mix) for k, s in scores.items()}


def test_analysis_windows_last_the_same_at_every_rate():
    for sr in (8000, 16000, 22050, 24000, 32000, 44100, 48000):
        for n_fft, seconds in ((M.chroma_n_fft(sr), 0.186), (M.onset_n_fft(sr), 0.046)):
            assert n_fft % 2 == 0 and abs(n_fft / sr - seconds) < 0.03 * seconds, (sr, n_fft)
            m = n_fft
            for f in (2, 3, 5):          # sizes numpy's FFT handles fast
                while m % f == 0:
                    m //= f
            assert m == 1, (sr, n_fft)
    assert M.chroma_n_fft(44100) == 8192 and M.onset_n_fft(44100) == 2048


def test_chroma_filterbank_folds_a_tone_onto_its_pitch_class():
    t = np.arange(SR) / SR
    for midi, pc, ratio in ((81, 9, 5), (69, 9, 5), (60, 0, 3), (43, 7, 1.5)):   # low notes smear more
        tone = np.sin(2 * np.pi * 440.0 * 2 ** ((midi - 69) / 12) * t).astype(np.float32)
        chroma = M.audio_chroma(tone, SR).mean(axis=0)
        assert int(np.argmax(chroma)) == pc
        assert chroma[pc] > ratio * np.delete(chroma, pc).max()


def test_score_chroma_and_onsets_follow_the_notes():
    score = melody((60, 64, 67, 72))
    hop = 0.05
    chroma = M.score_chroma(score, 80, hop)
    beat = 60 / 100
    assert np.argmax(chroma[int(0.2 / hop)]) == 0                 # C sounding
    assert np.argmax(chroma[int((beat + 0.2) / hop)]) == 4        # then E
    assert chroma[int(3.0 / hop)].sum() == 0                      # silence after the release
    np.testing.assert_allclose(M.score_onsets(score), [0, beat, 2 * beat, 3 * beat], atol=1e-6)


def test_matching_is_one_to_one_within_the_tolerance():
    assert M.match_count([1.0, 2.0, 3.0], [1.04, 2.06, 3.0, 3.01]) == 2
    assert M.match_count([1.0, 1.03], [1.01]) == 1
    assert M.match_count([1.0, 1.03], [0.99, 1.05]) == 2
    ref = np.array([[1.0, 60], [1.0, 64], [2.0, 60]])
    est = np.array([[1.01, 60], [1.02, 65], [2.03, 60], [2.5, 60]])
    assert M.note_match_count(ref, est) == 2
    p = M.prf(4, 5, 3)
    assert (p.precision, p.recall) == (0.6, 0.75) and abs(p.f1 - 2 * 0.6 * 0.75 / 1.35) < 1e-12


@pytest.mark.slow
def test_chroma_cosine_of_a_render_is_high_against_its_midi_and_lower_against_another(renders):
    for name in ("melody", "band"):
        score, mix = renders[name]
        own = M.chroma_cosine(mix, SR, score)
        assert own > 0.7, name
    band_score, band_mix = renders["band"]
    assert M.chroma_cosine(band_mix, SR, renders["band+6"][0]) < M.chroma_cosine(band_mix, SR, band_score) - 0.3
    assert M.chroma_cosine(band_mix, SR, renders["melody"][0]) < 0.6
    # Resampled to another rate, the same audio scores about the same.
    m16 = M.resample(band_mix, SR, 16000)
    assert abs(M.chroma_cosine(m16, 16000, band_score) - M.chroma_cosine(band_mix, SR, band_score)) < 0.05


def test_onset_f1_is_high_for_the_render_of_itself(renders):
    for name in ("melody", "band"):
        score, mix = renders[name]
        res = M.onset_f1(mix, SR, score)
        assert res.f1 > 0.8, (name, res)
    band_score, band_mix = renders["band"]
    shifted = np.concatenate([np.zeros((int(0.3 * SR), 2), np.float32), band_mix])   # every onset 300 ms late
    assert M.onset_f1(shifted, SR, band_score).f1 < 0.3


def test_note_f1_with_basic_pitch(renders):
    if not M.basic_pitch_available():
        pytest.skip("basic-pitch's ONNX model or onnxruntime is not installed")
    score, mix = renders["melody"]
    notes = M.transcribe(mix, SR)
    assert len(notes) >= 8 and np.all(notes[:, 1] > notes[:, 0])
    res = M.note_f1(mix, SR, score, notes=notes)
    assert res.recall > 0.8 and res.f1 > 0.7, res
    wrong = melody(tuple(p + 1 for p in (60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65)))
    assert M.note_f1(mix, SR, wrong, notes=notes).f1 < 0.3
    summary = M.adherence(mix, SR, score)
    assert summary["note_f1"] == pytest.approx(res.f1) and summary["chroma_cosine"] > 0.7


def test_missing_basic_pitch_gives_a_clear_error(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(M, "_session_cache", [])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "basic_pitch" else real(name, *a))
    with pytest.raises(M.MetricsError, match="--no-deps basic-pitch"):
        M.transcribe(np.zeros(SR, np.float32), SR)
    out = M.adherence(np.zeros((SR, 2), np.float32), SR, melody())
    assert out["note_f1"] is None
