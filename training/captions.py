"""MidiCaps-style captions written from a piece's features.

`captions(features, n, seed)` gives `n` different captions for one piece: a full paragraph in the
manner of MidiCaps (genre, mood, instruments, meter, tempo, key, chord progression, length), a
shorter description, and a brief like the ones users type ("Upbeat pop song in E major, 4/4 at
120 bpm, with piano, electric bass and drums"). Sentences come from many templates and the choice
is deterministic given the seed.

Features (a dict; missing entries are left out of the text)::

    key: "A minor" | (tonic, mode)   tempo: BPM (quarter notes)   meter: "4/4" | (num, den)
    instruments: [GM program or "drums", ...] or names   genre: "pop"   moods: ["happy", ...]
    energy: 1-5   chords: ["Am", "F", "C", "G"]   chord_repeats: int   duration: seconds
    form: ["intro", "A", "B", ...]   kind: "drum beat" | "drum fill" | "lead sheet" | "chorale" | ...
"""
from __future__ import annotations

import random
import zlib
from typing import Any

from symbolic.harmony import Key

# MidiCaps' instrument summary names of the 128 General MIDI programs.
GM_SHORT_NAMES = (
    "Piano", "Piano", "Electric Piano", "Honky-tonk Piano", "Electric Piano", "Electric Piano", "Harpsichord",
    "Clavinet", "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells",
    "Dulcimer", "Hammond Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion",
    "Harmonica", "Tango Accordion", "Acoustic Guitar", "Acoustic Guitar", "Electric Guitar",
    "Clean Electric Guitar", "Electric Guitar", "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics",
    "Acoustic Bass", "Electric Bass", "Electric Bass", "Fretless Bass", "Slap Bass", "Slap Bass", "Synth Bass",
    "Synth Bass", "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings",
    "Orchestral Harp", "Timpani", "String Ensemble", "String Ensemble", "Synth Strings", "Synth Strings",
    "Choir Aahs", "Voice Oohs", "Synth Voice", "Orchestra Hit", "Trumpet", "Trombone", "Tuba", "Muted Trumpet",
    "French Horn", "Brass Section", "Synth Brass", "Synth Brass", "Soprano Saxophone", "Alto Saxophone",
    "Tenor Saxophone", "Baritone Saxophone", "Oboe", "English Horn", "Bassoon", "Clarinet", "Piccolo", "Flute",
    "Recorder", "Pan Flute", "Bottle Blow", "Shakuhachi", "Whistle", "Ocarina", "Synth Lead", "Synth Lead",
    "Calliope Lead", "Chiffer Lead", "Charang Lead", "Synth Voice", "Synth Lead", "Brass Lead", "Synth Pad",
    "Synth Pad", "Synth Pad", "Synth Pad", "Synth Pad", "Synth Pad", "Synth Pad", "Synth Pad", "Synth Effects",
    "Synth Effects", "Synth Effects", "Synth Effects", "Synth Effects", "Synth Effects", "Synth Effects",
    "Synth Effects", "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom", "Synth Drum",
    "Reverse Cymbal", "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring",
    "Helicopter", "Applause", "Gunshot",
)

# MidiCaps tempo words: an Italian marking per bin (boundaries 40 60 70 90 110 140 160 210 BPM)
# and a plain English one.
_ITALIAN = ((40, "Grave"), (60, "Largo"), (70, "Adagio"), (90, "Andante"), (110, "Moderato"), (140, "Allegro"),
            (160, "Vivace"), (210, "Presto"), (10_000, "Prestissimo"))
_ENGLISH = ((60, "very slow"), (90, "slow"), (121, "moderate"), (181, "fast"), (10_000, "very fast"))


def instrument_name(program: int | str) -> str:
    if program == "drums" or program == 128:
        return "Drums"
    if isinstance(program, str):
        return program
    return GM_SHORT_NAMES[int(program) % 128]


def tempo_words(bpm: float) -> tuple[str, str]:
    """(Italian marking, English word) for a tempo, as MidiCaps words them."""
    italian = next(w for b, w in _ITALIAN if bpm < b)
    english = next(w for b, w in _ENGLISH if bpm < b)
    return italian, english


def duration_word(seconds: float) -> str:
    """MidiCaps' length words: short fragment, short song, song, long piece."""
    if seconds < 30:
        return "short fragment"
    if seconds < 120:
        return "short song"
    if seconds < 300:
        return "song"
    return "long piece"


def _length_phrase(word: str) -> str:
    return "full-length song" if word == "song" else word


def moods_for(mode: str | None, energy: int | None, bpm: float | None, genre: str = "") -> list[str]:
    """Mood words from the mode, the energy (1-5) and the tempo."""
    e = energy or 3
    fast = (bpm or 100) >= 120
    slow = (bpm or 100) < 80
    if mode is None:  # no harmony to go by (drums): energy and tempo only
        if e >= 4 or fast:
            words = ["energetic", "driving", "powerful", "groovy", "busy"]
        elif e <= 2 or slow:
            words = ["laid-back", "relaxed", "steady", "sparse", "gentle"]
        else:
            words = ["groovy", "steady", "tight", "lively", "solid"]
    elif mode == "minor":
        if e >= 4 or fast:
            words = ["dramatic", "dark", "intense", "energetic", "driving"]
        elif e <= 2 or slow:
            words = ["melancholic", "sad", "emotional", "reflective", "dark"]
        else:
            words = ["emotional", "melodic", "bittersweet", "moody", "reflective"]
    else:
        if e >= 4 or fast:
            words = ["happy", "energetic", "upbeat", "uplifting", "joyful"]
        elif e <= 2 or slow:
            words = ["calm", "relaxing", "peaceful", "tender", "romantic"]
        else:
            words = ["happy", "melodic", "warm", "cheerful", "hopeful"]
    g = genre.lower()
    if "chorale" in g or "religious" in g:
        words = ["solemn", "devotional"] + words[:3]
    elif "children" in g:
        words = ["playful", "cheerful"] + words[:3]
    return words


def _key_text(key: Any) -> str | None:
    if key is None:
        return None
    if isinstance(key, Key):
        return key.name
    if isinstance(key, (tuple, list)):
        return Key(int(key[0]) % 12, str(key[1])).name
    return str(key)


def _meter_text(meter: Any) -> str | None:
    if meter is None:
        return None
    if isinstance(meter, (tuple, list)):
        return f"{meter[0]}/{meter[1]}"
    return str(meter)


def _join(items: list[str]) -> str:
    items = [i for i in items if i]
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


_FORM_WORDS = {"I": "intro", "O": "outro", "i": "intro", "o": "outro", "X": "interlude"}


def _form_text(form: list[str] | None) -> str | None:
    if not form:
        return None
    words: list[str] = []
    for f in form:
        w = _FORM_WORDS.get(f, f)
        if not words or words[-1] != w:
            words.append(w)
    if len(words) < 2:
        return None
    letters = [w for w in words if len(w) == 1]
    if len(words) > 9:
        return "a form that begins " + "-".join(words[:8])
    shape = "-".join(words)
    if len(letters) >= 2:
        return f"a form of {shape}"
    return f"a {shape} form"


class _Writer:
    """Sentence pieces for one piece's features, with a seeded random source."""

    def __init__(self, f: dict, rng: random.Random) -> None:
        self.f, self.rng = f, rng
        self.key = _key_text(f.get("key"))
        self.meter = _meter_text(f.get("meter"))
        self.bpm = f.get("tempo")
        self.genre = (f.get("genre") or "").strip()
        names: list[str] = []
        for p in f.get("instruments") or []:
            n = instrument_name(p)
            if n not in names:
                names.append(n)
        self.instruments = names
        mode = None
        if self.key:
            mode = "minor" if "minor" in self.key else "major"
        self.moods = list(f.get("moods") or moods_for(mode, f.get("energy"), self.bpm,
                                                      f"{self.genre} {f.get('kind') or ''}"))
        self.chords = [c for c in (f.get("chords") or []) if c]
        self.repeats = int(f.get("chord_repeats") or 0)
        self.duration = f.get("duration")
        self.form = _form_text(f.get("form"))
        self.kind = f.get("kind") or ""

    def pick(self, options: list[str]) -> str:
        return self.rng.choice(options)

    def mood(self, n: int = 2) -> list[str]:
        k = min(n, len(self.moods))
        return self.rng.sample(self.moods[:4], min(k, len(self.moods[:4])))

    def instr(self, lower: bool = True) -> str:
        names = [n.lower() if lower and n not in ("Hammond Organ",) else n for n in self.instruments]
        return _join(names)

    def tempo_phrase(self) -> str | None:
        if not self.bpm:
            return None
        bpm = int(round(self.bpm))
        italian, english = tempo_words(self.bpm)
        return self.pick([
            f"at {bpm} bpm", f"at a {english} tempo of {bpm} bpm", f"at {_article(english)} {english} tempo",
            f"at {_article(italian)} {italian} tempo", f"at {bpm} beats per minute", f"in a {english} {bpm} bpm pulse",
            f"at a {english} pace",
        ])

    def tempo_sentence(self) -> str | None:
        if not self.bpm:
            return None
        bpm = int(round(self.bpm))
        italian, english = tempo_words(self.bpm)
        return self.pick([
            f"The tempo is {english}, around {bpm} beats per minute.",
            f"It moves at {bpm} bpm.",
            f"The tempo is set to {italian}.",
            f"It is played at {_article(english)} {english} pace of {bpm} bpm.",
            f"The pulse sits at {bpm} bpm, {_article(italian)} {italian}.",
        ])

    def key_sentence(self) -> str | None:
        if not self.key:
            return None
        return self.pick([f"It is in the key of {self.key}.", f"The piece is written in {self.key}.",
                          f"The key is {self.key}.", f"It is set in {self.key}."])

    def meter_sentence(self) -> str | None:
        if not self.meter:
            return None
        return self.pick([f"The time signature is {self.meter}.", f"It is in {self.meter} time.",
                          f"The music is counted in {self.meter}."])

    def chord_sentence(self) -> str | None:
        if not self.chords:
            return None
        seq = _join(self.chords) if self.rng.random() < 0.5 else ", ".join(self.chords)
        if self.repeats >= 10:
            return self.pick([f"The chord progression {seq} repeats throughout.",
                              f"It keeps returning to the chords {seq}.",
                              f"A recurring progression of {seq} runs through the piece."])
        return self.pick([f"The main chord progression is {seq}.", f"The harmony revolves around {seq}.",
                          f"It is built on the chords {seq}.", f"The chords follow {seq}."])

    def length_sentence(self) -> str | None:
        if not self.duration:
            return None
        word = _length_phrase(duration_word(float(self.duration)))
        seconds = int(round(float(self.duration)))
        minutes = max(1, round(seconds / 60))
        return self.pick([f"It is {_article(word)} {word} of about {seconds} seconds.",
                          f"The piece lasts about {minutes} minute{'s' if minutes > 1 else ''}."
                          if seconds >= 90 else f"It lasts about {seconds} seconds.",
                          f"Overall it is {_article(word)} {word}."])

    def form_sentence(self) -> str | None:
        if not self.form:
            return None
        return self.pick([f"It follows {self.form}.", f"The structure is {self.form}.",
                          f"It is arranged in {self.form}."])

    def instruments_sentence(self) -> str | None:
        if not self.instruments:
            return None
        ins = self.instr()
        if self.instruments == ["Drums"]:
            return self.pick(["It is played on a drum kit.", "A drum kit plays alone.",
                              "Only drums are heard."])
        return self.pick([f"It features {ins}.", f"The instrumentation is {ins}.", f"It is performed by {ins}.",
                          f"The {ins} carry the music." if len(self.instruments) > 1 else f"The {ins} carries the music.",
                          f"Scored for {ins}."])


def _full(w: _Writer) -> str:
    """A MidiCaps-like paragraph: opening, then the other facts in a shuffled order."""
    genre = w.genre or "instrumental"
    moods = w.mood(2)
    mood_txt = _join(moods)
    kind = f" {w.kind}" if w.kind else ""
    opening = w.pick([
        f"{_article(mood_txt).capitalize()} {mood_txt} {genre}{kind or ' piece'}"
        + (f" performed by {w.instr()}." if w.instruments else "."),
        f"This {genre}{kind or ' track'} is {mood_txt}" + (f", played by {w.instr()}." if w.instruments else "."),
        f"{_article(mood_txt).capitalize()} {mood_txt} piece of {genre} music" + (f" for {w.instr()}." if w.instruments else "."),
        f"An instrumental {genre}{kind or ' song'} with {w.instr()} that feels {mood_txt}." if w.instruments
        else f"An instrumental {genre}{kind or ' song'} that feels {mood_txt}.",
    ])
    sentences = [w.key_sentence(), w.meter_sentence(), w.tempo_sentence(), w.chord_sentence(), w.form_sentence(),
                 w.length_sentence()]
    rest = [r for r in sentences if r]
    w.rng.shuffle(rest)
    return " ".join([opening] + rest)


def _medium(w: _Writer) -> str:
    genre = w.genre or "instrumental"
    parts = []
    mood = w.mood(1)[0] if w.moods else "melodic"
    lead = w.pick([f"{genre.capitalize()} music", f"{_article(genre).capitalize()} {genre} {w.kind or 'piece'}",
                   f"{_article(mood).capitalize()} {mood} {genre} {w.kind or 'tune'}"])
    facts = []
    if w.key:
        facts.append(w.pick([f"in {w.key}", f"in the key of {w.key}"]))
    t = w.tempo_phrase()
    if t:
        facts.append(t)
    if w.meter and w.rng.random() < 0.7:
        facts.append(w.pick([f"in {w.meter}", f"in {w.meter} time"]))
    parts.append(lead + (" " + " ".join(facts) if facts else "") + ".")
    s = w.instruments_sentence()
    if s:
        parts.append(s)
    extra = [x for x in (w.chord_sentence(), w.form_sentence()) if x]
    if extra:
        parts.append(w.pick(extra))
    return " ".join(parts)


def _brief(w: _Writer) -> str:
    """The way a user might ask for it."""
    genre = w.genre or "instrumental"
    mood = w.mood(1)[0] if w.moods else ""
    head = w.pick([f"{mood.capitalize()} {genre} {w.kind or 'song'}",
                   f"{_article(mood).capitalize()} {mood} {genre} {w.kind or 'piece'}",
                   f"{genre.capitalize()} {w.kind or 'tune'}, {mood}"]).strip()
    bits = [head]
    if w.key:
        bits.append(w.pick([f"in {w.key}", f"{w.key}"]))
    tempo = []
    if w.meter:
        tempo.append(w.meter)
    if w.bpm:
        tempo.append(w.pick([f"at {int(round(w.bpm))} bpm", f"{int(round(w.bpm))} bpm", tempo_words(w.bpm)[0].lower()]))
    if tempo:
        bits.append(" ".join(tempo))
    if w.instruments:
        bits.append(w.pick([f"with {w.instr()}", f"for {w.instr()}", f"{w.instr()}"]))
    if w.form and w.rng.random() < 0.5 and "begins" not in w.form:
        bits.append(w.form.replace("a form of ", "").replace(" form", "") + " form")
    return ", ".join(bits)


_STYLES = (_full, _medium, _brief)


def seed_of(value: int | str) -> int:
    return value if isinstance(value, int) else zlib.crc32(str(value).encode("utf-8"))


def caption(features: dict, seed: int | str = 0, style: int | None = None) -> str:
    """One caption; `style` 0 full paragraph, 1 medium, 2 brief (default: chosen by the seed)."""
    rng = random.Random(seed_of(seed))
    w = _Writer(features, rng)
    fn = _STYLES[style if style is not None else rng.randrange(len(_STYLES))]
    text = fn(w)
    return " ".join(text.split()).replace(" .", ".").replace(" ,", ",")


def captions(features: dict, n: int = 3, seed: int | str = 0) -> list[str]:
    """`n` different captions for one piece: the three styles in turn, then more of each."""
    out: list[str] = []
    base = seed_of(seed)
    attempt = 0
    while len(out) < n and attempt < 10 * n:
        text = caption(features, base * 7919 + attempt, style=attempt % len(_STYLES))
        if text not in out:
            out.append(text)
        attempt += 1
    return out
