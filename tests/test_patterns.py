import pytest

from symbolic.arrange.patterns import arrange
from symbolic.grid import pulses
from symbolic.score import Note

from .helpers import small_plan


@pytest.mark.parametrize("style", ["pop", "jazz", "rock", "bossa", "waltz", "folk", "ballad", "funk", "reggae",
                                   "edm", "classical", "march"])
@pytest.mark.parametrize("meter", ["4/4", "3/4", "6/8"])
def test_every_role_follows_the_plan(style, meter):
    plan = small_plan(style, meter)
    sheet = plan.to_sheet()
    score = arrange(sheet, seed=1)
    end = sheet.bars[-1].bar.end
    assert [p.name for p in score.parts] == [t.name for t in plan.tracks]
    for part in score.parts:
        assert part.notes, f"{part.name} is empty in {style} {meter}"
        for n in part.notes:
            assert 0 <= n.start < n.end <= end
        if not part.is_drum:
            from symbolic.instruments import instrument_for_program
            inst = instrument_for_program(part.program)
            assert all(inst.low <= n.pitch <= inst.high for n in part.notes), part.name
    # Every bar has notes in the bass and the chords, and the harmony parts sound chord tones on the downbeats.
    bass = next(p for p in score.parts if p.role == "bass")
    for bar in sheet.bars:
        on = [n for n in bass.notes if n.start == bar.bar.start]
        assert on, f"bass is silent on the downbeat of bar {bar.index + 1}"
        assert on[0].pitch % 12 == bar.chords[0].chord.bass_pc
    pad = next(p for p in score.parts if p.role == "pad")
    for bar in sheet.bars:
        pcs = {n.pitch % 12 for n in pad.notes if n.start == bar.bar.start}
        assert pcs <= bar.chords[0].chord.pitch_classes


def test_melody_lands_on_chord_tones_on_strong_beats():
    sheet = small_plan().to_sheet()
    score = arrange(sheet, seed=2)
    mel = next(p for p in score.parts if p.role == "melody")
    strong = total = 0
    for bar in sheet.bars:
        for pul in pulses(bar):
            if pul.strength < 0.6:
                continue
            for n in mel.notes:
                if n.start == pul.start:
                    total += 1
                    strong += n.pitch % 12 in bar.chord_at(n.start).pitch_classes
    assert total > 5 and strong / total >= 0.9


def test_repeated_labels_share_material_with_variation():
    sheet = small_plan().to_sheet()
    score = arrange(sheet, seed=5)
    v1, v2 = sheet.sections[0], sheet.sections[2]
    off = sheet.bars[v2.first_bar].bar.start - sheet.bars[v1.first_bar].bar.start
    mel = next(p for p in score.parts if p.role == "melody")
    a = [(n.start, n.pitch) for n in mel.notes if sheet.bars[v1.first_bar].bar.start <= n.start < sheet.bars[v1.first_bar + v1.n_bars].bar.start]
    b = [(n.start - off, n.pitch) for n in mel.notes if sheet.bars[v2.first_bar].bar.start <= n.start < sheet.bars[v2.first_bar + v2.n_bars].bar.start]
    assert [s for s, _ in a] == [s for s, _ in b]  # same rhythm
    same = sum(x == y for x, y in zip(a, b))
    assert 0.5 * len(a) <= same < len(a)  # mostly the same tune, not identical


def test_regenerate_one_section_and_locked_tracks():
    plan = small_plan()
    sheet = plan.to_sheet()
    base = arrange(sheet, seed=1)
    chorus = sheet.sections[1]
    bars = set(chorus.bar_range)
    new = arrange(sheet, seed=9, base=base, bars=bars, locked={"Bass"})
    lo, hi = sheet.bars[chorus.first_bar].bar.start, sheet.bars[chorus.first_bar + chorus.n_bars].bar.start
    key = lambda n: (n.start, n.end, n.pitch, n.velocity)  # noqa: E731
    changed = False
    for old, cur in zip(base.parts, new.parts):
        outside_old = [key(n) for n in old.notes if not lo <= n.start < hi]
        outside_new = [key(n) for n in cur.notes if not lo <= n.start < hi]
        assert outside_old == outside_new, cur.name
        if cur.name == "Bass":
            assert [key(n) for n in old.notes] == [key(n) for n in cur.notes]
        elif [key(n) for n in old.notes] != [key(n) for n in cur.notes]:
            changed = True
    assert changed


def test_one_track_given_the_others():
    sheet = small_plan().to_sheet()
    base = arrange(sheet, seed=1)
    new = arrange(sheet, seed=2, base=base, tracks={"Flute"})
    for old, cur in zip(base.parts, new.parts):
        same = [(n.start, n.pitch) for n in old.notes] == [(n.start, n.pitch) for n in cur.notes]
        assert same == (cur.name != "Flute")


def test_final_bar_ends_the_piece():
    sheet = small_plan().to_sheet()
    score = arrange(sheet, seed=1)
    last = sheet.bars[-1]
    mel = next(p for p in score.parts if p.role == "melody")
    final = [n for n in mel.notes if n.start >= last.bar.start]
    assert final and final[0].start == last.bar.start and final[0].pitch % 12 == 0  # tonic of C major
    drums = next(p for p in score.parts if p.is_drum)
    assert {n.pitch for n in drums.notes if n.start >= last.bar.start} <= {36, 49}


def test_notes_are_valid():
    with pytest.raises(ValueError):
        Note(10, 10, 60, 80)
    with pytest.raises(ValueError):
        Note(0, 10, 128, 80)


def test_both_arrangers_vary_a_repeat_by_its_label():
    from symbolic.arrange.base import variation_amount
    from symbolic.score import Sheet, SheetSection
    labels = ["A", "B", "A'", " A''", "B ", "C", "'"]
    sheet = Sheet("t", "pop", [], [SheetSection("s", lab, 3, i * 4, 4) for i, lab in enumerate(labels)], [])
    assert [s.material for s in sheet.sections] == ["A", "B", "A", "A", "B", "C", "'"]
    assert [s.primes for s in sheet.sections] == [0, 0, 1, 2, 0, 0, 1]
    amounts = [variation_amount(sheet, i) for i in range(len(labels))]
    assert amounts == pytest.approx([0.0, 0.0, 0.2, 0.32, 0.08, 0.0, 0.0])


def _with_idiom(**changes):
    plan = small_plan(extra_sections=False)
    idiom = plan.idiom.model_dump() | changes
    plan = plan.model_copy(update={"idiom": type(plan.idiom).model_validate(idiom)})
    sheet = plan.to_sheet()
    return sheet, arrange(sheet, seed=4)


def _part(sheet, score, role):
    return next(p for spec, p in zip(sheet.parts, score.parts) if spec.role == role)


def _beat_onsets(sheet, notes, bars=None):
    """Per bar (after the first), the onsets in quarter beats from the barline."""
    out = []
    for b in sheet.bars[1:-1] if bars is None else bars:
        out.append(sorted({(n.start - b.bar.start) / 480 for n in notes if b.bar.start <= n.start < b.bar.end}))
    return out


def test_bass_idioms_play_their_figures():
    sheet, score = _with_idiom(bass="pedal")
    assert {n.pitch % 12 for n in _part(sheet, score, "bass").notes} == {0}  # C major's tonic under every chord
    sheet, score = _with_idiom(bass="tumbao")
    verse = [sheet.bars[i] for i in sheet.sections[1].bar_range][:-1]  # the chorus (energy 4), not its cadence
    for onsets in _beat_onsets(sheet, _part(sheet, score, "bass").notes, verse[1:]):  # the first bar starts on one
        assert 0.0 not in onsets and {1.5, 3.0} <= set(onsets), onsets
    sheet, score = _with_idiom(bass="reggae")
    for onsets in _beat_onsets(sheet, _part(sheet, score, "bass").notes, verse):
        assert 2.0 not in onsets and 0.0 in onsets, onsets  # beat three is the one-drop's
    sheet, score = _with_idiom(bass="running")
    bass = _part(sheet, score, "bass").notes
    moves = [abs(b.pitch - a.pitch) for a, b in zip(bass, bass[1:])]
    assert sum(m <= 5 for m in moves) / len(moves) >= 0.8
    for onsets in _beat_onsets(sheet, bass, verse):
        assert len(onsets) >= 4


def test_comping_idioms_play_their_figures():
    sheet, score = _with_idiom(comping="stabs")
    chords = _part(sheet, score, "chords").notes
    chorus = [sheet.bars[i] for i in sheet.sections[1].bar_range][:-1]
    for onsets in _beat_onsets(sheet, chords, chorus):
        assert {0.75, 1.5, 2.5} <= set(onsets), onsets
    assert all(n.end - n.start <= 120 for b in chorus for n in chords if b.bar.start <= n.start < b.bar.end)
    sheet, score = _with_idiom(comping="shuffle")
    chords = _part(sheet, score, "chords").notes
    for b in chorus:
        root = b.chords[0].chord.root
        on = {n.pitch % 12 for n in chords if n.start == b.bar.start}
        off = {n.pitch % 12 for n in chords if n.start == b.bar.start + 240}
        if (root + 7) % 12 in on:  # the fifth on the beat rises to the sixth on the off-beat
            assert (root + 9) % 12 in off and (root + 7) % 12 not in off, (on, off)


def test_hand_and_frame_drums_play_their_own_strokes():
    """A bodhrán runs in eighths on its low toms, a cajón plays bass and slap, a light percussion part is
    congas, shaker and tambourine: never a crash, a hi-hat or a snare they do not have."""
    from composer.planner import plan_from_brief
    from symbolic.instruments import PERCUSSION
    for brief, kit in (("an Irish reel in D for fiddle, tin whistle and bodhran", "frame drum"),
                       ("a rumba for guitar and cajon, 100 bpm", "cajon"),
                       ("a bossa nova for guitar, flute and light percussion", "hand percussion")):
        sheet = plan_from_brief(brief, 1).to_sheet()
        score = arrange(sheet, seed=1)
        part = next(p for spec, p in zip(sheet.parts, score.parts) if spec.drum)
        assert part.notes and {n.pitch for n in part.notes} <= set(PERCUSSION[kit].strokes), brief
    reel = plan_from_brief("an Irish reel in D for fiddle and bodhran", 1).to_sheet()
    drum = next(p for spec, p in zip(reel.parts, arrange(reel, seed=1).parts) if spec.drum)
    chorus = reel.bars[reel.sections[1].first_bar]
    onsets = [n.start - chorus.bar.start for n in drum.notes if chorus.bar.start <= n.start < chorus.bar.end]
    assert onsets == list(range(0, 1920, 240))  # running eighths


def test_every_instrument_plays_what_it_can():
    """After any arranger: no note outside an instrument's range, one note at a time on winds and brass (the
    lead keeps its top note, two horns on one role take different tones), at most a double stop on a violin."""
    from collections import Counter

    from composer import pipeline
    from symbolic import style_measures
    from symbolic.arrange.finish import playable
    from symbolic.instruments import instrument_for_program, notes_at_once
    plan = small_plan(extra_sections=False)
    tracks = [{"name": "Trumpet", "role": "melody", "program": 56}, {"name": "Horn I", "role": "pad", "program": 60},
              {"name": "Horn II", "role": "pad", "program": 60}, {"name": "Violin", "role": "chords", "program": 40},
              {"name": "Piano", "role": "chords", "program": 0}, {"name": "Bass", "role": "bass", "program": 33},
              {"name": "Guitar", "role": "chords", "program": 25}]
    plan = plan.model_copy(update={"tracks": [type(plan.tracks[0]).model_validate(t) for t in tracks]})
    sheet = plan.to_sheet()
    raw = arrange(sheet, seed=2)
    raw.parts[0].notes.append(Note(0, 480, 100, 80))  # above the trumpet's range
    assert max(Counter(n.start for n in raw.parts[1].notes).values()) > 1  # the pattern pad writes chords
    assert playable(raw, sheet) > 0
    for score in (raw, pipeline.arrange(plan, 2, "patterns")):
        tops = {}
        for spec, part in zip(sheet.parts, score.parts):
            inst = instrument_for_program(spec.program)
            assert all(inst.low <= n.pitch <= inst.high for n in part.notes), spec.name
            most = notes_at_once(spec.program)
            assert max(Counter(n.start for n in part.notes).values()) <= most, spec.name
            if most == 1:
                assert all(a.end <= b.start for a, b in zip(part.notes, part.notes[1:])), spec.name
            tops[spec.name] = {n.start: n.pitch for n in part.notes}
        assert style_measures.unplayable_chords(score) == 0 and style_measures.range_violations(score) == 0
        shared = set(tops["Horn I"]) & set(tops["Horn II"])
        # divisi, not unison: the two horns sound different tones of the chord
        assert shared and sum(tops["Horn I"][t] != tops["Horn II"][t] for t in shared) >= 0.8 * len(shared)


def test_a_building_piece_ends_louder_denser_and_marked_so():
    """"Builds to a climax": the last third at least 12 velocity steps louder and denser than the first; the
    MusicXML marks each part's dynamic where a section changes it."""
    import xml.etree.ElementTree as ET

    import numpy as np

    from composer import pipeline
    from composer.planner import plan_from_brief
    from symbolic.musicxml import to_musicxml
    plan = plan_from_brief("a dark film cue in C minor for strings and French horn that builds to a climax, 90 seconds", 1)
    assert [t.role for t in plan.tracks] == ["melody", "counter-melody", "pad"]  # the strings divide: tune and harmony
    sheet = plan.to_sheet()
    end = sheet.bars[-1].bar.end
    score = pipeline.arrange(plan, 1, "patterns")
    notes = [n for p in score.parts if not p.is_drum for n in p.notes]
    first = [n for n in notes if n.start < end / 3]
    last = [n for n in notes if n.start >= 2 * end / 3]
    assert np.mean([n.velocity for n in last]) - np.mean([n.velocity for n in first]) >= 12
    assert len(last) >= 1.2 * len(first)
    root = ET.fromstring(to_musicxml(score))
    marks = [[d[0].tag for d in part.iter("dynamics")] for part in root.iter("part")]
    # The horn keeps its weight for the build: it rests in the quiet opening and enters loud.
    horn = next(p for p in score.parts if p.name == "French Horn")
    quiet = [s for s in sheet.sections if s.energy <= 2]
    assert quiet and not [n for n in horn.notes for s in quiet
                          if sheet.bars[s.first_bar].bar.start <= n.start < sheet.bars[s.last_bar].bar.end]
    assert all(m and m[-1] in ("f", "ff") for m in marks) and marks[0][0] in ("pp", "p", "mp", "mf"), marks


def test_the_range_table_is_data_with_its_sources():
    """Every instrument the brief reader knows has a professional range in symbolic/data/ranges.json, sounding
    pitch, the comfortable inside the extreme, with a source; facts a player knows hold."""
    import json

    from symbolic.instruments import INSTRUMENTS, RANGES, Instrument, midi_of
    table = json.loads(RANGES.read_text())
    for inst in INSTRUMENTS.values():
        if not isinstance(inst, Instrument):
            continue
        entry = table["instruments"][inst.name]
        assert entry["source"] in table["sources"], inst.name
        assert inst.lowest <= inst.low < inst.high <= inst.highest, inst.name
        assert inst.high - inst.low >= 12, inst.name           # an octave at least, so octave moves can land
    w, v, b, p, f = (INSTRUMENTS[k] for k in ("tin whistle", "violin", "electric bass", "piccolo", "flute"))
    assert (w.lowest, w.voices) == (midi_of("D5"), 1) and v.lowest == midi_of("G3") and b.lowest == midi_of("E1")
    assert p.lowest > f.lowest and v.voices == 2 and INSTRUMENTS["guitar"].tuning == (40, 45, 50, 55, 59, 64)
    assert INSTRUMENTS["piano"].hands == 2 and INSTRUMENTS["piano"].voices == 10
    assert midi_of("Bb1") == 34 and midi_of("C#4") == 61


def test_a_chord_is_what_one_player_can_hold():
    """A guitar: one note per string within a hand's span; a pianist: each hand within its reach; a violin: a
    double stop on neighbouring strings; a wind: one note. What cannot be held loses inner notes first, keeping the top and the bass."""
    from symbolic.arrange.finish import holdable, voicing
    from symbolic.instruments import INSTRUMENTS
    gtr, piano, violin, flute = (INSTRUMENTS[k] for k in ("guitar", "piano", "violin", "flute"))
    assert holdable([48, 52, 55, 60, 64], gtr)               # open C
    assert holdable([43, 47, 50, 55, 59, 67], gtr)           # open G
    assert not holdable([40, 41, 42, 43, 44, 45, 46], gtr)   # seven notes
    assert not holdable([41, 42, 43, 44], gtr)               # four semitones need four strings within four frets
    assert holdable([36, 43, 48, 64, 67, 72], piano)
    assert not holdable([36, 50, 64, 79], piano)             # three spreads of more than a ninth: three hands
    assert holdable([62, 69], violin) and holdable([64, 72], violin) and not holdable([60, 64], flute)
    assert not holdable([57, 79], violin)                    # a stopped A3 and G5: no hand holds both
    assert not holdable([55, 57], violin)                    # both only on the G string
    chord = [Note(0, 480, p, 80) for p in (79, 64, 50, 36)]
    kept = [n.pitch for n in voicing(chord, piano)]
    assert kept[0] == 79 and kept[-1] == 36 and holdable(kept, piano)


def test_a_string_orchestra_divides_and_its_basses_double_the_cellos():
    """'String orchestra' is its five sections: first violins on the tune, seconds answering, violas on the
    harmony, cellos and basses on the bass line in octaves."""
    from composer import pipeline
    from symbolic import style_measures as sm
    plan = pipeline.make_plan("a romantic piece for string orchestra in E minor, one minute", seed=0)
    assert [(t.name, t.role) for t in plan.tracks] == [("Violin I", "melody"), ("Violin II", "counter-melody"),
                                                       ("Viola", "pad"), ("Cello", "bass"), ("Contrabass", "bass")]
    score = pipeline.arrange(plan, 0, "patterns")
    cello, basses = score.parts[3].notes, score.parts[4].notes
    pairs = {(n.start, n.pitch) for n in cello}
    assert sum((n.start, n.pitch + 12) in pairs for n in basses) >= 0.8 * len(basses)
    assert sm.range_violations(score) == sm.unplayable_chords(score) == 0


def test_a_building_piece_keeps_its_low_octave_for_the_climax():
    """The cellos' pedal of a quiet opening sits in their tenor register; the low octave, with the double
    basses under it, comes with the loud sections, so the texture widens as the piece builds."""
    from composer import pipeline
    from symbolic import style_measures as sm
    plan = pipeline.make_plan("an epic piece for string orchestra with brass and timpani in D minor that builds "
                              "to a climax, two minutes", seed=0)
    sheet = plan.to_sheet()
    score = pipeline.arrange(plan, 0, "patterns")
    cello = next(p for p in score.parts if p.name == "Cello")
    quiet = [s for s in sheet.sections if s.energy <= 2]
    loud = [s for s in sheet.sections if s.energy >= 4]
    assert quiet and loud

    def lowest(secs) -> int:
        spans = [(sheet.bars[s.first_bar].bar.start, sheet.bars[s.last_bar].bar.end) for s in secs]
        return min(n.pitch for n in cello.notes if any(a <= n.start < b for a, b in spans))
    assert lowest(quiet) >= lowest(loud) + 12
    assert sm.energy_arc(score, [b.bar for b in sheet.bars])[2] >= 1.2  # wider at the end than at the start
    assert sm.range_violations(score) == 0


def test_the_climax_doubles_the_tune_an_octave_up_not_in_unison():
    """At a build's climax the second violins play the tune an octave above the first, and the melody-on-top
    voicing leaves that doubling where it is (moving it down would only put it on the tune's own notes)."""
    from composer import pipeline
    plan = pipeline.make_plan("an epic piece for string orchestra with brass and timpani in D minor that builds "
                              "to a climax, two minutes", seed=0)
    sheet = plan.to_sheet()
    score = pipeline.arrange(plan, 0, "patterns")
    loud = [sheet.ticks(s) for s in sheet.sections if s.energy >= 5]
    assert loud
    tune = {(n.start, n.pitch) for n in next(p for p in score.parts if p.role == "melody").notes
            if any(a <= n.start < b for a, b in loud)}
    counter = [n for p in score.parts if p.role == "counter-melody" for n in p.notes
               if any(a <= n.start < b for a, b in loud)]
    assert tune and counter
    octave = sum((n.start, n.pitch - 12) in tune for n in counter)
    unison = sum((n.start, n.pitch) in tune for n in counter)
    assert octave >= 0.8 * len(counter) and unison <= 0.05 * len(counter)


def test_a_piece_that_fades_closes_its_texture():
    """"Fades away": in the quiet closing section the piano's low bass notes close up an octave into their
    chords (still the chord's lowest note), so the piece ends narrower as well as softer and sparser."""
    from composer import pipeline
    from symbolic import style_measures as sm
    plan = pipeline.make_plan("a slow nocturne in A minor for piano and cello that fades away at the end, 90 seconds",
                              seed=0)
    sheet = plan.to_sheet()
    assert sheet.sections[-1].energy <= 2 < sheet.sections[0].energy
    score = pipeline.arrange(plan, 0, "patterns")
    piano = next(p for p in score.parts if p.name == "Piano")
    first, last = sheet.ticks(sheet.sections[0]), sheet.ticks(sheet.sections[-1])
    closing = sheet.bars[-1].bar.start

    def lows(a: int, b: int) -> list[int]:
        by: dict[int, list[int]] = {}
        for n in piano.notes:
            if a <= n.start < min(b, closing):
                by.setdefault(n.start, []).append(n.pitch)
        return [min(ps) for ps in by.values() if len(ps) >= 3]
    assert min(lows(*last)) >= min(lows(*first)) + 5
    vel, dens, span = sm.energy_arc(score, [b.bar for b in sheet.bars])
    assert vel < 1 and dens < 1 and span < 1
    assert sm.range_violations(score) == sm.melody_on_top_share(score) - 1 == 0


def test_a_counter_line_that_cannot_drop_an_octave_stays_under_the_tune_another_way():
    """A violin's E4 cannot go an octave down (E3 is under its G3): held over a dip of the flute's tune it stops
    where the tune goes under it; struck above the tune it takes the nearest chord tone under the tune (A3 in A minor)."""
    from symbolic.arrange.finish import lead_on_top
    from symbolic.score import PPQ, Score
    plan = small_plan()
    sheet = plan.to_sheet()
    score = Score(parts=[p.__class__(**{**p.__dict__, "notes": []}) for p in arrange(sheet, seed=0).parts])
    flute, violin = score.parts[0], score.parts[1]
    assert (sheet.parts[0].role, sheet.parts[1].role) == ("melody", "counter-melody")
    bar = 4 * PPQ  # the second bar is A minor
    flute.notes = [Note(0, 2 * PPQ, 72, 80), Note(2 * PPQ, 4 * PPQ, 60, 80), Note(bar, bar + 4 * PPQ, 60, 80)]
    violin.notes = [Note(0, 4 * PPQ, 64, 70), Note(bar + 2 * PPQ, bar + 4 * PPQ, 64, 70)]
    assert lead_on_top(score, sheet) == 2
    assert [(n.start, n.end, n.pitch) for n in violin.notes] == [(0, 2 * PPQ, 64), (bar + 2 * PPQ, bar + 4 * PPQ, 57)]


def test_a_reel_runs_on_between_its_parts_and_holds_only_at_the_end():
    """A reel's tune closes each part on a half-bar note with eighths leading on; only the piece's last bar
    is one long note."""
    from composer.planner import plan_from_brief
    sheet = plan_from_brief("an Irish reel in D for fiddle and bodhran", 1).to_sheet()
    score = arrange(sheet, seed=1)
    lead = next(p for spec, p in zip(sheet.parts, score.parts) if spec.role == "melody")
    assert len(sheet.sections) > 2
    for sec in sheet.sections[:-1]:
        last = sheet.bars[sec.last_bar].bar
        inside = [n for n in lead.notes if last.start <= n.start < last.end]
        assert len(inside) >= 3 and max(n.end - n.start for n in inside) <= last.length // 2, sec.name
    final = sheet.bars[-1].bar
    assert [n.end - n.start for n in lead.notes if n.start >= final.start] == [final.length]
