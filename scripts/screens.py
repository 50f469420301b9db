"""The README's screens: the TUI's panels on a demo piece, saved as SVG in docs/screens.

    .venv/bin/python scripts/screens.py [OUT]
"""
from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from composer.pipeline import new_piece
from tui.app import ComposerApp

BRIEF = "a calm folk tune in G major, 4/4 at 100 bpm, for fiddle, acoustic guitar and upright bass, 40 seconds"
SINK = "import sys, time, wave\nw = wave.open(sys.argv[1])\ntime.sleep(w.getnframes() / w.getframerate())\n"


async def shoot(folder: Path, out: Path) -> None:
    app = ComposerApp(folder)
    async with app.run_test(size=(160, 48)) as pilot:
        async def idle() -> None:
            while app.busy:
                await pilot.pause(0.1)
        app.sub_title = "folk"
        await pilot.pause()
        app.action_show_tab("tab-plan")
        await pilot.pause()
        app.save_screenshot(str(out / "plan.svg"))
        app.action_show_tab("tab-arrangement")
        await pilot.pause()
        for key in ("full_stop", "right_square_bracket", "right_curly_bracket", "right_curly_bracket"):
            await pilot.press(key)
            await idle()
        app.save_screenshot(str(out / "arrangement.svg"))
        app.action_show_tab("tab-roll")
        await pilot.pause()
        await pilot.press("p")          # the transport: renders the mix, then plays from the cursor's bar
        await idle()
        await pilot.pause(2.5)
        app.save_screenshot(str(out / "roll.svg"))
        await pilot.press("p")
        app.action_show_tab("tab-plan")
        await pilot.press("a")
        await idle()
        await pilot.press("down", "k")
        await pilot.pause()
        app.save_screenshot(str(out / "alternatives.svg"))
        await pilot.press("escape")
        app.action_show_tab("tab-render")
        await pilot.pause()
        app.save_screenshot(str(out / "render.svg"))
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        app.save_screenshot(str(out / "help.svg"))


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screens")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        sink = Path(tmp) / "sink.py"
        sink.write_text(SINK)
        os.environ["COMPOSER_PLAYER"] = f"{sys.executable} {sink}"   # no sound card needed for a picture
        new_piece(BRIEF, Path(tmp) / "folk", audio=False, seed=1)
        asyncio.run(shoot(Path(tmp) / "folk", out))
    print("wrote", ", ".join(sorted(p.name for p in out.glob("*.svg"))))


if __name__ == "__main__":
    main()
