"""Write the README's table of keys from the TUI's bindings (tests/test_tui.py checks they agree).

    .venv/bin/python scripts/keys.py
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from tui.app import ComposerApp, keys_markdown

README = Path(__file__).resolve().parent.parent / "README.md"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = ComposerApp(Path(tmp) / "p")
        try:
            table = keys_markdown(app.help_rows())
        finally:
            app.session.close()
    text = README.read_text()
    new = re.sub(r"(<!-- keys:[^>]*-->\n).*?(\n<!-- /keys -->)", lambda m: m.group(1) + table + m.group(2), text,
                 flags=re.S)
    README.write_text(new)
    print("README.md: the table of keys is", "unchanged" if new == text else "rewritten")


if __name__ == "__main__":
    main()
