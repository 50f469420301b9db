import mido
import pytest

from symbolic.midi_io import DRUM_CHANNEL, channel_map, midi_bytes, read_midi
from symbolic.patterns import arrange
from symbolic.score import Part, ScoreError

from .helpers import small_plan


@pytest.fixture(scope="module")
def score():
    return arrange(small_plan().to_sheet(), seed=3)


def test_notation_grade_midi(score, tmp_path):
    path = tmp_path / "piece.mid"
    path.write_bytes(midi_bytes(score))
    mid = mido.MidiFile(path)
    assert mid.type == 1 and mid.ticks_per_beat == 480
    conductor = mid.tracks[0]
    metas = [m for m in conductor if m.is_meta]
    assert [m.type for m in metas if m.type == "set_tempo"] and any(m.type == "key_signature" for m in metas)
    sigs = [(m.numerator, m.denominator) for m in metas if m.type == "time_signature"]
    assert sigs == [(4, 4), (3, 4), (4, 4)]
    assert [m.key for m in metas if m.type == "key_signature"] == ["C", "G", "C"]
    assert [m.text for m in metas if m.type == "marker"] == ["Verse 1", "Chorus", "Verse 2", "Bridge", "Outro"]
    assert not any(not m.is_meta for m in conductor)
    channels = []
    for track, part in zip(mid.tracks[1:], score.parts):
        names = [m.name for m in track if m.type == "track_name"]
        assert names == [part.name]
        pcs = [m for m in track if m.type == "program_change"]
        assert len(pcs) == 1 and pcs[0].time == 0
        chans = {m.channel for m in track if not m.is_meta}
        assert len(chans) == 1
        channels.append(chans.pop())
        assert sum(1 for m in track if m.type == "note_on" and m.velocity > 0) == len(part.notes)
    assert channels[-1] == DRUM_CHANNEL and len(set(channels)) == len(channels)


def test_same_score_same_bytes(score):
    again = arrange(small_plan().to_sheet(), seed=3)
    assert midi_bytes(score) == midi_bytes(again)
    assert midi_bytes(arrange(small_plan().to_sheet(), seed=4)) != midi_bytes(score)


def test_import_round_trip(score, tmp_path):
    path = tmp_path / "piece.mid"
    path.write_bytes(midi_bytes(score))
    back = read_midi(path)
    assert [p.name for p in back.parts] == [p.name for p in score.parts]
    assert [p.program for p in back.parts] == [p.program for p in score.parts]
    assert back.parts[-1].is_drum
    for a, b in zip(score.parts, back.parts):
        assert [(n.start, n.end, n.pitch, n.velocity) for n in a.notes] == [(n.start, n.end, n.pitch, n.velocity) for n in b.notes]
    assert [(b.numerator, b.denominator) for b in back.bars] == [(b.numerator, b.denominator) for b in score.bars]
    assert back.tempos == score.tempos
    assert [k.name for _, k in back.keys] == [k.name for _, k in score.keys]
    assert back.markers == score.markers


def test_import_other_resolution_and_type0(tmp_path):
    mid = mido.MidiFile(type=0, ticks_per_beat=96)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90)))
    tr.append(mido.Message("program_change", channel=0, program=40))
    tr.append(mido.Message("note_on", channel=0, note=60, velocity=80, time=0))
    tr.append(mido.Message("note_on", channel=9, note=36, velocity=90, time=0))
    tr.append(mido.Message("note_off", channel=9, note=36, time=24))
    tr.append(mido.Message("note_off", channel=0, note=60, time=72))
    path = tmp_path / "t0.mid"
    mid.save(path)
    s = read_midi(path)
    assert len(s.parts) == 2 and s.parts[0].program == 40 and s.parts[1].is_drum
    assert (s.parts[0].notes[0].start, s.parts[0].notes[0].end) == (0, 480)
    assert s.tempos[0] == (0, 90.0)


@pytest.mark.parametrize("content,needle", [(b"", "empty"), (b"MThd\x00\x00garbage", "not a readable MIDI"),
                                            (b"hello world", "not a readable MIDI")])
def test_corrupt_midi(tmp_path, content, needle):
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(ScoreError, match=needle):
        read_midi(path)


def test_midi_without_notes(tmp_path):
    mid = mido.MidiFile()
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000)]))
    path = tmp_path / "empty.mid"
    mid.save(path)
    with pytest.raises(ScoreError, match="no notes"):
        read_midi(path)
    with pytest.raises(ScoreError, match="cannot read"):
        read_midi(tmp_path / "missing.mid")


def test_channels_past_fifteen_parts():
    parts = [Part(f"P{i}", 0) for i in range(20)] + [Part("Drums", 0, True)]
    chans = channel_map(parts)
    assert chans[-1] == (0, 9)
    assert len(set(chans)) == len(chans)
    assert all(c != 9 for _, c in chans[:-1])
