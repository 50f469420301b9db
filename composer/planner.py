"""The rules planner: brief -> Plan, offline, from a derived table of real songs.

Form (section sequences and lengths) and harmony (bar-level Roman-numeral
transitions, phrase ends and cadences) are sampled from composer/data/harmony.json,
which training.harmony_table builds from McGill Billboard, POP909 and lead sheets.
The same brief and seed always give the same plan.
"""
from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from symbolic.grid import compound_meter
from symbolic.harmony import Key, chord_from_token, chord_symbol, parse_key
from symbolic.instruments import INSTRUMENTS, Instrument
from symbolic.style import idiom_for

from .brief import Brief, BriefError, Modulation, parse_brief
from .plan import MAX_SECONDS, Plan
from .tables import load_table


@dataclass(frozen=True)
class GenreDefaults:
    tempo: float
    meter: tuple[int, int]
    mode: str
    form: str
    seconds: float
    table: str           # which style of the harmony table to sample
    instruments: tuple[str, ...]
    roles: tuple[tuple[str, str], ...] = ()  # instrument key -> forced role
    tonics: tuple[str, ...] = ("C", "G", "D", "F", "A", "E", "Bb")
    style: str = ""


GENRES: dict[str, GenreDefaults] = {
    "pop": GenreDefaults(112, (4, 4), "major", "verse-chorus", 180, "pop", ("piano", "strings", "electric bass", "drums"),
                         (("strings", "pad"),)),
    "rock": GenreDefaults(128, (4, 4), "major", "verse-chorus", 200, "pop", ("lead guitar", "rhythm guitar", "electric bass", "drums"),
                          tonics=("E", "A", "D", "G", "C")),
    "jazz": GenreDefaults(132, (4, 4), "major", "AABA", 150, "jazz", ("tenor sax", "piano", "upright bass", "drums"),
                          tonics=("F", "Bb", "Eb", "C", "G")),
    "jazz ballad": GenreDefaults(66, (4, 4), "major", "AABA", 180, "jazz", ("tenor sax", "piano", "upright bass", "drums"),
                                 tonics=("F", "Bb", "Eb", "C", "Ab")),
    "bossa": GenreDefaults(128, (4, 4), "major", "AABA", 150, "jazz", ("flute", "nylon guitar", "upright bass", "drums"),
                           tonics=("F", "C", "D", "G", "Bb")),
    "tango": GenreDefaults(116, (4, 4), "minor", "ABA", 150, "folk", ("bandoneon", "violin", "piano", "double bass"),
                           tonics=("D", "A", "E", "G")),
    "funk": GenreDefaults(104, (4, 4), "minor", "verse-chorus", 180, "pop", ("brass", "clavinet", "slap bass", "drums"),
                          tonics=("E", "A", "D", "G")),
    "blues": GenreDefaults(96, (4, 4), "major", "blues", 150, "jazz", ("electric guitar", "piano", "electric bass", "drums"),
                           tonics=("E", "A", "G", "C", "Bb")),
    "reggae": GenreDefaults(80, (4, 4), "major", "verse-chorus", 180, "pop", ("alto sax", "clean guitar", "organ", "electric bass", "drums"),
                            (("organ", "pad"),)),
    "folk": GenreDefaults(108, (4, 4), "major", "AABB", 120, "folk", ("fiddle", "acoustic guitar", "upright bass"),
                          tonics=("D", "G", "A", "E", "C")),
    "reel": GenreDefaults(180, (4, 4), "major", "AABB", 90, "folk", ("fiddle", "tin whistle", "acoustic guitar"),
                          tonics=("D", "G", "A", "E")),
    "jig": GenreDefaults(165, (6, 8), "major", "AABB", 90, "folk", ("fiddle", "tin whistle", "acoustic guitar"),
                         tonics=("D", "G", "A", "E")),
    "classical": GenreDefaults(96, (4, 4), "major", "ABA", 150, "classical", ("violin", "violin", "viola", "cello")),
    "waltz": GenreDefaults(150, (3, 4), "major", "ABA", 120, "classical", ("piano",),
                           tonics=("D", "G", "F", "C", "A", "Eb")),
    # A minuet is a moderate dance in three (minuet - trio - minuet), slower than a waltz.
    "minuet": GenreDefaults(112, (3, 4), "major", "ABA", 120, "classical", ("harpsichord",),
                            tonics=("G", "D", "F", "C", "A", "Bb")),
    "march": GenreDefaults(116, (2, 4), "major", "AABB", 120, "classical", ("trumpet", "clarinet", "trombone", "tuba", "snare"),
                           tonics=("Bb", "Eb", "F", "C")),
    "lullaby": GenreDefaults(66, (3, 4), "major", "ABA", 90, "pop", ("celesta", "harp", "strings"),
                             (("harp", "arpeggio"), ("strings", "pad"))),
    "ballad": GenreDefaults(72, (4, 4), "major", "verse-chorus", 200, "pop", ("piano", "strings", "fretless bass", "drums"),
                            (("strings", "pad"),)),
    "hymn": GenreDefaults(80, (4, 4), "major", "AA'", 90, "classical", ("church organ",)),
    "ambient": GenreDefaults(70, (4, 4), "major", "ABA'", 180, "pop", ("vibraphone", "synth pad", "piano"),
                             (("synth pad", "pad"), ("piano", "arpeggio"))),
    "cinematic": GenreDefaults(90, (4, 4), "minor", "ABA'", 150, "classical", ("french horn", "strings", "harp", "contrabass"),
                               (("strings", "pad"), ("harp", "arpeggio"))),
    "edm": GenreDefaults(124, (4, 4), "minor", "verse-chorus", 200, "pop", ("synth lead", "synth pad", "synth bass", "drums"),
                         (("synth pad", "pad"),)),
    "hiphop": GenreDefaults(88, (4, 4), "minor", "verse-chorus", 180, "pop", ("vibraphone", "electric piano", "electric bass", "drums")),
}

SECTION_LABELS = {"intro": "I", "verse": "A", "pre-chorus": "P", "chorus": "B", "bridge": "C", "solo": "S",
                  "interlude": "N", "outro": "O"}
SECTION_ENERGY = {"intro": 2, "verse": 3, "pre-chorus": 3, "chorus": 4, "bridge": 3, "solo": 4, "interlude": 2, "outro": 2}
BLUES = ["0:maj", "5:7", "0:maj", "0:7", "5:7", "5:7", "0:maj", "0:maj", "7:7", "5:7", "0:maj", "7:7"]
MINOR_BLUES = ["0:min7", "5:min7", "0:min7", "0:min7", "5:min7", "5:min7", "0:min7", "0:min7", "8:7", "7:7", "0:min7", "7:7"]


def _rng(*keys: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, keys)).encode()))


@dataclass
class Slot:
    kind: str    # section kind: verse, chorus, A, B...
    name: str
    label: str
    bars: int


def plan_from_brief(text: str, seed: int = 0) -> Plan:
    return _plan_parsed(parse_brief(text), seed)


def _plan_parsed(brief: Brief, seed: int = 0) -> Plan:
    rng = _rng("plan", brief.text, seed)
    genre = brief.genre or _infer_genre(brief)
    gd = GENRES.get(genre, GENRES["pop"])
    mood_modes = [m for m in (_mood(m)[0] for m in brief.moods) if m]
    energy_base = int(round(np.mean([_mood(m)[1] for m in brief.moods]))) if brief.moods else 3

    if brief.key is not None:
        key = brief.key
    else:
        mode = brief.mode or (mood_modes[0] if mood_modes else gd.mode)
        tonic = gd.tonics[int(rng.integers(len(gd.tonics)))]
        if mode == "minor":
            tonic = {"C": "A", "G": "E", "D": "D", "F": "D", "A": "A", "E": "E", "Bb": "G", "Eb": "C"}.get(tonic, tonic)
        key = parse_key(f"{tonic} {mode}")
    meter = brief.meter or gd.meter
    tempo = brief.tempo
    if tempo is None:
        tempo = gd.tempo * (1 + 0.06 * (energy_base - 3))
        if meter == (6, 8) and genre != "jig":
            tempo = max(tempo, 120)
        tempo = float(int(round(tempo)))
    quarters = meter[0] * 4 / meter[1]
    if brief.bars:
        target_bars = brief.bars
    else:
        seconds = brief.seconds or gd.seconds
        target_bars = max(2, int(round(seconds * tempo / 60.0 / quarters)))
    max_bars = int(MAX_SECONDS * tempo / 60.0 / quarters)
    target_bars = min(target_bars, max_bars, 4096)

    form = brief.form or gd.form
    slots = _form_slots(form, target_bars, brief, gd, rng, exact=brief.bars is not None)
    table = load_table()
    style = gd.table if gd.table in table["chords"] else "pop"
    keys = _section_keys(slots, key, brief.modulations)
    meters = _section_meters(slots, meter, brief.section_meters)
    idiom = idiom_for(", ".join(x for x in [genre, *brief.moods] if x), tempo)
    if brief.brushes:
        idiom = replace(idiom, drums="brushes")
    if compound_meter(*meter) and idiom.feel != "compound":
        idiom = replace(idiom, feel="compound", swing=1.0)  # 12/8 already divides the beat in three: no swing on top
    chords = _progressions(slots, keys, style, form, rng, table, meters, key, _named_tokens(brief, key), tempo,
                           idiom.genre)

    tracks = _tracks(brief.instruments, gd, brief.no_drums)
    energies = []
    for i, slot in enumerate(slots):
        kind = slot.kind.lower()
        energy = SECTION_ENERGY.get(kind, 4 if slot.label.startswith(("B", "C")) and form not in ("AABB",) else 3)
        energy = int(np.clip(energy + (energy_base - 3), 1, 5))
        if i == len(slots) - 1 and kind in ("chorus",):
            energy = min(5, energy + 1)
        if form == "variations" and i:
            energy = int(np.clip(energy_base + (1 if i % 2 else -1) + i // 3, 1, 5))
        energies.append(energy)
    if brief.arc:
        energies = _arc(energies, [s.kind.lower() for s in slots], brief.arc)
    sections = []
    prev_key, prev_meter = key, meter
    for i, slot in enumerate(slots):
        skey = keys[i]
        energy = energies[i]
        sec = {
            "name": slot.name, "label": slot.label, "bars": slot.bars,
            "chords": chords[i], "energy": energy,
            "description": _describe(slot, skey, energy),
        }
        if (skey.tonic, skey.mode) != (prev_key.tonic, prev_key.mode):
            sec["key"] = skey.name
        if meters[i] != prev_meter:  # a section's own meter, and the way back after it
            sec["meter"] = f"{meters[i][0]}/{meters[i][1]}"
        prev_key, prev_meter = skey, meters[i]
        sections.append(sec)
    title = brief.title or _title(brief, genre, key)
    style_text = ", ".join(x for x in [genre, *brief.moods] if x)
    return Plan.model_validate({
        "title": title, "key": key.name, "meter": f"{meter[0]}/{meter[1]}", "tempo": tempo,
        "style": style_text, "idiom": asdict(idiom), "tracks": tracks, "sections": sections,
    })


def _mood(word: str):
    from .brief import MOODS
    return MOODS.get(word, (None, 3))


def _infer_genre(brief: Brief) -> str:
    fams = {i.family for i in brief.instruments}
    if brief.meter == (6, 8):
        return "jig" if "strings" in fams or not fams else "folk"
    if brief.meter == (3, 4):
        return "waltz"
    if any(i.drum for i in brief.instruments):
        return "pop"
    if fams and fams <= {"strings", "brass", "reed", "pipe", "keys", "plucked", "percussion", "voice", "bass"}:
        return "classical" if fams & {"strings", "reed", "brass", "pipe"} else "pop"
    return "pop"


def _arc(energies: list[int], kinds: list[str], arc: str) -> list[int]:
    """Section energies along the brief's arc, keeping the sections' contrast: "build" starts the body of
    the piece two levels below the sections' own energy (and at most at 2), rises to it and ends at 5; "fade"
    starts at it, sinks two levels and ends at 1. An intro starts at or below the first section; an outro after a build
    settles one level down, after a fade it stays at 1."""
    body = [i for i, k in enumerate(kinds) if k not in ("intro", "outro")]
    if len(body) < 2:
        return energies
    out = list(energies)
    for j, i in enumerate(body):
        t = j / (len(body) - 1)
        out[i] = int(np.clip(energies[i] + round(2 * t - 2 if arc == "build" else -2 * t), 1, 5))
    if arc == "build" and out[body[0]] > 2:
        # A build starts low whatever the mood (an epic one too): mp at most, so the climax is three levels up.
        lift = out[body[0]] - 2
        for j, i in enumerate(body):
            out[i] = max(1, out[i] - round(lift * (1 - j / (len(body) - 1))))
    out[body[-1]] = 5 if arc == "build" else 1
    for i, k in enumerate(kinds):
        if k == "intro":
            out[i] = min(out[i], out[body[0]])
        elif k == "outro":
            out[i] = 4 if arc == "build" else 1
    return out


def _title(brief: Brief, genre: str, key: Key) -> str:
    mood = brief.moods[0].capitalize() + " " if brief.moods else ""
    name = {"hiphop": "Hip-hop Groove", "edm": "Dance Track", "classical": "Piece", "bossa": "Bossa Nova",
            "jig": "Jig", "cinematic": "Cue"}.get(genre, genre.capitalize() if genre != "pop" else "Song")
    return f"{mood}{name} in {key.name}"


def _describe(slot: Slot, key: Key, energy: int) -> str:
    return f"{slot.name}: {slot.bars} bars in {key.name}, energy {energy}"


# --- form ------------------------------------------------------------------------------

def _form_slots(form: str, target: int, brief: Brief, gd: GenreDefaults, rng: np.random.Generator,
                exact: bool) -> list[Slot]:
    if form == "verse-chorus":
        slots = _song_form(target, rng)
    elif form == "blues":
        n = max(1, int(round(target / 12)))
        slots = [Slot("chorus", f"Chorus {i + 1}", "A" if i == 0 else "A'", 12) for i in range(n)]
        if target < 12:
            slots = [Slot("chorus", "Chorus 1", "A", max(2, target))]
        return _intro_outro(slots, brief, rng)
    elif form == "variations":
        n = max(2, min(12, int(round(target / 16))))
        length = max(4, int(round(target / n / 4)) * 4)
        slots = [Slot("A", "Theme" if i == 0 else f"Variation {i}", "A" + "'" * min(i, 3), length) for i in range(n)]
    elif form == "through":
        n = max(2, min(8, int(round(target / 8))))
        slots = [Slot(chr(65 + i), f"Part {chr(65 + i)}", chr(65 + i), 8) for i in range(n)]
    else:
        letters = {"rondo": "ABACABA" if target >= 56 else "ABACA"}.get(form, form)
        slots = _letter_form(letters, rng)
    if form == "verse-chorus":
        if brief.bridge and not any(s.kind == "bridge" for s in slots):
            pos = max(1, len(slots) - (2 if slots[-1].kind == "outro" else 1))
            slots.insert(pos, Slot("bridge", "Bridge", SECTION_LABELS["bridge"], 8))
        slots = _fit(slots, target, form, rng, repeat_cycles=False)
    else:
        slots = _fit_letters(slots, target, brief, repeat_cycles=form in ("AABA", "AABB", "AB") or gd.table in ("jazz", "folk"))
    slots = _intro_outro(slots, brief, rng)
    if exact:
        _exact(slots, target)
    return slots


def _letter_form(letters: str, rng) -> list[Slot]:
    out, i = [], 0
    tokens = []
    while i < len(letters):
        j = i + 1
        while j < len(letters) and letters[j] in "'’":
            j += 1
        tokens.append(letters[i:j].replace("’", "'"))
        i = j
    counts: dict[str, int] = {}
    for t in tokens:
        base = t[0]
        counts[base] = counts.get(base, 0) + 1
        out.append(Slot(base, f"{base}{counts[base]}" if tokens.count(t) > 1 or any(x[0] == base and x != t for x in tokens) else base, t, 8))
    return out


def _song_form(target: int, rng) -> list[Slot]:
    forms = load_table()["forms"]["pop"]["sequences"]
    seqs = [s[0] if isinstance(s[0][0], list) else s for s in forms]
    weights = np.array([float(s[1]) if isinstance(s[0][0], list) else 1.0 for s in forms])
    # Prefer charts whose own length is near the target; sample among the better half.
    totals = np.array([sum(int(b) for _, b in s) for s in seqs], dtype=float)
    fit = np.exp(-np.abs(np.log(np.maximum(totals, 1) / max(target, 1))) * 2.0) * weights
    idx = int(rng.choice(len(seqs), p=fit / fit.sum()))
    counts: dict[str, int] = {}
    slots = []
    for name, bars in seqs[idx]:
        kind = name if name in SECTION_LABELS else "interlude"
        counts[kind] = counts.get(kind, 0) + 1
        label = SECTION_LABELS[kind]
        bars = max(2, int(bars))
        slots.append(Slot(kind, kind.replace("-", " ").title().replace(" ", "-") + f" {counts[kind]}", label, bars))
    # Sections that share a label share a length, so their material can be reused.
    by_label: dict[str, int] = {}
    for s in slots:
        by_label.setdefault(s.label, s.bars)
        s.bars = by_label[s.label]
    for s in slots:
        if counts.get(s.kind) == 1:
            s.name = s.name.rsplit(" ", 1)[0]
    return slots


def _fit(slots: list[Slot], target: int, form: str, rng, repeat_cycles: bool) -> list[Slot]:
    """Fit a song form to about target bars: drop or add whole verse-chorus blocks (never a lone
    verse or chorus), then scale section lengths per label in whole phrases."""
    tail = 0  # the closing chorus group and outro stay at the end; new blocks go before them
    while tail < len(slots) - 1 and slots[len(slots) - 1 - tail].kind in ("outro", "chorus"):
        tail += 1
    for _ in range(24):
        slots = _scale(slots, target)
        total = sum(s.bars for s in slots)
        if total > 1.1 * target and _shrink(slots):
            tail = min(tail, len(slots) - 1)
            continue
        if total < 0.9 * target and len(slots) < 40 and _grow(slots, len(slots) - tail):
            continue
        break
    _renumber(slots)
    return slots


def _block(slots: list[Slot], start: int) -> tuple[int, int]:
    """The verse at start through the chorus that answers it: [start, end)."""
    for end in range(start + 1, min(len(slots), start + 5)):
        if slots[end].kind == "chorus":
            return start, end + 1
    return start, start + 1


def _shrink(slots: list[Slot]) -> bool:
    for kind in ("solo", "interlude"):
        idx = [i for i, s in enumerate(slots) if s.kind == kind]
        if idx:
            del slots[idx[-1]]
            return True
    verses = [i for i, s in enumerate(slots) if s.kind == "verse"]
    if len(verses) >= 2:
        a, b = _block(slots, verses[1])
        del slots[a:b]
        return True
    for i in range(len(slots) - 1, 0, -1):  # a repeated chorus at the end
        if slots[i].kind == slots[i - 1].kind == "chorus":
            del slots[i]
            return True
    for kind in ("bridge", "pre-chorus", "outro", "intro"):
        idx = [i for i, s in enumerate(slots) if s.kind == kind]
        if idx and len(slots) > 2:
            del slots[idx[-1]]
            return True
    return False


def _grow(slots: list[Slot], pos: int) -> bool:
    verses = [i for i, s in enumerate(slots) if s.kind == "verse"]
    if not verses:
        return False
    a, b = _block(slots, verses[0])
    slots[pos:pos] = [Slot(s.kind, s.name, s.label, s.bars) for s in slots[a:b]]
    return True


def _scale(slots: list[Slot], target: int) -> list[Slot]:
    # Scale lengths per label, in whole phrases, inside the range each kind of section has in songs.
    kinds: dict[str, str] = {}
    labels: dict[str, int] = {}
    for s in slots:
        labels.setdefault(s.label, s.bars)
        kinds.setdefault(s.label, s.kind)
    total = sum(s.bars for s in slots)
    factor = target / max(1, total)
    unit = 4 if target >= 40 else 2 if target >= 12 else 1
    ranges = {"intro": (2, 8), "outro": (2, 8), "interlude": (2, 8), "pre-chorus": (2, 8), "solo": (4, 16)}

    def bounds(label: str) -> tuple[int, int]:
        lo, hi = ranges.get(kinds[label], (4, 16))
        if target > 24 * len(slots):  # long pieces need long sections
            hi *= 2
        return min(lo, unit * 2) if unit < 4 else lo, hi

    new = {}
    for lab, b in labels.items():
        lo, hi = bounds(lab)
        new[lab] = int(min(max(round(b * factor / unit) * unit, lo, unit), hi))
    for s in slots:
        s.bars = new[s.label]
    # Nudge verse and chorus lengths (the song's body) a phrase at a time toward the target.
    body = [lab for lab in new if kinds[lab] in ("verse", "chorus", "bridge")] or list(new)
    for _ in range(64):
        total = sum(s.bars for s in slots)
        if abs(total - target) <= max(2, 0.06 * target):
            break
        freq = {lab: sum(1 for s in slots if s.label == lab) for lab in body}
        sign = 1 if total < target else -1
        cands = [lab for lab in body if bounds(lab)[0] <= new[lab] + sign * unit <= bounds(lab)[1]]
        if not cands:
            break
        lab = min(cands, key=lambda k: (abs(total + sign * unit * freq[k] - target), -freq[k]))
        if abs(total + sign * unit * freq[lab] - target) >= abs(total - target):
            break
        new[lab] += sign * unit
        for s in slots:
            s.bars = new[s.label]
    return slots


def _fit_letters(slots: list[Slot], target: int, brief: Brief, repeat_cycles: bool) -> list[Slot]:
    """Pick one section length (4-32 bars, 8 preferred; up to 64 in forms played once) and a number of
    passes through the form, with an intro or a closing tag where that brings the length closer to the
    request. Chorus forms (AABA, AABB, AB, jazz and folk tunes) repeat; a ternary or rondo form is played
    once with longer sections (built of 4- and 8-bar phrases, see _progression): a two-minute ABA is
    A B A, not A B A A B A A B A."""
    n = len(slots)
    lengths = (4, 8, 12, 16, 24, 32) if repeat_cycles else (4, 8, 12, 16, 24, 32, 40, 48, 64)
    per_cycle = 0.01 if repeat_cycles else 0.3
    per_octave = 0.25 if repeat_cycles else 0.15

    def fills(total: int) -> tuple[int, int]:
        short = target - total
        intro = 4 if short >= 3 and not brief.intro else 0
        short -= intro
        coda = 0 if short < 3 or brief.outro else (4 if short < 6 else 8)
        return intro, coda

    best: tuple[float, int, int, int, int] | None = None
    for length in lengths:
        for cycles in range(1, 200):
            total = n * length * cycles
            intro, coda = fills(total)
            err = abs(total + intro + coda - target) / max(target, 1)
            cost = err + 2 * max(0.0, err - 0.08) + per_octave * abs(np.log2(length / 8))
            cost += per_cycle * (cycles - 1) + 0.02 * bool(intro) + 0.02 * bool(coda)
            if best is None or cost < best[0]:
                best = (cost, length, cycles, intro, coda)
            if total > 2 * target:
                break
    assert best is not None  # the first length's first pass sets it
    _, length, cycles, intro, coda = best
    out = []
    for c in range(cycles):
        for s in slots:
            out.append(Slot(s.kind, s.name if cycles == 1 else f"{s.name} ({c + 1})", s.label, length))
    if intro:
        out.insert(0, Slot("intro", "Intro", "I", intro))
    if coda:
        out.append(Slot("outro", "Coda", "O", coda))
    return out


def _renumber(slots: list[Slot]) -> None:
    counts: dict[str, int] = {}
    totals: dict[str, int] = {}
    for s in slots:
        totals[s.kind] = totals.get(s.kind, 0) + 1
    for s in slots:
        counts[s.kind] = counts.get(s.kind, 0) + 1
        base = s.kind.replace("-", " ").title().replace(" ", "-") if s.kind in SECTION_LABELS else s.name.rsplit(" ", 1)[0]
        s.name = base if totals[s.kind] == 1 else f"{base} {counts[s.kind]}"


def _intro_outro(slots: list[Slot], brief: Brief, rng) -> list[Slot]:
    if brief.intro and not any(s.kind == "intro" for s in slots):
        slots.insert(0, Slot("intro", "Intro", "I", 4))
    if brief.outro and not any(s.kind == "outro" for s in slots):
        slots.append(Slot("outro", "Outro", "O", 4))
    return slots


def _exact(slots: list[Slot], target: int) -> None:
    """Make the bar count exactly the requested number by adjusting the last section."""
    diff = target - sum(s.bars for s in slots)
    if diff == 0:
        return
    last = slots[-1]
    if last.bars + diff >= 1:
        if any(s.label == last.label for s in slots[:-1]):
            last.label = last.label + "'"
        last.bars += diff
    else:
        while slots and sum(s.bars for s in slots) - slots[-1].bars >= target:
            slots.pop()
        _exact(slots, target)


# --- keys ---------------------------------------------------------------------------------

def _target_key(key: Key, target: str) -> Key:
    if target == "relative":
        return key.relative()
    if target == "dominant":
        return Key((key.tonic + 7) % 12, key.mode)
    if target == "subdominant":
        return Key((key.tonic + 5) % 12, key.mode)
    if target == "parallel":
        return Key(key.tonic, "minor" if key.mode == "major" else "major", key.tonic_name)
    if target in ("up1", "up2", "down1"):
        return key.transpose({"up1": 1, "up2": 2, "down1": -1}[target])
    return parse_key(target)


def _section_keys(slots: list[Slot], key: Key, mods: list[Modulation]) -> list[Key]:
    keys = [key] * len(slots)
    for mod in mods:
        new = _target_key(key, mod.target)
        idx: list[int] = []
        if mod.where == "bridge" or (mod.where == "auto" and any(s.kind == "bridge" for s in slots)):
            idx = [i for i, s in enumerate(slots) if s.kind == "bridge"]
        if not idx and mod.where in ("B", "auto", "bridge"):
            idx = [i for i, s in enumerate(slots) if s.label.startswith("B") and s.kind not in ("chorus",)]
        if not idx and mod.where in ("last", "auto") and mod.target in ("up1", "up2"):
            main = [i for i, s in enumerate(slots) if s.kind not in ("outro",)]
            idx = [main[-1]] if main else []
        if not idx:
            mids = [i for i, s in enumerate(slots) if s.kind not in ("intro", "outro")]
            idx = [mids[len(mids) // 2]] if mids else []
        if mod.where == "last" or mod.target in ("up1", "up2"):
            # A lift stays up to the end.
            if idx:
                for i in range(idx[0], len(slots)):
                    keys[i] = new
                continue
        for i in idx:
            keys[i] = new
    return keys


def _section_meters(slots: list[Slot], meter: tuple[int, int], wanted: list[tuple[str, tuple[int, int]]]
                    ) -> list[tuple[int, int]]:
    """Each section's meter: the piece's, or the one the brief gives a section ("the trio in 2/4")."""
    out = [meter] * len(slots)
    for where, m in wanted:
        middle = [i for i, s in enumerate(slots) if s.label.startswith("B") and s.kind not in ("chorus",)]
        bridge = [i for i, s in enumerate(slots) if s.kind == "bridge"]
        if where == "B":
            idx = middle or bridge
        elif where == "bridge":
            idx = bridge or middle
        else:
            idx = [i for i, s in enumerate(slots) if s.kind == where]
        if not idx:
            what = {"B": "trio or middle section"}.get(where, where)
            raise BriefError(f"the brief puts the {what} in {m[0]}/{m[1]}, but the form has no {what}")
        for i in idx:
            out[i] = m
    return out


# --- harmony --------------------------------------------------------------------------------

def _pick(dist: dict[str, float], rng, temperature: float = 1.0, bias: dict[str, float] | None = None) -> str:
    toks = list(dist)
    w = np.array([float(dist[t]) for t in toks]) ** (1.0 / temperature)
    if bias:
        w = w * np.array([bias.get(t, 1.0) for t in toks])
    if w.sum() <= 0:
        return toks[0]
    return toks[int(rng.choice(len(toks), p=w / w.sum()))]


def _named_tokens(brief: Brief, key: Key) -> list[str]:
    """A progression named in the brief, as key-relative tokens (one chord per bar)."""
    from symbolic.harmony import degree_token, parse_chord
    out = []
    for sym in brief.chords:
        c = parse_chord(sym)
        tok = degree_token(c, key)
        q = tok.split(":")[1]
        if q not in ("maj", "min", "7", "maj7", "min7", "dim", "hdim7", "dim7", "aug", "sus4", "sus2", "maj6", "min6", "9"):
            tok = f"{tok.split(':')[0]}:{'min' if c.is_minor else 'maj'}"
        out.append(tok)
    return out


def _progressions(slots, keys, style, form, rng, table, meters, home: Key, named: list[str] | None = None,
                  tempo: float = 120.0, genre: str = "pop") -> list[list[list[dict]]]:
    """Chords for every section, in the genre's harmonic idiom; meters is one meter for all or a list with
    each section's."""
    if isinstance(meters, tuple):
        meters = [meters] * len(slots)
    by_label: dict[tuple, list[list[str]]] = {}
    main = next((s.label.rstrip("'") for s in slots if s.kind in ("verse", "A", "chorus")), slots[0].label.rstrip("'"))
    sections: list[list[list[str]]] = []
    named_at: list[bool] = []
    for i, slot in enumerate(slots):
        key, meter = keys[i], meters[i]
        final = i == len(slots) - 1
        base = slot.label.rstrip("'")
        sig = (base, slot.bars, final, key.mode, meter)
        if form == "blues":
            toks = _blues(slot.bars, key, final)
        elif named and base == main and key.tonic == home.tonic and key.mode == home.mode:
            # The progression the brief names loops through the main section.
            toks = [[named[b % len(named)]] for b in range(slot.bars)]
            named_at.append(True)
            tonic = "0:maj" if key.mode == "major" else "0:min"
            if slot.bars >= 2 and (final or (slot.bars >= 2 * len(named) and toks[-1][0] != tonic)):
                # A section long enough to loop the named progression twice closes in the home key.
                toks[-2:] = _cadence(rng, True, key)
        elif sig in by_label:
            toks = by_label[sig]
        else:
            prime_of = next((v for k, v in by_label.items() if k[0] == base and k[1] == slot.bars and k[3] == key.mode
                             and k[4] == meter), None)
            if prime_of is not None:
                # A varied repeat: same harmony, a new cadence.
                toks = [list(b) for b in prime_of]
                if len(toks) >= 2:
                    toks[-2:] = _cadence(rng, final, key)
            else:
                toks = _progression(slot.bars, table["chords"][style].get(key.mode) or table["chords"]["pop"][key.mode],
                                    rng, final, meter, start_on_tonic=(i == 0 or slot.kind in ("verse", "A", "intro")), key=key,
                                    most=_most_chords(meter, tempo))
            by_label[sig] = toks
        if len(named_at) <= i:
            named_at.append(False)
        nxt_key = keys[i + 1] if i + 1 < len(slots) else key
        bars = [list(b) for b in toks]
        if nxt_key.tonic != key.tonic and not final:
            # Pivot into the next key through its dominant.
            bars[-1] = [f"{(nxt_key.tonic + 7 - key.tonic) % 12}:7"]
        sections.append(bars)
    out = []
    for i, bars in enumerate(sections):
        key, meter = keys[i], meters[i]
        if not named_at[i]:  # a progression the brief names is played as named
            into = None
            if i + 1 < len(sections):
                off, q = _offset_quality(sections[i + 1][0][0])
                into = ((keys[i + 1].tonic + off - key.tonic) % 12, q)
            bars = idiomatic(bars, key, genre, _most_chords(meter, tempo), into)
        out.append([_bar_chords(b, key, meter) for b in bars])
    return out


# --- the genres' harmonic idioms ------------------------------------------------------------------

JAZZ_HARMONY = ("jazz", "jazz ballad", "bossa", "tango")
DOMINANT_HARMONY = ("blues", "funk")
TRIAD_HARMONY = ("reel", "jig", "folk", "hymn")


# The chord vocabulary each harmonic idiom is judged by (symbolic.style_measures.VOCABULARY).
_VOCAB_FAMILY = {"jazz": "jazz", "jazz ballad": "jazz", "tango": "jazz", "bossa": "bossa", "blues": "blues",
                 "reel": "celtic", "jig": "celtic", "folk": "celtic", "classical": "classical", "baroque": "classical"}


def outside_idiom(genre: str, key: Key, symbols: list[str]) -> list[str]:
    """The chord symbols that leave a style's harmonic vocabulary in a key (none for styles without one)."""
    from symbolic import style_measures as sm
    from symbolic.harmony import parse_chord
    family = _VOCAB_FAMILY.get(genre)
    if family is None:
        return []
    return [s for s in symbols if not sm.in_vocabulary(parse_chord(s), key, sm.VOCABULARY[family])]


def idiom_problems(plan: Plan) -> list[str]:
    """Where a plan's harmony leaves its style's idiom, in words a planner (or a person editing chords) can act
    on: chords outside the style's vocabulary, a jazz or bossa chart without seventh chords or ii-V motion, a
    blues whose tonic is not a dominant seventh."""
    from symbolic import style_measures as sm
    from symbolic.harmony import parse_chord
    genre = plan.style_idiom().genre
    family = _VOCAB_FAMILY.get(genre)
    if family is None:
        return []
    vocab = sm.VOCABULARY[family]
    key = parse_key(plan.key)
    chords, outside, triad_tonic = [], [], []
    bar_no = 0
    for sec in plan.sections:
        key = parse_key(sec.key) if sec.key else key
        for bar in sec.chords:
            bar_no += 1
            for c in bar:
                chord = parse_chord(c.symbol)
                chords.append(chord)
                if not sm.in_vocabulary(chord, key, vocab):
                    outside.append(f"bar {bar_no} {c.symbol}")
                if family == "blues" and chord.root == key.tonic and chord.quality not in sm.DOMINANT_QUALITIES:
                    triad_tonic.append(f"bar {bar_no} {c.symbol}")
    problems = []
    if len(outside) > 0.1 * len(chords):
        problems.append(f"{len(outside)} of {len(chords)} chords are outside the {genre} idiom: "
                        f"{', '.join(outside[:4])}")
    if family in ("jazz", "bossa"):
        sevenths = sm.seventh_share(chords)
        if sevenths < 0.6:
            problems.append(f"only {sevenths:.0%} of the chords are sevenths; {genre} harmony is built on maj7, m7 "
                            f"and dominant 7 chords")
        if sm.two_five_count(chords) == 0 and plan.total_bars >= 8:
            problems.append(f"no ii-V motion: a {genre} chart prepares its dominants (Dm7 G7 Cmaj7)")
    if triad_tonic and len(triad_tonic) > 0.25 * len(chords):
        problems.append(f"the blues tonic is a dominant seventh, not {triad_tonic[0].split()[-1]} "
                        f"({', '.join(triad_tonic[:3])})")
    return problems


def _offset_quality(tok: str) -> tuple[int, str]:
    off, q = tok.split(":", 1)
    return int(off) % 12, q


def _diatonic(key: Key) -> tuple[int, ...]:
    return (0, 2, 3, 5, 7, 8, 10) if key.mode == "minor" else (0, 2, 4, 5, 7, 9, 11)


def _dominant_blues(tok: str) -> str:
    """The blues' and funk's I, IV and V are dominant sevenths, their minor chords minor sevenths."""
    off, q = _offset_quality(tok)
    if q == "min":
        return f"{off}:min7"
    return f"{off}:7" if q == "maj" and off in (0, 5, 7) else tok


def _jazz_seventh(tok: str, key: Key) -> str:
    """A jazz player's reading of a triad: tonic and subdominant major sevenths, dominant (and chromatic
    major, secondary-dominant) sevenths, minor sevenths, half-diminished ii in minor and vii in major."""
    off, q = _offset_quality(tok)
    diatonic = _diatonic(key)
    if q == "maj":
        if off == 7 or off not in diatonic or (key.mode == "minor" and off == 10):
            return f"{off}:7"
        return f"{off}:maj7"
    if q == "min":
        return f"{off}:min7"
    if q == "dim":
        return f"{off}:hdim7" if off in diatonic else f"{off}:dim7"
    if q == "sus4" and off == 7:
        return "7:7sus4"
    return tok


def _triad(tok: str, key: Key) -> str:
    """A folk tune's chord: the triad on a scale degree (the dominant may keep its seventh); a chromatic
    root moves to the nearest scale degree (the lower of two), whose triad it then is."""
    off, q = _offset_quality(tok)
    diatonic = _diatonic(key)
    if key.mode == "major" and off == 10:
        return "10:maj"  # the mixolydian bVII of the fiddle tunes
    if off not in diatonic:
        off = min(diatonic, key=lambda d: (min((d - off) % 12, (off - d) % 12), d))
    if off == 7 and q in ("7", "9", "13", "7sus4"):
        return "7:7" if key.mode == "major" else "7:maj"
    minor_degrees = (0, 5) if key.mode == "minor" else (2, 4, 9)
    if off == (2 if key.mode == "minor" else 11):
        return f"{off}:dim"
    return f"{off}:min" if off in minor_degrees else f"{off}:maj"


def idiomatic(bars: list[list[str]], key: Key, genre: str, most: int,
              into: tuple[int, str] | None = None) -> list[list[str]]:
    """A section's chord tokens in the genre's harmonic idiom. Jazz: seventh chords, every dominant that
    resolves down a fifth prepared by its ii (sharing the bar when the meter and tempo allow two chords),
    and a turnaround into the next section's first chord (`into`: its root as an offset in this key, and
    its quality). Blues and funk: dominant sevenths on I, IV and V. Celtic and folk tunes: diatonic triads
    (and the mixolydian bVII)."""
    if genre in TRIAD_HARMONY:
        return [[_triad(t, key) for t in b] for b in bars]
    if genre in DOMINANT_HARMONY:
        return [[_dominant_blues(t) for t in b] for b in bars]
    if genre not in JAZZ_HARMONY:
        return bars
    out = [[_jazz_seventh(t, key) for t in b] for b in bars]
    if into is not None and len(out) >= 2 and _offset_quality(out[-1][-1]) != ((into[0] + 7) % 12, "7"):
        # The turnaround: the last bar becomes the ii-V of the chord the next section starts on.
        v, ii = (into[0] + 7) % 12, (into[0] + 2) % 12
        two = f"{ii}:{'hdim7' if into[1].startswith(('min', 'dim', 'hdim')) else 'min7'}"
        out[-1] = [two, f"{v}:7"] if most >= 2 else [f"{v}:7"]
        if most < 2 and len(out[-2]) == 1 and _offset_quality(out[-2][0])[0] in (ii, (into[0] + 5) % 12):
            out[-2] = [two]
    if most < 2:
        return out
    flat = [(b, k) for b in range(len(out)) for k in range(len(out[b]))]
    for n, (b, k) in enumerate(flat):
        off, q = _offset_quality(out[b][k])
        if q != "7" or len(out[b]) > 1 or n == 0:
            continue
        pb, pk = flat[n - 1]
        prev_off, prev_q = _offset_quality(out[pb][pk])
        ii = (off + 7) % 12
        if prev_off == ii and prev_q in ("min7", "hdim7"):
            continue  # already prepared
        nxt = _offset_quality(out[flat[n + 1][0]][flat[n + 1][1]]) if n + 1 < len(flat) else None
        resolves = (nxt or into or (None, ""))[0] == (off + 5) % 12
        if not resolves:
            continue
        to_minor = (nxt or into or (0, ""))[1] in ("min", "min7", "min6")
        out[b] = [f"{ii}:{'hdim7' if to_minor else 'min7'}", f"{off}:7"]
    return out


def _beat_groups(meter: tuple[int, int]) -> int:
    """How many chords a bar can carry, one per beat: compound meters (6/8, 9/8, 12/8) count dotted
    quarters, the others their own beats."""
    num, den = meter
    return num // 3 if compound_meter(num, den) else num


# The shortest a planned chord may sound: the data's harmonic rhythm is counted in bars (chorales change
# chords on every beat), but at a quick tempo a change per beat is a blur, so bars are split only while
# every chord lasts this long (a waltz at 150 keeps a chord a bar, pop at 112 may split a bar in halves).
MIN_CHORD_SECONDS = 0.75


def _most_chords(meter: tuple[int, int], tempo: float) -> int:
    """The most chords a bar may carry at this meter and tempo (quarter-note BPM)."""
    groups = _beat_groups(meter)
    group_seconds = meter[0] / groups * 4 / meter[1] * 60.0 / max(1.0, tempo)
    for k in range(groups, 1, -1):
        if groups // k * group_seconds >= MIN_CHORD_SECONDS:
            return k
    return 1


def _bar_chords(tokens: list[str], key: Key, meter: tuple[int, int]) -> list[dict]:
    """A bar's chords with their beats: equal shares of the bar's beat groups, the earlier chords taking
    the larger shares (3/4 with two chords: 2 + 1; 4/4 with three: 2 + 1 + 1)."""
    num = meter[0]
    groups = _beat_groups(meter)
    n = max(1, min(len(tokens), groups))
    per = num // groups  # beats in one group (3 in compound meters)
    shares = [groups // n + (1 if i < groups % n else 0) for i in range(n)]
    return [{"symbol": chord_from_token(t, key).text, "beats": float(k * per)} for t, k in zip(tokens[:n], shares)]


def _blues(bars: int, key: Key, final: bool) -> list[list[str]]:
    src = BLUES if key.mode == "major" else MINOR_BLUES
    toks = [[src[i % 12]] for i in range(bars)]
    if final:
        toks[-1] = [src[0]]
    return toks


def _progression(n: int, t: dict, rng, final: bool, meter: tuple[int, int], start_on_tonic: bool, key: Key,
                 most: int = 1) -> list[list[str]]:
    """Chords for one section. Long sections are built from 4- or 8-bar phrases that return
    with new cadences (a a' b a''), as real songs and tunes do, rather than one long random walk."""
    if n <= 8 or n % 4:
        return _phrase(n, t, rng, final, meter, start_on_tonic, key, most)
    length = 8 if n % 8 == 0 else 4
    count = n // length
    plan = {2: "aa", 3: "aba", 4: "aaba"}.get(count) or ("aaba" * (count // 4 + 1))[:count]
    phrases: dict[str, list[list[str]]] = {}
    out: list[list[str]] = []
    for i, letter in enumerate(plan):
        last = i == count - 1
        if letter not in phrases:
            phrases[letter] = _phrase(length, t, rng, final and last, meter, start_on_tonic or letter == "a", key, most)
            bars = phrases[letter]
        else:
            bars = [list(b) for b in phrases[letter]]
            bars[-2:] = _cadence(rng, final and last, key)
        out += bars
    if final:
        out[-2:] = _cadence(rng, True, key)
    return out


def _mode_bias(key: Key) -> dict[str, float]:
    """Weights that keep the requested key audible: the tonic of the other mode blurs it (the data has
    picardy thirds and modal songs), tonic and dominant define it, chromatic roots weaken it."""
    minor = key.mode == "minor"
    diatonic = (0, 2, 3, 5, 7, 8, 10, 11) if minor else (0, 2, 4, 5, 7, 9, 11)
    bias: dict[str, float] = {}
    for off in range(12):
        for q in ("maj", "min", "7", "maj7", "min7", "dim", "hdim7", "dim7", "aug", "sus4", "sus2", "maj6", "min6", "9"):
            bias[f"{off}:{q}"] = 1.0 if off in diatonic else 0.6
    for tok in (("0:maj", "0:7", "0:maj7") if minor else ("0:min", "0:min7")):
        bias[tok] = 0.1
    for tok in ("0:min", "0:min7") if minor else ("0:maj", "0:maj7", "0:maj6"):
        bias[tok] = 1.25
    for tok in ("7:maj", "7:7"):
        bias[tok] = 1.3
    bias["5:maj" if not minor else "5:min"] = 0.85
    return bias


def _phrase(n: int, t: dict, rng, final: bool, meter: tuple[int, int], start_on_tonic: bool, key: Key,
            most: int = 1) -> list[list[str]]:
    tonic = "0:maj" if key.mode == "major" else "0:min"
    start = t["start"]
    mode_bias = _mode_bias(key)
    first = tonic if start_on_tonic else _pick(start, rng, 0.9, mode_bias)
    bars: list[str] = [first]
    cad = t["cadence"]
    for b in range(1, n):
        prev = bars[-1]
        nxt = t["next"].get(prev) or start
        bias = dict(mode_bias)
        bias[prev] = 0.35 if len(bars) >= 2 and bars[-2] == prev else 0.8
        if b == n - 1:
            if final:
                choice = tonic
            else:
                choice = _pick(cad, rng, 0.8, {k: (1 + 3 * nxt.get(k, 0) / max(1, sum(nxt.values()))) * mode_bias.get(k, 1.0)
                                               for k in cad})
            bars.append(choice)
        elif b == n - 2:
            target = tonic if final else None
            pen = t.get("penult", {})
            weights = {}
            for k, c in nxt.items():
                into = pen.get(k, {})
                score = c * (1 + (5 * into.get(target, 0) / max(1, sum(into.values())) if target else 0))
                weights[k] = score
            if final and key.mode == "minor":
                weights = {k: v for k, v in weights.items() if k not in ("7:min", "7:min7")} or weights
            bars.append(_pick(weights, rng, 0.8, bias))
        elif (b + 1) % 4 == 0 and t.get("phrase_end"):
            pe = t["phrase_end"]
            # Keys in the tables' own order: a set's order changes with every process (string hashing).
            bars.append(_pick({k: nxt.get(k, 0) + 0.2 * pe.get(k, 0) for k in dict.fromkeys([*nxt, *pe])}, rng, 0.8, bias))
        else:
            bars.append(_pick(nxt, rng, 0.85, bias))
    if final and n >= 2 and key.mode == "minor" and bars[-2].startswith("7:min"):
        bars[-2] = "7:7"
    # Harmonic rhythm as in the data: the style's share of bars with one, two, three or four chords
    # (up to `most`, what the meter and tempo allow), each next chord drawn from the data's changes
    # within a bar.
    counts = {k: float(v) for k, v in t.get("per_bar", {"1": 1}).items()
              if float(v) > 0 and int(k) <= most} or {"1": 1.0}
    out = []
    for b, tok in enumerate(bars):
        chords = [tok]
        want = 1 if b == n - 1 else int(_pick(counts, rng, 1.0))
        while len(chords) < want:
            split = t.get("split", {}).get(chords[-1]) or t["next"].get(chords[-1])
            if not split:
                break
            nxt = _pick(split, rng, 0.8, mode_bias)
            if nxt == chords[-1]:
                break
            chords.append(nxt)
        out.append(chords)
    return out


def _cadence(rng, final: bool, key: Key) -> list[list[str]]:
    tonic = "0:maj" if key.mode == "major" else "0:min"
    dom = "7:7" if key.mode == "minor" else _pick({"7:maj": 3, "7:7": 2, "5:maj": 1}, rng)
    last = tonic if final else _pick({tonic: 2, "7:maj" if key.mode == "major" else "7:7": 1}, rng)
    return [[dom if last == tonic else "5:maj" if key.mode == "major" else "5:min"], [last]]


# --- tracks -----------------------------------------------------------------------------------

# General MIDI ensemble sounds that can divide into melody and harmony: string ensembles, choir, brass section.
SECTION_PATCHES = frozenset({48, 49, 50, 51, 52, 61})


def _tracks(instruments: list[Instrument], gd: GenreDefaults, no_drums: bool = False) -> list[dict]:
    forced: dict[str, str] = {}
    if not instruments:
        instruments = [INSTRUMENTS[k] for k in gd.instruments if not (no_drums and INSTRUMENTS[k].drum)]
        forced = {INSTRUMENTS[k].name: r for k, r in gd.roles}
    roles: list[str | None] = [None] * len(instruments)
    for i, inst in enumerate(instruments):
        if inst.drum:
            roles[i] = "drums"
        elif inst.name in forced:
            roles[i] = forced[inst.name]
    pitched = [i for i, r in enumerate(roles) if r is None]
    bass = [i for i in pitched if instruments[i].family == "bass"]
    if bass:
        roles[bass[0]] = "bass"
        bowed = instruments[bass[0]].program in (32, 43) and len(pitched) >= 5
        cello = next((i for i in pitched if instruments[i].name == "Cello"), None)
        if bowed and cello is not None:
            roles[cello] = "bass"   # cellos and basses in octaves, as an orchestra's bass line is written
    elif len(pitched) >= 3:
        low = min(pitched, key=lambda i: (instruments[i].low, -i))
        if instruments[low].low <= 43 and instruments[low].family not in ("keys", "plucked", "guitar"):
            roles[low] = "bass"
    free = [i for i, r in enumerate(roles) if r is None]
    melodic = ("strings", "brass", "reed", "pipe", "voice", "synth", "percussion", "plucked")
    lead = next((i for i in free if instruments[i].family in melodic and instruments[i].name not in ("Synth Pad",)), None)
    extra: list[tuple[Instrument, str, str]] = []
    if lead is None and free:
        lead = free[0]
        if instruments[lead].family in ("keys", "guitar") and len(free) == 1:
            # A lone piano or guitar plays the tune and its own accompaniment on two staves.
            extra.append((instruments[lead], "chords", " Chords"))
    if lead is not None:
        roles[lead] = "melody"
    comp_done = bool(extra) or any(r == "chords" for r in roles)
    counter_done = any(r == "counter-melody" for r in roles)
    for i in [i for i, r in enumerate(roles) if r is None]:
        fam = instruments[i].family
        if fam in ("keys", "guitar", "plucked") and not comp_done:
            roles[i], comp_done = "chords", True
        elif fam in ("keys", "guitar", "plucked"):
            roles[i] = "arpeggio"
        elif not counter_done and fam in ("strings", "brass", "reed", "pipe", "voice"):
            roles[i], counter_done = "counter-melody", True
        elif instruments[i].family == "bass":
            roles[i] = "counter-melody"
        else:
            roles[i] = "pad"
    if not extra and not any(r in ("chords", "pad", "arpeggio") for r in roles):
        # No part holds the harmony: a section (strings, choir, brass) divides, one desk on the tune, the
        # others on the chords, so the piece is not two bare lines.
        section = next((i for i, inst in enumerate(instruments) if inst.program in SECTION_PATCHES), None)
        if section is not None:
            extra.append((instruments[section], "pad", " Harmony"))
    names: list[str] = []
    counts = {inst.name: sum(1 for x in instruments if x.name == inst.name) for inst in instruments}
    seen: dict[str, int] = {}
    for inst in instruments:
        seen[inst.name] = seen.get(inst.name, 0) + 1
        names.append(inst.name if counts[inst.name] == 1 else f"{inst.name} {_roman(seen[inst.name])}")
    tracks: list[dict[str, Any]] = [{"name": n, "role": r, "program": inst.program, "drum": inst.drum,
                                     **({"kit": inst.kit} if inst.kit else {})}
                                    for n, r, inst in zip(names, roles, instruments)]
    for inst, role, suffix in extra:
        tracks.insert(names.index(inst.name) + 1, {"name": inst.name + suffix, "role": role, "program": inst.program,
                                                   "drum": False})
    # Drums last, bass just before, as scores usually read.
    order = {"melody": 0, "counter-melody": 1, "arpeggio": 2, "chords": 3, "pad": 4, "bass": 5, "drums": 6}
    tracks.sort(key=lambda t: order[t["role"]])
    return tracks[:32]


def _roman(n: int) -> str:
    return ["I", "II", "III", "IV", "V", "VI", "VII", "VIII"][n - 1] if n <= 8 else str(n)


__all__ = ["plan_from_brief", "GENRES", "chord_symbol"]
