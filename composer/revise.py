"""Revising a plan: rules-based edits, a readable diff, and re-arranging only what changed.

The rules backend understands a useful set of edits without an LLM: transpose, change
tempo or meter, lengthen, shorten, repeat or remove a section, swap a chord, add an intro
or outro, modulate a section, end a section on a half or full cadence.
"""
from __future__ import annotations

import copy
import dataclasses
import re

from pydantic import ValidationError

from symbolic import style as styles
from symbolic.harmony import QUALITIES, HarmonyError, Key, parse_chord, parse_key, spell_degree
from symbolic.instruments import INSTRUMENTS, Instrument
from symbolic.score import MAX_TRACKS, Note, Score

from .plan import (
    MAX_BARS,
    MAX_BPM,
    MAX_SECONDS,
    MAX_SECTION_BARS,
    MAX_SECTIONS,
    MIN_BPM,
    Plan,
    PlanError,
    error_message,
    parse_meter,
)

NUMBER = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
          "ten": 10, "eleven": 11, "twelve": 12, "sixteen": 16, "twenty": 20, "twenty-four": 24, "thirty-two": 32,
          "a": 1, "an": 1}
MAX_EDIT_CHARS = 2000
MAX_CLAUSES = 16  # each clause re-validates the plan: a few edits at once, not hundreds
INTERVALS = {"half step": 1, "semitone": 1, "whole step": 2, "tone": 2, "minor third": 3, "major third": 4,
             "fourth": 5, "tritone": 6, "fifth": 7, "octave": 12}


class EditError(ValueError):
    """An edit the rules backend cannot read or apply; the message says why."""


# --- helpers ------------------------------------------------------------------------------

def respell(symbol: str, key: Key, shift: int = 0) -> str:
    """The chord shifted by semitones and spelled by scale degree in key."""
    c = parse_chord(symbol)
    root = (c.root + shift) % 12
    out = spell_degree((root - key.tonic) % 12, key) + QUALITIES[c.quality][1]
    if c.bass is not None:
        out += "/" + spell_degree((c.bass + shift - key.tonic) % 12, key)
    return out


def section_keys(plan: Plan) -> list[Key]:
    key, out = parse_key(plan.key), []
    for s in plan.sections:
        key = parse_key(s.key) if s.key else key
        out.append(key)
    return out


def _num(text: str) -> int:
    """A count written in digits (with a sign) or words; EditError when it is neither."""
    t = text.strip()
    if re.fullmatch(r"[-+]?\d{1,9}", t):
        return int(t)
    if re.fullmatch(r"[-+]?\d+", t):  # more digits than any count the plan can hold
        raise EditError(f"the number {t[:12]}{'...' if len(t) > 12 else ''} is far too large")
    if t in NUMBER:
        return NUMBER[t]
    raise EditError(f"cannot read the number {t[:20]!r}; write it in digits")


def _section_seconds(plan: Plan, i: int) -> float:
    num, den = _meter_at(plan, i)
    tempo = next((s.tempo for s in reversed(plan.sections[: i + 1]) if s.tempo), None) or plan.tempo
    return plan.sections[i].bars * num * 4 / den * 60.0 / tempo


def _check_room(plan: Plan, what: str, sections: int = 0, bars: int = 0, seconds: float = 0.0) -> None:
    """Refuse an edit that would grow the plan past its caps, before any work is done."""
    n, total, secs = len(plan.sections) + sections, plan.total_bars + bars, plan.duration_seconds() + seconds
    if n > MAX_SECTIONS:
        raise EditError(f"{what} would make {n} sections; a plan holds at most {MAX_SECTIONS}")
    if total > MAX_BARS:
        raise EditError(f"{what} would make {total} bars; a plan holds at most {MAX_BARS}")
    if secs > MAX_SECONDS:
        raise EditError(f"{what} would make the piece {secs / 60:.1f} minutes long; at most {MAX_SECONDS // 60} are allowed")


def new_track(plan: Plan, inst: Instrument) -> dict:
    """A plan track for an instrument joining the piece, in the role the ensemble lacks: a bass plays the
    bass, a kit the drums, a keyboard or guitar the chords (or arpeggios when someone has them), others a
    counter-melody (or a pad when there is one); named after the instrument, numbered when it is taken."""
    roles = {t.role for t in plan.tracks}
    names = {t.name for t in plan.tracks}
    role = ("drums" if inst.drum else "bass" if inst.family == "bass"
            else ("chords" if "chords" not in roles else "arpeggio") if inst.family in ("keys", "guitar", "plucked")
            else "counter-melody" if "counter-melody" not in roles else "pad")
    name, k = inst.name, 2
    while name in names:
        name, k = f"{inst.name} {k}", k + 1
    entry: dict = {"name": name, "role": role, "program": inst.program}
    if inst.drum:
        entry["drum"] = True
        if inst.kit is not None:
            entry["kit"] = inst.kit
    return entry


def find_sections(plan: Plan, ref: str) -> list[int]:
    """Indices of the sections an edit names: 'the chorus', 'verse 2', 'the last chorus', 'section B'."""
    ref = ref.strip().lower().removeprefix("the ").strip()
    names = [s.name.lower() for s in plan.sections]
    m = re.match(r"(first|last|second|third|final) (.+)$", ref)
    which = None
    if m:
        which, ref = m.group(1), m.group(2)
    m = re.match(r"(?:section )?([a-z])(?: section)?$", ref)
    if m and len(ref) <= 9 and ref not in ("intro", "outro"):
        idx = [i for i, s in enumerate(plan.sections) if s.label.rstrip("'").lower() == m.group(1)]
    elif ref in names:
        idx = [names.index(ref)]
    else:
        bases = {ref, ref[:-1]} if ref.endswith("s") else {ref}  # "the choruses"
        idx = [i for i, n in enumerate(names) for base in bases
               if n == base or n.startswith(base + " ") or n.split(" (")[0] == base]
        idx = sorted(set(idx))
        if not idx and ref in ("ending", "coda"):
            idx = [i for i, n in enumerate(names) if n.startswith(("outro", "coda"))]
    if which and idx:
        idx = {"first": idx[:1], "second": idx[1:2], "third": idx[2:3], "last": idx[-1:], "final": idx[-1:]}[which]
    if not idx:
        raise EditError(f"no section called {ref!r}; sections are: {', '.join(s.name for s in plan.sections)}")
    return idx


def _split_bar(symbols: list[str], num: int) -> list[dict]:
    if len(symbols) == 1 or num < 2:
        return [{"symbol": symbols[0], "beats": float(num)}]
    first = num - num // 2
    return [{"symbol": symbols[0], "beats": float(first)}, {"symbol": symbols[1], "beats": float(num // 2)}]


def _meter_at(plan: Plan, index: int) -> tuple[int, int]:
    meter = parse_meter(plan.meter)
    for s in plan.sections[: index + 1]:
        meter = parse_meter(s.meter) if s.meter else meter
    return meter


# --- edits ------------------------------------------------------------------------------------------

def _transpose(data: dict, plan: Plan, shift: int, target: Key | None = None) -> None:
    keys = section_keys(plan)
    home = parse_key(plan.key)
    new_home = target or home.transpose(shift)
    if target is not None:
        shift = (target.tonic - home.tonic) % 12
        if shift > 6:
            shift -= 12
    data["key"] = new_home.name
    if data.get("title", "").endswith(f" in {home.name}"):   # a title that names the key follows it
        data["title"] = data["title"][: -len(home.name)] + new_home.name
    for i, sec in enumerate(data["sections"]):
        new_key = keys[i].transpose(shift) if i or plan.sections[0].key else new_home
        if sec.get("key"):
            sec["key"] = new_key.name
        for bar in sec["chords"]:
            for c in bar:
                c["symbol"] = respell(c["symbol"], new_key, shift)
    data["_shift"] = shift


def _set_section_length(data: dict, plan: Plan, i: int, bars: int) -> None:
    sec = data["sections"][i]
    old = sec["chords"]
    if bars < 1 or bars > MAX_SECTION_BARS:
        raise EditError(f"a section needs 1 to {MAX_SECTION_BARS} bars, not {bars}")
    if bars <= len(old):
        # Keep the opening and the cadence.
        keep_end = min(2, bars - 1)
        sec["chords"] = old[: bars - keep_end] + (old[-keep_end:] if keep_end else [])
    else:
        body = old[:-2] if len(old) > 2 else old
        extra: list[list[dict]] = []
        while len(old) + len(extra) < bars:
            extra.append(copy.deepcopy(body[len(extra) % len(body)]))
        sec["chords"] = old[:-2] + extra + old[-2:] if len(old) > 2 else old + extra
    sec["bars"] = bars


def _modulate(data: dict, plan: Plan, idx: list[int], target: str) -> None:
    """Move sections to another key degree by degree: each diatonic chord keeps its scale degree and takes
    the new mode's quality (V stays major in minor); chromatic chords move by the interval."""
    keys = section_keys(plan)
    for i in idx:
        home = keys[i]
        new = _relative_target(home, target)
        sec = data["sections"][i]
        sec["key"] = new.name
        for bar in sec["chords"]:
            for c in bar:
                c["symbol"] = _move_degree(c["symbol"], home, new)
        nxt = i + 1
        if nxt < len(data["sections"]) and not data["sections"][nxt].get("key") and nxt not in idx:
            data["sections"][nxt]["key"] = keys[nxt].name


_STEPS = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
_TRIAD = {"major": ("maj", "min", "min", "maj", "maj", "min", "dim"), "minor": ("min", "dim", "maj", "min", "maj", "maj", "maj")}
_SEVENTH = {"maj": "maj7", "min": "min7", "dim": "hdim7"}


def _move_degree(symbol: str, home: Key, new: Key) -> str:
    chord = parse_chord(symbol)
    off = (chord.root - home.tonic) % 12
    steps = _STEPS[home.mode]
    if off not in steps or chord.quality not in ("maj", "min", "dim", "7", "maj7", "min7", "hdim7"):
        shift = (new.tonic - home.tonic) % 12
        return respell(symbol, new, shift)
    degree = steps.index(off)
    root = (new.tonic + _STEPS[new.mode][degree]) % 12
    triad = _TRIAD[new.mode][degree]
    if chord.quality == "7" and degree == 4:
        quality = "7"
    elif chord.quality in ("7", "maj7", "min7", "hdim7"):
        quality = _SEVENTH[triad]
    else:
        quality = triad
    return spell_degree((root - new.tonic) % 12, new) + QUALITIES[quality][1]


def _relative_target(key: Key, target: str) -> Key:
    t = target.strip().lower()
    if "relative" in t:
        return key.relative()
    if "parallel" in t:
        return Key(key.tonic, "minor" if key.mode == "major" else "major", key.tonic_name)
    if "subdominant" in t:
        return Key((key.tonic + 5) % 12, key.mode)
    if "dominant" in t:
        return Key((key.tonic + 7) % 12, key.mode)
    try:
        return parse_key(target.strip())
    except HarmonyError:
        raise EditError(f"cannot read the key {target!r}") from None


def _cadence(data: dict, plan: Plan, idx: list[int], kind: str) -> None:
    keys = section_keys(plan)
    for i in idx:
        key = keys[i]
        sec = data["sections"][i]
        num = _meter_at(plan, i)[0]
        dom = respell(spell_degree(7, key) + "7", key)
        tonic = spell_degree(0, key) + ("m" if key.mode == "minor" else "")
        if kind == "half":
            sec["chords"][-1] = _split_bar([spell_degree(7, key)], num)
        else:
            if len(sec["chords"]) >= 2:
                sec["chords"][-2] = _split_bar([dom], num)
            sec["chords"][-1] = _split_bar([tonic], num)


CLAUSE_SPLIT = re.compile(r"\s*(?:;|\bthen\b|,\s*and\b|,|\band\b(?=\s+(?:transpose|make|change|set|add|repeat|"
                          r"lengthen|shorten|double|remove|delete|drop|swap|replace|end|modulate|slow|speed|use|put)))\s*")


def rules_revise(plan: Plan, instruction: str) -> Plan:
    """Apply an edit written in plain words; raises EditError when it cannot be read."""
    text = instruction.strip()
    if not text:
        raise EditError("the edit is empty")
    if len(text) > MAX_EDIT_CHARS:
        raise EditError(f"the edit has {len(text)} characters; at most {MAX_EDIT_CHARS} are allowed")
    clauses = [c for c in CLAUSE_SPLIT.split(text) if c and c.strip()]
    if len(clauses) > MAX_CLAUSES:
        raise EditError(f"the edit has {len(clauses)} parts; at most {MAX_CLAUSES} are allowed at once")
    data = plan.model_dump(mode="json", exclude_none=True)
    applied = 0
    for clause in clauses:
        current = _validated({k: v for k, v in data.items() if not k.startswith("_")})
        if _apply(data, current, clause.strip().lower().rstrip(".!"), data.setdefault("_context", {})):
            applied += 1
        else:
            raise EditError(f"cannot read the edit {clause.strip()!r}; the rules planner understands: transpose, "
                            f"tempo, meter, lengthen/shorten/repeat/remove a section, add or remove a part, swap a chord, add an intro or "
                            f"outro, modulate a section, end on a half or full cadence, the feel (make it swing, straight "
                            f"eighths, swing 3:2), a genre's groove (bossa feel) or a part's idiom (walking bass, "
                            f"brushes on the drums) (or use --planner llm)")
    data.pop("_shift", None)
    data.pop("_context", None)
    return _validated(data)


def _validated(data: dict) -> Plan:
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise EditError(f"the edit would make an invalid plan: {error_message(exc)}") from None
    except (PlanError, HarmonyError) as exc:
        raise EditError(f"the edit would make an invalid plan: {exc}") from None


# --- the style: feel, swing, grooves ----------------------------------------------------------

_GENRE_WORDS = {**{g: g for g in styles.GENRES}, **styles.ALIASES, "bossa-nova": "bossa", "swing": "jazz",
                "latin": "bossa", "celtic": "reel", "irish": "reel", "hip hop": "hiphop", "hip-hop": "hiphop",
                "disco": "funk", "samba": "bossa"}
_GENRE_RE = "|".join(sorted((re.escape(w) for w in _GENRE_WORDS), key=len, reverse=True))


def _set_idiom(data: dict, idiom: styles.Idiom) -> None:
    data["idiom"] = dataclasses.asdict(idiom)


def _style_edit(data: dict, plan: Plan, c: str) -> bool:  # noqa: C901 - one branch per kind of style edit
    """Edits of the plan's idiom: the feel and its swing ratio, a whole genre's groove, or one part's idiom."""
    idiom = plan.style_idiom()
    m = re.search(r"\bswing (?:ratio |at |of )?(\d+(?:\.\d+)?)(?: ?: ?(\d+(?:\.\d+)?))?(?! ?bpm)\b", c)
    if m:
        ratio = float(m.group(1)) / float(m.group(2) or 1)
        if not styles.STRAIGHT < ratio <= styles.MAX_SWING:
            raise EditError(f"a swing ratio of {ratio:g} is outside {styles.STRAIGHT:g}-{styles.MAX_SWING:g} "
                            f"(2:1 is triplet swing)")
        feel = idiom.feel if idiom.feel in ("swing", "shuffle") else "swing"
        _set_idiom(data, dataclasses.replace(idiom, feel=feel, swing=round(ratio, 3)))
        return True
    m = re.search(r"\b(lighter|softer|less|gentler|harder|heavier|more|deeper) swing\b|\bswing (less|more|harder)\b", c)
    if m:
        if not idiom.swung:
            raise EditError("the piece does not swing yet: say 'make it swing' first")
        more = (m.group(1) or m.group(2)) in ("harder", "heavier", "more", "deeper")
        ratio = min(styles.MAX_SWING, idiom.swing + 0.25) if more else max(1.25, idiom.swing - 0.25)
        _set_idiom(data, dataclasses.replace(idiom, swing=round(ratio, 3)))
        return True
    if re.search(r"\b(straight (?:eighths|8ths|feel|time)|play it straight|(?:make it|keep it) straight|no swing|"
                 r"unswung|without swing|don'?t swing)\b", c):
        _set_idiom(data, dataclasses.replace(idiom, feel="compound" if idiom.feel == "compound" else "straight",
                                             swing=styles.STRAIGHT))
        return True
    if re.search(r"\b(make it|let it|have it|should) (swing|shuffle)\b|\bswing (it|feel|the eighths)\b|"
                 r"\b(swung|shuffle) (eighths|8ths|feel)\b|\b(a|with) (swing|shuffle) feel\b", c):
        feel = "shuffle" if "shuffle" in c else "swing"
        if idiom.feel == "compound":
            raise EditError("a compound meter (6/8, 12/8) already divides the beat in three: it cannot swing")
        _set_idiom(data, dataclasses.replace(idiom, feel=feel, swing=styles.swing_for_tempo(plan.tempo, feel)))
        return True
    m = re.search(rf"\b({'|'.join(styles.BASS_IDIOMS)}) bass\b|\b(?:make )?the bass (walk)s?\b", c)
    if m:
        _set_idiom(data, dataclasses.replace(idiom, bass=m.group(1) or "walking"))
        return True
    m = re.search(rf"\b({'|'.join(styles.GROOVES)}) (?:groove|drums|beat|on the drums)\b|\b(?:play|use) (brushes)\b", c)
    if m and not re.search(rf"\b({_GENRE_RE}) (?:feel|groove|style)\b", c):
        _set_idiom(data, dataclasses.replace(idiom, drums=m.group(1) or m.group(2)))
        return True
    m = re.search(rf"\b({'|'.join(styles.COMPING)}) comping\b|\bcomp (?:like )?(?:an? )?({'|'.join(styles.COMPING)})\b", c)
    if m:
        _set_idiom(data, dataclasses.replace(idiom, comping=m.group(1) or m.group(2)))
        return True
    m = re.search(rf"\b({_GENRE_RE}) (?:feel|groove|style|version)\b|\b(?:make it|turn it into|play it as|as) "
                  rf"(?:an? )?({_GENRE_RE})\b", c)
    if m:
        genre = _GENRE_WORDS[m.group(1) or m.group(2)]
        new = styles.genre_idiom(genre, plan.tempo)
        _set_idiom(data, new)
        rest = [w.strip() for w in plan.style.split(",")[1:] if w.strip()]
        data["style"] = ", ".join([new.genre, *rest])
        return True
    return False


def _part_edit(data: dict, plan: Plan, c: str) -> bool:
    """A part added or taken out: "add an upright bass", "remove the trumpet" (a track's name)."""
    m = re.fullmatch(r"add (?:an? |the |some )?(.+?)(?: part| track)?", c)
    if m and INSTRUMENTS.get(m.group(1)) is not None:
        data["tracks"].append(new_track(plan, INSTRUMENTS[m.group(1)]))
        if len(data["tracks"]) > MAX_TRACKS:
            raise EditError(f"a piece has at most {MAX_TRACKS} tracks")
        return True
    m = re.fullmatch(r"(?:remove|drop|take out) (?:the )?(.+?)(?: part| track)?", c)
    if m and m.group(1) in {t.name.lower() for t in plan.tracks}:
        if len(plan.tracks) == 1:
            raise EditError("a piece keeps at least one track")
        data["tracks"] = [t for t in data["tracks"] if t["name"].lower() != m.group(1)]
        return True
    return False


def _apply(data: dict, plan: Plan, c: str, context: dict) -> bool:  # noqa: C901 - one branch per kind of edit
    """Apply one clause. context["ref"] remembers the section the previous clause named, so
    "make the bridge modulate ... and end on a half cadence" ends the bridge."""
    if _style_edit(data, plan, c):
        return True
    if _part_edit(data, plan, c):
        return True
    # transpose
    m = re.search(r"transpose (up|down) (?:by )?(?:([-+]?\w+) semitones?|an? (half step|semitone|whole step|tone|minor third|"
                  r"major third|fourth|tritone|fifth|octave))", c)
    if m:
        shift = _num(m.group(2)) if m.group(2) else INTERVALS[m.group(3)]
        if not 1 <= shift <= 12:  # a plan holds keys, not octaves: 1-12 semitones say everything
            raise EditError(f"a transposition of {shift} semitones is outside 1-12")
        _transpose(data, plan, shift if m.group(1) == "up" else -shift)
        return True
    m = re.search(r"(?:transpose|move|change the key|put it)(?: it)? (?:in)?to ([a-g][#b]?(?: major| minor)?)\b", c)
    if m:
        target = parse_key(m.group(1))
        if " " not in m.group(1).strip():
            target = Key(target.tonic, parse_key(plan.key).mode, target.tonic_name)
        _transpose(data, plan, 0, target)
        return True
    # tempo
    # The whole number with its sign: "tempo 100000" is refused, not read as 100; "tempo -50" is not 50.
    m = re.search(r"(?:tempo|bpm)[^\d+\-]{0,12}([-+]?\d+(?:\.\d+)?)(?![\d.])|(?<![\w.])([-+]?\d+(?:\.\d+)?) ?bpm", c)
    if m and not re.search(r"\bbars?\b", c):
        written = m.group(1) or m.group(2)
        bpm = float(written)
        if not MIN_BPM <= bpm <= MAX_BPM:  # also false for inf
            raise EditError(f"tempo {written[:12]} BPM is outside {MIN_BPM:g}-{MAX_BPM:g} BPM")
        data["tempo"] = bpm
        for s in data["sections"]:
            s.pop("tempo", None)
        return True
    m = re.search(r"\b(faster|slower|speed (?:it )?up|slow (?:it )?down|double time|half time)\b", c)
    if m:
        factor = {"faster": 1.1, "slower": 0.9, "double time": 2.0, "half time": 0.5}.get(m.group(1))
        factor = factor or (1.1 if "up" in m.group(1) else 0.9)
        bpm = float(round(plan.tempo * factor))
        if not MIN_BPM <= bpm <= MAX_BPM:
            raise EditError(f"{m.group(1)} would make the tempo {bpm:g} BPM, outside {MIN_BPM:g}-{MAX_BPM:g} BPM")
        data["tempo"] = bpm
        return True
    # meter
    m = re.search(r"(?:make (?:the )?(.+?) |change (?:the )?(.+?) to |put (?:the )?(.+?) in )?(?:in(?:to)? )?(?<![\d/])(\d+/\d+)(?: time| meter)?$", c)
    if m and ("meter" in c or "time" in c or re.search(r"\bin \d", c) or m.group(1) or m.group(2) or m.group(3)):
        try:
            num, den = parse_meter(m.group(4))
        except PlanError as exc:
            raise EditError(str(exc)) from None
        ref = (m.group(1) or m.group(2) or m.group(3) or "").replace("meter", "").replace("time signature", "").strip()
        idx = list(range(len(plan.sections))) if ref in ("", "piece", "song", "whole piece", "it", "everything") \
            else find_sections(plan, ref)
        if len(idx) == len(plan.sections):
            data["meter"] = f"{num}/{den}"
        for i in idx:
            sec = data["sections"][i]
            if len(idx) < len(plan.sections):
                sec["meter"] = f"{num}/{den}"
            sec["chords"] = [_split_bar([ch["symbol"] for ch in bar][:2], num) for bar in sec["chords"]]
        if len(idx) < len(plan.sections):
            after = max(idx) + 1
            if after < len(data["sections"]) and not data["sections"][after].get("meter"):
                data["sections"][after]["meter"] = plan.sections[after].meter or _meter_str(plan, after)
        else:
            for s in data["sections"]:
                s.pop("meter", None)
        return True
    # section length
    m = re.search(r"make (?:the )?(.+?) ([-+]?[\w-]+) bars?(?: long)?$", c)
    if m:
        idx, bars = find_sections(plan, m.group(1)), _num(m.group(2))
        _resize(data, plan, idx, {i: bars for i in idx}, f"making the {m.group(1)} {bars} bars")
        return True
    m = re.search(r"(lengthen|extend|shorten|double) (?:the )?(.+?)(?: by ([-+]?[\w-]+) bars?)?$", c)
    if m:
        idx = find_sections(plan, m.group(2))
        step = _num(m.group(3)) if m.group(3) else 4
        if step < 1:
            raise EditError(f"cannot {m.group(1)} a section by {step} bars; give 1 or more")
        new = {}
        for i in idx:
            bars = plan.sections[i].bars
            if m.group(1) == "shorten" and bars - step < 1:
                raise EditError(f"{plan.sections[i].name!r} has {bars} bars; it cannot be shortened by {step}")
            new[i] = {"lengthen": bars + step, "extend": bars + step, "shorten": bars - step, "double": bars * 2}[m.group(1)]
        verb = {"lengthen": "lengthening", "extend": "extending", "shorten": "shortening", "double": "doubling"}
        _resize(data, plan, idx, new, f"{verb[m.group(1)]} the {m.group(2)}")
        return True
    m = re.search(r"repeat (?:the )?(.+?)(?: ([-+]?[\w-]+) times| twice)?(?: at the end)?$", c)
    if m:
        idx = find_sections(plan, m.group(1))
        times = 2 if "twice" in c else (_num(m.group(2)) if m.group(2) else 1)
        if times < 1:
            raise EditError(f"cannot repeat a section {times} times; say once, twice or a number from 1")
        # Bounded before any copy is made: the plan's caps on sections, bars and minutes.
        _check_room(plan, f"repeating the {plan.sections[idx[-1]].name} {times} times", sections=times,
                    bars=times * plan.sections[idx[-1]].bars, seconds=times * _section_seconds(plan, idx[-1]))
        src = copy.deepcopy(data["sections"][idx[-1]])
        src.pop("key", None)
        pos = idx[-1] + 1
        for t in range(times):
            dup = copy.deepcopy(src)
            dup["name"] = _unique_name(data, src["name"].split(" (")[0].rstrip("0123456789 ").strip() or src["name"])
            data["sections"].insert(pos + t, dup)
        return True
    m = re.search(r"(?:remove|delete|drop|cut) (?:the )?(.+)$", c)
    if m:
        idx = find_sections(plan, m.group(1))
        if len(idx) >= len(data["sections"]):
            raise EditError("cannot remove every section")
        keys = section_keys(plan)
        for i in sorted(idx, reverse=True):
            del data["sections"][i]
        _restore_keys(data, plan, keys, idx)
        return True
    # chords
    m = re.search(r"(?:change|set|make) bar ([-+]?\d+) (?:of|in) (?:the )?(.+?) (?:to|into) ([a-g][^\s]*)$", c)
    if m:
        symbol = _chord_text(m.group(3))
        for i in find_sections(plan, m.group(2)):
            sec = data["sections"][i]
            b = _num(m.group(1))
            if not 1 <= b <= len(sec["chords"]):
                raise EditError(f"{sec['name']!r} has {len(sec['chords'])} bars, not {b}")
            sec["chords"][b - 1] = _split_bar([symbol], _meter_at(plan, i)[0])
        return True
    m = re.search(r"(?:replace|swap|change) ([a-g][^\s]*) (?:with|for|to|into|by) ([a-g][^\s]*)(?: (?:in|of) (?:the )?(.+))?$", c)
    if m:
        old_sym, new_sym = _chord_text(m.group(1)), _chord_text(m.group(2))
        where = find_sections(plan, m.group(3)) if m.group(3) else range(len(plan.sections))
        hits = 0
        for i in where:
            for bar in data["sections"][i]["chords"]:
                for ch in bar:
                    if parse_chord(ch["symbol"]) == parse_chord(old_sym) or ch["symbol"].lower() == old_sym.lower():
                        ch["symbol"] = new_sym
                        hits += 1
        if not hits:
            raise EditError(f"no {old_sym} chord to replace")
        return True
    # intro / outro
    m = re.search(r"add (?:an? )?(intro|introduction|outro|ending|coda)(?: of ([-+]?[\w-]+) bars?)?$", c)
    if m:
        bars = _num(m.group(2)) if m.group(2) else 4
        if not 1 <= bars <= MAX_SECTION_BARS:
            raise EditError(f"a section needs 1 to {MAX_SECTION_BARS} bars, not {bars}")
        intro = m.group(1).startswith("intro")
        at = 0 if intro else len(plan.sections) - 1
        num, den = _meter_at(plan, at)
        # An intro plays at the piece's tempo (a first section's own tempo starts after it); an ending at the last one.
        tempo = plan.tempo if intro else next((s.tempo for s in reversed(plan.sections) if s.tempo), None) or plan.tempo
        _check_room(plan, f"adding {'an intro' if intro else 'an ending'} of {bars} bars", sections=1, bars=bars,
                    seconds=bars * num * 4 / den * 60.0 / tempo)
        keys = section_keys(plan)
        key = keys[0] if intro else keys[-1]
        num = _meter_at(plan, 0 if intro else len(plan.sections) - 1)[0]
        tonic = spell_degree(0, key) + ("m" if key.mode == "minor" else "")
        dom = spell_degree(7, key) + "7"
        chords = [_split_bar([tonic], num) for _ in range(bars)]
        if intro and bars >= 2:
            chords[-1] = _split_bar([dom], num)
        sec = {"name": _unique_name(data, "Intro" if intro else "Outro"), "label": "I" if intro else "O",
               "bars": bars, "chords": chords, "energy": 2}
        if intro:
            if data["sections"][0].get("key") is None and plan.sections[0].key:
                sec["key"] = plan.sections[0].key
            data["sections"].insert(0, sec)
        else:
            data["sections"].append(sec)
        return True
    # modulation and cadences
    m = re.search(r"(?:make )?(?:the )?(.+?) (?:modulate|modulates|move|go|goes|shift) to (?:the )?(.+?)"
                  r"(?: key)?(?= and |$)", c)
    if m and "cadence" not in m.group(2):
        context["ref"] = m.group(1)
        _modulate(data, plan, find_sections(plan, m.group(1)), m.group(2))
        return True
    m = re.search(r"end (?:the )?(.+?)? ?on an? (half|full|perfect|authentic|plagal)? ?cadence", c)
    if m:
        ref = (m.group(1) or "").strip() or context.get("ref", "")
        idx = find_sections(plan, ref) if ref else [len(plan.sections) - 1]
        _cadence(data, plan, idx, "half" if m.group(2) == "half" else "full")
        return True
    return False


def _resize(data: dict, plan: Plan, idx: list[int], new: dict[int, int], what: str) -> None:
    """Set the sections' lengths, each checked against a section's cap and the whole against the plan's."""
    for i in idx:
        if not 1 <= new[i] <= MAX_SECTION_BARS:
            raise EditError(f"a section needs 1 to {MAX_SECTION_BARS} bars, not {new[i]}")
    extra = sum(new[i] - plan.sections[i].bars for i in idx)
    seconds = sum(_section_seconds(plan, i) * (new[i] / plan.sections[i].bars - 1) for i in idx)
    _check_room(plan, what, bars=extra, seconds=seconds)
    for i in idx:
        _set_section_length(data, plan, i, new[i])


def _meter_str(plan: Plan, i: int) -> str:
    n, d = _meter_at(plan, i)
    return f"{n}/{d}"


def _chord_text(text: str) -> str:
    t = text.strip().rstrip(".,")
    t = t[0].upper() + t[1:]
    try:
        parse_chord(t)
    except HarmonyError as exc:
        raise EditError(str(exc)) from None
    return t


def _unique_name(data: dict, base: str) -> str:
    names = {s["name"] for s in data["sections"]}
    numbered = [n for n in names if n.startswith(base + " ") and n[len(base) + 1:].isdigit()]
    if base not in names and not numbered:
        return base
    n = max([int(x[len(base) + 1:]) for x in numbered] + [1]) + 1
    while f"{base} {n}" in names:
        n += 1
    return f"{base} {n}"


def _restore_keys(data: dict, plan: Plan, keys: list[Key], removed: list[int]) -> None:
    """After removing sections, the next one states its key again so nothing changes key by accident."""
    kept = [i for i in range(len(plan.sections)) if i not in removed]
    prev_key = parse_key(plan.key)
    for new_i, old_i in enumerate(kept):
        sec = data["sections"][new_i]
        if (keys[old_i].tonic, keys[old_i].mode) != (prev_key.tonic, prev_key.mode):
            sec["key"] = keys[old_i].name
        prev_key = keys[old_i]


# --- diff ----------------------------------------------------------------------------------------

def diff_plans(old: Plan, new: Plan) -> list[str]:
    lines = []
    for field in ("title", "key", "meter", "tempo", "style"):
        a, b = getattr(old, field), getattr(new, field)
        if a != b:
            lines.append(f"{field}: {a} -> {b}")
    if old.style_idiom() != new.style_idiom():
        lines.append(f"idiom: {old.style_idiom().summary()} -> {new.style_idiom().summary()}")
    ot = [(t.name, t.role, t.program) for t in old.tracks]
    nt = [(t.name, t.role, t.program) for t in new.tracks]
    for t in nt:
        if t not in ot:
            lines.append(f"+ track {t[0]} ({t[1]}, program {t[2]})")
    for t in ot:
        if t not in nt:
            lines.append(f"- track {t[0]}")
    old_by = {s.name: s for s in old.sections}
    new_names = {s.name for s in new.sections}
    for s in old.sections:
        if s.name not in new_names:
            lines.append(f"- section {s.name} ({s.bars} bars)")
    for i, s in enumerate(new.sections):
        o = old_by.get(s.name)
        if o is None:
            lines.append(f"+ section {s.name} ({s.bars} bars) at position {i + 1}")
            continue
        changes = []
        if o.bars != s.bars:
            changes.append(f"bars {o.bars} -> {s.bars}")
        for f in ("key", "meter", "tempo", "energy", "label"):
            if getattr(o, f) != getattr(s, f):
                changes.append(f"{f} {getattr(o, f)} -> {getattr(s, f)}")
        changed_bars = [str(b + 1) for b in range(min(o.bars, s.bars))
                        if [(c.symbol, c.beats) for c in o.chords[b]] != [(c.symbol, c.beats) for c in s.chords[b]]]
        if changed_bars:
            def bar_text(bar, other):
                # Beats are shown only where the symbols alone would not show the change.
                same = [c.symbol for c in bar] == [c.symbol for c in other]
                return " ".join(f"{c.symbol}:{c.beats:g}" if same else c.symbol for c in bar)
            shown = ", ".join(f"{b}: {bar_text(o.chords[int(b) - 1], s.chords[int(b) - 1])} -> "
                              f"{bar_text(s.chords[int(b) - 1], o.chords[int(b) - 1])}" for b in changed_bars[:6])
            changes.append(f"chords in bar {shown}" + (" ..." if len(changed_bars) > 6 else ""))
        if changes:
            lines.append(f"~ section {s.name}: " + "; ".join(changes))
    order_old = [s.name for s in old.sections if s.name in new_names]
    order_new = [s.name for s in new.sections if s.name in old_by]
    if order_old != order_new:
        lines.append("order: " + ", ".join(s.name for s in new.sections))
    return lines


# --- re-arranging what changed ----------------------------------------------------------------------

def _section_signature(plan: Plan, i: int, keys: list[Key]) -> tuple:
    s = plan.sections[i]
    key = keys[i]
    degrees = tuple(tuple(((parse_chord(c.symbol).root - key.tonic) % 12, parse_chord(c.symbol).quality, c.beats)
                          for c in bar) for bar in s.chords)
    return (s.bars, _meter_at(plan, i), key.mode, degrees, s.energy)


def _restyled(old: Plan, new: Plan) -> set[str]:
    """The tracks a change of idiom rewrites: every track for a new genre, else the drums, the bass or the
    chord parts whose idiom changed (a new feel or swing ratio changes the performance, not the notes)."""
    a, b = old.style_idiom(), new.style_idiom()
    roles = {r for r, x, y in (("drums", a.drums, b.drums), ("bass", a.bass, b.bass), ("chords", a.comping, b.comping))
             if x != y}
    return {t.name for t in new.tracks if a.genre != b.genre or t.role in roles}


def rearrange(old_plan: Plan, old_score: Score | None, new_plan: Plan, arrange_fn, seed: int = 0):
    """A Score for new_plan that keeps the notes of every section whose music did not change
    (moved to its new place, transposed when only the key moved) and regenerates the rest.
    Returns (score, regenerated bar indices)."""
    new_sheet = new_plan.to_sheet()
    if old_score is None:
        return arrange_fn(new_plan, seed), set(range(len(new_sheet.bars)))
    old_sheet = old_plan.to_sheet()
    old_keys, new_keys = section_keys(old_plan), section_keys(new_plan)
    old_sig: dict[str, tuple[int, tuple]] = {}
    for i, s in enumerate(old_plan.sections):
        old_sig.setdefault(s.name, (i, _section_signature(old_plan, i, old_keys)))
    base = new_sheet.empty_score()
    old_parts = {p.name: p for p in old_score.parts}
    regen: set[int] = set()
    for ni, sec in enumerate(new_plan.sections):
        bars = range(new_sheet.sections[ni].first_bar, new_sheet.sections[ni].first_bar + sec.bars)
        match = old_sig.get(sec.name)
        sig = _section_signature(new_plan, ni, new_keys)
        if match is None or match[1] != sig:
            regen.update(bars)
            continue
        oi = match[0]
        o_first = old_sheet.sections[oi].first_bar
        o_start = old_sheet.bars[o_first].bar.start
        o_end = old_sheet.bars[o_first + old_plan.sections[oi].bars - 1].bar.end
        n_start = new_sheet.bars[bars.start].bar.start
        shift = (new_keys[ni].tonic - old_keys[oi].tonic) % 12
        if shift > 6:
            shift -= 12
        for part in base.parts:
            old = old_parts.get(part.name)
            if old is None:
                continue
            for n in old.notes:
                if o_start <= n.start < o_end:
                    pitch = n.pitch if part.is_drum else min(127, max(0, n.pitch + shift))
                    part.notes.append(Note(n.start - o_start + n_start, min(n.end, o_end) - o_start + n_start,
                                           pitch, n.velocity))
    new_tracks = ({t.name for t in new_plan.tracks} - set(old_parts)) | _restyled(old_plan, new_plan)
    if new_tracks:
        # New instruments, and the parts whose idiom changed, are written everywhere, given the others.
        score = arrange_fn(new_plan, seed, base=base, bars=regen, tracks=None, locked=frozenset())
        score = arrange_fn(new_plan, seed, base=score, bars=None, tracks=new_tracks)
        return score, regen | set(range(len(new_sheet.bars)))
    for p in base.parts:
        p.sort()
    if not regen:
        return base, regen
    return arrange_fn(new_plan, seed, base=base, bars=regen), regen
