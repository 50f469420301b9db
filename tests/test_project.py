"""The project folder as one unit: transactions, recovery after a crash at every step of a commit, the lock,
undo that never destroys a plan, links, and a full disk."""
import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from composer import project
from composer.cli import main

ROOT = Path(__file__).resolve().parents[1]
BRIEF = "a waltz in F major for piano and cello, 3/4, 20 seconds"


def state(folder: Path) -> dict[str, str]:
    """Every file under the folder (links as their target text) -> a hash; the lock file is not content."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.name == project.LOCK:
            continue
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def cli(*args, env=None, **kw):
    e = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "composer.cli", *args], capture_output=True, text=True, env=e,
                          timeout=300, **kw)


@pytest.fixture
def proj(tmp_path):
    out = tmp_path / "p"
    assert main(["-q", "new", BRIEF, "--out", str(out), "--no-audio", "--arranger", "patterns"]) == 0
    return out


# --- transactions and recovery ------------------------------------------------------------------------

def _change(folder: Path) -> None:
    with project.transaction(folder, "test") as tx:
        tx.snapshot()
        tx.write(project.PLAN, "new plan")
        tx.write(project.MIDI, b"new midi")
        tx.remove(project.MUSICXML)
        stems = tx.target_dir(project.STEMS)
        (stems / "A.wav").write_bytes(b"a2")


def _old(folder: Path) -> None:
    folder.mkdir()
    (folder / project.PLAN).write_text("old plan")
    (folder / project.MIDI).write_bytes(b"old midi")
    (folder / project.MUSICXML).write_text("old xml")
    (folder / project.STEMS).mkdir()
    (folder / project.STEMS / "A.wav").write_bytes(b"a1")
    (folder / project.STEMS / "B.wav").write_bytes(b"b1")


def test_a_change_replaces_files_and_folders_as_a_whole(tmp_path):
    folder = tmp_path / "f"
    _old(folder)
    _change(folder)
    assert (folder / project.PLAN).read_text() == "new plan"
    assert not (folder / project.MUSICXML).exists()
    assert sorted(p.name for p in (folder / project.STEMS).iterdir()) == ["A.wav"]  # B's old stem is gone
    assert (folder / "history" / "plan-0001.json").read_text() == "old plan"
    assert not (folder / project.STAGING).exists() and not (folder / project.LOCK).exists()


def _h(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_a_crash_at_any_rename_of_a_commit_leaves_the_old_or_the_new_project(tmp_path, monkeypatch):
    """Cut the commit after each of its renames (as a power cut or SIGKILL would), then let the next command
    open the folder: every file is from the new version, whichever rename was the last."""
    ref_old, ref_new = tmp_path / "old", tmp_path / "new"
    _old(ref_old)
    _old(ref_new)
    _change(ref_new)
    old_state, new_state = state(ref_old), state(ref_new)
    real = os.replace
    cuts = 0
    for k in range(40):
        folder = tmp_path / f"c{k}"
        _old(folder)
        calls = {"n": 0}

        def replace(a, b, _k=k, _calls=calls):
            _calls["n"] += 1
            if _calls["n"] > _k:
                raise SystemExit("power cut")  # not an OSError: nothing in the commit may catch it
            return real(a, b)

        monkeypatch.setattr(project.os, "replace", replace)
        monkeypatch.setattr(project, "_discard", lambda staging: None)  # the process dies: no clean-up
        monkeypatch.setattr(project.Transaction, "close", lambda self, failed: [
            (h.guard.release(), project._release(f)) for f, h in reversed(self._holding)])
        try:
            _change(folder)
            finished = True
        except SystemExit:
            finished = False
        monkeypatch.undo()
        with project.hold(folder, "next command"):
            pass
        after = state(folder)
        assert after in (old_state, new_state), k
        assert not (folder / project.STAGING).exists()
        if finished:
            break
        cuts += 1
        # Before the commit record is in place the old project stays; after it, the new one is completed.
        assert after == (old_state if k == 0 else new_state)
    assert finished and cuts >= 8


def test_a_failed_write_leaves_the_old_project(tmp_path, monkeypatch):
    """A full disk while staging: the command fails with one line and nothing of the old project changes."""
    folder = tmp_path / "f"
    _old(folder)
    before = state(folder)
    real = project._write_synced
    calls = {"n": 0}

    def full(path, data):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, data)

    monkeypatch.setattr(project, "_write_synced", full)
    with pytest.raises(project.ProjectError, match="No space left"):
        _change(folder)
    assert state(folder) == before and not (folder / project.STAGING).exists()


@pytest.mark.slow
def test_a_full_disk_during_new_leaves_the_previous_piece(proj, soundfont):
    """A real write limit (RLIMIT_FSIZE: writes past 64 KB fail with EFBIG, as on a full disk): `composer new`
    over an existing project exits 2 with one line, and every file is the previous version's."""
    before = state(proj)
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536)); "
            "from composer.cli import main; sys.exit(main(sys.argv[1:]))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", code, "new", BRIEF + ", allegro", "--out", str(proj),
                          "--soundfont", str(soundfont)], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("composer: error: ")
    assert "Traceback" not in res.stderr
    assert state(proj) == before


# --- undo ---------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("bad", ["garbage", "{}", "[" * 5000 + "]" * 5000])
def test_undo_never_destroys_a_valid_plan(proj, bad, capsys):
    assert main(["-q", "revise", str(proj), "tempo 100"]) == 0
    newest = project.history(proj)[-1]
    newest.write_text(bad)
    before = state(proj)
    assert main(["-q", "undo", str(proj)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("composer: error: cannot undo") and len(err.strip().splitlines()) == 1
    assert state(proj) == before  # the plan, the MIDI and the corrupt entry itself are all still there
    newest.unlink()
    assert main(["-q", "undo", str(proj)]) == 2  # nothing older: a one-line error, nothing lost
    assert json.loads((proj / "plan.json").read_text())["tempo"] == 100


# --- the lock -----------------------------------------------------------------------------------------

HOLD = ("import sys, time; from composer import project\n"
        "with project.hold(sys.argv[1], 'composer revise'):\n"
        "    print('held', flush=True); time.sleep(float(sys.argv[2]))\n")


def _holder(folder: Path, seconds: float) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(seconds)], stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert p.stdout.readline().strip() == "held"
    return p


@pytest.mark.slow
def test_a_second_writer_waits_then_says_who_holds_the_project(proj):
    holder = _holder(proj, 30)
    try:
        before = state(proj)
        res = cli("-q", "revise", str(proj), "tempo 90", env={"COMPOSER_LOCK_WAIT": "0.5"})
        assert res.returncode == 2
        assert f"is in use by composer revise (pid {holder.pid}" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
        assert state(proj) == before
    finally:
        holder.kill()
        holder.wait()
    # The kernel dropped the dead holder's lock: the next writer goes ahead.
    res = cli("-q", "revise", str(proj), "tempo 90", env={"COMPOSER_LOCK_WAIT": "0"})
    assert res.returncode == 0, res.stderr
    assert json.loads((proj / "plan.json").read_text())["tempo"] == 90


def test_a_stale_lock_file_does_not_block(proj):
    (proj / project.LOCK).write_text(json.dumps({"pid": 999999, "command": "composer new", "since": 0}))
    assert main(["-q", "revise", str(proj), "tempo 95"]) == 0
    assert not (proj / project.LOCK).exists()


@pytest.mark.slow
def test_a_waiting_writer_goes_on_when_the_holder_is_done(proj):
    holder = _holder(proj, 1.5)
    res = cli("-q", "revise", str(proj), "tempo 80", env={"COMPOSER_LOCK_WAIT": "30"})
    holder.wait()
    assert res.returncode == 0, res.stderr
    assert json.loads((proj / "plan.json").read_text())["tempo"] == 80


@pytest.mark.slow
def test_two_revisions_at_once_keep_both_edits(proj):
    """Two `composer revise` started together: the second waits for the first and edits its result."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), COMPOSER_LOCK_WAIT="120")
    procs = [subprocess.Popen([sys.executable, "-m", "composer.cli", "-q", "revise", str(proj), edit], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for edit in ("tempo 90", "transpose up a whole step")]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    plan = json.loads((proj / "plan.json").read_text())
    assert plan["tempo"] == 90 and plan["key"] == "G major"
    assert len(project.history(proj)) == 2


def test_the_tui_holds_its_project_and_a_busy_project_opens_read_only(proj):
    from composer.session import Session, SessionError
    s = Session.open(proj)
    try:
        assert not s.read_only
        res = cli("-q", "revise", str(proj), "tempo 90", env={"COMPOSER_LOCK_WAIT": "0.2"})
        assert res.returncode == 2 and f"composer tui (pid {os.getpid()}" in res.stderr
        s.revise("tempo 70")  # the session's own edits go through its held lock
        assert json.loads((proj / "plan.json").read_text())["tempo"] == 70
    finally:
        s.close()
    holder = _holder(proj, 30)
    try:
        ro = Session.open(proj)
        assert ro.read_only.startswith(f"{proj} is in use by composer revise (pid {holder.pid}")
        with pytest.raises(SessionError, match="read-only"):
            ro.revise("tempo 60")
        assert json.loads((proj / "plan.json").read_text())["tempo"] == 70
        ro.close()
    finally:
        holder.kill()
        holder.wait()


# --- links --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["stems", "history", "piece.musicxml", project.LOCK, project.STAGING])
def test_nothing_is_written_or_deleted_through_a_link(tmp_path, soundfont, name, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "Piano.wav").write_bytes(b"precious")
    (outside / "plan-0001.json").write_bytes(b"precious")
    folder = tmp_path / "p"
    assert main(["-q", "new", BRIEF, "--out", str(folder), "--no-audio"]) == 0
    target = outside if name in ("stems", "history", project.STAGING) else outside / "Piano.wav"
    if (folder / name).is_dir():
        import shutil
        shutil.rmtree(folder / name)
    elif (folder / name).exists():
        (folder / name).unlink()
    (folder / name).symlink_to(target)
    before_out, before = state(outside), state(folder)
    code = main(["-q", "new", BRIEF + ", allegro", "--out", str(folder), "--soundfont", str(soundfont)])
    err = capsys.readouterr().err
    assert code == 2 and "symbolic link" in err and len(err.strip().splitlines()) == 1
    assert state(outside) == before_out and state(folder) == before


def test_history_pruning_touches_only_its_own_files(proj, monkeypatch):
    monkeypatch.setattr(project, "MAX_HISTORY", 2)
    mine = proj / "history" / "notes.txt"
    (proj / "history").mkdir(exist_ok=True)
    mine.write_text("mine")
    for bpm in (90, 91, 92, 93):
        assert main(["-q", "revise", str(proj), f"tempo {bpm}"]) == 0
    assert [p.name for p in project.history(proj)] == ["plan-0003.json", "plan-0004.json"]
    assert mine.read_text() == "mine"


# --- interrupts ---------------------------------------------------------------------------------------

def test_sigterm_cleans_up_and_leaves_the_old_project(proj):
    """SIGTERM in the middle of `composer new` over a project: exit 143, no staging left, the old files."""
    before = state(proj)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "composer.cli", "new", BRIEF + ", allegro", "--out", str(proj),
                          "--no-audio"], env=env, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if line.startswith("[arrange]"):
            p.terminate()
            break
    p.wait(timeout=60)
    rest = p.stderr.read()
    assert p.returncode in (143, 0), rest
    if p.returncode == 143:
        assert "interrupted" in rest and "Traceback" not in rest
        assert state(proj) == before
    assert not (proj / project.STAGING).exists()
    assert not list(proj.rglob("*.tmp"))


def test_interrupt_is_deferred_while_a_commit_renames(tmp_path):
    """SIGINT that arrives during the renames of a commit waits until they are done."""
    folder = tmp_path / "f"
    _old(folder)
    # The child starts from Python's own SIGINT handling, whatever disposition or mask the test runner's
    # process hands down to it.
    code = ("import os, signal, sys, time\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})\n"
            "from composer import project\n"
            "real = project._apply\n"
            "def apply(folder, entries):\n"
            "    os.kill(os.getpid(), signal.SIGINT)\n"
            "    real(folder, entries)\n"
            "project._apply = apply\n"
            "try:\n"
            "    with project.transaction(sys.argv[1], 't') as tx:\n"
            "        tx.write('plan.json', 'new plan')\n"
            "        tx.write('piece.mid', b'new midi')\n"
            "    time.sleep(2)  # the held signal is handled once unblocked, at the interpreter's next check\n"
            "except KeyboardInterrupt:\n"
            "    sys.exit(7)\n")
    res = subprocess.run([sys.executable, "-c", code, str(folder)], env=dict(os.environ, PYTHONPATH=str(ROOT)),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 7, res.stderr
    assert (folder / "plan.json").read_text() == "new plan" and (folder / "piece.mid").read_bytes() == b"new midi"
    assert not (folder / project.STAGING).exists()


def test_a_leftover_staging_folder_is_discarded_by_the_next_command(proj):
    before = state(proj)
    staged = proj / project.STAGING / "new"
    staged.mkdir(parents=True)
    (staged / "plan.json").write_text("half-written")
    assert main(["-q", "export", str(proj)]) == 0
    assert not (proj / project.STAGING).exists()
    assert state(proj)["plan.json"] == before["plan.json"]


# --- one history for the CLI and the TUI --------------------------------------------------------------

@pytest.mark.slow
def test_tui_edits_share_the_cli_history_and_refresh_what_depends_on_them(tmp_path):
    """An instrument change and a revision in the TUI's session are undone by `composer undo` after the session
    is closed, redone by `composer redo`; each edit rewrote the MusicXML (chord symbols kept) and the performed
    MIDI."""
    from composer.session import Session
    proj = tmp_path / "p"
    assert main(["-q", "new", BRIEF, "--out", str(proj), "--no-audio"]) == 0
    original = state(proj)
    harmonies = (proj / "piece.musicxml").read_text().count("<harmony")
    s = Session.open(proj)
    assert s.set_instrument("Cello", "viola") == "Viola"     # named after its instrument, it follows it
    viola = next(p for p in s.score.parts if p.name == "Viola")
    assert viola.notes and min(n.pitch for n in viola.notes) >= 48   # nothing under the viola's low C
    xml = (proj / "piece.musicxml").read_text()
    assert harmonies > 0 and xml.count("<harmony") == harmonies  # the chord symbols survive the edit
    assert "<midi-program>42</midi-program>" in xml  # GM 41, the viola, 1-based in MusicXML
    performed_after_instrument = (proj / "piece.performed.mid").read_bytes()
    s.revise("tempo 90")
    assert (proj / "piece.performed.mid").read_bytes() != performed_after_instrument  # the tempo reached it
    assert s.undo() == ["tempo 90", "tempo: 90.0 -> 150.0"] and s.plan.tempo == 150   # named, then what changed
    s.close()
    s = Session.open(proj)  # after quitting and reopening, the history is still there
    assert len(project.history(proj)) == 1 and len(project.history(proj, redo=True)) == 1
    s.close()
    assert main(["-q", "undo", str(proj)]) == 0
    assert state(proj) == {k: v for k, v in state(proj).items() if k.startswith("history")} | {
        k: v for k, v in original.items() if not k.startswith("history")}
    assert main(["-q", "redo", str(proj)]) == 0
    assert main(["-q", "redo", str(proj)]) == 0
    assert json.loads((proj / "plan.json").read_text())["tempo"] == 90
    assert main(["-q", "redo", str(proj)]) == 2  # nothing left to redo


def test_a_new_edit_forgets_what_undo_took_back(proj):
    assert main(["-q", "revise", str(proj), "tempo 90"]) == 0
    assert main(["-q", "undo", str(proj)]) == 0
    assert len(project.history(proj, redo=True)) == 1
    assert main(["-q", "revise", str(proj), "tempo 100"]) == 0
    assert project.history(proj, redo=True) == []
    assert main(["-q", "redo", str(proj)]) == 2


def test_a_drum_track_changed_to_a_hand_drum_plays_its_strokes(tmp_path):
    """The TUI's instrument change from a drum set to a cajón: the plan names the kit, the notes take the
    cajón's strokes, the change is one history entry."""
    from composer.session import Session
    from symbolic.instruments import PERCUSSION
    proj = tmp_path / "p"
    assert main(["-q", "new", "a pop song in C for piano, bass and drums, 20 seconds", "--out", str(proj),
                 "--no-audio", "--arranger", "patterns"]) == 0
    s = Session.open(proj)
    name = s.set_instrument("Drums", "cajon")
    track = next(t for t in s.plan.tracks if t.name == name)
    drums = next(p for p in s.score.parts if p.name == name)
    assert name != "Drums" and "caj" in name.lower()
    assert track.kit == "cajon" and drums.notes and {n.pitch for n in drums.notes} <= set(PERCUSSION["cajon"].strokes)
    s.close()
    assert json.loads((proj / "plan.json").read_text())["tracks"][-1]["kit"] == "cajon"
    assert main(["-q", "undo", str(proj)]) == 0
    assert "kit" not in json.loads((proj / "plan.json").read_text())["tracks"][-1]


def test_regenerating_a_locked_track_says_so_and_changes_nothing(tmp_path):
    from composer.session import Session, SessionError
    proj = tmp_path / "p"
    assert main(["-q", "new", "a pop song in C for piano, bass and drums, 20 seconds", "--out", str(proj),
                 "--no-audio", "--arranger", "patterns"]) == 0
    s = Session.open(proj)
    before = state(proj)
    assert s.toggle("Bass", "lock") is True
    locked = state(proj)
    tracks = json.loads((proj / "plan.json").read_text())["tracks"]
    assert locked != before and next(t for t in tracks if t["name"] == "Bass")["lock"] is True
    with pytest.raises(SessionError, match="Bass is locked"):
        s.regenerate(section=0, track="Bass")
    for name in ("Piano", "Piano Chords", "Drums"):
        s.toggle(name, "lock")
    with pytest.raises(SessionError, match="every track is locked"):
        s.regenerate(section=0)
    s.close()


def test_undo_and_redo_name_the_edit_they_take_back(tmp_path, capsys):
    from composer.session import Session
    proj = tmp_path / "p"
    assert main(["-q", "new", "a pop song in C for piano, bass and drums, 20 seconds", "--out", str(proj),
                 "--no-audio", "--arranger", "patterns"]) == 0
    s = Session.open(proj)
    s.toggle("Bass", "mute")
    s.set_mix("Drums", level=-3.0)
    assert s.undo()[0] == "Drums level -3 dB"
    assert s.redo()[0] == "Drums level -3 dB"
    s.close()
    assert main(["-q", "revise", str(proj), "tempo 90"]) == 0
    capsys.readouterr()
    assert main(["-q", "undo", str(proj)]) == 0
    assert capsys.readouterr().out.startswith("undid tempo 90; ")
    assert main(["-q", "undo", str(proj)]) == 0
    assert capsys.readouterr().out.startswith("undid Drums level -3 dB; ")
    assert main(["-q", "redo", str(proj)]) == 0
    assert capsys.readouterr().out.startswith("redid Drums level -3 dB; ")
    # The words go with their entry when history is pruned or undone: no stray note files.
    notes = sorted(p.name for p in (proj / "history").rglob("*.txt"))
    plans = sorted(p.name.replace(".json", ".txt") for p in (proj / "history").rglob("plan-*.json"))
    assert set(notes) <= set(plans)


def test_a_chord_edit_outside_the_style_is_named(tmp_path):
    """A bar of a reel edited to Bb is the composer's choice, and the session says it leaves the idiom."""
    from composer.pipeline import new_piece
    from composer.session import Session
    new_piece("an Irish reel in D major for fiddle and guitar, 20 seconds", tmp_path / "r", audio=False)
    s = Session.open(tmp_path / "r")
    assert s.idiom_note(0, s.parse_bar(0, "G")) == ""
    assert s.idiom_note(0, s.parse_bar(0, "Bb:2 G:2")) == "Bb is outside the reel idiom in D major"
    s.close()
