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
