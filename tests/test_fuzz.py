"""Fuzzing the command line with Hypothesis (derandomized, so CI sees the same cases every run): briefs, plan
JSON, MIDI bytes, revision texts and config files. Every case must end with exit 0 or a one-line error and
exit 2, never a traceback; on exit 2 the project folder is exactly as it was."""
import contextlib
import copy
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import mido
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from composer import project
from composer.cli import main

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
BASE_BRIEF = "a waltz in F major for piano and cello, 3/4, 12 seconds"


def state(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != project.LOCK}


def cli(*argv: str) -> tuple[int, str, str]:
    """The command in this process; an exception escaping main() would be a traceback and fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["-q", *argv])
    return code, out.getvalue(), err.getvalue()


def check(code: int, err: str) -> None:
    event(f"exit {code}")
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        lines = [ln for ln in err.strip().splitlines() if not ln.startswith("composer: warning")]
        assert len(lines) == 1 and lines[0].startswith("composer: error: "), err


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A small project with no audio (the fuzzed commands re-arrange and export, they do not render)."""
    out = tmp_path_factory.mktemp("fuzz") / "base"
    code, _, err = cli("new", BASE_BRIEF, "--out", str(out), "--no-audio", "--no-humanize", "--arranger", "patterns")
    assert code == 0, err
    return out


@pytest.fixture
def work(base, tmp_path) -> Path:
    return tmp_path


def fresh(base: Path, work: Path) -> Path:
    d = work / "p"
    if d.exists():
        shutil.rmtree(d)
    shutil.copytree(base, d)
    return d


# --- briefs -------------------------------------------------------------------------------------------

WORDS = ["a", "waltz", "jazz", "bossa nova", "reel", "march", "blues", "in", "D", "F#", "Bb", "H#", "minor", "major",
         "3/4", "4/4", "6/8", "12/8", "0/4", "7/0", "99/64", "2/3", "at", "bpm", "tempo", "120", "1200", "1000", "3000",
         "-5", "0", "66", "1e309", "minutes", "minute", "seconds", "bars", "2:30", "2:30:00", "99:99", "two", "hours",
         "for", "piano", "string quartet", "fiddle", "tin whistle", "bodhran", "bouzouki", "orchestra", "drums",
         "AABA", "ABA", "rondo", "verse-chorus", "12-bar blues", "theme and variations", "intro", "outro",
         "builds to a climax", "fades away", "modulates to the relative minor", "in the bridge", "trio section in",
         "Eb major", "key change up a whole step for the last chorus", "allegro", "slow", "relaxed", "adagio",
         "with", "and", ",", ".", "-", "♩ =", "½", "\x00", "\x1b[2J", "\r", "é🎷", "  ", "\n"]
briefs = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=14).map(" ".join),
    st.text(max_size=60),
    st.builds(lambda w, n: f"{w} {n}", st.sampled_from(WORDS), st.integers(-10**12, 10**12)),
)


@pytest.mark.slow
@settings(FUZZ, max_examples=150)
@given(brief=briefs)
def test_fuzz_briefs_plan(brief):
    code, out, err = cli("plan", brief)
    check(code, err)
    if code == 0:
        plan = json.loads(out)
        assert 20 <= plan["tempo"] <= 400


@pytest.mark.slow
@settings(FUZZ, max_examples=25)
@given(brief=st.lists(st.sampled_from(WORDS), min_size=1, max_size=10).map(" ".join))
def test_fuzz_briefs_new_leaves_the_old_project_on_error(base, work, brief):
    d = fresh(base, work)
    before = state(d)
    code, _, err = cli("new", brief, "--out", str(d), "--no-audio", "--no-humanize", "--arranger", "patterns")
    check(code, err)
    if code == 2:
        assert state(d) == before


# --- plan JSON ----------------------------------------------------------------------------------------

def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9), st.floats(allow_nan=False, allow_infinity=False),
              st.sampled_from([0, -1, 513, 10**6, 1e308, "", "C", "Zz9", "G7:9", "H#", "0/4", "99/64", "\x00",
                               "Cmaj7:1.5 F:2.5", "ii7", "drums", "melody", "x" * 300])),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8)


@pytest.mark.slow
@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_fuzz_plan_json_arrange(base, work, data):
    plan = json.loads((base / "plan.json").read_text())
    mutated = copy.deepcopy(plan)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(mutated) if p]
        path = data.draw(st.sampled_from(paths))
        node = mutated
        for k in path[:-1]:
            node = node[k]
        old = node[path[-1]]
        how = data.draw(st.integers(0, 3))
        if how == 0 and isinstance(node, dict):
            del node[path[-1]]
        elif how == 1 and isinstance(old, (int, float)) and not isinstance(old, bool):
            node[path[-1]] = data.draw(st.integers(-2, 2 * int(old) + 2))  # near the valid value
        elif how == 2 and isinstance(old, str):
            node[path[-1]] = data.draw(st.sampled_from(["C", "G7", "Am:1.5", "F#dim7", "Bb/D", "A", "B", "Verse",
                                                        "3/4", "5/8", "D minor", "Eb major", "melody", "bass"]))
        else:
            node[path[-1]] = data.draw(values)
    text = json.dumps(mutated)
    if data.draw(st.integers(0, 9)) == 0:  # deep nesting
        depth = data.draw(st.integers(50, 50000))
        text = '{"sections": ' + "[" * depth + "]" * depth + "}"
    src = work / "plan.json"
    src.write_text(text)
    d = fresh(base, work)
    before = state(d)
    code, _, err = cli("arrange", str(src), "--out", str(d), "--arranger", "patterns")
    check(code, err)
    if code == 2:
        assert state(d) == before
    (d / "plan.json").write_text(text)  # a project whose own plan.json is broken
    for argv in (["export", str(d)], ["revise", str(d), "tempo 90"]):
        before = state(d)
        code, _, err = cli(*argv)
        check(code, err)
        if code == 2:
            assert state(d) == before


# --- MIDI bytes ---------------------------------------------------------------------------------------

def _midi(tempo: int, num: int, den_pow: int, notes: list[tuple[int, int, int]], tracks: int) -> bytes:
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    meta.append(mido.MetaMessage("time_signature", numerator=num, denominator=2 ** den_pow, time=0))
    mid.tracks.append(meta)
    for t in range(tracks):
        tr = mido.MidiTrack()
        tr.append(mido.MetaMessage("track_name", name=f"T{t}\x00\x1b", time=0))
        for start, length, pitch in notes:
            tr.append(mido.Message("note_on", note=pitch, velocity=80, time=start))
            tr.append(mido.Message("control_change", control=64, value=127, time=0))
            tr.append(mido.Message("note_off", note=pitch, velocity=0, time=length))
            tr.append(mido.Message("control_change", control=64, value=0, time=length))
        mid.tracks.append(tr)
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


midis = st.builds(
    _midi,
    tempo=st.one_of(st.just(500000), st.integers(150000, 3000000), st.sampled_from([0, 1, 2**24 - 1])),
    num=st.one_of(st.integers(1, 12), st.integers(0, 255)), den_pow=st.one_of(st.integers(1, 3), st.integers(0, 7)),
    notes=st.lists(st.tuples(st.one_of(st.integers(0, 4000), st.integers(0, 2**27)),
                             st.one_of(st.integers(1, 2000), st.integers(0, 2**27)), st.integers(0, 127)),
                   min_size=0, max_size=6),
    tracks=st.one_of(st.integers(1, 4), st.integers(1, 40)))


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_fuzz_midi_import_and_export(base, work, data):
    raw = data.draw(midis)
    if data.draw(st.booleans()):  # corrupt the bytes too
        b = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 8))):
            if b:
                b[data.draw(st.integers(0, len(b) - 1))] = data.draw(st.integers(0, 255))
        raw = bytes(b[: data.draw(st.integers(0, len(b)))]) if data.draw(st.booleans()) else bytes(b)
    src = work / "in.mid"
    src.write_bytes(raw)
    d = fresh(base, work)
    before = state(d)
    code, _, err = cli("import", str(src), "--out", str(d))
    check(code, err)
    if code == 2:
        assert state(d) == before
    (d / "piece.mid").write_bytes(raw)  # a project whose own MIDI is broken
    for argv in (["export", str(d)], ["regenerate", str(d), "--arranger", "patterns"]):
        before = state(d)
        code, _, err = cli(*argv)
        check(code, err)
        if code == 2:
            assert state(d) == before


# --- revision texts -----------------------------------------------------------------------------------

EDITS = ["tempo", "set the tempo to", "transpose", "up", "down", "a whole step", "a semitone", "by", "make", "the",
         "chorus", "bridge", "section", "A", "B", "1", "2", "16", "0", "-50", "100000", "10000", "bars", "repeat",
         "last", "times", "in", "7/0", "5/4", "99/64", "key of", "H#", "E minor", "add", "remove", "a trumpet",
         "piano", "cello", "swing", "louder", "energy", "5", "-3", "modulate", "to the relative minor", "faster",
         "slower", "bpm", "minutes", "30", "\x00", "é", ""]
numbers = st.one_of(st.integers(1, 40), st.integers(20, 400), st.integers(-10**6, 10**6),
                    st.sampled_from(["0", "-50", "100000", "1e9", "½"]))
TEMPLATES = ["tempo {n}", "set the tempo to {n} bpm", "transpose up {n} semitones", "transpose down a whole step",
             "make the {s} {n} bars", "repeat the last {s} {n} times", "remove the {s}", "change the meter to {n}/{m}",
             "make it {n}/{m}", "modulate the {s} to {k}", "add an intro", "add an outro of {n} bars",
             "end the {s} on a half cadence", "swap {k} for {k} in the {s}", "make the {s} {n} bars and tempo {m}"]
edits = st.one_of(
    st.builds(lambda t, n, m, sec, k: t.format(n=n, m=m, s=sec, k=k), st.sampled_from(TEMPLATES), numbers, numbers,
              st.sampled_from(["A1", "B", "A2", "section 2", "A", "chorus", "bridge", "99"]),
              st.sampled_from(["G major", "E minor", "H#", "Bb", "the relative minor", "C7", "Dm"])),
    st.lists(st.sampled_from(EDITS), min_size=1, max_size=9).map(" ".join), st.text(max_size=40))


@settings(FUZZ, max_examples=60)
@given(edit=edits)
def test_fuzz_revise_texts(base, work, edit):
    d = fresh(base, work)
    before = state(d)
    code, _, err = cli("revise", str(d), edit)
    check(code, err)
    if code == 2:
        assert state(d) == before
    else:
        json.loads((d / "plan.json").read_text())


# --- config files -------------------------------------------------------------------------------------

configs = st.one_of(
    st.recursive(st.one_of(st.none(), st.integers(), st.text(max_size=10), st.just("http://127.0.0.1:9/v1"),
                           st.just("file:///etc/passwd")),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                     st.sampled_from(["llm", "url", "model", "timeout", "retries", "backend", "keys", "x"]), inner,
                     max_size=4), max_leaves=10).map(json.dumps),
    st.text(max_size=30),
    st.integers(1, 20000).map(lambda n: '{"llm": ' * n + "1" + "}" * n))


@settings(FUZZ, max_examples=40)
@given(config=configs)
def test_fuzz_config_files(work, config, monkeypatch):
    path = work / "config.json"
    path.write_text(config)
    monkeypatch.setenv("COMPOSER_CONFIG", str(path))
    for var in ("COMPOSER_LLM_URL", "COMPOSER_LLM_MODEL", "COMPOSER_LLM_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    code, out, err = cli("plan", "a folk tune in G", "--planner", "llm", "--llm-timeout", "2")
    check(code, err)
    os.environ.pop("COMPOSER_CONFIG", None)
