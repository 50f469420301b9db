import mido
import pytest

from symbolic.arrange.patterns import arrange
from symbolic.midi_io import DRUM_CHANNEL, channel_map, midi_bytes, read_midi
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


# --- caps and bad values on import: one-line ScoreErrors, before any heavy work ---------------------------

def _one_note_midi(path, *, tempo=500000, sig=None, note_ticks=480, extra=(), ppq=480):
    mid = mido.MidiFile(type=0, ticks_per_beat=ppq)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=tempo))
    if sig is not None:
        tr.append(mido.MetaMessage("time_signature", numerator=sig[0], denominator=sig[1]))
    tr.append(mido.Message("note_on", note=60, velocity=90, time=0))
    tr.append(mido.Message("note_off", note=60, time=note_ticks))
    for msg in extra:
        tr.append(msg)
    mid.save(path)
    return path


@pytest.mark.parametrize("tempo,needle", [
    (0, "tempo of 0 microseconds per beat at tick 0 is outside 20-400 BPM"),
    (mido.bpm2tempo(10), "tempo 10 BPM at tick 0 is outside 20-400 BPM"),
    (mido.bpm2tempo(1000), "tempo 1000 BPM at tick 0 is outside 20-400 BPM"),
])
def test_tempo_outside_the_range_is_refused(tmp_path, tempo, needle):
    path = _one_note_midi(tmp_path / "t.mid", tempo=tempo)
    with pytest.raises(ScoreError, match=needle):
        read_midi(path)


def test_tempo_at_the_limits_is_read(tmp_path):
    for bpm in (20, 400):
        assert read_midi(_one_note_midi(tmp_path / "t.mid", tempo=mido.bpm2tempo(bpm))).tempos == [(0, float(bpm))]


def test_tempo_zero_is_one_line_in_every_command(tmp_path, capsys):
    """import, render, export and regenerate all read MIDI: each says why in one line, exit status 2."""
    from composer.cli import main

    good = _one_note_midi(tmp_path / "good.mid", note_ticks=4 * 480)
    bad = _one_note_midi(tmp_path / "bad.mid", tempo=0)
    assert main(["-q", "import", str(good), "--out", str(tmp_path / "proj")]) == 0
    (tmp_path / "proj" / "piece.mid").write_bytes(bad.read_bytes())
    capsys.readouterr()
    for args in (["import", str(bad), "--out", str(tmp_path / "other")],
                 ["render", str(bad), "-o", str(tmp_path / "out.wav")],
                 ["export", str(tmp_path / "proj")],
                 ["regenerate", str(tmp_path / "proj")]):
        assert main(["-q", *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.startswith("composer: error: ") and "\n" not in err, (args, err)
        assert "outside 20-400 BPM" in err, (args, err)


@pytest.mark.parametrize("sig", [(0, 4), (33, 4), (4, 64), (7, 128)])
def test_meter_outside_the_range_is_refused(tmp_path, sig):
    path = _one_note_midi(tmp_path / "m.mid", sig=sig)
    with pytest.raises(ScoreError, match=rf"time signature {sig[0]}/{sig[1]} at tick 0 is outside"):
        read_midi(path)


def test_meter_at_the_limits_is_kept(tmp_path):
    for sig in ((1, 1), (32, 32), (7, 8)):
        s = read_midi(_one_note_midi(tmp_path / "m.mid", sig=sig))
        assert (s.bars[0].numerator, s.bars[0].denominator) == sig


def test_note_lasting_hours_is_refused_quickly(tmp_path):
    """A 64-byte file with one note held for five hours once became a 68 MB MusicXML after 78 s."""
    import time

    path = _one_note_midi(tmp_path / "long.mid", note_ticks=5 * 3600 * 2 * 480)
    assert path.stat().st_size < 100
    t0 = time.perf_counter()
    with pytest.raises(ScoreError, match=r"one note \(pitch 60\) lasts 300.0 minutes; at most 30 minutes"):
        read_midi(path)
    assert time.perf_counter() - t0 < 2.0


def test_music_longer_than_the_cap_is_refused(tmp_path):
    late = 31 * 60 * 2 * 480  # 31 minutes at 120 BPM
    path = _one_note_midi(tmp_path / "late.mid", extra=[
        mido.Message("note_on", note=62, velocity=90, time=late),
        mido.Message("note_off", note=62, time=480)])
    with pytest.raises(ScoreError, match=r"the music lasts 31.0 minutes; at most 30 minutes can be imported"):
        read_midi(path)
    # The same notes under a faster tempo map fit.
    fast = _one_note_midi(tmp_path / "fast.mid", tempo=mido.bpm2tempo(240), extra=[
        mido.Message("note_on", note=62, velocity=90, time=late),
        mido.Message("note_off", note=62, time=480)])
    assert read_midi(fast).duration < 30 * 60


def test_pedal_counts_toward_the_length(tmp_path):
    hour = 3600 * 2 * 480
    path = _one_note_midi(tmp_path / "pedal.mid", extra=[
        mido.Message("control_change", control=64, value=127, time=0),
        mido.Message("control_change", control=64, value=0, time=hour)])
    with pytest.raises(ScoreError, match="the music lasts"):
        read_midi(path)


def _tracks_midi(path, n):
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    for i in range(n):
        mid.tracks.append(mido.MidiTrack([mido.MetaMessage("track_name", name=f"T{i}"),
                                          mido.Message("note_on", note=60, velocity=90, time=0),
                                          mido.Message("note_off", note=60, time=480)]))
    mid.save(path)
    return path


def test_track_cap(tmp_path):
    assert len(read_midi(_tracks_midi(tmp_path / "ok.mid", 32)).parts) == 32
    with pytest.raises(ScoreError, match="33 parts with notes; at most 32 tracks"):
        read_midi(_tracks_midi(tmp_path / "many.mid", 33))


def test_note_cap(tmp_path, monkeypatch):
    from symbolic import midi_io

    monkeypatch.setattr(midi_io, "MAX_NOTES", 10)
    mid = mido.MidiFile(type=0, ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    for _ in range(11):
        tr += [mido.Message("note_on", note=60, velocity=90, time=0), mido.Message("note_off", note=60, time=120)]
    mid.save(tmp_path / "n.mid")
    with pytest.raises(ScoreError, match="more than 10 notes"):
        read_midi(tmp_path / "n.mid")
    monkeypatch.setattr(midi_io, "MAX_NOTES", 11)
    assert read_midi(tmp_path / "n.mid").n_notes == 11


def test_file_size_cap(tmp_path):
    from symbolic.midi_io import MAX_FILE_BYTES

    path = tmp_path / "huge.mid"
    with open(path, "wb") as fh:
        fh.write(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0")
        fh.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ScoreError, match="larger than 16 MB"):
        read_midi(path)


def test_smpte_division_is_refused(tmp_path):
    track = b"\x00\x90\x3c\x5a\x60\x80\x3c\x00\x00\xff\x2f\x00"
    data = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\xe7\x28" + b"MTrk" + len(track).to_bytes(4, "big") + track
    (tmp_path / "smpte.mid").write_bytes(data)
    with pytest.raises(ScoreError, match="SMPTE"):
        read_midi(tmp_path / "smpte.mid")


def test_score_validate_enforces_the_caps():
    from symbolic.score import MAX_SECONDS, PPQ, RELEASE_SECONDS, Bar, Note, Score

    def score(**kw):
        s = Score(title="v", bars=[Bar(0, 4, 4)], **kw)
        s.parts = [Part("P", 0, notes=[Note(0, PPQ, 60, 90)])]
        return s

    score().validate()
    for bpm in (0.0, 19.9, 400.1, float("nan")):
        with pytest.raises(ScoreError, match="outside 20-400 BPM"):
            score(tempos=[(0, bpm)]).validate()
    with pytest.raises(ScoreError, match="out of order"):
        score(tempos=[(0, 120.0), (960, 90.0), (480, 100.0)]).validate()
    bad_meter = score()
    bad_meter.bars = [Bar(0, 4, 3)]
    with pytest.raises(ScoreError, match="time signature 4/3 at bar 1"):
        bad_meter.validate()
    too_long = score()
    end = int((MAX_SECONDS + RELEASE_SECONDS + 1) * 2 * PPQ)
    too_long.parts[0].notes.append(Note(end - PPQ, end, 62, 90))
    with pytest.raises(ScoreError, match="at most 30 minutes"):
        too_long.validate()
    many = score()
    many.parts = [Part(f"P{i}", 0) for i in range(33)]
    with pytest.raises(ScoreError, match="33 tracks"):
        many.validate()


def test_control_characters_in_names_round_trip(tmp_path):
    from symbolic.score import PPQ, Bar, Note, Score

    s = Score(title="Ti\x00t\x1ble\r", bars=[Bar(0, 4, 4)], markers=[(0, "Ver\x00se\r\n1")])
    s.parts = [Part("Pi\x00a\x1bno\r", 0, notes=[Note(0, PPQ, 60, 90)]),
               Part("Ba\x07ss é", 33, notes=[Note(0, PPQ, 36, 90)])]
    path = tmp_path / "c.mid"
    path.write_bytes(midi_bytes(s))
    back = read_midi(path)
    assert [p.name for p in back.parts] == ["Piano", "Bass é"]
    assert back.markers == [(0, "Verse 1")]
    assert [(n.start, n.end, n.pitch) for p in back.parts for n in p.notes] == [(0, PPQ, 60), (0, PPQ, 36)]
    # Names read from a file are cleaned too (mido keeps the bytes as written).
    mid = mido.MidiFile(path)
    mid.tracks[1][0] = mido.MetaMessage("track_name", name="Or\x1b[31mgan\x00")
    mid.save(path)
    assert read_midi(path).parts[0].name == "Or[31mgan"


def test_musicxml_imports_at_sounding_pitch_with_each_players_staves_as_one_track(tmp_path, capsys):
    """`composer import` reads MusicXML: the notes come back where piece.mid has them (a tenor sax written a
    ninth up sounds where it was arranged, a piano's two staves are one track, the drums by line and notehead,
    chord symbols are not played); a file of another kind or a broken one gets one line and exit 2."""
    from composer.cli import main
    from composer.pipeline import new_piece
    src = tmp_path / "jazz"
    new_piece("a jazz tune for tenor sax, piano, upright bass and drums, 20 seconds", src, audio=False, seed=1)
    assert main(["-q", "import", str(src / "piece.musicxml"), "--out", str(tmp_path / "imp")]) == 0
    got, want = read_midi(tmp_path / "imp" / "piece.mid"), read_midi(src / "piece.mid")

    def notes(part):
        return sorted((n.start, n.pitch) for n in part.notes)
    pitched = {p.name: notes(p) for p in want.parts if not p.is_drum}
    assert {p.name: notes(p) for p in got.parts if not p.is_drum} == pitched
    drums = [notes(p) for p in got.parts if p.is_drum]
    kit = set(next(notes(p) for p in want.parts if p.is_drum))
    assert len(drums) == 1 and len(kit & set(drums[0])) >= 0.9 * len(set(drums[0]))
    capsys.readouterr()
    bad, other = tmp_path / "bad.musicxml", tmp_path / "tune.abc"
    bad.write_text("<score-partwise><part-list>")
    other.write_text("X:1\nK:C\nCDE|")
    for path, needle in ((bad, "is not a readable MusicXML score"), (other, "is neither MIDI")):
        assert main(["-q", "import", str(path), "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("composer: error: ") and "\n" not in err and needle in err, err
        assert not (tmp_path / "x" / "piece.mid").exists()
