import math

import pytest

from symbolic import style_measures as sm
from symbolic.harmony import parse_chord, parse_key
from symbolic.score import Bar, Note, Part, Score

Q = 480
BAR = 4 * Q


def bars(n: int = 4, num: int = 4, den: int = 4) -> list[Bar]:
    length = num * Q * 4 // den
    return [Bar(i * length, num, den) for i in range(n)]


def hits(pitch: int, ticks) -> list[Note]:
    return [Note(t, t + Q // 4, pitch, 90) for t in ticks]


def every_bar(offsets, n: int = 4) -> list[int]:
    return [b * BAR + o for b in range(n) for o in offsets]


def chords(*symbols: str):
    return [parse_chord(s) for s in symbols]


# --- timing --------------------------------------------------------------------------------------

def test_swung_ride_reads_two_thirds_and_straight_reads_half():
    grid = bars()
    swung = hits(51, every_bar([k * Q + off for k in range(4) for off in (0, 320)]))
    straight = hits(51, every_bar([k * Q + off for k in range(4) for off in (0, 240)]))
    assert sm.swing_ratio(swung, grid) == pytest.approx(2 / 3)
    assert sm.swing_ratio(straight, grid) == 0.5
    assert sm.late_offbeat_share(swung, grid) == 1.0
    assert sm.late_offbeat_share(straight, grid) == 0.0
    assert sm.on_grid_offbeat_share(swung, grid) == 0.0
    assert sm.on_grid_offbeat_share(straight, grid) == 1.0


def test_straight_sixteenths_are_not_read_as_swing():
    grid = bars()
    sixteenths = hits(42, every_bar([k * 120 for k in range(16)]))
    assert sm.swing_ratio(sixteenths, grid) == 0.5
    assert sm.late_offbeat_share(sixteenths, grid) == 0.0


def test_swing_needs_off_beats_and_simple_meter():
    assert math.isnan(sm.swing_ratio(hits(36, every_bar([0, Q, 2 * Q, 3 * Q])), bars()))
    jig = hits(60, [b * 1440 + k * 240 for b in range(4) for k in range(6)])
    assert math.isnan(sm.swing_ratio(jig, bars(4, 6, 8)))
    assert sm.offbeat_positions([], bars()).size == 0


# --- drums ---------------------------------------------------------------------------------------

def test_rock_beat_has_a_backbeat_and_kick_on_one():
    grid = bars()
    beat = hits(36, every_bar([0, 2 * Q])) + hits(38, every_bar([Q, 3 * Q])) + hits(42, every_bar(range(0, BAR, 240)))
    assert sm.backbeat_share(beat, grid) == 1.0
    assert sm.kick_on_one_share(beat, grid) == 1.0
    assert sm.hihat_24_share(beat, grid) == 1.0
    assert sm.cross_stick_share(beat, grid) == 0.0
    assert sm.ride_share(beat, grid) == 0.0
    assert sm.one_drop_share(beat, grid) == 0.0
    # Snare on 2 only: no backbeat.
    half = hits(36, every_bar([0])) + hits(38, every_bar([Q]))
    assert sm.backbeat_share(half, grid) == 0.0


def test_hits_a_hair_early_count_for_the_bar_they_lead_into():
    grid = bars()
    early = hits(36, [b * BAR - 20 for b in range(1, 4)] + [0]) + hits(38, every_bar([Q - 30, 3 * Q + 30]))
    assert sm.kick_on_one_share(early, grid) == 1.0
    assert sm.backbeat_share(early, grid) == 1.0
    # More than a 32nd late is not on the beat.
    late = hits(36, every_bar([Q // 8 + 1]))
    assert sm.kick_on_one_share(late, grid) == 0.0


def test_cross_stick_pattern_and_no_backbeat():
    grid = bars()
    bossa = hits(37, every_bar([0, 3 * Q // 2, 3 * Q])) + hits(36, every_bar([0, 3 * Q // 2, 2 * Q]))
    assert sm.cross_stick_share(bossa, grid) == 1.0
    assert sm.backbeat_share(bossa, grid) == 0.0
    # One cross-stick hit in a bar is not the pattern.
    assert sm.cross_stick_share(hits(37, every_bar([Q])) + hits(36, every_bar([0])), grid) == 0.0


def test_ride_share_counts_bars_with_three_ride_hits_where_the_drums_play():
    grid = bars()
    ride = hits(51, every_bar([0, Q, 2 * Q, 3 * Q], n=2)) + hits(59, [2 * BAR, 2 * BAR + Q])
    # Bar 4 is silent and left out; bar 3 has only two ride hits.
    assert sm.ride_share(ride, grid) == pytest.approx(2 / 3)
    assert math.isnan(sm.ride_share([], grid))


def test_one_drop_kick_on_three_only():
    grid = bars()
    drop = hits(36, every_bar([2 * Q])) + hits(37, every_bar([2 * Q])) + hits(42, every_bar(range(0, BAR, 240)))
    assert sm.one_drop_share(drop, grid) == 1.0
    assert sm.kick_on_one_share(drop, grid) == 0.0


def test_toms_and_crashes_outside_section_starts():
    grid = bars()
    drums = hits(36, every_bar([0])) + hits(45, [BAR + Q, BAR + 2 * Q, BAR + 3 * Q]) + hits(43, [3 * BAR])
    assert sm.tom_hits_per_bar(drums, grid) == 1.0
    crashes = hits(49, [0, 2 * BAR, BAR + 2 * Q]) + hits(57, [3 * BAR])
    # Sections start at bars 1 and 3: the crash in bar 2 and the one on bar 4 are not at a section start.
    assert sm.crashes_not_at_section_start(drums + crashes, grid, [0, 2 * BAR]) == 2.0
    assert math.isnan(sm.crashes_not_at_section_start([], grid, [0]))


# --- lines ---------------------------------------------------------------------------------------

def test_walking_bass_walks_and_two_feel_does_not():
    grid = bars()
    line = [36, 38, 40, 41, 43, 41, 40, 38, 36, 35, 33, 31, 29, 31, 33, 35]
    walking = [Note(i * Q, (i + 1) * Q, p, 80) for i, p in enumerate(line)]
    assert sm.walking_share(walking, grid) == 1.0
    two_feel = [Note(i * 2 * Q, (i + 1) * 2 * Q, p, 80) for i, p in enumerate([36, 43] * 4)]
    assert sm.walking_share(two_feel, grid) == 0.0
    # Quarters that leap about by octaves are not a walk.
    leaping = [Note(i * Q, (i + 1) * Q, 36 + 12 * (i % 2), 80) for i in range(16)]
    assert sm.walking_share(leaping, grid) == 0.0
    # Eighth notes throughout: too many notes per bar.
    eighths = [Note(i * 240, (i + 1) * 240, 36 + (i % 3), 80) for i in range(32)]
    assert sm.walking_share(eighths, grid) == 0.0
    assert math.isnan(sm.walking_share([], grid))
    assert math.isnan(sm.walking_share(walking, bars(4, 6, 8)))


def test_walking_in_three_four():
    grid = bars(2, 3, 4)
    walk = [Note(i * Q, (i + 1) * Q, p, 80) for i, p in enumerate([36, 38, 40, 41, 40, 38])]
    assert sm.walking_share(walk, grid) == 1.0


def test_leap_share_and_notes_per_bar():
    line = [Note(i * Q, (i + 1) * Q, p, 80) for i, p in enumerate([40, 52, 53, 41, 43])]
    assert sm.leap_share(line) == 0.5
    assert math.isnan(sm.leap_share(line[:1]))
    reel = [Note(i * 240, (i + 1) * 240, 62 + i % 5, 80) for i in range(32)]
    assert sm.median_notes_per_bar(reel, bars()) == 8.0
    # A silent bar is left out; a chord is one onset.
    sparse = [Note(0, Q, 60, 80), Note(0, Q, 64, 80), Note(Q, 2 * Q, 62, 80), Note(2 * BAR, 3 * BAR, 60, 80)]
    assert sm.median_notes_per_bar(sparse, bars(3)) == 1.5


def test_blue_notes_in_major_and_minor():
    c = parse_key("C major")
    melody = [Note(i * Q, (i + 1) * Q, p, 80) for i, p in enumerate([60, 63, 64, 67, 70, 66, 72, 74])]
    # Eb (b3), Bb (b7) and F# (b5) of eight notes.
    assert sm.blue_note_share(melody, c) == 3 / 8
    # In C minor the b3 is the key's own third.
    assert sm.blue_note_share(melody, parse_key("C minor")) == 2 / 8
    assert math.isnan(sm.blue_note_share([], c))


def test_oom_pah_pah():
    grid = bars(2, 3, 4)
    bass = [Note(b * 3 * Q, b * 3 * Q + Q, 36, 80) for b in range(2)]
    chords_ = [Note(b * 3 * Q + k * Q, b * 3 * Q + (k + 1) * Q, p, 70) for b in range(2) for k in (1, 2) for p in (60, 64)]
    assert sm.oom_pah_share(bass, chords_, grid) == 1.0
    assert sm.oom_pah_share(bass, chords_[:2], grid) == 0.0


# --- chords --------------------------------------------------------------------------------------

def test_two_five_one_counts_once():
    assert sm.two_five_count(chords("Dm7", "G7", "Cmaj7")) == 1.0
    assert sm.two_five_count(chords("Dm7", "G7", "Cmaj7"), n_bars=4) == 8.0
    # A repeated chord does not break the motion; a triad ii or a V a step away is not a ii-V.
    assert sm.two_five_count(chords("Dm7", "Dm7", "G7", "Cmaj7", "Em7b5", "A7b9", "Dm")) == 2.0
    assert sm.two_five_count(chords("Dm", "G7", "Dm7", "A7")) == 0.0
    assert math.isnan(sm.two_five_count([]))


def test_seventh_share():
    assert sm.seventh_share(chords("Dm7", "G7", "Cmaj7")) == 1.0
    assert sm.seventh_share(chords("C", "Am", "Dm7b5", "G13")) == 0.5
    assert sm.seventh_share(chords("C6", "Cadd9", "Bdim7", "Fm9")) == 0.5
    assert math.isnan(sm.seventh_share([]))


def test_vocabularies():
    c = parse_key("C major")
    jazz = sm.VOCABULARY["jazz"]
    assert sm.out_of_vocabulary_share(chords("Dm7", "G7", "Cmaj7", "A7", "Dm", "C6"), c, jazz) == 0.0
    assert sm.out_of_vocabulary_share(chords("Dm7", "G7", "Cmaj7", "F#7"), c, jazz) == 0.25
    d = parse_key("D major")
    celtic = sm.VOCABULARY["celtic"]
    assert sm.out_of_vocabulary_share(chords("D", "G", "A7", "C", "Bm", "Em"), d, celtic) == 0.0
    assert sm.out_of_vocabulary_share(chords("D", "G", "Gmaj7", "F"), d, celtic) == 0.5
    assert sm.out_of_vocabulary_share(chords("Em", "D", "C", "Am", "Bm"), parse_key("E minor"), celtic) == 0.0
    a = parse_key("A major")
    blues = sm.VOCABULARY["blues"]
    assert sm.out_of_vocabulary_share(chords("A7", "D7", "A", "E7", "F#7", "Bm7"), a, blues) == 0.0
    assert sm.out_of_vocabulary_share(chords("A7", "Dmaj7"), a, blues) == 0.5
    classical = sm.VOCABULARY["classical"]
    dm = parse_key("D minor")
    # i, iv, N6 (Eb), V7, vii°7 (C#dim7) in D minor; a major II without its seventh is V/V.
    assert sm.out_of_vocabulary_share(chords("Dm", "Gm", "Eb", "A7", "C#dim7", "E"), dm, classical) == 0.0
    assert sm.out_of_vocabulary_share(chords("Dm", "F#m"), dm, classical) == 0.5
    assert sm.vocabulary(["V7/V", "N6", "bVII"], ["VII", "#vii°7"]) == {
        "major": frozenset({(2, "7"), (1, "maj"), (10, "maj")}), "minor": frozenset({(10, "maj"), (11, "dim7")})}
    assert math.isnan(sm.out_of_vocabulary_share([], c, jazz))


# --- the whole score -----------------------------------------------------------------------------

def test_range_violations_and_melody_on_top():
    melody = Part("Flute", 73, False, "melody", [Note(0, Q, 72, 80), Note(Q, 2 * Q, 62, 80), Note(2 * Q, 3 * Q, 50, 80),
                                                 Note(3 * Q, 4 * Q, 79, 80)])
    piano = Part("Piano", 0, False, "chords", [Note(0, 2 * Q, 60, 70), Note(0, 2 * Q, 67, 70)])
    bass = Part("Bass", 33, False, "bass", [Note(0, 4 * Q, 20, 70)])  # below the bass's lowest note (28)
    drums = Part("Drums", 0, True, "drums", hits(36, [0, 2 * Q]) + hits(90, [Q]))
    score = Score(parts=[melody, piano, bass, drums], bars=bars(1))
    # The flute's 50 is under its range (60-96), the bass's 20 under its; drum keys are not ranges.
    assert sm.range_violations(score) == 2.0
    # 72 is over the piano's 67; 62 is under it; 50 and 79 have only the bass under them.
    assert sm.melody_on_top_share(score) == 0.75
    alone = Score(parts=[melody, drums], bars=bars(1))
    assert math.isnan(sm.melody_on_top_share(alone))


def test_brushes_on_every_beat_are_not_a_backbeat():
    grid = bars()
    even = hits(38, every_bar([0, Q, 2 * Q, 3 * Q]))
    assert sm.backbeat_share(even, grid) == 0.0
    accented = [Note(n.start, n.end, 38, 90 if (n.start // Q) % 2 else 50) for n in even]
    assert sm.backbeat_share(accented, grid) == 1.0
