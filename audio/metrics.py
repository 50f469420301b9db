"""How closely audio follows a Score: chroma cosine, onset F1 and note F1 after transcription.

- `chroma_cosine`: the audio's chromagram (STFT magnitudes folded onto the 12
  pitch classes) against the Score's chromagram (sounding notes, each with a
  few harmonics, on the same frames), as the mean cosine over the frames where
  the Score has pitched notes.
- `onset_f1`: onsets detected in the audio by spectral flux with peak picking
  against the Score's note onsets, one-to-one within 50 ms.
- `note_f1`: notes transcribed by basic-pitch's ONNX model (shipped inside the
  basic-pitch wheel, run with onnxruntime; TensorFlow is never imported) against
  the Score's pitched notes: onset within 50 ms and the same MIDI pitch, as
  mir_eval's onset-only note F-measure.

Everything is numpy/scipy; the chroma filterbank and the Score's chroma and
onset envelopes are shared with the differentiable guidance losses of the
diffusion renderer (audio.diffusion).
"""
from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

from symbolic.score import Score

HOP_SECONDS = 0.05          # chroma frame rate: 20 frames per second
ONSET_HOP_SECONDS = 0.01    # onset envelope frame rate
TOLERANCE = 0.05            # onset tolerance for onset and note F1 (seconds)
CHROMA_FMIN, CHROMA_FMAX = 60.0, 2200.0
RELEASE_SECONDS = 0.1       # a note keeps sounding this long after its MIDI note-off
HARMONICS = (1.0, 0.5, 0.33, 0.25, 0.2)   # weights of harmonics 1..5 in the Score's chroma

_INSTALL_HINT = ("pip install onnxruntime && pip install --no-deps basic-pitch "
                 "(or bash scripts/setup.sh, which installs both without TensorFlow)")


class MetricsError(RuntimeError):
    """A metric cannot be computed (missing optional package, unusable input); one line."""


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float
    n_ref: int
    n_est: int
    n_matched: int

    def as_dict(self) -> dict:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1,
                "n_ref": self.n_ref, "n_est": self.n_est, "n_matched": self.n_matched}


# --- audio helpers -------------------------------------------------------------

def to_mono(audio: np.ndarray) -> np.ndarray:
    """(n,), (n, channels) or (channels, n) with channels <= 8 -> (n,) float32."""
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        return a
    if a.ndim != 2:
        raise MetricsError(f"audio must be 1-D or 2-D, not {a.ndim}-D")
    if a.shape[1] <= 8 and a.shape[0] > a.shape[1]:
        return a.mean(axis=1)
    return a.mean(axis=0)


def resample(audio: np.ndarray, sr_from: int, sr_to: int, axis: int = 0) -> np.ndarray:
    """Polyphase resampling (scipy.signal.resample_poly) by the exact rational ratio."""
    if int(sr_from) == int(sr_to):
        return np.asarray(audio, dtype=np.float32)
    from scipy.signal import resample_poly

    ratio = Fraction(int(sr_to), int(sr_from))
    out = resample_poly(np.asarray(audio, dtype=np.float32), ratio.numerator, ratio.denominator, axis=axis)
    return out.astype(np.float32)


CHROMA_WINDOW_SECONDS = 8192 / 44100   # about 0.19 s: splits semitones from about 60 Hz up
ONSET_WINDOW_SECONDS = 2048 / 44100    # about 46 ms


@lru_cache(maxsize=64)
def fft_size(sr: int, seconds: float) -> int:
    """The even 5-smooth number (a fast FFT size) nearest `seconds` of audio at this rate.

    Windows of the same duration at every rate keep the features independent of
    the sample rate (a power of two is 0.19 s at 44.1 kHz but 0.13 s at 16 kHz).
    """
    target = sr * seconds
    best, p2 = 2, 2
    while p2 <= 2 * target:
        p3 = p2
        while p3 <= 2 * target:
            p5 = p3
            while p5 <= 2 * target:
                if abs(p5 - target) < abs(best - target):
                    best = p5
                p5 *= 5
            p3 *= 3
        p2 *= 2
    return int(best)


def chroma_n_fft(sr: int) -> int:
    return fft_size(int(sr), CHROMA_WINDOW_SECONDS)


def onset_n_fft(sr: int) -> int:
    return fft_size(int(sr), ONSET_WINDOW_SECONDS)


@lru_cache(maxsize=16)
def chroma_filterbank(sr: int, n_fft: int, fmin: float = CHROMA_FMIN, fmax: float = CHROMA_FMAX) -> np.ndarray:
    """(12, n_fft // 2 + 1) weights folding STFT bins onto pitch classes (C = 0).

    Each bin between fmin and fmax goes to the pitch class of its nearest
    semitone with weight cos^2 of its distance (1 on the semitone, 0 halfway),
    divided by the number of bins per semitone there, so that every semitone
    counts the same whatever its frequency.
    """
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    fb = np.zeros((12, len(freqs)), dtype=np.float64)
    ok = (freqs >= fmin) & (freqs <= min(fmax, sr / 2))
    f = freqs[ok]
    midi = 69 + 12 * np.log2(f / 440.0)
    nearest = np.rint(midi)
    w = np.cos(np.pi * (midi - nearest)) ** 2
    bins_per_semitone = np.maximum(f * (2 ** (1 / 12) - 1) / (sr / n_fft), 1.0)
    idx = np.flatnonzero(ok)
    fb[(nearest.astype(int) % 12), idx] = w / bins_per_semitone
    return fb.astype(np.float32)


def _frames(x: np.ndarray, n_fft: int, hop: int, n_frames: int) -> np.ndarray:
    """Centered frames (n_frames, n_fft) of x, zero-padded at both ends."""
    pad = n_fft // 2
    need = (n_frames - 1) * hop + n_fft
    xp = np.zeros(max(need, len(x) + 2 * pad), dtype=np.float32)
    xp[pad:pad + len(x)] = x
    return np.lib.stride_tricks.as_strided(xp, shape=(n_frames, n_fft), strides=(hop * 4, 4))


def stft_magnitude(x: np.ndarray, n_fft: int, hop: int, n_frames: int | None = None,
                   chunk: int = 512) -> np.ndarray:
    """|STFT| with a Hann window and centered frames: (n_frames, n_fft // 2 + 1) float32."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if n_frames is None:
        n_frames = len(x) // hop + 1
    frames = _frames(x, n_fft, hop, n_frames)
    win = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    out = np.empty((n_frames, n_fft // 2 + 1), dtype=np.float32)
    for a in range(0, n_frames, chunk):
        out[a:a + chunk] = np.abs(np.fft.rfft(frames[a:a + chunk] * win, axis=1))
    return out


def frame_times(n_frames: int, hop_seconds: float) -> np.ndarray:
    return np.arange(n_frames) * hop_seconds


# --- chroma ----------------------------------------------------------------------

def audio_chroma(audio: np.ndarray, sr: int, hop_seconds: float = HOP_SECONDS,
                 n_frames: int | None = None) -> np.ndarray:
    """(frames, 12) chromagram (not normalized); frame k is centered at k * hop_seconds."""
    x = to_mono(audio)
    hop = max(1, int(round(sr * hop_seconds)))
    n_fft = chroma_n_fft(sr)
    if n_frames is None:
        n_frames = int(math.ceil(len(x) / hop)) + 1
    mag = stft_magnitude(x, n_fft, hop, n_frames)
    return mag @ chroma_filterbank(int(sr), n_fft).T


def _note_table(score: Score, parts: list[str] | None = None, drums: bool = False) -> np.ndarray:
    """(n, 4) float64: start s, end s, pitch, velocity of the selected parts' notes."""
    from .render import ticks_to_samples

    rows = []
    for p in score.parts:
        if parts is not None and p.name not in parts:
            continue
        if p.is_drum and not drums:
            continue
        for n in p.notes:
            rows.append((n.start, n.end, n.pitch, n.velocity))
    if not rows:
        return np.zeros((0, 4))
    arr = np.array(rows, dtype=np.int64)
    sec = ticks_to_samples(score, arr[:, :2].ravel(), sample_rate=1_000_000).reshape(-1, 2) / 1e6
    return np.column_stack([sec, arr[:, 2], arr[:, 3]]).astype(np.float64)


def score_chroma(score: Score, n_frames: int, hop_seconds: float = HOP_SECONDS, offset: float = 0.0,
                 parts: list[str] | None = None, harmonics: tuple[float, ...] = HARMONICS) -> np.ndarray:
    """(n_frames, 12) chromagram of the Score's pitched notes on frames at offset + k * hop_seconds.

    A note adds velocity/127 times each harmonic's weight to the pitch class of
    that harmonic while it sounds (note-on to note-off plus RELEASE_SECONDS).
    Drum parts are left out.
    """
    out = np.zeros((n_frames, 12), dtype=np.float32)
    notes = _note_table(score, parts)
    if len(notes) == 0:
        return out
    shifts = [int(round(12 * math.log2(h))) for h in range(1, len(harmonics) + 1)]
    t0 = (notes[:, 0] - offset) / hop_seconds
    t1 = (notes[:, 1] + RELEASE_SECONDS - offset) / hop_seconds
    a = np.clip(np.ceil(t0).astype(np.int64), 0, n_frames)
    b = np.clip(np.ceil(t1).astype(np.int64), 0, n_frames)
    # A note shorter than a frame still marks the frame it starts in.
    b = np.where((b <= a) & (a < n_frames) & (t1 > 0), a + 1, b)
    acc = np.zeros((n_frames + 1, 12), dtype=np.float64)
    vel = notes[:, 3] / 127.0
    pitch = notes[:, 2].astype(np.int64)
    for w, s in zip(harmonics, shifts):
        pc = (pitch + s) % 12
        np.add.at(acc, (a, pc), vel * w)
        np.add.at(acc, (b, pc), -vel * w)
    out[:] = np.cumsum(acc, axis=0)[:n_frames]
    np.maximum(out, 0, out=out)
    return out


def chroma_cosine(audio: np.ndarray, sr: int, score: Score, parts: list[str] | None = None,
                  hop_seconds: float = HOP_SECONDS, offset: float = 0.0, per_frame: bool = False):
    """Mean cosine similarity between the audio's and the Score's chroma.

    Averaged over frames where the Score has pitched notes sounding and the
    audio is not silent (within 60 dB of its loudest frame). `offset` is the
    Score time (s) at the start of the audio. 0.0 when no frame qualifies.
    With per_frame=True also returns (cosines, mask).
    """
    ac = audio_chroma(audio, sr, hop_seconds)
    mc = score_chroma(score, len(ac), hop_seconds, offset, parts)
    cos, mask = _frame_cosines(ac, mc)
    value = float(cos[mask].mean()) if mask.any() else 0.0
    return (value, cos, mask) if per_frame else value


def _frame_cosines(ac: np.ndarray, mc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    an = np.linalg.norm(ac, axis=1)
    mn = np.linalg.norm(mc, axis=1)
    loud = an > (an.max() * 1e-3 if len(an) and an.max() > 0 else np.inf)
    mask = (mn > 1e-6) & loud
    cos = (ac * mc).sum(axis=1) / np.maximum(an * mn, 1e-12)
    return cos, mask


# --- onsets ------------------------------------------------------------------------

def onset_envelope(audio: np.ndarray, sr: int, hop_seconds: float = ONSET_HOP_SECONDS) -> np.ndarray:
    """Spectral flux of the log-compressed magnitude spectrum (one value per frame), >= 0."""
    x = to_mono(audio)
    hop = max(1, int(round(sr * hop_seconds)))
    n_fft = onset_n_fft(sr)
    mag = stft_magnitude(x, n_fft, hop)
    logm = np.log1p(100.0 * mag)
    # Frame 0 is compared with silence, so a note at time 0 has an onset too.
    flux = np.maximum(np.diff(logm, axis=0, prepend=0.0), 0.0).sum(axis=1)
    return flux.astype(np.float32)


def detect_onsets(audio: np.ndarray, sr: int, hop_seconds: float = ONSET_HOP_SECONDS,
                  delta: float = 0.05, wait: float = 0.03, floor_db: float = -30.0) -> np.ndarray:
    """Onset times (s): peaks of the spectral-flux envelope above a moving mean plus delta.

    Peaks where the signal (RMS over the next 50 ms) stays more than `floor_db`
    below the loudest moment are dropped: clicks in decaying tails are not notes.
    """
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    env = onset_envelope(audio, sr, hop_seconds)
    if len(env) < 3 or env.max() <= 0:
        return np.zeros(0)
    x = to_mono(audio)
    hop = max(1, int(round(sr * hop_seconds)))
    n = len(env)
    frames = np.zeros(n * hop, np.float32)
    frames[:min(len(x), n * hop)] = x[:n * hop]
    rms = np.sqrt((frames.reshape(n, hop) ** 2).mean(axis=1))
    ahead = max(1, int(round(0.05 / hop_seconds)))
    loud_ahead = maximum_filter1d(rms, size=2 * ahead + 1, origin=-ahead)
    loud = loud_ahead >= rms.max() * 10 ** (floor_db / 20)
    env = env / env.max()
    local_max = env == maximum_filter1d(env, size=2 * max(1, int(round(0.03 / hop_seconds))) + 1)
    mean = uniform_filter1d(env, size=2 * max(1, int(round(0.1 / hop_seconds))) + 1)
    cand = np.flatnonzero(local_max & (env >= mean + delta) & (env > 0) & loud)
    picked: list[int] = []
    gap = int(round(wait / hop_seconds))
    for i in cand:
        if not picked or i - picked[-1] > gap:
            picked.append(int(i))
        elif env[i] > env[picked[-1]]:
            picked[-1] = int(i)
    # The flux at frame k measures the change from frame k-1 to k; the onset lies between them.
    return np.maximum(np.array(picked, dtype=np.float64) - 0.5, 0.0) * hop_seconds


def score_onsets(score: Score, parts: list[str] | None = None, drums: bool = True,
                 merge: float = 0.03) -> np.ndarray:
    """Sorted onset times (s) of the Score's notes; onsets closer than `merge` count once."""
    notes = _note_table(score, parts, drums=drums)
    if len(notes) == 0:
        return np.zeros(0)
    t = np.sort(notes[:, 0])
    keep = [t[0]]
    for v in t[1:]:
        if v - keep[-1] > merge:
            keep.append(v)
    return np.array(keep)


def score_onset_envelope(score: Score, n_frames: int, hop_seconds: float, offset: float = 0.0,
                         parts: list[str] | None = None, width: float = 0.02) -> np.ndarray:
    """(n_frames,) sum of Gaussian bumps (std `width` s) at the Score's onsets, velocity-weighted."""
    notes = _note_table(score, parts, drums=True)
    env = np.zeros(n_frames, dtype=np.float64)
    if len(notes) == 0:
        return env.astype(np.float32)
    t = np.arange(n_frames) * hop_seconds + offset
    for start, vel in zip(notes[:, 0], notes[:, 3]):
        lo, hi = np.searchsorted(t, [start - 4 * width, start + 4 * width])
        if hi > lo:
            env[lo:hi] += (vel / 127.0) * np.exp(-0.5 * ((t[lo:hi] - start) / width) ** 2)
    return env.astype(np.float32)


def match_count(ref: np.ndarray, est: np.ndarray, tolerance: float = TOLERANCE) -> int:
    """Size of a largest one-to-one matching of sorted times with |ref - est| <= tolerance.

    On a line with a symmetric window, matching each reference to the earliest
    unused estimate in its window (in time order) is optimal.
    """
    ref, est = np.sort(np.asarray(ref, float)), np.sort(np.asarray(est, float))
    i = j = matched = 0
    eps = 1e-9
    while i < len(ref) and j < len(est):
        if est[j] < ref[i] - tolerance - eps:
            j += 1
        elif est[j] > ref[i] + tolerance + eps:
            i += 1
        else:
            matched += 1
            i += 1
            j += 1
    return matched


def prf(n_ref: int, n_est: int, n_matched: int) -> PRF:
    p = n_matched / n_est if n_est else 0.0
    r = n_matched / n_ref if n_ref else 0.0
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return PRF(p, r, f, n_ref, n_est, n_matched)


def onset_f1(audio: np.ndarray, sr: int, score: Score, tolerance: float = TOLERANCE,
             parts: list[str] | None = None, offset: float = 0.0) -> PRF:
    """Detected audio onsets against the Score's note onsets (all parts, drums included)."""
    ref = score_onsets(score, parts) - offset
    est = detect_onsets(audio, sr)
    return prf(len(ref), len(est), match_count(ref, est, tolerance))


def note_match_count(ref: np.ndarray, est: np.ndarray, tolerance: float = TOLERANCE) -> int:
    """One-to-one matches of (onset s, pitch) rows: same pitch, onsets within tolerance."""
    total = 0
    for pitch in np.intersect1d(ref[:, 1], est[:, 1]) if len(ref) and len(est) else []:
        total += match_count(ref[ref[:, 1] == pitch, 0], est[est[:, 1] == pitch, 0], tolerance)
    return total


# --- transcription with basic-pitch's ONNX model ---------------------------------

BP_SAMPLE_RATE = 22050
BP_FFT_HOP = 256
BP_WINDOW = BP_SAMPLE_RATE * 2 - BP_FFT_HOP        # samples per model window
BP_FRAMES_PER_WINDOW = BP_SAMPLE_RATE // BP_FFT_HOP * 2
BP_OVERLAP_FRAMES = 30
BP_MIDI_OFFSET = 21
BP_MAX_FREQ_IDX = 87


def basic_pitch_model_path() -> Path:
    """The nmp.onnx file inside the installed basic-pitch package (the package is not imported)."""
    try:
        spec = importlib.util.find_spec("basic_pitch")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MetricsError(f"note F1 needs the basic-pitch package for its ONNX model: {_INSTALL_HINT}")
    for loc in spec.submodule_search_locations:
        path = Path(loc) / "saved_models" / "icassp_2022" / "nmp.onnx"
        if path.is_file():
            return path
    raise MetricsError(f"the installed basic-pitch has no saved_models/icassp_2022/nmp.onnx; reinstall: {_INSTALL_HINT}")


_session_cache: list = []


def _session():
    if _session_cache:
        return _session_cache[0]
    path = basic_pitch_model_path()
    try:
        import onnxruntime as ort
    except ImportError:
        raise MetricsError(f"note F1 needs onnxruntime: {_INSTALL_HINT}") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    _session_cache.append(sess)
    return sess


def basic_pitch_activations(audio: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """The model's 'note', 'onset' (frames, 88) and 'contour' (frames, 264) posteriors at 86 frames/s."""
    sess = _session()
    x = resample(to_mono(audio), sr, BP_SAMPLE_RATE)
    n_orig = len(x)
    overlap = BP_OVERLAP_FRAMES * BP_FFT_HOP
    hop = BP_WINDOW - overlap
    x = np.concatenate([np.zeros(overlap // 2, np.float32), x])
    starts = range(0, len(x), hop)
    wins = np.zeros((len(starts), BP_WINDOW, 1), dtype=np.float32)
    for k, a in enumerate(starts):
        seg = x[a:a + BP_WINDOW]
        wins[k, :len(seg), 0] = seg
    input_name = sess.get_inputs()[0].name
    names = {o.name: o for o in sess.get_outputs()}
    # Output order of the exported model: contour, note, onset.
    wanted = {"note": "StatefulPartitionedCall:1", "onset": "StatefulPartitionedCall:2",
              "contour": "StatefulPartitionedCall:0"}
    if not all(v in names for v in wanted.values()):
        raise MetricsError("unexpected outputs in basic-pitch's ONNX model; a different basic-pitch version?")
    outs: dict[str, list] = {k: [] for k in wanted}
    for k in range(0, len(wins), 8):
        res = sess.run(list(wanted.values()), {input_name: wins[k:k + 8]})
        for key, arr in zip(wanted, res):
            outs[key].append(arr)
    n_frames = int(np.floor(n_orig * (BP_SAMPLE_RATE // BP_FFT_HOP) / BP_SAMPLE_RATE))
    half = BP_OVERLAP_FRAMES // 2
    result = {}
    for key, chunks in outs.items():
        arr = np.concatenate(chunks)[:, half:-half, :]
        result[key] = arr.reshape(-1, arr.shape[-1])[:n_frames]
    return result


def _bp_frame_times(n_frames: int) -> np.ndarray:
    """basic-pitch's frame -> seconds mapping, with its per-window offset correction."""
    t = np.arange(n_frames) * BP_FFT_HOP / BP_SAMPLE_RATE
    window_numbers = np.floor(np.arange(n_frames) / BP_FRAMES_PER_WINDOW)
    window_offset = (BP_FFT_HOP / BP_SAMPLE_RATE) * (BP_FRAMES_PER_WINDOW - BP_WINDOW / BP_FFT_HOP) + 0.0018
    return t - window_offset * window_numbers



def _trace(remaining: np.ndarray, mid: int, freq: int, step: int, n_frames: int, frame_thresh: float,
           energy_tol: int) -> int:
    """Follow a note from its peak frame forwards (step +1) or backwards (-1) until energy_tol frames fall
    under the threshold, clearing what it passes (and the neighbouring bins); returns the last frame kept."""
    i, k = mid + step, 0
    while (i < n_frames - 1 if step > 0 else i > 0) and k < energy_tol:
        k = k + 1 if remaining[i, freq] < frame_thresh else 0
        remaining[i, freq] = 0
        if freq < BP_MAX_FREQ_IDX:
            remaining[i, freq + 1] = 0
        if freq > 0:
            remaining[i, freq - 1] = 0
        i += step
    return i - step * (1 + k)

def activations_to_notes(frames: np.ndarray, onsets: np.ndarray, onset_thresh: float = 0.5,
                         frame_thresh: float = 0.3, min_note_len: int = 11, energy_tol: int = 11,
                         infer_onsets: bool = True, melodia_trick: bool = True) -> list[tuple[int, int, int, float]]:
    """Note events (start frame, end frame, MIDI pitch, amplitude) from the posteriors.

    The decoding of basic-pitch's note_creation.output_to_notes_polyphonic
    (Apache-2.0), restated with numpy and scipy only.
    """
    from scipy.signal import argrelmax

    frames = np.array(frames, dtype=np.float64)
    onsets = np.array(onsets, dtype=np.float64)
    n_frames = frames.shape[0]
    if n_frames < 3:
        return []
    if infer_onsets:
        n_diff = 2
        diffs = []
        for n in range(1, n_diff + 1):
            app = np.concatenate([np.zeros((n, frames.shape[1])), frames])
            diffs.append(app[n:, :] - app[:-n, :])
        fd = np.min(diffs, axis=0)
        fd[fd < 0] = 0
        fd[:n_diff, :] = 0
        if fd.max() > 0:
            fd = onsets.max() * fd / fd.max()
        onsets = np.maximum(onsets, fd)

    peak = np.zeros(onsets.shape)
    peaks = argrelmax(onsets, axis=0)
    peak[peaks] = onsets[peaks]
    t_idx, f_idx = np.where(peak >= onset_thresh)
    remaining = frames.copy()
    events = []
    for start, freq in zip(t_idx[::-1], f_idx[::-1]):
        if start >= n_frames - 1:
            continue
        i, k = start + 1, 0
        while i < n_frames - 1 and k < energy_tol:
            k = k + 1 if remaining[i, freq] < frame_thresh else 0
            i += 1
        i -= k
        if i - start <= min_note_len:
            continue
        remaining[start:i, freq] = 0
        if freq < BP_MAX_FREQ_IDX:
            remaining[start:i, freq + 1] = 0
        if freq > 0:
            remaining[start:i, freq - 1] = 0
        events.append((int(start), int(i), int(freq) + BP_MIDI_OFFSET, float(frames[start:i, freq].mean())))

    if melodia_trick:
        while remaining.max() > frame_thresh:
            mid, freq = np.unravel_index(np.argmax(remaining), remaining.shape)
            remaining[mid, freq] = 0
            end = _trace(remaining, int(mid), int(freq), +1, n_frames, frame_thresh, energy_tol)
            start = _trace(remaining, int(mid), int(freq), -1, n_frames, frame_thresh, energy_tol)
            if end - start <= min_note_len:
                continue
            events.append((int(start), int(end), int(freq) + BP_MIDI_OFFSET, float(frames[start:end, freq].mean())))
    return events


def transcribe(audio: np.ndarray, sr: int, onset_threshold: float = 0.5, frame_threshold: float = 0.3,
               min_note_ms: float = 127.7) -> np.ndarray:
    """Notes in the audio as an (n, 4) array: start s, end s, MIDI pitch, amplitude; sorted by start.

    basic-pitch's defaults; MetricsError when onnxruntime or basic-pitch is missing.
    """
    act = basic_pitch_activations(audio, sr)
    min_len = int(np.round(min_note_ms / 1000 * (BP_SAMPLE_RATE / BP_FFT_HOP)))
    events = activations_to_notes(act["note"], act["onset"], onset_threshold, frame_threshold, min_len)
    if not events:
        return np.zeros((0, 4))
    times = _bp_frame_times(act["note"].shape[0] + 1)
    arr = np.array([(times[s], times[min(e, len(times) - 1)], p, a) for s, e, p, a in events], dtype=np.float64)
    return arr[np.argsort(arr[:, 0], kind="stable")]


def note_f1(audio: np.ndarray, sr: int, score: Score, tolerance: float = TOLERANCE,
            parts: list[str] | None = None, offset: float = 0.0, notes: np.ndarray | None = None) -> PRF:
    """basic-pitch transcription against the Score's pitched notes: onset within tolerance, same pitch.

    `notes` may pass an earlier transcription (from `transcribe`) to skip the model run.
    """
    est = transcribe(audio, sr) if notes is None else notes
    ref_tab = _note_table(score, parts)
    ref = np.column_stack([ref_tab[:, 0] - offset, ref_tab[:, 2]]) if len(ref_tab) else np.zeros((0, 2))
    # Repeated notes of one pitch at one time (doublings across parts) sound as one note.
    if len(ref):
        ref = np.unique(np.column_stack([np.round(ref[:, 0], 3), ref[:, 1]]), axis=0)
    est2 = np.column_stack([est[:, 0], est[:, 2]]) if len(est) else np.zeros((0, 2))
    return prf(len(ref), len(est2), note_match_count(ref, est2, tolerance))


def basic_pitch_available() -> bool:
    try:
        _session()
        return True
    except MetricsError:
        return False


def adherence(audio: np.ndarray, sr: int, score: Score, notes: bool = True,
              parts: list[str] | None = None) -> dict:
    """All metrics in one dict: chroma_cosine, onset_{precision,recall,f1}, and note_* when `notes`.

    Note F1 is left out (None) when basic-pitch or onnxruntime is missing.
    """
    out: dict = {"chroma_cosine": chroma_cosine(audio, sr, score, parts)}
    o = onset_f1(audio, sr, score, parts=parts)
    out.update({"onset_precision": o.precision, "onset_recall": o.recall, "onset_f1": o.f1})
    if notes:
        try:
            n = note_f1(audio, sr, score, parts=parts)
            out.update({"note_precision": n.precision, "note_recall": n.recall, "note_f1": n.f1})
        except MetricsError:
            out.update({"note_precision": None, "note_recall": None, "note_f1": None})
    return out
