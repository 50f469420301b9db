"""Reading a free-text brief: key, tempo, meter, length, form, instruments, genre and mood.

The reader only extracts what the text states; the planner fills in genre-aware
defaults. Contradictions and impossible requests raise BriefError with one line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from symbolic.grid import compound_meter
from symbolic.harmony import HarmonyError, Key, parse_key
from symbolic.instruments import ENSEMBLES, INSTRUMENTS, Instrument
from symbolic.score import MAX_BPM, MAX_SECONDS, MAX_TRACKS, MIN_BPM

from .plan import MAX_BARS, PlanError, check_meter

MAX_BRIEF_CHARS = 2000


class BriefError(ValueError):
    """A brief that cannot be planned; the message names the problem."""


@dataclass
class Modulation:
    target: str        # "relative", "dominant", "subdominant", "parallel", "up1", "up2", "down1", or a key name
    where: str         # "bridge", "last", "B", "middle"


@dataclass
class Brief:
    text: str
    key: Key | None = None
    mode: str | None = None          # when only "minor key" / "major" is stated
    tempo: float | None = None
    tempo_word: str | None = None
    no_drums: bool = False        # "no drums", "without drums": the style's default ensemble loses its kit
    brushes: bool = False         # "with brushes": the drums play brushes
    meter: tuple[int, int] | None = None
    section_meters: list[tuple[str, tuple[int, int]]] = field(default_factory=list)  # ("B", (2, 4)): the trio in 2/4
    seconds: float | None = None
    bars: int | None = None
    form: str | None = None          # "verse-chorus", "AABA", "ABA", "rondo", "blues", "variations", letters...
    intro: bool = False
    outro: bool = False
    bridge: bool = False
    instruments: list[Instrument] = field(default_factory=list)
    genre: str | None = None
    moods: list[str] = field(default_factory=list)
    modulations: list[Modulation] = field(default_factory=list)
    title: str | None = None
    chords: list[str] = field(default_factory=list)  # a progression named in the brief
    key_source: str | None = None    # "named" (the brief names the key) or "chords" (inferred from a progression)
    arc: str | None = None           # "build" (the energy rises to the end) or "fade" (it falls away)


NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "sixteen": 16, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "ninety": 90, "half": 0.5, "zero": 0,
}
_NUM = r"(\d+(?:\.\d+)?|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"

TEMPO_TERMS = {  # Italian terms and plain words -> (typical BPM, low, high)
    # The Italian markings sit in the MidiCaps tempo bins (40, 60, 70, 90, 110, 140, 160, 210 BPM), which follow them.
    "grave": (35, 20, 45), "largo": (50, 40, 63), "larghetto": (62, 55, 72), "lento": (55, 45, 65),
    "adagio": (65, 55, 80), "adagietto": (70, 62, 82), "andante": (80, 70, 95), "andantino": (88, 75, 100),
    "moderato": (100, 88, 115), "allegretto": (112, 100, 128), "allegro": (125, 110, 150),
    "vivace": (150, 138, 170), "vivacissimo": (165, 150, 185), "presto": (185, 160, 212),
    "prestissimo": (220, 200, 260),
    # Plain words, placed where MidiCaps-style captions use them (moderate ~ 90-120, fast ~ 120-160 BPM;
    # MidiCaps tags "Very fast" above its Presto and Prestissimo, and our captions say it from 181 BPM).
    "very slow": (56, 40, 66), "slow": (70, 50, 90), "slowly": (70, 50, 90), "relaxed": (84, 65, 100),
    "laid-back": (84, 65, 100), "mid-tempo": (105, 88, 120), "medium tempo": (105, 88, 120),
    "moderate tempo": (105, 88, 120), "moderate": (105, 88, 120), "moderately": (105, 88, 120),
    "brisk": (132, 116, 150), "fast": (135, 118, 200), "quick": (135, 118, 190), "rapid": (135, 118, 200), "very fast": (212, 181, 260),
    "uptempo": (132, 115, 170), "up-tempo": (132, 115, 170),
}

# Tempo words that describe a mood as much as a speed: an explicit number always wins over them.
MOOD_TEMPO_WORDS = ("relaxed", "laid-back", "moderate", "moderately")

GENRES = {
    # word -> genre key used for defaults
    "pop": "pop", "synth-pop": "pop", "synthpop": "pop", "rock": "rock", "punk": "rock", "metal": "rock", "indie": "rock", "grunge": "rock",
    "jazz": "jazz", "swing": "jazz", "bebop": "jazz", "jazz standard": "jazz",
    "bossa nova": "bossa", "bossa": "bossa", "samba": "bossa", "latin": "bossa", "tango": "tango",
    "funk": "funk", "disco": "funk", "soul": "funk", "r&b": "funk",
    "blues": "blues", "reggae": "reggae", "ska": "reggae",
    "folk": "folk", "celtic": "folk", "irish": "folk", "bluegrass": "folk", "country": "folk",
    "jig": "jig", "reel": "reel", "hornpipe": "reel", "shanty": "folk", "shuffle": "blues",
    "classical": "classical", "baroque": "classical", "romantic": "classical", "chamber": "classical",
    "minuet": "minuet", "waltz": "waltz", "march": "march", "lullaby": "lullaby", "ballad": "ballad",
    "hymn": "hymn", "chorale": "hymn", "ambient": "ambient", "cinematic": "cinematic", "film score": "cinematic",
    "soundtrack": "cinematic", "orchestral": "cinematic", "epic": "cinematic", "film": "cinematic",
    "film cue": "cinematic",
    "edm": "edm", "electronic": "edm", "house": "edm", "techno": "edm", "trance": "edm", "synthwave": "edm",
    "hip hop": "hiphop", "hip-hop": "hiphop", "lofi": "hiphop", "lo-fi": "hiphop", "trap": "hiphop",
    "gospel": "pop", "nocturne": "classical", "etude": "classical", "prelude": "classical", "sonatina": "classical",
}

SPECIFIC_GENRES = {"jig", "reel", "waltz", "minuet", "march", "lullaby", "blues", "bossa", "tango", "hymn"}

MOODS = {
    "happy": ("major", 4), "joyful": ("major", 4), "cheerful": ("major", 4), "bright": ("major", 4),
    "upbeat": ("major", 4), "uplifting": ("major", 4), "playful": ("major", 3), "triumphant": ("major", 5),
    "hopeful": ("major", 3), "romantic": (None, 2), "tender": (None, 2), "warm": ("major", 2),
    "sad": ("minor", 2), "melancholic": ("minor", 2), "melancholy": ("minor", 2), "mournful": ("minor", 1),
    "dark": ("minor", 3), "somber": ("minor", 2), "sombre": ("minor", 2), "gloomy": ("minor", 2),
    "tragic": ("minor", 3), "mysterious": ("minor", 2), "eerie": ("minor", 2), "tense": ("minor", 4),
    "angry": ("minor", 5), "aggressive": ("minor", 5), "nostalgic": (None, 2), "wistful": ("minor", 2),
    "calm": (None, 2), "peaceful": ("major", 1), "gentle": (None, 2), "dreamy": (None, 2), "relaxing": (None, 2),
    "energetic": (None, 4), "driving": (None, 4), "intense": (None, 5), "powerful": (None, 5), "epic": (None, 5),
    "heroic": ("major", 5), "quiet": (None, 1), "soft": (None, 2), "lively": ("major", 4), "festive": ("major", 4),
}

FORM_WORDS = [
    (r"\b(?:12|twelve)[- ]bar blues\b", "blues"),
    (r"\btheme (?:and|&) variations\b|\bvariations on\b", "variations"),
    (r"\bverse[- /]+(?:and[- ])?chorus\b|\bverses? and choruses\b|\bsong form\b", "verse-chorus"),
    (r"\brondo\b", "rondo"),
    (r"\bthrough[- ]composed\b", "through"),
    (r"\bternary\b", "ABA"),
    (r"\bbinary\b", "AB"),
    (r"\b32[- ]bar\b", "AABA"),
]


def _num(text: str) -> float:
    return float(NUMBER_WORDS[text]) if text in NUMBER_WORDS else float(text)


def _instrument_names() -> list[str]:
    names = list(INSTRUMENTS) + list(ENSEMBLES)
    plural = {n + "s": n for n in INSTRUMENTS if not n.endswith("s")}
    return sorted(names + list(plural), key=len, reverse=True)


_INSTR_NAMES = _instrument_names()
_INSTR_RE = re.compile(r"(?<![\w-])(" + "|".join(re.escape(n) for n in _INSTR_NAMES) + r")(?![\w-])")
_LIST_START = re.compile(r"\b(for|with|featuring|feat\.|using|scored for|on)\s+(.*)$")
_STOP_WORDS = {"a", "an", "the", "my", "our", "your", "his", "her", "their", "this", "that", "some", "solo", "and",
               "lots", "of", "plenty"}


def _lookup_instruments(name: str) -> list[Instrument]:
    name = name.lower()
    if name in ENSEMBLES:
        return [INSTRUMENTS[k] for k in ENSEMBLES[name]]
    if name in INSTRUMENTS:
        return [INSTRUMENTS[name]]
    if name.endswith("s") and name[:-1] in INSTRUMENTS:
        return [INSTRUMENTS[name[:-1]]]
    return []


# Line breaks and tabs are whitespace in a brief; other C0/C1 controls, lone surrogates and U+FFFE/U+FFFF are not.
_BRIEF_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def parse_brief(text: str) -> Brief:
    if text is None or not text.strip():
        raise BriefError("the brief is empty: describe the piece, e.g. 'a calm waltz in D minor for piano'")
    if len(text) > MAX_BRIEF_CHARS:
        raise BriefError(f"the brief has {len(text)} characters; at most {MAX_BRIEF_CHARS} are allowed")
    ctl = _BRIEF_CONTROL.search(text)
    if ctl:  # NUL, ESC and the like: never part of a description, and the title comes from the text
        raise BriefError(f"the brief contains the control character U+{ord(ctl.group()):04X} at position "
                         f"{ctl.start() + 1}; use plain text")
    brief = Brief(text=text.strip())
    low = " " + re.sub(r"\s+", " ", text.strip().lower()) + " "
    low = low.replace("♯", "#").replace("♭", "b").replace("’", "'").replace("\u2212", "-")
    _read_title(brief, text)
    _read_key(brief, text, low)
    _read_meter(brief, low)
    _read_tempo(brief, low)
    _read_length(brief, low)
    _read_form(brief, text, low)
    _read_genre_mood(brief, low)
    _read_instruments(brief, low)
    brief.no_drums = bool(re.search(r"\b(?:no|without|minus)\s+(?:any\s+)?(?:drums|drum kit|percussion)\b|\bdrumless\b", low))
    brief.brushes = bool(re.search(r"\bbrush(?:es|ed)?\b", low))
    if brief.no_drums:
        brief.instruments = [i for i in brief.instruments if not i.drum]
    _read_horns(brief, low)
    _read_modulation(brief, low)
    _read_chords(brief, text)
    _read_arc(brief, low)
    if not any([brief.key, brief.mode, brief.tempo, brief.meter, brief.seconds, brief.bars, brief.form,
                brief.instruments, brief.genre, brief.moods, brief.tempo_word, brief.intro, brief.outro, brief.chords]):
        raise BriefError(f"nothing in the brief {text.strip()[:60]!r} describes music: name a style, key, "
                         f"instrument, mood, tempo or length")
    return brief


_CONCERT = re.compile(r"\b(?:orchestra|orchestral|symphon\w*|classical|baroque|romantic|chamber|film|cinematic|"
                      r"string quartet|strings|concerto|overture|waltz|nocturne|elegy|fanfare)\b")


def _read_horns(brief: Brief, low: str) -> None:
    """"Horns" means what it means where it is said: French horns in an orchestral or chamber brief, a brass
    section (trumpets, saxes, trombone) in a soul, funk, jazz, rock or pop band."""
    if re.search(r"\bhorns?\b", low) and not re.search(r"\bbrass\b", low) and _CONCERT.search(low) and \
            (brief.genre or "") not in ("jazz", "funk", "soul", "rock", "pop", "reggae", "ska", "blues", "disco"):
        horn = INSTRUMENTS["french horn"]
        brief.instruments = [horn if i.name == "Brass" else i for i in brief.instruments]


def _read_title(brief: Brief, text: str) -> None:
    m = re.search(r"[\"“]([^\"”]{1,80})[\"”]", text)
    if m:
        brief.title = " ".join(m.group(1).split())  # one line


_MODES = r"(major|minor|dorian|mixolydian|lydian|phrygian|aeolian|ionian)"
_KEY_MODE_RE = re.compile(r"(?<![\w'])([A-Ga-g])(#|b|-sharp|-flat| sharp| flat)?[ -]?" + _MODES + r"\b", re.I)
_KEY_BARE_RE = re.compile(r"\b(?:in|key of|key:)\s+([A-G])(#|b|-sharp|-flat| sharp| flat)?(?=[\s,.;:!)]|$)")


# A stated key whose name is not a key ("in H# minor", "key of H", "in C## major"): refused, not skipped.
_ACC = r"(#{1,3}|b{1,3}|-sharp|-flat| sharp| flat)"
_STATED_KEY_RES = (
    re.compile(r"(?<![\w'])(?:in|key of|key:?)\s+([A-Za-z])(#{1,3}|b{1,3}|x|-sharp|-flat| sharp| flat)?[ -]?" + _MODES
               + r"(?![\w#])", re.I),
    re.compile(r"(?<![\w'])(?:in|key of|key:?)\s+([A-Z])" + _ACC + r"(?=[\s,.;:!)]|$)"),
    re.compile(r"(?<![\w'])(?:key of|key:)\s+([A-Z])()(?=[\s,.;:!)]|$)", re.I),
)


def _check_stated_keys(t: str) -> None:
    for pattern in _STATED_KEY_RES:
        for m in pattern.finditer(t):
            letter, acc = m.group(1), (m.group(2) or "").strip(" -")
            mode = m.group(3).lower() if pattern.groups >= 3 and m.group(3) else "major"
            try:
                parse_key(f"{letter.upper()}{ {'sharp': '#', 'flat': 'b'}.get(acc.lower(), acc)} {mode}")
            except HarmonyError:
                name = m.group(0).split(None, 2 if m.group(0).lower().startswith("key of") else 1)[-1].strip()
                raise BriefError(f"unknown key {name!r}: a key is a letter A-G with an optional # or b and a mode, "
                                 f"e.g. 'F# minor' or 'Bb major'") from None


def _read_key(brief: Brief, text: str, low: str) -> None:
    t = " " + re.sub(r"\s+", " ", text.strip()).replace("\u266f", "#").replace("\u266d", "b") + " "
    _check_stated_keys(t)
    found: list[tuple[int, Key]] = []
    for m in _KEY_MODE_RE.finditer(t):
        letter, acc, mode = m.group(1), (m.group(2) or "").strip(" -").lower(), m.group(3).lower()
        pre = t[max(0, m.start() - 8):m.start()].lower()
        if letter == "a" and (not re.search(r"\b(in|of|to|key:?)\s$", pre)
                              or re.match(r"\s*(key|mode|tonality|scale|feel)\b", t[m.end():], re.I)):
            continue  # "a minor key", "a major triumph": the article
        try:
            found.append((m.start(), parse_key(f"{letter.upper()}{ {'sharp': '#', 'flat': 'b'}.get(acc, acc)} {mode}")))
        except HarmonyError:
            continue
    for m in _KEY_BARE_RE.finditer(t):
        if any(abs(m.start(1) - s) <= 1 for s, _ in found) or any(s >= m.start() and s <= m.end() for s, _ in found):
            continue
        acc = (m.group(2) or "").strip(" -").lower()
        found.append((m.start(1), parse_key(f"{m.group(1)}{ {'sharp': '#', 'flat': 'b'}.get(acc, acc)} major")))
    found.sort(key=lambda f: f[0])
    distinct: list[Key] = []
    for _, k in found:
        if all((k.tonic, k.mode) != (d.tonic, d.mode) for d in distinct):
            distinct.append(k)
    # A key named for a section ("a trio section in Eb major", "the bridge in D minor") is that section's
    # modulation, not a second home key.
    owned: dict[tuple[int, str], str] = {}
    for pos, k in found:
        named = re.search(r"\b(" + _SECTIONS + r")\b(?:\s+(?:section|part))?\s+(?:is\s+|goes\s+|moves\s+)?"
                          r"(?:in|to|into)\s+$", t[max(0, pos - 40):pos].lower())
        if named:
            owned.setdefault((k.tonic, k.mode), SECTION_WORDS[named.group(1)])
    home = [k for k in distinct if (k.tonic, k.mode) not in owned] or distinct[:1]
    if len(home) > 1 and not re.search(r"modulat|key change|goes to|moves to|shifts? to", low):
        raise BriefError(f"the brief asks for two keys ({home[0].name} and {home[1].name}); name one home key")
    if distinct:
        brief.key = home[0]
        brief.key_source = "named"
        for k in distinct:
            where = owned.get((k.tonic, k.mode))
            if (k.tonic, k.mode) != (home[0].tonic, home[0].mode):
                brief.modulations.append(Modulation(k.name, where or "auto"))
    if brief.key is None:
        if re.search(r"\bminor\b", low):
            brief.mode = "minor"
        elif re.search(r"\bmajor\b", low):
            brief.mode = "major"


# Which sections a brief can give a meter of their own ("the trio in 2/4", "a 7/8 bridge"); the values are
# the planner's section kinds, "B" meaning the contrasting middle section.
SECTION_WORDS = {"trio": "B", "b section": "B", "b part": "B", "middle section": "B", "middle part": "B",
                 "bridge": "bridge", "chorus": "chorus", "choruses": "chorus", "refrain": "chorus", "verse": "verse",
                 "verses": "verse", "intro": "intro", "introduction": "intro", "outro": "outro", "coda": "outro",
                 "interlude": "interlude"}  # not "solo": "in 3/4, solo piano" names no section
_SECTIONS = "|".join(re.escape(w) for w in sorted(SECTION_WORDS, key=len, reverse=True))
_FRACTION = re.compile(r"(?<![\w/.:])(\d+)\s*/\s*(\d+)(?![\w/]|[.:]\d)")
# A fraction followed by these is not a meter: "1/8 notes", "3/4 of the way", "1/2 hour", "50/50 mix".
_NOT_METER_AFTER = re.compile(r"\s*(?:of\b|notes?\b|ths?\b|%|bpm\b|b\.p\.m|beats? per|minutes?\b|mins?\b|seconds?\b|"
                              r"secs?\b|hours?\b|hrs?\b|days?\b|steps?\b|speed\b|tempo\b|"
                              r"length\b|size\b|split\b|mix\b|chance\b|odds\b|scale\b|rotation\b)")
# What states a meter outright: "in 7/8", "time signature of 5/4", "7/8 time", "a 6/8 jig".
_METER_BEFORE = re.compile(r"(?:\bin(?:to)?|\bswitch(?:es|ing)? to|\bchang(?:es|ing)? to|\bmov(?:es|ing)? to|"
                           r"\bshift(?:s|ing)? to|\btime signature(?: of| is|:)?|\bmetre(?: of| is|:)?|"
                           r"\bmeter(?: of| is|:)?|\bsignature(?: of| is|:)?)\s*(?:an?\s+)?$")
_METER_AFTER = re.compile(r"\s*(?:time\b|meter\b|metre\b|signature\b|feel\b|groove\b|rhythm\b|pulse\b|waltz\b|jig\b)")
# A meter given to one section: "the trio in 2/4", "the bridge switches to 7/8", "a 5/4 bridge", "7/8 in the bridge".
_SECTION_BEFORE = re.compile(r"\b(" + _SECTIONS + r")(?:\s+(?:section|part))?\s+(?:is\s+|are\s+|goes\s+|go\s+|"
                             r"switch(?:es)?\s+|shifts?\s+|moves?\s+|changes?\s+)?(?:in(?:to)?|to)\s+(?:an?\s+)?$")
_SECTION_AFTER = re.compile(r"\s*(?:time\s+|meter\s+|metre\s+)?(?:in|for|during)\s+(?:the\s+|a\s+|its\s+)?(" +
                            _SECTIONS + r")\b")
# "a 7/8 bridge", "the 2/4 trio": the section word right after, with an article before the meter (not
# "in 4/4 verse-chorus form", which names the form).
_ARTICLE_BEFORE = re.compile(r"\b(?:a|an|the|its)\s+$")
_SECTION_NEXT = re.compile(r"\s*(?:time\s+|meter\s+|metre\s+)?(" + _SECTIONS + r")\b(?![-/])")


def _read_meter(brief: Brief, low: str) -> None:
    """Meters written N/D. One that is clearly a meter (stated with "in", "time", "meter", or bare with a
    power-of-two denominator) must be valid; fractions that are not meters ("2/3 of the way", "24/7",
    "1/8 notes", dates) are left alone. A meter given to a section ("the trio in 2/4") is kept apart; two
    different meters for the whole piece are a contradiction."""
    main: list[tuple[int, int]] = []
    sections: list[tuple[str, tuple[int, int]]] = []
    for m in _FRACTION.finditer(low):
        a, b = m.group(1), m.group(2)
        # Digits past six are no meter and no date: out of range (and an odd denominator, not a bare meter).
        num, den = int(a) if len(a) <= 6 else 10**6, int(b) if len(b) <= 6 else 3
        before, after = low[max(0, m.start() - 40):m.start()], low[m.end():m.end() + 40]
        stated = bool(_METER_BEFORE.search(before) or _METER_AFTER.match(after))
        if _NOT_METER_AFTER.match(after) and not _METER_AFTER.match(after):
            continue
        if not stated and (den & (den - 1)):  # a bare fraction such as 2/3 or 12/25: not a meter
            continue
        if f"{a}/{b}" == "24/7" and not _METER_AFTER.match(after):  # "around the clock"
            continue
        try:
            check_meter(num, den, f"{a}/{b}")
        except PlanError as exc:
            raise BriefError(str(exc)) from None
        sec = (_SECTION_BEFORE.search(before) or _SECTION_AFTER.match(after)
               or (_ARTICLE_BEFORE.search(before) and _SECTION_NEXT.match(after)))
        if sec:
            sections.append((SECTION_WORDS[sec.group(1)], (num, den)))
        elif (num, den) not in main:
            main.append((num, den))
    if len(main) > 1:
        a, b = (f"{n}/{d}" for n, d in main[:2])
        raise BriefError(f"the brief asks for two meters ({a} and {b}) for the whole piece; name one, or give the "
                         f"other to a section (e.g. 'the trio in {b}')")
    for where, meter in sections:
        other = [m for w, m in sections if w == where and m != meter]
        if other:
            raise BriefError(f"the brief gives the {where} two meters ({meter[0]}/{meter[1]} and "
                             f"{other[0][0]}/{other[0][1]}); name one")
    if main:
        brief.meter = main[0]
    else:
        words = {"common time": (4, 4), "cut time": (2, 2), "triple meter": (3, 4), "triple time": (3, 4),
                 "in three": (3, 4), "in 3": (3, 4), "compound duple": (6, 8), "duple meter": (2, 4)}
        for w, named in words.items():
            if w in low:
                brief.meter = named
                break
    for where, meter in sections:
        if meter != brief.meter and (where, meter) not in brief.section_meters:
            brief.section_meters.append((where, meter))


_TEMPO_NUM = r"(-?\d+(?:\.\d+)?)(?![\d.])"


def _read_tempo(brief: Brief, low: str) -> None:
    # The whole number with its sign: "1200 bpm" is 1200 (refused), not 200; "-50 bpm" is refused.
    found = re.findall(r"(?<![\w.])" + _TEMPO_NUM + r"[\s-]*(?:bpm|beats per minute|b\.p\.m\.)", low)
    found += re.findall(r"\btempo\s*(?:=|:|of|is|at)?\s*" + _TEMPO_NUM, low)
    found += re.findall(r"(?<!dotted )(?<!dotted-)(?:♩(?!\.)|\bq|\bquarter(?: note)?)\s*=\s*" + _TEMPO_NUM, low)
    # "dotted quarter = 110" (or "♩. = 110") counts dotted quarters, in any meter; the plan counts quarters.
    dotted = re.findall(r"(?:\bdotted[\s-]*quarter(?: note)?|♩\.)\s*=\s*" + _TEMPO_NUM, low)
    bpm = []
    for x, scale in [(x, 1.0) for x in found] + [(x, 1.5) for x in dotted]:
        v = float(x)
        if not (MIN_BPM <= v <= MAX_BPM) or v * scale > MAX_BPM:  # also false for inf
            raise BriefError(f"tempo {x[:12]} BPM is outside {MIN_BPM:g}-{MAX_BPM:g} BPM")
        bpm.append(v * scale)
    distinct = sorted(set(bpm))
    if len(distinct) > 1:
        raise BriefError(f"the brief asks for two tempos ({distinct[0]:g} and {distinct[1]:g} BPM); name one")
    if distinct:
        brief.tempo = distinct[0]
        if compound_meter(*(brief.meter or (4, 4))) and not dotted and \
                not re.search(r"♩\s*=|\bq\s*=|\bquarter(?: note)?s?\b|\beighths?\b", low):
            # In 6/8, 9/8 and 12/8 a musician's tempo counts the dotted quarter; the plan counts quarters.
            brief.tempo = distinct[0] * 1.5
            if brief.tempo > MAX_BPM:
                raise BriefError(f"tempo {distinct[0]:g} BPM (dotted quarter) is {brief.tempo:g} quarters a minute, "
                                 f"over {MAX_BPM:g}")
    for word in sorted(TEMPO_TERMS, key=len, reverse=True):
        if re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", low):
            if word in ("slow", "fast", "quick") and re.search(word + r"\s+(?:fade|build|intro|outro|attack)", low):
                continue
            typical, lo, hi = TEMPO_TERMS[word]
            if brief.tempo is not None and not (lo * 0.8 <= brief.tempo <= hi * 1.25):
                if word in MOOD_TEMPO_WORDS:
                    continue  # a mood, not a tempo command: the number wins
                raise BriefError(f"the brief is contradictory: '{word}' means about {typical} BPM "
                                 f"but it also asks for {brief.tempo:g} BPM")
            brief.tempo_word = word
            if brief.tempo is None:
                brief.tempo = float(typical)
            break


def _negative(low: str, start: int) -> bool:
    """Whether the number at start is written with a minus ("-5 minutes", "minus 5"), not a range ("3-5")."""
    return bool(re.search(r"(?:^|[^\w.\-])-$|\b(?:minus|negative)\s+$", low[max(0, start - 12):start]))


def _read_length(brief: Brief, low: str) -> None:
    secs: list[float] = []
    v: float
    for m in re.finditer(r"(?<![\d:])(\d{1,3}):([0-5]\d)(?::([0-5]\d))?(?![\d:])", low):
        if m.group(3) is not None:  # h:mm:ss
            v = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
        else:  # m:ss
            v = int(m.group(1)) * 60 + int(m.group(2))
        if _negative(low, m.start()):
            raise BriefError(f"the requested length (-{m.group(0)}) is negative")
        secs.append(v)
    if re.search(r"\b(?:a|one) minute and a half\b|\bminute and a half\b", low):
        secs.append(90)
    for m in re.finditer(r"\b" + _NUM + r"(?:\s+and\s+a\s+half)?[- ]?(?:minutes?|mins?)\b", low):
        _refuse_negative(low, m)
        v = _amount(low, m) + (0.5 if "and a half" in m.group(0) else 0)
        if "half a minute" in low[max(0, m.start() - 2):m.end()]:
            v = 0.5
        secs.append(v * 60)
    if re.search(r"\bhalf a minute\b", low):
        secs.append(30)
    for m in re.finditer(r"\b" + _NUM + r"[- ]?(?:seconds?|secs?)\b", low):
        _refuse_negative(low, m)
        secs.append(_amount(low, m))
    for m in re.finditer(r"\b" + _NUM + r"[- ]?(?:hours?|hrs?)\b", low):
        _refuse_negative(low, m)
        secs.append(_amount(low, m) * 3600)
    bars = []
    for m in re.finditer(r"\b" + _NUM + r"[- ]?(?:bars?|measures?)\b", low):
        if not re.match(r"\s*blues", low[m.end():]):
            _refuse_negative(low, m)
            bars.append(_num(m.group(1)))
    if secs:
        s = max(secs) if len(set(secs)) > 1 and re.search(r"\bminute and a half|and a half\b", low) else secs[0]
        if s <= 0:
            raise BriefError("the requested length is zero")
        if s > MAX_SECONDS:
            raise BriefError(f"the requested length ({s / 60:.0f} minutes) is over the {MAX_SECONDS // 60}-minute cap")
        if s < 5:
            raise BriefError(f"the requested length ({s:g} s) is too short; ask for at least 5 seconds")
        brief.seconds = s
    if bars:
        b = bars[0]
        if b <= 0:
            raise BriefError("the requested length is zero bars")
        if b > MAX_BARS:
            raise BriefError(f"the requested length ({b:g} bars) is over the {MAX_BARS}-bar cap")
        if b != int(b):
            raise BriefError(f"the requested length ({b:g} bars) is not a whole number of bars")
        brief.bars = int(b)
    if re.search(r"\b(short|brief|miniature)\b", low) and brief.seconds is None and brief.bars is None:
        brief.seconds = 60.0
    if re.search(r"\b(long|extended|epic length)\b", low) and brief.seconds is None and brief.bars is None:
        brief.seconds = 300.0


def _amount(low: str, m: re.Match) -> float:
    """The number a length match starts with; "1/2 hour" is half an hour, not two."""
    frac = re.search(r"(?<![\w/.])(\d{1,6})\s*/\s*$", low[max(0, m.start() - 10):m.start()])
    if frac and m.group(1).isdigit() and int(m.group(1)) > 0:
        return int(frac.group(1)) / int(m.group(1))
    return _num(m.group(1))


def _refuse_negative(low: str, m: re.Match) -> None:
    if _negative(low, m.start()):
        raise BriefError(f"the requested length (-{m.group(0).strip()}) is negative")


def _read_form(brief: Brief, text: str, low: str) -> None:
    for pattern, form in FORM_WORDS:
        if re.search(pattern, low):
            brief.form = form
            break
    if brief.form is None:
        m = re.search(r"(?<![\w'])([A-E](?:['’]{0,2})){2,10}(?![\w])", text)
        letters = re.sub(r"['’]", "", m.group(0)) if m else ""
        if m and len(letters) >= 2 and len(set(letters)) >= 2 and letters not in ("DJ", "CD", "EDM") and \
                not re.fullmatch(r"[A-G][b#]?", m.group(0)):
            brief.form = m.group(0).replace("’", "'")
    if brief.form is None and re.search(r"\bblues\b", low) and not re.search(r"\bblues[- ]rock\b", low):
        brief.form = "blues"
    brief.intro = bool(re.search(r"\bintro(duction)?\b", low))
    brief.bridge = bool(re.search(r"\bbridge\b", low))
    brief.outro = bool(re.search(r"\b(outro|coda|ending section)\b", low))


def _read_genre_mood(brief: Brief, low: str) -> None:
    found = []
    for word in sorted(GENRES, key=len, reverse=True):
        m = re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", low)
        if m:
            found.append((m.start(), GENRES[word]))
    # Dances and set forms say more than broad styles: "an irish jig" is a jig, "a jazz waltz" a waltz.
    specific = [f for f in found if f[1] in SPECIFIC_GENRES]
    if specific or found:
        brief.genre = min(specific or found)[1]
    if brief.genre == "jazz" and any(g == "ballad" for _, g in found):
        brief.genre = "jazz ballad"
    for word in MOODS:
        if re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", low):
            brief.moods.append(word)


def _read_instruments(brief: Brief, low: str) -> None:
    found: list[tuple[int, list[Instrument]]] = []
    taken = [False] * len(low)
    for m in _INSTR_RE.finditer(low):
        if any(taken[m.start():m.end()]):
            continue
        name = m.group(1)
        if name in ("bass",) and re.search(r"\b(double|walking|bass line|bassline)\b", low[m.start():m.end() + 6]):
            pass
        # "horn" inside "English horn" is matched by the longer name first; skip words used as genre words.
        if name in ("brass", "percussion", "strings", "horns", "synth") and re.search(name + r"[- ](band|section hits)", low):
            continue
        count = 1
        pre = low[max(0, m.start() - 12):m.start()]
        nm = re.search(_NUM + r"\s+$", pre)
        if nm and name not in ENSEMBLES and nm.group(1) not in ("a", "an", "half"):
            count = max(1, min(64, int(_num(nm.group(1)))))
        insts = _lookup_instruments(name)
        found.append((m.start(), insts * count))
        for i in range(m.start(), m.end()):
            taken[i] = True
    found.sort(key=lambda f: f[0])
    brief.instruments = [i for _, insts in found for i in insts]
    if len(brief.instruments) > MAX_TRACKS:
        raise BriefError(f"the brief asks for {len(brief.instruments)} instruments; at most {MAX_TRACKS} tracks are allowed")
    _check_unknown_instruments(brief, low, taken)


_NON_INSTRUMENT = set(GENRES) | set(MOODS) | set(TEMPO_TERMS) | {
    "form", "intro", "outro", "coda", "bridge", "chorus", "verse", "minutes", "minute", "seconds", "bars", "key",
    "major", "minor", "bpm", "tempo", "feel", "groove", "beat", "beats", "vibe", "mood", "style", "ending",
    "modulation", "dancing", "film", "game", "video", "party", "wedding", "children", "kids", "meditation", "study",
    "sleep", "love", "life", "me", "you", "us", "them", "it", "fun", "rain", "night", "morning", "summer", "winter",
    "spring", "autumn", "time", "everyone", "friends", "variations", "theme", "swing", "solos", "solo",
    "chords", "chord", "melody", "melodies", "harmony", "harmonies", "rhythm", "rhythms", "accompaniment",
    "background", "lead", "notes", "riffs", "riff", "progression", "progressions", "lines", "line", "arpeggios",
    "energy", "emotion", "feeling", "passion", "dynamics", "texture", "layers", "sound", "sounds", "touch",
    "pace", "pulse", "changes", "breaks", "fills", "hooks", "hook", "words", "lyrics", "space", "reverb",
}
_NAMES = "|".join(re.escape(n) for n in _INSTR_NAMES)
_LIST_END_RE = re.compile(r"(?:" + _NAMES + r")s?\s*(?:,?\s+and\s+|\s*&\s*)(?:a |an |the )?([a-z][a-z-]*)"
                          r"(?=[,.;]|\s+(?:in|at|with|for|on|and|playing)\b|\s*$)")
_NAME_START_RE = re.compile(r"(?:" + _NAMES + r")s?\b")
_INSTRUMENT_ENDING = re.compile(r"(phone|ello|orn|ute|oon|pet|bone|tar|lin|ina|imba|pipes?|harp|ax|ano|olo|ola|sizer)$")


def _check_unknown_instruments(brief: Brief, low: str, taken: list[bool]) -> None:
    """Words in an instrument list that name no instrument we know get a clear error."""
    for m in re.finditer(r"\b(for|with|featuring)\s+([a-z][a-z -]*?)(?=[,.;]|\s+and\s|\s+in\s|\s+at\s|$)", low):
        start = m.start(2)
        phrase = m.group(2).strip()
        if any(taken[start:start + len(phrase)]):
            continue
        words = phrase.split()
        if not words or words[0] in _STOP_WORDS or len(words) > 2 or any(w in _NON_INSTRUMENT for w in words):
            continue
        if re.match(r"^(\d|" + "|".join(NUMBER_WORDS) + r")\b", phrase):
            continue
        # An error only when the phrase sits in a list of instruments ("theremin and piano", "piano, kazoo")
        # or ends like an instrument's name; other words after "with" are left alone.
        after = low[m.end():m.end() + 30]
        before = low[max(0, m.start() - 30):m.start()]
        coordinated = bool(re.match(r"\s*(,|and|&)\s*(a |an |the )?(" + "|".join(re.escape(n) for n in _INSTR_NAMES[:400]) + r")\b",
                                    after)) or bool(re.search(r"(" + "|".join(re.escape(n) for n in _INSTR_NAMES[:400]) +
                                                             r")\s*(,|and|&)\s*$", before))
        if coordinated or _INSTRUMENT_ENDING.search(words[-1]):
            raise _unknown(phrase)
    # The last item of a list of instruments ("for piano and zorblax", "fiddle, whistle and zorblax").
    for m in _LIST_END_RE.finditer(low):
        word = m.group(1)
        if any(taken[m.start(1):m.end(1)]) or word in _STOP_WORDS or word in _NON_INSTRUMENT or word in NUMBER_WORDS:
            continue
        if not _NAME_START_RE.match(low, m.start(1)):
            raise _unknown(word)


def _unknown(name: str) -> BriefError:
    return BriefError(f"unknown instrument {name!r}; try a common name such as piano, violin, fiddle, electric bass, "
                      f"drums, or an ensemble such as string quartet")


_CHORD_WORD = r"[A-G][#b]?(?:maj7|maj|m7b5|m7|m6|m9|m|dim7|dim|aug|sus4|sus2|7|6|9|add9)?(?:/[A-G][#b]?)?"


def _read_chords(brief: Brief, text: str) -> None:
    """A progression named in the brief ('the chords A, E7, A7, D', 'progression: Am F C G') is kept, and
    when no key is stated the key is inferred from it."""
    from symbolic.harmony import parse_chord
    chord_list = (r"((?:" + _CHORD_WORD + r")(?:\s*(?:,?\s*(?:and|then|to)\b|,|-|–|\|)?\s*" + _CHORD_WORD +
                  r"(?![a-z]))+)")
    # 'the chords A, E7, D', 'progression consists of Eb, Ab, Bb', 'revolves around the chords of G6 and D6',
    # and the list before the word: 'a B/A, E/B, F# chord sequence', 'between the C and G chords'.
    after = re.search(r"(?:chords?|progression|sequence|changes|pattern)(?:\s+(?:progression|sequence))?"
                      r"(?:\s+(?:is|are|of|like|consists|consisting|follows|following|includes|including|goes|"
                      r"built|based|on|around|between|such|as|the|from|features|featuring|with)\b|:)*\s+" + chord_list,
                      text)
    before = re.search(chord_list + r"\s+(?:chords?|progression|chord (?:progression|sequence|pattern|changes))\b", text)
    found = [m for m in (after, before) if m]
    if not found:
        return
    m = min(found, key=lambda x: x.start())
    symbols = re.findall(_CHORD_WORD + r"(?![a-z])", m.group(1))
    chords = []
    for sym in symbols:
        try:
            parse_chord(sym)
            chords.append(sym)
        except HarmonyError:
            continue
    if len(chords) < 2:
        return
    brief.chords = chords[:16]
    if brief.key is None:
        brief.key = infer_key(chords, brief.mode)
        brief.key_source = "chords"


def infer_key(symbols: list[str], mode: str | None = None) -> Key:
    """The key that best explains a chord progression: chord tones inside the scale, with the
    first and last chords weighing most as a possible tonic."""
    from symbolic.harmony import parse_chord
    chords = [parse_chord(c) for c in symbols]
    best, best_score = None, -1e9
    for tonic in range(12):
        for m in ("major", "minor"):
            if mode and m != mode:
                continue
            key = Key(tonic, m)
            scale = set(key.scale_pcs)
            if m == "minor":
                scale.add((tonic + 11) % 12)  # the leading tone of harmonic minor: V is major
            score = sum(sum(1 for pc in c.pitch_classes if pc in scale) / len(c.pitch_classes) for c in chords)
            for c, w in ((chords[0], 1.5), (chords[-1], 1.0)):
                if c.root == tonic and c.is_minor == (m == "minor"):
                    score += w
            if any(c.root == (tonic + 7) % 12 and not c.is_minor for c in chords):
                score += 0.5
            if score > best_score:
                best, best_score = key, score
    names = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    assert best is not None  # mode is None, "major" or "minor", and every key scores above -1e9
    return parse_key(f"{names[best.tonic]} {best.mode}")


ARC_WORDS = [
    (r"\bbuild(?:s|ing)?\b|\bcrescendo\b|\bclimax\b|\bclimactic\b|\bgrow(?:s|ing)? (?:louder|stronger|in intensity)\b"
     r"|\bintensif(?:y|ies|ying)\b|\bgets? (?:louder|bigger|more intense)\b", "build"),
    (r"\bfad(?:es|ing) away\b|\bdi(?:es|ing) away\b|\bwind(?:s|ing)? down\b|\bdiminuendo\b|\bdecrescendo\b"
     r"|\bgets? (?:quieter|softer|calmer)\b", "fade"),
]


def _read_arc(brief: Brief, low: str) -> None:
    """An energy arc over the whole piece: "builds to a climax", "crescendo"; "fades away", "winds down"."""
    found = [(m.start(), arc) for pattern, arc in ARC_WORDS for m in [re.search(pattern, low)] if m]
    if found:
        brief.arc = min(found)[1]


def _read_modulation(brief: Brief, low: str) -> None:
    if not re.search(r"modulat|key change|change key|changes key|goes to the|moves to the|truck driver", low):
        return
    target = "up2" if re.search(r"key change|truck driver", low) else "dominant"
    for pat, t in ((r"relative minor", "relative"), (r"relative major", "relative"), (r"\bdominant\b", "dominant"),
                   (r"subdominant", "subdominant"), (r"parallel (minor|major)", "parallel"),
                   (r"up a (half step|semitone)", "up1"), (r"up a (whole step|tone)", "up2"),
                   (r"down a (half step|semitone)", "down1")):
        if re.search(pat, low):
            target = t
            break
    m = re.search(r"(?:modulat\w*|key change|goes|moves|shifts?)\s+to\s+([a-g](?:#|b)?\s+(?:major|minor))", low)
    if m:
        target = m.group(1)
    where = "auto"
    if re.search(r"\bbridge\b", low):
        where = "bridge"
    elif re.search(r"\b(last|final) (chorus|section|verse|a)\b|\bat the end\b", low):
        where = "last"
    elif re.search(r"\b(b section|middle section|the b\b|trio)\b", low):
        where = "B"
    brief.modulations = [mod for mod in brief.modulations if mod.where != "auto"] + [Modulation(target, where)]
