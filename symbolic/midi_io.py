"""Standard MIDI files <-> Score.

Writes what notation programs expect: type 1, PPQ 480, a conductor track with
tempo, time signature, key signature and one marker per section, then one named
track per part with a program change at tick 0 on its own channel, drums on
channel 10. Output is deterministic: the same Score gives the same bytes.
"""
from __future__ import annotations

import io
from pathlib import Path

import mido

from .harmony import HarmonyError, parse_key
from .score import PPQ, Bar, Note, Part, Score, ScoreError

DRUM_CHANNEL = 9


def channel_map(parts: list[Part]) -> list[tuple[int, int]]:
    """(port, channel) per part: drums on channel 10 (index 9), others each on their own channel.

    Past 15 pitched parts, channels repeat on a further port, as MIDI allows only 16 per port.
    """
    out, n = [], 0
    for p in parts:
        if p.is_drum:
            out.append((0, DRUM_CHANNEL))
            continue
        port, ch = divmod(n, 15)
        out.append((port, ch if ch < DRUM_CHANNEL else ch + 1))
        n += 1
    return out


def _meta_text(text: str) -> str:
    # mido writes meta text as latin-1; keep names readable and never fail on other scripts.
    return text.encode("latin-1", "replace").decode("latin-1")


def to_midi(score: Score) -> mido.MidiFile:
    mid = mido.MidiFile(type=1, ticks_per_beat=PPQ)
    events: list[tuple[int, int, mido.MetaMessage]] = []
    events.append((0, 0, mido.MetaMessage("track_name", name=_meta_text(score.title or "composer"), time=0)))
    for tick, num, den in score.time_signatures():
        events.append((tick, 1, mido.MetaMessage("time_signature", numerator=num, denominator=den,
                                                 clocks_per_click=24, notated_32nd_notes_per_beat=8, time=0)))
    for tick, key in score.keys:
        events.append((tick, 2, mido.MetaMessage("key_signature", key=key.midi_name(), time=0)))
    for tick, bpm in score.tempos:
        events.append((tick, 3, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0)))
    for tick, name in score.markers:
        events.append((tick, 4, mido.MetaMessage("marker", text=_meta_text(name), time=0)))
    end = score.end_tick
    mid.tracks.append(_track(events, end))

    for part, (port, ch) in zip(score.parts, channel_map(score.parts)):
        ev: list[tuple[int, int, object]] = [
            (0, 0, mido.MetaMessage("track_name", name=_meta_text(part.name), time=0)),
            (0, 1, mido.MetaMessage("instrument_name", name=_meta_text(part.name), time=0)),
        ]
        if port:
            ev.append((0, 2, mido.MetaMessage("midi_port", port=port, time=0)))
        ev.append((0, 3, mido.Message("program_change", channel=ch, program=0 if part.is_drum else part.program, time=0)))
        notes = sorted(part.notes, key=lambda n: (n.start, n.pitch, n.end))
        last_on: dict[int, int] = {}
        ends: dict[int, int] = {}
        for n in notes:
            # A repeated pitch that starts before the previous one ends cuts the previous one short.
            prev = last_on.get(n.pitch)
            stop = n.end
            if prev is not None and ends[prev] > n.start:
                ends[prev] = n.start
            last_on[n.pitch] = id(n)
            ends[id(n)] = stop
        for n in notes:
            e = ends[id(n)]
            if e <= n.start:
                continue
            ev.append((n.start, 10 + n.pitch, mido.Message("note_on", channel=ch, note=n.pitch, velocity=n.velocity, time=0)))
            ev.append((e, 5, mido.Message("note_off", channel=ch, note=n.pitch, velocity=0, time=0)))
        for down, up in part.pedal:
            # An up sorts before a down at the same tick (a re-press at a chord change).
            ev.append((down, 6, mido.Message("control_change", channel=ch, control=64, value=127, time=0)))
            ev.append((up, 4, mido.Message("control_change", channel=ch, control=64, value=0, time=0)))
        mid.tracks.append(_track(ev, end))
    return mid


def _track(events: list, end: int) -> mido.MidiTrack:
    track = mido.MidiTrack()
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
    return track


def midi_bytes(score: Score) -> bytes:
    buf = io.BytesIO()
    to_midi(score).save(file=buf)
    return buf.getvalue()


# --- reading ---------------------------------------------------------------

def read_midi(path: str | Path) -> Score:
    """Import a user's MIDI file (type 0 or 1) into a Score at PPQ 480.

    Raises ScoreError with a one-line reason for files that are missing, corrupt or empty.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data:
        raise ScoreError(f"{path} is empty")
    try:
        mid = mido.MidiFile(file=io.BytesIO(data), clip=True)
    except Exception as exc:  # mido raises many kinds on corrupt input
        raise ScoreError(f"{path} is not a readable MIDI file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if mid.type == 2:
        raise ScoreError(f"{path} is a type-2 MIDI file, which is not supported")
    return midi_to_score(mid, title=path.stem)


def midi_to_score(mid: mido.MidiFile, title: str = "") -> Score:
    ppq = mid.ticks_per_beat or PPQ
    scale = PPQ / ppq

    def conv(t: int) -> int:
        return int(round(t * scale))

    tempos: dict[int, float] = {}
    sigs: dict[int, tuple[int, int]] = {}
    keys: dict[int, object] = {}
    markers: list[tuple[int, str]] = []
    parts: list[Part] = []
    for ti, track in enumerate(mid.tracks):
        now = 0
        name = ""
        program: dict[int, int] = {}
        open_notes: dict[tuple[int, int], list[tuple[int, int]]] = {}
        by_channel: dict[int, list[Note]] = {}
        pedal_down: dict[int, int] = {}
        pedal: dict[int, list[tuple[int, int]]] = {}
        for msg in track:
            now += msg.time
            t = conv(now)
            if msg.is_meta:
                if msg.type == "set_tempo":
                    tempos[t] = round(mido.tempo2bpm(msg.tempo), 3)
                elif msg.type == "time_signature":
                    sigs[t] = (msg.numerator, msg.denominator)
                elif msg.type == "key_signature":
                    try:
                        keys[t] = parse_key(msg.key[:-1] + " minor" if msg.key.endswith("m") else msg.key)
                    except HarmonyError:
                        pass
                elif msg.type == "marker":
                    markers.append((t, msg.text))
                elif msg.type == "track_name" and not name:
                    name = msg.name.strip()
                continue
            if msg.type == "program_change":
                program.setdefault(msg.channel, msg.program)
            elif msg.type == "control_change" and msg.control == 64:
                if msg.value >= 64:
                    pedal_down.setdefault(msg.channel, t)
                elif msg.channel in pedal_down:
                    down = pedal_down.pop(msg.channel)
                    if t > down:
                        pedal.setdefault(msg.channel, []).append((down, t))
            elif msg.type == "note_on" and msg.velocity > 0:
                open_notes.setdefault((msg.channel, msg.note), []).append((t, msg.velocity))
            elif msg.type in ("note_off", "note_on"):
                stack = open_notes.get((msg.channel, msg.note))
                if stack:
                    start, vel = stack.pop(0)
                    if t > start:
                        by_channel.setdefault(msg.channel, []).append(Note(start, t, msg.note, max(1, vel)))
        for ch in sorted(by_channel):
            notes = by_channel[ch]
            drum = ch == DRUM_CHANNEL
            pname = name or f"Track {ti}"
            if len(by_channel) > 1:
                pname = f"{pname} ch{ch + 1}"
            if ch in pedal_down:  # a pedal still down at the end of the track lifts with the last note
                end = max(n.end for n in notes)
                if end > pedal_down[ch]:
                    pedal.setdefault(ch, []).append((pedal_down[ch], end))
            part = Part(pname, program.get(ch, 0), drum, "drums" if drum else "", notes, pedal.get(ch, []))
            part.sort()
            parts.append(part)
    if not parts:
        raise ScoreError("MIDI file has no notes")
    score = Score(title=title, parts=parts)
    score.tempos = sorted(tempos.items()) or [(0, 120.0)]
    if score.tempos[0][0] != 0:
        score.tempos.insert(0, (0, 120.0))
    score.keys = sorted(keys.items(), key=lambda kv: kv[0])  # type: ignore[arg-type]
    score.markers = sorted(markers)
    score.bars = _bars_from_signatures(sigs, score.end_tick)
    _unique_names(score.parts)
    return score


def _bars_from_signatures(sigs: dict[int, tuple[int, int]], end: int) -> list[Bar]:
    changes = sorted(sigs.items()) or [(0, (4, 4))]
    if changes[0][0] != 0:
        changes.insert(0, (0, (4, 4)))
    bars: list[Bar] = []
    tick, ci = 0, 0
    while tick < end or not bars:
        while ci + 1 < len(changes) and changes[ci + 1][0] <= tick:
            ci += 1
        num, den = changes[ci][1]
        bar = Bar(tick, max(1, num), den if den in (1, 2, 4, 8, 16, 32) else 4)
        bars.append(bar)
        tick = bar.end
    return bars


def _unique_names(parts: list[Part]) -> None:
    seen: dict[str, int] = {}
    for p in parts:
        if p.name in seen:
            seen[p.name] += 1
            p.name = f"{p.name} {seen[p.name]}"
        else:
            seen[p.name] = 1
