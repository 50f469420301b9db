"""Briefs that state key, tempo, meter, instruments and length: the MIDI must carry exactly those."""
import mido
import music21
import pytest

from composer.pipeline import arrange, export, make_plan
from symbolic.harmony import parse_key
from symbolic.instruments import INSTRUMENTS
from symbolic.midi_io import midi_bytes
from symbolic.score import Score

BRIEFS = [
    ("Upbeat pop song in E major, 4/4 at 120 bpm, with piano, electric bass and drums, verse-chorus form, about three minutes",
     "E major", 120, (4, 4), ["piano", "electric bass", "drums"], 180),
    ("a melancholic waltz in D minor for string quartet, 3/4 at 150 bpm, ABA, two minutes",
     "D minor", 150, (3, 4), ["violin", "violin", "viola", "cello"], 120),
    ("a jazz tune in Bb major, 4/4 at 140 bpm, AABA, for tenor sax, piano, upright bass and drums, 90 seconds",
     "Bb major", 140, (4, 4), ["tenor sax", "piano", "upright bass", "drums"], 90),
    ("a jig in G major, 6/8 at 110 bpm, for fiddle and acoustic guitar, one minute",  # dotted quarter = 110
     "G major", 165, (6, 8), ["fiddle", "acoustic guitar"], 60),
    ("a dark cinematic piece in C minor, 4/4 at 80 bpm, for french horn, strings and harp, two and a half minutes",
     "C minor", 80, (4, 4), ["french horn", "strings", "harp"], 150),
    ("bossa nova in F major at 128 bpm in 4/4 for flute, nylon guitar, upright bass and drums, 2 minutes",
     "F major", 128, (4, 4), ["flute", "nylon guitar", "upright bass", "drums"], 120),
    ("a march in Bb major, 2/4 at 116 bpm, for trumpet, clarinet, trombone, tuba and snare drum, 90 seconds",
     "Bb major", 116, (2, 4), ["trumpet", "clarinet", "trombone", "tuba", "snare drum"], 90),
    ("a slow twelve-bar blues in A major, 4/4 at 80 bpm, with electric guitar, piano, bass and drums, 2 minutes",
     "A major", 80, (4, 4), ["electric guitar", "piano", "bass", "drums"], 120),
    ("a driving rock song in E minor, 4/4 at 132 bpm with electric guitar, bass and drums, verse-chorus, 3 minutes",
     "E minor", 132, (4, 4), ["electric guitar", "bass", "drums"], 180),
    ("a gentle lullaby in F major, 3/4 at 72 bpm for celesta and harp, one minute",
     "F major", 72, (3, 4), ["celesta", "harp"], 60),
    ("a sad folk ballad in A minor, 4/4 at 76 bpm, for fiddle, acoustic guitar and upright bass, ABA, 100 seconds",
     "A minor", 76, (4, 4), ["fiddle", "acoustic guitar", "upright bass"], 100),
    ("an energetic funk groove in D minor at 104 bpm, 4/4, with brass, clavinet, slap bass and drums, 2 minutes",
     "D minor", 104, (4, 4), ["brass", "clavinet", "slap bass", "drums"], 120),
]


@pytest.mark.slow
@pytest.mark.parametrize("brief,key,tempo,meter,instruments,seconds", BRIEFS, ids=[b[1] + " " + b[0][:20] for b in BRIEFS])
def test_midi_carries_what_the_brief_asks(tmp_path, brief, key, tempo, meter, instruments, seconds):
    plan = make_plan(brief, seed=0)
    score = arrange(plan, seed=0)
    export(plan, score, tmp_path, musicxml=False)
    mid = mido.MidiFile(tmp_path / "piece.mid")
    conductor = mid.tracks[0]
    want = parse_key(key)
    sigs = [m.key for m in conductor if m.type == "key_signature"]
    assert sigs[0] == want.midi_name()
    tempos = [round(mido.tempo2bpm(m.tempo), 3) for m in conductor if m.type == "set_tempo"]
    assert tempos[0] == pytest.approx(tempo)
    meters = [(m.numerator, m.denominator) for m in conductor if m.type == "time_signature"]
    assert meters[0] == meter
    # One track with a fitting GM program per requested instrument; drums on channel 10.
    tracks = []
    for tr in mid.tracks[1:]:
        prog = next(m for m in tr if m.type == "program_change")
        tracks.append((prog.channel, prog.program))
    free = list(tracks)
    for name in instruments:
        inst = INSTRUMENTS[name]
        if inst.drum:
            match = next((t for t in free if t[0] == 9), None)
        else:
            match = next((t for t in free if t[0] != 9 and t[1] == inst.program), None)
        assert match is not None, f"no track for {name} in {tracks}"
        free.remove(match)
    assert mid.length == pytest.approx(seconds, rel=0.15)
    # Same brief and seed, same bytes.
    assert midi_bytes(arrange(make_plan(brief, seed=0), seed=0)) == (tmp_path / "piece.mid").read_bytes()


def heard_key(score) -> tuple[int, str]:
    pitched = [p for p in score.parts if not p.is_drum]
    data = midi_bytes(Score(score.title, pitched, score.bars, score.tempos, score.keys, score.markers))
    found = music21.converter.parseData(data, format="midi").analyze("key")
    return found.tonic.pitchClass, found.mode


@pytest.mark.slow
def test_music21_hears_the_requested_key():
    """music21's key analysis of the notes (drums left out) against the request, over every brief and two seeds.

    Measured at 57 of 60 over seeds 0-4 (the misses: a lullaby heard in its subdominant, a blues in A heard
    in D because of its flat sevenths); the bound below leaves room for one more miss in 24."""
    hits, misses = 0, []
    for seed in (0, 1):
        for brief, key, *_ in BRIEFS:
            want = parse_key(key)
            score = arrange(make_plan(brief, seed=seed), seed=seed)
            got = heard_key(score)
            if got == (want.tonic, want.mode):
                hits += 1
            else:
                misses.append((seed, key, got))
    assert hits / (2 * len(BRIEFS)) >= 0.9, misses
