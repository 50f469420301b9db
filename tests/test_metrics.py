import math

import pytest

from symbolic.arrange.patterns import arrange
from symbolic.harmony import parse_key
from symbolic.metrics import (
    chord_tone_ratio,
    empty_beat_rate,
    form_agreement,
    groove_consistency,
    key_scores,
    pitch_class_entropy,
    scale_consistency,
    tempo_bin,
    tempo_scores,
)
from symbolic.score import Bar, Note

from .helpers import small_plan

Q = 480


def test_tempo_and_key_scores():
    assert [tempo_bin(b) for b in (30, 40, 65, 100, 120, 150, 200, 220)] == [0, 1, 2, 4, 5, 6, 7, 8]
    assert tempo_scores(120, 125) == (True, True)
    assert tempo_scores(120, 100) == (False, True)
    assert tempo_scores(120, 60) == (False, False)
    assert key_scores(parse_key("C major"), parse_key("C major")) == (True, True)
    assert key_scores(parse_key("C major"), parse_key("A minor")) == (False, True)
    assert key_scores(parse_key("C major"), parse_key("G major")) == (False, False)


def test_musp_style_statistics():
    scale = [Note(i * Q, (i + 1) * Q, p, 80) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]
    assert scale_consistency(scale) == 1.0
    assert pitch_class_entropy([Note(0, Q, 60, 80)] * 4) == 0
    assert pitch_class_entropy([Note(0, Q, p, 80) for p in range(60, 72)]) == pytest.approx(math.log2(12))
    bars = [Bar(i * 4 * Q, 4, 4) for i in range(4)]
    same = [Note(b.start + k * Q, b.start + k * Q + Q // 2, 60, 80) for b in bars for k in (0, 2)]
    assert groove_consistency(same, bars) == 1.0
    assert empty_beat_rate(same, bars) == pytest.approx(0.5)
    assert empty_beat_rate([Note(0, 16 * Q, 60, 80)], bars) == 0.0


def test_plan_metrics_on_the_pattern_arranger():
    sheet = small_plan().to_sheet()
    score = arrange(sheet, seed=1)
    pad = next(p for p in score.parts if p.role == "pad")
    assert chord_tone_ratio(pad.notes, sheet) == 1.0
    # Sections with the same label sound alike: the form is audible.
    assert form_agreement(score, sheet) > 0.05


def test_clash_rate_counts_semitones_against_sounding_notes():
    from symbolic.metrics import clash_rate
    from symbolic.score import Note
    others = [Note(0, 960, 60, 80), Note(960, 1920, 64, 80)]   # C then E
    notes = [Note(0, 480, 61, 80),      # C# over C: clash
             Note(480, 960, 67, 80),    # G over C: fine
             Note(960, 1440, 65, 80),   # F over E: clash
             Note(1440, 1920, 76, 80),  # E over E: doubling
             Note(2000, 2400, 61, 80)]  # nothing sounds
    assert clash_rate(notes, others) == pytest.approx(2 / 5)
    assert clash_rate(notes, others + [Note(0, 960, 73, 80)]) == pytest.approx(1 / 5)  # C# doubled in another part
    assert clash_rate([], others) != clash_rate([], others)  # nan


def test_cadence_rate_looks_at_the_downbeat_of_each_last_bar():
    from symbolic.metrics import cadence_rate
    sheet = small_plan(extra_sections=False).to_sheet()   # A: C Am F G|G7, B: F G Em Am, A again
    ends = [sheet.bars[s.first_bar + s.n_bars - 1] for s in sheet.sections]
    good = [Note(b.bar.start, b.bar.start + 480, 67, 80) for b in ends]           # a G at every cadence
    assert cadence_rate(good, sheet) == pytest.approx(2 / 3)                     # G fits G and G, not Am
    held = [Note(ends[1].bar.start - 480, ends[1].bar.start + 960, 69, 80)]      # A held into the Am bar
    assert cadence_rate(held, sheet) == 1.0
    assert cadence_rate([], sheet) != cadence_rate([], sheet)  # nan: nothing sounds at any cadence
