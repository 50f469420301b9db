import pytest

from symbolic.harmony import HarmonyError, diatonic_triads, parse_chord, parse_key, parse_roman, roman


@pytest.mark.parametrize("symbol,root,quality,bass", [
    ("C", 0, "maj", None), ("F#m7", 6, "min7", None), ("Bbmaj7/D", 10, "maj7", 2), ("G7sus4", 7, "7sus4", None),
    ("Eø", 4, "hdim7", None), ("Ab°7", 8, "dim7", None), ("D-7", 2, "min7", None), ("C6/9", 0, "maj6", None),
    ("Ebm", 3, "min", None), ("A7b9", 9, "7b9", None), ("Caug", 0, "aug", None), ("C5", 0, "5", None),
])
def test_parse_chord(symbol, root, quality, bass):
    c = parse_chord(symbol)
    assert (c.root, c.quality, c.bass) == (root, quality, bass)


@pytest.mark.parametrize("bad", ["", "H7", "Cxyz", "C/H", "7", "m7"])
def test_bad_chords_name_the_problem(bad):
    with pytest.raises(HarmonyError) as err:
        parse_chord(bad)
    assert str(err.value)


def test_keys_and_signatures():
    assert parse_key("D minor").sharps == -1
    assert parse_key("E major").sharps == 4
    assert parse_key("Bb").sharps == -2 and parse_key("Bb").mode == "major"
    assert parse_key("F# major").sharps == 6 and parse_key("Gb major").sharps == -6
    assert parse_key("Eb minor").midi_name() == "Ebm"
    assert parse_key("c# minor").sharps == 4
    with pytest.raises(HarmonyError):
        parse_key("H major")


def test_roman_round_trip():
    key = parse_key("D minor")
    for rn in ["i", "iv", "V7", "VI", "bII", "iiø7", "VII"]:
        chord = parse_roman(rn, key)
        assert roman(chord, key) == rn
    assert parse_roman("V7", parse_key("C major")).text == "G7"
    assert [c.text for c in diatonic_triads(parse_key("C major"))] == ["C", "Dm", "Em", "F", "G", "Am", "Bdim"]
