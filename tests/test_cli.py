"""The `composer` command: every subcommand, one-line errors, atomic writes, byte-identical output."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from composer.cli import main

ROOT = Path(__file__).resolve().parents[1]
BRIEF = "a calm folk tune in G major, 4/4 at 100 bpm, for fiddle, acoustic guitar and upright bass, 30 seconds"


def run(*args, cwd=None):
    """Run the real command line in a subprocess, as a user would."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "composer.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_help_everywhere():
    for cmd in ([], ["new"], ["plan"], ["arrange"], ["regenerate"], ["render"], ["export"], ["import"], ["schema"],
                ["tui"]):
        res = run(*cmd, "--help")
        assert res.returncode == 0 and "usage:" in res.stdout


def test_schema_command():
    res = run("schema")
    assert res.returncode == 0
    schema = json.loads(res.stdout)
    assert schema["title"] == "Plan"


def test_plan_then_arrange_then_export(tmp_path, capsys):
    plan_path = tmp_path / "plan.json"
    assert main(["-q", "plan", BRIEF, "-o", str(plan_path), "--seed", "2"]) == 0
    plan = json.loads(plan_path.read_text())
    assert plan["key"] == "G major" and plan["tempo"] == 100
    out = tmp_path / "proj"
    assert main(["-q", "arrange", str(plan_path), "--out", str(out)]) == 0
    from symbolic.midi_io import read_midi
    score = read_midi(out / "piece.mid")
    names = [t["name"] for t in plan["tracks"]]
    assert [p.name for p in score.parts] == names and all(p.notes for p in score.parts)
    first = (out / "piece.musicxml").read_bytes()
    assert all(f"<part-name>{n}</part-name>".encode() in first for n in names)
    (out / "piece.musicxml").unlink()
    assert main(["-q", "export", str(out)]) == 0
    assert (out / "piece.musicxml").read_bytes() == first  # export writes the same score again


@pytest.mark.slow
def test_new_writes_every_file_and_is_deterministic(tmp_path, soundfont):
    a, b = tmp_path / "a", tmp_path / "b"
    res = run("new", BRIEF, "--out", str(a), "--seed", "7", "--soundfont", str(soundfont))
    assert res.returncode == 0, res.stderr
    assert "[plan]" in res.stderr and "[render]" in res.stderr  # progress on every step
    for name in ("plan.json", "piece.mid", "piece.musicxml", "mix.wav"):
        assert (a / name).stat().st_size > 0
    stems = sorted(p.name for p in (a / "stems").iterdir())
    assert stems == ["Acoustic Guitar.wav", "Fiddle.wav", "Upright Bass.wav"]
    assert main(["-q", "new", BRIEF, "--out", str(b), "--seed", "7", "--no-audio"]) == 0
    assert (a / "piece.mid").read_bytes() == (b / "piece.mid").read_bytes()
    assert (a / "plan.json").read_text() == (b / "plan.json").read_text()
    assert not (b / "mix.wav").exists()


@pytest.mark.slow
def test_render_and_import(tmp_path, soundfont):
    proj = tmp_path / "p"
    assert main(["-q", "new", BRIEF, "--out", str(proj), "--no-audio"]) == 0
    res = run("render", str(proj / "piece.mid"), "-o", str(tmp_path / "mix.flac"), "--stems", str(tmp_path / "st"),
              "--soundfont", str(soundfont))
    assert res.returncode == 0, res.stderr
    import soundfile as sf

    from symbolic.midi_io import read_midi
    score = read_midi(proj / "piece.mid")
    mix, rate = sf.read(tmp_path / "mix.flac")
    assert score.duration <= len(mix) / rate <= score.duration + 10  # the piece plus its release
    assert float(abs(mix).max()) > 0.1
    assert sorted(p.stem for p in (tmp_path / "st").iterdir()) == sorted(p.name for p in score.parts)
    imp = tmp_path / "imported"
    assert main(["-q", "import", str(proj / "piece.mid"), "--out", str(imp)]) == 0
    back = read_midi(imp / "piece.mid")
    assert [[(n.start, n.pitch) for n in p.notes] for p in back.parts] == \
        [[(n.start, n.pitch) for n in p.notes] for p in score.parts]
    assert b"<part-name>" in (imp / "piece.musicxml").read_bytes()


def _write(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return p


@pytest.mark.parametrize("args,needle", [
    (["new", "", "--out", "{tmp}/o", "--no-audio"], "brief is empty"),
    (["new", "a song in C major and in D minor", "--out", "{tmp}/o", "--no-audio"], "two keys"),
    (["new", "a pop song for theremin and piano", "--out", "{tmp}/o", "--no-audio"], "unknown instrument"),
    (["new", "a 45 minute pop song", "--out", "{tmp}/o", "--no-audio"], "30-minute cap"),
    (["new", "a pop song", "--out", "{tmp}/o", "--soundfont", "{tmp}/missing.sf2"], "missing.sf2"),
    (["new", "a pop song", "--out", "{tmp}/afile/sub", "--no-audio"], "cannot write to"),
    (["arrange", "{tmp}/badchord.json", "--out", "{tmp}/o"], "section 1 'A' bar 2 chord 'Q7'"),
    (["arrange", "{tmp}/notjson.json", "--out", "{tmp}/o"], "not valid JSON"),
    (["arrange", "{tmp}/nothere.json", "--out", "{tmp}/o"], "cannot read"),
    (["render", "{tmp}/empty.mid"], "is empty"),
    (["render", "{tmp}/corrupt.mid"], "not a readable MIDI"),
    (["render", "{tmp}/good.mid", "--soundfont", "{tmp}/nope.sf2"], "nope.sf2"),
    (["export", "{tmp}/emptydir"], "neither plan.json nor piece.mid"),
    (["new", "a pop song", "--out", "{tmp}/o", "--no-audio", "--temperature", "5"], "--temperature must be between 0 and 2"),
    (["new", "a pop song", "--out", "{tmp}/o", "--no-audio", "--candidates", "0"], "--candidates must be between 1 and 8"),
    (["arrange", "{tmp}/g/plan.json", "--out", "{tmp}/o", "--top-p", "0"], "--top-p must be in (0, 1]"),
    (["regenerate", "{tmp}/g", "--section", "Solo"], "no section 'Solo' in this plan"),
    (["regenerate", "{tmp}/g", "--track", "Tuba"], "--track: no track or role 'Tuba'"),
    (["regenerate", "{tmp}/g", "--bars", "3-99"], "not inside the piece's"),
    (["regenerate", "{tmp}/g", "--bars", "x"], "--bars wants a bar or a range"),
    (["regenerate", "{tmp}/emptydir"], "needs both plan.json and piece.mid"),
])
@pytest.mark.slow
def test_bad_input_is_one_line_and_nonzero(tmp_path, args, needle):
    _write(tmp_path, "afile", "x")
    _write(tmp_path, "badchord.json", json.dumps({
        "key": "C major", "tempo": 100, "tracks": [{"name": "P", "role": "melody", "program": 0}],
        "sections": [{"name": "A", "label": "A", "bars": 2, "chords": ["C", "Q7"]}]}))
    _write(tmp_path, "notjson.json", "{")
    _write(tmp_path, "empty.mid", b"")
    _write(tmp_path, "corrupt.mid", b"MThd\x00\x00\x00\x06garbage")
    (tmp_path / "emptydir").mkdir()
    main(["-q", "new", "a short pop song, 10 seconds", "--out", str(tmp_path / "g"), "--no-audio"])
    (tmp_path / "good.mid").write_bytes((tmp_path / "g" / "piece.mid").read_bytes())
    res = run(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert res.returncode == 2
    errors = [line for line in res.stderr.strip().splitlines() if not line.startswith("[")]  # progress lines start with [
    assert len(errors) == 1 and errors[0].startswith("composer: error:") and needle in errors[0], res.stderr
    assert "Traceback" not in res.stderr


def test_a_bad_plan_writes_nothing_and_keeps_the_project(tmp_path):
    proj = tmp_path / "p"
    assert main(["-q", "new", BRIEF, "--out", str(proj), "--no-audio"]) == 0
    before = {p.name: p.read_bytes() for p in proj.iterdir() if p.is_file()}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"key": "C major", "tempo": 100, "tracks": [{"name": "P", "role": "melody", "program": 0}],
                               "sections": [{"name": "A", "label": "A", "bars": 1, "chords": ["C:3"]}]}))
    assert main(["-q", "arrange", str(bad), "--out", str(proj)]) == 2
    after = {p.name: p.read_bytes() for p in proj.iterdir() if p.is_file()}
    assert before == after


def test_interrupted_export_leaves_previous_files(tmp_path, monkeypatch):
    """A crash in the middle of writing (here: MusicXML export raising) leaves every earlier file intact."""
    proj = tmp_path / "p"
    assert main(["-q", "new", BRIEF, "--out", str(proj), "--no-audio"]) == 0
    before = {p.name: p.read_bytes() for p in proj.iterdir() if p.is_file()}
    import symbolic.musicxml as mx

    def boom(*a, **k):
        raise KeyboardInterrupt()
    monkeypatch.setattr(mx, "to_musicxml", boom)
    assert main(["-q", "new", BRIEF.replace("4/4", "3/4"), "--out", str(proj), "--no-audio", "--seed", "3"]) == 130
    after = {p.name: p.read_bytes() for p in proj.iterdir() if p.is_file()}
    assert before == after
    assert not [p for p in proj.iterdir() if p.name.endswith(".tmp")]


def test_plan_history_keeps_the_previous_plan(tmp_path):
    proj = tmp_path / "p"
    main(["-q", "new", BRIEF, "--out", str(proj), "--no-audio", "--seed", "1"])
    first = (proj / "plan.json").read_text()
    main(["-q", "new", BRIEF, "--out", str(proj), "--no-audio", "--seed", "2"])
    hist = sorted((proj / "history").glob("plan-*.json"))
    assert hist and hist[-1].read_text() == first


def test_regenerate_a_track_in_a_section_then_undo(tmp_path, capsys):
    """`composer regenerate` writes a new take of one track in one section, keeps every other note,
    and `composer undo` brings the previous take back byte for byte."""
    from symbolic.midi_io import read_midi
    proj = tmp_path / "p"
    assert main(["-q", "new", BRIEF, "--out", str(proj), "--no-audio"]) == 0
    plan = json.loads((proj / "plan.json").read_text())
    before = (proj / "piece.mid").read_bytes()
    old = read_midi(proj / "piece.mid")
    bass = next(t["name"] for t in plan["tracks"] if t["role"] == "bass")
    assert main(["-q", "regenerate", str(proj), "--section", "2", "--track", bass.lower(), "--seed", "5"]) == 0
    assert f"regenerated {bass} in bars" in capsys.readouterr().out
    new = read_midi(proj / "piece.mid")
    first = sum(s["bars"] for s in plan["sections"][:1])
    lo, hi = old.bars[first].start, old.bars[first + plan["sections"][1]["bars"] - 1].end
    for a, b in zip(old.parts, new.parts):
        keep = [(n.start, n.pitch) for n in a.notes if a.name != bass or not lo <= n.start < hi]
        assert keep == [(n.start, n.pitch) for n in b.notes if b.name != bass or not lo <= n.start < hi], a.name
    changed = next(p for p in new.parts if p.name == bass)
    assert [(n.start, n.pitch) for n in changed.notes if lo <= n.start < hi] != \
        [(n.start, n.pitch) for n in next(p for p in old.parts if p.name == bass).notes if lo <= n.start < hi]
    assert (proj / "piece.musicxml").exists() and json.loads((proj / "plan.json").read_text()) == plan
    assert main(["-q", "undo", str(proj)]) == 0
    assert (proj / "piece.mid").read_bytes() == before
    # A role names its tracks.
    assert main(["-q", "regenerate", str(proj), "--bars", "1-2", "--track", "bass", "--seed", "6"]) == 0
    assert f"regenerated {bass} in bars 1-2" in capsys.readouterr().out
    assert main(["-q", "undo", str(proj)]) == 0
    # Everything locked: nothing to do, nothing written.
    assert main(["-q", "regenerate", str(proj), "--track", bass, "--lock", bass]) == 2
    assert (proj / "piece.mid").read_bytes() == before


def test_sections_by_number_name_label_or_name_without_its_number():
    from composer.pipeline import _section_bars

    from .helpers import small_plan
    plan = small_plan(extra_sections=False)   # Verse 1 (A), Chorus (B), Verse 2 (A), 4 bars each
    assert _section_bars(plan, "2") == _section_bars(plan, "chorus") == _section_bars(plan, "B") == {4, 5, 6, 7}
    assert _section_bars(plan, "Verse 2") == {8, 9, 10, 11}
    assert _section_bars(plan, "verse") == _section_bars(plan, "a") == {0, 1, 2, 3, 8, 9, 10, 11}
    with pytest.raises(ValueError, match="no section 'bridge'"):
        _section_bars(plan, "bridge")


def test_a_project_named_relative_to_the_working_folder_keeps_its_files_in_it(tmp_path, monkeypatch, soundfont):
    """`--out demo` (the README's demo) writes demo/mix.wav, not demo/demo/mix.wav; revise, render and undo
    find and keep their files in the same folder."""
    monkeypatch.chdir(tmp_path)
    sf = ["--soundfont", str(soundfont)]
    assert main(["-q", "new", "a calm waltz in F for piano and cello, 3/4, 8 seconds", "--out", "demo",
                 "--arranger", "patterns", *sf]) == 0
    assert main(["-q", "revise", "demo", "make it swing"]) == 0
    assert main(["-q", "render", "demo/piece.mid", "--stems", "demo/stems", "-o", "demo/mix.wav", *sf]) == 0
    assert main(["-q", "undo", "demo"]) == 0
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert not (tmp_path / "demo" / "demo").exists(), files
    assert {"demo/plan.json", "demo/piece.mid", "demo/piece.musicxml", "demo/piece.performed.mid", "demo/mix.wav",
            "demo/stems/Piano.wav", "demo/stems/Cello.wav"} <= set(files), files
    assert any(f.startswith("demo/history/redo/plan-") for f in files), files


def test_new_says_how_it_read_the_brief(tmp_path, capsys):
    assert main(["-q", "new", "a lullaby in 6/8 in G major for piano, 70 bpm, 20 seconds", "--out", str(tmp_path / "p"),
                 "--no-audio", "--arranger", "patterns"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("read as: G major; 6/8 at dotted quarter = 70 (quarter = 105); form ")
    assert "lullaby: compound" in out[1] and "Piano (melody)" in out[1]
