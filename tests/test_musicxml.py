"""MusicXML export: structure, notes and timing, checked by reading the output back with music21."""
from __future__ import annotations

import random
import re
import time
import xml.etree.ElementTree as ET

import pytest
from music21 import converter, expressions, percussion, stream, tempo
from music21 import note as m21note

from symbolic.harmony import parse_key
from symbolic.musicxml import to_musicxml, write_musicxml
from symbolic.score import PPQ, Bar, Note, Part, Score

METERS = [(4, 4), (4, 4), (3, 4), (3, 4), (6, 8), (6, 8), (4, 4)]


def _bars(meters) -> list[Bar]:
    out, t = [], 0
    for num, den in meters:
        out.append(Bar(t, num, den))
        t = out[-1].end
    return out


def _small() -> Score:
    bars = _bars(METERS)
    s = Score(title="Test Piece", bars=bars,
              tempos=[(0, 96.0), (bars[2].start, 132.0)],
              keys=[(0, parse_key("F major")), (bars[3].start, parse_key("A major"))],
              markers=[(0, "Intro"), (bars[4].start, "Chorus")])
    melody = Part("Melody", 73, role="lead", notes=[
        Note(0, 480, 65, 90),          # F4
        Note(483, 955, 70, 90),        # Bb4, off the grid -> 480..960
        Note(960, 1200, 71, 90),       # B4 natural in F major: shows a natural
        Note(1200, 1440, 71, 90),      # again in the same bar: no accidental
        Note(1440, 2400, 72, 90),      # C5 across the barline 1 | 2
        Note(2400, 3000, 69, 90),      # five 16ths: quarter + 16th tied
        Note(3000, 3360, 67, 90),      # straight after it, so it is written as long as it sounds
        Note(5280, 5760, 73, 90),      # C#5 in A major
        Note(5760, 6240, 68, 90),      # G#4 in A major
        Note(6720, 7440, 76, 90),      # 6/8: dotted quarter
        Note(7440, 7680, 74, 90),
        Note(9600, 11520, 81, 90),     # whole note in the last bar
    ])
    piano = Part("Strings", 48, role="chords", notes=[
        Note(0, 960, 53, 70), Note(0, 960, 57, 70), Note(0, 960, 60, 70),   # chord
        Note(0, 1920, 41, 70),                                              # same onset, longer: voice 2
        Note(1920, 2880, 55, 70), Note(1920, 2880, 58, 70), Note(1920, 2880, 62, 70),
        Note(2880, 3840, 60, 70), Note(3360, 3840, 64, 70),                 # overlap, other onset
        Note(5280, 6720, 57, 70), Note(5280, 6720, 61, 70), Note(5280, 6720, 64, 70),
    ])
    bass = Part("Bass", 33, role="bass", notes=[
        Note(b.start, b.end, p, 100) for b, p in zip(bars, (29, 36, 38, 33, 40, 28, 29))])
    drums = Part("Drums", 0, is_drum=True, role="drums")
    for b in bars:
        drums.notes.append(Note(b.start, b.start + 60, 36, 100))
        for t in range(b.start, b.end, 240):
            drums.notes.append(Note(t, t + 60, 42, 80))
        if b.numerator == 4:
            drums.notes.append(Note(b.start + 480, b.start + 540, 38, 100))
            drums.notes.append(Note(b.start + 1440, b.start + 1500, 38, 100))
    s.parts = [melody, piano, bass, drums]
    return s


@pytest.fixture(scope="module")
def exported():
    score = _small()
    calls: list[tuple[float, str]] = []
    data = to_musicxml(score, progress=lambda f, msg: calls.append((f, msg)))
    parsed = converter.parse(data, format="musicxml")
    return score, data, parsed, calls


def _snap(t: int) -> int:
    return (t + PPQ // 8) // (PPQ // 4) * (PPQ // 4)


def _onsets(part: stream.Part) -> list[tuple[float, int]]:
    """(offset in quarters, MIDI pitch) of each sounded note; tie continuations are skipped."""
    out = []
    for el in part.flatten().notes:
        for sub in (el.notes if el.isChord else [el]):
            if sub.tie is not None and sub.tie.type in ("stop", "continue"):
                continue
            out.append((float(el.offset), sub.pitch.midi))
    return sorted(out)


def test_well_formed_partwise_with_doctype(exported):
    _score, data, _parsed, _calls = exported
    assert data.startswith(b"<?xml")
    assert b"<!DOCTYPE score-partwise" in data
    root = ET.fromstring(data)
    assert root.tag == "score-partwise"
    assert root.findtext("work/work-title") == "Test Piece"
    assert b"Music21" not in data.split(b"<part-list>")[0].replace(b"music21 v", b"")


def test_parts_names_and_measures(exported):
    score, _data, parsed, _calls = exported
    assert [p.partName for p in parsed.parts] == [p.name for p in score.parts]
    for p in parsed.parts:
        measures = list(p.getElementsByClass(stream.Measure))
        assert len(measures) == len(score.bars)
        assert [m.number for m in measures] == list(range(1, len(score.bars) + 1))


def test_time_signatures_where_the_meter_changes(exported):
    _score, _data, parsed, _calls = exported
    for p in parsed.parts:
        sigs = {m.number: m.timeSignature.ratioString for m in p.getElementsByClass(stream.Measure)
                if m.timeSignature is not None}
        assert sigs == {1: "4/4", 3: "3/4", 5: "6/8", 7: "4/4"}


def test_key_signatures(exported):
    _score, _data, parsed, _calls = exported
    for p in list(parsed.parts)[:3]:
        keys = {m.number: m.keySignature.sharps for m in p.getElementsByClass(stream.Measure)
                if m.keySignature is not None}
        assert keys == {1: -1, 4: 3}


def test_every_measure_adds_up_to_its_bar(exported):
    score, _data, parsed, _calls = exported
    for p in parsed.parts:
        for m, b in zip(p.getElementsByClass(stream.Measure), score.bars):
            want = b.length / PPQ
            layers = list(m.voices) or [m]
            for layer in layers:
                assert sum(float(n.quarterLength) for n in layer.notesAndRests) == want, (p.partName, m.number)


def test_pitched_notes_are_preserved_on_the_grid(exported):
    score, _data, parsed, _calls = exported
    for part, out in zip(score.parts[:3], list(parsed.parts)[:3]):
        want = sorted({(_snap(n.start) / PPQ, n.pitch) for n in part.notes})
        assert _onsets(out) == want, part.name


def test_ties_across_the_barline_and_inexpressible_lengths(exported):
    _score, _data, parsed, _calls = exported
    melody = parsed.parts[0].flatten().notes
    c5 = [n for n in melody if n.pitch.midi == 72]
    assert [(float(n.offset), float(n.quarterLength), n.tie.type) for n in c5] == [(3.0, 1.0, "start"),
                                                                                  (4.0, 1.0, "stop")]
    a4 = [n for n in melody if n.pitch.midi == 69]   # five 16ths
    assert [(float(n.offset), float(n.quarterLength), n.tie.type) for n in a4] == [(5.0, 1.0, "start"),
                                                                                  (6.0, 0.25, "stop")]


def test_chords_and_voices(exported):
    _score, _data, parsed, _calls = exported
    m1 = parsed.parts[1].getElementsByClass(stream.Measure)[0]
    assert len(m1.voices) == 2
    chords = list(m1.recurse().getElementsByClass("Chord"))
    assert sorted(p.midi for p in chords[0].pitches) == [53, 57, 60]
    m2 = parsed.parts[1].getElementsByClass(stream.Measure)[1]
    assert len(m2.voices) == 2   # 60 held while 64 enters


def test_spelling_and_accidentals(exported):
    _score, data, parsed, _calls = exported
    melody = parsed.parts[0].flatten().notes
    names = {(float(n.offset), n.pitch.midi): n.pitch.name for n in melody}
    assert names[(1.0, 70)] == "B-"          # F major: flats
    assert names[(11.0, 73)] == "C#"         # A major: sharps
    strings = parsed.parts[1].flatten().notes
    assert any(p.name == "B-" for c in strings for p in c.pitches)
    root = ET.fromstring(data)
    m1 = root.find("part[@id='P1']/measure[@number='1']")
    shown = [n.findtext("accidental") for n in m1.iter("note") if n.find("rest") is None]
    assert shown == [None, None, "natural", None, None]
    m4 = root.find("part[@id='P1']/measure[@number='4']")
    assert [n.findtext("accidental") for n in m4.iter("note") if n.find("rest") is None] == [None, None]


def test_clefs(exported):
    _score, data, _parsed, _calls = exported
    root = ET.fromstring(data)
    signs = [root.findtext(f"part[@id='P{i}']/measure[@number='1']/attributes/clef/sign") for i in range(1, 5)]
    assert signs == ["G", "G", "F", "percussion"]


def test_tempo_and_rehearsal_marks(exported):
    _score, _data, parsed, _calls = exported
    first = parsed.parts[0]
    marks = [(mm.getContextByClass(stream.Measure).number, mm.number)
             for mm in first.recurse().getElementsByClass(tempo.MetronomeMark)]
    assert marks == [(1, 96), (3, 132)]
    rehearsal = [(r.getContextByClass(stream.Measure).number, r.content)
                 for r in first.recurse().getElementsByClass(expressions.RehearsalMark)]
    assert rehearsal == [(1, "Intro"), (5, "Chorus")]


def test_drum_part(exported):
    score, data, parsed, _calls = exported
    drums = parsed.parts[3]
    hits = []
    for el in drums.flatten().notes:
        subs = el.notes if isinstance(el, percussion.PercussionChord) else [el]
        assert all(isinstance(s, m21note.Unpitched) for s in subs)
        hits.extend((float(el.offset), s.displayStep, s.displayOctave) for s in subs)
    assert len(hits) == len({(n.start, n.pitch) for n in score.parts[3].notes})
    root = ET.fromstring(data)
    unpitched = sorted(int(e.text) for e in root.iter("midi-unpitched"))
    assert unpitched == [37, 39, 43]
    drum_notes = [n for n in root.find("part[@id='P4']").iter("note") if n.find("unpitched") is not None]
    assert drum_notes and all(n.find("instrument") is not None for n in drum_notes)
    assert all(n.get("id") is None for n in drum_notes)


def test_progress_reports(exported):
    _score, _data, _parsed, calls = exported
    fractions = [f for f, _ in calls]
    assert len(calls) >= 4 and fractions == sorted(fractions) and fractions[-1] == 1.0


def test_crowded_overlaps_and_odd_meters():
    bars = _bars([(5, 4), (7, 8), (3, 8), (2, 2)])
    s = Score(bars=bars)
    # Six notes that all overlap, with different onsets: more than four voices' worth.
    crowd = Part("Strings", 48, notes=[Note(k * 120, bars[0].end, 60 + k, 80) for k in range(6)])
    crowd.notes.append(Note(bars[1].start + 240, bars[3].start + 480, 67, 80))   # tied over two barlines
    empty = Part("Horn", 60)
    s.parts = [crowd, empty]
    parsed = converter.parse(to_musicxml(s), format="musicxml")
    for p in parsed.parts:
        measures = list(p.getElementsByClass(stream.Measure))
        assert len(measures) == 4
        for m, b in zip(measures, bars):
            assert len(m.voices) <= 4
            for layer in list(m.voices) or [m]:
                assert sum(float(n.quarterLength) for n in layer.notesAndRests) == b.length / PPQ
    assert _onsets(parsed.parts[0]) == sorted({(n.start / PPQ, n.pitch) for n in crowd.notes})
    assert not list(parsed.parts[1].flatten().notes)


def test_score_without_bars_gets_a_four_four_grid():
    s = Score(bars=[], parts=[Part("Piano", 0, notes=[Note(0, 480, 60, 80), Note(4000, 4480, 62, 80)])])
    parsed = converter.parse(to_musicxml(s), format="musicxml")
    assert len(parsed.parts[0].getElementsByClass(stream.Measure)) == 3


def test_write_is_atomic(tmp_path):
    target = tmp_path / "song.musicxml"
    target.write_bytes(b"OLD")

    def boom(fraction, message):
        if fraction > 0.3:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        write_musicxml(_small(), target, progress=boom)
    assert target.read_bytes() == b"OLD"
    assert [p.name for p in tmp_path.iterdir()] == ["song.musicxml"]

    write_musicxml(_small(), target)
    assert target.read_bytes().startswith(b"<?xml")
    assert [p.name for p in tmp_path.iterdir()] == ["song.musicxml"]


def _large(n_bars: int = 90, seed: int = 7) -> Score:
    rnd = random.Random(seed)
    meters = [(3, 4) if 30 <= i < 40 else (6, 8) if 60 <= i < 66 else (4, 4) for i in range(n_bars)]
    bars = _bars(meters)
    s = Score(title="Large", bars=bars, tempos=[(0, 100.0), (bars[45].start, 120.0)],
              keys=[(0, parse_key("Eb major")), (bars[50].start, parse_key("E minor"))],
              markers=[(0, "Intro"), (bars[8].start, "Verse"), (bars[40].start, "Chorus")])
    lead, keys, bass, drums = Part("Lead", 73), Part("Keys", 0), Part("Bass", 33), Part("Drums", 0, True)
    t, end = 0, bars[-1].end
    while t < end:
        d = rnd.choice([120, 240, 240, 360, 480, 720, 960])
        lead.notes.append(Note(max(0, t + rnd.randint(-25, 25)), t + d - 10, rnd.randint(62, 86), 90))
        t += d
    for b in bars:
        for o in range(0, b.length, 480):
            root = rnd.randint(48, 60)
            for iv in (0, 4, 7):
                keys.notes.append(Note(b.start + o, b.start + o + 480, root + iv, 70))
            keys.notes.append(Note(b.start + o + 240, b.start + o + 240 * rnd.randint(2, 6), root + 12, 60))
        for o in range(0, b.length, 240):
            bass.notes.append(Note(b.start + o + (rnd.randint(-15, 15) if o else 0), b.start + o + 230,
                                   rnd.randint(28, 48), 100))
            drums.notes.append(Note(b.start + o, b.start + o + 60, 42, 80))
            if o % 960 == 0:
                drums.notes.append(Note(b.start + o, b.start + o + 60, 36, 100))
    s.parts = [lead, keys, bass, drums]
    return s


def test_large_score_exports_quickly():
    s = _large()
    assert 2700 <= s.n_notes <= 3600 and s.duration > 150
    t0 = time.perf_counter()
    data = to_musicxml(s)
    took = time.perf_counter() - t0
    print(f"\nMusicXML export: {s.n_notes} notes, {len(s.parts)} parts, {len(s.bars)} bars "
          f"({s.duration:.0f} s of music) in {took:.2f} s")
    assert took < 15
    root = ET.fromstring(data)
    parts = root.findall("part")
    assert len(parts) == 4
    assert all(len(p.findall("measure")) == len(s.bars) for p in parts)


def test_chord_symbols_from_the_plan_above_the_first_pitched_part(tmp_path):
    """The plan's chords are written as <harmony> (root, kind, bass) where they change, read back as the same
    chords at the same offsets, spelled as the plan spells them; a project re-exported from plan.json and
    piece.mid (MIDI has no chord symbols) gets them back from the plan."""
    from music21 import harmony

    from composer.pipeline import arrange, export, export_project
    from composer.plan import Plan
    from symbolic.harmony import parse_chord

    plan = Plan.model_validate({
        "title": "Changes", "key": "Eb major", "meter": "4/4", "tempo": 100,
        "tracks": [{"name": "Drums", "role": "drums", "program": 0},
                   {"name": "Piano", "role": "chords", "program": 0},
                   {"name": "Bass", "role": "bass", "program": 33}],
        "sections": [{"name": "A", "label": "A", "bars": 4, "energy": 3,
                      "chords": [["Eb"], ["Cm7", "F7"], ["Bbsus4", "Bb7b9"], ["Abmaj7/C", "Bb9"]]},
                     {"name": "B", "label": "B", "bars": 2, "energy": 3, "chords": [["Bb9"], ["Eb"]]}]})
    score = arrange(plan, arranger="patterns")
    want = [(0, "Eb"), (4, "Cm7"), (6, "F7"), (8, "Bbsus4"), (10, "Bb7b9"), (12, "Abmaj7/C"), (14, "Bb9"),
            (16, "Bb9"), (20, "Eb")]  # (quarter offset, symbol): at each change and each section start
    assert [(t // PPQ, c.text) for t, c in score.chords] == want

    def read(path):
        parsed = converter.parse(str(path))
        piano = next(p for p in parsed.parts if p.partName == "Piano")
        assert not any(parsed.parts[0].recurse().getElementsByClass(harmony.ChordSymbol))  # not on the drums
        return [(float(h.getOffsetInHierarchy(piano)), h) for h in piano.recurse().getElementsByClass(harmony.ChordSymbol)]

    export(plan, score, tmp_path / "a")
    got = read(tmp_path / "a" / "piece.musicxml")
    assert [t for t, _ in got] == [float(t) for t, _ in want]
    for (_, h), (_, text) in zip(got, want):
        chord = parse_chord(text)
        assert {p.pitchClass for p in h.pitches} == set(chord.pitch_classes), text
        assert h.root().name.replace("-", "b") == re.match(r"[A-G][b#]?", text).group(0)  # spelled as the plan spells it
        assert h.bass().pitchClass == (chord.root if chord.bass is None else chord.bass), text
    raw = (tmp_path / "a" / "piece.musicxml").read_text(encoding="utf-8")
    for kind in ("major", "minor-seventh", "dominant", "suspended-fourth", "major-seventh", "dominant-ninth"):
        assert f">{kind}</kind>" in raw, kind
    assert "<bass-step>C</bass-step>" in raw and "<root-alter>-1</root-alter>" in raw
    assert "<degree-value>9</degree-value>" in raw and "<degree-alter>-1</degree-alter>" in raw  # the b9

    # Re-export from plan.json + piece.mid: the symbols come back from the plan.
    (tmp_path / "a" / "piece.musicxml").unlink()
    export_project(tmp_path / "a")
    assert [(t, h.figure) for t, h in read(tmp_path / "a" / "piece.musicxml")] == [(t, h.figure) for t, h in got]


def test_control_characters_in_names_give_well_formed_xml():
    """NUL, ESC, CR and other controls in the title, part names and markers once made XML no parser reads."""
    bars = _bars([(4, 4), (4, 4)])
    s = Score(title="Ti\x00t\x1ble\r 曲", bars=bars, markers=[(0, "Ver\x00se\r\n1"), (bars[1].start, "\x1b\x07")])
    s.parts = [Part("Pi\x00a\x1bno\r é", 0, notes=[Note(0, PPQ, 60, 90)]),
               Part("Dr\x0bums\ud800\ufffe", 0, True, "drums", [Note(0, PPQ, 36, 90)])]
    root = ET.fromstring(to_musicxml(s))
    assert root.findtext("movement-title") == "Title 曲"
    assert [p.findtext("part-name") for p in root.iter("score-part")] == ["Piano é", "Dr ums"]
    assert [r.text for r in root.iter("rehearsal")] == ["Verse 1"]  # a mark of controls alone is no mark
    text = "".join(root.itertext()) + "".join(v for el in root.iter() for v in el.attrib.values())
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", text)


def test_a_swung_plan_prints_its_feel_over_the_first_bar(tmp_path):
    """Jazz is written straight and read swung: the chart says so over bar 1, once, with the tempo words (and a
    straight one says nothing of a feel); a 6/8 tune counts dotted quarters."""
    from composer.pipeline import arrange, export, make_plan
    for brief, words in (("a medium swing jazz tune in F for trumpet, piano, bass and drums, 20 seconds",
                          ["Medium swing"]),
                         ("a shuffle blues in A for guitar, bass and drums, 90 bpm, 20 seconds", ["Medium shuffle"]),
                         ("a jazz tune in F for trumpet, piano, bass and drums, 220 bpm, 20 seconds",
                          ["Up-tempo swing"]),
                         ("a pop song in C for piano and bass, 100 bpm, 20 seconds", ["Moderately"]),
                         ("a minuet in G for string quartet, 3/4, 132 bpm, 20 seconds", ["Allegro"])):
        plan = make_plan(brief, 1)
        out = tmp_path / words[0].replace(" ", "-")
        export(plan, arrange(plan, 1, "patterns"), out)
        root = ET.parse(out / "piece.musicxml").getroot()
        first = root.find("part").find("measure")
        found = [w.text for w in first.iter("words")]
        assert found == words, found
    plan = make_plan("a jig in D for fiddle and guitar, 6/8, dotted quarter = 110, 20 seconds", 1)
    export(plan, arrange(plan, 1, "patterns"), tmp_path / "jig")
    mm = ET.parse(tmp_path / "jig" / "piece.musicxml").getroot().find("part/measure//metronome")
    assert (mm.findtext("beat-unit"), mm.find("beat-unit-dot") is not None, mm.findtext("per-minute")) == \
        ("quarter", True, "110")


def _short_rests_per_note(part: ET.Element) -> float:
    """Rests of a sixteenth or shorter per written note (tie continuations and chord members not counted)."""
    div, rests, notes = 1, 0, 0
    for m in part.iter("measure"):
        if m.find("attributes/divisions") is not None:
            div = int(m.findtext("attributes/divisions"))
        for n in m.iter("note"):
            if n.find("chord") is not None:
                continue
            if n.find("rest") is not None:
                rests += int(n.findtext("duration")) <= div // 4
            elif n.find("tie[@type='stop']") is None:
                notes += 1
    return rests / max(1, notes)


def test_a_lone_piano_is_one_part_on_a_grand_staff_with_the_tune_in_the_right_hand():
    bars = _bars([(4, 4)] * 2)
    tune = Part("Piano", 0, role="melody", notes=[Note(i * 480, i * 480 + 400, 72 + i % 3, 90) for i in range(8)])
    chords = Part("Piano Chords", 0, role="chords", notes=[
        Note(b.start, b.start + 1800, p, 70) for b in bars for p in (48, 55, 64, 67)])
    harp = Part("Harp", 46, role="arpeggio", notes=[Note(i * 240, i * 240 + 200, (43, 50, 59, 62)[i % 4], 70)
                                                     for i in range(16)])
    root = ET.fromstring(to_musicxml(Score(bars=bars, parts=[tune, chords, harp])))
    assert [sp.findtext("part-name") for sp in root.iter("score-part")] == ["Piano", "Harp"]
    for part in root.iter("part"):
        assert part.findtext("measure/attributes/staves") == "2"
        assert [c.findtext("sign") for c in part.findall("measure/attributes/clef")] == ["G", "F"]
    piano = root.find("part[@id='P1']")
    staff_of: dict[int, set[str]] = {}
    for n in piano.iter("note"):
        if n.find("pitch") is not None:
            step, octave = n.findtext("pitch/step"), int(n.findtext("pitch/octave"))
            midi = 12 * (octave + 1) + {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[step]
            staff_of.setdefault(midi, set()).add(n.findtext("staff"))
    assert all(staff_of[p] == {"1"} for p in (72, 73, 74, 64, 67) if p in staff_of)   # tune and upper chord: right
    assert staff_of[48] == {"2"} and staff_of[55] == {"2"}                           # the chord's low half: left
    assert _short_rests_per_note(piano) <= 0.1


def test_transposing_instruments_are_written_at_their_pitch_with_a_transposition():
    bars = _bars([(4, 4)])
    notes = [Note(0, 960, 62, 80), Note(960, 1920, 65, 80)]   # D4, F4 sounding
    parts = [Part("Trumpet", 56, notes=list(notes)), Part("Alto Sax", 65, notes=list(notes)),
             Part("Tenor Sax", 66, notes=list(notes)), Part("Horn", 60, notes=list(notes)),
             Part("Flute", 73, notes=list(notes)), Part("Viola", 41, notes=list(notes))]
    root = ET.fromstring(to_musicxml(Score(bars=bars, parts=parts, keys=[(0, parse_key("Bb major"))])))

    def written(pid):
        p = root.find(f"part[@id='{pid}']")
        return [(n.findtext("pitch/step"), n.findtext("pitch/alter"), n.findtext("pitch/octave"))
                for n in p.iter("note") if n.find("pitch") is not None], p.findtext("measure/attributes/key/fifths")
    assert written("P1") == ([("E", None, "4"), ("G", None, "4")], "0")          # B-flat: a step up, C major
    assert written("P2") == ([("B", None, "4"), ("D", None, "5")], "1")          # E-flat: a sixth up, G major
    assert written("P3") == ([("E", None, "5"), ("G", None, "5")], "0")          # tenor: a ninth up
    assert written("P4") == ([("A", None, "4"), ("C", None, "5")], "-1")         # horn in F: a fifth up, F major
    assert written("P5") == ([("D", None, "4"), ("F", None, "4")], "-2")         # flute: concert pitch
    tr = {p.get("id"): (p.findtext("measure/attributes/transpose/diatonic"),
                        p.findtext("measure/attributes/transpose/chromatic"),
                        p.findtext("measure/attributes/transpose/octave-change")) for p in root.iter("part")}
    assert tr == {"P1": ("-1", "-2", None), "P2": ("-5", "-9", None), "P3": ("-1", "-2", "-1"),
                  "P4": ("-4", "-7", None), "P5": (None, None, None), "P6": (None, None, None)}
    viola = root.find("part[@id='P6']/measure/attributes/clef")
    assert (viola.findtext("sign"), viola.findtext("line")) == ("C", "3")
    assert [sp.findtext("part-abbreviation") for sp in root.iter("score-part")][:2] == ["Tpt.", "A. Sax."] \
        or all(sp.findtext("part-abbreviation") for sp in root.iter("score-part"))


def test_short_notes_read_as_held_lines_or_staccato_not_as_rests():
    bars = _bars([(4, 4)] * 4)
    # Sixteenth-note blips a sixteenth apart, as a generated part may play them.
    blips = [Note(t, t + 60, 67 + (t // 240) % 5, 80) for b in bars for t in range(b.start, b.end, 240)]
    stabs = [Note(t, t + 90, p, 80) for b in bars for t in (b.start + 240, b.start + 1200) for p in (60, 64, 67)]
    score = Score(bars=bars, parts=[Part("Voice", 54, role="melody", notes=blips),
                                    Part("Guitar", 27, role="chords", notes=stabs)])
    root = ET.fromstring(to_musicxml(score))
    voice, guitar = root.find("part[@id='P1']"), root.find("part[@id='P2']")
    assert _short_rests_per_note(voice) == 0 and _short_rests_per_note(guitar) <= 0.1
    assert not list(voice.iter("staccato"))
    assert len(list(guitar.iter("staccato"))) == 8    # each stab, marked once per chord
    # The MIDI is not touched: the same notes come back on the grid.
    parsed = converter.parse(to_musicxml(score), format="musicxml")
    assert _onsets(parsed.parts[0]) == sorted({(n.start / PPQ, n.pitch) for n in blips})


def test_a_build_gets_a_crescendo_into_the_louder_section():
    bars = _bars([(4, 4)] * 8)
    notes = [Note(b.start + k * 480, b.start + k * 480 + 480, 60 + k, 30 if i < 4 else 100)
             for i, b in enumerate(bars) for k in range(4)]
    score = Score(bars=bars, parts=[Part("Violin", 40, role="melody", notes=notes)],
                  markers=[(0, "A"), (bars[4].start, "B")])
    root = ET.fromstring(to_musicxml(score))
    part = root.find("part")
    wedges = [(m.get("number"), w.get("type")) for m in part.iter("measure") for w in m.iter("wedge")]
    assert wedges == [("3", "crescendo"), ("5", "stop")]
    dyn = [(m.get("number"), d[0].tag) for m in part.iter("measure") for d in m.iter("dynamics")]
    assert dyn == [("1", "pp"), ("5", "ff")]


def test_chord_symbols_are_spelled_as_the_plan_spells_them_in_its_key():
    from symbolic.harmony import parse_chord
    bars = _bars([(4, 4)] * 3)
    chords = [(bars[0].start, parse_chord("G")), (bars[1].start, parse_chord("F#dim7")),
              (bars[2].start, parse_chord("Bbmaj7/D"))]
    score = Score(bars=bars, keys=[(0, parse_key("G major"))], chords=chords,
                  parts=[Part("Piano", 0, notes=[Note(b.start, b.end, 67, 80) for b in bars])])
    root = ET.fromstring(to_musicxml(score))
    got = [(h.findtext("root/root-step"), h.findtext("root/root-alter"), h.findtext("kind"),
            h.findtext("bass/bass-step"), h.findtext("bass/bass-alter")) for h in root.iter("harmony")]
    assert got == [("G", None, "major", None, None), ("F", "1", "diminished-seventh", None, None),
                   ("B", "-1", "major-seventh", "D", None)]
