"""MusicTokenizer: layout, round trips on built scores and on real files, stable ids, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from symbolic.harmony import Chord, Key, parse_chord
from symbolic.score import PPQ, Bar, ChordSpan, Note, SheetBar
from symbolic.style import FAMILIES
from symbolic.tokenizer import (
    HEADER_LEN,
    METERS,
    ROLES,
    STEP,
    TOKENIZER_PATH,
    MusicTokenizer,
    TokBar,
    TokenizerError,
    added_tokens,
    form_position,
    hears,
    reduce_chord,
    section_class,
    tempo_bin,
)


@pytest.fixture(scope="module")
def tok() -> MusicTokenizer:
    return MusicTokenizer()


def _bars(meter: tuple[int, int], n: int, start: int = 0) -> list[Bar]:
    length = meter[0] * PPQ * 4 // meter[1]
    return [Bar(start + i * length, *meter) for i in range(n)]


def _random_notes(rng: np.random.Generator, bars: list[Bar], n: int, drum: bool = False) -> list[Note]:
    lo, hi = (35, 81) if drum else (30, 100)
    out = []
    for _ in range(n):
        b = bars[int(rng.integers(len(bars)))]
        start = b.start + int(rng.integers(0, b.length))  # off the grid on purpose
        dur = int(rng.integers(30, 4 * PPQ * 5))
        out.append(Note(start, start + dur, int(rng.integers(lo, hi)), int(rng.integers(1, 128))))
    return out


def _expected(tok, notes, bars, drum):
    origin = bars[0].start
    q = tok.quantize(notes, drum, origin)
    return [(n.start - origin, n.end - origin, n.pitch, n.velocity) for n in q if origin <= n.start < bars[-1].end]


def _as_tuples(notes):
    return [(n.start, n.end, n.pitch, n.velocity) for n in notes]


@pytest.mark.parametrize("meter", [(4, 4), (3, 4), (6, 8), (12, 8), (5, 4), (7, 8), (2, 2), (9, 8), (7, 4), (3, 8)])
def test_round_trip_meters_with_mid_bar_chords(tok, meter):
    rng = np.random.default_rng(sum(meter))
    bars = _bars(meter, 5, start=7 * PPQ)  # the run does not start at tick 0
    half = (bars[0].length // 2) // STEP * STEP
    chords = ["Am", "F", "C", "G7", "Dm7", "Bbmaj7", "E7", "Bdim"]
    tbars = [TokBar(b, ((0, parse_chord(chords[i % 8])), (half, parse_chord(chords[(i + 3) % 8]))))
             for i, b in enumerate(bars)]
    notes = _random_notes(rng, bars, 60)
    header = {"role": "chords", "program": 48, "key": "A minor", "tempo": 132.0, "section": "B", "form_pos": 2,
              "style": "jazz ballad"}
    ids = tok.encode(notes, tbars, header)
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
    assert ids.count(tok.bar_id) == len(bars)
    assert all(0 <= i < tok.vocab_size for i in ids)
    h, dec_notes, dec_chords = tok.decode(ids)
    assert h["role"] == "chords" and h["program"] == 48 and h["key"] == (9, "minor")
    assert h["meter"] == meter and h["tempo_bin"] == tempo_bin(132.0) == 5
    assert h["section"] == "B" and h["form_pos"] == 2 and 1 <= h["energy"] <= 5
    assert h["style"] == "jazz"  # style words are read as their family
    assert _as_tuples(dec_notes) == _expected(tok, notes, bars, False)
    assert len(dec_chords) == len(bars)
    for got, tb in zip(dec_chords, tbars):
        assert [(off, (c.root, c.quality)) for off, c in got] == [(off, reduce_chord(c)) for off, c in tb.chords]
    # the same ids again from the decoded material
    again = tok.encode(dec_notes, [TokBar(Bar(i * bars[0].length, *meter), tuple(c)) for i, c in enumerate(dec_chords)], h)
    assert again == ids


def test_layout_of_a_small_bar(tok):
    bar = Bar(0, 4, 4)
    notes = [Note(0, 480, 60, 100), Note(0, 960, 48, 64), Note(965, 1200, 67, 90)]
    ids = tok.encode(notes, [(bar, [(0, "C"), (960, "G7")])],
                     {"role": "melody", "program": 0, "key": Key(0, "major"), "tempo": 100, "energy": 3,
                      "section": "A", "form_pos": 0})
    assert tok.to_tokens(ids) == [
        "BOS_None", "Role_melody", "Program_0", "Key_0_major", "Meter_4_4", "Tempo_4", "Energy_3", "Section_A",
        "FormPos_0", "Style_pop", "Ctx_end", "Bar_None", "Position_0", "Chord_0_maj", "Position_8", "Chord_7_7",
        "Position_0", "Pitch_48", "Velocity_63", "Duration_2.0.4", "Pitch_60", "Velocity_95", "Duration_1.0.4",
        "Position_8", "Pitch_67", "Velocity_95", "Duration_0.2.4", "EOS_None"]


def test_drums_round_trip_without_durations(tok):
    rng = np.random.default_rng(3)
    bars = _bars((4, 4), 4)
    notes = _random_notes(rng, bars, 80, drum=True) + [Note(0, 100, 20, 90), Note(0, 100, 100, 90)]  # out of range
    ids = tok.encode(notes, [(b, [(0, None)]) for b in bars], {"role": "drums", "program": "drums", "tempo": 96})
    toks = tok.to_tokens(ids)
    assert "Program_drums" in toks and not any(t.startswith(("Duration_", "Pitch_")) for t in toks)
    assert any(t.startswith("PitchDrum_") for t in toks)
    h, dec, chords = tok.decode(ids)
    assert h["drum"] and h["program"] == "drums"
    assert _as_tuples(dec) == _expected(tok, notes, bars, True)
    assert all(n.end - n.start == STEP for n in dec)
    assert all(c == [(0, None)] for c in chords)


def test_sheet_bars_and_chord_carry(tok):
    bars = _bars((3, 4), 3)
    sheet = [SheetBar(0, bars[0], 90.0, Key(2, "major"), [ChordSpan(0, 960, parse_chord("D")),
                                                          ChordSpan(960, 1440, parse_chord("A7"))], 0),
             SheetBar(1, bars[1], 90.0, Key(2, "major"), [ChordSpan(1440, 2880, parse_chord("Bm"))], 0)]
    ids = tok.encode([Note(0, 480, 62, 80)], sheet, {"role": "melody", "key": "D major"})
    _, _, chords = tok.decode(ids)
    assert [[(o, c.text) for o, c in bar] for bar in chords] == [[(0, "D"), (960, "A7")], [(0, "Bm")]]
    # a bar without a chord at its start carries the previous bar's last chord
    ids = tok.encode([], [(bars[0], [(0, "C"), (480, "F")]), (bars[1], [(960, "G")])], {"role": "bass"})
    _, _, chords = tok.decode(ids)
    assert [[(o, c.text) for o, c in bar] for bar in chords] == [[(0, "C"), (480, "F")], [(0, "F"), (960, "G")]]


def test_qualities_reduce_to_token_set(tok):
    assert reduce_chord(parse_chord("Cmaj9")) == (0, "maj7")
    assert reduce_chord(parse_chord("Am11")) == (9, "min7")
    assert reduce_chord(parse_chord("G7sus4")) == (7, "sus4")
    assert tok.chord_id("C7b9") == tok.id("Chord_0_7")
    assert tok.chord_id(None) == tok.id("Chord_N") and tok.chord_id("N.C.") == tok.id("Chord_N")
    assert tok.chord_id((4, "hdim7")) == tok.id("Chord_4_hdim7") and tok.chord_id("Chord_3_min6") == tok.id("Chord_3_min6")


def test_vocabulary_families(tok):
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.bar_id) == (0, 1, 2, 3)
    assert len(tok.ids_of("Role_")) == len(ROLES) and len(tok.ids_of("Program_")) == 129
    assert len(tok.ids_of("Key_")) == 24 and len(tok.ids_of("Meter_")) == len(METERS)
    assert len(tok.ids_of("Tempo_")) == 9 and len(tok.ids_of("Energy_")) == 5
    assert len(tok.ids_of("Section_")) == 7 and len(tok.ids_of("FormPos_")) == 4
    assert [tok.token(i) for i in tok.ids_of("Style_")] == [f"Style_{f}" for f in FAMILIES]
    # the Style tokens (version 2) and the context tokens (version 3) came after the older ones, so the ids of
    # every older token kept their meaning (a warm start)
    assert tok.ids_of("Style_") == list(range(594, 594 + len(FAMILIES)))
    assert tok.ids_of("Ctx_") == list(range(594 + len(FAMILIES), tok.vocab_size)) and tok.vocab_size == 611
    assert len(tok.ids_of("Chord_")) == 12 * 14 + 1
    assert len(tok.ids_of("Position_")) == 32 and len(tok.ids_of("Pitch_")) == 88
    assert len(tok.ids_of("PitchDrum_")) == 62 and len(tok.ids_of("Velocity_")) == 8
    assert tok.vocab_size == len(set(tok.tokens)) < 65535
    assert tok.family(tok.id("Chord_0_maj")) == "Chord" and tok.token(tok.bar_id) == "Bar_None"
    base = [t for t in tok.tokens if t not in set(added_tokens())]
    assert tok.tokens == base + added_tokens()  # miditok's vocabulary first, then the added tokens


def test_save_load_keeps_ids(tok, tmp_path):
    t = MusicTokenizer({"melody": [1.0, 2.0, 3.0, 4.0]})
    path = t.save(tmp_path / "tok.json")
    loaded = MusicTokenizer.load(path)
    assert loaded.tokens == t.tokens == tok.tokens
    assert loaded.energy_thresholds["melody"] == [1.0, 2.0, 3.0, 4.0]
    assert loaded.config_hash() == t.config_hash()
    config = json.loads(path.read_text())
    assert config["miditok"]["tokenization"] == "REMI" and config["vocab"] == t.tokens
    config["vocab"] = config["vocab"][::-1]
    (tmp_path / "bad.json").write_text(json.dumps(config))
    with pytest.raises(TokenizerError, match="differs"):
        MusicTokenizer.load(tmp_path / "bad.json")
    with pytest.raises(TokenizerError):
        MusicTokenizer.load(tmp_path / "missing.json")


def test_shipped_config_loads():
    assert TOKENIZER_PATH.is_file(), "ship symbolic/weights/musicgpt/tokenizer.json"
    shipped = MusicTokenizer.default()
    assert shipped.tokens == MusicTokenizer().tokens
    for role in ROLES:
        th = shipped.energy_thresholds[role]
        assert len(th) == 4 and th == sorted(th)


def test_errors(tok):
    bar = Bar(0, 4, 4)
    with pytest.raises(TokenizerError, match="meter"):
        tok.encode([], [Bar(0, 11, 8)], {"role": "melody"})
    with pytest.raises(TokenizerError, match="one meter"):
        tok.encode([], [bar, Bar(1920, 3, 4)], {"role": "melody"})
    with pytest.raises(TokenizerError, match="role"):
        tok.encode([], [bar], {"role": "lead guitar"})
    with pytest.raises(TokenizerError, match="contiguous"):
        tok.encode([], [bar, Bar(3840, 4, 4)], {"role": "melody"})
    with pytest.raises(TokenizerError, match="no bars"):
        tok.encode([], [], {"role": "melody"})


def test_decode_is_lenient(tok):
    ids = [tok.bos_id, tok.id("Role_bass"), tok.id("Meter_3_4"), tok.id("Pitch_60"), tok.id("Velocity_95"),
           tok.bar_id, tok.id("Chord_2_min"), tok.id("Position_4"), tok.id("Pitch_40"), tok.id("Pitch_43"),
           tok.id("Velocity_95"), tok.id("Duration_2.0.4"), tok.id("Key_0_major"), tok.bar_id, tok.id("Position_2"),
           tok.id("PitchDrum_36"), tok.eos_id, tok.id("Pitch_70"), 99999]
    h, notes, chords = tok.decode(ids)
    assert h == {"role": "bass", "meter": (3, 4)}
    assert [(n.start, n.end, n.pitch, n.velocity) for n in notes] == [
        (480, 720, 40, 79), (480, 1440, 43, 95), (1440 + 240, 1440 + 360, 36, 79)]
    assert chords == [[(0, Chord(2, "min", None, "Dm"))], []]
    assert tok.decode([]) == ({}, [], [])


def test_transpose_map(tok):
    up = tok.transpose_map(2)
    assert up[tok.id("Pitch_60")] == tok.id("Pitch_62")
    assert up[tok.id("Pitch_108")] == -1
    assert up[tok.id("Key_11_minor")] == tok.id("Key_1_minor")
    assert up[tok.id("Chord_10_7")] == tok.id("Chord_0_7") and up[tok.id("Chord_N")] == tok.id("Chord_N")
    assert up[tok.id("PitchDrum_36")] == tok.id("PitchDrum_36") and up[tok.bar_id] == tok.bar_id


def test_small_helpers():
    assert [tempo_bin(b) for b in (30, 40, 59, 60, 70, 89, 90, 110, 139, 140, 160, 209, 210, 300)] == \
        [0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8, 8]
    assert [section_class(x) for x in ("i", "o", "A", "A'", "B2", "b", "x", "E", "Intro", "Verse", "Chorus",
                                       "Bridge", "Solo", "")] == \
        ["I", "O", "A", "A", "B", "X", "X", "D", "I", "A", "B", "C", "X", "X"]
    assert section_class("", "chorus 2") == "B"
    assert [form_position(b, 40) for b in (0, 9, 10, 25, 39)] == [0, 0, 1, 2, 3]


# --- real files ---------------------------------------------------------------------------------


def _round_trip_piece(tok, piece, max_windows=6):
    from training.shards import header_for, windows

    checked = 0
    for track in piece.tracks:
        for first, n in windows(piece)[:max_windows]:
            bars = piece.bars[first:first + n]
            tbars = [TokBar(b, tuple(piece.chords[first + i])) for i, b in enumerate(bars)]
            ids = tok.encode(track.notes, tbars, header_for(piece, track, first, n))
            h, notes, chords = tok.decode(ids)
            assert h["role"] == track.role and h["meter"] == (bars[0].numerator, bars[0].denominator)
            assert _as_tuples(notes) == _expected(tok, track.notes, bars, track.drum)
            assert [[(o, None if c is None else reduce_chord(c)) for o, c in bar] for bar in chords] == \
                [[(o, None if c is None else reduce_chord(c)) for o, c in tb.chords] for tb in tbars]
            checked += 1
    return checked


@pytest.mark.slow
def test_round_trip_real_files(tok, shared_data):
    from training import corpora as C

    songs = C.read_pop909(shared_data, 3)
    pieces = [C.pop909_piece(s)[0] for s in songs]
    assert all(p is not None for p in pieces)
    assert {t.role for t in pieces[0].tracks} >= {"melody", "chords", "bass"}
    groove = C.read_groove(shared_data, 1)
    pieces.append(C.groove_piece(groove[0])[0])
    sheets = C.read_lead_sheets(shared_data, 1)
    pieces += [C.lead_sheet_item_piece(s)[0] for s in sheets]
    checked = sum(_round_trip_piece(tok, p) for p in pieces if p is not None)
    assert checked > 30


def test_a_folder_without_a_tokenizer_gets_the_default(tmp_path):
    from symbolic.tokenizer import MusicTokenizer
    assert MusicTokenizer.in_folder(tmp_path) is MusicTokenizer.default()
    tok = MusicTokenizer(energy_thresholds={"pad": [1.0, 2.0, 3.0, 4.0]})
    tok.save(tmp_path / "tokenizer.json")
    assert MusicTokenizer.in_folder(tmp_path).energy_thresholds["pad"] == [1.0, 2.0, 3.0, 4.0]


def test_the_context_block_carries_the_melody_and_bass_it_hears(tok):
    bars = [TokBar(b, ((0, parse_chord("C")),)) for b in _bars((4, 4), 2)]
    melody = [Note(0, 480, 72, 80), Note(0, 480, 60, 80), Note(965, 1440, 76, 80), Note(1920, 3840, 110, 80)]
    bass = [Note(0, 1920, 36, 80), Note(0, 960, 40, 80), Note(1920, 3840, 43, 80)]
    ids = tok.encode([Note(0, 240, 64, 70)], bars, {"role": "chords", "program": 0, "key": "C major"},
                     {"melody": melody, "bass": bass})
    toks = tok.to_tokens(ids)
    start, end = toks.index("Ctx_melody"), toks.index("Ctx_end")
    assert start == HEADER_LEN and toks[end + 1] == "Bar_None"
    assert toks[start:end + 1] == [
        "Ctx_melody", "Bar_None", "Position_0", "Pitch_72", "Position_8", "Pitch_76",   # the top note, on the grid
        "Bar_None", "Position_0", "Pitch_98",                                           # an octave into the range
        "Ctx_bass", "Bar_None", "Position_0", "Pitch_36", "Bar_None", "Position_0", "Pitch_43", "Ctx_end"]
    header, notes, chords = tok.decode(ids)
    assert [(n.start, n.pitch) for n in header["context"]["melody"]] == [(0, 72), (960, 76), (1920, 98)]
    assert [(n.start, n.pitch) for n in header["context"]["bass"]] == [(0, 36), (1920, 43)]
    assert [(n.start, n.pitch) for n in notes] == [(0, 64)] and len(chords) == 2
    # nothing heard: the block is only its end
    alone = tok.encode([Note(0, 240, 64, 70)], bars, {"role": "melody"})
    assert tok.to_tokens(alone)[HEADER_LEN:HEADER_LEN + 2] == ["Ctx_end", "Bar_None"]
    assert hears("melody") == hears("drums") == () and hears("bass") == ("melody",)
    assert hears("pad") == ("melody", "bass")
