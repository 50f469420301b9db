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


# --- hostile input: size, nesting, control characters --------------------------------------------

def valid_with(**changes):
    return plan_with(**{"sections.1.chords": ["F:3 C:3"], **changes})


@pytest.mark.parametrize("text,needle", [
    ("[" * 100000 + "]" * 100000, "nests deeper than 32"),
    ('{"a":' * 5000 + "1" + "}" * 5000, "nests deeper than 32"),
    ("[1, 2]", "not a JSON object but a list"),
    ("42", "not a JSON object but a number"),
    ("{nope", "not valid JSON"),
    (b"\xff{}", "not UTF-8"),
])
def test_hostile_json_is_one_line_plan_error(text, needle):
    import time
    t0 = time.perf_counter()
    with pytest.raises(PlanError) as err:
        load_plan(text)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert time.perf_counter() - t0 < 1.0


def test_oversized_plan_text_is_refused_before_parsing():
    from composer.plan import MAX_PLAN_CHARS
    text = '{"title": "T", "chords": [' + '"C",' * (MAX_PLAN_CHARS // 4) + '"C"]}'
    with pytest.raises(PlanError, match=r"at most 4\.0 MB"):
        load_plan(text)


def test_depth_scan_ignores_brackets_inside_strings():
    from composer.plan import json_depth_exceeds
    data = json.loads(valid_with())
    data["sections"][0]["description"] = "[" * 400 + "{\"[" + "}" * 50
    data["style"] = "\\[" * 40
    assert load_plan(json.dumps(data)).sections[0].description.startswith("[[[")
    assert not json_depth_exceeds(json.dumps(data), 8)
    assert json_depth_exceeds("[" * 9 + "]" * 9, 8) and not json_depth_exceeds("[" * 8 + "]" * 8, 8)
    # An unterminated string with many escaped quotes costs one pass, not one per quote.
    import time
    t0 = time.perf_counter()
    with pytest.raises(PlanError):
        load_plan('"' + '\\"' * 500000)
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize("field", ["tracks.0.name", "sections.0.name", "sections.0.label", "title"])
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\r", "\n", "\x7f", "\x9b", "\ud800"])
def test_control_characters_in_names_are_refused(field, char):
    with pytest.raises(PlanError) as err:
        load_plan(plan_with(**{field: "Vio" + char + "lin"}))
    msg = str(err.value)
    shown = {"tracks.0.name": "track 1 name", "sections.0.name": "section 1 name", "sections.0.label": "section 1 label",
             "title": "title"}[field]
    # pydantic itself refuses a lone surrogate ("unable to parse raw data as a unicode string").
    assert msg.startswith(shown + ": ") and "\n" not in msg
    assert f"U+{ord(char):04X}" in msg or (char == "\ud800" and "valid string" in msg)


def test_free_text_may_hold_line_breaks_but_not_escapes():
    assert load_plan(valid_with(**{"sections.0.description": "first line\n\tsecond"})).sections[0].description
    with pytest.raises(PlanError, match="section 1 description: contains the control character U\\+001B"):
        load_plan(valid_with(**{"sections.0.description": "\x1b[2J"}))
    with pytest.raises(PlanError, match="style: contains the control character U\\+0000"):
        load_plan(valid_with(style="pop\x00"))


def test_tempo_bounds_are_the_score_bounds():
    from symbolic.score import MAX_BPM, MIN_BPM
    assert (MIN_BPM, MAX_BPM) == (20, 400)
    assert load_plan(valid_with(tempo=400)).tempo == 400
    assert load_plan(valid_with(**{"sections.1.tempo": 20})).sections[1].tempo == 20
    for change in ({"tempo": 401}, {"tempo": 19.9}, {"sections.1.tempo": 401}):
        with pytest.raises(PlanError, match="tempo"):
            load_plan(valid_with(**change))
    with pytest.raises(PlanError, match="tempo"):
        load_plan(valid_with().replace('"tempo": 90', '"tempo": NaN'))


@pytest.mark.parametrize("meter", ["0/4", "7/0", "99/64", "3/32", "123456789012/4"])
def test_bad_meters_name_themselves_and_the_range(meter):
    with pytest.raises(PlanError) as err:
        load_plan(valid_with(meter=meter))
    assert "meter" in str(err.value) and ("numerator 1-32" in str(err.value) or "form N/D" in str(err.value))


@pytest.mark.parametrize("command", ["arrange", "export", "revise"])
def test_cli_on_a_deeply_nested_plan_is_a_one_line_error(tmp_path, capsys, command):
    from composer.cli import main
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "plan.json").write_text("[" * 100000 + "]" * 100000)
    argv = {"arrange": ["arrange", str(folder / "plan.json"), "--out", str(tmp_path / "out")],
            "export": ["export", str(folder)],
            "revise": ["revise", str(folder), "tempo 100"]}[command]
    assert main(["-q", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("composer: error: ") and "nests deeper than 32" in err and "\n" not in err
