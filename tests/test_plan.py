import json

import pytest

from composer.plan import Plan, PlanError, load_plan, plan_schema

BASE = {
    "title": "T", "key": "D minor", "meter": "3/4", "tempo": 90,
    "tracks": [{"name": "Violin", "role": "melody", "program": 40}, {"name": "Drums", "role": "drums", "program": 0}],
    "sections": [
        {"name": "A", "label": "A", "bars": 2, "chords": ["Dm", "Gm:2 A7"]},
        {"name": "B", "label": "B", "bars": 1, "chords": [[{"symbol": "F", "beats": 3}]], "meter": "6/8", "key": "F major",
         "tempo": 100, "energy": 4},
    ],
}


def plan_with(**changes):
    data = json.loads(json.dumps(BASE))
    for path, value in changes.items():
        target = data
        keys = path.split(".")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        last = keys[-1]
        if last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value
    return json.dumps(data)


def test_valid_plan_round_trips_and_builds_a_sheet():
    data = json.loads(plan_with(**{"sections.1.chords": ["F:3 C:3"]}))
    plan = Plan.model_validate(data)
    assert plan.tracks[1].drum is True
    assert plan.sections[0].chords[1][0].beats == 2 and plan.sections[0].chords[1][1].beats == 1
    again = load_plan(plan.to_json())
    assert again == plan
    sheet = plan.to_sheet()
    assert len(sheet.bars) == 3
    assert sheet.bars[2].bar.numerator == 6 and sheet.bars[2].key.name == "F major" and sheet.bars[2].tempo == 100
    assert sheet.bars[1].chords[1].chord.text == "A7"
    assert sheet.bars[1].chords[1].start == sheet.bars[1].bar.start + 2 * 480
    # 6/8 bar: 6 eighths = 1440 ticks
    assert sheet.bars[2].bar.length == 1440
    assert abs(plan.duration_seconds() - (2 * 3 * 60 / 90 + 3 * 60 / 100)) < 1e-9


@pytest.mark.parametrize("change,needle", [
    ({"sections.0.chords": ["Dm", "Gm:2 Hx7"]}, "section 1 'A' bar 2 chord 'Hx7'"),
    ({"sections.0.chords": ["Dm", "Gm:2 A7:2"]}, "section 1 'A' bar 2 chord 'A7': chords fill 4 beats"),
    ({"sections.0.chords": ["Dm"]}, "has 2 bars but chords for 1 bars"),
    ({"sections.0.chords": ["Dm", "Gm:2 A7/Q"]}, "bar 2 chord 'A7/Q'"),
    ({"key": "H major"}, "unknown"),
    ({"meter": "3/5"}, "meter '3/5'"),
    ({"tempo": 1000}, "tempo"),
    ({"sections.0.bars": 100000}, "bars"),
    ({"tracks.0.program": 300}, "program"),
    ({"tracks.0.role": "lead-guitarist"}, "role"),
])
def test_wrong_plans_name_the_place(change, needle):
    with pytest.raises(PlanError) as err:
        load_plan(plan_with(**change))
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_caps_on_length_and_tracks():
    data = json.loads(BASE_JSON)
    data["tempo"] = 20
    data["meter"] = "4/4"
    data["sections"] = [{"name": "A", "label": "A", "bars": 500, "chords": ["C"] * 500}]
    with pytest.raises(PlanError, match="at most 30"):
        load_plan(json.dumps(data))
    data = json.loads(BASE_JSON)
    data["tracks"] = [{"name": f"T{i}", "role": "pad", "program": 0} for i in range(33)]
    with pytest.raises(PlanError, match="32"):
        load_plan(json.dumps(data))


BASE_JSON = json.dumps(BASE)


def test_not_json():
    with pytest.raises(PlanError, match="not valid JSON"):
        load_plan("{nope")


def test_schema_lists_the_contract():
    schema = plan_schema()
    assert set(["title", "key", "meter", "tempo", "style", "tracks", "sections"]) <= set(schema["properties"])
    sec = schema["$defs"]["Section"]["properties"]
    assert {"name", "label", "bars", "chords", "key", "tempo", "meter", "energy", "description"} <= set(sec)
