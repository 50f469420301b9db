import pytest

from composer.brief import BriefError, parse_brief


def test_full_brief():
    b = parse_brief("Upbeat pop song in E major, 4/4 at 120 bpm, with piano, electric bass and drums, "
                    "verse-chorus form, about three minutes")
    assert b.key.name == "E major" and b.tempo == 120 and b.meter == (4, 4) and b.seconds == 180
    assert b.form == "verse-chorus" and b.genre == "pop" and "upbeat" in b.moods
    assert [i.name for i in b.instruments] == ["Piano", "Electric Bass", "Drums"]
    assert b.instruments[-1].drum


@pytest.mark.parametrize("text,attr,value", [
    ("a melancholic waltz in D minor for string quartet, ABA, two minutes", "form", "ABA"),
    ("a melancholic waltz in D minor for string quartet, ABA, two minutes", "seconds", 120),
    ("an adagio for strings in G minor", "tempo", 65),
    ("allegro in C", "tempo", 125),
    ("a jig in 6/8 for fiddle", "meter", (6, 8)),
    ("a tune in E-flat major", "key", "Eb major"),
    ("a tune in F# minor", "key", "F# minor"),
    ("a sad song in a minor key", "mode", "minor"),
    ("a piece in A minor", "key", "A minor"),
    ("a minute and a half of ambient music", "seconds", 90),
    ("a 32 bar jazz tune", "bars", 32),
    ("theme and variations for piano", "form", "variations"),
    ("a twelve-bar blues in A", "form", "blues"),
    ("a rondo for flute and harp", "form", "rondo"),
    ("a song with intro and outro", "intro", True),
    ("a song with intro and outro", "outro", True),
    ("a 2:30 rock song", "seconds", 150),
    ("AABA jazz standard", "form", "AABA"),
    ("a ballad that modulates to the relative minor in the bridge", "modulations", "relative@bridge"),
])
def test_reads(text, attr, value):
    b = parse_brief(text)
    got = getattr(b, attr)
    if attr == "key":
        got = got.name
    if attr == "modulations":
        got = f"{got[0].target}@{got[0].where}"
    assert got == value


def test_instrument_names_and_ensembles():
    names = lambda t: [i.name for i in parse_brief(t).instruments]  # noqa: E731
    assert names("for string quartet") == ["Violin", "Violin", "Viola", "Cello"]
    assert names("piano trio") == ["Piano", "Violin", "Cello"]
    assert names("fiddle, upright bass and banjo") == ["Fiddle", "Upright Bass", "Banjo"]
    assert "Tuba" in names("a march for concert band")
    assert names("two violins and a cello") == ["Violin", "Violin", "Cello"]


@pytest.mark.parametrize("text,needle", [
    ("", "empty"),
    ("   ", "empty"),
    ("asdf qwerty", "nothing in the brief"),
    ("a song in C major and in D minor", "two keys"),
    ("presto at 60 bpm", "contradictory"),
    ("a song at 100 bpm and 140 bpm", "two tempos"),
    ("a pop song for theremin and piano", "unknown instrument 'theremin'"),
    ("a 45 minute symphony", "30-minute cap"),
    ("a two hour jam", "30-minute cap"),
    ("a pop song, zero minutes", "zero"),
    ("a piece for 40 violins", "32 tracks"),
    ("x" * 3000, "characters"),
])
def test_bad_briefs(text, needle):
    with pytest.raises(BriefError) as err:
        parse_brief(text)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_named_progression_sets_the_key_and_the_main_section():
    from composer.planner import plan_from_brief
    b = parse_brief("It is built around the chords A, E7, A7, D and the tempo is fast")
    assert b.chords == ["A", "E7", "A7", "D"] and b.key.name == "A major" and b.tempo == 135
    plan = plan_from_brief("a folk song with the progression Am F C G, one minute")
    assert plan.key == "A minor"
    main = next(s for s in plan.sections if s.label == "A")
    assert [bar[0].symbol for bar in main.chords[:4]] == ["Am", "F", "C", "G"]


def test_words_after_with_are_not_taken_for_instruments():
    b = parse_brief("A piano plays a lead melody with chords in the background while a bass guitar keeps time")
    assert [i.name for i in b.instruments] == ["Piano", "Electric Bass"]


@pytest.mark.parametrize("text, chords, key", [
    ("the primary chord progression consists of Eb, Ab, G, Ab, Bb", ["Eb", "Ab", "G", "Ab", "Bb"], "Eb major"),
    ("with a single B/A, E/B, B, C#, F# chord sequence", ["B/A", "E/B", "B", "C#", "F#"], None),
    ("the pattern alternates between the C and G chords", ["C", "G"], "C major"),
    ("The chords Eb, F6, and G are repeated often", ["Eb", "F6", "G"], None),
    ("often revolves around the chords of G6 and D6", ["G6", "D6"], None),
])
def test_progressions_named_in_many_ways(text, chords, key):
    b = parse_brief(text)
    assert b.chords == chords
    assert b.key is not None and (key is None or b.key.name == key)


def test_a_minor_key_hears_its_major_dominant():
    from composer.brief import infer_key
    assert infer_key(["Am", "Dm", "E7", "Am"]).name == "A minor"
    assert infer_key(["Cm", "Fm", "G", "Cm"]).name == "C minor"


# --- numbers read whole, meters and keys checked ---------------------------------------------------

@pytest.mark.parametrize("text,needle", [
    ("a pop song at 1200 bpm", "tempo 1200 BPM is outside 20-400 BPM"),
    ("a pop song at 1000 bpm", "tempo 1000 BPM is outside 20-400 BPM"),
    ("a pop song, tempo 3000", "tempo 3000 BPM is outside 20-400 BPM"),
    ("a pop song at -50 bpm", "tempo -50 BPM is outside 20-400 BPM"),
    ("a pop song at 19 bpm", "tempo 19 BPM is outside 20-400 BPM"),
    ("a jazz tune, -5 minutes", "the requested length (-5 minutes) is negative"),
    ("a jazz tune, minus 90 seconds", "negative"),
    ("a jazz tune, -16 bars", "the requested length (-16 bars) is negative"),
    ("a pop song, 2:30:00", "(150 minutes) is over the 30-minute cap"),
    ("a pop song in 0/4", "meter 0/4 is not supported (numerator 1-32, denominator 1, 2, 4, 8 or 16)"),
    ("a waltz in 7/0", "meter 7/0 is not supported"),
    ("a song in 99/64", "meter 99/64 is not supported"),
    ("a jazz tune 99/64", "meter 99/64 is not supported"),
    ("a march, 5/3 time", "meter 5/3 is not supported"),
    ("a pop song in H#", "unknown key 'H#'"),
    ("a ballad in H# minor", "unknown key 'H# minor'"),
    ("a piece in the key of H", "unknown key 'H'"),
    ("a pop song in C## major", "unknown key 'C## major'"),
    ("a folk tune in 3/4 in 4/4", "two meters (3/4 and 4/4)"),
    ("a 6/8 jig in 9/8 time", "two meters (6/8 and 9/8)"),
    ("a ballad in 3/4 with the bridge in 4/4 and the bridge in 6/8", "the bridge two meters"),
])
def test_out_of_range_and_unreadable_values_are_refused(text, needle):
    with pytest.raises(BriefError) as err:
        parse_brief(text)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text,attr,value", [
    ("a pop song at 400 bpm", "tempo", 400),
    ("a pop song at 20 bpm", "tempo", 20),
    ("a pop song, tempo 96", "tempo", 96),
    ("a folk tune, q = 132", "tempo", 132),
    ("a pop song at 120-bpm", "tempo", 120),
    ("a pop song, 3-5 minutes", "seconds", 300),       # a range, not a negative length
    ("a pop song - 3 minutes", "seconds", 180),        # a dash, not a minus sign
    ("a pop song, 0:45", "seconds", 45),
    ("an ambient piece, 0:12:30", "seconds", 750),     # h:mm:ss
    ("a rock song in 7/8 time", "meter", (7, 8)),
    ("a 12/8 blues", "meter", (12, 8)),
    ("a song in Eb", "key", "Eb major"),
    ("a tune in bb minor", "key", "Bb minor"),
])
def test_whole_numbers_and_stated_values(text, attr, value):
    got = getattr(parse_brief(text), attr)
    assert (got.name if attr == "key" else got) == value


@pytest.mark.parametrize("text,meter", [
    ("a jazz tune that builds 2/3 of the way through", None),
    ("a pop song for 24/7 radio", None),
    ("a pop song for the 12/25 holiday party", None),
    ("a funk tune with 1/8 note hi-hats in 4/4", (4, 4)),
    ("a rock song at 3/4 speed", None),
    ("a 50/50 mix of jazz and funk", None),
    ("a lo-fi beat, 1/2 hour long", None),
    ("a pop song, released 3/14/2024", None),
])
def test_fractions_that_are_not_meters_are_left_alone(text, meter):
    assert parse_brief(text).meter == meter


@pytest.mark.parametrize("text,meter,sections", [
    ("a minuet in 3/4 with the trio in 2/4", (3, 4), [("B", (2, 4))]),
    ("a 5/4 jazz tune with a 7/8 bridge", (5, 4), [("bridge", (7, 8))]),
    ("a pop song in 4/4, the chorus switches to 6/8", (4, 4), [("chorus", (6, 8))]),
    ("a waltz with a 4/4 intro", None, [("intro", (4, 4))]),
    ("a march in 2/4, 6/8 in the trio", (2, 4), [("B", (6, 8))]),
])
def test_a_meter_given_to_a_section_is_not_a_contradiction(text, meter, sections):
    b = parse_brief(text)
    assert b.meter == meter and b.section_meters == sections


def test_control_characters_are_refused_but_line_breaks_are_whitespace():
    with pytest.raises(BriefError, match=r"control character U\+001B at position 8"):
        parse_brief("a waltz\x1b[2J in D minor")
    with pytest.raises(BriefError, match=r"U\+0000"):
        parse_brief("a waltz\x00")
    b = parse_brief('a waltz called "Night\nSong"\n\tin D minor\r\n')
    assert b.title == "Night Song" and b.key.name == "D minor"


@pytest.mark.parametrize("text,meter", [
    ("a waltz in 3/4, solo piano", (3, 4)),
    ("a pop song in 4/4 verse-chorus form", (4, 4)),
    ("a pop song in 4/4 with verses and choruses", (4, 4)),
])
def test_section_words_after_a_meter_do_not_always_name_a_section(text, meter):
    b = parse_brief(text)
    assert b.meter == meter and b.section_meters == []


def test_a_mood_word_never_contradicts_an_explicit_tempo():
    from composer.planner import plan_from_brief
    assert plan_from_brief("A relaxed bossa nova in F for guitar and flute at 128 bpm").tempo == 128
    assert parse_brief("a laid-back groove at 150 bpm").tempo == 150
    with pytest.raises(BriefError, match="'adagio' means about 65 BPM"):
        parse_brief("an adagio at 160 bpm")


def test_a_key_named_for_a_section_is_its_modulation():
    from composer.planner import plan_from_brief
    march = plan_from_brief("a march in Bb major for concert band with a trio section in Eb major, one minute", 1)
    from composer.revise import section_keys
    keys = {s.label[0]: set() for s in march.sections}
    for s, k in zip(march.sections, section_keys(march)):
        keys[s.label[0]].add(k.name)
    assert march.key == "Bb major" and keys == {"A": {"Bb major"}, "B": {"Eb major"}}
    jazz = plan_from_brief("a jazz tune in F with the bridge in D minor", 1)
    assert jazz.key == "F major" and any(s.key == "D minor" for s in jazz.sections)
    with pytest.raises(BriefError, match="two keys"):
        parse_brief("a song in C major and in D major")


def test_a_compound_meter_tempo_counts_the_dotted_quarter():
    from composer.planner import plan_from_brief
    lullaby = plan_from_brief("a lullaby in 6/8 in G major for piano, 70 bpm")
    assert lullaby.tempo == 105 and lullaby.tempo_text() == "dotted quarter = 70 (quarter = 105)"
    assert "6/8 at dotted quarter = 70" in lullaby.reading()
    assert parse_brief("a jig in 6/8 at quarter = 180").tempo == 180  # the brief says which beat
    assert parse_brief("a jig in 6/8, dotted quarter = 110").tempo == 165   # not read as "quarter = 110"
    assert parse_brief("a jig in 6/8, ♩. = 100").tempo == 150
    with pytest.raises(BriefError, match="outside"):
        parse_brief("a jig in 6/8, dotted quarter = 300")   # 450 quarters a minute
    blues = plan_from_brief("a 12-bar blues in 12/8 at 66 bpm for guitar, bass and drums, three minutes")
    assert 160 <= blues.duration_seconds() <= 200 and blues.total_bars % 12 == 0
    assert blues.idiom.feel == "compound"  # the triplets are the meter's own: no swing on top


def test_every_named_instrument_gets_a_part_on_its_nearest_sound():
    from composer.planner import plan_from_brief
    reel = plan_from_brief("an Irish reel in D for fiddle, tin whistle and bodhran", 1)
    assert [(t.name, t.role, t.kit) for t in reel.tracks][-1] == ("Bodhrán", "drums", "frame drum")
    jig = plan_from_brief("a jig with bodhran, fiddle and bouzouki", 1)
    assert {t.name for t in jig.tracks} == {"Fiddle", "Bouzouki", "Bodhrán"}
    assert "Bouzouki (chords, as a steel-string guitar)" in jig.reading()
    assert "Bodhrán (drums, as a frame drum on General MIDI's low toms)" in jig.reading()
    world = plan_from_brief("a piece for oud, darbuka, erhu, cajon, tabla and kalimba", 1)
    assert {t.name for t in world.tracks} == {"Oud", "Darbuka", "Erhu", "Cajón", "Tabla", "Kalimba"}
    with pytest.raises(BriefError, match="zorblax"):
        parse_brief("a song for piano and zorblax")


def test_drums_are_left_out_lightened_or_brushed_as_asked():
    from composer.planner import plan_from_brief
    assert not any(t.drum for t in plan_from_brief("a jazz ballad without drums", 1).tracks)
    assert plan_from_brief("a jazz tune with brushes", 1).idiom.drums == "brushes"
    light = plan_from_brief("a bossa nova for guitar, flute and light percussion", 1)
    assert [(t.name, t.kit) for t in light.tracks if t.drum] == [("Hand Percussion", "hand percussion")]


def test_horns_mean_what_they_mean_where_they_are_said():
    """French horns in an orchestral brief, a brass section in a soul or funk band."""
    from composer.brief import parse_brief
    assert [i.name for i in parse_brief("a film cue for strings, horns and timpani, one minute").instruments] == \
        ["Strings", "French Horn", "Timpani"]
    assert [i.name for i in parse_brief("an orchestral piece in D with strings and horns").instruments] == \
        ["Strings", "French Horn"]
    assert [i.name for i in parse_brief("a soul tune with horns, bass and drums").instruments] == \
        ["Brass", "Bass", "Drums"]
