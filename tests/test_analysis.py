"""A plan read from a piece's notes: what an imported piece needs to be edited like a composed one."""
import mido
import pytest

from composer.analysis import plan_from_score
from composer.cli import main
from composer.pipeline import new_piece, read_plan
from symbolic.harmony import parse_chord
from symbolic.midi_io import midi_bytes, read_midi
from symbolic.score import PPQ, Bar, Note, Part, Score

BRIEFS = ["a jazz tune for tenor sax, piano, upright bass and drums, AABA, 40 seconds",
          "a melancholic waltz in D minor for string quartet, ABA, 40 seconds",
          "a 12-bar shuffle blues in A for guitar, bass and drums, 40 seconds",
          "a bossa nova in A minor for flute, nylon guitar, bass and drums, 40 seconds"]


@pytest.mark.parametrize("brief", BRIEFS)
def test_a_composed_piece_reads_back_as_its_own_plan(tmp_path, brief):
    """From piece.mid alone: the plan's key, meter, tempo, sections, the lead, bass and drum roles, and the
    chord of nearly every bar (its root at the bar's start)."""
    new_piece(brief, tmp_path / "p", audio=False, seed=1, arranger="patterns")
    want = read_plan(tmp_path / "p")
    got = plan_from_score(read_midi(tmp_path / "p" / "piece.mid"))
    assert (got.key, got.meter, got.tempo) == (want.key, want.meter, want.tempo)
    assert [(s.name, s.bars) for s in got.sections] == [(s.name, s.bars) for s in want.sections]
    roles = {t.name: t.role for t in want.tracks}
    assert all(t.role == roles[t.name] for t in got.tracks if roles[t.name] in ("melody", "bass", "drums"))
    read = [parse_chord(bar[0].symbol).root for s in got.sections for bar in s.chords]
    planned = [parse_chord(bar[0].symbol).root for s in want.sections for bar in s.chords]
    assert sum(a == b for a, b in zip(read, planned)) >= 0.85 * len(planned)


def _cadence(bars: int = 20) -> Score:
    """C F G7 C over and over, as whole-bar block chords under a tune, with no markers."""
    chords = [(60, 64, 67), (65, 69, 72), (67, 71, 74, 77), (60, 64, 67)]
    keys, tune, bass = [], [], []
    for b in range(bars):
        t = b * 4 * PPQ
        ch = chords[b % 4]
        keys += [Note(t, t + 4 * PPQ, p - 12, 70) for p in ch]
        tune += [Note(t + k * PPQ, t + (k + 1) * PPQ, ch[k % len(ch)] + 12, 90) for k in range(4)]
        bass.append(Note(t, t + 4 * PPQ, ch[0] - 24, 80))
    return Score("Cadence", [Part("Tune", 73, notes=tune), Part("Keys", 0, notes=keys), Part("Bass", 32, notes=bass)],
                 bars=[Bar(b * 4 * PPQ, 4, 4) for b in range(bars)], tempos=[(0, 96.0)])


def test_a_file_without_markers_gets_phrases_and_its_chords(tmp_path):
    plan = plan_from_score(_cadence())
    assert [(s.name, s.bars) for s in plan.sections] == [("Section 1", 8), ("Section 2", 8), ("Section 3", 4)]
    assert [bar[0].symbol for bar in plan.sections[0].chords] == ["C", "F", "G7", "C"] * 2
    assert plan.key == "C major" and plan.tempo == 96.0
    assert [(t.name, t.role) for t in plan.tracks] == [("Tune", "melody"), ("Keys", "chords"), ("Bass", "bass")]


def test_an_imported_piece_is_revised_and_regenerated_like_a_composed_one(tmp_path, capsys):
    src = tmp_path / "cadence.mid"
    src.write_bytes(midi_bytes(_cadence()))
    out = tmp_path / "proj"
    assert main(["-q", "import", str(src), "--out", str(out)]) == 0
    plan = read_plan(out)
    assert [t.name for t in plan.tracks] == ["Tune", "Keys", "Bass"]
    before = read_midi(out / "piece.mid")
    assert main(["-q", "regenerate", str(out), "--track", "Keys", "--arranger", "patterns"]) == 0
    after = read_midi(out / "piece.mid")
    assert [n.pitch for n in after.parts[0].notes] == [n.pitch for n in before.parts[0].notes]   # the tune stays
    assert [n.pitch for n in after.parts[2].notes] == [n.pitch for n in before.parts[2].notes]
    assert main(["-q", "revise", str(out), "transpose up a tone"]) == 0
    assert read_plan(out).key == "D major"
    assert main(["-q", "undo", str(out)]) == 0 and read_plan(out).key == "C major"


def test_a_meter_no_plan_holds_imports_the_notes_alone_and_says_so(tmp_path, capsys):
    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    tr.append(mido.MetaMessage("time_signature", numerator=5, denominator=32, time=0))
    for k in range(8):
        tr.append(mido.Message("note_on", note=60 + k, velocity=80, time=0))
        tr.append(mido.Message("note_off", note=60 + k, velocity=0, time=60))
    mid.tracks.append(tr)
    src = tmp_path / "odd.mid"
    mid.save(src)
    capsys.readouterr()
    assert main(["-q", "import", str(src), "--out", str(tmp_path / "odd")]) == 0
    err = capsys.readouterr().err
    assert "imported the notes without a plan" in err and "5/32" in err
    assert (tmp_path / "odd" / "piece.mid").exists() and not (tmp_path / "odd" / "plan.json").exists()
