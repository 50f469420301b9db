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
from .score import (
    MAX_BPM,
    MAX_SECONDS,
    MAX_TRACKS,
    MIN_BPM,
    PPQ,
    Bar,
    Note,
    Part,
    Score,
    ScoreError,
    check_meter,
    plain_text,
)

DRUM_CHANNEL = 9
# Caps on imported files, checked before any heavy work. 16 MB and 200,000 notes are far beyond a
# 30-minute, 32-track piece played by people (a dense piano piece has ~20 notes a second).
MAX_FILE_BYTES = 16 * 2**20
MAX_NOTES = 200_000


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
    return plain_text(text).encode("latin-1", "replace").decode("latin-1")


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
        # The mixer's settings, where they are not General MIDI's own starting values.
        if part.volume != 100:
            ev.append((0, 4, mido.Message("control_change", channel=ch, control=7, value=part.volume, time=0)))
        if part.pan != 64:
            ev.append((0, 4, mido.Message("control_change", channel=ch, control=10, value=part.pan, time=0)))
        if part.reverb:
            ev.append((0, 4, mido.Message("control_change", channel=ch, control=91, value=part.reverb, time=0)))
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
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)  # never read more than the cap, whatever the file is
    except OSError as exc:
        raise ScoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ScoreError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MB, the most a MIDI file may have")
    if not data:
        raise ScoreError(f"{path} is empty")
    try:
        mid = mido.MidiFile(file=io.BytesIO(data), clip=True)
    except Exception as exc:  # noqa: BLE001 - mido raises many kinds on corrupt input
        raise ScoreError(f"{path} is not a readable MIDI file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if mid.type == 2:
        raise ScoreError(f"{path} is a type-2 MIDI file, which is not supported")
    return midi_to_score(mid, title=path.stem)


def _bpm(tempo: int, tick: int) -> float:
    """A set_tempo value (microseconds per quarter note) as BPM; ScoreError outside MIN_BPM-MAX_BPM."""
    if tempo <= 0:  # mido.tempo2bpm would divide by zero
        raise ScoreError(f"tempo of {tempo} microseconds per beat at tick {tick} is outside "
                         f"{MIN_BPM:g}-{MAX_BPM:g} BPM")
    bpm = 60_000_000 / tempo
    if not (MIN_BPM <= bpm <= MAX_BPM):
        raise ScoreError(f"tempo {bpm:.4g} BPM at tick {tick} is outside {MIN_BPM:g}-{MAX_BPM:g} BPM")
    return round(bpm, 3)


def _control(msg, t: int, mix: dict[tuple[int, int], int], pedal_down: dict[int, int],
             pedal: dict[int, list[tuple[int, int]]]) -> None:
    """A controller: the first volume (CC7), pan (CC10) and reverb send (CC91) are the track's mixer; CC64 is
    the pedal."""
    if msg.control in (7, 10, 91):
        mix.setdefault((msg.channel, msg.control), msg.value)
    elif msg.control == 64:
        if msg.value >= 64:
            pedal_down.setdefault(msg.channel, t)
        elif msg.channel in pedal_down:
            down = pedal_down.pop(msg.channel)
            if t > down:
                pedal.setdefault(msg.channel, []).append((down, t))


def midi_to_score(mid: mido.MidiFile, title: str = "") -> Score:
    """A parsed MIDI file as a Score; ScoreError (one line) for anything outside the caps.

    Ticks in messages are the file's own; the Score's are at PPQ 480.
    """
    if mid.ticks_per_beat is not None and mid.ticks_per_beat < 0:  # mido reads the division as signed
        raise ScoreError("MIDI file uses SMPTE time division, which is not supported")
    ppq = mid.ticks_per_beat or PPQ
    scale = PPQ / ppq

    def conv(t: int) -> int:
        return int(round(t * scale))

    tempos: dict[int, float] = {}
    sigs: dict[int, tuple[int, int]] = {}
    keys: dict[int, object] = {}
    markers: list[tuple[int, str]] = []
    parts: list[Part] = []
    n_notes = 0
    for ti, track in enumerate(mid.tracks):
        now = 0
        name = ""
        program: dict[int, int] = {}
        mix: dict[tuple[int, int], int] = {}
        open_notes: dict[tuple[int, int], list[tuple[int, int]]] = {}
        by_channel: dict[int, list[Note]] = {}
        pedal_down: dict[int, int] = {}
        pedal: dict[int, list[tuple[int, int]]] = {}
        for msg in track:
            now += msg.time
            t = conv(now)
            if msg.is_meta:
                if msg.type == "set_tempo":
                    tempos[t] = _bpm(msg.tempo, now)
                elif msg.type == "time_signature":
                    check_meter(msg.numerator, msg.denominator, f"tick {now}")
                    sigs[t] = (msg.numerator, msg.denominator)
                elif msg.type == "key_signature":
                    try:
                        keys[t] = parse_key(msg.key[:-1] + " minor" if msg.key.endswith("m") else msg.key)
                    except HarmonyError:
                        pass
                elif msg.type == "marker":
                    markers.append((t, plain_text(msg.text)))
                elif msg.type == "track_name" and not name:
                    name = plain_text(msg.name)
                continue
            if msg.type == "program_change":
                program.setdefault(msg.channel, msg.program)
            elif msg.type == "control_change":
                _control(msg, t, mix, pedal_down, pedal)
            elif msg.type == "note_on" and msg.velocity > 0:
                open_notes.setdefault((msg.channel, msg.note), []).append((t, msg.velocity))
            elif msg.type in ("note_off", "note_on"):
                stack = open_notes.get((msg.channel, msg.note))
                if stack:
                    start, vel = stack.pop(0)
                    if t > start:
                        by_channel.setdefault(msg.channel, []).append(Note(start, t, msg.note, max(1, vel)))
                        n_notes += 1
                        if n_notes > MAX_NOTES:
                            raise ScoreError(f"MIDI file has more than {MAX_NOTES:,} notes, the most it may have")
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
            part = Part(pname, program.get(ch, 0), drum, "drums" if drum else "", notes, pedal.get(ch, []),
                        volume=mix.get((ch, 7), 100), pan=mix.get((ch, 10), 64), reverb=mix.get((ch, 91), 0))
            part.sort()
            parts.append(part)
    if not parts:
        raise ScoreError("MIDI file has no notes")
    if len(parts) > MAX_TRACKS:
        raise ScoreError(f"MIDI file has {len(parts)} parts with notes; at most {MAX_TRACKS} tracks are allowed")
    score = Score(title=plain_text(title), parts=parts)
    score.tempos = sorted(tempos.items()) or [(0, 120.0)]
    if score.tempos[0][0] != 0:
        score.tempos.insert(0, (0, 120.0))
    # Before the bars are laid out (one per measure up to the end): a note held for hours is refused here.
    seconds = score.seconds(score.last_tick)
    if seconds > MAX_SECONDS:
        longest = max((n for p in parts for n in p.notes), key=lambda n: n.duration)
        note_secs = score.seconds(longest.end) - score.seconds(longest.start)
        what = (f"one note (pitch {longest.pitch}) lasts {note_secs / 60:.1f} minutes"
                if note_secs > MAX_SECONDS else f"the music lasts {seconds / 60:.1f} minutes")
        raise ScoreError(f"MIDI file is too long: {what}; at most {MAX_SECONDS // 60} minutes can be imported")
    score.keys = sorted(keys.items(), key=lambda kv: kv[0])  # type: ignore[arg-type]
    score.markers = sorted(markers)
    score.bars = _bars_from_signatures(sigs, score.end_tick)
    _unique_names(score.parts)
    score.validate()
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
        num, den = changes[ci][1]  # checked by check_meter when read
        bar = Bar(tick, num, den)
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
