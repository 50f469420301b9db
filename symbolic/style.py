"""Styles as data: the genre family, the feel (straight, swing at a ratio, shuffle, compound) and the idioms
of the drums, the bass and the comping that make a style sound like itself.

A plan carries one `Idiom`; the arrangers play its parts' idioms and the performance swings at its ratio.
`idiom_for(text)` reads one from a style's words (a plan that predates the idiom, or a hand-written one).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

FEELS = ("straight", "swing", "shuffle", "compound")
# The drums' groove families.
GROOVES = ("backbeat", "half-time", "swing", "brushes", "shuffle", "bossa", "one-drop", "funk", "hiphop",
           "four-on-the-floor", "march", "orchestral", "none")
# The bass idioms.
BASS_IDIOMS = ("walking", "two-feel", "boogie", "root-fifth", "bossa", "tumbao", "running", "pedal", "eighths",
               "funk", "reggae", "waltz", "pop")
# The comping idioms of the chord instruments.
COMPING = ("pop", "rock", "sustained", "strum", "jazz", "bossa", "skank", "stabs", "shuffle", "oom-pah")

# Off-beat eighths land at ratio / (1 + ratio) of the beat: 1.0 straight, 2.0 triplet swing (0.667).
STRAIGHT = 1.0
MAX_SWING = 3.0


@dataclass(frozen=True)
class Idiom:
    genre: str = "pop"
    feel: str = "straight"
    swing: float = STRAIGHT   # long:short ratio of paired eighths; 1.0 unless the feel is swing or shuffle
    drums: str = "backbeat"
    bass: str = "pop"
    comping: str = "pop"

    def __post_init__(self) -> None:
        for value, allowed, what in ((self.feel, FEELS, "feel"), (self.drums, GROOVES, "drum groove"),
                                     (self.bass, BASS_IDIOMS, "bass idiom"), (self.comping, COMPING, "comping")):
            if value not in allowed:
                raise ValueError(f"unknown {what} {value!r}; choose from {', '.join(allowed)}")
        if not STRAIGHT <= self.swing <= MAX_SWING:
            raise ValueError(f"swing ratio {self.swing:g} is outside {STRAIGHT:g}-{MAX_SWING:g}")

    @property
    def swung(self) -> bool:
        return self.feel in ("swing", "shuffle") and self.swing > STRAIGHT

    @property
    def offbeat(self) -> float:
        """Where the off-beat eighth lands, as a fraction of the beat (0.5 straight)."""
        return self.swing / (1 + self.swing) if self.swung else 0.5

    @property
    def feel_words(self) -> str:
        """What a chart prints over its first bar for the feel ("Swing", "Shuffle"); empty when straight."""
        if not self.swung:
            return ""
        if self.feel == "shuffle":
            return "Shuffle"
        return "Swing" if self.swing >= 1.75 else "Light swing"

    def tempo_words(self, bpm: float) -> str:
        """What a chart prints with the metronome mark: the style's own words for jazz, blues, bossa, march
        and waltz, Italian for concert music, plain English for songs."""
        g = self.genre
        if g == "jazz ballad" or (g == "jazz" and bpm < 90):
            return "Ballad"
        if g == "jazz":
            return "Medium swing" if bpm < 190 else "Up-tempo swing"
        if g == "blues":
            return "Slow blues" if bpm < 80 else "Medium shuffle" if bpm < 140 else "Fast shuffle"
        if g in ("bossa", "tango"):
            return "Bossa nova" if g == "bossa" else "Tango"
        if g in ("reel", "jig"):
            return g.capitalize()
        if g == "march":
            return "Tempo di marcia"
        if g == "waltz":
            return "Tempo di valse"
        if g in ("classical", "minuet", "film", "lullaby", "hymn", "ambient"):
            return next(word for top, word in _ITALIAN if bpm < top)
        return next(word for top, word in _ENGLISH if bpm < top)

    def summary(self) -> str:
        feel = f"{self.feel} {self.swing:g}:1" if self.swung else self.feel
        return f"{self.genre}: {feel}; drums {self.drums}, bass {self.bass}, comping {self.comping}"


# Tempo words by the quarter-note (or dotted-quarter) beat: upper bounds.
_ITALIAN = ((60, "Largo"), (76, "Adagio"), (108, "Andante"), (120, "Moderato"), (156, "Allegro"), (176, "Vivace"),
            (1000, "Presto"))
_ENGLISH = ((80, "Slow"), (108, "Moderately"), (140, "Moderately fast"), (1000, "Fast"))


def swing_for_tempo(bpm: float, feel: str) -> float:
    """The swing ratio a player uses at a tempo: about 2:1 up to medium tempo, evening out when fast (jazz
    players' ratios fall towards 1.5:1 above about 250 BPM); a shuffle keeps its triplets."""
    if feel == "shuffle":
        return 2.0
    if feel != "swing":
        return STRAIGHT
    if bpm <= 160:
        return 2.0
    return round(max(1.5, 2.0 - 0.5 * (bpm - 160) / 90), 2)


# One definition per genre the brief reader knows.
GENRES: dict[str, Idiom] = {
    "pop": Idiom("pop", drums="backbeat", bass="pop", comping="pop"),
    "rock": Idiom("rock", drums="backbeat", bass="eighths", comping="rock"),
    "jazz": Idiom("jazz", "swing", 2.0, drums="swing", bass="walking", comping="jazz"),
    "jazz ballad": Idiom("jazz ballad", "swing", 2.0, drums="brushes", bass="two-feel", comping="jazz"),
    "bossa": Idiom("bossa", drums="bossa", bass="bossa", comping="bossa"),
    "tango": Idiom("tango", drums="bossa", bass="bossa", comping="bossa"),
    "blues": Idiom("blues", "shuffle", 2.0, drums="shuffle", bass="boogie", comping="shuffle"),
    "funk": Idiom("funk", drums="funk", bass="funk", comping="stabs"),
    "reggae": Idiom("reggae", drums="one-drop", bass="reggae", comping="skank"),
    "folk": Idiom("folk", drums="backbeat", bass="root-fifth", comping="strum"),
    "reel": Idiom("reel", drums="backbeat", bass="root-fifth", comping="strum"),
    "jig": Idiom("jig", "compound", drums="backbeat", bass="root-fifth", comping="strum"),
    "waltz": Idiom("waltz", drums="backbeat", bass="waltz", comping="oom-pah"),
    "minuet": Idiom("minuet", drums="orchestral", bass="pop", comping="sustained"),
    "classical": Idiom("classical", drums="orchestral", bass="running", comping="sustained"),
    "film": Idiom("film", drums="orchestral", bass="pedal", comping="sustained"),
    "march": Idiom("march", drums="march", bass="pop", comping="pop"),
    "ballad": Idiom("ballad", drums="half-time", bass="pop", comping="sustained"),
    "lullaby": Idiom("lullaby", drums="half-time", bass="pop", comping="sustained"),
    "hymn": Idiom("hymn", drums="backbeat", bass="pop", comping="pop"),
    "ambient": Idiom("ambient", drums="half-time", bass="pop", comping="sustained"),
    "edm": Idiom("edm", drums="four-on-the-floor", bass="eighths", comping="pop"),
    "hiphop": Idiom("hiphop", drums="hiphop", bass="pop", comping="pop"),
}
# Older names for the same definitions.
ALIASES = {"cinematic": "film", "bossa nova": "bossa", "shuffle": "blues", "baroque": "classical"}


# The genres whose melodies run in eighths (fiddle and pipe tunes).
RUNNING_GENRES = ("reel", "jig")
# The genres whose melodies bend the third, the fifth and the seventh.
BLUES_GENRES = ("blues", "jazz", "jazz ballad", "funk")


def blue_notes(genre: str, tonic: int) -> frozenset[int]:
    """The blue notes (flat third, fifth and seventh) of a key's tonic in a genre that plays them."""
    return frozenset((tonic + i) % 12 for i in (3, 6, 10)) if genre in BLUES_GENRES else frozenset()


# The broad style families: the tokenizer's Style tokens, the data's labels, the performance model's classes.
_FAMILY_WORDS = (
    ("jazz", ("jazz", "swing", "bebop", "big band", "new orleans")),
    ("bossa", ("bossa", "latin", "samba", "tango", "afro", "cuban", "brazil")),
    ("funk", ("funk", "disco")), ("reggae", ("reggae", "ska")), ("edm", ("edm", "electronic", "house", "techno", "dance")),
    ("hiphop", ("hip hop", "hip-hop", "hiphop", "trap", "lofi", "lo-fi")), ("blues", ("blues",)),
    ("march", ("march",)), ("waltz", ("waltz",)), ("rock", ("rock", "metal", "punk", "grunge")),
    ("folk", ("folk", "celtic", "country", "bluegrass", "irish", "jig", "reel", "hornpipe")),
    ("ballad", ("ballad", "lullaby", "ambient", "calm", "peaceful")),
    ("classical", ("classical", "baroque", "romantic", "chamber", "quartet", "orchestral", "cinematic", "film",
                   "choral", "renaissance", "madrigal", "minuet", "hymn", "chorale")),
)
FAMILIES = tuple(f for f, _ in _FAMILY_WORDS) + ("pop",)


def style_family(style: str) -> str:
    """The broad family a style's words belong to (one of FAMILIES; "pop" when no word matches)."""
    s = style.lower()
    for fam, words in _FAMILY_WORDS:
        if any(w in s for w in words):
            return fam
    return "pop"


def genre_idiom(genre: str, bpm: float | None = None) -> Idiom:
    """The definition of a genre (by name or alias), its swing set for the tempo when one is given."""
    name = ALIASES.get(genre, genre)
    if name not in GENRES:
        raise ValueError(f"unknown genre {genre!r}; choose from {', '.join(GENRES)}")
    idiom = GENRES[name]
    if bpm is not None and idiom.feel in ("swing", "shuffle"):
        idiom = replace(idiom, swing=swing_for_tempo(bpm, idiom.feel))
    return idiom


def idiom_for(style: str, bpm: float | None = None) -> Idiom:
    """The idiom a style's words name: a dance or a named genre first ("jazz ballad", "reel", "jig"), else
    the family the words belong to."""
    s = (style or "").lower()
    for words, genre in ((("jazz ballad",), "jazz ballad"), (("jig",), "jig"), (("reel", "hornpipe"), "reel"),
                         (("minuet",), "minuet"), (("lullaby",), "lullaby"), (("film", "cinematic", "soundtrack"), "film"),
                         (("tango",), "tango"), (("hymn", "chorale"), "hymn"), (("ambient",), "ambient")):
        if any(w in s for w in words):
            return genre_idiom(genre, bpm)
    return genre_idiom(style_family(s), bpm)
