"""The derived harmony table: the shipped file, the chart parsers and a quick build from the data."""
from __future__ import annotations

import json

import pytest

from composer import tables
from composer.tables import STAT_KINDS, is_token, load_table
from symbolic.annotations import TOKEN_QUALITIES, parse_harte, parse_pop909_phrases
from training import harmony_table as H
from training.corpora import default_data_dir
from training.harmony_table import Stats, build_table, parse_billboard, parse_pop909

CHART = """# title: Test Song
# artist: Nobody
# metre: 4/4
# tonic: C

0.0\tsilence
1.0\tA, intro, | C:maj | G:7 |, (piano)
5.0\tB, verse, | C:maj . F:maj/3 . | G:7(b9) | A:min7 | Bb:sus4(b7) |, (voice
10.0\t| F:maj6 | C:5 | E:hdim7 | N |, voice)
# tonic: A
20.0\tC, chorus, | A:min | D:min7 | E:7 | A:min | x2
30.0\tsilence
31.0\tend
"""


def _all_tokens(table: dict):
    for style in table["chords"].values():
        for mode in style.values():
            for kind in ("start", "cadence", "phrase_end"):
                yield from mode[kind]
            for kind in ("next", "split", "penult"):
                for a, row in mode[kind].items():
                    yield a
                    yield from row


# --- the shipped table ------------------------------------------------------------------------


def test_shipped_table_shape_and_tokens():
    table = load_table()
    assert table["version"] == tables.VERSION
    assert load_table() is table  # cached
    assert tables.TABLE_PATH.stat().st_size < 400 * 1024
    for mode in ("major", "minor"):
        block = table["chords"]["pop"][mode]
        assert set(STAT_KINDS) <= set(block)
        for kind in ("start", "next", "cadence", "penult"):
            assert block[kind], (mode, kind)
        assert set(block["per_bar"]) == {"1", "2", "3", "4"}
    bad = [t for t in _all_tokens(table) if not is_token(t)]
    assert not bad, bad[:10]
    for src in table["sources"].values():
        assert src["style"] in tables.STYLES and isinstance(src["songs"], int)
    assert table["sources"]["billboard"]["songs"] > 500
    assert table["sources"]["pop909"]["songs"] > 500
    assert table["forms"]["pop"]["sequences"] and table["forms"]["pop"]["section_bars"]["verse"]
    assert table["forms"]["pop909"]["phrases"] and table["forms"]["pop909"]["sequences"]


def test_shipped_pop_major_favours_primary_chords():
    block = load_table()["chords"]["pop"]["major"]
    totals = {}
    for a, row in block["next"].items():
        totals[a] = totals.get(a, 0) + sum(row.values())
    top = sorted(totals, key=totals.get, reverse=True)[:5]
    for tok in ("0:maj", "5:maj", "7:maj"):  # I, IV, V
        assert tok in top, top
    assert max(block["start"], key=block["start"].get) == "0:maj"


def test_missing_table_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "TABLE_PATH", tmp_path / "harmony.json")
    load_table.cache_clear()
    try:
        with pytest.raises(tables.TableError, match="python -m training.harmony_table build"):
            load_table()
    finally:
        monkeypatch.undo()
        load_table.cache_clear()


def test_token_check():
    assert is_token("7:7") and is_token("11:hdim7") and is_token("0:9")
    assert not is_token("12:maj") and not is_token("0:minmaj7") and not is_token("C:maj")
    assert set(TOKEN_QUALITIES) == {"maj", "min", "7", "maj7", "min7", "dim", "hdim7", "dim7", "aug",
                                    "sus4", "sus2", "maj6", "min6", "9"}


# --- parsers without data ---------------------------------------------------------------------


@pytest.mark.parametrize("label,expected", [
    ("C:maj", (0, "maj")), ("A:min7", (9, "min7")), ("G:7(b9)", (7, "7")), ("F:maj/3", (5, "maj")),
    ("Bb:sus4(b7)", (10, "sus4")), ("E:hdim7", (4, "hdim7")), ("C:5", (0, "maj")), ("C:1", (0, "maj")),
    ("D:sus4(b7,9)", (2, "sus4")), ("Ab:maj9", (8, "maj7")), ("F#:min9", (6, "min7")), ("B:13", (11, "9")),
    ("C:7(#9)", (0, "7")), ("E:aug(b7)", (4, "7")), ("C:minmaj7", (0, "min")), ("G:maj(9)", (7, "maj")),
    ("C:1(b3,b7)/b7", (0, "min7")), ("Db:dim7", (1, "dim7")), ("C:maj6(9)", (0, "maj6")), ("A", (9, "maj")),
    ("Eb:sus4(b7", (3, "sus4")), ("N", None), ("&pause", None), ("*", None),
])
def test_parse_harte(label, expected):
    assert parse_harte(label) == expected


def test_parse_harte_rejects_garbage():
    with pytest.raises(ValueError):
        parse_harte("H:maj")
    with pytest.raises(ValueError):
        parse_harte("C:blah")


def test_parse_billboard_chart():
    chart = parse_billboard(CHART)
    song = chart.song
    assert song.frames == [(0, "major"), (9, "minor")]
    assert chart.form == [("intro", 2), ("verse", 8), ("chorus", 8)]
    named = [s for s in song.sections if s.name is not None]

    def toks(sec):
        out = []
        for bar in sec.bars:
            tonic = song.frames[bar.frame][0]
            t = [H.token_of(r, q, tonic) for r, q, _ in bar.chords]
            out.append([x for i, x in enumerate(t) if i == 0 or t[i - 1] != x])
        return out

    assert toks(named[0]) == [["0:maj"], ["7:7"]]
    assert toks(named[1]) == [["0:maj", "5:maj"], ["7:7"], ["9:min7"], ["10:sus4"],
                              ["5:maj6"], ["0:maj"], ["4:hdim7"], []]
    assert toks(named[2]) == [["0:min"], ["5:min7"], ["7:7"], ["0:min"]] * 2

    stats = Stats()
    assert stats.add_song(song, "pop") == 8 + 7
    out = stats.export(min_count=1)["pop"]
    major, minor = out["major"], out["minor"]
    assert major["start"] == {"0:maj": 2}
    assert major["split"] == {"0:maj": {"5:maj": 1}}
    assert major["next"]["7:7"] == {"0:maj": 1, "9:min7": 1}  # intro -> verse continues the chain
    assert major["cadence"] == {"7:7": 1}  # the verse ends on N: no cadence
    assert major["penult"] == {"0:maj": {"7:7": 1}}
    assert major["phrase_end"] == {"10:sus4": 1}
    assert major["per_bar"] == {"1": 8, "2": 1, "3": 0, "4": 0}
    assert minor["start"] == {"0:min": 1} and minor["cadence"] == {"0:min": 1}
    assert minor["penult"] == {"7:7": {"0:min": 1}}
    assert minor["next"]["0:min"] == {"5:min7": 2, "0:min": 1}
    assert "0:maj" not in minor["next"]  # no transition across the change of tonic


def test_section_names():
    norm = H.normalize_section
    assert [norm(n) for n in ("intro", "Verse", "prechorus", "pre chorus", "refrain", "instrumental",
                              "fadeout", "coda", "trans", "verse two", "intro-b", "main theme")] == [
        "intro", "verse", "pre-chorus", "pre-chorus", "chorus", "interlude", "outro", "outro",
        "interlude", "verse", "intro", "verse"]
    assert norm("silence") is None and norm("end") is None and norm("noise") is None


def test_parse_pop909():
    chords = "\n".join([
        "C:maj [0, 4, 7] 0 4 ", "F:maj [0, 5, 9] 5 2 ", "G:7 [2, 5, 7, 11] 7 2 ",
        "A:min [0, 4, 9] 9 4 ", "N [] -1 2 ", "G:maj [2, 7, 11] 7 2 ", "C:maj [0, 4, 7] 0 4 "])
    song = parse_pop909(chords, "C:maj\n", "A2b3\n")
    assert song.frames == [(0, "major")]
    assert [s.name for s in song.sections] == ["A", "b"]
    stats = Stats()
    stats.add_song(song, "pop")
    out = stats.export(min_count=1)["pop"]["major"]
    assert out["start"] == {"0:maj": 1, "9:min": 1}
    assert out["split"] == {"5:maj": {"7:7": 1}}
    assert out["next"] == {"0:maj": {"5:maj": 1}, "5:maj": {"9:min": 1}, "9:min": {"7:maj": 1},
                           "7:maj": {"0:maj": 1}}
    assert out["cadence"] == {"5:maj": 1, "0:maj": 1}
    assert parse_pop909_phrases("i4A8B12o3") == [("i", 4), ("A", 8), ("B", 12), ("o", 3)]


def test_estimate_key():
    def ch(*names):
        return [(parse_harte(n)[0], parse_harte(n)[1], 1.0) for n in names]

    assert H.estimate_key(ch("C:maj", "F:maj", "G:7", "C:maj")) == (0, "major")
    assert H.estimate_key(ch("A:min", "D:min", "E:7", "A:min")) == (9, "minor")
    assert H.estimate_key(ch("A:min7", "D:min7", "G:7", "C:maj7", "F:maj7", "D:min7", "G:7", "C:maj7")) == (0, "major")


def test_cli_missing_data_dir(tmp_path, capsys):
    assert H.main(["build", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "h.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert not (tmp_path / "h.json").exists()


# --- quick build from the real data -----------------------------------------------------------


@pytest.mark.slow
def test_quick_build_from_data(tmp_path):
    data_dir = default_data_dir()
    if not (data_dir / "mcgill_billboard").is_dir():
        pytest.skip(f"no data sets at {data_dir}")
    messages = []
    table = build_table(data_dir, limit=15, progress=messages.append)
    assert table["sources"]["billboard"]["songs"] > 0
    assert table["sources"]["pop909"]["songs"] > 0
    pop = table["chords"]["pop"]["major"]
    assert sum(pop["per_bar"].values()) > 0 and pop["next"] and pop["start"]
    assert table["forms"]["pop"]["sequences"] and table["forms"]["pop909"]["phrases"]
    assert all(is_token(t) for t in _all_tokens(table))
    assert any(m.startswith("billboard:") for m in messages)
    out = tmp_path / "harmony.json"
    H.write_table(table, out)
    assert json.loads(out.read_text(encoding="utf-8")) == table
