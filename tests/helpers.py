"""Plans and scores built in the tests."""
from composer.plan import Plan


def small_plan(style: str = "pop", meter: str = "4/4", extra_sections: bool = True) -> Plan:
    chords = {"4/4": (["C", "Am", "F", "G:2 G7:2"], ["F", "G", "Em", "Am"]),
              "3/4": (["C", "Am", "F", "G:2 G7:1"], ["F", "G", "Em", "Am"]),
              "6/8": (["C", "Am", "F", "G:3 G7:3"], ["F", "G", "Em", "Am"])}[meter]
    sections = [
        {"name": "Verse 1", "label": "A", "bars": 4, "chords": chords[0], "energy": 2},
        {"name": "Chorus", "label": "B", "bars": 4, "chords": chords[1], "energy": 4},
        {"name": "Verse 2", "label": "A", "bars": 4, "chords": chords[0], "energy": 3},
    ]
    if extra_sections:
        sections.append({"name": "Bridge", "label": "C", "bars": 2, "chords": ["Dm", "G7"], "meter": "3/4",
                         "key": "G major", "tempo": 100})
        sections.append({"name": "Outro", "label": "O", "bars": 2, "chords": ["C", "C"], "meter": meter,
                         "key": "C major", "tempo": 120})
    return Plan.model_validate({
        "title": "Test Piece", "key": "C major", "meter": meter, "tempo": 120, "style": style,
        "tracks": [
            {"name": "Flute", "role": "melody", "program": 73},
            {"name": "Violin", "role": "counter-melody", "program": 40},
            {"name": "Harp", "role": "arpeggio", "program": 46},
            {"name": "Piano", "role": "chords", "program": 0},
            {"name": "Strings", "role": "pad", "program": 48},
            {"name": "Bass", "role": "bass", "program": 33},
            {"name": "Drums", "role": "drums", "program": 0},
        ],
        "sections": sections,
    })


def band_score(bars: int = 2, bpm: float = 120.0, hats: bool = True, markers: bool = False):
    """Piano, drums and bass playing quarter notes: a small real score for the audio tests."""
    from symbolic.score import PPQ, Bar, Note, Part, Score
    bar = 4 * PPQ
    score = Score(title="t")
    score.tempos = [(0, bpm)]
    score.bars = [Bar(i * bar, 4, 4) for i in range(bars)]
    piano, drums, bass = Part("Piano", 0, role="chords"), Part("Drums", 0, True, "drums"), Part("Bass", 33, role="bass")
    for b in range(bars):
        for q in range(4):
            t = b * bar + q * PPQ
            piano.notes += [Note(t, t + 400, 60 + 2 * q, 90), Note(t, t + 400, 64 + 2 * q, 80)]
            drums.notes.append(Note(t, t + 120, 36 if q % 2 == 0 else 38, 100))
            if hats:
                drums.notes.append(Note(t, t + 120, 42, 80))
            bass.notes.append(Note(t, t + 450, 36 + q, 100))
    score.parts = [piano, drums, bass]
    if markers:
        score.markers = [(0, "Verse"), (bars // 2 * bar, "Chorus")]
    return score
