"""Plan-constrained generation with a tiny MusicGPT built in the test (random weights): the plan's
bars, meters, keys, chords, ranges and drum rules hold whatever the weights are."""
import math
from dataclasses import replace

import pytest
import torch

from symbolic.arrange.transformer import TransformerArranger
from symbolic.grid import pulses
from symbolic.instruments import instrument_for_program
from symbolic.model import ModelConfig, MusicGPT
from symbolic.tokenizer import MusicTokenizer

from .helpers import small_plan


@pytest.fixture(scope="module")
def arranger():
    torch.set_num_threads(1)
    tok = MusicTokenizer.default()
    torch.manual_seed(0)
    model = MusicGPT(ModelConfig(vocab_size=tok.vocab_size, block_size=1024, n_layer=2, n_head=2, n_embd=48,
                                 n_text_tokens=0))
    return TransformerArranger(model, tok, None)


def test_follows_the_plan(arranger):
    plan = small_plan()
    sheet = plan.to_sheet()
    score = arranger.arrange(sheet, seed=1, n_candidates=2)
    score.validate()
    assert [b.numerator for b in score.bars] == [b.bar.numerator for b in sheet.bars]
    assert [k.name for _, k in score.keys] == ["C major", "G major", "C major"]
    end = sheet.bars[-1].bar.end
    for part, spec in zip(score.parts, sheet.parts):
        inst = instrument_for_program(spec.program, spec.drum)
        assert part.notes, part.name
        for n in part.notes:
            assert 0 <= n.start < n.end <= end
            if not spec.drum:
                assert inst.low <= n.pitch <= inst.high
            else:
                assert 27 <= n.pitch <= 88


@pytest.mark.slow
def test_chord_tones_are_favoured_on_strong_beats(arranger):
    sheet = small_plan().to_sheet()
    parts = [p for seed in range(4) for p in arranger.arrange(sheet, seed=seed, n_candidates=1).parts]
    hits = total = 0
    for part in parts:
        if part.is_drum:
            continue
        for n in part.notes:
            bar = next(b for b in reversed(sheet.bars) if b.bar.start <= n.start)
            if any(p.start == n.start and p.strength >= 0.6 for p in pulses(bar)):
                total += 1
                hits += n.pitch % 12 in bar.chord_at(n.start).pitch_classes
    # Random weights alone would land on a chord tone about 3 times in 12.
    assert total > 20 and hits / total > 0.5


@pytest.mark.slow
def test_same_seed_same_notes_and_label_reuse(arranger):
    plan = small_plan()
    sheet = plan.to_sheet()
    a = arranger.arrange(sheet, seed=3)
    b = arranger.arrange(sheet, seed=3)
    assert [[(n.start, n.pitch) for n in p.notes] for p in a.parts] == [[(n.start, n.pitch) for n in p.notes] for p in b.parts]
    v1, v2 = sheet.sections[0], sheet.sections[2]  # both labelled A with the same chords, energies 2 and 3
    off = sheet.bars[v2.first_bar].bar.start - sheet.bars[v1.first_bar].bar.start
    lo1, hi1 = sheet.bars[v1.first_bar].bar.start, sheet.bars[v1.first_bar + v1.n_bars - 1].bar.end

    def halves(part):
        first = [(n.start + off, n.pitch) for n in part.notes if lo1 <= n.start < hi1]
        second = [(n.start, n.pitch) for n in part.notes if lo1 + off <= n.start < hi1 + off]
        return first, second

    # The theme comes back (varied: same rhythm); the drums only at the same energy.
    melody = next(p for p in a.parts if p.role == "melody")
    first, second = halves(melody)
    assert first and sorted({t for t, _ in first}) == sorted({t for t, _ in second})
    first, second = halves(next(p for p in a.parts if p.is_drum))
    assert first != second
    plan.sections[0].energy = plan.sections[2].energy
    same = arranger.arrange(plan.to_sheet(), seed=3)
    first, second = halves(next(p for p in same.parts if p.is_drum))
    assert first and first == second


def test_repeated_phrases_inside_a_long_section_come_back(arranger):
    from composer.planner import plan_from_brief
    sheet = plan_from_brief("a waltz for piano and cello, ABA, 96 bars", 0).to_sheet()
    sec = next(s for s in sheet.sections if s.n_bars == 32)
    bars = [sheet.bars[i] for i in sec.bar_range]
    chords = [[(c.start - b.bar.start, c.chord.root, c.chord.quality) for c in b.chords] for b in bars]
    assert chords[:6] == chords[8:14]  # the planner's phrases a a' (new cadence) b a''
    score = arranger.arrange(sheet, seed=2, n_candidates=1)

    def onsets(part, first, n):
        lo, hi = bars[first].bar.start, bars[first + n].bar.start
        return sorted({n.start - lo for n in part.notes if lo <= n.start < hi})

    for part in score.parts:
        # The repeat keeps the phrase's rhythm (the variation moves a few pitches); the cadence bars are its own.
        assert onsets(part, 0, 6) and onsets(part, 0, 6) == onsets(part, 8, 6)


def test_regenerate_one_section_keeps_the_rest_and_locked_tracks(arranger):
    sheet = small_plan().to_sheet()
    base = arranger.arrange(sheet, seed=1)
    chorus = sheet.sections[1]
    new = arranger.arrange(sheet, seed=7, base=base, bars=set(chorus.bar_range), locked={"Bass"})
    lo, hi = sheet.bars[chorus.first_bar].bar.start, sheet.bars[chorus.first_bar + chorus.n_bars - 1].bar.end
    for old, cur in zip(base.parts, new.parts):
        assert [(n.start, n.pitch) for n in old.notes if not lo <= n.start < hi] == \
            [(n.start, n.pitch) for n in cur.notes if not lo <= n.start < hi]
        if cur.name == "Bass":
            assert [(n.start, n.pitch) for n in old.notes] == [(n.start, n.pitch) for n in cur.notes]


def test_pipeline_uses_installed_weights(tmp_path, monkeypatch, arranger):
    from composer import pipeline
    arranger.model.save_pretrained(tmp_path / "w")
    arranger.tok.save(tmp_path / "w" / "tokenizer.json")
    monkeypatch.setenv("COMPOSER_MODEL_DIR", str(tmp_path / "w"))
    pipeline._ARRANGER_CACHE.clear()
    model = pipeline.transformer_arranger()
    assert model is not None
    plan = small_plan()
    score = pipeline.arrange(plan, seed=1, arranger="transformer")
    assert score.n_notes > 0
    monkeypatch.setenv("COMPOSER_MODEL_DIR", str(tmp_path / "none"))
    with pytest.raises(ValueError, match="no trained transformer weights"):
        pipeline.arrange(plan, arranger="transformer")
    fallback = pipeline.arrange(plan, arranger="auto")  # no weights: the patterns
    patterns = pipeline.arrange(plan, arranger="patterns")
    assert [[(n.start, n.pitch) for n in p.notes] for p in fallback.parts] == \
        [[(n.start, n.pitch) for n in p.notes] for p in patterns.parts]
    pipeline._ARRANGER_CACHE.clear()


def test_candidates_are_ranked_by_their_likeness_to_the_brief(arranger):
    """The caption of each candidate is embedded by the real sentence encoder and compared with the brief."""
    from symbolic.arrange.transformer import Row
    from symbolic.score import Note
    from symbolic.text import embed
    ranker = TransformerArranger(arranger.model, arranger.tok, embed)
    sheet = small_plan().to_sheet()
    spec = next(p for p in sheet.parts if p.role == "melody")
    bars = sheet.bars[:4]
    row = Row((0, 0), 0, bars, spec, 3, [], [], 60, 96)
    start = bars[0].bar.start
    calm = [Note(start + i * 960, start + i * 960 + 900, 72 + (i % 2), 60) for i in range(8)]
    busy = [Note(start + i * 120, start + i * 120 + 50, 60 + (i * 7) % 24, 100) for i in range(128)]
    assert "gentle" in ranker.describe(row, calm) and "intense" in ranker.describe(row, busy)
    brief_calm = embed(["a calm, gentle and sparse lullaby with a legato flute"])[0]
    brief_busy = embed(["an intense, driving and busy dance track with punchy short notes"])[0]
    fit_calm = ranker.text_fit([row, row], [calm, busy], brief_calm)
    fit_busy = ranker.text_fit([row, row], [calm, busy], brief_busy)
    assert fit_calm[0] > fit_calm[1] and fit_busy[1] > fit_busy[0]
    assert arranger.text_fit([row], [calm], brief_calm) == [0.0]  # no encoder: no text term


@pytest.mark.slow
def test_regenerated_track_listens_to_the_kept_tracks(arranger):
    """Regenerating one track given the others: the kept tracks' notes (passing tones included) are
    heard at every onset, and the new track clashes with them far less than when written alone."""
    from symbolic.metrics import clash_rate
    from symbolic.score import Note
    sheet = small_plan(extra_sections=False).to_sheet()
    base = arranger.arrange(sheet, seed=1, n_candidates=1)
    flute = next(p for p in base.parts if p.name == "Flute")
    # A flute line of non-chord tones: a semitone above the bar's chord tones, which the chord alone
    # would steer the violin onto.
    flute.notes = []
    for bar in sheet.bars:
        for k, t in enumerate(range(bar.bar.start, bar.bar.end, 240)):
            pcs = sorted(bar.chord_at(t).pitch_classes)
            flute.notes.append(Note(t, t + 240, 72 + (pcs[k % len(pcs)] + 1) % 12, 80))
    for part in base.parts:  # the flute alone against the violin
        if part.name not in ("Flute", "Violin"):
            part.notes = []
    others = flute.notes
    rates = {}
    for listen in (False, True):
        got = [arranger.arrange(sheet, seed=s, base=base, tracks={"Violin"}, n_candidates=1, listen=listen)
               for s in range(6)]
        for score in got:  # the other tracks are kept as they were
            assert [(n.start, n.pitch) for n in score.parts[0].notes] == [(n.start, n.pitch) for n in flute.notes]
        rates[listen] = sum(clash_rate(next(p for p in s.parts if p.name == "Violin").notes, others) for s in got) / 6
    assert rates[False] > 0.1 and rates[True] < 0.5 * rates[False], rates


def test_lead_parts_are_written_first_and_heard(arranger):
    lead_roles = arranger.cfg.lead_roles
    sheet = small_plan(extra_sections=False).to_sheet()
    seen = []
    real = arranger._listen

    def spy(rows, sheet_, score, written):
        real(rows, sheet_, score, written)
        seen.append(({sheet.parts[r.cell[1]].role for r in rows}, dict(written), [r.heard for r in rows]))
    arranger._listen = spy
    try:
        arranger.arrange(sheet, seed=2, n_candidates=1)
    finally:
        del arranger._listen
    (first_roles, first_written, _), (second_roles, second_written, heard) = seen
    assert first_roles == set(lead_roles) and not first_written
    assert not second_roles & set(lead_roles) and second_written
    assert any(h for h in heard)  # the second stage hears the melody and the bass


def test_listening_off_writes_every_track_at_once(arranger):
    sheet = small_plan(extra_sections=False).to_sheet()
    calls = []
    real = arranger._sample

    def spy(rows, *a, **k):
        calls.append(len(rows))
        return real(rows, *a, **k)
    arranger._sample = spy
    try:
        score = arranger.arrange(sheet, seed=2, n_candidates=1, listen=False)
    finally:
        del arranger._sample
    assert len(calls) == 1 and score.n_notes > 0


@pytest.mark.slow
def test_pads_sound_only_the_chord_on_strong_beats(arranger):
    sheet = small_plan().to_sheet()
    strong = 0
    for seed in range(5):
        pad = next(p for p in arranger.arrange(sheet, seed=seed, n_candidates=1).parts if p.role == "pad")
        for n in pad.notes:
            bar = next(b for b in reversed(sheet.bars) if b.bar.start <= n.start)
            if any(p.start == n.start and p.strength >= 0.6 for p in pulses(bar)):
                strong += 1
                assert n.pitch % 12 in bar.chord_at(n.start).pitch_classes
    assert strong > 8   # enough notes on strong beats for the test to mean something


@pytest.mark.slow
def test_phrases_land_on_the_chord_at_section_ends(arranger):
    from symbolic.metrics import cadence_rate
    sheet = small_plan().to_sheet()
    for seed in range(3):
        for part in arranger.arrange(sheet, seed=seed, n_candidates=1).parts:
            if part.is_drum:
                continue
            for sec in sheet.sections:
                last = sheet.bars[sec.first_bar + sec.n_bars - 1]
                for n in part.notes:
                    if n.start == last.bar.start:  # struck on the downbeat of the last bar
                        assert n.pitch % 12 in last.chord_at(n.start).pitch_classes, (part.name, sec.name)
            rate = cadence_rate(part.notes, sheet)  # held notes too: nothing off the chord sounds there
            assert rate != rate or rate == 1.0


@pytest.mark.slow
def test_accompaniment_keeps_sounding_through_the_beats(arranger, monkeypatch):
    from symbolic.metrics import empty_beat_rate
    sheet = small_plan(meter="3/4", extra_sections=False).to_sheet()
    # The sections the model writes (a returning one is a varied copy, whose rests are the variation's).
    firsts = [sec for i, sec in enumerate(sheet.sections)
              if sec.material not in {s.material for s in sheet.sections[:i]}]
    bars = [sheet.bars[i].bar for sec in firsts for i in sec.bar_range]
    spans = [(b.start, b.end) for b in bars]

    def empty(penalty: float) -> float:
        monkeypatch.setattr(arranger, "cfg", replace(arranger.cfg, rest_penalty=penalty))
        rates = [empty_beat_rate([n for n in p.notes if any(a <= n.start < b for a, b in spans)], bars)
                 for seed in range(3)
                 for p in arranger.arrange(sheet, seed=seed, n_candidates=1).parts if p.role in arranger.cfg.rest_roles]
        return sum(rates) / len(rates)

    free, kept = empty(0.0), empty(6.0)
    assert kept < 0.5 * free, (free, kept)


def test_pitch_heat_leaves_the_rhythm_decision_alone():
    from symbolic.arrange.transformer import _heat
    is_pitch = torch.tensor([False, False, True, True, True])
    scores = torch.tensor([[1.0, -math.inf, 2.0, 0.5, -1.0],      # after a note: next onset or another pitch
                           [-math.inf, -math.inf, 2.0, 0.5, -1.0]])  # a pitch must come
    p = torch.softmax(_heat(scores, torch.tensor([0.9, 0.9]), torch.tensor([1.5, 1.5]), is_pitch), dim=1)
    cool = torch.softmax(scores / 0.9, dim=1)
    # The pitches' total share is the rhythm temperature's; the choice among them is the hotter one's.
    assert torch.allclose(p[0, 2:].sum(), cool[0, 2:].sum())
    assert torch.allclose(p[0, 2:] / p[0, 2:].sum(), torch.softmax(scores[0, 2:] / 1.5, dim=0))
    assert torch.allclose(p[1, 2:], torch.softmax(scores[1, 2:] / 1.5, dim=0))
    assert p[1, :2].sum() == 0 and p[0, 1] == 0


@pytest.mark.slow
def test_parts_keep_to_the_plans_energy(arranger, monkeypatch):
    sheet = small_plan(extra_sections=False).to_sheet()
    firsts = [s for i, s in enumerate(sheet.sections) if s.label not in {t.label for t in sheet.sections[:i]}]
    # Another note at an onset is allowed while below the budget: at most one above it.
    most = {(sec.name, spec.role): math.floor(arranger.energy_budget(spec.role, sec.energy) * sec.n_bars) + 1
            for sec in firsts for spec in sheet.parts}

    def over(seed: int) -> list[str]:
        """The (section, part)s that wrote more notes than their energy budget lets through."""
        score = arranger.arrange(sheet, seed=seed, n_candidates=1)
        out = []
        for sec in firsts:
            bars = [sheet.bars[i].bar for i in sec.bar_range]
            for part, spec in zip(score.parts, sheet.parts):
                n = sum(bars[0].start <= x.start < bars[-1].end for x in part.notes)
                if n > most[sec.name, spec.role]:
                    out.append(f"{sec.name}/{spec.role}")
        return out

    assert all(not over(seed) for seed in range(3))
    monkeypatch.setattr(arranger, "cfg", replace(arranger.cfg, energy_slack=0.0))  # random weights overshoot
    assert any(over(seed) for seed in range(3))


def test_energy_budget_follows_the_tokenizers_bins(arranger, monkeypatch):
    cfg = arranger.cfg
    t = arranger.tok.energy_thresholds["pad"]
    assert arranger.energy_budget("pad", 1) == pytest.approx(cfg.energy_slack * t[0])
    assert arranger.energy_budget("pad", 4) == pytest.approx(cfg.energy_slack * t[3])
    assert arranger.energy_budget("pad", 5) == pytest.approx(cfg.energy_slack * cfg.top_level_span * t[3])
    assert arranger.energy_budget("pad", 9) == arranger.energy_budget("pad", 5)
    assert arranger.energy_budget("theremin", 3) == math.inf
    monkeypatch.setattr(arranger, "cfg", replace(cfg, energy_slack=0.0))
    assert arranger.energy_budget("pad", 3) == math.inf


def test_pads_hold_their_chord_until_the_next_onset():
    from symbolic.arrange.transformer import _hold
    from symbolic.score import PPQ, Note
    bars = small_plan(extra_sections=False).to_sheet().bars[:4]   # C | Am | F | G G7
    b = [x.bar.start for x in bars]
    notes = [Note(b[0], b[0] + PPQ, p, 80) for p in (60, 64, 67)] + [Note(b[2], b[2] + PPQ, 65, 80),
                                                                     Note(b[2], b[3] + 2 * PPQ, 69, 80)]
    got = {(n.start, n.pitch): n.end for n in _hold(notes, bars)}
    assert got[b[0], 60] == b[2] and got[b[0], 64] == b[2]   # C and E are in Am too: held to the next onset
    assert got[b[0], 67] == b[1]                              # G is not: it stops where Am begins
    assert got[b[2], 65] == b[3]                              # F is not in G: it stops there, not at the end
    assert got[b[2], 69] == b[3] + 2 * PPQ                    # a longer note is never shortened
    assert len(got) == len(notes)


def test_generation_config_round_trips_and_checks(tmp_path):
    from symbolic.arrange.generation import GenerationConfig
    from symbolic.arrange.transformer import WEIGHTS_DIR
    shipped = GenerationConfig.load(WEIGHTS_DIR)
    assert (WEIGHTS_DIR / "generation.json").is_file()
    changed = replace(shipped, chord_bias=(2.0, 0.5, 1.0), rhythm_heat={"melody": 1.5})
    changed.save(tmp_path)
    assert GenerationConfig.load(tmp_path) == changed
    assert GenerationConfig.load(tmp_path / "none") == GenerationConfig()
    assert shipped.sampling(temperature=0.5, top_p=None).temperature == 0.5
    for bad in ({"temperature": 3.0}, {"top_p": 0.0}, {"n_candidates": 9}, {"seed": 1}):
        with pytest.raises(ValueError):
            shipped.sampling(**bad)
    (tmp_path / "generation.json").write_text('{"format": "composer.generation", "heat": 2}')
    with pytest.raises(ValueError, match="unknown generation settings: heat"):
        GenerationConfig.load(tmp_path)


def test_arranger_takes_its_settings_from_the_weights_folder(tmp_path, arranger):
    from symbolic.arrange.generation import GenerationConfig
    arranger.model.save_pretrained(tmp_path)
    arranger.tok.save(tmp_path / "tokenizer.json")
    wanted = replace(GenerationConfig(), n_candidates=1, rest_penalty=0.0, chunk_bars=2)
    wanted.save(tmp_path)
    loaded = TransformerArranger.load(tmp_path, text=False)
    assert loaded.cfg == wanted
    sheet = small_plan(extra_sections=False).to_sheet()
    rows = loaded._rows(sheet, [(0, 0)], loaded.cfg.n_candidates)
    assert rows and all(len(r.bars) <= 2 for r in rows)


def _notes(part):
    return [(n.start, n.end, n.pitch) for n in part.notes]


def test_ensemble_plays_the_styles_rhythm_section_and_the_transformer_lines(arranger):
    """The default arranger: drums, bass and comping are the patterns' (the style's groove), the lines are
    the transformer's, written after them (they listen); a regeneration keeps what was not asked for."""
    from symbolic.arrange.ensemble import EnsembleArranger
    from symbolic.arrange.patterns import PatternArranger
    sheet = small_plan("jazz").to_sheet()
    ens = EnsembleArranger(arranger).arrange(sheet, seed=3)
    pat = PatternArranger().arrange(sheet, seed=3)
    alone = arranger.arrange(sheet, seed=3, base=pat, tracks={"Flute", "Violin", "Harp", "Strings"})
    for spec, e, p, a in zip(sheet.parts, ens.parts, pat.parts, alone.parts):
        if spec.role in ("drums", "bass", "chords"):
            assert _notes(e) == _notes(p) and e.notes, spec.name
        else:
            assert _notes(e) == _notes(a) and e.notes, spec.name
    chorus = set(sheet.sections[1].bar_range)
    again = EnsembleArranger(arranger).arrange(sheet, seed=9, base=ens, bars=chorus, tracks={"Flute", "Drums"})
    lo, hi = sheet.bars[min(chorus)].bar.start, sheet.bars[max(chorus)].bar.end
    for spec, old, new in zip(sheet.parts, ens.parts, again.parts):
        if spec.name in ("Flute", "Drums"):
            assert [n for n in _notes(old) if not lo <= n[0] < hi] == [n for n in _notes(new) if not lo <= n[0] < hi]
            assert _notes(old) != _notes(new), spec.name
        else:
            assert _notes(old) == _notes(new), spec.name


def test_the_melody_is_on_top_of_the_accompaniment(arranger):
    """Every accompanying note that meets a melody note sounds at or below it, after any arranger."""
    from composer import pipeline
    from symbolic import style_measures as sm
    from symbolic.arrange.finish import UNDER_ROLES, lead_on_top
    plan = small_plan()
    sheet = plan.to_sheet()
    raw = arranger.arrange(sheet, seed=2)
    assert sm.melody_on_top_share(raw) < 1.0  # the raw transformer buries some of it
    moved = lead_on_top(raw, sheet)
    assert moved > 0 and sm.melody_on_top_share(raw) == 1.0
    lead = raw.parts[0].notes
    for spec, part in zip(sheet.parts, raw.parts):
        if spec.role in UNDER_ROLES:
            low = instrument_for_program(spec.program).low
            for n in part.notes:
                assert n.pitch >= low
                meets = [m.pitch for m in lead if m.start < n.end and n.start < m.end]
                if meets and n.pitch > min(meets):
                    # only a single line may stay above (a descant it cannot leave)
                    lowest = n.pitch - 12 * -(-(n.pitch - min(meets)) // 12)
                    assert sum(o.start == n.start for o in part.notes) == 1 and lowest < low
    assert lead_on_top(raw, sheet) == 0  # nothing left to move
    for arr in ("patterns",):
        assert sm.melody_on_top_share(pipeline.arrange(plan, seed=2, arranger=arr)) == 1.0


def test_a_hand_drum_part_keeps_to_its_strokes_after_the_transformer(arranger, monkeypatch):
    """The model writes drum-set keys; a bodhrán's part takes its own strokes (on_kit, in every arrangement)."""
    from composer import pipeline
    from composer.planner import plan_from_brief
    from symbolic.instruments import PERCUSSION
    monkeypatch.setattr(pipeline, "transformer_arranger", lambda: arranger)
    plan = plan_from_brief("an Irish reel in D for fiddle and bodhran, 20 seconds", 1)
    raw = arranger.arrange(plan.to_sheet(), seed=1)
    assert {n.pitch for n in raw.parts[-1].notes} - set(PERCUSSION["frame drum"].strokes)  # a drum set's keys
    score = pipeline.arrange(plan, 1, "transformer")
    assert score.parts[-1].notes and {n.pitch for n in score.parts[-1].notes} <= set(PERCUSSION["frame drum"].strokes)


def test_the_melody_sings_in_its_instruments_register(arranger):
    """A section whose melody the model wrote far under the instrument's singing centre moves up an octave as a
    whole (never out of range); one already there stays."""
    import numpy as np

    from symbolic.arrange.finish import sing, singing_center
    sheet = small_plan().to_sheet()
    score = arranger.arrange(sheet, seed=5)
    flute = score.parts[0]
    inst = instrument_for_program(sheet.parts[0].program)
    centre = singing_center(inst.low, inst.high)
    first = sheet.sections[0]
    lo, hi = sheet.bars[first.first_bar].bar.start, sheet.bars[first.last_bar].bar.end
    flute.notes = [replace(n, pitch=max(inst.low, min(n.pitch, centre) - 12)) if lo <= n.start < hi else n
                   for n in flute.notes]
    low = [n.pitch for n in flute.notes if lo <= n.start < hi]
    assert np.median(low) < centre - 7
    assert sing(score, sheet) >= 1
    assert [n.pitch for n in flute.notes if lo <= n.start < hi] == [p + 12 for p in low]
    assert all(inst.low <= n.pitch <= inst.high for n in flute.notes)
    assert sing(score, sheet) == 0


def test_the_later_parts_hear_the_melody_and_bass_already_written(arranger, monkeypatch):
    """Melody and bass are written first; each later part's prompt carries their notes in its bars (the
    context block) before its own, and a part written first hears nothing."""
    sheet = small_plan(extra_sections=False).to_sheet()
    prompts: dict[str, list[list[int]]] = {}
    written: dict[str, list] = {}
    real = TransformerArranger._write

    def spy(self, rows, *args, **kwargs):
        out = real(self, rows, *args, **kwargs)
        for r in rows:
            prompts.setdefault(r.spec.name, []).append(r.prompt)
        for (si, pi), notes in out.items():
            written.setdefault(sheet.parts[pi].name, []).extend(n for n in notes if si == 0)
        return out

    monkeypatch.setattr(TransformerArranger, "_write", spy)
    arranger.arrange(sheet, seed=3, n_candidates=1)
    tok = arranger.tok
    for name in ("Flute", "Drums"):
        assert all(tok.to_tokens(p)[-1] == "Ctx_end" and "Ctx_melody" not in tok.to_tokens(p) for p in prompts[name])
    first = tok.to_tokens(prompts["Piano"][0])
    assert "Ctx_melody" in first and "Ctx_bass" in first and first[-1] == "Ctx_end"
    header, _, _ = tok.decode(prompts["Piano"][0] + [tok.eos_id])
    end = sheet.bars[sheet.sections[0].last_bar].bar.end
    flute = sorted({(n.start, n.pitch) for n in written["Flute"] if n.start < end})
    heard = [(n.start, n.pitch) for n in header["context"]["melody"]]
    top = {}
    for t, p in flute:
        top[t] = max(p, top.get(t, p))
    assert heard == sorted(top.items())


def test_a_section_is_cut_into_even_phrase_runs():
    """No lone bar at a section's end: 8 bars at most 7 a run are 4 + 4, 16 are four phrases of 4, and a
    run that cannot hold a phrase still splits evenly."""
    from symbolic.arrange.transformer import _chunks

    def sizes(n: int, most: int) -> list[int]:
        bars = list(range(n))
        runs = _chunks(bars, most)  # type: ignore[arg-type]
        assert [b for r in runs for b in r] == bars
        return [len(r) for r in runs]

    assert sizes(8, 7) == [4, 4] and sizes(8, 8) == [8] and sizes(16, 7) == [4, 4, 4, 4]
    assert sizes(12, 8) == [6, 6] and sizes(7, 3) == [3, 2, 2] and sizes(5, 1) == [1] * 5 and sizes(3, 8) == [3]


def test_the_step_bias_makes_the_tune_move_by_step(arranger, monkeypatch):
    """With the step bias, an onset of the melody starts a step (up to 2 semitones) from the last note written
    before it far more often than the untrained model alone does."""
    from itertools import groupby
    sheet = small_plan().to_sheet()

    def steps(bias: float) -> float:
        monkeypatch.setattr(arranger, "cfg", replace(arranger.cfg, step_bias=bias))
        hits = []
        for seed in range(3):
            lead = next(p for p in arranger.arrange(sheet, seed=seed, n_candidates=1, listen=False).parts
                        if p.role == "melody")
            ons = [list(g) for _, g in groupby(sorted(lead.notes, key=lambda n: (n.start, n.pitch)), key=lambda n: n.start)]
            hits += [abs(b[0].pitch - a[-1].pitch) <= 2 for a, b in zip(ons, ons[1:])]
        return sum(hits) / len(hits)

    plain, biased = steps(0.0), steps(10.0)
    assert biased > plain + 0.15, (plain, biased)
