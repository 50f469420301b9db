import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED_DATA = Path(os.environ.get("COMPOSER_DATA", ROOT.parent / "shared" / "data"))

# Most tests exercise planning, export, rendering and the TUI, where the arranger is not the subject: they
# arrange with the fast, deterministic pattern arranger. The shipped transformer has its own tests
# (tests/test_shipped_model.py), which clear this.
os.environ.setdefault("COMPOSER_ARRANGER", "patterns")


@pytest.fixture(scope="session")
def soundfont() -> Path:
    from audio.soundfont import find_soundfont
    return find_soundfont()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"training data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="module")
def fluidsynth_library():
    """Skip the module cleanly where libfluidsynth cannot be loaded."""
    from audio import render
    try:
        render._load_library()
    except render.RenderError as exc:
        pytest.skip(str(exc))
