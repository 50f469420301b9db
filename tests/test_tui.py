"""The TUI, driven with Textual's Pilot: the flows a composer uses, and snapshots of the main screens."""
import asyncio
import json

import pytest
import soundfile as sf
from textual.widgets import DataTable, Input, TabbedContent

from composer.pipeline import new_piece
from tui.app import CELL0, ComposerApp
from tui.widgets import ChordEditor, Confirm, Help, Picker

BRIEF = "a calm folk tune in G major, 4/4 at 100 bpm, for fiddle, acoustic guitar and upright bass, 20 seconds"


async def wait_idle(app, pilot, timeout=120.0):
    for _ in range(int(timeout / 0.05)):
        await pilot.pause(0.05)
        if not app.busy:
            return
    raise AssertionError("task did not finish")


def run(coro):
    asyncio.run(coro)


@pytest.fixture()
def project(tmp_path):
    new_piece(BRIEF.replace("20 seconds", "40 seconds"), tmp_path / "p", audio=False)
    return tmp_path / "p"


@pytest.mark.slow
def test_brief_to_export_and_mix(tmp_path, soundfont):
    async def scenario():
        app = ComposerApp(tmp_path / "proj", soundfont=str(soundfont))
        async with app.run_test(size=(100, 30)) as pilot:
            app.query_one("#brief", Input).value = BRIEF
            await pilot.press("enter")
            await wait_idle(app, pilot)
            assert app.query_one("#sections", DataTable).row_count == len(app.plan.sections) > 0
            assert (tmp_path / "proj" / "plan.json").exists() and (tmp_path / "proj" / "piece.mid").exists()
            app.set_focus(None)
            await pilot.press("e")
            await wait_idle(app, pilot)
            assert (tmp_path / "proj" / "piece.musicxml").exists()
            await pilot.press("r")
            await wait_idle(app, pilot)
            mix, rate = sf.read(tmp_path / "proj" / "mix.wav")
            assert app.score.duration <= len(mix) / rate and float(abs(mix).max()) > 0.1
            assert sorted(p.stem for p in (tmp_path / "proj" / "stems").iterdir()) == \
                sorted(t.name for t in app.plan.tracks)
            assert "follow the notes" in app.output_status()
            await pilot.press("full_stop")          # a mixer change rewrites piece.mid: the mix is now stale
            await wait_idle(app, pilot)
            assert "older than the notes" in app.output_status()
            assert "older than the notes" in str(app.query_one("#render-status").render())
    run(scenario())


@pytest.mark.slow
def test_export_pdf_prints_the_score_and_its_parts(project):
    from symbolic import engrave
    if engrave.find() is None:
        pytest.skip("MuseScore is not installed")

    async def scenario():
        app = ComposerApp(project)
        async with app.run_test(size=(100, 30)) as pilot:
            app.set_focus(None)
            await pilot.press("E")
            await wait_idle(app, pilot)
            assert (project / "piece.pdf").read_bytes()[:5] == b"%PDF-"
            parts = sorted(p.name for p in (project / "parts").iterdir())
            assert len(parts) == len(app.plan.tracks) and all(p.endswith(".pdf") for p in parts)
    run(scenario())


@pytest.mark.slow
def test_edit_a_chord_valid_and_invalid_then_undo_redo(project):
    async def scenario():
        app = ComposerApp(project)
        async with app.run_test(size=(100, 30)) as pilot:
            before = app.plan.model_dump_json()
            chords = app.query_one("#chords", DataTable)
            chords.focus()
            chords.move_cursor(row=1)
            await pilot.press("enter")
            assert isinstance(app.screen, ChordEditor)
            editor = app.screen.query_one("#ask-input", Input)
            editor.value = "Hx7"
            await pilot.pause()
            assert "neither a chord symbol" in str(app.screen.query_one("#ask-error").render())
            await pilot.press("enter")
            assert isinstance(app.screen, ChordEditor)  # an invalid chord is not applied
            editor.value = "ii7 V7"
            await pilot.press("enter")
            await wait_idle(app, pilot)
            bar = app.plan.sections[app.section].chords[1]
            assert [c.symbol for c in bar] == ["Am7", "D7"]
            assert "Am7" in (project / "plan.json").read_text()  # autosaved
            after = app.plan.model_dump_json()
            await pilot.press("ctrl+z")
            assert app.plan.model_dump_json() == before
            assert (project / "plan.json").read_text() == app.plan.to_json()
            await pilot.press("ctrl+y")
            assert app.plan.model_dump_json() == after
    run(scenario())


@pytest.mark.slow
def test_regenerate_section_keeps_other_sections_and_locked_tracks(project):
    async def scenario():
        app = ComposerApp(project)
        async with app.run_test(size=(100, 30)) as pilot:
            sheet = app.plan.to_sheet()
            sec = sheet.sections[1]
            lo, hi = sheet.bars[sec.first_bar].bar.start, sheet.bars[sec.first_bar + sec.n_bars - 1].bar.end
            old = {p.name: [(n.start, n.pitch) for n in p.notes] for p in app.score.parts}
            await pilot.pause()
            await pilot.press("2")
            await pilot.pause()
            assert app.query_one("#tabs", TabbedContent).active == "tab-arrangement"
            cells = app.query_one("#cells", DataTable)
            cells.move_cursor(row=2, column=CELL0 + 1)  # the bass, second section
            await pilot.pause()
            await pilot.press("l")
            await wait_idle(app, pilot)      # the lock is saved in the plan by a task
            assert "Upright Bass" in app.session.locked
            app.track = None
            await pilot.press("1")
            app.section = 1
            app.set_focus(None)
            await pilot.press("x")
            await wait_idle(app, pilot)
            new = {p.name: [(n.start, n.pitch) for n in p.notes] for p in app.score.parts}
            assert new["Upright Bass"] == old["Upright Bass"]
            changed = False
            for name in old:
                outside_old = [x for x in old[name] if not lo <= x[0] < hi]
                outside_new = [x for x in new[name] if not lo <= x[0] < hi]
                assert outside_old == outside_new
                changed |= old[name] != new[name]
            assert changed
    run(scenario())


@pytest.mark.slow
def test_alternatives_pick_and_instrument_change(project):
    async def scenario():
        app = ComposerApp(project)
        async with app.run_test(size=(100, 30)) as pilot:
            app.set_focus(None)
            old = app.score.n_notes, [(n.start, n.pitch) for p in app.score.parts for n in p.notes]
            await pilot.press("a")
            await wait_idle(app, pilot)
            assert isinstance(app.screen, Picker)
            options = app.screen.options   # the current take first, each with what it is like
            assert len(options) == 4 and options[0].startswith("A (current): ") and "100% as now" in options[0]
            assert all(" notes a bar, " in o and " off the beat" in o for o in options)
            await pilot.press("down", "enter")
            await pilot.pause()
            assert not isinstance(app.screen, Picker)
            assert [(n.start, n.pitch) for p in app.score.parts for n in p.notes] != old[1]
            app.track = "Fiddle"
            app.set_focus(None)
            await pilot.press("i")
            assert isinstance(app.screen, Picker)
            picker = app.screen
            assert len(picker.options) == len(set(picker.options))      # one entry per instrument
            assert "Viola  C3-A5 (extreme C3-E6)" in picker.options                # with its ranges
            await pilot.press(*"violin")                                  # type to filter
            await pilot.pause()
            assert [picker.options[i].split()[0] for i in picker.shown] == ["Violin"]
            await pilot.press("enter")
            await pilot.pause()
            violin = next(t for t in app.plan.tracks if t.program == 40)
            assert violin.name == "Violin" and app.track == "Violin"    # the fiddle's track follows its instrument
    run(scenario())


@pytest.mark.slow
def test_alternatives_are_heard_kept_as_variations_and_picked_later(project, soundfont, monkeypatch, tmp_path):
    """In the A/B list p renders and plays the highlighted take of the section (the current one from the mix),
    k keeps a new take in the project (takes.json) without changing the piece, and the kept take is listed
    (K1) and picked after the project reopens; d discards it."""
    from tests.test_transport import null_sink
    monkeypatch.setenv("COMPOSER_PLAYER", " ".join(null_sink(tmp_path)))

    def notes(app):
        return [(p.name, n.start, n.pitch) for p in app.score.parts for n in p.notes]

    async def scenario():
        app = ComposerApp(project, soundfont=str(soundfont))
        async with app.run_test(size=(120, 40)) as pilot:
            app.action_show_tab("tab-plan")      # the sections table has the keys, as after opening
            before = notes(app)
            await pilot.press("a")
            await wait_idle(app, pilot)
            picker = app.screen
            assert isinstance(picker, Picker) and "p plays" in str(picker.query_one("#picker-hint").render())
            await pilot.press("down", "p")                   # take B, heard: rendered alone and played
            await wait_idle(app, pilot)
            assert isinstance(app.screen, Picker) and app.transport.position() is not None
            take = project / "section-1-take.wav"
            assert take.exists() and sf.info(take).duration > 1
            await pilot.press("p")                           # again: stop
            assert app.transport.position() is None
            chosen = app.session.alternatives[0]
            await pilot.press("k")                           # keep B as a variation
            await pilot.pause()
            assert picker.options[1].startswith("K1 (kept): ") and len(picker.options) == 4
            assert (project / "takes.json").exists() and notes(app) == before
            await pilot.press("escape")
            await pilot.pause()
            assert notes(app) == before                      # keeping changes nothing in the piece
        sec = app.plan.to_sheet().sections[0]
        lo, hi = app.plan.to_sheet().bars[sec.first_bar].bar.start, app.plan.to_sheet().bars[sec.last_bar].bar.end
        wanted = sorted((p.name, n.start, n.pitch) for p in chosen.parts for n in p.notes if lo <= n.start < hi)
        app = ComposerApp(project, soundfont=str(soundfont))
        async with app.run_test(size=(120, 40)) as pilot:
            app.action_show_tab("tab-plan")      # the sections table has the keys, as after opening
            await pilot.press("a")
            await wait_idle(app, pilot)
            assert [o.split(":")[0] for o in app.screen.options] == ["A (current)", "K1 (kept)", "B", "C", "D"]
            await pilot.press("down", "enter")               # pick the kept take
            await pilot.pause()
            got = sorted((p.name, n.start, n.pitch) for p in app.score.parts for n in p.notes if lo <= n.start < hi)
            assert got == wanted and notes(app) != before
            await pilot.press("ctrl+z")
            await pilot.pause()
            assert notes(app) == before
            await pilot.press("a")
            await wait_idle(app, pilot)
            await pilot.press("down", "d")                   # discard it
            await pilot.pause()
            assert [o.split(":")[0] for o in app.screen.options] == ["A (current)", "B", "C", "D"]
            assert not (project / "takes.json").exists()
            await pilot.press("escape")
    run(scenario())


def test_import_asks_before_replacing_reads_a_plan_and_undoes(project, tmp_path):
    """I imports a MIDI or MusicXML file: the path is checked as typed, replacing the piece asks first, the plan
    is read from the notes (sections, chords, roles) so the tabs work on it, and undo brings the piece back."""
    from symbolic.midi_io import midi_bytes
    from tests.test_analysis import _cadence
    src = tmp_path / "cadence.mid"
    src.write_bytes(midi_bytes(_cadence()))

    async def scenario():
        app = ComposerApp(project)
        async with app.run_test(size=(120, 40)) as pilot:
            app.action_show_tab("tab-plan")
            before = [t.name for t in app.plan.tracks]
            await pilot.press("I")
            await pilot.pause()
            box = app.screen.query_one(Input)
            box.value = str(tmp_path / "nothing.mid")
            await pilot.press("enter")
            await pilot.pause()
            assert not isinstance(app.screen, Confirm) and app.screen.query_one(Input)   # refused, still asking
            box.value = str(src)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, Confirm)
            await pilot.press("y")
            await wait_idle(app, pilot)
            assert [(t.name, t.role) for t in app.plan.tracks] == [("Tune", "melody"), ("Keys", "chords"),
                                                                  ("Bass", "bass")]
            assert app.query_one("#sections", DataTable).row_count == 3 and app.plan.key == "C major"
            assert not isinstance(app.focused, Input)
            await pilot.press("ctrl+z")
            await pilot.pause()
            assert [t.name for t in app.plan.tracks] == before
    run(scenario())


@pytest.mark.slow
def test_revise_box_and_cancel_render(project, soundfont):
    new_piece(BRIEF.replace("20 seconds", "10 minutes"), project, audio=False)

    async def scenario():
        app = ComposerApp(project, soundfont=str(soundfont))
        async with app.run_test(size=(100, 30)) as pilot:
            box = app.query_one("#revise", Input)
            box.value = "transpose up a whole step"
            box.focus()
            await pilot.press("enter")
            await wait_idle(app, pilot)
            assert app.plan.key == "A major"
            app.set_focus(None)
            await pilot.press("r")
            assert app.busy
            await pilot.press("c")
            await wait_idle(app, pilot)
            assert not (project / "mix.wav").exists()
            assert (project / "piece.mid").exists()
    run(scenario())


def test_bad_brief_is_reported_not_raised(tmp_path):
    async def scenario():
        app = ComposerApp(tmp_path / "x")
        async with app.run_test() as pilot:
            app.query_one("#brief", Input).value = "a pop song for theremin and piano"
            await pilot.press("enter")
            await wait_idle(app, pilot)
            assert app.plan is None
            assert not (tmp_path / "x" / "plan.json").exists()
    run(scenario())


def test_palette_and_bindings(tmp_path):
    app = ComposerApp(tmp_path)

    async def scenario():
        async with app.run_test():
            commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
            assert {"Generate", "Regenerate section", "Alternatives", "Export", "Render", "Play", "Undo", "Redo",
                    "Mute track", "Solo track", "Lock track", "Change instrument", "Cancel", "Import",
                    "Play from bar", "More reverb", "Change style"} <= set(commands)
            assert commands["Generate"].endswith("[g]") and commands["Undo"].endswith("[ctrl+z]")
            # every bound action of the help screen is in the palette
            palette = {b for _, b, *_ in app.PALETTE}
            topics = {i for ids, _ in app.HELP_TOPICS for i in ids} - {"tab-plan", "tab-arrangement", "tab-roll",
                                                                        "tab-render", "leave-input", "quit"}
            assert topics <= palette
            ids = {b.id for b in app.BINDINGS}
            assert {"generate", "render", "export", "undo", "redo", "help", "quit"} <= ids
            keys = {b.id: b.key for b in app.BINDINGS}
            assert (keys["generate"], keys["render"], keys["export"], keys["undo"], keys["redo"], keys["quit"]) == \
                ("g", "r", "e", "ctrl+z", "ctrl+y", "q")
    run(scenario())


@pytest.mark.slow
def test_keys_remap_from_the_config_file(tmp_path, monkeypatch):
    cfg = tmp_path / "config.json"
    cfg.write_text('{"keys": {"generate": "ctrl+g"}}')
    monkeypatch.setenv("COMPOSER_CONFIG", str(cfg))

    async def scenario():
        app = ComposerApp(tmp_path / "p")
        async with app.run_test() as pilot:
            app.query_one("#brief", Input).value = "a short folk tune, 10 seconds"
            app.set_focus(None)
            await pilot.press("ctrl+g")
            await wait_idle(app, pilot)
            assert app.plan is not None
    run(scenario())


def test_play_says_plainly_when_there_is_no_audio_device(project, monkeypatch):
    import tui.app as tapp
    monkeypatch.setattr(tapp, "player_command", lambda: None)

    async def scenario():
        app = ComposerApp(project)
        async with app.run_test() as pilot:
            app.set_focus(None)
            await pilot.press("p")
            await wait_idle(app, pilot)
            said = " ".join(" ".join(str(line.text) for line in app.query_one("#log").lines).split())
            assert "no audio device found" in said and "mix.wav" in said and "bar 1 starts at 0:00" in said
            assert app.transport is None and not (project / "mix.wav").exists()
    run(scenario())


@pytest.mark.slow
def test_the_transport_plays_from_a_section_or_a_bar_with_a_moving_position(project, soundfont, monkeypatch,
                                                                               tmp_path):
    """p renders the mix when it is stale, plays the selected section and shows the position moving (time,
    bar, section, a play head in the roll); p again stops; P plays from a bar; quitting stops the player."""
    from tests.test_transport import null_sink
    monkeypatch.setenv("COMPOSER_PLAYER", " ".join(null_sink(tmp_path)))

    async def scenario():
        app = ComposerApp(project, soundfont=str(soundfont))
        async with app.run_test(size=(120, 40)) as pilot:
            app.action_show_tab("tab-plan")
            sections = app.query_one("#sections", DataTable)
            sections.move_cursor(row=1)
            await pilot.pause()
            await pilot.press("p")
            await wait_idle(app, pilot)
            assert app.session.mix_file() is not None       # rendered first: there was no mix
            timeline = app.session.timeline()
            sec = app.plan.to_sheet().sections[1]
            start = timeline.starts[sec.first_bar]
            label = app.query_one("#transport")
            first = app.transport.position()
            assert first is not None and start <= first < start + 1
            assert f"bar {sec.first_bar + 1}" in str(label.render()) and sec.name in str(label.render())
            await pilot.pause(1.5)
            later = app.transport.position()
            assert later - first > 1.0 and "▶" in str(label.render())
            assert f"bar {timeline.at(later).bar + 1} " in str(label.render()) + " "
            await pilot.press("p")                         # stop
            assert app.transport.position() is None and not label.display
            assert "stopped at bar" in str(app.query_one("#log").lines[-1].text)
            # The roll plays from the cursor's bar, with the play head in the roll.
            app.action_show_tab("tab-roll")
            await pilot.pause()
            roll = app.query_one("#roll")
            await pilot.press("end")                       # the section's next bar
            bar = roll.bar_of(roll.cursor[0])
            await pilot.press("p")
            await wait_idle(app, pilot)
            assert timeline.starts[bar] <= app.transport.position() < timeline.starts[bar] + 1
            await pilot.pause(0.5)
            assert roll.playhead is not None and roll.start <= roll.playhead < roll.end
            assert "▼" in str(roll.render())
            await pilot.press("P")                         # play from a bar: asked, then from there
            await pilot.pause()
            await pilot.press("3", "enter")
            await wait_idle(app, pilot)
            assert timeline.starts[2] <= app.transport.position() < timeline.starts[2] + 1
            player = app.transport.proc
            await pilot.press("q")
            await pilot.pause()
            assert player.poll() is not None               # quitting stopped the player
    run(scenario())


async def _setup(pilot, tab):
    app = pilot.app
    await pilot.pause()  # the initial focus selects the Plan tab; let it land first
    app.query_one("#log").clear()
    app.sub_title = "waltz"  # the folder path differs from run to run
    app.action_show_tab(tab)
    for box in app.query(Input):
        box.cursor_blink = False  # a blinking cursor would make the capture depend on timing
    await pilot.pause()


@pytest.fixture(scope="module")
def waltz(tmp_path_factory):
    folder = tmp_path_factory.mktemp("snap") / "w"
    new_piece("a melancholic waltz in D minor for string quartet, ABA, 3/4 at 120 bpm, one minute", folder, audio=False)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("tab", ["tab-plan", "tab-arrangement", "tab-roll", "tab-render"])
def test_snapshots(waltz, snap_compare, tab):
    async def setup(pilot):
        await _setup(pilot, tab)
        if tab == "tab-roll":
            pilot.app.section, pilot.app.track = 1, "Violin I"
            pilot.app._show_roll()
            await pilot.pause()
    assert snap_compare(ComposerApp(waltz), terminal_size=(80, 24), run_before=setup)


@pytest.mark.slow
@pytest.mark.parametrize("tab", ["tab-plan", "tab-arrangement", "tab-roll"])
def test_snapshots_on_a_large_terminal(waltz, snap_compare, tab):
    """160x48: the tables and the roll use the room (the whole section of the roll, every column)."""
    async def setup(pilot):
        await _setup(pilot, tab)
        if tab == "tab-roll":
            pilot.app.section, pilot.app.track = 1, "Violin I"
            pilot.app._show_roll()
            await pilot.pause()
    assert snap_compare(ComposerApp(waltz), terminal_size=(160, 48), run_before=setup)


@pytest.mark.slow
def test_regenerate_a_bar_range(project):
    async def scenario():
        app = ComposerApp(project)
        async with app.run_test(size=(100, 30)) as pilot:
            sheet = app.plan.to_sheet()
            old = {p.name: [(n.start, n.pitch) for n in p.notes] for p in app.score.parts}
            app.set_focus(None)
            await pilot.press("b")
            box = app.screen.query_one("#ask-input", Input)
            box.value = "99-100"
            await pilot.press("enter")
            assert "bars run from 1" in str(app.screen.query_one("#ask-error").render())
            box.value = "3-4"
            await pilot.press("enter")
            await wait_idle(app, pilot)
            lo, hi = sheet.bars[2].bar.start, sheet.bars[3].bar.end
            new = {p.name: [(n.start, n.pitch) for n in p.notes] for p in app.score.parts}
            for name in old:
                assert [x for x in old[name] if not lo <= x[0] < hi] == [x for x in new[name] if not lo <= x[0] < hi]
            assert old != new
    run(scenario())


@pytest.mark.slow
@pytest.mark.slow
def test_a_session_under_tmux(tmp_path, soundfont):
    """The real program in a real terminal at 80x24, driven by keystrokes only: type a brief and generate, edit
    (mute a track, transpose), regenerate a cell, render, quit; then the history on disk names every step."""
    import os
    import shutil
    import subprocess
    import sys
    import time
    from pathlib import Path

    from composer.project import history, history_what
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    root = Path(__file__).resolve().parents[1]
    proj = tmp_path / "proj"
    name = f"composer-smoke-{os.getpid()}"
    cmd = (f"cd {root} && PYTHONPATH={root} {sys.executable} -m composer.cli tui {proj} --soundfont {soundfont}"
           f"; echo exited=$? > {tmp_path / 'rc'}")
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "80", "-y", "24", cmd], check=True)

    def pane() -> str:
        return subprocess.run(["tmux", "capture-pane", "-t", name, "-p"], capture_output=True, text=True).stdout

    def keys(*k: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", name, *k], check=True)

    def until(done, seconds: float, what: str) -> None:
        for _ in range(int(seconds / 0.2)):
            if done():
                return
            time.sleep(0.2)
        raise AssertionError(f"{what} did not happen; the screen reads:\n{pane()}")

    try:
        until(lambda: "Brief" in pane(), 30, "the app starting")
        keys("a short folk tune in D major for fiddle and guitar, 15 seconds", "Enter")
        until(lambda: (proj / "piece.mid").exists() and "generated" in pane(), 120, "generating")
        assert "D major" in pane()
        keys("2")                                   # Arrangement: the first cell is the first track, bar 1
        keys("m")
        until(lambda: len(history(proj)) == 1, 20, "muting")
        keys("x")
        until(lambda: len(history(proj)) == 2, 60, "regenerating a cell")
        keys("/")                                   # the revise box: an edit in words
        time.sleep(0.3)
        keys("transpose up a whole step", "Enter")
        until(lambda: "E major, 4/4" in pane(), 60, "revising")       # the title follows when it is done
        assert len(history(proj)) == 3 and "? Help" in pane() and "q Quit" in pane()
        keys("Escape")
        time.sleep(0.3)                             # alone: Escape and a key at once read as alt+key
        keys("4")
        time.sleep(0.3)
        keys("r")
        until(lambda: (proj / "mix.wav").exists() and "rendered" in pane(), 180, "rendering")
        keys("q")
        until(lambda: (tmp_path / "rc").exists(), 20, "quitting")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
    assert (tmp_path / "rc").read_text().strip() == "exited=0"
    whats = [history_what(h) for h in history(proj)]
    assert len(whats) == 3 and "mute" in whats[0] and "regenerat" in whats[1] and "transpose" in whats[2], whats
    plan = json.loads((proj / "plan.json").read_text())
    assert plan["key"] == "E major" and any(t.get("mute") for t in plan["tracks"])


def test_the_plan_shows_while_the_notes_are_written(tmp_path, monkeypatch):
    """The sections and chords appear as soon as the plan is made, while arranging still runs."""
    import threading

    import composer.pipeline as pl
    release = threading.Event()
    real_arrange = pl.arrange

    def slow_arrange(*args, **kwargs):
        release.wait(60)  # arranging holds until the test has looked at the Plan tab
        return real_arrange(*args, **kwargs)
    monkeypatch.setattr(pl, "arrange", slow_arrange)

    async def scenario():
        app = ComposerApp(tmp_path / "proj")
        async with app.run_test(size=(100, 30)) as pilot:
            app.query_one("#brief", Input).value = BRIEF.replace("20 seconds", "40 seconds")
            await pilot.press("enter")
            sections, chords = app.query_one("#sections", DataTable), app.query_one("#chords", DataTable)
            try:
                for _ in range(600):
                    await pilot.pause(0.05)
                    if sections.row_count:
                        break
                assert app.busy and app.score is None and app.plan is None  # still arranging, nothing saved
                planned = app.planned
                assert sections.row_count == len(planned.sections) > 1
                assert chords.row_count == planned.sections[0].bars
                assert str(chords.get_row_at(0)[1]).split()[0].split(":")[0] == planned.sections[0].chords[0][0].symbol
                sections.move_cursor(row=1)  # the chords of another section can be read too
                await pilot.pause()
                assert app.section == 1 and chords.row_count == planned.sections[1].bars
                assert not (tmp_path / "proj" / "plan.json").exists()
            finally:
                release.set()
            await wait_idle(app, pilot)
            assert app.planned is None and app.score is not None
            assert app.plan.model_dump() == planned.model_dump()
            assert sections.row_count == len(app.plan.sections)
            assert app.query_one("#cells", DataTable).get_row_at(0)[5] != "…"
    run(scenario())


def test_enter_in_the_brief_box_leaves_it_so_keys_act(tmp_path):
    async def scenario():
        app = ComposerApp(tmp_path / "proj")
        async with app.run_test(size=(100, 30)) as pilot:
            brief = app.query_one("#brief", Input)
            assert app.focused is brief
            brief.value = BRIEF
            await pilot.press("enter")
            assert app.focused is app.query_one("#sections", DataTable)
            await pilot.press("question_mark")
            assert isinstance(app.screen, Help)  # help, not a "?" typed into the brief
            assert brief.value == BRIEF
            await pilot.press("escape")
            assert not isinstance(app.screen, Help)
            await wait_idle(app, pilot)
            assert app.plan is not None and brief.value == BRIEF
    run(scenario())


@pytest.mark.slow
def test_escape_and_enter_leave_the_revise_box(project):
    async def scenario():
        app = ComposerApp(project)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            box = app.query_one("#revise", Input)
            box.focus()
            await pilot.press("t", "r")
            assert box.value == "tr"
            await pilot.press("escape")
            assert app.focused is app.query_one("#sections", DataTable)
            await pilot.press("2")  # a binding key acts again: it switches tabs, it is not typed
            await pilot.pause()
            assert app.query_one("#tabs", TabbedContent).active == "tab-arrangement" and box.value == "tr"
            box.focus()
            await pilot.press("escape")  # back to the current tab's main table
            assert app.focused is app.query_one("#cells", DataTable)
            await pilot.press("4")       # the Render tab opens on its button, not in the SoundFont box
            await pilot.pause()
            assert app.focused is app.query_one("#do-render")
            await pilot.press("r")
            assert app.query_one("#soundfont", Input).value == ""
            await wait_idle(app, pilot)
            app.query_one("#soundfont", Input).focus()
            await pilot.press("escape")
            assert app.focused is app.query_one("#do-render")
            box.value = "transpose up a whole step"
            box.focus()
            await pilot.press("enter")
            assert app.focused is app.query_one("#sections", DataTable)
            assert app.query_one("#tabs", TabbedContent).active == "tab-plan"
            await wait_idle(app, pilot)
            assert app.plan.key == "A major"
    run(scenario())


def test_piano_roll_spells_pitches_by_the_key(tmp_path):
    from symbolic.harmony import parse_key
    from tui.widgets import PianoRoll, pitch_name
    folder = tmp_path / "bb"
    new_piece(BRIEF.replace("G major", "B-flat major"), folder, audio=False)

    async def scenario():
        app = ComposerApp(folder)
        async with app.run_test(size=(100, 30)) as pilot:
            assert app.plan.key == "Bb major"
            app.track = "Upright Bass"
            app.action_show_tab("tab-roll")
            await pilot.pause()
            text = str(app.query_one("#roll", PianoRoll).render())
            labels = [line.split()[0] for line in text.splitlines()[3:] if line.strip()]
            assert any(label.startswith("Bb") for label in labels), labels
            assert not any("#" in label for label in labels), labels
    run(scenario())
    assert [pitch_name(p, parse_key("Bb major")) for p in (70, 63, 61)] == ["Bb4", "Eb4", "Db4"]
    assert [pitch_name(p, parse_key("D minor")) for p in (61, 70)] == ["C#4", "Bb4"]  # the raised 7th by its letter
    assert [pitch_name(p, parse_key("E major")) for p in (70, 68)] == ["A#4", "G#4"]
    assert pitch_name(59, parse_key("Gb major")) == "Cb4"


def test_help_names_the_keys_as_remapped(tmp_path, monkeypatch):
    cfg = tmp_path / "config.json"
    cfg.write_text('{"keys": {"generate": "ctrl+g", "render": "f5"}}')
    monkeypatch.setenv("COMPOSER_CONFIG", str(cfg))

    async def scenario():
        app = ComposerApp(tmp_path / "p")
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("escape")  # out of the brief box
            await pilot.press("question_mark")
            assert isinstance(app.screen, Help)
            rows = dict((what, keys) for keys, what in app.screen.rows)
            assert rows["generate from the brief"] == "ctrl+g"
            assert rows["render mix and stems"] == "f5"
            assert rows["undo, redo (plan and notes)"] == "ctrl+z ctrl+y" and rows["this help"] == "?"
            lines = app.screen.text().splitlines()
            assert "ctrl+g  generate from the brief" in lines and "g  generate from the brief" not in lines
            table = app.screen.query_one("#help-keys", DataTable)
            cells = [str(c) for r in range(table.row_count) for c in table.get_row_at(r)]
            assert "ctrl+g" in cells and "g" not in cells
            await pilot.press("escape")
            assert not isinstance(app.screen, Help)
            assert str(app.query_one("#do-render").label) == "Render (f5)"
    run(scenario())


def test_style_key_shows_and_changes_the_idiom(project):
    """`y` offers the style edits; the chosen one runs as the same revision as `composer revise` and the
    title shows the new idiom. The swing keeps the notes (the performance swings them)."""
    async def scenario():
        app = ComposerApp(project)
        async with app.run_test(size=(120, 30)) as pilot:
            app.set_focus(None)
            assert "folk: straight" in app.sub_title
            notes = [(n.start, n.pitch) for p in app.score.parts for n in p.notes]
            await pilot.press("y")
            assert isinstance(app.screen, Picker)
            app.screen.dismiss(app.STYLE_EDITS.index("make it swing"))
            await wait_idle(app, pilot)
            assert app.plan.idiom.feel == "swing" and "swing 2:1" in app.sub_title
            assert [(n.start, n.pitch) for p in app.score.parts for n in p.notes] == notes
            await pilot.press("y")
            app.screen.dismiss(app.STYLE_EDITS.index("walking bass"))
            await wait_idle(app, pilot)
            assert app.plan.idiom.bass == "walking"
            await pilot.press("ctrl+z")
            await wait_idle(app, pilot)
            assert app.plan.idiom.bass != "walking" and app.plan.idiom.feel == "swing"
    run(scenario())


async def _pick(app, pilot, track: str, section: int) -> None:
    """Choose a cell as a person does (the Arrangement cursor), then open the roll on it."""
    app.action_show_tab("tab-arrangement")
    await pilot.pause()
    app.query_one("#cells", DataTable).move_cursor(row=[t.name for t in app.plan.tracks].index(track),
                                                   column=CELL0 + section)
    await pilot.pause()
    app.action_show_tab("tab-roll")
    await pilot.pause()
    assert (app.track, app.section) == (track, section)


@pytest.mark.slow
def test_piano_roll_edits_are_saved_undoable_and_obey_locks(project):
    """Add, move, lengthen, make louder and delete notes in the roll: each edit is saved to the project as
    one step (piece.mid changes, history grows), undo brings the notes back, a locked track refuses."""
    from composer import project as proj
    from symbolic.midi_io import read_midi
    from tui.widgets import STEP, PianoRoll

    def notes_of(track):
        return sorted((n.start, n.end, n.pitch, n.velocity) for n in read_midi(project / "piece.mid").parts[
            [p.name for p in read_midi(project / "piece.mid").parts].index(track)].notes)

    async def scenario():
        app = ComposerApp(project)
        async with app.run_test(size=(120, 40)) as pilot:
            await _pick(app, pilot, "Fiddle", 1)
            roll = app.query_one("#roll", PianoRoll)
            assert app.focused is roll
            text = str(roll.render()).splitlines()
            first_bar = app.plan.sections[0].bars + 1
            assert text[1].split()[0] == str(first_bar)                        # bar numbers above
            assert text[2].split()[0] == app.plan.sections[1].chords[0][0].symbol  # the plan's chords
            before, history = notes_of("Fiddle"), len(proj.history(project))
            # An empty spot: an octave above the highest note, at the section's start.
            top = max(n.pitch for n in roll.notes)
            roll.cursor = (roll.start, top + 12)
            await pilot.press("enter")
            await wait_idle(app, pilot)
            added = (roll.start, roll.start + 4 * STEP, top + 12, 80)
            assert added in notes_of("Fiddle") and len(proj.history(project)) == history + 1
            await pilot.press("space", "shift+right", "shift+up", "plus", "greater_than_sign")
            await wait_idle(app, pilot)
            moved = (roll.start + STEP, roll.start + 6 * STEP, top + 13, 90)
            assert moved in notes_of("Fiddle") and added not in notes_of("Fiddle")
            assert roll.cursor == (roll.start + STEP, top + 13)   # the cursor went with the note
            await pilot.press("delete")
            await wait_idle(app, pilot)
            assert notes_of("Fiddle") == before
            await pilot.press("ctrl+z")
            await wait_idle(app, pilot)
            assert moved in notes_of("Fiddle")
            # The fiddle's range (symbolic/data/ranges.json) is shown, and a note below its lowest string refused.
            assert "range G3-D6" in str(roll.render()).splitlines()[0]
            assert roll._row_style(50) == "red" and roll._row_style(90) == "yellow" and roll._row_style(70) == "dim"
            saved = (project / "piece.mid").read_bytes()
            roll.cursor = (roll.start, 50)
            await pilot.press("enter")
            await wait_idle(app, pilot)
            assert (project / "piece.mid").read_bytes() == saved and all(n.pitch != 50 for n in roll.notes)
            # A locked track: the edit is refused, nothing is saved.
            app.session.toggle("Fiddle", "lock")
            app._show_roll()
            await pilot.pause()
            saved = (project / "piece.mid").read_bytes()
            roll.cursor = (roll.start, top + 20)
            await pilot.press("enter")
            await wait_idle(app, pilot)
            assert (project / "piece.mid").read_bytes() == saved
            assert all(n.pitch != top + 20 for n in roll.notes)
    run(scenario())


@pytest.mark.slow
def test_the_roll_names_drum_rows_and_scrolls_with_the_cursor(tmp_path):
    from tui.widgets import LABEL, PianoRoll
    folder = tmp_path / "rock"
    new_piece("a rock song in E minor for electric guitar, bass and drums, 4/4, 120 bpm, two minutes", folder,
              audio=False)

    async def scenario():
        app = ComposerApp(folder)
        async with app.run_test(size=(80, 24)) as pilot:
            longest = max(range(len(app.plan.sections)), key=lambda i: app.plan.sections[i].bars)
            await _pick(app, pilot, "Drums", longest)
            roll = app.query_one("#roll", PianoRoll)
            labels = [line[:LABEL].strip() for line in str(roll.render()).splitlines()[3:]]
            assert {"Acoustic Snare", "Bass Drum 1", "Closed Hi-Hat"} & {lb for lb in labels} or \
                any(lb.startswith(("Acoustic Sn", "Bass Drum", "Closed Hi")) for lb in labels), labels
            assert not any(lb.isdigit() for lb in labels)
            assert app.plan.sections[longest].bars >= 8
            first_bar = sum(s.bars for s in app.plan.sections[:app.section]) + 1
            assert str(roll.render()).splitlines()[1].split()[0] == str(first_bar)
            for _ in range(app.plan.sections[longest].bars):
                await pilot.press("end")      # bar by bar to the end of a long section
            await pilot.pause()
            numbers = [int(x) for x in str(roll.render()).splitlines()[1].split()]
            assert numbers[-1] == first_bar + app.plan.sections[longest].bars - 1   # the last bar came into view
            assert numbers[0] > first_bar                                           # and the first went out
    run(scenario())


@pytest.mark.slow
def test_mute_solo_lock_and_the_mixer_are_kept_undoable_and_the_cursor_stays(project):
    from symbolic.midi_io import read_midi

    async def scenario():
        app = ComposerApp(project)
        async with app.run_test(size=(120, 40)) as pilot:
            app.action_show_tab("tab-arrangement")
            cells = app.query_one("#cells", DataTable)
            cells.move_cursor(row=1, column=CELL0 + 1)
            await pilot.pause()
            for key in ("m", "m", "l", "s", "full_stop", "full_stop", "left_square_bracket", "right_curly_bracket",
                        "right_curly_bracket", "right_curly_bracket"):
                await pilot.press(key)
                await wait_idle(app, pilot)
            assert (cells.cursor_coordinate.row, cells.cursor_coordinate.column) == (1, CELL0 + 1)
            name = app.plan.tracks[1].name
            assert name not in app.session.muted and name in app.session.locked and name in app.session.solo
            track = app.plan.tracks[1]
            assert (track.level, track.pan, track.reverb) == (2.0, -0.1, 0.3)
        # Kept in the project: a new session finds them, and piece.mid carries the level and pan.
        app = ComposerApp(project)
        async with app.run_test(size=(120, 40)) as pilot:
            name = app.plan.tracks[1].name
            assert name in app.session.locked and name in app.session.solo
            part = next(p for p in read_midi(project / "piece.mid").parts if p.name == name)
            assert (part.volume, part.pan, part.reverb) == (112, 58, 38)
            app.action_show_tab("tab-arrangement")
            await pilot.pause()
            app.query_one("#cells", DataTable).move_cursor(row=1, column=CELL0 + 1)
            await pilot.pause()
            for _ in range(4):     # the reverb back to none, then the pan back to the centre
                await pilot.press("ctrl+z")
                await wait_idle(app, pilot)
            assert app.plan.tracks[1].pan is None and app.plan.tracks[1].level == 2.0
            assert app.plan.tracks[1].reverb is None
    run(scenario())


@pytest.mark.slow
def test_generating_over_a_piece_and_quitting_during_a_task_ask_first(project):
    import threading

    async def scenario():
        app = ComposerApp(project)
        async with app.run_test(size=(100, 30)) as pilot:
            before = (project / "piece.mid").read_bytes()
            app.query_one("#brief", Input).value = "a march in C for brass band, 20 seconds"
            app.query_one("#brief", Input).focus()
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, Confirm)
            await pilot.press("n")
            await pilot.pause()
            assert not isinstance(app.screen, Confirm) and not app.busy
            assert (project / "piece.mid").read_bytes() == before
            assert not isinstance(app.focused, Input)      # the keys act, nothing types into the box
            await pilot.press("g")
            await pilot.pause()
            assert isinstance(app.screen, Confirm)
            await pilot.press("y")
            await wait_idle(app, pilot)
            assert "march" in app.plan.title.lower()
            assert (project / "piece.mid").read_bytes() != before
            # Quitting while a task runs asks first; "no" leaves the task running.
            release = threading.Event()
            app.run_task("waiting", lambda: (release.wait(30), "done")[1])
            await pilot.press("q")
            await pilot.pause()
            assert isinstance(app.screen, Confirm)
            await pilot.press("escape")
            await pilot.pause()
            assert app.busy and app.is_running
            release.set()
            await wait_idle(app, pilot)
    run(scenario())


@pytest.mark.slow
def test_the_section_editor_sets_energy_duplicates_and_deletes(project):
    from composer import project as proj
    from tui.widgets import Ask, Confirm

    async def choose(app, pilot, row: int, item: int):
        app.action_show_tab("tab-plan")
        sections = app.query_one("#sections", DataTable)
        sections.move_cursor(row=row)
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, Picker)
        for _ in range(item):
            await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()

    async def scenario():
        app = ComposerApp(project)
        async with app.run_test(size=(120, 40)) as pilot:
            n, history = len(app.plan.sections), len(proj.history(project))
            name = app.plan.sections[1].name
            await choose(app, pilot, 1, 2)                      # Energy...
            assert isinstance(app.screen, Ask)
            app.screen.query_one("#ask-input", Input).value = "5"
            await pilot.press("enter")
            await wait_idle(app, pilot)
            assert app.plan.sections[1].energy == 5 and len(proj.history(project)) == history + 1
            await choose(app, pilot, 1, 4)                      # Duplicate
            await wait_idle(app, pilot)
            assert len(app.plan.sections) == n + 1 and app.plan.sections[1].name == name
            assert app.plan.sections[2].name.startswith(name.rsplit(" ", 1)[0]) and app.plan.sections[2].energy == 5
            await choose(app, pilot, 2, 5)                      # Delete asks first
            assert isinstance(app.screen, Confirm)
            await pilot.press("y")
            await wait_idle(app, pilot)
            assert len(app.plan.sections) == n and app.plan.sections[1].energy == 5
            await pilot.press("ctrl+z")                         # undo brings the deleted section back
            await wait_idle(app, pilot)
            assert len(app.plan.sections) == n + 1
    run(scenario())


@pytest.mark.slow
def test_the_track_editor_adds_renames_and_removes_tracks(project):
    from tui.widgets import Ask, Confirm

    async def menu(app, pilot, row: int, item: int):
        app.action_show_tab("tab-arrangement")
        cells = app.query_one("#cells", DataTable)
        cells.move_cursor(row=row, column=0)
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, Picker)
        for _ in range(item):
            await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()

    async def scenario():
        app = ComposerApp(project)
        async with app.run_test(size=(120, 40)) as pilot:
            names = [t.name for t in app.plan.tracks]
            kept = {p.name: [(n.start, n.pitch) for n in p.notes] for p in app.score.parts}
            await menu(app, pilot, 0, 3)                        # Add a track...
            assert isinstance(app.screen, Picker)
            await pilot.press(*"cello")
            await pilot.press("enter")
            await wait_idle(app, pilot)
            assert [t.name for t in app.plan.tracks] == [*names, "Cello"]
            cello = next(p for p in app.score.parts if p.name == "Cello")
            assert cello.notes and {p.name: [(n.start, n.pitch) for n in p.notes]
                                    for p in app.score.parts if p.name != "Cello"} == kept   # the others kept
            await menu(app, pilot, len(names), 0)               # Rename...
            assert isinstance(app.screen, Ask)
            app.screen.query_one("#ask-input", Input).value = "Low Strings"
            await pilot.press("enter")
            await wait_idle(app, pilot)
            assert app.plan.tracks[-1].name == "Low Strings" and app.score.parts[-1].notes == cello.notes
            await menu(app, pilot, len(names), 2)               # Remove asks first
            assert isinstance(app.screen, Confirm)
            await pilot.press("y")
            await wait_idle(app, pilot)
            assert [t.name for t in app.plan.tracks] == names
    run(scenario())


@pytest.mark.slow
def test_the_score_preview_engraves_and_says_where_it_is(project, monkeypatch):
    from symbolic import engrave
    if engrave.find() is None:
        pytest.skip("MuseScore is not installed")
    import tui.app as tui_app
    real_which = tui_app.shutil.which
    monkeypatch.setattr(tui_app.shutil, "which", lambda c: None if c in ("xdg-open", "open") else real_which(c))

    async def scenario():
        app = ComposerApp(project)
        async with app.run_test(size=(100, 30)) as pilot:
            app.set_focus(None)
            await pilot.press("o")
            await wait_idle(app, pilot)
            assert (project / "piece.pdf").read_bytes()[:5] == b"%PDF-"
            said = " ".join(" ".join(line.text.split()) for line in app.query_one("#log").lines[-3:])
            assert "piece.pdf" in said and "PDF viewer found" in said
    run(scenario())


def test_the_readme_key_table_is_the_bindings(tmp_path):
    """The README's table of keys is the help screen's, built from the bindings (defaults)."""
    from pathlib import Path

    from tui.app import keys_markdown
    app = ComposerApp(tmp_path / "p")
    try:
        table = keys_markdown(app.help_rows())
    finally:
        app.session.close()
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("<!-- keys:", 1)[1].split("-->", 1)[1].split("<!-- /keys -->", 1)[0].strip()
    assert block == table
