"""Instruments by their common names: General MIDI program, family, and the professional ranges and idioms of
data/ranges.json (comfortable and extreme range, notes at once, strings and frets, hands and reach)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .harmony import PITCH_CLASS

RANGES = Path(__file__).with_name("data") / "ranges.json"


@dataclass(frozen=True, slots=True)
class Instrument:
    name: str          # display / track name
    program: int       # GM program 0-127
    low: int           # the comfortable range (sounding MIDI pitches): where the arranger writes
    high: int
    family: str        # keys, guitar, bass, strings, brass, reed, pipe, synth, plucked, percussion, drums, voice
    drum: bool = False
    kit: str | None = None  # a drum part's instrument when it is not a drum set (a key of PERCUSSION)
    sound: str = ""         # how General MIDI plays an instrument it lacks ("a steel-string guitar")
    lowest: int = 0         # the extreme range: what a professional can play at all
    highest: int = 127
    voices: int = 64        # notes at once: 1 a single line, 2 double stops (or two mallets)
    tuning: tuple[int, ...] = ()   # a fretted instrument's open strings, low to high
    frets: int = 0
    bowed: bool = False     # a bowed string: a double stop takes two neighbouring strings
    hands: int = 0          # a keyboard's hands, each holding at most `reach` semitones
    reach: int = 0


_NOTE = re.compile(r"^([A-G])(#|b)?(-?\d)$")


def midi_of(name: str) -> int:
    """'C4' -> 60, 'F#3' -> 54, 'Bb1' -> 34."""
    m = _NOTE.match(name)
    if not m:
        raise ValueError(f"not a pitch name: {name!r}")
    step, alter, octave = m.groups()
    return 12 * (int(octave) + 1) + PITCH_CLASS[step] + {"#": 1, "b": -1}.get(alter or "", 0)


def _load_ranges() -> dict[str, dict]:
    table = json.loads(RANGES.read_text(encoding="utf-8"))["instruments"]
    out = {}
    for name, r in table.items():
        (lo, hi), (clo, chi) = ([midi_of(x) for x in r[k]] for k in ("extreme", "comfortable"))
        tuning = tuple(midi_of(x) for x in r.get("tuning", ()))
        hands = int(r.get("hands", 0))
        voices = int(r.get("voices", len(set(tuning)) if tuning else 5 * hands if hands else 64))
        bowed = bool(r.get("bowed", False))
        # A bowed string's fingerboard reaches from each open string up to the instrument's top note.
        frets = int(r.get("frets", hi - max(tuning) if bowed and tuning else 0))
        out[name] = dict(low=clo, high=chi, lowest=lo, highest=hi, voices=voices, tuning=tuning, frets=frets,
                         bowed=bowed, hands=hands, reach=int(r.get("reach", 0)))
    return out


_RANGES = _load_ranges()


def _i(name: str, program: int, family: str, drum: bool = False, kit: str | None = None,
       sound: str = "") -> Instrument:
    return Instrument(name=name, program=program, family=family, drum=drum, kit=kit, sound=sound, **_RANGES[name])


def _hand(name: str, kit: str, sound: str = "") -> Instrument:
    return _i(name, 0, "drums", True, kit, sound)


def _like(name: str, program: int, family: str, sound: str) -> Instrument:
    return _i(name, program, family, sound=sound)


@dataclass(frozen=True)
class Percussion:
    """A hand or frame drum (or a small percussion instrument) as General MIDI plays it: its strokes as GM drum
    keys, low (the bass tone) to high (the edge or slap), and the rhythm family it plays."""
    strokes: tuple[int, ...]
    style: str  # "frame" (running strokes, accents on the beats), "hand" (bass and tones, a tumbao-like figure),
    #             "shaker" (steady subdivisions), "backbeat" (a struck accent on 2 and 4)


PERCUSSION: dict[str, Percussion] = {
    "frame drum": Percussion((41, 45, 47), "frame"),        # bodhrán, daf: low floor tom, low and mid toms
    "cajon": Percussion((36, 38, 37), "hand"),              # the bass tone as a kick, the slap as a snare
    "congas": Percussion((64, 63, 62), "hand"),             # low conga, open high conga, muted high conga
    "bongos": Percussion((61, 60), "hand"),
    "djembe": Percussion((64, 63, 62), "hand"),
    "darbuka": Percussion((64, 63, 62), "hand"),            # dum, tek, ka
    "tabla": Percussion((61, 60, 62), "hand"),              # bayan, dayan, a muted stroke
    "taiko": Percussion((35, 41, 43), "frame"),
    "timbales": Percussion((66, 65), "hand"),
    "tambourine": Percussion((54,), "backbeat"),
    "shaker": Percussion((70, 82), "shaker"),               # maracas, shaker
    "hand percussion": Percussion((64, 63, 70, 54), "hand"),  # congas with a shaker and a tambourine: light
}


# Common names -> instrument. Keys are lower-case; longer names win when matching text.
INSTRUMENTS: dict[str, Instrument] = {
    "piano": _i("Piano", 0, "keys"),
    "grand piano": _i("Piano", 0, "keys"),
    "acoustic piano": _i("Piano", 0, "keys"),
    "bright piano": _i("Bright Piano", 1, "keys"),
    "honky-tonk piano": _i("Honky-tonk Piano", 3, "keys"),
    "electric piano": _i("Electric Piano", 4, "keys"),
    "rhodes": _i("Electric Piano", 4, "keys"),
    "wurlitzer": _i("Electric Piano", 5, "keys"),
    "harpsichord": _i("Harpsichord", 6, "keys"),
    "clavinet": _i("Clavinet", 7, "keys"),
    "clav": _i("Clavinet", 7, "keys"),
    "celesta": _i("Celesta", 8, "keys"),
    "glockenspiel": _i("Glockenspiel", 9, "percussion"),
    "music box": _i("Music Box", 10, "percussion"),
    "vibraphone": _i("Vibraphone", 11, "percussion"),
    "vibes": _i("Vibraphone", 11, "percussion"),
    "marimba": _i("Marimba", 12, "percussion"),
    "xylophone": _i("Xylophone", 13, "percussion"),
    "tubular bells": _i("Tubular Bells", 14, "percussion"),
    "organ": _i("Organ", 16, "keys"),
    "hammond organ": _i("Organ", 16, "keys"),
    "hammond": _i("Organ", 16, "keys"),
    "rock organ": _i("Rock Organ", 18, "keys"),
    "church organ": _i("Church Organ", 19, "keys"),
    "pipe organ": _i("Church Organ", 19, "keys"),
    "accordion": _i("Accordion", 21, "reed"),
    "harmonica": _i("Harmonica", 22, "reed"),
    "bandoneon": _i("Bandoneon", 23, "reed"),
    "guitar": _i("Acoustic Guitar", 25, "guitar"),
    "acoustic guitar": _i("Acoustic Guitar", 25, "guitar"),
    "steel guitar": _i("Acoustic Guitar", 25, "guitar"),
    "nylon guitar": _i("Nylon Guitar", 24, "guitar"),
    "classical guitar": _i("Nylon Guitar", 24, "guitar"),
    "spanish guitar": _i("Nylon Guitar", 24, "guitar"),
    "jazz guitar": _i("Jazz Guitar", 26, "guitar"),
    "electric guitar": _i("Electric Guitar", 27, "guitar"),
    "clean guitar": _i("Electric Guitar", 27, "guitar"),
    "overdriven guitar": _i("Overdriven Guitar", 29, "guitar"),
    "distorted guitar": _i("Distortion Guitar", 30, "guitar"),
    "distortion guitar": _i("Distortion Guitar", 30, "guitar"),
    "rhythm guitar": _i("Rhythm Guitar", 29, "guitar"),
    "lead guitar": _i("Lead Guitar", 30, "guitar"),
    "banjo": _i("Banjo", 105, "plucked"),
    "mandolin": _i("Mandolin", 25, "plucked"),
    "ukulele": _i("Ukulele", 24, "plucked"),
    "harp": _i("Harp", 46, "plucked"),
    "sitar": _i("Sitar", 104, "plucked"),
    "koto": _i("Koto", 107, "plucked"),
    "bass": _i("Bass", 33, "bass"),
    "bass guitar": _i("Electric Bass", 33, "bass"),
    "electric bass": _i("Electric Bass", 33, "bass"),
    "fingered bass": _i("Electric Bass", 33, "bass"),
    "picked bass": _i("Picked Bass", 34, "bass"),
    "fretless bass": _i("Fretless Bass", 35, "bass"),
    "slap bass": _i("Slap Bass", 36, "bass"),
    "upright bass": _i("Upright Bass", 32, "bass"),
    "acoustic bass": _i("Upright Bass", 32, "bass"),
    "double bass": _i("Double Bass", 32, "bass"),
    "contrabass": _i("Contrabass", 43, "bass"),
    "string bass": _i("Upright Bass", 32, "bass"),
    "synth bass": _i("Synth Bass", 38, "bass"),
    "violin": _i("Violin", 40, "strings"),
    "fiddle": _i("Fiddle", 110, "strings"),
    "viola": _i("Viola", 41, "strings"),
    "cello": _i("Cello", 42, "strings"),
    "violoncello": _i("Cello", 42, "strings"),
    "strings": _i("Strings", 48, "strings"),
    "string section": _i("Strings", 48, "strings"),
    "string ensemble": _i("Strings", 48, "strings"),
    "string orchestra": _i("Strings", 48, "strings"),
    "pizzicato strings": _i("Pizzicato Strings", 45, "strings"),
    "choir": _i("Choir", 52, "voice"),
    "voice": _i("Voice", 53, "voice"),
    "vocals": _i("Voice", 53, "voice"),
    "timpani": _i("Timpani", 47, "percussion"),
    "trumpet": _i("Trumpet", 56, "brass"),
    "cornet": _i("Trumpet", 56, "brass"),
    "flugelhorn": _i("Flugelhorn", 56, "brass"),
    "trombone": _i("Trombone", 57, "brass"),
    "tuba": _i("Tuba", 58, "brass"),
    "muted trumpet": _i("Muted Trumpet", 59, "brass"),
    "french horn": _i("French Horn", 60, "brass"),
    "horn": _i("French Horn", 60, "brass"),
    "brass": _i("Brass", 61, "brass"),
    "brass section": _i("Brass", 61, "brass"),
    "horns": _i("Brass", 61, "brass"),
    "soprano sax": _i("Soprano Sax", 64, "reed"),
    "alto sax": _i("Alto Sax", 65, "reed"),
    "alto saxophone": _i("Alto Sax", 65, "reed"),
    "sax": _i("Alto Sax", 65, "reed"),
    "saxophone": _i("Alto Sax", 65, "reed"),
    "tenor sax": _i("Tenor Sax", 66, "reed"),
    "tenor saxophone": _i("Tenor Sax", 66, "reed"),
    "baritone sax": _i("Baritone Sax", 67, "reed"),
    "bari sax": _i("Baritone Sax", 67, "reed"),
    "oboe": _i("Oboe", 68, "reed"),
    "english horn": _i("English Horn", 69, "reed"),
    "cor anglais": _i("English Horn", 69, "reed"),
    "bassoon": _i("Bassoon", 70, "reed"),
    "clarinet": _i("Clarinet", 71, "reed"),
    "bass clarinet": _i("Bass Clarinet", 71, "reed"),
    "piccolo": _i("Piccolo", 72, "pipe"),
    "flute": _i("Flute", 73, "pipe"),
    "recorder": _i("Recorder", 74, "pipe"),
    "pan flute": _i("Pan Flute", 75, "pipe"),
    "panpipes": _i("Pan Flute", 75, "pipe"),
    "tin whistle": _i("Tin Whistle", 78, "pipe"),
    "whistle": _i("Tin Whistle", 78, "pipe"),
    "ocarina": _i("Ocarina", 79, "pipe"),
    "bagpipes": _i("Bagpipe", 109, "reed"),
    "bagpipe": _i("Bagpipe", 109, "reed"),
    "synth": _i("Synth Lead", 81, "synth"),
    "synthesizer": _i("Synth Lead", 81, "synth"),
    "synth lead": _i("Synth Lead", 81, "synth"),
    "lead synth": _i("Synth Lead", 81, "synth"),
    "square lead": _i("Square Lead", 80, "synth"),
    "saw lead": _i("Saw Lead", 81, "synth"),
    "synth pad": _i("Synth Pad", 89, "synth"),
    "pad": _i("Synth Pad", 89, "synth"),
    "warm pad": _i("Synth Pad", 89, "synth"),
    "drums": _i("Drums", 0, "drums", True),
    "drum kit": _i("Drums", 0, "drums", True),
    "drum set": _i("Drums", 0, "drums", True),
    "drumkit": _i("Drums", 0, "drums", True),
    "percussion": _i("Percussion", 0, "drums", True),
    # Hand and frame drums, and small percussion: drum parts that are not a drum set.
    "bodhran": _hand("Bodhrán", "frame drum", "a frame drum on General MIDI's low toms"),
    "bodhrán": _hand("Bodhrán", "frame drum", "a frame drum on General MIDI's low toms"),
    "frame drum": _hand("Frame Drum", "frame drum", "General MIDI's low toms"),
    "daf": _hand("Daf", "frame drum", "a frame drum on General MIDI's low toms"),
    "cajon": _hand("Cajón", "cajon", "its bass tone and slap on General MIDI's kick and snare"),
    "cajón": _hand("Cajón", "cajon", "its bass tone and slap on General MIDI's kick and snare"),
    "congas": _hand("Congas", "congas"),
    "conga": _hand("Congas", "congas"),
    "bongos": _hand("Bongos", "bongos"),
    "bongo": _hand("Bongos", "bongos"),
    "djembe": _hand("Djembe", "djembe", "General MIDI's congas"),
    "darbuka": _hand("Darbuka", "darbuka", "General MIDI's congas"),
    "doumbek": _hand("Darbuka", "darbuka", "General MIDI's congas"),
    "tabla": _hand("Tabla", "tabla", "General MIDI's bongos"),
    "taiko": _hand("Taiko", "taiko", "General MIDI's bass drum and floor toms"),
    "timbales": _hand("Timbales", "timbales"),
    "tambourine": _hand("Tambourine", "tambourine"),
    "shaker": _hand("Shaker", "shaker"),
    "maracas": _hand("Shaker", "shaker"),
    "hand percussion": _hand("Hand Percussion", "hand percussion", "congas, shaker and tambourine"),
    "light percussion": _hand("Hand Percussion", "hand percussion", "congas, shaker and tambourine"),
    "latin percussion": _hand("Hand Percussion", "hand percussion", "congas, shaker and tambourine"),
    # Instruments General MIDI lacks, played by the nearest sound it has.
    "bouzouki": _like("Bouzouki", 25, "plucked", "a steel-string guitar"),
    "irish bouzouki": _like("Bouzouki", 25, "plucked", "a steel-string guitar"),
    "oud": _like("Oud", 24, "plucked", "a nylon-string guitar"),
    "balalaika": _like("Balalaika", 105, "plucked", "a banjo"),
    "charango": _like("Charango", 105, "plucked", "a banjo"),
    "cuatro": _like("Cuatro", 24, "plucked", "a nylon-string guitar"),
    "shamisen": _like("Shamisen", 106, "plucked", ""),
    "pipa": _like("Pipa", 107, "plucked", "a koto"),
    "guzheng": _like("Guzheng", 107, "plucked", "a koto"),
    "kalimba": _like("Kalimba", 108, "percussion", ""),
    "mbira": _like("Mbira", 108, "percussion", "a kalimba"),
    "santoor": _like("Santoor", 15, "plucked", "a dulcimer"),
    "hammered dulcimer": _like("Hammered Dulcimer", 15, "plucked", ""),
    "dulcimer": _like("Dulcimer", 15, "plucked", ""),
    "steel drums": _like("Steel Drums", 114, "percussion", ""),
    "steel pan": _like("Steel Drums", 114, "percussion", ""),
    "erhu": _like("Erhu", 110, "strings", "General MIDI's fiddle"),
    "sarangi": _like("Sarangi", 110, "strings", "General MIDI's fiddle"),
    "shakuhachi": _like("Shakuhachi", 77, "pipe", ""),
    "bansuri": _like("Bansuri", 73, "pipe", "a flute"),
    "dizi": _like("Dizi", 72, "pipe", "a piccolo"),
    "ney": _like("Ney", 75, "pipe", "a pan flute"),
    "uilleann pipes": _like("Uilleann Pipes", 109, "reed", "a bagpipe"),
    "concertina": _like("Concertina", 21, "reed", "an accordion"),
    "melodeon": _like("Melodeon", 21, "reed", "an accordion"),
    "harmonium": _like("Harmonium", 20, "reed", "a reed organ"),
    "snare drum": _i("Snare Drum", 0, "drums", True),
    "snare": _i("Snare Drum", 0, "drums", True),
}

# Ensembles by their common names: list of instrument keys.
ENSEMBLES: dict[str, list[str]] = {
    "string quartet": ["violin", "violin", "viola", "cello"],
    "string trio": ["violin", "viola", "cello"],
    # The sections of a string orchestra: first and second violins, violas, cellos, double basses.
    "string orchestra": ["violin", "violin", "viola", "cello", "contrabass"],
    "chamber strings": ["violin", "violin", "viola", "cello", "contrabass"],
    "piano trio": ["piano", "violin", "cello"],
    "piano quartet": ["piano", "violin", "viola", "cello"],
    "piano quintet": ["piano", "violin", "violin", "viola", "cello"],
    "jazz trio": ["piano", "upright bass", "drums"],
    "jazz quartet": ["tenor sax", "piano", "upright bass", "drums"],
    "jazz combo": ["trumpet", "tenor sax", "piano", "upright bass", "drums"],
    "big band": ["trumpet", "trombone", "alto sax", "tenor sax", "piano", "upright bass", "drums"],
    "rock band": ["lead guitar", "rhythm guitar", "electric bass", "drums"],
    "power trio": ["electric guitar", "electric bass", "drums"],
    "brass quintet": ["trumpet", "trumpet", "french horn", "trombone", "tuba"],
    "woodwind quintet": ["flute", "oboe", "clarinet", "french horn", "bassoon"],
    "wind quintet": ["flute", "oboe", "clarinet", "french horn", "bassoon"],
    "concert band": ["flute", "clarinet", "alto sax", "trumpet", "french horn", "trombone", "tuba", "percussion"],
    "wind band": ["flute", "clarinet", "alto sax", "trumpet", "french horn", "trombone", "tuba", "percussion"],
    "marching band": ["piccolo", "clarinet", "trumpet", "trombone", "tuba", "snare"],
    "orchestra": ["flute", "oboe", "clarinet", "french horn", "trumpet", "violin", "violin", "viola", "cello",
                  "contrabass", "timpani"],
    "chamber orchestra": ["flute", "oboe", "french horn", "violin", "violin", "viola", "cello", "contrabass"],
    "bluegrass band": ["fiddle", "banjo", "acoustic guitar", "upright bass"],
    "folk band": ["fiddle", "acoustic guitar", "upright bass"],
    "celtic band": ["fiddle", "tin whistle", "acoustic guitar", "upright bass"],
    "rhythm section": ["piano", "electric bass", "drums"],
}

GM_DRUMS = {
    "kick": 36, "snare": 38, "side_stick": 37, "clap": 39, "closed_hh": 42, "pedal_hh": 44, "open_hh": 46,
    "low_tom": 45, "mid_tom": 47, "high_tom": 50, "floor_tom": 43, "crash": 49, "ride": 51, "ride_bell": 53,
    "tambourine": 54, "cowbell": 56, "shaker": 70, "rim": 37, "low_conga": 64, "high_conga": 63, "claves": 75,
}


# General MIDI programs that sound one note at a time (brass, reeds, pipes, a solo voice) or at most a double stop
# (solo strings): how an instrument outside the table plays.
_ONE_LINE = frozenset({53, 56, 57, 58, 59, 60, *range(64, 80), 109, 111})
_DOUBLE_STOP = frozenset({40, 41, 42, 43, 110})


def notes_at_once(program: int, drum: bool = False, name: str = "") -> int:
    """How many notes the instrument can sound together (keyboards, harps, sections: many)."""
    return 64 if drum else instrument_of(name, program).voices


def instrument_for_program(program: int, drum: bool = False) -> Instrument:
    """The table's instrument for a GM program (first match), or a generic one with a wide range."""
    if drum:
        return INSTRUMENTS["drums"]
    for inst in INSTRUMENTS.values():
        if inst.program == program and not inst.drum:
            return inst
    family = ["keys", "percussion", "keys", "guitar", "bass", "strings", "strings", "brass", "reed", "pipe",
              "synth", "synth", "synth", "plucked", "percussion", "percussion"][program // 8]
    voices = 1 if program in _ONE_LINE else 2 if program in _DOUBLE_STOP else 64
    if family == "bass":
        return Instrument(f"Program {program}", program, 28, 60, family, lowest=24, highest=67, voices=voices)
    return Instrument(f"Program {program}", program, 36, 96, family, lowest=24, highest=108, voices=voices)


def instrument_of(name: str, program: int, drum: bool = False) -> Instrument:
    """A track's instrument: the one its name starts with among those of its program ("Bouzouki 2" is a
    bouzouki though General MIDI plays it as a guitar), else the program's."""
    if not drum and name:
        low = name.lower()
        for inst in INSTRUMENTS.values():
            if inst.program == program and not inst.drum and low.startswith(inst.name.lower()):
                return inst
    return instrument_for_program(program, drum)


# General MIDI (with the GM2 additions) percussion key names: a drum sound's <score-instrument>, a piano-roll row.
GM_DRUM_NAMES = dict(enumerate((
    "High Q", "Slap", "Scratch Push", "Scratch Pull", "Sticks", "Square Click", "Metronome Click",
    "Metronome Bell", "Acoustic Bass Drum", "Bass Drum 1", "Side Stick", "Acoustic Snare", "Hand Clap",
    "Electric Snare", "Low Floor Tom", "Closed Hi-Hat", "High Floor Tom", "Pedal Hi-Hat", "Low Tom",
    "Open Hi-Hat", "Low-Mid Tom", "Hi-Mid Tom", "Crash Cymbal 1", "High Tom", "Ride Cymbal 1",
    "Chinese Cymbal", "Ride Bell", "Tambourine", "Splash Cymbal", "Cowbell", "Crash Cymbal 2", "Vibraslap",
    "Ride Cymbal 2", "Hi Bongo", "Low Bongo", "Mute Hi Conga", "Open Hi Conga", "Low Conga", "High Timbale",
    "Low Timbale", "High Agogo", "Low Agogo", "Cabasa", "Maracas", "Short Whistle", "Long Whistle",
    "Short Guiro", "Long Guiro", "Claves", "Hi Wood Block", "Low Wood Block", "Mute Cuica", "Open Cuica",
    "Mute Triangle", "Open Triangle", "Shaker", "Jingle Bell", "Belltree", "Castanets", "Mute Surdo",
    "Open Surdo"), start=27))
