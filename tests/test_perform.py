"""Expressive performance (symbolic.perform, training.perform): the shipped diffusion model applied to a Score, and the
--humanize / --no-humanize options of the pipeline and the command line."""
import json
import random

import numpy as np
import pytest

from composer.cli import main
from symbolic.metrics import wasserstein1
from symbolic.midi_io import midi_bytes, read_midi
from symbolic.perform import load, perform
from symbolic.perform.features import WEIGHTS_DIR
from symbolic.score import PPQ, Bar, Note, Part, Score


def small_score(bars: int = 8) -> Score:
    rng = random.Random(3)
    score = Score(title="t", bars=[Bar(i * 4 * PPQ, 4, 4) for i in range(bars)], tempos=[(0, 110.0)])
    drums = Part("Drums", 0, True, "drums")
    piano = Part("Piano", 0, False, "chords")
    mel = Part("Flute", 73, False, "melody")
    bass = Part("Bass", 33, False, "bass")
    step = PPQ // 4
    for b in range(bars):
        t0 = b * 4 * PPQ
        for s in range(16):
            t = t0 + s * step
            if s % 2 == 0:
                drums.notes.append(Note(t, t + 60, 42, 80))
            if s % 8 == 0:
                drums.notes.append(Note(t, t + 60, 36, 100))
            if s % 8 == 4:
                drums.notes.append(Note(t, t + 60, 38, 95))
        for beat in range(4):
            t = t0 + beat * PPQ
            for p in (60, 64, 67):
                piano.notes.append(Note(t, t + PPQ, p, 70))
            mel.notes.append(Note(t, t + PPQ // 2, 72 + rng.randrange(8), 90))
            mel.notes.append(Note(t + PPQ // 2, t + PPQ, 72 + rng.randrange(8), 85))
        bass.notes.append(Note(t0, t0 + 2 * PPQ, 36, 90))
        bass.notes.append(Note(t0 + 2 * PPQ, t0 + 4 * PPQ, 43, 90))
    for p in (drums, piano, mel, bass):
        p.sort()
    score.parts = [drums, piano, mel, bass]
    return score


def test_shipped_weights_load_and_are_small():
    model, cfg = load(WEIGHTS_DIR)
    assert cfg.steps >= 50 and cfg.schedule == "cosine"
    # The config beside the weights reads back to the same JSON.
    assert json.loads(cfg.to_json()) == json.loads((WEIGHTS_DIR / "config.json").read_text())
    assert (WEIGHTS_DIR / "model.safetensors").stat().st_size < 2_000_000
    assert (WEIGHTS_DIR / "card.json").is_file()


def test_perform_keeps_every_note_and_is_deterministic():
    score = small_score()
    before = [[(n.start, n.end, n.pitch, n.velocity) for n in p.notes] for p in score.parts]
    a = perform(score, seed=5)
    b = perform(score, seed=5)
    c = perform(score, seed=6)
    assert [[(n.start, n.end, n.pitch, n.velocity) for n in p.notes] for p in a.parts] == \
           [[(n.start, n.end, n.pitch, n.velocity) for n in p.notes] for p in b.parts]
    assert any(x.start != y.start for p, q in zip(a.parts, c.parts) for x, y in zip(p.notes, q.notes))
    moved = changed = 0
    for orig, perf in zip(score.parts, a.parts):
        assert [n.pitch for n in orig.notes] == [n.pitch for n in perf.notes]
        assert len(orig.notes) == len(perf.notes)
        for o, n in zip(orig.notes, perf.notes):
            assert 0 <= n.start and n.end > n.start and 1 <= n.velocity <= 127
            assert abs(n.start - o.start) <= PPQ // 4
            moved += orig.is_drum and n.start != o.start
            changed += (n.start, n.end, n.velocity) != (o.start, o.end, o.velocity)
        # Monotonic at the grid: a note never starts before one written earlier in its part.
        pairs = sorted(zip(orig.notes, perf.notes), key=lambda x: x[0].start)
        for (o1, p1), (o2, p2) in zip(pairs, pairs[1:]):
            if o1.start < o2.start:
                assert p1.start <= p2.start
    # Drums (Groove) are played off the grid; the pitched parts (POP909, mostly on its beat grid) at
    # least change velocity or articulation.
    assert moved > len(score.parts[0].notes) // 2
    assert changed > score.n_notes * 3 // 4
    # The input is left alone.
    assert [[(n.start, n.end, n.pitch, n.velocity) for n in p.notes] for p in score.parts] == before


def test_a_part_plays_the_same_whatever_the_others_hold():
    """Each part's noise has its own seed: a new melody (more notes, other pitches) leaves the drums, the
    piano and the bass played exactly as before."""
    a = small_score()
    b = small_score()
    mel = b.parts[2]
    mel.notes = [Note(n.start, n.start + PPQ // 4, n.pitch + 2, n.velocity) for n in mel.notes] + \
        [Note(n.start + PPQ // 4, n.start + PPQ // 2, n.pitch, n.velocity) for n in mel.notes]
    mel.sort()
    pa, pb = perform(a, seed=3), perform(b, seed=3)
    for i in (0, 1, 3):
        assert [(n.start, n.end, n.velocity) for n in pa.parts[i].notes] == \
               [(n.start, n.end, n.velocity) for n in pb.parts[i].notes]


def test_amount_zero_is_the_quantized_score_and_amount_scales():
    score = small_score(4)
    zero = perform(score, seed=1, amount=0.0)
    assert [[(n.start, n.end, n.velocity) for n in p.notes] for p in zero.parts] == \
           [[(n.start, n.end, n.velocity) for n in p.notes] for p in score.parts]
    def spread(s):
        return sum(abs(n.start - o.start) for p, q in zip(s.parts, score.parts) for n, o in zip(p.notes, q.notes))
    assert spread(perform(score, seed=1, amount=0.3)) < spread(perform(score, seed=1, amount=1.0))


def test_performed_midi_round_trips(tmp_path):
    perf = perform(small_score(2), seed=0)
    (tmp_path / "p.mid").write_bytes(midi_bytes(perf))
    back = read_midi(tmp_path / "p.mid")
    assert back.n_notes == perf.n_notes


def test_wasserstein():
    assert wasserstein1([0.0, 1.0], [0.0, 1.0]) == pytest.approx(0.0)
    assert wasserstein1([0.0, 0.0], [2.0, 2.0]) == pytest.approx(2.0)
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 500), rng.normal(0.5, 2, 700)
    # exact: the mean gap between quantiles, measured finely, agrees
    q = np.linspace(0, 1, 200_001)
    assert wasserstein1(a, b) == pytest.approx(np.mean(np.abs(np.quantile(a, q, method="inverted_cdf")
                                                              - np.quantile(b, q, method="inverted_cdf"))), rel=1e-3)


def test_render_with_and_without_humanize(tmp_path, soundfont):
    score = small_score(2)
    mid = tmp_path / "piece.mid"
    mid.write_bytes(midi_bytes(score))
    assert main(["-q", "render", str(mid), "-o", str(tmp_path / "a.wav"), "--soundfont", str(soundfont)]) == 0
    performed = tmp_path / "piece.performed.mid"
    assert performed.is_file() and (tmp_path / "a.wav").stat().st_size > 1000
    perf = read_midi(performed)
    assert perf.n_notes == score.n_notes
    assert read_midi(mid).n_notes == score.n_notes  # the quantized file is untouched
    performed.unlink()
    assert main(["-q", "render", str(mid), "-o", str(tmp_path / "b.wav"), "--soundfont", str(soundfont),
                 "--no-humanize"]) == 0
    assert (tmp_path / "b.wav").is_file() and not performed.exists()
    assert main(["-q", "render", str(mid), "-o", str(tmp_path / "c.wav"), "--soundfont", str(soundfont),
                 "--humanize", "0.5"]) == 0
    assert main(["-q", "render", str(mid), "-o", str(tmp_path / "d.wav"), "--humanize", "2"]) == 2


def test_new_piece_writes_performed_midi(tmp_path):
    out = tmp_path / "p"
    brief = "a short pop tune in C major, 4/4 at 110 bpm, for piano, bass and drums, 8 bars"
    assert main(["-q", "new", brief, "--out", str(out), "--no-audio", "--arranger", "patterns"]) == 0
    assert (out / "piece.mid").is_file() and (out / "piece.performed.mid").is_file()
    q, p = read_midi(out / "piece.mid"), read_midi(out / "piece.performed.mid")
    assert q.n_notes == p.n_notes and all(n.start % (PPQ // 4) == 0 for part in q.parts for n in part.notes
                                          if part.notes)
    out2 = tmp_path / "q"
    assert main(["-q", "new", brief, "--out", str(out2), "--no-audio", "--arranger", "patterns", "--no-humanize"]) == 0
    assert not (out2 / "piece.performed.mid").exists()


def test_examples_from_real_files(shared_data):
    from symbolic.perform.features import N_FEATURES
    from training.corpora import read_groove, read_pop909
    from training.perform.data import groove_examples, pop909_examples
    item = next(i for i in read_groove(shared_data, 40) if i["split"] == "test")
    ex = groove_examples(item)
    assert ex is not None and ex["x"].shape[1] == N_FEATURES and len(ex["y"]) == len(ex["cls"])
    assert abs(ex["dev"]).max() <= 60000 / (4 * float(item["bpm"])) / 2 + 1
    songs = read_pop909(shared_data, 2)
    ex = next(e for e in (pop909_examples(s) for s in songs) if e is not None)
    assert set(ex["cls"]) <= {"melody", "piano", "bass"} and ex["x"].shape[1] == N_FEATURES


def test_revise_and_undo_keep_the_performed_midi_in_step(tmp_path):
    from composer.pipeline import new_piece, revise_project, undo_project
    out = tmp_path / "p"
    new_piece("a short pop tune in C major, 4/4 at 110 bpm, for piano, bass and drums, 8 bars", out, audio=False,
              arranger="patterns")
    def pitches(name):
        return sorted(n.pitch for p in read_midi(out / name).parts for n in p.notes)
    before = pitches("piece.performed.mid")
    revise_project(out, "transpose up a whole step")
    assert pitches("piece.performed.mid") == pitches("piece.mid") != before
    undo_project(out)
    assert pitches("piece.performed.mid") == pitches("piece.mid") == before


def test_pedal_spans_from_votes():
    from symbolic.perform.sampling import pedal_spans
    starts = [0, 0, 0, 4, 8, 8, 12]
    press = [1.0, 0.5, -0.2, -1.0, 0.8, 0.4, 1.0]
    spans = pedal_spans(np.array(starts, float), np.array(press), np.full(7, 0.5), np.full(7, 6.0), gap=0.25, min_len=1)
    # Pressed at 0, 8 and 12 (mean vote > 0); held 6 units or until just before the next press.
    assert spans == [(0.5, 6.5), (8.5, 12.25), (12.5, 18.5)]


def test_pedal_targets_tie_each_press_to_its_onset():
    from training.perform.data import pedal_targets
    on16 = np.array([0, 0, 4, 8, 16])
    spans = np.array([[0.1, 1.9], [1.95, 3.0], [4.05, 5.0]])  # in beats; the last is on the onset at 16
    t = pedal_targets(on16, spans)
    assert t[:, 0].tolist() == [1, 1, -1, 1, 1]
    assert t[0, 1] == pytest.approx(0.1) and t[0, 2] == pytest.approx(1.8)
    # A press slightly early belongs to the next onset (beat 2), not the one before.
    assert t[3, 1] == pytest.approx(-0.05) and t[4, 1] == pytest.approx(0.05)


def test_perform_pedals_the_piano_only():
    score = small_score(8)
    a, b = perform(score, seed=2), perform(score, seed=2)
    assert a.parts[1].pedal == b.parts[1].pedal
    spans = a.parts[1].pedal
    assert spans, "the piano part gets a sustain pedal"
    for (d1, u1), (d2, _) in zip(spans, spans[1:]):
        assert d1 < u1 <= d2
    end = score.end_tick
    assert all(0 <= d and u <= end + 16 * PPQ for d, u in spans)
    assert not any(p.pedal for p in a.parts if p.name != "Piano")
    assert score.parts[1].pedal == []  # the written score keeps no pedal
    # A pedal already in the score (an imported performance) is kept as it is.
    score.parts[1].pedal = [(0, PPQ)]
    assert perform(score, seed=2).parts[1].pedal == [(0, PPQ)]


def test_pedal_round_trips_through_midi(tmp_path):
    score = small_score(2)
    score.parts[1].pedal = [(0, 3 * PPQ), (3 * PPQ, 7 * PPQ), (7 * PPQ + 30, 8 * PPQ)]
    (tmp_path / "p.mid").write_bytes(midi_bytes(score))
    back = read_midi(tmp_path / "p.mid")
    piano = next(p for p in back.parts if p.name == "Piano")
    assert piano.pedal == score.parts[1].pedal
    assert all(not p.pedal for p in back.parts if p.name != "Piano")


def test_overlapping_pedal_is_rejected():
    from symbolic.score import ScoreError
    with pytest.raises(ScoreError, match="pedal"):
        Part("Piano", 0, pedal=[(0, 100), (50, 200)])
    with pytest.raises(ScoreError, match="pedal"):
        Part("Piano", 0, pedal=[(100, 100)])


def test_pedal_sustains_in_the_render(tmp_path, soundfont, fluidsynth_library):
    import soundfile as sf

    from audio.render import render_score

    def tail_energy(pedal):
        score = Score(title="p", bars=[Bar(i * 4 * PPQ, 4, 4) for i in range(4)], tempos=[(0, 120.0)])
        score.parts = [Part("Piano", 0, notes=[Note(0, PPQ // 4, 60, 100), Note(0, PPQ // 4, 64, 100)], pedal=pedal)]
        out = tmp_path / f"p{len(pedal)}.wav"
        render_score(score, soundfont, mix_path=out, with_stems=False)
        audio, sr = sf.read(out)
        a, b = int(0.5 * sr), int(1.5 * sr)  # from a beat after the key release to three beats later
        # The mix is normalized to its peak, so compare the tail with the attack.
        return float((audio[a:b] ** 2).sum() / (audio[:a] ** 2).sum())

    held, dry = tail_energy([(0, 8 * PPQ)]), tail_energy([])
    assert held > 4 * dry


def test_style_and_energy_are_features():
    from symbolic.perform.features import N_FEATURES, STYLES, energy_level, score_features, style_index
    assert style_index("a smoky jazz ballad") == STYLES.index("jazz")
    assert style_index("afrocuban/bembe") == STYLES.index("bossa")
    assert style_index("string quartet") == STYLES.index("other")
    score = small_score(8)
    f_jazz, f_rock = score_features(score, score.parts[0], "jazz"), score_features(score, score.parts[0], "rock")
    assert f_jazz.shape == (len(score.parts[0].notes), N_FEATURES) and not np.array_equal(f_jazz, f_rock)
    # Energy: the part's density over 4-bar blocks, in the tokenizer's per-role bins.
    on = np.r_[np.arange(0, 64, 1.0), np.arange(64, 128, 8.0)]   # 16 notes a bar, then 2 a bar
    lv = energy_level(on, np.mod(on, 16), np.full(len(on), 16.0), "melody")
    assert lv[0] == 5 and lv[-1] == 1


def test_the_style_changes_the_drummer():
    score = small_score(8)
    swing, rock = perform(score, seed=3, style="jazz"), perform(score, seed=3, style="rock")
    assert [n.start for n in swing.parts[0].notes] != [n.start for n in rock.parts[0].notes]


def test_the_bar_length_column_is_where_the_pedal_evaluation_reads_it():
    from symbolic.perform.features import score_features
    from training.perform.evaluate import BAR_COL
    score = small_score(2)
    f = score_features(score, score.parts[1])
    assert np.allclose(f[:, BAR_COL], 1.0)  # 16 sixteenths / 16


@pytest.mark.slow
def test_groove_validation_split_is_built_and_evaluated(shared_data, tmp_path):
    from training.perform.__main__ import main
    cache = tmp_path / "perform"
    assert main(["build", "--data", str(shared_data), "--cache", str(cache), "--limit", "40"]) == 0
    summary = json.loads((cache / "summary.json").read_text())
    assert summary["pieces"]["groove"]["val"] > 0 and summary["pieces"]["pop909"]["val"] == 0
    assert {p.name for p in cache.glob("*.npz")} == {"train.npz", "val.npz", "test.npz"}
    assert main(["eval", "--cache", str(cache), "--split", "val"]) == 0
    text = (cache / "eval_val.md").read_text()
    assert "Groove val" in text and "Groove test" not in text and "--split val" in text
    res = json.loads((cache / "eval_val.json").read_text())
    assert res["rows"] and "pedal" not in res and not (cache / "eval.json").exists()


def test_piece_bootstrap_separates_a_sure_difference_from_a_tie():
    from training.perform.evaluate import bootstrap_markdown, piece_bootstrap
    rng = np.random.default_rng(0)
    piece = np.repeat(np.arange(40), 50)
    hum = rng.normal(0, 20, len(piece)) + rng.normal(0, 10, 40)[piece]  # players differ between pieces
    close = rng.normal(0, 20, len(piece)) + rng.normal(0, 10, 40)[piece]  # the same process, drawn again
    far = rng.normal(15, 5, len(piece))
    row = {"t_quant": 9.0, "t_jitter_train": 1.0, "v_quant": 9.0, "v_jitter_train": 1.0}
    # timing: the model is the humans' process and the baseline is far off; velocity: the other way round.
    res = piece_bootstrap(piece, hum, hum, close, far, far, close, seed=0)
    assert res["pieces"] == 40
    assert res["t_diff_ci"][1] < 0 < res["v_diff_ci"][0]
    assert 0 < res["t_halves"] < 10
    text = "\n".join(bootstrap_markdown([dict(row, **res, **{"class": "kick"})]))
    assert "**[" in text and "below zero in 1 of 1 classes for timing" in text
    assert "above zero for kick (the baseline surely closer)" in text
    # Model and baseline are two more draws of the humans' process: no sure difference, the interval holds zero.
    other = rng.normal(0, 20, len(piece)) + rng.normal(0, 10, 40)[piece]
    tie = piece_bootstrap(piece, hum, hum, close, close, other, other, 0)
    assert tie["t_diff_ci"][0] < 0 < tie["t_diff_ci"][1]


def test_a_bossa_keeps_its_eighths_even():
    """In a straight Latin style every off-beat eighth stays within 3% of a beat of its place; a rock
    performance keeps the model's own looser off-beats."""
    from symbolic.perform.sampling import EVEN_TICKS
    score = small_score(8)

    def offbeat_shifts(performed):
        return [abs(p.start - w.start) for wp, pp in zip(score.parts, performed.parts)
                for w, p in zip(wp.notes, pp.notes) if w.start % PPQ == PPQ // 2]
    bossa, rock = perform(score, seed=3, style="bossa nova"), perform(score, seed=3, style="rock")
    assert max(offbeat_shifts(bossa)) <= EVEN_TICKS
    assert max(offbeat_shifts(rock)) > EVEN_TICKS
