"""Score -> audio with FluidSynth: a stereo mix and one stem per part in a single pass.

A synthesizer renders several parts at once. Its j-th part plays on synth MIDI
channel j, and FluidSynth routes channel j to audio group j and effects group
j (channel % groups), so `fluid_synth_process` hands back one dry stereo pair
per part, and each group's reverb and chorus are written into that same pair.
The stems therefore cost no extra synthesis, each carries its own effects, and
they add up to the mix. Drum parts get the percussion channel type and bank
128 on whatever channel they use.

The parts are spread over one synthesizer per CPU core (balanced by an
estimate of their voice load), each in its own thread; ctypes releases the GIL
while FluidSynth renders, so the synthesizers run in parallel. Note events are
sent straight from the Score in time order (ticks converted to samples through
the tempo map); between events audio is rendered in large blocks directly into
preallocated numpy buffers, so there is no MIDI file, player or sequencer in
the loop. Settings match the `fluidsynth` command-line defaults (gain 0.2,
reverb and chorus on, polyphony 256), so the mix sounds like `fluidsynth -F`
on the exported MIDI file.

Afterwards the mix and the stems are scaled by one common gain that puts the
mix peak at -1 dBFS (lowered only if a stem would otherwise clip), and written
as 16-bit WAV or FLAC. Every file is first written to a temporary file next to
its destination, and all of them are moved into place only once every output
is complete, so a cancelled or failed render leaves existing files untouched.
"""
from __future__ import annotations

import ctypes
import math
import os
import re
import threading
import time
import uuid
from collections import deque
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from symbolic.score import MAX_SECONDS, RELEASE_SECONDS, Part, Progress, Score, ScoreError

from .soundfont import find_soundfont

SAMPLE_RATE = 44100
TARGET_PEAK_DBFS = -1.0
TAIL_SECONDS = 2.0
SYNTH_GAIN = 0.2          # the fluidsynth CLI default
POLYPHONY = 256           # the fluidsynth CLI default
MAX_PARTS = 128           # FluidSynth allows at most 128 audio groups
FORMATS = {"wav": "WAV", "flac": "FLAC"}

_BLOCK = 32768            # samples rendered per call at most between events
_TAIL_BLOCK = 4096
_SILENCE_DB = -90.0       # tail is cut once it falls this far below the peak
_PROGRESS_EVERY = 0.25    # seconds of wall time between progress reports
_WRITE_FRAMES = 1 << 18
_MAX_WORKERS = 8
_CHANNEL_TYPE_MELODIC, _CHANNEL_TYPE_DRUM = 0, 1



class RenderError(Exception):
    """Rendering failed; the message says why in one line."""


class RenderCancelled(RenderError):
    """The cancel event was set; no file was written."""


@dataclass
class RenderResult:
    mix: np.ndarray                     # (n, 2) float32, peak at TARGET_PEAK_DBFS
    stems: dict[str, np.ndarray]        # part name -> (n, 2) float32, same gain as the mix
    sample_rate: int
    gain: float                         # the common normalization gain applied
    peak_dbfs: float                    # mix peak after the gain
    seconds: float                      # wall time of the whole render
    files: list[Path] = field(default_factory=list)
    soundfont: Path | None = None
    # How the audio follows the score where the renderer measures it (the diffusion renderer, audio.metrics):
    # chroma_cosine and onset_f1 of the output, start_chroma_cosine and start_onset_f1 of its SoundFont start.
    adherence: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.mix) / self.sample_rate


# --- libfluidsynth through ctypes -------------------------------------------

_log: deque[tuple[int, str]] = deque(maxlen=32)
_LOGFUNC = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


def _collect_log(level: int, message: bytes | None, _data) -> None:
    if message:
        _log.append((level, message.decode("utf-8", "replace").strip()))


_log_callback = _LOGFUNC(_collect_log)
_lib_cache: list = []
_lib_lock = threading.Lock()


def _load_library():
    """libfluidsynth with the prototypes used here; RenderError when it is missing or too old."""
    with _lib_lock:
        if _lib_cache:
            return _lib_cache[0]
        try:
            import fluidsynth as pyfluidsynth  # locates and loads libfluidsynth
        except (ImportError, OSError) as exc:
            raise RenderError(
                f"FluidSynth is not available ({str(exc).strip() or type(exc).__name__}); "
                "install the system library (apt-get install libfluidsynth3) and pyfluidsynth"
            ) from None
        found = getattr(getattr(pyfluidsynth, "_fl", None), "_name", None)
        if not found:
            raise RenderError("pyfluidsynth did not load libfluidsynth; reinstall pyfluidsynth and libfluidsynth3")
        try:
            lib = ctypes.CDLL(found)  # our own handle, so the prototypes below do not touch pyfluidsynth's
        except OSError as exc:
            raise RenderError(f"cannot load {found} ({exc}); install libfluidsynth3") from None
        v, i, p, d = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_double
        protos = {
            "fluid_version": (None, [ctypes.POINTER(i)] * 3),
            "new_fluid_settings": (v, []),
            "delete_fluid_settings": (None, [v]),
            "fluid_settings_setint": (i, [v, p, i]),
            "fluid_settings_setnum": (i, [v, p, d]),
            "new_fluid_synth": (v, [v]),
            "delete_fluid_synth": (None, [v]),
            "fluid_synth_sfload": (i, [v, p, i]),
            "fluid_synth_set_channel_type": (i, [v, i, i]),
            "fluid_synth_bank_select": (i, [v, i, i]),
            "fluid_synth_program_change": (i, [v, i, i]),
            "fluid_synth_noteon": (i, [v, i, i, i]),
            "fluid_synth_noteoff": (i, [v, i, i]),
            "fluid_synth_cc": (i, [v, i, i, i]),
            "fluid_synth_get_active_voice_count": (i, [v]),
            "fluid_synth_process": (i, [v, i, i, v, i, v]),
            "fluid_set_log_function": (v, [i, _LOGFUNC, v]),
        }
        try:
            for name, (res, args) in protos.items():
                fn = getattr(lib, name)
                fn.restype, fn.argtypes = res, args
        except AttributeError as exc:
            raise RenderError(f"libfluidsynth lacks {exc}; FluidSynth 2.x (libfluidsynth3) is required") from None
        major, minor, micro = i(), i(), i()
        lib.fluid_version(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(micro))
        if major.value < 2:
            raise RenderError(f"FluidSynth {major.value}.{minor.value}.{micro.value} is too old; 2.x (libfluidsynth3) is required")
        for level in range(5):  # keep FluidSynth's messages off the terminal; they go into RenderError texts
            lib.fluid_set_log_function(level, _log_callback, None)
        # The first new_fluid_synth fills FluidSynth's global tables without making a second
        # caller wait; synths made at once in worker threads could then render with half-filled
        # tables (the first render in a process came out different). Fill them here, once.
        settings = lib.new_fluid_settings()
        if settings:
            synth = lib.new_fluid_synth(settings)
            if synth:
                lib.delete_fluid_synth(synth)
            lib.delete_fluid_settings(settings)
        _lib_cache.append(lib)
        return lib


def fluidsynth_version() -> str:
    lib = _load_library()
    major, minor, micro = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    lib.fluid_version(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(micro))
    return f"{major.value}.{minor.value}.{micro.value}"


class _Synth:
    """One fluid_synth_t with `groups` stereo audio groups and effects groups."""

    def __init__(self, lib, soundfont: Path, channels: int, groups: int):
        self.lib = lib
        self.settings = lib.new_fluid_settings()
        self.synth = None
        if not self.settings:
            raise RenderError("FluidSynth could not create its settings")
        s = self.settings
        for name, value in (("synth.sample-rate", float(SAMPLE_RATE)), ("synth.gain", SYNTH_GAIN)):
            lib.fluid_settings_setnum(s, name.encode(), value)
        for name, value in (
            ("synth.polyphony", POLYPHONY),
            ("synth.reverb.active", 1),
            ("synth.chorus.active", 1),
            ("synth.midi-channels", channels),
            ("synth.audio-groups", groups),
            ("synth.audio-channels", groups),
            ("synth.effects-groups", groups),
            ("synth.cpu-cores", 1),
            # Load only the samples of the presets actually selected: big SoundFonts open much faster.
            ("synth.dynamic-sample-loading", 1),
            # Only this thread talks to the synth, so its API lock is pure overhead.
            ("synth.threadsafe-api", 0),
        ):
            if lib.fluid_settings_setint(s, name.encode(), value) != 0:
                self.close()
                raise RenderError(f"FluidSynth rejected {name}={value}")
        _log.clear()
        self.synth = lib.new_fluid_synth(s)
        if not self.synth:
            self.close()
            raise RenderError("FluidSynth could not create a synthesizer" + _last_log())
        self.sfont_id = lib.fluid_synth_sfload(self.synth, os.fsencode(soundfont), 1)
        if self.sfont_id < 0:
            self.close()
            raise RenderError(f"FluidSynth could not load the SoundFont {soundfont}" + _last_log())

    def setup_channel(self, chan: int, program: int, drum: bool, volume: int = 100, pan: int = 64,
                      reverb: int = 0) -> None:
        lib, syn = self.lib, self.synth
        lib.fluid_synth_set_channel_type(syn, chan, _CHANNEL_TYPE_DRUM if drum else _CHANNEL_TYPE_MELODIC)
        lib.fluid_synth_bank_select(syn, chan, 128 if drum else 0)
        # program_change falls back like a MIDI file would: to kit 0 for drums, to bank 0 otherwise.
        lib.fluid_synth_program_change(syn, chan, program)
        lib.fluid_synth_cc(syn, chan, 7, volume)    # the part's mixer, as its MIDI track sets it
        lib.fluid_synth_cc(syn, chan, 10, pan)
        lib.fluid_synth_cc(syn, chan, 91, reverb)

    def close(self) -> None:
        if self.synth:
            self.lib.delete_fluid_synth(self.synth)
            self.synth = None
        if self.settings:
            self.lib.delete_fluid_settings(self.settings)
            self.settings = None


def _last_log() -> str:
    errors = [m for lvl, m in _log if lvl <= 2]
    return f": {errors[-1]}" if errors else ""


# --- events ------------------------------------------------------------------

def ticks_to_samples(score: Score, ticks: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Sample index of each tick under the score's tempo map (as Score.seconds, vectorized)."""
    tempos = score.tempos or [(0, 120.0)]
    starts = [0] + [int(t) for t, _ in tempos[1:]]
    bpms = [float(b) for _, b in tempos]
    sec_per_tick = np.array([60.0 / (b * score.ppq) for b in bpms])
    seg_ticks = np.array(starts, dtype=np.int64)
    seg_secs = np.zeros(len(starts))
    for k in range(1, len(starts)):
        seg_secs[k] = seg_secs[k - 1] + (seg_ticks[k] - seg_ticks[k - 1]) * sec_per_tick[k - 1]
    idx = np.maximum(np.searchsorted(seg_ticks, ticks, side="left") - 1, 0)
    secs = seg_secs[idx] + (ticks - seg_ticks[idx]) * sec_per_tick[idx]
    return np.rint(secs * sample_rate).astype(np.int64)


def _part_events(part: Part, chan: int) -> tuple[np.ndarray, ...]:
    """(tick, is_on, channel, key, velocity) arrays for one part.

    A note that starts again on the same pitch before the previous one has ended
    cuts the previous one short, exactly as the MIDI export does. Sustain pedal
    changes are events with key -1 and velocity 127 (down) or 0 (up).
    """
    if not part.notes:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e, e, e
    pedal = np.array(part.pedal, dtype=np.int64).reshape(-1, 2)
    arr = np.array([(n.start, n.end, n.pitch, n.velocity) for n in part.notes], dtype=np.int64)
    order = np.lexsort((arr[:, 1], arr[:, 0], arr[:, 2]))  # by pitch, then start, then end
    start, end, pitch, vel = (arr[order, k] for k in range(4))
    same = pitch[1:] == pitch[:-1]
    end[:-1] = np.where(same, np.minimum(end[:-1], start[1:]), end[:-1])
    keep = end > start
    start, end, pitch, vel = start[keep], end[keep], pitch[keep], vel[keep]
    n, m = len(start), len(pedal)
    ticks = np.concatenate([start, end, pedal[:, 0], pedal[:, 1]])
    is_on = np.concatenate([np.ones(n, np.int64), np.zeros(n, np.int64), np.ones(m, np.int64), np.zeros(m, np.int64)])
    keys = np.concatenate([pitch, pitch, np.full(2 * m, -1, np.int64)])
    vels = np.concatenate([vel, np.zeros(n, np.int64), np.full(m, 127, np.int64), np.zeros(m, np.int64)])
    return ticks, is_on, np.full(2 * (n + m), chan, np.int64), keys, vels


# --- names and files ---------------------------------------------------------

_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def safe_stem_names(names: list[str]) -> list[str]:
    """File-system-safe, case-insensitively unique file stems for part names."""
    out: list[str] = []
    used: set[str] = set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9._ -]+", "_", name).strip(" ._-")[:80] or "part"
        if base.lower() in _RESERVED:
            base += "_"
        cand, k = base, 2
        while cand.lower() in used:
            cand, k = f"{base}-{k}", k + 1
        used.add(cand.lower())
        out.append(cand)
    return out


def _unique_keys(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            key = f"{n} {seen[n]}"
            while key in seen:
                seen[n] += 1
                key = f"{n} {seen[n]}"
            seen[key] = 1
            out.append(key)
        else:
            seen[n] = 1
            out.append(n)
    return out


def format_of(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise RenderError(f"cannot write {path}: the extension must be .wav or .flac")
    return ext


def _write_audio(path: Path, planar: np.ndarray, fmt: str, stop: Callable[[], bool]) -> None:
    """Write (2, n) planar float32 audio in [-1, 1] as 16-bit PCM.

    Samples are converted here in chunks (x * 32767, rounded, as libsndfile
    does) so soundfile only copies ready interleaved int16 frames.
    """
    import soundfile as sf

    n = planar.shape[1]
    size = max(1, min(n, _WRITE_FRAMES))
    fbuf = np.empty((size, 2), np.float32)
    ibuf = np.empty((size, 2), np.int16)
    scale = np.float32(32767.0)
    with sf.SoundFile(str(path), "w", samplerate=SAMPLE_RATE, channels=2,
                      subtype="PCM_16", format=FORMATS[fmt]) as fh:
        for a in range(0, n, size):
            if stop():
                raise RenderCancelled("rendering was cancelled")
            m = min(size, n - a)
            f, i = fbuf[:m], ibuf[:m]
            np.multiply(planar[:, a:a + m].T, scale, out=f)
            np.rint(f, out=f)
            np.clip(f, -32768.0, 32767.0, out=f)
            np.copyto(i, f, casting="unsafe")
            fh.write(i)


# --- rendering -----------------------------------------------------------------

class _Reporter:
    """Progress reports (throttled) and cancellation, always from the calling thread."""

    def __init__(self, progress: Progress | None, cancel: threading.Event | None):
        self.progress, self.cancel = progress, cancel
        self.abort = threading.Event()  # set when any worker fails, so the others stop
        self.last = -1e9

    def stopped(self) -> bool:
        return self.abort.is_set() or (self.cancel is not None and self.cancel.is_set())

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise RenderCancelled("rendering was cancelled")

    def report(self, fraction: float, message: str, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.perf_counter()
        if force or now - self.last >= _PROGRESS_EVERY:
            self.last = now
            self.progress(min(1.0, max(0.0, fraction)), message)


def default_workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, _MAX_WORKERS))


def _part_cost(part: Part, score: Score, duration: float) -> float:
    """A rough CPU estimate for balancing parts over synthesizers: effects plus voice-seconds."""
    cost = duration * 0.0017  # one reverb and chorus unit
    if part.notes:
        ticks = np.array([(n.start, n.end) for n in part.notes], dtype=np.int64)
        secs = ticks_to_samples(score, ticks.ravel()).reshape(-1, 2) / SAMPLE_RATE
        lengths = np.minimum(secs[:, 1] - secs[:, 0], 0.25) if part.is_drum else secs[:, 1] - secs[:, 0]
        cost += 0.002 * float(np.sum(lengths + 0.3))
    return cost


def _balance(costs: list[float], workers: int) -> list[list[int]]:
    """Longest-processing-time-first assignment of parts to workers; each list keeps score order."""
    bins: list[list[int]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    for i in sorted(range(len(costs)), key=lambda k: -costs[k]):
        w = loads.index(min(loads))
        bins[w].append(i)
        loads[w] += costs[i]
    return [sorted(b) for b in bins if b]


class _Worker(threading.Thread):
    """One synthesizer rendering a subset of the parts into its own stereo buffers, one pair per group."""

    def __init__(self, lib, soundfont: Path, score: Score, part_ids: list[int], with_stems: bool,
                 main_len: int, total: int, rep: _Reporter):
        super().__init__(daemon=True, name="render")
        self.lib, self.soundfont, self.rep = lib, soundfont, rep
        self.part_ids = part_ids
        self.parts = [score.parts[i] for i in part_ids]
        self.main_len, self.total = main_len, total
        self.groups = len(part_ids) if with_stems else 1
        self.bufs = [np.zeros((2, total + _TAIL_BLOCK), dtype=np.float32) for _ in range(self.groups)]
        # Events: the worker's j-th part plays on its synth channel j; note-offs sort before note-ons.
        cols = [_part_events(p, j) for j, p in enumerate(self.parts)]
        ticks, is_on, chans, keys, vels = (np.concatenate([c[k] for c in cols]) for k in range(5))
        samples = ticks_to_samples(score, ticks)
        # render_to() below hands FluidSynth pointers into self.bufs; an event past main_len would make it
        # write past their end. render_score sizes main_len from every event, so this only guards that.
        if len(samples) and (int(samples.max()) > main_len or int(samples.min()) < 0):
            raise RenderError(f"internal error: an event at sample {int(samples.max())} lies outside the "
                              f"render length 0-{main_len}")
        order = np.lexsort((is_on, samples))
        self.events = (samples[order], chans[order], keys[order], vels[order])
        self.pos = 0
        self.end = main_len
        self.peak = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._render()
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            self.error = exc
            self.rep.abort.set()

    def _render(self) -> None:
        lib, rep = self.lib, self.rep
        groups = self.groups
        # Pointer table: 2 dry buffers per group, then reverb L/R and chorus L/R per effects group,
        # aliased onto the group's own dry pair so each stem carries its own effects.
        base: list[int] = []
        for b in self.bufs:
            base += [b[0].ctypes.data, b[1].ctypes.data]
        for b in self.bufs:
            base += [b[0].ctypes.data, b[1].ctypes.data, b[0].ctypes.data, b[1].ctypes.data]
        base_arr = np.array(base, dtype=np.uint64)
        ptrs = np.empty_like(base_arr)
        ptr_out = ptrs.ctypes.data
        ptr_fx = ptr_out + 2 * groups * ptrs.itemsize
        n_out, n_fx = 2 * groups, 4 * groups

        synth = _Synth(lib, self.soundfont, 16 * math.ceil(len(self.parts) / 16), groups)
        try:
            syn = synth.synth
            for j, p in enumerate(self.parts):
                synth.setup_channel(j, p.program, p.is_drum, p.volume, p.pan, p.reverb)
            process = lib.fluid_synth_process
            noteon, noteoff, cc = lib.fluid_synth_noteon, lib.fluid_synth_noteoff, lib.fluid_synth_cc
            stopped = rep.stopped

            capacity = min(b.shape[1] for b in self.bufs)

            def render_to(stop: int) -> None:
                # FluidSynth writes n frames at each pointer with no bounds of its own: never past the buffers.
                if stop > capacity:
                    raise RenderError(f"internal error: rendering to sample {stop} past the buffer of {capacity}")
                pos = self.pos
                while pos < stop:
                    n = min(stop - pos, _BLOCK)
                    np.add(base_arr, np.uint64(pos * 4), out=ptrs)
                    if process(syn, n, n_fx, ptr_fx, n_out, ptr_out) != 0:
                        raise RenderError("FluidSynth failed to render audio" + _last_log())
                    pos += n
                    self.pos = pos
                    if stopped():
                        raise RenderCancelled("rendering was cancelled")

            samples, chans, keys, vels = self.events
            for t, c, k, v in zip(samples.tolist(), chans.tolist(), keys.tolist(), vels.tolist()):
                if t > self.pos:
                    render_to(t)
                if k < 0:
                    cc(syn, c, 64, v)
                elif v:
                    noteon(syn, c, k, v)
                else:
                    noteoff(syn, c, k)
            main_len = self.main_len
            render_to(main_len)

            # Release tail: render until the voices are gone and the effects have died away.
            peak = max(_peak(b[:, :main_len]) for b in self.bufs) if main_len else 0.0
            floor = max(peak * 10 ** (_SILENCE_DB / 20), 1e-9)
            end = main_len
            while end < self.total:
                stop = min(self.total, end + _TAIL_BLOCK)
                render_to(stop)
                chunk_peak = max(_peak(b[:, end:stop]) for b in self.bufs)
                peak = max(peak, chunk_peak)
                end = stop
                if chunk_peak <= floor and lib.fluid_synth_get_active_voice_count(syn) == 0:
                    break
            self.end, self.peak = end, peak
        finally:
            synth.close()


def _run_workers(workers: list[_Worker], rep: _Reporter, main_len: int) -> None:
    """Run the synthesizers in parallel and report progress from this thread; re-raise the first failure."""
    seconds_total = main_len / SAMPLE_RATE
    try:
        for w in workers:
            w.start()
        rep.report(0.02, f"rendering 0/{seconds_total:.0f} s", force=True)
        for w in workers:
            while w.is_alive():
                w.join(0.05)
                if rep.progress is not None and not rep.stopped():
                    pos = min(min(x.pos for x in workers), main_len)
                    rep.report(0.02 + 0.83 * pos / max(1, main_len),
                               f"rendering {pos / SAMPLE_RATE:.0f}/{seconds_total:.0f} s")
    except BaseException:
        rep.abort.set()
        for w in workers:
            if w.is_alive():
                w.join()
        raise
    errors = [w.error for w in workers if w.error is not None]
    real = [e for e in errors if not isinstance(e, RenderCancelled)]
    if real:
        raise real[0]
    if errors:
        raise errors[0]


def _in_parallel(fn: Callable[[int, int], object], n: int, threads: int, rep: _Reporter,
                 fraction: float, message: str) -> list:
    """fn(a, b) over `threads` contiguous sample ranges of [0, n) (numpy releases the GIL), reporting progress."""
    if threads <= 1 or n < 1 << 16:
        return [fn(0, n)]
    step = -(-n // threads)
    ranges = [(a, min(n, a + step)) for a in range(0, n, step)]
    with ThreadPoolExecutor(len(ranges)) as ex:
        futures = [ex.submit(fn, a, b) for a, b in ranges]
        while wait(futures, timeout=0.05).not_done:
            rep.report(fraction, message)
        return [f.result() for f in futures]


def render_score(
    score: Score,
    soundfont: str | Path | None = None,
    mix_path: Path | None = None,
    stems_dir: Path | None = None,
    fmt: str | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    *,
    with_stems: bool = True,
    workers: int | None = None,
) -> RenderResult:
    """Render a Score to a normalized stereo mix and one stem per part.

    mix_path (.wav or .flac) receives the mix; stems_dir receives
    `<safe part name>.<ext>` per part, where ext is `fmt` if given, else the
    mix's extension, else wav. `progress(fraction, message)` is called from
    this thread at least every 0.25 s; once `cancel` is set the render stops
    with RenderCancelled and no file is written or replaced.

    The parts are spread over `workers` synthesizers running in parallel
    (default: one per CPU core, at most one per part). `with_stems=False`
    (not allowed with stems_dir) renders only the mix, with one effects unit
    per synthesizer instead of one per part; the result's stems are then empty.
    """
    t0 = time.perf_counter()
    rep = _Reporter(progress, cancel)
    rep.report(0.0, "preparing", force=True)
    rep.check()

    mix_path = Path(mix_path) if mix_path is not None else None
    stems_dir = Path(stems_dir) if stems_dir is not None else None
    mix_fmt = format_of(mix_path) if mix_path is not None else None
    stem_fmt = (fmt or mix_fmt or "wav").lower().lstrip(".")
    if stem_fmt not in FORMATS:
        raise RenderError(f"unknown audio format {fmt!r}; use wav or flac")
    if stems_dir is not None and not with_stems:
        raise RenderError("stems_dir needs with_stems=True")
    parts = list(score.parts)
    if not parts:
        raise RenderError("the score has no parts to render")
    if len(parts) > MAX_PARTS:
        raise RenderError(f"{len(parts)} parts; at most {MAX_PARTS} can be rendered")
    try:
        score.validate()  # tempo, meter, track and length caps: nothing unbounded reaches the allocation below
    except ScoreError as exc:
        raise RenderError(str(exc)) from None
    # The render length must cover every event a worker schedules (note ends, and pedal ups, which can
    # lie well past the last note): the workers' buffers are sized from it and FluidSynth writes into them.
    main_len = int(ticks_to_samples(score, np.array([score.last_tick]))[0])
    if main_len > (MAX_SECONDS + RELEASE_SECONDS) * SAMPLE_RATE:  # validate() checked it; the buffers rely on it
        raise RenderError(f"the score lasts {main_len / SAMPLE_RATE / 60:.1f} minutes; "
                          f"at most {MAX_SECONDS // 60} minutes can be rendered")
    sf_path = find_soundfont(soundfont)
    lib = _load_library()
    total = main_len + int(TAIL_SECONDS * SAMPLE_RATE)
    n_workers = max(1, min(workers or default_workers(), len(parts)))
    duration = main_len / SAMPLE_RATE
    assignment = _balance([_part_cost(p, score, duration) for p in parts], n_workers)
    n_groups = len(parts) if with_stems else len(assignment)
    _check_memory(n_groups + (1 if n_groups > 1 else 0), total)

    pool = [_Worker(lib, sf_path, score, ids, with_stems, main_len, total, rep) for ids in assignment]
    _run_workers(pool, rep, main_len)
    rep.check()

    # Stems in score order: (2, n) planar views into the workers' buffers.
    planar: list[np.ndarray | None] = [None] * len(parts)
    group_bufs: list[np.ndarray] = []
    for w in pool:
        group_bufs += w.bufs
        if with_stems:
            for i, b in zip(w.part_ids, w.bufs):
                planar[i] = b

    # Trim the tail where every group has gone quiet, then normalize everything with one gain.
    peak_all = max(w.peak for w in pool)
    floor = max(peak_all * 10 ** (_SILENCE_DB / 20), 1e-9)
    n = max(w.end for w in pool)
    if n > main_len:
        loud = np.zeros(n - main_len, dtype=bool)
        for b in group_bufs:
            loud |= np.abs(b[:, main_len:n]).max(axis=0) > floor
        idx = np.flatnonzero(loud)
        n = main_len + (int(idx[-1]) + 1 if len(idx) else 0)
    n = max(n, 1)
    views = [b[:, :n] for b in group_bufs]
    threads = default_workers()
    if len(views) == 1:
        mix_pl = views[0]
    else:
        mix_pl = np.empty((2, n), dtype=np.float32)

    def sum_range(a: int, b: int) -> float:
        if mix_pl is not views[0]:
            seg = mix_pl[:, a:b]
            np.add(views[0][:, a:b], views[1][:, a:b], out=seg)
            for v in views[2:]:
                seg += v[:, a:b]
        return _peak(mix_pl[:, a:b])

    mix_peak = max(_in_parallel(sum_range, n, threads, rep, 0.86, "mixing"))
    stem_peak = peak_all if with_stems else 0.0  # the workers' peak over all their groups
    target = 10 ** (TARGET_PEAK_DBFS / 20)
    gain = 1.0
    if mix_peak > 0:
        gain = target / mix_peak
        if stem_peak * gain > 1.0:  # a stem louder than the mix must still not clip
            gain = 1.0 / stem_peak
    g32 = np.float32(gain)

    def scale_range(a: int, b: int) -> float:
        for v in ([mix_pl] if mix_pl is not views[0] else []) + (views if with_stems or len(views) == 1 else []):
            v[:, a:b] *= g32
        return _peak(mix_pl[:, a:b])

    out_peak = max(_in_parallel(scale_range, n, threads, rep, 0.87, "normalizing"))
    peak_dbfs = 20 * math.log10(out_peak) if out_peak > 0 else float("-inf")
    rep.report(0.88, "normalized", force=True)
    rep.check()

    names = [p.name for p in parts]
    part_bufs = [b for b in planar if b is not None]  # one per part with stems, none without
    stems: dict[str, np.ndarray] = {}
    if with_stems:
        stems = {k: b[:, :n].T for k, b in zip(_unique_keys(names), part_bufs)}

    outputs: list[tuple[Path, np.ndarray, str]] = []
    if mix_path is not None:
        assert mix_fmt is not None  # set whenever mix_path is
        outputs.append((mix_path, mix_pl, mix_fmt))
    if stems_dir is not None:
        for stem_name, b in zip(safe_stem_names(names), part_bufs):
            outputs.append((stems_dir / f"{stem_name}.{stem_fmt}", b[:, :n], stem_fmt))
    files = _write_all(outputs, rep, threads) if outputs else []
    rep.report(1.0, "done", force=True)
    return RenderResult(mix=mix_pl.T, stems=stems, sample_rate=SAMPLE_RATE, gain=float(gain),
                        peak_dbfs=peak_dbfs, seconds=time.perf_counter() - t0, files=files,
                        soundfont=sf_path)


def _peak(a: np.ndarray) -> float:
    if a.size == 0:
        return 0.0
    return float(max(a.max(), -a.min()))


def _check_memory(buffers: int, total: int) -> None:
    need = buffers * 2 * (total + _TAIL_BLOCK) * 4
    try:
        with open("/proc/meminfo") as fh:
            info = dict(line.split(":", 1) for line in fh)
        avail = int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return
    if need > 0.8 * avail:
        raise RenderError(
            f"rendering {buffers} stereo buffers of {total / SAMPLE_RATE:.0f} s needs {need / 2**30:.1f} GiB "
            f"but only {avail / 2**30:.1f} GiB of memory is free; render fewer parts or the mix alone"
        )


def _write_all(outputs: list[tuple[Path, np.ndarray, str]], rep: _Reporter, threads: int) -> list[Path]:
    """Write every output to a temporary file beside it, then move them all into place."""
    temps: list[tuple[Path, Path]] = []
    made_dirs: list[Path] = []
    done = [0]
    lock = threading.Lock()

    def write(job: tuple[Path, Path, np.ndarray, str]) -> None:
        tmp, _path, data, fmt = job
        _write_audio(tmp, data, fmt, rep.stopped)
        with lock:
            done[0] += 1

    try:
        jobs = []
        for path, data, fmt in outputs:
            folder = path.parent
            if not folder.is_dir():
                missing = [d for d in (folder, *folder.parents) if not d.exists()]
                folder.mkdir(parents=True, exist_ok=True)
                made_dirs += missing
            tmp = folder / f".{path.name}.{uuid.uuid4().hex[:8]}.part"
            temps.append((tmp, path))
            jobs.append((tmp, path, data, fmt))
        rep.report(0.88, f"writing {len(jobs)} file{'s' if len(jobs) > 1 else ''}", force=True)
        rep.check()
        with ThreadPoolExecutor(max(1, min(threads, len(jobs)))) as ex:
            futures = [ex.submit(write, job) for job in jobs]
            pending = set(futures)
            try:
                while pending:
                    finished, pending = wait(pending, timeout=0.05, return_when=FIRST_EXCEPTION)
                    if any(f.exception() is not None for f in finished):
                        break
                    rep.report(0.88 + 0.12 * done[0] / len(jobs), f"writing {done[0] + 1}/{len(jobs)} files")
            finally:
                if pending:  # a write failed or this thread was interrupted: stop the others
                    rep.abort.set()
        errors = [e for e in (f.exception() for f in futures) if e is not None]
        real = [e for e in errors if not isinstance(e, RenderCancelled)]
        if real or errors:
            raise (real or errors)[0]
        rep.check()
        for tmp, path in temps:
            os.replace(tmp, path)
        return [path for _, path in temps]
    except BaseException as exc:
        rep.abort.set()
        for tmp, _ in temps:
            try:
                tmp.unlink()
            except OSError:
                pass
        for d in made_dirs:  # deepest first
            try:
                d.rmdir()
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise RenderError(f"cannot write {exc.filename or 'output'}: {exc.strerror or exc}") from None
        if isinstance(exc, RuntimeError) and type(exc).__module__.startswith("soundfile"):
            raise RenderError(f"cannot write audio: {exc}") from None
        raise


def render_midi_file(
    midi_path: str | Path,
    out_path: str | Path | None,
    stems_dir: str | Path | None = None,
    soundfont: str | Path | None = None,
    fmt: str | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    **kwargs,
) -> RenderResult:
    """Read a MIDI file (symbolic.midi_io.read_midi) and render it with render_score."""
    from symbolic.midi_io import read_midi

    try:
        score = read_midi(midi_path)
    except ScoreError as exc:
        raise RenderError(str(exc)) from None
    return render_score(score, soundfont=soundfont, mix_path=Path(out_path) if out_path is not None else None,
                        stems_dir=Path(stems_dir) if stems_dir is not None else None, fmt=fmt,
                        progress=progress, cancel=cancel, **kwargs)
