import pytest

from composer.planner import plan_from_brief
from symbolic.harmony import parse_chord, parse_key


def keys_by_section(plan):
    key, out = plan.key, []
    for s in plan.sections:
        key = s.key or key
        out.append((s.name, parse_key(key)))
    return out


def test_same_brief_and_seed_same_plan():
    brief = "a bossa nova in F, two minutes"
    assert plan_from_brief(brief, 3) == plan_from_brief(brief, 3)
    assert plan_from_brief(brief, 3) != plan_from_brief(brief, 4)


def test_genre_defaults_fill_what_the_brief_leaves_out():
    jazz = plan_from_brief("a jazz tune")
    assert [t.role for t in jazz.tracks] == ["melody", "chords", "bass", "drums"]
    assert {s.label.rstrip("'") for s in jazz.sections} >= {"A", "B"}
    waltz = plan_from_brief("a waltz for piano")
    assert waltz.meter == "3/4"
    jig = plan_from_brief("an irish jig")
    assert jig.meter == "6/8"
    minuet = plan_from_brief("a minuet in G")
    assert minuet.meter == "3/4" and minuet.tempo < waltz.tempo
    sad = plan_from_brief("a sad piano piece")
    assert sad.key.endswith("minor")


def test_modulation_to_the_relative_minor_in_the_bridge():
    plan = plan_from_brief("a pop ballad in C major with a bridge that modulates to the relative minor, 3 minutes")
    keys = keys_by_section(plan)
    bridges = [k for name, k in keys if name.startswith("Bridge")]
    assert bridges and all(k.name == "A minor" for k in bridges)
    assert keys[0][1].name == "C major" and keys[-1][1].name == "C major"


def test_key_change_up_a_whole_step_for_the_last_chorus():
    plan = plan_from_brief("a pop song in G major with a key change up a whole step for the last chorus, 3 minutes")
    keys = keys_by_section(plan)
    last_chorus = [i for i, (name, _) in enumerate(keys) if name.startswith("Chorus")][-1]
    assert keys[last_chorus][1].name == "A major"
    assert keys[0][1].name == "G major"
    # The section before the lift ends on the new key's dominant.
    before = plan.sections[last_chorus - 1].chords[-1][-1].symbol
    assert parse_chord(before).root == parse_key("A major").tonic + 7 - 12


@pytest.mark.parametrize("brief", ["a pop song in D major", "a folk tune in E minor", "a jazz tune in Eb major",
                                   "a waltz in G minor", "a march in Bb major", "a ballad in A major"])
def test_sections_start_and_the_piece_ends_on_the_tonic(brief):
    plan = plan_from_brief(brief)
    key = parse_key(plan.key)
    first = parse_chord(plan.sections[0].chords[0][0].symbol)
    last = parse_chord(plan.sections[-1].chords[-1][-1].symbol)
    assert first.root == key.tonic
    assert last.root == key.tonic and last.is_minor == (key.mode == "minor")


def test_chords_come_from_the_table():
    from composer.tables import load_table
    from symbolic.harmony import degree_token
    table = load_table()["chords"]["pop"]["major"]
    vocab = set(table["next"]) | set(table["start"]) | set(table["cadence"])
    plan = plan_from_brief("a pop song in Eb major, 2 minutes", 5)
    key = parse_key(plan.key)
    tokens = [degree_token(parse_chord(c.symbol), key) for s in plan.sections for bar in s.chords for c in bar]
    assert set(tokens) <= vocab | {"7:7"}  # V7 pivots and cadences are added by the planner
    assert len(set(tokens)) >= 4


@pytest.mark.parametrize("brief,seconds", [("a pop song, 3 minutes", 180), ("a jazz tune, 90 seconds", 90),
                                           ("a string quartet piece, 5 minutes", 300), ("a rock song, 30 seconds", 30),
                                           ("a jig, 2 minutes", 120), ("a 12-bar blues, 2 minutes", 120),
                                           ("theme and variations for piano, 4 minutes", 240),
                                           ("an ambient piece, 29 minutes", 29 * 60)])
def test_length_is_close_to_the_request(brief, seconds):
    plan = plan_from_brief(brief)
    assert plan.duration_seconds() == pytest.approx(seconds, rel=0.15)


def test_ternary_and_variation_forms_are_played_once_and_chorus_forms_repeat():
    waltz = plan_from_brief("a melancholic waltz in D minor for string quartet, ABA, two minutes")
    body = [s for s in waltz.sections if s.label in ("A", "B")]
    assert [s.label for s in body] == ["A", "B", "A"] and all(s.bars >= 16 for s in body)
    variations = plan_from_brief("theme and variations for string quartet, four minutes")
    names = [s.name for s in variations.sections]
    assert len(names) == len(set(names)) and names[0] == "Theme"
    jazz = plan_from_brief("a jazz tune in AABA form, three minutes")
    assert sum(s.label.rstrip("'") == "B" for s in jazz.sections) >= 2  # choruses come round again


def test_an_arc_in_the_brief_shapes_the_section_energies():
    from composer.brief import parse_brief
    assert parse_brief("epic trailer music building to a climax").arc == "build"
    assert parse_brief("a piano piece that slowly fades away").arc == "fade"
    assert parse_brief("a rock song").arc is None
    build = plan_from_brief("a sad waltz for strings, ABA, two minutes, with a long crescendo")
    body = [s.energy for s in build.sections if s.label in ("A", "B")]
    assert body == sorted(body) and body[-1] == 5 and body[0] <= 2
    plain = plan_from_brief("a sad waltz for strings, ABA, two minutes")
    assert [s.energy for s in plain.sections if s.label in ("A", "B")][-1] < 5
    fade = plan_from_brief("a pop song for piano, bass and drums that winds down, 3 minutes")
    energies = [s.energy for s in fade.sections if s.name not in ("Intro", "Outro")]
    half = len(energies) // 2
    assert energies[-1] == 1 and sum(energies[:half]) / half > sum(energies[half:]) / (len(energies) - half) + 0.5


def test_bars_are_exact_when_asked_in_bars():
    assert plan_from_brief("a 32 bar jazz tune").total_bars == 32
    assert plan_from_brief("a pop song, 50 bars").total_bars == 50


def test_same_brief_and_seed_give_the_same_plan_in_every_process():
    """String hashing differs between processes; nothing the planner picks may depend on it."""
    import os
    import subprocess
    import sys
    code = ("from training.evaluate import own_captions; from composer.planner import plan_from_brief; "
            "print(''.join(plan_from_brief(c['caption'], 0).model_dump_json() for c in own_captions(6, 0)))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(h)}).stdout for h in (1, 2, 3)}
    assert len(outs) == 1


def test_harmonic_rhythm_follows_the_data_and_the_meter():
    from composer.plan import parse_meter
    from composer.planner import _bar_chords, _most_chords
    key = parse_key("C major")
    # Beats go to the beat groups: compound meters change chords only on their dotted quarters.
    assert [c["beats"] for c in _bar_chords(["0:maj", "5:maj"], key, (3, 4))] == [2.0, 1.0]
    assert [c["beats"] for c in _bar_chords(["0:maj", "5:maj", "7:maj"], key, (4, 4))] == [2.0, 1.0, 1.0]
    assert [c["beats"] for c in _bar_chords(["0:maj", "5:maj", "7:maj"], key, (6, 8))] == [3.0, 3.0]
    assert [c["beats"] for c in _bar_chords(["0:maj", "5:maj", "7:maj", "0:maj"], key, (12, 8))] == [3.0] * 4
    # At a quick tempo no chord is shorter than MIN_CHORD_SECONDS: a waltz at 150 keeps a chord a bar,
    # pop at 112 may split a bar in halves, a chorale at 80 may change on every beat.
    assert _most_chords((3, 4), 150) == 1 and _most_chords((4, 4), 112) == 2 and _most_chords((4, 4), 80) == 4
    assert _most_chords((3, 4), 66) == 3 and _most_chords((6, 8), 165) == 1
    per_bar = {}
    for brief in ("a pop song in G, 3 minutes", "a waltz in D minor at 150 bpm, 2 minutes", "a lullaby in 3/4, 2 minutes",
                  "a hymn in F, 2 minutes"):
        for seed in range(3):
            plan = plan_from_brief(brief, seed)
            bars = [bar for s in plan.sections for bar in s.chords]
            per_bar.setdefault(brief, []).append(sum(map(len, bars)) / len(bars))
            # A section's last bar (its cadence) holds one chord.
            assert all(len(s.chords[-1]) == 1 for s in plan.sections)
            assert max(map(len, bars)) <= _most_chords(parse_meter(plan.meter), plan.tempo)
    mean = {b: sum(v) / len(v) for b, v in per_bar.items()}
    assert mean["a waltz in D minor at 150 bpm, 2 minutes"] == 1.0
    # A slow piece in three splits some bars (2 + 1 beats); the hymn, from the chorales' tables, changes
    # chords most often.
    assert mean["a lullaby in 3/4, 2 minutes"] > 1.05 and mean["a pop song in G, 3 minutes"] > 1.05
    assert mean["a hymn in F, 2 minutes"] > mean["a pop song in G, 3 minutes"]


def test_a_section_gets_the_meter_the_brief_gives_it_and_the_next_one_returns():
    from composer.plan import parse_meter
    plan = plan_from_brief("a minuet in 3/4 with the trio in 2/4")
    assert plan.meter == "3/4"
    trio = [i for i, s in enumerate(plan.sections) if s.label.startswith("B")]
    assert trio and all(plan.sections[i].meter == "2/4" for i in trio)
    after = trio[-1] + 1
    assert after < len(plan.sections) and plan.sections[after].meter == "3/4"
    meter = parse_meter(plan.meter)
    for s in plan.sections:
        meter = parse_meter(s.meter) if s.meter else meter
        assert all(sum(c.beats for c in bar) == meter[0] for bar in s.chords)
    bridge = plan_from_brief("a 5/4 jazz tune with a 7/8 bridge")
    assert {s.meter for s in bridge.sections if s.label.startswith("B")} == {"7/8"}


def test_a_meter_for_a_section_the_form_lacks_is_an_error():
    from composer.brief import BriefError
    with pytest.raises(BriefError, match="the form has no trio or middle section"):
        plan_from_brief("a pop song with the trio in 2/4")


def _symbols(plan):
    return [parse_chord(c.symbol) for s in plan.sections for bar in s.chords for c in bar]


@pytest.mark.parametrize("brief", ["a medium swing jazz tune, AABA, for tenor sax, piano, upright bass and drums",
                                   "a jazz ballad in Eb for trumpet and piano", "a bossa nova in F for guitar"])
def test_jazz_harmony_is_sevenths_with_two_fives_and_turnarounds(brief):
    from symbolic import style_measures as sm
    for seed in range(3):
        plan = plan_from_brief(brief, seed)
        chords = _symbols(plan)
        assert sm.seventh_share(chords) >= 0.8, [c.text for c in chords]
        assert sm.two_five_count(chords, plan.total_bars) >= 2.0
        # Every section before another ends on the dominant of the chord the next one starts on.
        for sec, nxt in zip(plan.sections, plan.sections[1:]):
            last, first = parse_chord(sec.chords[-1][-1].symbol), parse_chord(nxt.chords[0][0].symbol)
            assert last.quality in ("7", "9", "13") and (first.root - last.root) % 12 == 5, (sec.name, last.text)


def test_blues_is_dominant_and_reels_are_diatonic_triads():
    blues = plan_from_brief("a 12-bar shuffle blues in A for electric guitar, bass and drums", 1)
    first = [bar[0].symbol for bar in blues.sections[0].chords]
    assert first[:4] == ["A7", "D7", "A7", "A7"] and first[8] == "E7"
    key = parse_key("D major")
    for seed in range(3):
        reel = plan_from_brief("an Irish reel in D for fiddle and tin whistle", seed)
        for c in _symbols(reel):
            assert c.quality in ("maj", "min", "dim") or c.text == "A7", c.text
            assert (c.root - key.tonic) % 12 in (0, 2, 4, 5, 7, 9, 11, 10), c.text


def test_a_named_progression_is_played_as_named():
    plan = plan_from_brief("a jazz tune in C over the chords C Am F G", 1)
    main = next(s for s in plan.sections if s.label.rstrip("'") == "A")
    assert [bar[0].symbol for bar in main.chords[:4]] == ["C", "Am", "F", "G"]


def test_diminished_chords_are_spelled_as_leading_tones():
    from symbolic.harmony import chord_from_token
    assert chord_from_token("1:dim7", parse_key("Bb major")).text == "Bdim7"
    assert chord_from_token("6:dim7", parse_key("C major")).text == "F#dim7"
    assert chord_from_token("8:dim", parse_key("C major")).text == "G#dim"
    assert chord_from_token("1:maj", parse_key("C major")).text == "Db"  # the Neapolitan stays flat
