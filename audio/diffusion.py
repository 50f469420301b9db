"""Score -> audio with a diffusers audio pipeline, conditioned on the Score.

`render_diffusion` loads a Stable Audio (StableAudioPipeline) or AudioLDM2
(AudioLDM2Pipeline) pipeline with `DiffusionPipeline.from_pretrained` (a local
folder offline; a hub id only where there is a network) and runs its own
sampling loop on the pipeline's components:

1. SDEdit. The Score is rendered with FluidSynth (audio.render), encoded with
   the pipeline's VAE (AudioLDM2: through a log-mel spectrogram matching its
   vocoder), noised to `strength` (0 keeps the SoundFont render, 1 starts from
   pure noise) with the scheduler, and denoised from there.
2. Training-free guidance toward the Score. At every step the clean-latent
   estimate x0 of each window is decoded to audio (VAE, and vocoder for
   AudioLDM2), a differentiable loss is computed between its chroma and onset
   envelope and those of the Score (audio.metrics), and x0 takes a gradient
   step of relative size `guidance`; the model output is replaced by the one
   that predicts the guided x0 from the same noisy latent, so every scheduler
   (EDM/cosine DPM-Solver, DDIM, DPM-Solver, Euler/LMS) continues from it.
3. Text prompts per section: style, section name, energy, instruments, tempo
   and key, from the Plan when one is given, else from the Score's parts,
   markers and key signatures.
4. Long pieces: the latent is covered by overlapping windows of the model's
   length; every step denoises each window with its section's prompt and the
   windows' outputs are averaged where they overlap (weights ramp across the
   overlap), then the scheduler steps the whole latent once (MultiDiffusion).
   `window_mode="crossfade"` renders the windows independently instead and
   joins the audio with equal-power crossfades.
5. Optional per-stem rendering (one pass per part, its own prompt and
   guidance), seeds, automatic device choice (cuda, mps, cpu; a warning and
   an ETA on the CPU), progress callbacks and a cancel event.

The result is resampled from the pipeline's rate to 44.1 kHz stereo, peak
-1 dBFS, and written atomically (temporary file, then rename).
"""
from __future__ import annotations

import inspect
import json
import math
import os
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Callable

import numpy as np

from symbolic.score import Progress, Score

from . import metrics as M
from .render import FORMATS as _FORMATS
from .render import SAMPLE_RATE, TARGET_PEAK_DBFS, RenderCancelled, RenderError, RenderResult, format_of

if TYPE_CHECKING:
    import torch

Warn = Callable[[str], None]

SUPPORTED = {"StableAudioPipeline": "stable_audio", "AudioLDM2Pipeline": "audioldm2"}
DEFAULT_STRENGTH = 0.5
DEFAULT_GUIDANCE = 1.0
GUIDANCE_LR = 0.05          # x0 moves by guidance * GUIDANCE_LR * rms(x0) per guidance iteration


@dataclass(frozen=True)
class DiffusionSettings:
    """How the diffusion renderer runs (the CLI's --strength, --guidance, --steps, --seed, --per-stem, --device)."""

    strength: float = DEFAULT_STRENGTH   # SDEdit noise level in [0, 1]: 0 = the SoundFont render through the VAE
    guidance: float = DEFAULT_GUIDANCE   # step size of the chroma/onset pull toward the Score (0 = none)
    steps: int | None = None             # scheduler steps for a full denoise (None: the pipeline's usual count)
    seed: int = 0
    text_guidance: float | None = None   # classifier-free guidance of the prompt (None: 7 Stable Audio, 3.5 AudioLDM2)
    prompt: str | None = None            # overrides the per-section prompts
    negative_prompt: str | None = None
    per_stem: bool = False               # every part on its own (its own prompt and guidance), then summed
    device: str | None = None            # auto (None), cuda, mps or cpu
    window_seconds: float | None = None  # overrides the model's window
    overlap: float = 0.25                # of a window, shared with the next
    window_mode: str = "multidiffusion"  # or "crossfade": windows rendered apart and joined
    guidance_iters: int = 1              # guidance steps per denoising step
    guidance_lr: float = GUIDANCE_LR
    chroma_weight: float = 1.0           # the chroma term of the guidance loss
    onset_weight: float = 0.5            # the onset term
ENERGY_WORDS = {1: "very calm", 2: "calm", 3: "moderate energy", 4: "energetic", 5: "very energetic, intense"}


class DiffusionError(RenderError):
    """The diffusion renderer cannot run; the message says why in one line."""


class DiffusionCancelled(DiffusionError, RenderCancelled):
    """The cancel event was set; no file was written."""


@dataclass
class DiffusionResult(RenderResult):
    device: str = "cpu"
    pipeline: str = ""
    model_sample_rate: int = 0
    windows: int = 0                    # latent windows per pass
    steps_run: int = 0                  # denoising steps per pass (after SDEdit's skip)
    prompts: list[str] = field(default_factory=list)


# --- device and loading ---------------------------------------------------------

def _torch():
    try:
        import torch
    except ImportError:
        raise DiffusionError("the diffusion renderer needs torch; run bash scripts/setup.sh") from None
    return torch


def choose_device(device: str | None = None) -> str:
    """'cuda', 'mps' or 'cpu': the one asked for (checked), else the best available."""
    torch = _torch()
    want = (device or "auto").strip().lower()
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if want == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if want.startswith("cuda"):
        if not cuda:
            raise DiffusionError(f"device {device!r} asked for, but torch sees no CUDA GPU")
        return want
    if want == "mps":
        if not mps:
            raise DiffusionError("device 'mps' asked for, but torch's MPS backend is not available")
        return want
    if want == "cpu":
        return want
    raise DiffusionError(f"unknown device {device!r}; use auto, cuda, mps or cpu")


def _looks_like_hub_id(model: str) -> bool:
    if model.startswith((".", "/", "~")) or os.sep in model.replace("/", "") or "\\" in model:
        return False
    parts = model.split("/")
    return len(parts) == 2 and all(p and not p.startswith(".") for p in parts)


def pipeline_class_of(folder: Path) -> str:
    """The _class_name in a pipeline folder's model_index.json; DiffusionError when unusable."""
    index = folder / "model_index.json"
    if not index.is_file():
        raise DiffusionError(f"{folder} is not a diffusers pipeline folder (no model_index.json)")
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
        name = data["_class_name"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DiffusionError(f"{index} is unreadable or has no _class_name ({type(exc).__name__})") from None
    if name not in SUPPORTED:
        raise DiffusionError(f"{folder} holds a {name}; supported pipelines: {', '.join(SUPPORTED)}")
    return name


_cache_lock = threading.Lock()
_cache: dict[tuple, object] = {}


def load_pipeline(model: str | os.PathLike, device: str = "cpu", dtype=None):
    """A StableAudioPipeline or AudioLDM2Pipeline on `device`, with frozen weights.

    A path that exists must be a pipeline folder and is loaded with
    local_files_only; anything else that looks like 'owner/name' is tried as a
    hub id (needs a network). The last pipeline loaded is kept for reuse.
    """
    torch = _torch()
    text = os.fspath(model).strip() if model is not None else ""
    if not text:
        raise DiffusionError("no diffusion model given; pass --model with a pipeline folder or hub id")
    path = Path(text).expanduser()
    local = path.exists()
    if local:
        if not path.is_dir():
            raise DiffusionError(f"model {path} is a file; give the pipeline's folder (with model_index.json)")
        pipeline_class_of(path)
    elif not _looks_like_hub_id(text):
        raise DiffusionError(f"model folder {path} does not exist")
    if dtype is None:
        dtype = torch.float16 if str(device).startswith(("cuda", "mps")) else torch.float32
    key = (str(path.resolve()) if local else text, str(device), str(dtype))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    try:
        from diffusers import DiffusionPipeline
        from diffusers.utils import logging as dlog
    except ImportError:
        raise DiffusionError("the diffusion renderer needs diffusers; run bash scripts/setup.sh") from None
    tlog: ModuleType | None
    try:
        from transformers.utils import logging as tlog
    except ImportError:
        tlog = None
    # Newer diffusers name the argument dtype, older ones torch_dtype.
    try:
        from diffusers.utils import deprecation_utils
        dtype_kw = "dtype" if hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE") else "torch_dtype"
    except ImportError:
        dtype_kw = "torch_dtype"
    levels = (dlog.get_verbosity(), tlog.get_verbosity() if tlog else None)
    dlog.disable_progress_bar()
    dlog.set_verbosity_error()
    if tlog:
        tlog.disable_progress_bar()
        tlog.set_verbosity_error()
    try:
        pipe = DiffusionPipeline.from_pretrained(str(path) if local else text, local_files_only=local,
                                                 **{dtype_kw: dtype})
        name = type(pipe).__name__
        if name not in SUPPORTED:
            raise DiffusionError(f"{text} is a {name}; supported pipelines: {', '.join(SUPPORTED)}")
        pipe.to(device)
        for comp in pipe.components.values():
            if isinstance(comp, torch.nn.Module):
                comp.requires_grad_(False)
                comp.eval()
        # Decoding (and its gradient) stays in float32 whatever the denoiser runs in.
        if dtype != torch.float32:
            pipe.vae.to(torch.float32)
            if getattr(pipe, "vocoder", None) is not None:
                pipe.vocoder.to(torch.float32)
    except DiffusionError:
        raise
    except Exception as exc:  # noqa: BLE001 - diffusers/transformers/hub raise many kinds
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = f"folder {path}" if local else f"hub id {text!r} (a hub id needs a network; use a local folder offline)"
        raise DiffusionError(f"cannot load the diffusion model from {where}: {detail[:300]}") from None
    finally:
        dlog.set_verbosity(levels[0])
        if tlog:
            tlog.set_verbosity(levels[1])
    with _cache_lock:
        _cache.clear()
        _cache[key] = pipe
    return pipe


# --- prompts ----------------------------------------------------------------------

@dataclass
class PromptSpan:
    start: float        # seconds
    end: float
    prompt: str


def _part_label(part) -> str:
    if part.is_drum:
        return "drums"
    return part.name.strip().lower() or "instrument"


def _join(names: list[str]) -> str:
    names = list(dict.fromkeys(n for n in names if n))
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def section_prompts(score: Score, plan=None, parts: list[str] | None = None) -> list[PromptSpan]:
    """One text prompt per section of the piece (style, section, energy, instruments, tempo, key).

    With a Plan the sections, style, energy and descriptions come from it; without one
    the sections come from the Score's markers. `parts` restricts the instruments named
    (a single part gives a 'solo <part>' prompt, for per-stem rendering).
    """
    chosen = [p for p in score.parts if parts is None or p.name in parts]
    instruments = _join([_part_label(p) for p in chosen]) or "ensemble"
    lead = f"solo {instruments}" if parts is not None and len(chosen) == 1 else instruments
    total = max(score.duration, 1e-3)
    spans: list[tuple[int, int, str, int | None, str]] = []   # start tick, end tick, name, energy, description
    style = ""
    if plan is not None:
        style = (plan.style or "").strip()
        sheet = plan.to_sheet()
        for s in sheet.sections:
            first = sheet.bars[s.first_bar].bar.start
            last = sheet.bars[s.first_bar + s.n_bars - 1].bar.end
            spans.append((first, last, s.name, s.energy, s.description or ""))
    else:
        marks = sorted(score.markers)
        for k, (tick, name) in enumerate(marks):
            end = marks[k + 1][0] if k + 1 < len(marks) else score.end_tick
            if end > tick:
                spans.append((tick, end, name, None, ""))
    if not spans:
        spans = [(0, score.end_tick, "", None, "")]
    out = []
    for first, last, name, energy, desc in spans:
        words = [f"{style} music" if style else "instrumental music", lead]
        if name:
            words.append(name.lower())
        if energy is not None:
            words.append(ENERGY_WORDS.get(int(energy), "moderate energy"))
        words.append(f"{_tempo_at(score, first):g} BPM")
        key = score.key_at(first)
        if key is not None:
            words.append(key.name)
        if desc:
            words.append(desc.strip().rstrip("."))
        words.append("high quality recording")
        out.append(PromptSpan(score.seconds(first), score.seconds(last), ", ".join(words)))
    out[0].start = 0.0
    out[-1].end = max(out[-1].end, total) + 3600.0   # the tail after the last note belongs to the last section
    return out


def _tempo_at(score: Score, tick: int) -> float:
    bpm = score.tempos[0][1] if score.tempos else 120.0
    for t, b in score.tempos:
        if t > tick:
            break
        bpm = b
    return round(float(bpm), 1)


def prompt_at(spans: list[PromptSpan], start: float, end: float) -> str:
    """The prompt of the section that covers most of [start, end)."""
    best, cover = spans[0].prompt, -1.0
    for s in spans:
        c = min(end, s.end) - max(start, s.start)
        if c > cover:
            best, cover = s.prompt, c
    return best


# --- pipeline adapters ---------------------------------------------------------------

class _Adapter:
    """What the sampling loop needs from a pipeline: audio <-> latent, text conditioning, the denoiser."""

    sr: int
    channels: int
    hop: int             # audio samples per latent frame (time axis 2 of the latent)
    window: int          # the model's window in latent frames
    multiple: int = 1    # latent lengths the denoiser accepts are multiples of this
    default_text_guidance: float
    default_steps: int

    def __init__(self, pipe, device: str):
        self.pipe, self.device = pipe, device
        self.torch = _torch()
        self.model_dtype = next(self.denoiser.parameters()).dtype

    @property
    def denoiser(self):
        raise NotImplementedError

    # Each pipeline's adapter implements these (see _StableAudio).
    def to_latent(self, audio_np: np.ndarray):
        raise NotImplementedError

    def to_audio(self, z):
        raise NotImplementedError

    def decode(self, z):
        raise NotImplementedError

    def condition(self, prompt: str, seconds: float, text_guidance: float, negative: str | None):
        raise NotImplementedError

    def predict(self, x, t, cond, text_guidance: float):
        raise NotImplementedError


class _StableAudio(_Adapter):
    default_text_guidance = 7.0
    default_steps = 100

    def __init__(self, pipe, device):
        super().__init__(pipe, device)
        vae = pipe.vae
        self.sr = int(vae.config.sampling_rate)
        self.channels = int(vae.config.audio_channels)
        self.hop = int(vae.hop_length)
        self.window = int(pipe.transformer.config.sample_size)
        self.rotary_dim = pipe.transformer.config.attention_head_dim // 2

    @property
    def denoiser(self):
        return self.pipe.transformer

    def encode(self, audio):  # (1, C, n) float32 tensor -> (1, D, n // hop)
        return self.pipe.vae.encode(audio).latent_dist.mode()

    def decode(self, z):      # (1, D, L) -> (1, C, L * hop)
        return self.pipe.vae.decode(z.float()).sample

    def prepare_audio(self, audio: np.ndarray):
        """(C, n) at self.sr -> (1, C, n) tensor and n."""
        return self.torch.from_numpy(np.ascontiguousarray(audio, np.float32))[None].to(self.device), audio.shape[1]

    def to_latent(self, audio_np: np.ndarray):
        x, n = self.prepare_audio(audio_np)
        pad = (-n) % self.hop
        if pad:
            x = self.torch.nn.functional.pad(x, (0, pad))
        return _chunked(self.encode, x, 1, self.hop, self.window, 8, down=True)

    def to_audio(self, z):
        return _chunked(self.decode, z, self.hop, 1, self.window, 8, down=False)

    def condition(self, prompt: str, seconds: float, text_guidance: float, negative: str | None):
        torch, pipe = self.torch, self.pipe
        tok = pipe.tokenizer
        texts = [prompt] + ([negative] if (text_guidance > 1 and negative) else [])
        enc = tok(texts, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
        ids, mask = enc.input_ids.to(self.device), enc.attention_mask.to(self.device)
        hidden = pipe.text_encoder(ids, attention_mask=mask)[0]
        if len(texts) > 1:   # negative prompt: masked tokens get the null embedding
            hidden[1:] = torch.where(mask[1:].bool().unsqueeze(2), hidden[1:], 0.0)
        hidden = pipe.projection_model(text_hidden_states=hidden).text_hidden_states
        hidden = hidden * mask.unsqueeze(-1).to(hidden.dtype)
        pm = pipe.projection_model.config
        end = float(min(max(seconds, pm.min_value), pm.max_value))
        proj = pipe.projection_model(start_seconds=torch.tensor([0.0], device=self.device),
                                     end_seconds=torch.tensor([end], device=self.device))
        s0, s1 = proj.seconds_start_hidden_states, proj.seconds_end_hidden_states
        text_dur = torch.cat([hidden[:1], s0, s1], dim=1)
        dur = torch.cat([s0, s1], dim=2)
        if text_guidance > 1:
            neg = (torch.cat([hidden[1:2], s0, s1], dim=1) if len(texts) > 1 else torch.zeros_like(text_dur))
            text_dur = torch.cat([neg, text_dur])
            dur = torch.cat([dur, dur])
        return {"encoder_hidden_states": text_dur.to(self.model_dtype),
                "global_hidden_states": dur.to(self.model_dtype), "n_global": dur.shape[1]}

    def predict(self, x, t, cond, text_guidance: float):
        from diffusers.models.embeddings import get_1d_rotary_pos_embed
        torch = self.torch
        inp = torch.cat([x, x]) if text_guidance > 1 else x
        rot = get_1d_rotary_pos_embed(self.rotary_dim, x.shape[2] + cond["n_global"], use_real=True,
                                      repeat_interleave_real=False)
        rot = tuple(r.to(self.device) for r in rot)
        tt = t.reshape(1).to(self.device)
        out = self.pipe.transformer(inp.to(self.model_dtype), tt, encoder_hidden_states=cond["encoder_hidden_states"],
                                    global_hidden_states=cond["global_hidden_states"], rotary_embedding=rot,
                                    return_dict=False)[0].float()
        if text_guidance > 1:
            u, c = out.chunk(2)
            out = u + text_guidance * (c - u)
        return out


def _slaney_mel(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """librosa.filters.mel's default (Slaney scale and area normalization), in numpy."""
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp

    def hz_to_mel(f):
        f = np.asarray(f, float)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-9) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m):
        m = np.asarray(m, float)
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_f = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    w = np.zeros((n_mels, len(fft_f)))
    for i in range(n_mels):
        w[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    w *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return w.astype(np.float32)


class _AudioLDM2(_Adapter):
    default_text_guidance = 3.5
    default_steps = 200

    def __init__(self, pipe, device):
        super().__init__(pipe, device)
        voc = pipe.vocoder.config
        self.sr = int(voc.sampling_rate)
        self.channels = 1
        self.mel_hop = int(np.prod(voc.upsample_rates))
        self.n_mels = int(voc.model_in_dim)
        self.vae_scale = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
        self.multiple = 2 ** (len(pipe.unet.config.block_out_channels) - 1)
        self.hop = self.mel_hop * self.vae_scale
        self.window = int(pipe.unet.config.sample_size)
        self.window -= self.window % self.multiple
        self.n_fft = int(2 ** math.ceil(math.log2(self.mel_hop * 6.4)))
        self.mel_basis = self.torch.from_numpy(_slaney_mel(self.sr, self.n_fft, self.n_mels, 0.0, self.sr / 2)).to(device)
        self.scaling = float(getattr(pipe.vae.config, "scaling_factor", 1.0) or 1.0)

    @property
    def denoiser(self):
        return self.pipe.unet

    def log_mel(self, wav):  # (n,) -> (frames, n_mels), the AudioLDM front end
        torch = self.torch
        pad = (self.n_fft - self.mel_hop) // 2
        y = torch.nn.functional.pad(wav[None, None], (pad, pad), mode="reflect")[0, 0]
        spec = torch.stft(y, self.n_fft, self.mel_hop, self.n_fft, window=torch.hann_window(self.n_fft, device=y.device),
                          center=False, return_complex=True)
        mag = torch.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-9)
        return torch.log(torch.clamp(self.mel_basis @ mag, min=1e-5)).T

    def to_latent(self, audio_np: np.ndarray):
        torch = self.torch
        wav = torch.from_numpy(np.ascontiguousarray(audio_np.mean(axis=0), np.float32)).to(self.device)
        wav = wav - wav.mean()
        wav = wav / (wav.abs().max() + 1e-8) * 0.5
        frames_needed = int(math.ceil(len(wav) / self.hop)) * self.hop
        wav = torch.nn.functional.pad(wav, (0, frames_needed - len(wav)))
        mel = self.log_mel(wav)[: frames_needed // self.mel_hop]
        z = _chunked(lambda m: self.pipe.vae.encode(m).latent_dist.mode(), mel[None, None], 1, self.vae_scale,
                     self.window, 4, down=True)
        return z * self.scaling

    def decode(self, z):  # (1, C, L, F) -> (1, 1, L * hop)
        mel = self.pipe.vae.decode(z.float() / self.scaling).sample
        wav = self.pipe.vocoder(mel[:, 0])
        return wav.reshape(1, 1, -1)

    def to_audio(self, z):
        mel = _chunked(lambda q: self.pipe.vae.decode(q.float() / self.scaling).sample, z, self.vae_scale, 1,
                       self.window, 4, down=False)
        wav = _chunked(lambda m: self.pipe.vocoder(m[:, 0]).reshape(1, 1, 1, -1), mel, self.mel_hop, 1,
                       self.window * self.vae_scale, 16, down=False, out_axis=3)
        return wav.reshape(1, 1, -1)

    def _encode_texts(self, texts: list[str], t5_len: int | None = None):
        torch, pipe = self.torch, self.pipe
        tok1 = pipe.tokenizer
        e1 = tok1(texts, padding="max_length", max_length=tok1.model_max_length, truncation=True, return_tensors="pt")
        clap = pipe.text_encoder.get_text_features(e1.input_ids.to(self.device),
                                                   attention_mask=e1.attention_mask.to(self.device))
        clap = getattr(clap, "pooler_output", clap)[:, None, :]
        tok2 = pipe.tokenizer_2
        if t5_len is None:
            e2 = tok2(texts, padding=True, max_length=tok2.model_max_length, truncation=True, return_tensors="pt")
        else:
            e2 = tok2(texts, padding="max_length", max_length=t5_len, truncation=True, return_tensors="pt")
        ids2, mask2 = e2.input_ids.to(self.device), e2.attention_mask.to(self.device)
        t5 = pipe.text_encoder_2(ids2, attention_mask=mask2)[0]
        proj = pipe.projection_model(hidden_states=clap, hidden_states_1=t5,
                                     attention_mask=torch.ones(clap.shape[:2], dtype=torch.long, device=self.device),
                                     attention_mask_1=mask2)
        embeds, mask = proj.hidden_states, proj.attention_mask
        n_new = int(getattr(pipe.language_model.config, "max_new_tokens", None) or 8)
        for _ in range(n_new):   # the GPT-2 continuation of the projected text, as hidden states
            out = pipe.language_model(inputs_embeds=embeds, attention_mask=mask, output_hidden_states=True,
                                      return_dict=True)
            embeds = torch.cat([embeds, out.hidden_states[-1][:, -1:, :]], dim=1)
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        return t5, mask2, embeds[:, -n_new:, :]

    def condition(self, prompt: str, seconds: float, text_guidance: float, negative: str | None):
        torch = self.torch
        t5, mask, gen = self._encode_texts([prompt])
        if text_guidance > 1:
            nt5, nmask, ngen = self._encode_texts([negative or ""], t5_len=t5.shape[1])
            t5, mask, gen = torch.cat([nt5, t5]), torch.cat([nmask, mask]), torch.cat([ngen, gen])
        return {"encoder_hidden_states": gen.to(self.model_dtype), "encoder_hidden_states_1": t5.to(self.model_dtype),
                "encoder_attention_mask_1": mask}

    def predict(self, x, t, cond, text_guidance: float):
        torch = self.torch
        inp = torch.cat([x, x]) if text_guidance > 1 else x
        out = self.pipe.unet(inp.to(self.model_dtype), t, encoder_hidden_states=cond["encoder_hidden_states"],
                             encoder_hidden_states_1=cond["encoder_hidden_states_1"],
                             encoder_attention_mask_1=cond["encoder_attention_mask_1"], return_dict=False)[0].float()
        if text_guidance > 1:
            u, c = out.chunk(2)
            out = u + text_guidance * (c - u)
        return out


def _chunked(fn, x, up: int, down_: int, size: int, margin: int, down: bool, out_axis: int = 2):
    """Apply a convolutional fn along time (axis 2 of x) in chunks with context margins.

    One input frame gives up / down_ output frames. Chunks are `size` output
    frames (when down) or input frames (when not), with `margin` frames of
    context on both sides that are cut away afterwards. Short inputs go in one call.
    """
    torch = _torch()
    n_in = x.shape[2]
    step_in = size * down_ if down else size
    m_in = margin * down_ if down else margin
    if n_in <= 2 * step_in:
        return fn(x)
    pieces = []
    for a in range(0, n_in, step_in):
        b = min(a + step_in, n_in)
        lo, hi = max(0, a - m_in), min(n_in, b + m_in)
        y = fn(x.narrow(2, lo, hi - lo))
        ratio = up / down_
        start = int(round((a - lo) * ratio))
        length = int(round((b - a) * ratio))
        pieces.append(y.narrow(out_axis, start, length))
    return torch.cat(pieces, dim=out_axis)


# --- the sampler --------------------------------------------------------------------

class _Sampler:
    """A fresh copy of the pipeline's scheduler set up for SDEdit at `strength`, plus x0 <-> output maps."""

    def __init__(self, scheduler, steps: int, strength: float, device: str):
        torch = _torch()
        self.torch = torch
        self.s = type(scheduler).from_config(scheduler.config)
        self.s.set_timesteps(steps, device=device)
        order = int(getattr(self.s, "order", 1) or 1)
        run = min(steps, max(0, int(round(steps * strength))))
        start = (steps - run) * order
        self.timesteps = self.s.timesteps[start:]
        self.full = run >= steps
        if hasattr(self.s, "set_begin_index"):
            self.s.set_begin_index(start)
        if hasattr(self.s, "precondition_outputs"):
            self.kind = "edm"
        elif hasattr(self.s, "sigmas") and float(getattr(self.s, "init_noise_sigma", 1.0)) > 1.0 + 1e-6:
            self.kind = "k"
        elif hasattr(self.s, "alphas_cumprod"):
            self.kind = "alpha"
        else:
            raise DiffusionError(f"scheduler {type(self.s).__name__} is not supported for SDEdit and guidance")
        self.prediction = getattr(self.s.config, "prediction_type", "epsilon")
        params = set(inspect.signature(self.s.step).parameters)
        self.step_takes_generator = "generator" in params

    def start_latents(self, x0, noise):
        if not len(self.timesteps):
            return x0
        if self.full:
            return noise * float(self.s.init_noise_sigma)
        return self.s.add_noise(x0, noise, self.timesteps[:1])

    def coefficients(self, t) -> tuple[float, float]:
        """(a, b) with x0 = a * x_t + b * model_output at timestep t (after scale_model_input)."""
        p = self.prediction
        if self.kind == "alpha":
            ab = float(self.s.alphas_cumprod[int(t)])
            sa, sb = math.sqrt(ab), math.sqrt(1 - ab)
            if p == "epsilon":
                return 1 / sa, -sb / sa
            if p == "v_prediction":
                return sa, -sb
            return 0.0, 1.0
        idx = self.s.step_index if self.s.step_index is not None else 0
        sigma = float(self.s.sigmas[idx])
        if self.kind == "edm":
            sd = float(getattr(self.s.config, "sigma_data", 0.5))
            c_skip = sd ** 2 / (sigma ** 2 + sd ** 2)
            c_out = sigma * sd / math.sqrt(sigma ** 2 + sd ** 2)
            return c_skip, (-c_out if p == "v_prediction" else c_out)
        if p == "epsilon":
            return 1.0, -sigma
        if p == "v_prediction":
            return 1 / (sigma ** 2 + 1), -sigma / math.sqrt(sigma ** 2 + 1)
        return 0.0, 1.0

    def scale(self, x, t):
        return self.s.scale_model_input(x, t)

    def step(self, out, t, x, generator):
        kw = {"generator": generator} if self.step_takes_generator else {}
        return self.s.step(out, t, x, **kw).prev_sample


# --- guidance losses ----------------------------------------------------------------

class _Targets:
    """The Score's chroma and onset envelope for one window of audio, as tensors, with the losses."""

    def __init__(self, score: Score, parts, sr: int, start_s: float, n_samples: int, device,
                 chroma_weight: float, onset_weight: float):
        torch = _torch()
        self.torch = torch
        self.sr = sr
        self.hop = max(1, int(round(sr * M.HOP_SECONDS)))
        self.n_fft = M.chroma_n_fft(sr)
        n_frames = n_samples // self.hop + 1
        chroma = M.score_chroma(score, n_frames, self.hop / sr, start_s, parts)
        energy = np.linalg.norm(chroma, axis=1)
        self.chroma_w = chroma_weight if energy.max(initial=0) > 1e-6 else 0.0
        self.chroma = torch.from_numpy(chroma).to(device)
        self.mask = torch.from_numpy((energy > 1e-6).astype(np.float32)).to(device)
        self.fb = torch.from_numpy(M.chroma_filterbank(sr, self.n_fft)).to(device)
        self.ohop = max(1, int(round(sr * M.ONSET_HOP_SECONDS)))
        self.on_fft = M.onset_n_fft(sr)
        n_on = n_samples // self.ohop + 1
        onset = M.score_onset_envelope(score, n_on, self.ohop / sr, start_s, parts)
        self.onset_w = onset_weight if onset.max(initial=0) > 0 else 0.0
        self.onset = torch.from_numpy(onset).to(device)
        self.windows = {n: torch.hann_window(n, device=device) for n in (self.n_fft, self.on_fft)}

    @property
    def active(self) -> bool:
        return self.chroma_w > 0 or self.onset_w > 0

    def loss(self, audio):
        """Differentiable loss of (1, C, n) audio: chroma_w * (1 - masked mean chroma cosine) + onset_w * (1 - onset cosine)."""
        torch = self.torch
        x = audio.float().mean(dim=1)[0]
        x = x * (0.1 / (x.pow(2).mean().sqrt().detach() + 1e-20))   # the losses do not depend on the level
        total = x.new_zeros(())
        if self.chroma_w > 0:
            spec = torch.stft(x, self.n_fft, self.hop, window=self.windows[self.n_fft], center=True,
                              pad_mode="constant", return_complex=True)
            mag = torch.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-10)
            ch = (self.fb @ mag).T                              # (frames, 12)
            n = min(len(ch), len(self.chroma))
            cos = torch.nn.functional.cosine_similarity(ch[:n], self.chroma[:n], dim=1, eps=1e-8)
            m = self.mask[:n]
            total = total + self.chroma_w * (1 - (cos * m).sum() / m.sum().clamp(min=1))
        if self.onset_w > 0:
            spec = torch.stft(x, self.on_fft, self.ohop, window=self.windows[self.on_fft], center=True,
                              pad_mode="constant", return_complex=True)
            logm = torch.log1p(100 * torch.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-10))
            flux = torch.relu(logm[:, 1:] - logm[:, :-1]).sum(dim=0)
            flux = torch.cat([flux.new_zeros(1), flux])
            n = min(len(flux), len(self.onset))
            cos = torch.nn.functional.cosine_similarity(flux[:n], self.onset[:n], dim=0, eps=1e-8)
            total = total + self.onset_w * (1 - cos)
        return total


# --- rendering -------------------------------------------------------------------------

@dataclass
class _Window:
    a: int               # latent frames [a, b)
    b: int
    weight: torch.Tensor  # (b - a,)
    prompt: str
    targets: _Targets | None = None


def plan_windows(length: int, window: int, overlap: float, multiple: int = 1) -> list[tuple[int, int]]:
    """Latent frame ranges [a, b) of `window` frames covering `length`, overlapping by about `overlap`."""
    window = max(multiple, window - window % multiple)
    if length <= window:
        return [(0, length)]
    ov = int(round(window * min(max(overlap, 0.0), 0.9)))
    stride = max(multiple, window - ov)
    stride -= stride % multiple
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        last = length - window
        last -= last % multiple
        if last + window < length:   # length is a multiple, so this only happens when window is not
            last = length - window
        starts.append(last)
    return [(a, a + window) for a in starts]


def _ramp(n: int, left: int, right: int):
    torch = _torch()
    w = torch.ones(n)
    if left > 0:
        w[:left] = torch.linspace(1.0 / (left + 1), left / (left + 1), left)
    if right > 0:
        w[n - right:] = torch.linspace(right / (right + 1), 1.0 / (right + 1), right)
    return w


class _Reporter:
    def __init__(self, progress: Progress | None, cancel: threading.Event | None):
        self.progress, self.cancel, self.last = progress, cancel, -1e9
        self.fraction = 0.0

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise DiffusionCancelled("rendering was cancelled")

    def __call__(self, fraction: float, message: str, force: bool = False) -> None:
        now = time.perf_counter()
        self.fraction = max(self.fraction, min(max(fraction, 0.0), 1.0))
        if self.progress is not None and (force or now - self.last >= 0.25):
            self.last = now
            self.progress(self.fraction, message)


def _fmt_eta(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 90:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def render_diffusion(
    score: Score,
    model: str | os.PathLike,
    out_path: str | Path | None = None,
    settings: DiffusionSettings | None = None,
    *,
    plan=None,
    stems_dir: str | Path | None = None,
    fmt: str | None = None,
    soundfont: str | Path | None = None,
    init_audio: np.ndarray | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    warn: Warn | None = None,
) -> DiffusionResult:
    """Render a Score with a diffusers audio pipeline, starting from its SoundFont render.

    strength: SDEdit noise level in [0, 1] (0 = the SoundFont render through the VAE, 1 = from noise).
    guidance: step size of the chroma/onset guidance toward the Score (0 = none).
    steps: scheduler steps for a full denoise (default: the pipeline's usual count); SDEdit runs
    about strength * steps of them. text_guidance: classifier-free guidance scale of the text prompt
    (default 7 for Stable Audio, 3.5 for AudioLDM2). prompt overrides the per-section prompts.
    per_stem renders every part on its own (prompt and guidance for that part) and sums them;
    stems_dir then receives one file per part. window_seconds overrides the model's window.
    init_audio ((n, 2) float32 at 44.1 kHz) replaces the FluidSynth render as the SDEdit start.
    progress(fraction, message) is called from this thread; once `cancel` is set the render stops
    with DiffusionCancelled and no file is written. Raises DiffusionError with a one-line message.
    """
    settings = settings or DiffusionSettings()
    strength, guidance, steps, seed = settings.strength, settings.guidance, settings.steps, settings.seed
    text_guidance, prompt = settings.text_guidance, settings.prompt
    per_stem, device, window_seconds, window_mode = (settings.per_stem, settings.device, settings.window_seconds,
                                                     settings.window_mode)
    t_start = time.perf_counter()
    rep = _Reporter(progress, cancel)
    warn = warn or (lambda m: rep(rep.fraction, m, force=True))
    torch = _torch()
    if not (0.0 <= strength <= 1.0):
        raise DiffusionError(f"strength {strength} is outside 0..1")
    if guidance < 0:
        raise DiffusionError(f"guidance {guidance} must be >= 0")
    if steps is not None and steps < 1:
        raise DiffusionError(f"steps {steps} must be at least 1")
    if window_mode not in ("multidiffusion", "crossfade"):
        raise DiffusionError(f"unknown window mode {window_mode!r}; use multidiffusion or crossfade")
    out_path = Path(out_path) if out_path is not None else None
    stems_dir = Path(stems_dir) if stems_dir is not None else None
    if stems_dir is not None and not per_stem:
        raise DiffusionError("stems need per-stem rendering (--per-stem)")
    mix_fmt = format_of(out_path) if out_path is not None else None
    stem_fmt = (fmt or mix_fmt or "wav").lower().lstrip(".")
    if stem_fmt not in _FORMATS:
        raise DiffusionError(f"unknown audio format {fmt!r}; use wav or flac")
    if not score.parts or score.n_notes == 0:
        raise DiffusionError("the score has no notes to render")

    dev = choose_device(device)
    rep(0.0, f"loading the diffusion model on {dev}", force=True)
    pipe = load_pipeline(model, dev)
    name = type(pipe).__name__
    adapter = _StableAudio(pipe, dev) if name == "StableAudioPipeline" else _AudioLDM2(pipe, dev)
    steps = int(steps or adapter.default_steps)
    text_guidance = float(adapter.default_text_guidance if text_guidance is None else text_guidance)
    run = replace(settings, steps=steps, text_guidance=text_guidance)  # what each pass runs with
    if dev == "cpu":
        warn(f"warning: running {name} on the CPU; this is slow (an ETA follows the first step)")
    rep.check()

    # The SoundFont render: the SDEdit starting point (and the stems for per-stem rendering).
    if init_audio is not None and per_stem:
        raise DiffusionError("init_audio cannot be combined with per-stem rendering")
    if init_audio is None:
        from .render import render_score
        rep(0.02, "rendering the SoundFont start", force=True)
        fs = render_score(score, soundfont=soundfont, with_stems=per_stem, cancel=cancel)
        mix44, stems44 = fs.mix, fs.stems
    else:
        mix44, stems44 = np.asarray(init_audio, np.float32), {}
        if mix44.ndim != 2 or mix44.shape[1] != 2:
            raise DiffusionError("init_audio must be (n, 2) stereo at 44.1 kHz")
    n_out = len(mix44)
    rep.check()

    jobs: list[tuple[str, list[str] | None, np.ndarray]]
    if per_stem:
        jobs = [(key, [part.name], stems44[key]) for key, part in zip(stems44, score.parts)]
    else:
        jobs = [("mix", None, mix44)]
    window = adapter.window
    if window_seconds is not None:
        window = max(adapter.multiple, int(round(window_seconds * adapter.sr / adapter.hop)))
        window -= window % adapter.multiple
    results: dict[str, np.ndarray] = {}
    info: dict = {"windows": 0, "steps": 0, "prompts": []}
    for j, (key, parts, audio44) in enumerate(jobs):
        spans = ([PromptSpan(0.0, 1e9, prompt)] if prompt else section_prompts(score, plan, parts))
        lo, hi = j / len(jobs), (j + 1) / len(jobs)
        label = f"{key}: " if per_stem else ""

        def sub(f, m, force=False, lo=lo, hi=hi, label=label):
            rep(0.05 + 0.85 * (lo + (hi - lo) * f), label + m, force)

        if per_stem and parts is not None and not any(p.name == parts[0] and p.notes for p in score.parts):
            results[key] = np.zeros((n_out, 2), np.float32)   # a part with no notes stays silent
            continue
        audio = M.resample(audio44, SAMPLE_RATE, adapter.sr, axis=0).T          # (2, n) at the model rate
        audio = audio[:adapter.channels] if adapter.channels <= audio.shape[0] else np.repeat(audio[:1], adapter.channels, 0)
        gen_seed = int(seed) + 1000003 * j
        with torch.no_grad(), warnings.catch_warnings():
            # torchsde's Brownian tree (Stable Audio's SDE sampler) warns when asked about sigma 0 at the end.
            warnings.filterwarnings("ignore", message="Should have", category=UserWarning)
            if window_mode == "crossfade":
                wav = _crossfade_pass(adapter, audio, score, parts, spans, run, gen_seed, window, sub, rep, warn, dev,
                                      info)
            else:
                wav = _diffuse(adapter, audio, score, parts, spans, run, gen_seed, window, sub, rep, warn, dev, info)
        out = M.resample(wav.T, adapter.sr, SAMPLE_RATE, axis=0)                # (n, C) at 44.1 kHz
        if out.shape[1] == 1:
            out = np.repeat(out, 2, axis=1)
        fixed = np.zeros((n_out, 2), np.float32)
        m = min(n_out, len(out))
        fixed[:m] = out[:m, :2]
        results[key] = fixed
    rep.check()

    # Mix, one common gain (mix peak at -1 dBFS, lowered if a stem would clip), files.
    mix = np.sum(list(results.values()), axis=0).astype(np.float32) if per_stem else results["mix"]
    mix_peak = float(np.abs(mix).max()) if mix.size else 0.0
    stem_peak = max((float(np.abs(s).max()) for s in results.values()), default=0.0) if per_stem else 0.0
    target = 10 ** (TARGET_PEAK_DBFS / 20)
    gain = 1.0
    if mix_peak > 0:
        gain = target / mix_peak
        if stem_peak * gain > 1.0:
            gain = 1.0 / stem_peak
    mix = mix * np.float32(gain)
    stems = {k: v * np.float32(gain) for k, v in results.items()} if per_stem else {}
    out_peak = float(np.abs(mix).max()) if mix.size else 0.0
    outputs: list[tuple[Path, np.ndarray, str]] = []
    if out_path is not None:
        assert mix_fmt is not None  # set whenever out_path is
        outputs.append((out_path, mix, mix_fmt))
    if stems_dir is not None:
        from .render import safe_stem_names
        for fname, (_key, v) in zip(safe_stem_names([p.name for p in score.parts]), stems.items()):
            outputs.append((stems_dir / f"{fname}.{stem_fmt}", v, stem_fmt))
    rep(0.9, "measuring how the audio follows the MIDI", force=True)
    follows = {"chroma_cosine": M.chroma_cosine(mix, SAMPLE_RATE, score),
               "onset_f1": M.onset_f1(mix, SAMPLE_RATE, score).f1,
               "start_chroma_cosine": M.chroma_cosine(mix44, SAMPLE_RATE, score),
               "start_onset_f1": M.onset_f1(mix44, SAMPLE_RATE, score).f1}
    rep(0.92, "writing", force=True)
    files = _write_outputs(outputs, rep)
    rep(1.0, "done", force=True)
    return DiffusionResult(
        mix=mix, stems=stems, sample_rate=SAMPLE_RATE, gain=float(gain),
        peak_dbfs=20 * math.log10(out_peak) if out_peak > 0 else float("-inf"),
        seconds=time.perf_counter() - t_start, files=files, soundfont=None, device=dev, pipeline=name,
        model_sample_rate=adapter.sr, windows=info["windows"], steps_run=info["steps"],
        prompts=list(dict.fromkeys(info["prompts"])), adherence=follows)


def _diffuse(adapter: _Adapter, audio: np.ndarray, score: Score, parts, spans, run: DiffusionSettings, seed, window,
             sub, rep: _Reporter, warn: Warn, dev: str, info: dict, time_offset: float = 0.0) -> np.ndarray:
    """SDEdit + guidance + MultiDiffusion over one (C, n) signal at the model's rate; returns (C, n)."""
    assert run.steps is not None and run.text_guidance is not None  # render_diffusion resolved both
    torch = adapter.torch
    n = audio.shape[1]
    sub(0.0, "encoding the SoundFont render", True)
    x0 = adapter.to_latent(audio).float()
    mult = adapter.multiple
    L = x0.shape[2]
    if L % mult:
        x0 = torch.nn.functional.pad(x0, (0, 0) * (x0.dim() - 3) + (0, mult - L % mult))
        L = x0.shape[2]
    ranges = plan_windows(L, window, run.overlap, mult)
    sampler = _Sampler(adapter.pipe.scheduler, run.steps, run.strength, dev)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    noise = torch.randn(x0.shape, generator=gen, dtype=torch.float32).to(dev)
    latents = sampler.start_latents(x0, noise)
    sec_per_frame = adapter.hop / adapter.sr
    windows: list[_Window] = []
    for k, (a, b) in enumerate(ranges):
        left = ranges[k - 1][1] - a if k > 0 else 0
        right = b - ranges[k + 1][0] if k + 1 < len(ranges) else 0
        t0, t1 = time_offset + a * sec_per_frame, time_offset + b * sec_per_frame
        w = _Window(a, b, _ramp(b - a, max(left, 0), max(right, 0)).to(dev), prompt_at(spans, t0, t1))
        if run.guidance > 0:
            tg = _Targets(score, parts, adapter.sr, t0, (b - a) * adapter.hop, dev, run.chroma_weight, run.onset_weight)
            w.targets = tg if tg.active else None
        windows.append(w)
    info["windows"] = max(info["windows"], len(windows))
    info["steps"] = max(info["steps"], len(sampler.timesteps))
    info["prompts"] += [w.prompt for w in windows]
    conds: dict[tuple[str, int], dict] = {}
    for w in windows:
        ck = (w.prompt, w.b - w.a)
        if ck not in conds:
            conds[ck] = adapter.condition(w.prompt, (w.b - w.a) * sec_per_frame, run.text_guidance, run.negative_prompt)
    shape_w = [1] * latents.dim()
    total = max(1, len(sampler.timesteps) * len(windows))
    done, t_first = 0, None
    t_loop = time.perf_counter()
    for i, t in enumerate(sampler.timesteps):
        acc = torch.zeros_like(latents)
        wsum = torch.zeros(L, device=latents.device)
        for w in windows:
            rep.check()
            xw = latents[:, :, w.a:w.b]
            out = adapter.predict(sampler.scale(xw, t), t, conds[(w.prompt, w.b - w.a)], run.text_guidance)
            if w.targets is not None and run.guidance > 0:
                ca, cb = sampler.coefficients(t)
                x0w = ca * xw + cb * out
                x0g = _guide(adapter, x0w, w.targets, run.guidance, run.guidance_iters, run.guidance_lr)
                out = (x0g - ca * xw) / cb if cb != 0 else out
            sw = list(shape_w)
            sw[2] = w.b - w.a
            acc[:, :, w.a:w.b] += out * w.weight.reshape(sw)
            wsum[w.a:w.b] += w.weight
            done += 1
            if t_first is None:
                t_first = time.perf_counter() - t_loop
                if dev == "cpu" and total > 1:
                    warn(f"warning: about {_fmt_eta(t_first * total)} on the CPU for this pass")
            el = time.perf_counter() - t_loop
            eta = el / done * (total - done)
            sub(done / total, f"step {i + 1}/{len(sampler.timesteps)}, window {windows.index(w) + 1}/{len(windows)}, "
                              f"ETA {_fmt_eta(eta)}")
        sw = list(shape_w)
        sw[2] = L
        out_all = acc / wsum.clamp(min=1e-8).reshape(sw)
        latents = sampler.step(out_all, t, latents, gen)
    sub(1.0, "decoding", True)
    wav = adapter.to_audio(latents).float()[0].cpu().numpy()
    res = np.zeros((adapter.channels, n), np.float32)
    m = min(n, wav.shape[1])
    res[:, :m] = wav[:adapter.channels, :m] if wav.shape[0] >= adapter.channels else wav[:1, :m]
    return res


def _guide(adapter: _Adapter, x0, targets: _Targets, guidance: float, iters: int, lr: float):
    """x0 after `iters` normalized gradient steps on the chroma/onset loss through the decoder."""
    torch = adapter.torch
    scale = float(x0.pow(2).mean().sqrt()) or 1.0
    x = x0.detach()
    for _ in range(max(1, iters)):
        with torch.enable_grad():
            v = x.clone().requires_grad_(True)
            loss = targets.loss(adapter.decode(v))
            (g,) = torch.autograd.grad(loss, v)
        g_rms = float(g.pow(2).mean().sqrt())
        if not math.isfinite(g_rms) or g_rms == 0:
            break
        x = x - (guidance * lr * scale / g_rms) * g
    return x


def _crossfade_pass(adapter, audio, score, parts, spans, run: DiffusionSettings, seed, window, sub, rep, warn, dev,
                    info) -> np.ndarray:
    """Windows rendered independently (each a full SDEdit run) and joined with equal-power crossfades."""
    n = audio.shape[1]
    win_samples = window * adapter.hop
    if n <= win_samples:
        return _diffuse(adapter, audio, score, parts, spans, run, seed, window, sub, rep, warn, dev, info)
    fade = int(round(win_samples * min(max(run.overlap, 0.05), 0.5)))
    stride = win_samples - fade
    starts = list(range(0, max(1, n - fade), stride))
    out = np.zeros((adapter.channels, n), np.float32)
    count = len(starts)
    for k, a in enumerate(starts):
        b = min(a + win_samples, n)

        def sub_k(f, m, force=False, k=k):
            sub((k + f) / count, f"piece {k + 1}/{count}: {m}", force)

        seg = _diffuse(adapter, audio[:, a:b], score, parts, spans, run, seed + k, window, sub_k, rep, warn, dev, info,
                       time_offset=a / adapter.sr)
        length = b - a
        gain = np.ones(length, np.float32)
        if k > 0:
            f = min(fade, length)
            gain[:f] = np.sin(0.5 * np.pi * (np.arange(f) + 0.5) / f)
        if k + 1 < count:
            f = min(fade, length)
            gain[length - f:] = np.cos(0.5 * np.pi * (np.arange(f) + 0.5) / f)
        out[:, a:b] += seg * gain
    info["windows"] = max(info["windows"], count)
    return out


# --- files ------------------------------------------------------------------------------

def _write_outputs(outputs: list[tuple[Path, np.ndarray, str]], rep: _Reporter) -> list[Path]:
    """16-bit files written to temporary names beside their targets, then all renamed into place."""
    import soundfile as sf

    temps: list[tuple[Path, Path]] = []
    try:
        for path, data, fmt in outputs:
            rep.check()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.part"
            temps.append((tmp, path))
            pcm = np.clip(np.rint(np.asarray(data, np.float32) * 32767.0), -32768, 32767).astype(np.int16)
            sf.write(str(tmp), pcm, SAMPLE_RATE, subtype="PCM_16", format=_FORMATS[fmt])
        rep.check()
        for tmp, path in temps:
            os.replace(tmp, path)
        return [p for _, p in temps]
    except BaseException as exc:
        for tmp, _ in temps:
            try:
                tmp.unlink()
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise DiffusionError(f"cannot write {exc.filename or 'output'}: {exc.strerror or exc}") from None
        raise
