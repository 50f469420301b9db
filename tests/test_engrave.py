"""The notation, read by MuseScore itself: every ensemble's MusicXML opens without a complaint and prints,
MuseScore plays back the same pitches on the same instruments (so transpositions and drum sounds are read
as meant), its MIDI import of piece.mid finds our parts, key, meter and tempo, and `composer export --pdf`
prints the score and its parts."""
import collections
import xml.etree.ElementTree as ET
from pathlib import Path

import pretty_midi
import pytest

from composer.cli import main
from symbolic import engrave
from symbolic.harmony import parse_key
from symbolic.midi_io import read_midi
from symbolic.musicxml import to_musicxml
from symbolic.score import PPQ, Bar, Note, Part, Score

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(engrave.find() is None, reason="MuseScore is not installed")]

ENSEMBLES = {
    "piano": ("a gentle nocturne in E flat major for solo piano, 3/4, ABA, 40 seconds", "auto"),
    "jazz": ("a medium swing jazz tune in Bb major for tenor sax, trumpet, alto sax, piano, upright bass and "
             "drums, AABA, 40 seconds", "patterns"),
    "quartet": ("a baroque piece in G minor for string quartet, 4/4, 40 seconds", "patterns"),
    "orchestra": ("a heroic film cue in D major for orchestra with flute, clarinet, french horn, trumpet, harp, "
                  "violins, cellos and timpani, builds to a climax, 40 seconds", "patterns"),
    "rock": ("a driving rock song in E minor for electric guitar, bass guitar, drums and voice, 4/4, 120 bpm, "
             "40 seconds", "auto"),
    "jig": ("an Irish jig in D major for fiddle and tin whistle, 6/8, 30 seconds", "patterns"),
    "march": ("a march in Bb major for brass band with a trio section in Eb major, 2/4, 60 seconds", "patterns"),
}


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensembles")
    out = {}
    for name, (brief, arranger) in ENSEMBLES.items():
        d = root / name
        assert main(["-q", "new", brief, "--out", str(d), "--no-audio", "--arranger", arranger, "--seed", "1"]) == 0
        out[name] = d
    return out


def _changes() -> Score:
    """Key and meter changes inside a piece: 4/4 in C, 3/4 in A major, 6/8 in E-flat, 5/4 in D minor."""
    bars, t = [], 0
    for num, den, count in ((4, 4, 2), (3, 4, 2), (6, 8, 2), (5, 4, 2)):
        for _ in range(count):
            bars.append(Bar(t, num, den))
            t += num * PPQ * 4 // den
    keys = [(bars[0].start, parse_key("C major")), (bars[2].start, parse_key("A major")),
            (bars[4].start, parse_key("Eb major")), (bars[6].start, parse_key("D minor"))]
    tune = [Note(b.start + k * PPQ // 2, b.start + (k + 1) * PPQ // 2, 64 + (3 * k + i) % 12, 80)
            for i, b in enumerate(bars) for k in range(4)]
    low = [Note(b.start, b.end, 40 + i, 70) for i, b in enumerate(bars)]
    return Score(parts=[Part("Flute", 73, notes=tune), Part("Cello", 42, notes=low)], bars=bars,
                 tempos=[(0, 96.0), (bars[4].start, 80.0)], keys=keys, title="Changes")


def _played(midi: Path) -> dict[tuple[int, bool], collections.Counter]:
    """(program, drum) -> pitch counts, as the file plays."""
    out: dict[tuple[int, bool], collections.Counter] = collections.defaultdict(collections.Counter)
    for inst in pretty_midi.PrettyMIDI(str(midi)).instruments:
        out[(inst.program, inst.is_drum)].update(n.pitch for n in inst.notes)
    return out


def test_every_ensemble_opens_in_musescore_without_a_complaint_and_plays_as_written(pieces, tmp_path):
    for name, d in pieces.items():
        said = engrave.convert(d / "piece.musicxml", tmp_path / f"{name}.pdf")
        assert engrave.complaints(said) == [], (name, engrave.complaints(said)[:5])
        assert (tmp_path / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
        has_drums = any(p.is_drum for p in read_midi(d / "piece.mid").parts)
        assert has_drums or not said, (name, said[:3])   # the drum-part bookkeeping line needs a drum part
        # MuseScore's playback of our notation sounds the notes of piece.mid: written pitches of transposing
        # parts, octave clefs and drum sounds are all read as meant.
        engrave.convert(d / "piece.musicxml", tmp_path / f"{name}.mid")
        ours, theirs = _played(d / "piece.mid"), _played(tmp_path / f"{name}.mid")
        assert set(theirs) == set(ours), name
        for key in ours:
            assert set(theirs[key]) == set(ours[key]), (name, key)


def test_meter_and_key_changes_open_cleanly(tmp_path):
    src = tmp_path / "changes.musicxml"
    src.write_bytes(to_musicxml(_changes()))
    said = engrave.convert(src, tmp_path / "changes.pdf")
    assert said == []
    engrave.convert(src, tmp_path / "back.musicxml")
    root = ET.parse(tmp_path / "back.musicxml").getroot()
    part = root.find("part")
    fifths = [int(k.text) for k in part.iter("fifths")]
    times = [(b.text, t.text) for a in part.iter("time") for b, t in [(a.find("beats"), a.find("beat-type"))]]
    assert fifths == [0, 3, -3, -1]
    assert times == [("4", "4"), ("3", "4"), ("6", "8"), ("5", "4")]


def test_musescore_reads_piece_mid_as_our_parts_key_meter_and_tempo(pieces, tmp_path):
    d = pieces["jazz"]
    score = read_midi(d / "piece.mid")
    said = engrave.convert(d / "piece.mid", tmp_path / "import.musicxml")
    # MuseScore's MIDI reader prints one debug line per drum note it maps: the only thing it may say.
    assert all(line.startswith("chord ") and " pitch " in line for line in said)
    root = ET.parse(tmp_path / "import.musicxml").getroot()
    names = [sp.findtext("part-name") for sp in root.iter("score-part")]
    assert len(names) == len(score.parts)
    for name, part in zip(names, score.parts):
        assert name.endswith(part.name), (name, part.name)
    first = root.find("part/measure")
    assert int(first.findtext("attributes/key/fifths")) == score.keys[0][1].sharps
    assert (first.findtext("attributes/time/beats"), first.findtext("attributes/time/beat-type")) == ("4", "4")
    tempos = [float(s.get("tempo")) for s in first.iter("sound") if s.get("tempo")]
    assert tempos and abs(tempos[0] - score.tempos[0][1]) < 0.5


def test_export_pdf_prints_the_score_and_its_parts(pieces, tmp_path, monkeypatch):
    d = pieces["quartet"]
    before = (d / "piece.musicxml").read_bytes()
    assert main(["-q", "export", str(d), "--pdf", "--parts"]) == 0
    assert (d / "piece.pdf").read_bytes()[:5] == b"%PDF-"
    parts = sorted(p.name for p in (d / "parts").iterdir())
    assert parts == ["01-Violin-I.pdf", "02-Violin-II.pdf", "03-Viola.pdf", "04-Cello.pdf"]
    assert all((d / "parts" / p).read_bytes()[:5] == b"%PDF-" for p in parts)
    assert (d / "piece.musicxml").read_bytes() == before
    # Without MuseScore: one line that says how to get it, and nothing changes.
    state = {p: p.read_bytes() for p in d.rglob("*") if p.is_file() and p.name != ".composer.lock"}
    monkeypatch.setenv("COMPOSER_MUSESCORE", str(tmp_path / "no-such-musescore"))
    assert main(["-q", "export", str(d), "--pdf"]) == 2
    assert {p: p.read_bytes() for p in d.rglob("*") if p.is_file() and p.name != ".composer.lock"} == state


def test_drums_sit_where_musescores_drum_set_puts_them(tmp_path):
    """Each GM drum MuseScore's drum set knows is on the line and notehead MuseScore itself gives it."""
    from symbolic.musicxml import _DRUM_DISPLAY
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    kit = pretty_midi.Instrument(0, is_drum=True, name="Drums")
    # The sounds MuseScore 3's drum set defines (the others get lines of their own in _DRUM_DISPLAY).
    keys = [35, 36, 37, 38, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 59, 63, 64]
    for i, k in enumerate(keys):
        kit.notes.append(pretty_midi.Note(100, k, i * 0.5, i * 0.5 + 0.25))
    pm.instruments.append(kit)
    pm.write(str(tmp_path / "kit.mid"))
    engrave.convert(tmp_path / "kit.mid", tmp_path / "kit.musicxml")
    root = ET.parse(tmp_path / "kit.musicxml").getroot()
    key_of = {mi.get("id"): int(mi.findtext("midi-unpitched")) - 1 for mi in root.iter("midi-instrument")}
    theirs = {}
    for n in root.iter("note"):
        if n.find("unpitched") is not None and n.find("instrument") is not None:
            theirs.setdefault(key_of[n.find("instrument").get("id")],
                              (n.findtext("unpitched/display-step"), int(n.findtext("unpitched/display-octave")),
                               n.findtext("notehead") or "normal"))
    ours = {k: _DRUM_DISPLAY[k][:3] for k in keys}
    assert theirs == ours
