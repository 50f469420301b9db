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
