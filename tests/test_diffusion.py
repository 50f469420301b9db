"""The diffusion renderer on tiny Stable Audio and AudioLDM2 pipelines built here, saved and reloaded offline.

Every component is randomly initialised from a small config; the tokenizers are
built from a vocabulary written in this file. Nothing is downloaded.
"""
from __future__ import annotations

import json
import re
import threading
import time

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("torchsde")

from audio import metrics as M  # noqa: E402
from audio.diffusion import (  # noqa: E402
    DiffusionCancelled,
    DiffusionError,
    DiffusionSettings,
    choose_device,
    load_pipeline,
    pipeline_class_of,
    plan_windows,
    prompt_at,
    render_diffusion,
    section_prompts,
)
from audio.render import RenderError, render_score  # noqa: E402
from symbolic.midi_io import midi_bytes  # noqa: E402
from symbolic.score import PPQ  # noqa: E402
from tests.helpers import band_score  # noqa: E402

BAR = 4 * PPQ
WORDS = ("a an the and with of in for music instrumental solo piano bass drums guitar strings violin cello flute "
         "harp pad organ synth pop jazz rock folk classical waltz calm very moderate energy energetic intense high "
         "quality recording verse chorus bridge intro outro major minor bpm").split()


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _t5_tokenizer():
    from transformers import T5Tokenizer
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("\u2581" + w, -1.0 - i) for i, w in enumerate(WORDS)]
    vocab += [(c, -50.0) for c in "abcdefghijklmnopqrstuvwxyz0123456789,.\u2581"]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=32)


def _roberta_tokenizer():
    from transformers import RobertaTokenizer
    tokens = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] + sorted(set("abcdefghijklmnopqrstuvwxyz0123456789,.")) + ["\u0120"]
    return RobertaTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[], model_max_length=32)


def tiny_stable_audio(sample_size: int = 64):
    """Stable Audio at 16 kHz stereo: Oobleck VAE with hop 256, a 2-layer DiT with a window of sample_size frames."""
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
        StableAudioProjectionModel,
    )
    from transformers import T5Config, T5EncoderModel
    torch.manual_seed(0)
    transformer = StableAudioDiTModel(sample_size=sample_size, in_channels=8, num_layers=2, attention_head_dim=8,
                                      num_attention_heads=2, num_key_value_attention_heads=2, out_channels=8,
                                      cross_attention_dim=16, time_proj_dim=16, global_states_input_dim=16,
                                      cross_attention_input_dim=8)
    scheduler = CosineDPMSolverMultistepScheduler(solver_order=2, prediction_type="v_prediction", sigma_data=1.0,
                                                  sigma_schedule="exponential")
    vae = AutoencoderOobleck(encoder_hidden_size=16, downsampling_ratios=[2, 4, 4, 8], decoder_channels=8,
                             decoder_input_channels=8, audio_channels=2, channel_multiples=[1, 2, 2, 2],
                             sampling_rate=16000)
    text_encoder = T5EncoderModel(T5Config(vocab_size=160, d_model=16, d_ff=32, d_kv=8, num_heads=2, num_layers=1))
    projection = StableAudioProjectionModel(text_encoder_dim=16, conditioning_dim=8, min_value=0, max_value=64)
    return StableAudioPipeline(vae=vae, text_encoder=text_encoder, projection_model=projection,
                               tokenizer=_t5_tokenizer(), transformer=transformer, scheduler=scheduler)


def tiny_audioldm2():
    """AudioLDM2 at 16 kHz: 16 mel bins, vocoder hop 160, KL VAE /2, UNet window of 32 latent frames (0.64 s)."""
    from diffusers import (
        AudioLDM2Pipeline,
        AudioLDM2ProjectionModel,
        AudioLDM2UNet2DConditionModel,
        AutoencoderKL,
        DDIMScheduler,
    )
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapTextConfig,
        GPT2Config,
        GPT2Model,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        T5Config,
        T5EncoderModel,
    )
    torch.manual_seed(0)
    unet = AudioLDM2UNet2DConditionModel(
        block_out_channels=(16, 32), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=([None, 16, 32], [None, 16, 32]), norm_num_groups=8, attention_head_dim=4)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False)
    vae = AutoencoderKL(block_out_channels=[16, 32], in_channels=1, out_channels=1,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4, norm_num_groups=8)
    text_cfg = ClapTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=16, intermediate_size=32,
                              num_attention_heads=2, num_hidden_layers=1, pad_token_id=1, vocab_size=64,
                              projection_dim=16, max_position_embeddings=40)
    audio_cfg = ClapAudioConfig(spec_size=64, window_size=4, num_mel_bins=64, intermediate_size=32, depths=[1, 1],
                                num_attention_heads=[2, 2], num_hidden_layers=2, hidden_size=32, projection_dim=16,
                                patch_size=2, patch_stride=2, patch_embed_input_channels=4)
    clap = ClapModel(ClapConfig(text_config=text_cfg.to_dict(), audio_config=audio_cfg.to_dict(), projection_dim=16))
    t5 = T5EncoderModel(T5Config(vocab_size=160, d_model=32, d_ff=32, d_kv=8, num_heads=2, num_layers=1))
    lm = GPT2Model(GPT2Config(n_embd=16, n_head=2, n_layer=1, vocab_size=64, n_ctx=99, n_positions=99,
                              bos_token_id=0, eos_token_id=2))
    lm.config.max_new_tokens = 4
    projection = AudioLDM2ProjectionModel(text_encoder_dim=16, text_encoder_1_dim=32, langauge_model_dim=16)
    vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(
        model_in_dim=16, sampling_rate=16000, upsample_initial_channel=16, upsample_rates=[4, 4, 10],
        upsample_kernel_sizes=[8, 8, 20], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
        normalize_before=False))
    return AudioLDM2Pipeline(vae=vae, text_encoder=clap, text_encoder_2=t5, projection_model=projection,
                             language_model=lm, tokenizer=_roberta_tokenizer(), tokenizer_2=_t5_tokenizer(),
                             feature_extractor=ClapFeatureExtractor(), unet=unet, scheduler=scheduler, vocoder=vocoder)


@pytest.fixture(scope="module")
def stable_audio_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-stable-audio")
    tiny_stable_audio().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def audioldm2_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-audioldm2")
    tiny_audioldm2().save_pretrained(folder)
    return folder


def test_the_saved_pipelines_are_recognised(stable_audio_dir, audioldm2_dir):
    assert pipeline_class_of(stable_audio_dir) == "StableAudioPipeline"
    assert pipeline_class_of(audioldm2_dir) == "AudioLDM2Pipeline"
    assert choose_device("cpu") == "cpu"
    assert choose_device(None) in ("cuda", "mps", "cpu")
    with pytest.raises(DiffusionError, match="unknown device"):
        choose_device("tpu")


def test_missing_or_wrong_model_gives_one_line_errors(tmp_path):
    score = band_score(hats=False, bars=1)
    with pytest.raises(DiffusionError, match="does not exist") as exc:
        render_diffusion(score, tmp_path / "no-such-model", tmp_path / "out.wav")
    assert "\n" not in str(exc.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DiffusionError, match="no model_index.json"):
        render_diffusion(score, empty, tmp_path / "out.wav")
    other = tmp_path / "other"
    other.mkdir()
    (other / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(DiffusionError, match="supported pipelines"):
        load_pipeline(other)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text(json.dumps({"_class_name": "StableAudioPipeline",
                                                         "vae": ["diffusers", "AutoencoderOobleck"]}))
    with pytest.raises(DiffusionError, match="cannot load") as exc:
        load_pipeline(broken)
    assert "\n" not in str(exc.value)
    assert isinstance(exc.value, RenderError)   # the CLI's one-line error path
    assert not (tmp_path / "out.wav").exists()


def test_windows_cover_the_latent_and_overlap():
    assert plan_windows(50, 64, 0.25) == [(0, 50)]
    wins = plan_windows(300, 64, 0.25)
    assert wins[0][0] == 0 and wins[-1][1] == 300 and len(wins) > 1
    assert all(b - a == 64 for a, b in wins)
    assert all(wins[k + 1][0] < wins[k][1] for k in range(len(wins) - 1))   # every neighbour overlaps
    even = plan_windows(100, 32, 0.25, multiple=4)
    assert all(a % 4 == 0 for a, _ in even) and even[-1][1] == 100


def test_section_prompts_come_from_the_plan_or_the_score():
    from composer.pipeline import arrange

    from .helpers import small_plan
    plan = small_plan(style="upbeat pop")
    score = arrange(plan, seed=1)
    spans = section_prompts(score, plan)
    assert len(spans) == len(plan.sections)
    assert "upbeat pop music" in spans[0].prompt and "verse 1" in spans[0].prompt and "calm" in spans[0].prompt
    assert "chorus" in spans[1].prompt and "energetic" in spans[1].prompt and "C major" in spans[1].prompt
    assert "flute" in spans[0].prompt and "drums" in spans[0].prompt
    assert "100 BPM" in spans[3].prompt and "G major" in spans[3].prompt   # the bridge's tempo and key change
    mid = (spans[1].start + spans[1].end) / 2
    assert prompt_at(spans, mid - 0.5, mid + 0.5) == spans[1].prompt
    solo = section_prompts(score, plan, parts=["Violin"])
    assert solo[0].prompt.startswith("upbeat pop music, solo violin")
    bare = section_prompts(band_score(4, hats=False, markers=True))
    assert [("verse" in s.prompt, "chorus" in s.prompt) for s in bare] == [(True, False), (False, True)]
    assert "piano, drums and bass" in bare[0].prompt


def _chroma(result, score) -> float:
    return M.chroma_cosine(result.mix, result.sample_rate, score)


@pytest.mark.slow
def test_stable_audio_sdedit_guidance_and_files(stable_audio_dir, tmp_path):
    score = band_score(hats=False, bars=2)
    common = dict(strength=0.8, steps=8, seed=3, device="cpu", guidance_iters=3)
    t = time.perf_counter()
    plain = render_diffusion(score, stable_audio_dir, tmp_path / "plain.wav", DiffusionSettings(guidance=0.0, **common))
    t_plain = time.perf_counter() - t
    again = render_diffusion(score, stable_audio_dir, None, DiffusionSettings(guidance=0.0, **common))
    np.testing.assert_array_equal(plain.mix, again.mix)                # same seed, same audio
    guided = render_diffusion(score, stable_audio_dir, tmp_path / "guided.flac", DiffusionSettings(guidance=5.0, **common))
    c_plain, c_guided = _chroma(plain, score), _chroma(guided, score)
    print(f"stable audio: chroma {c_plain:.3f} -> {c_guided:.3f} with guidance; {t_plain:.2f}s unguided")
    assert c_guided > c_plain + 0.1
    fs = render_score(score, with_stems=False)
    for res in (plain, guided):
        assert res.pipeline == "StableAudioPipeline" and res.model_sample_rate == 16000 and res.device == "cpu"
        assert res.mix.shape == fs.mix.shape and res.mix.dtype == np.float32   # 44.1 kHz stereo, SoundFont length
        assert abs(res.peak_dbfs + 1.0) < 0.01
        assert res.steps_run == round(8 * 0.8)
    data, sr = sf.read(tmp_path / "guided.flac")
    assert sr == 44100 and data.shape == guided.mix.shape
    assert not list(tmp_path.glob(".*.part"))


def test_strength_zero_returns_the_vae_round_trip(stable_audio_dir):
    score = band_score(hats=False, bars=1)
    res = render_diffusion(score, stable_audio_dir, None, DiffusionSettings(strength=0.0, guidance=1.0, steps=4, device="cpu"))
    # No denoising step runs: the SoundFont render goes through the VAE only, at full length, normalized.
    assert res.steps_run == 0
    assert res.mix.shape == render_score(score, with_stems=False).mix.shape
    assert abs(res.peak_dbfs + 1.0) < 0.01


@pytest.mark.slow
def test_long_input_is_windowed_with_multidiffusion_and_crossfades(tmp_path, stable_audio_dir):
    score = band_score(6, hats=False, markers=True)    # 12 s of music, about 14 s with the tail; window 64 frames = 1 s
    fs = render_score(score, with_stems=False)
    res = render_diffusion(score, stable_audio_dir, tmp_path / "long.wav", DiffusionSettings(strength=0.6, guidance=1.0, steps=4, device="cpu", overlap=0.25))
    assert res.windows > 10
    assert len(res.mix) == len(fs.mix)
    assert any("verse" in p for p in res.prompts) and any("chorus" in p for p in res.prompts)
    data, sr = sf.read(tmp_path / "long.wav")
    assert sr == 44100 and data.shape == (len(fs.mix), 2)
    cross = render_diffusion(score, stable_audio_dir, None, DiffusionSettings(strength=0.6, guidance=0.0, steps=4, device="cpu", window_mode="crossfade", window_seconds=4.0))
    assert cross.windows > 1 and len(cross.mix) == len(fs.mix)
    assert np.isfinite(cross.mix).all() and abs(cross.peak_dbfs + 1.0) < 0.01


@pytest.mark.slow
def test_audioldm2_sdedit_guidance_and_windows(audioldm2_dir):
    score = band_score(hats=False, bars=2)
    common = dict(strength=0.8, steps=8, seed=1, device="cpu", guidance_iters=3)
    plain = render_diffusion(score, audioldm2_dir, None, DiffusionSettings(guidance=0.0, **common))
    guided = render_diffusion(score, audioldm2_dir, None, DiffusionSettings(guidance=5.0, **common))
    c_plain, c_guided = _chroma(plain, score), _chroma(guided, score)
    print(f"audioldm2: chroma {c_plain:.3f} -> {c_guided:.3f} with guidance")
    assert c_guided > c_plain + 0.05
    assert plain.pipeline == "AudioLDM2Pipeline" and plain.windows > 1   # 0.64 s windows over about 4.5 s
    assert plain.mix.shape[1] == 2 and np.allclose(plain.mix[:, 0], plain.mix[:, 1])   # mono model, stereo file


@pytest.mark.slow
def test_per_stem_rendering_writes_stems_that_sum_to_the_mix(tmp_path, audioldm2_dir):
    from composer.pipeline import arrange

    from .helpers import small_plan
    plan = small_plan(extra_sections=False)
    score = arrange(plan, seed=2)
    for part in score.parts:   # keep it short: the first two bars of three parts
        part.notes = [n for n in part.notes if n.start < 2 * BAR]
    score.parts = [p for p in score.parts if p.name in ("Flute", "Bass", "Drums")]
    score.bars = score.bars[:2]
    stems = tmp_path / "stems"
    res = render_diffusion(score, audioldm2_dir, tmp_path / "mix.wav", DiffusionSettings(per_stem=True, strength=0.7, guidance=1.0, steps=4, device="cpu"), plan=plan, stems_dir=stems)
    assert sorted(p.name for p in stems.iterdir()) == ["Bass.wav", "Drums.wav", "Flute.wav"]
    total = sum(res.stems.values())
    np.testing.assert_allclose(total, res.mix, atol=1e-5)
    assert any(p.startswith("pop music, solo flute") for p in res.prompts)
    assert any("solo drums" in p for p in res.prompts)
    with pytest.raises(DiffusionError, match="per-stem"):
        render_diffusion(score, audioldm2_dir, tmp_path / "x.wav", DiffusionSettings(device="cpu"), stems_dir=stems)


def test_progress_and_cancel(stable_audio_dir, tmp_path):
    score = band_score(hats=False, bars=1)
    seen = []
    render_diffusion(score, stable_audio_dir, None, DiffusionSettings(steps=4, device="cpu"), progress=lambda f, m: seen.append((f, m)))
    assert seen[0][0] == 0.0 and seen[-1] == (1.0, "done")
    assert any("ETA" in m for _, m in seen) and any("CPU" in m for _, m in seen)
    assert all(a[0] <= b[0] + 1e-9 for a, b in zip(seen, seen[1:]))
    cancel = threading.Event()

    def stop(f, m):
        if "step" in m:
            cancel.set()

    (tmp_path / "keep.wav").write_bytes(b"old")
    with pytest.raises(DiffusionCancelled):
        render_diffusion(score, stable_audio_dir, tmp_path / "keep.wav", DiffusionSettings(steps=4, device="cpu"), progress=stop, cancel=cancel)
    assert (tmp_path / "keep.wav").read_bytes() == b"old"


def test_cli_renders_with_a_saved_pipeline(tmp_path, stable_audio_dir, capsys):
    from composer.cli import main
    midi = tmp_path / "piece.mid"
    midi.write_bytes(midi_bytes(band_score(hats=False, bars=1)))
    out = tmp_path / "out.wav"
    code = main(["-q", "render", str(midi), "-o", str(out), "--renderer", "diffusion", "--model", str(stable_audio_dir),
                 "--strength", "0.5", "--guidance", "1.0", "--steps", "4", "--seed", "7", "--device", "cpu",
                 "--no-humanize"])  # the notes as written: the measure compares the audio with them
    assert code == 0 and out.is_file()
    data, sr = sf.read(out)
    assert sr == 44100 and data.shape[1] == 2
    said = capsys.readouterr().out
    assert "rendered" in said
    follows = re.search(r"follows the MIDI: chroma cosine ([\d.]+), onset F1 ([\d.]+) "
                        r"\(its SoundFont start: ([\d.]+), ([\d.]+)\)", said)
    assert follows and all(0 <= float(v) <= 1 for v in follows.groups())
    assert float(follows.group(3)) > 0.8  # the SoundFont render follows its own MIDI
    code = main(["-q", "render", str(midi), "-o", str(tmp_path / "x.wav"), "--renderer", "diffusion",
                 "--model", str(tmp_path / "missing")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("composer: error:") and "does not exist" in err and "\n" not in err
    code = main(["-q", "render", str(midi), "-o", str(tmp_path / "x.wav"), "--renderer", "diffusion"])
    assert code == 2 and "--model" in capsys.readouterr().err
    code = main(["-q", "render", str(midi), "-o", str(tmp_path / "x.wav"), "--stems", str(tmp_path / "st"),
                 "--renderer", "diffusion", "--model", str(stable_audio_dir)])
    assert code == 2 and "--per-stem" in capsys.readouterr().err and not (tmp_path / "st").exists()


@pytest.mark.slow
def test_the_tui_renders_with_a_saved_pipeline_and_says_how_it_follows(tmp_path, stable_audio_dir, soundfont):
    import asyncio

    from textual.widgets import Input, Select

    from composer.pipeline import new_piece
    from tui.app import ComposerApp
    folder = tmp_path / "p"
    new_piece("a calm folk tune in G major for fiddle and upright bass, 8 seconds", folder, audio=False)

    async def scenario():
        app = ComposerApp(folder, soundfont=str(soundfont))
        async with app.run_test(size=(120, 40)) as pilot:
            app.query_one("#renderer", Select).value = "diffusion"
            app.query_one("#diffusion-model", Input).value = str(stable_audio_dir)
            app.set_focus(None)
            await pilot.press("r")
            for _ in range(12000):
                await pilot.pause(0.05)
                if not app.busy:
                    break
            said = " ".join(" ".join(line.text.split()) for line in app.query_one("#log").lines)
            assert re.search(r"follows the MIDI: chroma cosine [\d.]+, onset F1 [\d.]+ \(its SoundFont start", said), said
            assert (folder / "mix.wav").is_file()
    asyncio.run(scenario())
