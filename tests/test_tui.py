"""The first TUI screen, driven with Textual's Pilot: generate, export, render, cancel."""
import asyncio

import pytest
from textual.widgets import DataTable, Input

from tui.app import ComposerApp

BRIEF = "a calm folk tune in G major, 4/4 at 100 bpm, for fiddle, acoustic guitar and upright bass, 20 seconds"


async def wait_idle(app, pilot, timeout=120.0):
    for _ in range(int(timeout / 0.05)):
        await pilot.pause(0.05)
        if not app.busy:
            return
    raise AssertionError("task did not finish")


def test_generate_export_render(tmp_path, soundfont):
    async def scenario():
        app = ComposerApp(tmp_path / "proj", soundfont=str(soundfont))
        async with app.run_test(size=(100, 30)) as pilot:
            brief = app.query_one("#brief", Input)
            brief.value = BRIEF
            await pilot.press("enter")
            await wait_idle(app, pilot)
            sections = app.query_one("#sections", DataTable)
            tracks = app.query_one("#tracks", DataTable)
            assert sections.row_count == len(app.plan.sections) > 0
            assert tracks.row_count == 3
            assert (tmp_path / "proj" / "plan.json").exists() and (tmp_path / "proj" / "piece.mid").exists()
            app.set_focus(None)
            await pilot.press("e")
            await wait_idle(app, pilot)
            assert (tmp_path / "proj" / "piece.musicxml").exists()
            await pilot.press("r")
            await wait_idle(app, pilot)
            assert (tmp_path / "proj" / "mix.wav").exists()
            assert len(list((tmp_path / "proj" / "stems").iterdir())) == 3
    asyncio.run(scenario())


def test_open_existing_project_and_cancel_render(tmp_path, soundfont):
    from composer.pipeline import new_piece
    new_piece(BRIEF.replace("20 seconds", "10 minutes"), tmp_path / "p", audio=False)

    async def scenario():
        app = ComposerApp(tmp_path / "p", soundfont=str(soundfont))
        async with app.run_test(size=(100, 30)) as pilot:
            assert app.plan is not None and app.score is not None
            assert app.query_one("#sections", DataTable).row_count == len(app.plan.sections)
            app.set_focus(None)
            await pilot.press("r")
            assert app.busy
            await pilot.press("c")
            await wait_idle(app, pilot)
            assert not (tmp_path / "p" / "mix.wav").exists()
            assert (tmp_path / "p" / "piece.mid").exists()
    asyncio.run(scenario())


def test_bad_brief_is_reported_not_raised(tmp_path):
    async def scenario():
        app = ComposerApp(tmp_path / "x")
        async with app.run_test() as pilot:
            app.query_one("#brief", Input).value = "a pop song for theremin and piano"
            await pilot.press("enter")
            await wait_idle(app, pilot)
            assert app.plan is None
            assert not (tmp_path / "x" / "plan.json").exists()
    asyncio.run(scenario())


def test_palette_lists_the_actions(tmp_path):
    app = ComposerApp(tmp_path)

    async def scenario():
        async with app.run_test():
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert {"Generate", "Export", "Render", "Cancel"} <= set(titles)
            ids = {b.id for b in app.BINDINGS}
            assert {"generate", "export", "render", "cancel", "quit", "help"} <= ids
    asyncio.run(scenario())


@pytest.mark.slow
def test_snapshot_main_screen(tmp_path, snap_compare):
    from composer.pipeline import new_piece
    new_piece("a melancholic waltz in D minor for string quartet, ABA, 3/4 at 120 bpm, one minute",
              tmp_path / "w", audio=False)

    async def setup(pilot):
        app = pilot.app
        app.query_one("#log").clear()
        app.sub_title = "waltz"  # the folder path differs from run to run
        await pilot.pause()
    app = ComposerApp(tmp_path / "w")
    assert snap_compare(app, terminal_size=(100, 30), run_before=setup)
