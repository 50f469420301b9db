"""Instruments by their common names: General MIDI program, playable range and family."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Instrument:
    name: str          # display / track name
    program: int       # GM program 0-127
    low: int           # playable MIDI range
    high: int
    family: str        # keys, guitar, bass, strings, brass, reed, pipe, synth, plucked, percussion, drums, voice
    drum: bool = False
    kit: str | None = None  # a drum part's instrument when it is not a drum set (a key of PERCUSSION)
    sound: str = ""         # how General MIDI plays an instrument it lacks ("a steel-string guitar")


def _i(name, program, low, high, family, drum=False):
    return Instrument(name, program, low, high, family, drum)


def _hand(name: str, kit: str, sound: str = "") -> Instrument:
    return Instrument(name, 0, 27, 87, "drums", True, kit, sound)


def _like(name: str, program: int, low: int, high: int, family: str, sound: str) -> Instrument:
    return Instrument(name, program, low, high, family, sound=sound)


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
    "piano": _i("Piano", 0, 21, 108, "keys"),
    "grand piano": _i("Piano", 0, 21, 108, "keys"),
    "acoustic piano": _i("Piano", 0, 21, 108, "keys"),
    "bright piano": _i("Bright Piano", 1, 21, 108, "keys"),
    "honky-tonk piano": _i("Honky-tonk Piano", 3, 21, 108, "keys"),
    "electric piano": _i("Electric Piano", 4, 28, 103, "keys"),
    "rhodes": _i("Electric Piano", 4, 28, 103, "keys"),
    "wurlitzer": _i("Electric Piano", 5, 28, 103, "keys"),
    "harpsichord": _i("Harpsichord", 6, 29, 89, "keys"),
    "clavinet": _i("Clavinet", 7, 29, 89, "keys"),
    "clav": _i("Clavinet", 7, 29, 89, "keys"),
    "celesta": _i("Celesta", 8, 60, 108, "keys"),
    "glockenspiel": _i("Glockenspiel", 9, 79, 108, "percussion"),
    "music box": _i("Music Box", 10, 60, 108, "percussion"),
    "vibraphone": _i("Vibraphone", 11, 53, 89, "percussion"),
    "vibes": _i("Vibraphone", 11, 53, 89, "percussion"),
    "marimba": _i("Marimba", 12, 45, 96, "percussion"),
    "xylophone": _i("Xylophone", 13, 65, 108, "percussion"),
    "tubular bells": _i("Tubular Bells", 14, 60, 77, "percussion"),
    "organ": _i("Organ", 16, 36, 96, "keys"),
    "hammond organ": _i("Organ", 16, 36, 96, "keys"),
    "hammond": _i("Organ", 16, 36, 96, "keys"),
    "rock organ": _i("Rock Organ", 18, 36, 96, "keys"),
    "church organ": _i("Church Organ", 19, 24, 96, "keys"),
    "pipe organ": _i("Church Organ", 19, 24, 96, "keys"),
    "accordion": _i("Accordion", 21, 53, 89, "reed"),
    "harmonica": _i("Harmonica", 22, 60, 96, "reed"),
    "bandoneon": _i("Bandoneon", 23, 48, 89, "reed"),
    "guitar": _i("Acoustic Guitar", 25, 40, 84, "guitar"),
    "acoustic guitar": _i("Acoustic Guitar", 25, 40, 84, "guitar"),
    "steel guitar": _i("Acoustic Guitar", 25, 40, 84, "guitar"),
    "nylon guitar": _i("Nylon Guitar", 24, 40, 84, "guitar"),
    "classical guitar": _i("Nylon Guitar", 24, 40, 84, "guitar"),
    "spanish guitar": _i("Nylon Guitar", 24, 40, 84, "guitar"),
    "jazz guitar": _i("Jazz Guitar", 26, 40, 86, "guitar"),
    "electric guitar": _i("Electric Guitar", 27, 40, 86, "guitar"),
    "clean guitar": _i("Electric Guitar", 27, 40, 86, "guitar"),
    "overdriven guitar": _i("Overdriven Guitar", 29, 40, 86, "guitar"),
    "distorted guitar": _i("Distortion Guitar", 30, 40, 86, "guitar"),
    "distortion guitar": _i("Distortion Guitar", 30, 40, 86, "guitar"),
    "rhythm guitar": _i("Rhythm Guitar", 29, 40, 86, "guitar"),
    "lead guitar": _i("Lead Guitar", 30, 40, 88, "guitar"),
    "banjo": _i("Banjo", 105, 48, 84, "plucked"),
    "mandolin": _i("Mandolin", 25, 55, 88, "plucked"),
    "ukulele": _i("Ukulele", 24, 60, 81, "plucked"),
    "harp": _i("Harp", 46, 24, 103, "plucked"),
    "sitar": _i("Sitar", 104, 48, 84, "plucked"),
    "koto": _i("Koto", 107, 48, 84, "plucked"),
    "bass": _i("Bass", 33, 28, 60, "bass"),
    "bass guitar": _i("Electric Bass", 33, 28, 60, "bass"),
    "electric bass": _i("Electric Bass", 33, 28, 60, "bass"),
    "fingered bass": _i("Electric Bass", 33, 28, 60, "bass"),
    "picked bass": _i("Picked Bass", 34, 28, 60, "bass"),
    "fretless bass": _i("Fretless Bass", 35, 28, 60, "bass"),
    "slap bass": _i("Slap Bass", 36, 28, 60, "bass"),
    "upright bass": _i("Upright Bass", 32, 28, 60, "bass"),
    "acoustic bass": _i("Upright Bass", 32, 28, 60, "bass"),
    "double bass": _i("Double Bass", 32, 28, 60, "bass"),
    "contrabass": _i("Contrabass", 43, 28, 60, "bass"),
    "string bass": _i("Upright Bass", 32, 28, 60, "bass"),
    "synth bass": _i("Synth Bass", 38, 28, 60, "bass"),
    "violin": _i("Violin", 40, 55, 100, "strings"),
    "fiddle": _i("Fiddle", 110, 55, 100, "strings"),
    "viola": _i("Viola", 41, 48, 88, "strings"),
    "cello": _i("Cello", 42, 36, 76, "strings"),
    "violoncello": _i("Cello", 42, 36, 76, "strings"),
    "strings": _i("Strings", 48, 36, 96, "strings"),
    "string section": _i("Strings", 48, 36, 96, "strings"),
    "string ensemble": _i("Strings", 48, 36, 96, "strings"),
    "string orchestra": _i("Strings", 48, 36, 96, "strings"),
    "pizzicato strings": _i("Pizzicato Strings", 45, 36, 96, "strings"),
    "choir": _i("Choir", 52, 48, 81, "voice"),
    "voice": _i("Voice", 53, 48, 79, "voice"),
    "vocals": _i("Voice", 53, 48, 79, "voice"),
    "timpani": _i("Timpani", 47, 40, 60, "percussion"),
    "trumpet": _i("Trumpet", 56, 54, 84, "brass"),
    "cornet": _i("Trumpet", 56, 54, 84, "brass"),
    "flugelhorn": _i("Flugelhorn", 56, 52, 82, "brass"),
    "trombone": _i("Trombone", 57, 40, 72, "brass"),
    "tuba": _i("Tuba", 58, 28, 58, "brass"),
    "muted trumpet": _i("Muted Trumpet", 59, 54, 82, "brass"),
    "french horn": _i("French Horn", 60, 41, 77, "brass"),
    "horn": _i("French Horn", 60, 41, 77, "brass"),
    "brass": _i("Brass", 61, 40, 84, "brass"),
    "brass section": _i("Brass", 61, 40, 84, "brass"),
    "horns": _i("Brass", 61, 40, 84, "brass"),
    "soprano sax": _i("Soprano Sax", 64, 56, 88, "reed"),
    "alto sax": _i("Alto Sax", 65, 49, 81, "reed"),
    "alto saxophone": _i("Alto Sax", 65, 49, 81, "reed"),
    "sax": _i("Alto Sax", 65, 49, 81, "reed"),
    "saxophone": _i("Alto Sax", 65, 49, 81, "reed"),
    "tenor sax": _i("Tenor Sax", 66, 44, 76, "reed"),
    "tenor saxophone": _i("Tenor Sax", 66, 44, 76, "reed"),
    "baritone sax": _i("Baritone Sax", 67, 36, 69, "reed"),
    "bari sax": _i("Baritone Sax", 67, 36, 69, "reed"),
    "oboe": _i("Oboe", 68, 58, 91, "reed"),
    "english horn": _i("English Horn", 69, 52, 81, "reed"),
    "cor anglais": _i("English Horn", 69, 52, 81, "reed"),
    "bassoon": _i("Bassoon", 70, 34, 72, "reed"),
    "clarinet": _i("Clarinet", 71, 50, 91, "reed"),
    "bass clarinet": _i("Bass Clarinet", 71, 38, 77, "reed"),
    "piccolo": _i("Piccolo", 72, 74, 108, "pipe"),
    "flute": _i("Flute", 73, 60, 96, "pipe"),
    "recorder": _i("Recorder", 74, 60, 96, "pipe"),
    "pan flute": _i("Pan Flute", 75, 60, 96, "pipe"),
    "panpipes": _i("Pan Flute", 75, 60, 96, "pipe"),
    "tin whistle": _i("Tin Whistle", 78, 62, 96, "pipe"),
    "whistle": _i("Tin Whistle", 78, 62, 96, "pipe"),
    "ocarina": _i("Ocarina", 79, 60, 84, "pipe"),
    "bagpipes": _i("Bagpipe", 109, 55, 81, "reed"),
    "bagpipe": _i("Bagpipe", 109, 55, 81, "reed"),
    "synth": _i("Synth Lead", 81, 48, 96, "synth"),
    "synthesizer": _i("Synth Lead", 81, 48, 96, "synth"),
    "synth lead": _i("Synth Lead", 81, 48, 96, "synth"),
    "lead synth": _i("Synth Lead", 81, 48, 96, "synth"),
    "square lead": _i("Square Lead", 80, 48, 96, "synth"),
    "saw lead": _i("Saw Lead", 81, 48, 96, "synth"),
    "synth pad": _i("Synth Pad", 89, 36, 96, "synth"),
    "pad": _i("Synth Pad", 89, 36, 96, "synth"),
    "warm pad": _i("Synth Pad", 89, 36, 96, "synth"),
    "drums": _i("Drums", 0, 27, 87, "drums", True),
    "drum kit": _i("Drums", 0, 27, 87, "drums", True),
    "drum set": _i("Drums", 0, 27, 87, "drums", True),
    "drumkit": _i("Drums", 0, 27, 87, "drums", True),
    "percussion": _i("Percussion", 0, 27, 87, "drums", True),
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
    "bouzouki": _like("Bouzouki", 25, 50, 86, "plucked", "a steel-string guitar"),
    "irish bouzouki": _like("Bouzouki", 25, 43, 81, "plucked", "a steel-string guitar"),
    "oud": _like("Oud", 24, 40, 77, "plucked", "a nylon-string guitar"),
    "balalaika": _like("Balalaika", 105, 52, 88, "plucked", "a banjo"),
    "charango": _like("Charango", 105, 64, 88, "plucked", "a banjo"),
    "cuatro": _like("Cuatro", 24, 54, 86, "plucked", "a nylon-string guitar"),
    "shamisen": _like("Shamisen", 106, 48, 84, "plucked", ""),
    "pipa": _like("Pipa", 107, 45, 93, "plucked", "a koto"),
    "guzheng": _like("Guzheng", 107, 38, 96, "plucked", "a koto"),
    "kalimba": _like("Kalimba", 108, 60, 88, "percussion", ""),
    "mbira": _like("Mbira", 108, 55, 84, "percussion", "a kalimba"),
    "santoor": _like("Santoor", 15, 48, 91, "plucked", "a dulcimer"),
    "hammered dulcimer": _like("Hammered Dulcimer", 15, 50, 88, "plucked", ""),
    "dulcimer": _like("Dulcimer", 15, 50, 88, "plucked", ""),
    "steel drums": _like("Steel Drums", 114, 60, 88, "percussion", ""),
    "steel pan": _like("Steel Drums", 114, 60, 88, "percussion", ""),
    "erhu": _like("Erhu", 110, 62, 98, "strings", "General MIDI's fiddle"),
    "sarangi": _like("Sarangi", 110, 53, 91, "strings", "General MIDI's fiddle"),
    "shakuhachi": _like("Shakuhachi", 77, 62, 88, "pipe", ""),
    "bansuri": _like("Bansuri", 73, 59, 91, "pipe", "a flute"),
    "dizi": _like("Dizi", 72, 67, 96, "pipe", "a piccolo"),
    "ney": _like("Ney", 75, 57, 88, "pipe", "a pan flute"),
    "uilleann pipes": _like("Uilleann Pipes", 109, 62, 84, "reed", "a bagpipe"),
    "concertina": _like("Concertina", 21, 55, 96, "reed", "an accordion"),
    "melodeon": _like("Melodeon", 21, 52, 88, "reed", "an accordion"),
    "harmonium": _like("Harmonium", 20, 41, 89, "reed", "a reed organ"),
    "snare drum": _i("Snare Drum", 0, 27, 87, "drums", True),
    "snare": _i("Snare Drum", 0, 27, 87, "drums", True),
}

# Ensembles by their common names: list of instrument keys.
ENSEMBLES: dict[str, list[str]] = {
    "string quartet": ["violin", "violin", "viola", "cello"],
    "string trio": ["violin", "viola", "cello"],
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


# General MIDI programs of instruments that sound one note at a time: brass, reeds, pipes, a solo voice.
MONOPHONIC = frozenset({53, 56, 57, 58, 59, 60, *range(64, 80), 109, 111})
# Solo strings: at most two notes at once (a double stop), within an octave.
DOUBLE_STOPS = frozenset({40, 41, 42, 43, 110})


def notes_at_once(program: int, drum: bool = False) -> int:
    """How many notes the instrument of a GM program can sound together (keyboards, guitars, harps: many)."""
    if drum:
        return 64
    return 1 if program in MONOPHONIC else 2 if program in DOUBLE_STOPS else 64


def instrument_for_program(program: int, drum: bool = False) -> Instrument:
    """The table's instrument for a GM program (first match), or a generic one with a wide range."""
    if drum:
        return INSTRUMENTS["drums"]
    for inst in INSTRUMENTS.values():
        if inst.program == program and not inst.drum:
            return inst
    family = ["keys", "percussion", "keys", "guitar", "bass", "strings", "strings", "brass", "reed", "pipe",
              "synth", "synth", "synth", "plucked", "percussion", "percussion"][program // 8]
    if family == "bass":
        return Instrument(f"Program {program}", program, 28, 60, family)
    return Instrument(f"Program {program}", program, 36, 96, family)


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
