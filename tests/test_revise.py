"""Revising a project: rules edits, a scripted LLM, re-arranging only what changed, exact undo."""
import json

import pytest

from composer.llm import LLMSettings
from composer.pipeline import load_project, new_piece, revise_project, undo_project
from composer.revise import EditError, rules_revise, section_keys
from symbolic.harmony import parse_chord

from .llm_server import LLMServer

BRIEF = "a pop song in C major with intro, verse, chorus and a bridge, 4/4 at 110 bpm, 2 minutes"


@pytest.fixture()
def proj(tmp_path):
    new_piece(BRIEF, tmp_path / "p", audio=False, seed=1)
    return tmp_path / "p"


def snapshot(folder):
    return {n: (folder / n).read_bytes() for n in ("plan.json", "piece.mid")}


def names(plan):
    return [s.name for s in plan.sections]


@pytest.mark.slow
def test_transpose_keeps_every_note_moved_by_the_interval(proj):
    old_plan, old_score = load_project(proj)
    plan, diff, regen = revise_project(proj, "transpose up a whole step")
    assert plan.key == "D major" and not regen and "key: C major -> D major" in diff
    assert old_plan.title.endswith(" in C major") and plan.title == old_plan.title[:-len("C major")] + "D major"
    _, score = load_project(proj)
    for a, b in zip(old_score.parts, score.parts):
        shift = 0 if a.is_drum else 2
        assert [(n.start, n.pitch + shift) for n in a.notes] == [(n.start, n.pitch) for n in b.notes]
    assert all(parse_chord(c.symbol).root == (parse_chord(o.symbol).root + 2) % 12
               for s, os_ in zip(plan.sections, old_plan.sections) for bar, ob in zip(s.chords, os_.chords)
               for c, o in zip(bar, ob))


@pytest.mark.slow
def test_change_one_chord_regenerates_only_its_section(proj):
    old_plan, old_score = load_project(proj)
    verse = next(s for s in old_plan.sections if s.name.startswith("Verse"))
    plan, diff, regen = revise_project(proj, f"change bar 2 of {verse.name} to Am")
    sheet = plan.to_sheet()
    sec = next(s for s in sheet.sections if s.name == verse.name)
    same_label = [s for s in sheet.sections if s.name == verse.name]
    assert regen == set(sec.bar_range) and len(same_label) == 1
    _, score = load_project(proj)
    lo, hi = sheet.bars[sec.first_bar].bar.start, sheet.bars[sec.first_bar + sec.n_bars - 1].bar.end
    for a, b in zip(old_score.parts, score.parts):
        keep_a = [(n.start, n.pitch) for n in a.notes if not lo <= n.start < hi]
        keep_b = [(n.start, n.pitch) for n in b.notes if not lo <= n.start < hi]
        assert keep_a == keep_b


@pytest.mark.slow
def test_undo_restores_plan_and_midi_exactly(proj):
    before = snapshot(proj)
    revise_project(proj, "make the chorus 12 bars")
    middle = snapshot(proj)
    revise_project(proj, "tempo 96")
    assert snapshot(proj) != middle
    undo_project(proj)
    assert snapshot(proj) == middle
    undo_project(proj)
    assert snapshot(proj) == before


@pytest.mark.parametrize("edit,check", [
    ("transpose to Eb major", lambda p: p.key == "Eb major"),
    ("tempo 132", lambda p: p.tempo == 132),
    ("slower", lambda p: p.tempo == 99),
    ("change the meter to 3/4", lambda p: p.meter == "3/4" and all(sum(c.beats for c in b) == 3 for s in p.sections for b in s.chords)),
    ("make the bridge 3/4", lambda p: next(s for s in p.sections if s.name == "Bridge").meter == "3/4"),
    ("make the chorus 12 bars", lambda p: all(s.bars == 12 for s in p.sections if s.name.startswith("Chorus"))),
    ("lengthen the bridge", lambda p: next(s for s in p.sections if s.name == "Bridge").bars == 12),
    ("repeat the last chorus", lambda p: names(p)[names(p).index("Chorus 4") + 1] == "Chorus 5"),
    ("remove the bridge", lambda p: "Bridge" not in [s.name for s in p.sections]),
    ("add an outro", lambda p: p.sections[-1].name.startswith("Outro") and p.sections[-1].chords[-1][0].symbol == "C"),
    ("add an intro of 2 bars", lambda p: p.sections[0].bars == 2),
    ("replace G with G7", lambda p: any(c.symbol == "G7" for s in p.sections for b in s.chords for c in b)),
    ("make the bridge modulate to the relative minor and end on a half cadence",
     lambda p: section_keys(p)[names(p).index("Bridge")].name == "A minor"
     and p.sections[names(p).index("Bridge")].chords[-1][0].symbol == "E"
     and p.sections[names(p).index("Bridge")].chords[0][0].symbol in ("Am", "C", "Dm", "F", "G", "E", "Bdim")),
    ("end the bridge on a half cadence", lambda p: p.sections[names(p).index("Bridge")].chords[-1][0].symbol == "G"),
])
@pytest.mark.slow
def test_rules_edits(proj, edit, check):
    plan, diff, _ = revise_project(proj, edit)
    assert diff
    assert check(plan), diff
    # The key after a modulated section comes back.
    keys = section_keys(plan)
    assert keys[-1].tonic == keys[0].tonic


@pytest.mark.parametrize("edit,needle", [("frobnicate the widget", "cannot read the edit"),
                                         ("make the refrain 8 bars", "no section called"),
                                         ("tempo 999", "outside 20-400"),
                                         ("change bar 99 of the bridge to Am", "has 8 bars"),
                                         ("", "empty")])
@pytest.mark.slow
def test_bad_edits_change_nothing(proj, edit, needle):
    before = snapshot(proj)
    with pytest.raises(EditError, match=needle):
        revise_project(proj, edit)
    assert snapshot(proj) == before


@pytest.mark.slow
def test_revise_with_a_scripted_llm_and_undo(proj):
    old_plan, _ = load_project(proj)
    edited = old_plan.model_dump(mode="json", exclude_none=True)
    bridge = next(s for s in edited["sections"] if s["name"] == "Bridge")
    bridge["key"] = "A minor"
    bridge["chords"] = [[{"symbol": s, "beats": 4}] for s in ["Am", "Dm", "Am", "E7", "Am", "Dm", "E", "E"]]
    idx = edited["sections"].index(bridge)
    if idx + 1 < len(edited["sections"]):
        edited["sections"][idx + 1]["key"] = "C major"
    before = snapshot(proj)
    with LLMServer([{"content": json.dumps(edited)}]) as srv:
        plan, diff, regen = revise_project(proj, "make the bridge modulate to the relative minor and end on a half cadence",
                                           planner="llm", llm=LLMSettings(url=srv.url, timeout=5, retries=1))
        sent = srv.script.requests[0]["messages"][1]["content"]
    assert "Current plan:" in sent and "relative minor" in sent
    assert any(line.startswith("~ section Bridge") for line in diff)
    sheet = plan.to_sheet()
    b = next(s for s in sheet.sections if s.name == "Bridge")
    assert set(b.bar_range) <= regen
    undo_project(proj)
    assert snapshot(proj) == before


def test_rules_revise_is_pure():
    from composer.planner import plan_from_brief
    plan = plan_from_brief(BRIEF, 1)
    copy_before = plan.model_dump_json()
    rules_revise(plan, "transpose up a fifth")
    assert plan.model_dump_json() == copy_before


@pytest.mark.slow
def test_llm_fault_during_revise_leaves_the_project_untouched(proj, capsys):
    from composer.cli import main
    before = snapshot(proj)
    with LLMServer([{"status": 503}] * 4) as srv:
        code = main(["-q", "revise", str(proj), "make the chorus longer", "--planner", "llm", "--llm-url", srv.url,
                     "--no-fallback"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("composer: error: the LLM server answered HTTP 503")
    assert snapshot(proj) == before
    with LLMServer([{"status": 503}] * 4) as srv:
        code = main(["-q", "revise", str(proj), "lengthen the bridge", "--planner", "llm", "--llm-url", srv.url])
    assert code == 0
    assert "using the rules planner's edits instead" in capsys.readouterr().err
    assert snapshot(proj) != before


# --- every number an edit reads is bounded, before any work ------------------------------------------

@pytest.fixture(scope="module")
def small_plan():
    from composer.planner import plan_from_brief
    return plan_from_brief(BRIEF, seed=1)


@pytest.mark.parametrize("edit,needle", [
    ("tempo 100000", "tempo 100000 BPM is outside 20-400 BPM"),
    ("tempo -50", "tempo -50 BPM is outside 20-400 BPM"),
    ("set the tempo to 401 bpm", "tempo 401 BPM is outside 20-400 BPM"),
    ("tempo 5", "tempo 5 BPM is outside 20-400 BPM"),
    ("repeat the last chorus 10000 times", "would make 10012 sections; a plan holds at most 64"),
    ("repeat the chorus -2 times", "cannot repeat a section -2 times"),
    ("repeat the chorus 99999999999999999999 times", "far too large"),
    ("make the chorus 100000 bars", "a section needs 1 to 512 bars, not 100000"),
    ("make the chorus -5 bars", "a section needs 1 to 512 bars, not -5"),
    ("make the chorus many bars", "cannot read the number 'many'"),
    ("lengthen the chorus by 1000000 bars", "a section needs 1 to 512 bars"),
    ("lengthen the chorus by -4 bars", "by -4 bars"),
    ("shorten the chorus by 100 bars", "cannot be shortened by 100"),
    ("add an intro of 100000 bars", "a section needs 1 to 512 bars, not 100000"),
    ("transpose up 100000 semitones", "a transposition of 100000 semitones is outside 1-12"),
    ("transpose down -3 semitones", "outside 1-12"),
    ("change bar 99999999999999999999 of the bridge to Am", "far too large"),
    ("make it 7/0 time", "meter '7/0' is not supported"),
    ("make it 100/4 time", "meter '100/4' is not supported"),
    ("put the bridge in 99/64", "meter '99/64' is not supported"),
    ("transpose up a semitone; " * 17, "at most 16"),
    ("tempo 96 " + "x" * 3000, "at most 2000"),
])
def test_numbers_in_edits_are_bounded(small_plan, edit, needle):
    import time
    t0 = time.perf_counter()
    with pytest.raises(EditError) as err:
        rules_revise(small_plan, edit)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert time.perf_counter() - t0 < 1.0


def test_growth_is_checked_against_the_plan_caps(small_plan):
    # 20 BPM makes every bar long: lengthening the sections past 30 minutes is refused up front.
    slow = rules_revise(small_plan, "tempo 20")
    with pytest.raises(EditError, match="minutes long; at most 30"):
        rules_revise(slow, "make the verse 200 bars")
    with pytest.raises(EditError, match="minutes long; at most 30"):
        rules_revise(slow, "add an outro of 500 bars")
    # Within the caps the same edits work, and the numbers are read whole.
    assert rules_revise(small_plan, "tempo 400").tempo == 400
    assert rules_revise(small_plan, "set the tempo to 96.5 bpm").tempo == 96.5
    assert len(rules_revise(small_plan, "repeat the last chorus 3 times").sections) == len(small_plan.sections) + 3
    assert rules_revise(small_plan, "make the bridge twenty bars").sections[5].bars == 20


def test_faster_and_slower_stop_at_the_tempo_range(small_plan):
    top = rules_revise(small_plan, "tempo 390")
    with pytest.raises(EditError, match="faster would make the tempo 429 BPM, outside 20-400 BPM"):
        rules_revise(top, "faster")
    with pytest.raises(EditError, match="double time would make the tempo 780 BPM"):
        rules_revise(top, "double time")
    assert rules_revise(top, "slower").tempo == 351


@pytest.mark.parametrize("edit,check", [
    ("make it swing", lambda i: i.feel == "swing" and i.swing == 2.0 and i.drums == "backbeat"),
    ("shuffle feel", lambda i: i.feel == "shuffle" and i.swing == 2.0),
    ("swing 3:2", lambda i: i.feel == "swing" and i.swing == 1.5),
    ("bossa feel", lambda i: (i.genre, i.drums, i.bass, i.comping) == ("bossa", "bossa", "bossa", "bossa")),
    ("make it a jazz tune", lambda i: (i.genre, i.feel, i.drums, i.bass) == ("jazz", "swing", "swing", "walking")),
    ("walking bass", lambda i: i.bass == "walking" and i.genre == "pop"),
    ("play brushes", lambda i: i.drums == "brushes"),
    ("one-drop groove", lambda i: i.drums == "one-drop"),
    ("skank comping", lambda i: i.comping == "skank"),
])
def test_style_edits_change_the_idiom(small_plan, edit, check):
    plan = rules_revise(small_plan, edit)
    assert check(plan.idiom), plan.idiom
    assert [s.model_dump() for s in plan.sections] == [s.model_dump() for s in small_plan.sections]


def test_swing_edits_go_both_ways_and_are_bounded(small_plan):
    swung = rules_revise(small_plan, "make it swing")
    assert rules_revise(swung, "lighter swing").idiom.swing == 1.75
    assert rules_revise(swung, "harder swing").idiom.swing == 2.25
    straight = rules_revise(swung, "straight eighths")
    assert (straight.idiom.feel, straight.idiom.swing) == ("straight", 1.0)
    for edit, needle in (("swing 5:1", "outside"), ("lighter swing", "does not swing")):
        with pytest.raises(EditError, match=needle):
            rules_revise(small_plan, edit)
    jig = rules_revise(small_plan, "make it a jig")
    with pytest.raises(EditError, match="compound"):
        rules_revise(jig, "make it swing")


def test_a_new_feel_keeps_the_notes_and_swings_the_performance(proj):
    before = snapshot(proj)
    plan, diff, regen = revise_project(proj, "make it swing")
    assert regen == set() and any(d.startswith("idiom: pop: straight") for d in diff)
    assert (proj / "piece.mid").read_bytes() == before["piece.mid"]
    import mido
    performed = mido.MidiFile(proj / "piece.performed.mid")
    assert performed.length > 0
    undo_project(proj)
    assert snapshot(proj) == before


def test_a_new_groove_rewrites_only_its_part(proj):
    _, old = load_project(proj)
    plan, diff, regen = revise_project(proj, "walking bass")
    _, new = load_project(proj)
    assert plan.idiom.bass == "walking" and len(regen) == plan.total_bars
    for spec, a, b in zip(plan.tracks, old.parts, new.parts):
        same = [(n.start, n.pitch) for n in a.notes] == [(n.start, n.pitch) for n in b.notes]
        assert same == (spec.role != "bass"), spec.name


@pytest.mark.slow
def test_add_and_remove_a_part_keep_every_other_note(tmp_path):
    d = tmp_path / "combo"
    new_piece("a jazz tune in F for trumpet, piano and drums, 30 seconds", d, audio=False, seed=1)
    _, before = load_project(d)
    plan, diff, _ = revise_project(d, "add an upright bass")
    assert diff == ["+ track Upright Bass (bass, program 32)"]
    _, after = load_project(d)
    old = {p.name: [(n.start, n.pitch) for n in p.notes] for p in before.parts}
    new = {p.name: [(n.start, n.pitch) for n in p.notes] for p in after.parts}
    assert {k: new[k] for k in old} == old and len(new["Upright Bass"]) >= plan.total_bars * 2
    assert max(p for _, p in new["Upright Bass"]) <= 60     # it plays the bass
    plan, diff, regen = revise_project(d, "remove the trumpet")
    assert diff == ["- track Trumpet"] and not regen and [t.name for t in plan.tracks] == \
        ["Piano", "Drums", "Upright Bass"]
    _, last = load_project(d)
    assert {p.name: [(n.start, n.pitch) for n in p.notes] for p in last.parts} == \
        {k: v for k, v in new.items() if k != "Trumpet"}
    with pytest.raises(EditError, match="understands"):
        rules_revise(plan, "add a theremin orchestra")
