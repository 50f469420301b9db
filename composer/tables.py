"""The chord and form statistics the rules planner draws its plans from: `composer/data/harmony.json`, shipped with
the package and read with `load_table`. training/harmony_table.py builds it from public chord corpora (McGill
Billboard, POP909, two lead-sheet collections and the RomanText analyses of the music21 corpus):

    python -m training.harmony_table build [--data ../shared/data] [--out composer/data/harmony.json] [--limit N]

Every chord is a key-relative degree token ("<semitones above the tonic>:<quality>", see
`symbolic.harmony.degree_token`), counted per style and mode (section-opening chords, bar-to-bar transitions,
chord pairs inside a bar, chords per bar, cadence chords, the approach to the cadence, phrase-end chords) and per
corpus (section sequences and lengths: forms).
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from symbolic.annotations import TOKEN_QUALITIES

VERSION = 1
TABLE_PATH = Path(__file__).resolve().parent / "data" / "harmony.json"

STYLES = ("pop", "jazz", "folk", "classical")
SECTION_NAMES = ("intro", "verse", "pre-chorus", "chorus", "bridge", "solo", "interlude", "outro")
STAT_KINDS = ("start", "next", "split", "per_bar", "cadence", "penult", "phrase_end")


_TOKEN_RE = re.compile(r"^(\d{1,2}):([a-z0-9]+)$")


class TableError(RuntimeError):
    """The harmony table is missing or cannot be built."""


# --------------------------------------------------------------------------------------------
# Loading


@lru_cache(maxsize=1)
def load_table() -> dict:
    """The shipped harmony table (composer/data/harmony.json)."""
    if not TABLE_PATH.is_file():
        raise TableError(f"harmony table {TABLE_PATH} is missing; build it with "
                         "`python -m training.harmony_table build`")
    with TABLE_PATH.open(encoding="utf-8") as fh:
        table = json.load(fh)
    if table.get("version") != VERSION:
        raise TableError(f"harmony table {TABLE_PATH} has version {table.get('version')!r}, "
                         f"expected {VERSION}; rebuild it with `python -m training.harmony_table build`")
    return table


def is_token(token: str) -> bool:
    """True for a well-formed degree token such as '7:7' or '9:min'."""
    m = _TOKEN_RE.match(token)
    return m is not None and 0 <= int(m.group(1)) <= 11 and m.group(2) in TOKEN_QUALITIES


