"""Finding a General MIDI SoundFont to render with.

Search order: an explicit path, the COMPOSER_SOUNDFONT environment variable, any
.sf2/.sf3 file in the repository's soundfonts/ folder, the usual system GM
SoundFonts, then the small TimGM6mb.sf2 that pretty_midi ships. Setting
COMPOSER_SOUNDFONT_SEARCH=0 (or passing search=False) turns off everything after
the environment variable, so only a SoundFont named on purpose is used.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

ENV_SOUNDFONT = "COMPOSER_SOUNDFONT"
ENV_SEARCH = "COMPOSER_SOUNDFONT_SEARCH"
SUFFIXES = (".sf2", ".sf3")

REPO_SOUNDFONTS = Path(__file__).resolve().parents[1] / "soundfonts"

SYSTEM_SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/sounds/sf3/default-GM.sf3"),
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/soundfonts/default.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf3"),
    Path("/usr/share/sounds/sf2/FluidR3_GS.sf2"),
    Path("/usr/local/share/soundfonts/default.sf2"),
    Path("/opt/homebrew/share/soundfonts/default.sf2"),
)


class SoundFontError(ValueError):
    """No usable SoundFont: a bad explicit path, or nothing found anywhere."""


def _search_enabled(search: bool | None) -> bool:
    if search is not None:
        return search
    return os.environ.get(ENV_SEARCH, "1").strip().lower() not in ("0", "false", "no", "off")


def check_soundfont(path: str | Path, origin: str = "") -> Path:
    """The resolved path of a readable .sf2/.sf3 file, or SoundFontError saying what is wrong."""
    p = Path(path).expanduser()
    what = f"SoundFont {p}" + (f" (from {origin})" if origin else "")
    if p.suffix.lower() not in SUFFIXES:
        raise SoundFontError(f"{what} is not a .sf2 or .sf3 file")
    if not p.is_file():
        raise SoundFontError(f"{what} does not exist" if not p.exists() else f"{what} is not a file")
    try:
        with p.open("rb") as fh:
            head = fh.read(12)
    except OSError as exc:
        raise SoundFontError(f"{what} cannot be read ({exc.strerror or exc})") from None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise SoundFontError(f"{what} is not a SoundFont (no RIFF sfbk header)")
    return p.resolve()


def _bundled_soundfont() -> Path | None:
    """pretty_midi's TimGM6mb.sf2, located without importing pretty_midi."""
    try:
        spec = importlib.util.find_spec("pretty_midi")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent / "TimGM6mb.sf2"


def candidates() -> list[Path]:
    """The fallback locations searched, in order (whether or not they exist)."""
    out: list[Path] = []
    if REPO_SOUNDFONTS.is_dir():
        out += sorted(p for p in REPO_SOUNDFONTS.iterdir() if p.suffix.lower() in SUFFIXES)
    out += SYSTEM_SOUNDFONTS
    bundled = _bundled_soundfont()
    if bundled is not None:
        out.append(bundled)
    return out


def find_soundfont(path: str | Path | None = None, *, search: bool | None = None) -> Path:
    """The SoundFont to render with.

    An explicit `path` must exist and be a .sf2/.sf3 SoundFont. Otherwise
    COMPOSER_SOUNDFONT is used when set (and must be valid), then, unless
    `search` is False or COMPOSER_SOUNDFONT_SEARCH=0, the first valid fallback
    from candidates(). Raises SoundFontError with a one-line message otherwise.
    """
    if path is not None and str(path) != "":
        return check_soundfont(path)
    env = os.environ.get(ENV_SOUNDFONT, "").strip()
    if env:
        return check_soundfont(env, ENV_SOUNDFONT)
    tried = [f"{ENV_SOUNDFONT} (unset)"]
    if _search_enabled(search):
        for cand in candidates():
            try:
                return check_soundfont(cand)
            except SoundFontError:
                tried.append(str(cand))
    else:
        tried.append(f"fallbacks off ({ENV_SEARCH}=0)")
    raise SoundFontError(
        "no SoundFont found; tried " + ", ".join(tried)
        + f"; pass a .sf2/.sf3 path, set {ENV_SOUNDFONT}, or put one in {REPO_SOUNDFONTS}"
    )
