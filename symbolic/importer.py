"""A user's piece from a file: MIDI as it is, MusicXML (.musicxml, .xml, .mxl) through music21 at sounding pitch."""
from __future__ import annotations

import io
from pathlib import Path

import mido

from .midi_io import MAX_FILE_BYTES, midi_to_score, read_midi
from .musicxml import drum_at
from .score import Score, ScoreError

MIDI_SUFFIXES = (".mid", ".midi", ".kar")
MUSICXML_SUFFIXES = (".musicxml", ".xml", ".mxl")


def read_piece(path: str | Path) -> Score:
    """The file as a Score; ScoreError (one line) for a file that is missing, too large, unreadable or of a kind
    not read here."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        return read_midi(path)
    if suffix in MUSICXML_SUFFIXES:
        return read_musicxml(path)
    raise ScoreError(f"{path.name} is neither MIDI ({', '.join(MIDI_SUFFIXES)}) nor MusicXML "
                     f"({', '.join(MUSICXML_SUFFIXES)})")


def read_musicxml(path: str | Path) -> Score:
    """A MusicXML score as a Score: its parts, notes at sounding pitch, meters, keys and tempos, by way of the
    MIDI file music21 makes of it."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ScoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size > MAX_FILE_BYTES:
        raise ScoreError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MB, the most a score file may have")
    if not size:
        raise ScoreError(f"{path} is empty")
    from music21 import converter, harmony, layout, stream
    from music21.midi import translate
    try:
        parsed = converter.parse(str(path), format="musicxml")
        for symbol in list(parsed.recurse().getElementsByClass(harmony.ChordSymbol)):
            symbol.activeSite.remove(symbol)   # chord symbols are for reading; music21 would play them
        parsed = parsed.toSoundingPitch()      # a tenor sax is written a ninth above where it sounds
        _drums_by_position(parsed)
        # The staves of one player (a piano's two hands) are one track: which parts share a brace.
        staves = list(parsed.parts)
        lead = {id(p): id(p) for p in staves}
        for group in parsed.getElementsByClass(layout.StaffGroup):
            members = [m for m in group.getSpannedElements() if isinstance(m, stream.PartStaff)]
            for m in members[1:]:
                lead[id(m)] = id(members[0])
        data = translate.streamToMidiFile(parsed).writestr()
    except Exception as exc:  # noqa: BLE001 - music21 raises many kinds on files it cannot read
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScoreError(f"{path} is not a readable MusicXML score ({first[:200]})") from None
    title = (parsed.metadata.bestTitle if parsed.metadata is not None else None) or path.stem
    try:
        score = midi_to_score(mido.MidiFile(file=io.BytesIO(data), clip=True), title=title)
    except ScoreError as exc:
        raise ScoreError(f"{path.name}: {exc}") from None
    if len(score.parts) == len(staves):   # one track a staff, in order: join each player's staves
        owner = {id(p): part for p, part in zip(staves, score.parts)}
        for p, part in zip(staves, score.parts):
            if lead[id(p)] != id(p):
                owner[lead[id(p)]].notes.extend(part.notes)
        score.parts = [part for p, part in zip(staves, score.parts) if lead[id(p)] == id(p)]
        for part in score.parts:
            part.sort()
    return score


def _drums_by_position(parsed) -> None:
    """music21 reads a drum note's line and notehead but not which drum it is: the drum written there."""
    from music21 import instrument, note
    for unp in parsed.recurse().getElementsByClass(note.Unpitched):
        key = drum_at(unp.displayStep, unp.displayOctave, unp.notehead)
        if key is not None:
            unp.storedInstrument = instrument.UnpitchedPercussion()
            unp.storedInstrument.percMapPitch = key


__all__ = ["MIDI_SUFFIXES", "MUSICXML_SUFFIXES", "read_musicxml", "read_piece"]
