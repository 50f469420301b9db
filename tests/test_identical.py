"""The same briefs and seeds give the same bytes: plan.json, piece.mid and piece.musicxml for fourteen briefs across
styles, ensembles and every arranger, against the hashes recorded in tests/data/identical.json.

A change meant to alter the music re-records them (and says so in its commit):
    COMPOSER_RECORD_IDENTICAL=1 .venv/bin/python -m pytest tests/test_identical.py
"""
import hashlib
import json
import os
from pathlib import Path

import pytest

from composer.pipeline import arrange, export, make_plan

RECORD = Path(__file__).parent / "data" / "identical.json"
BRIEFS = [
    ("Upbeat pop song in E major, 4/4 at 120 bpm, with piano, electric bass and drums, verse-chorus form, "
     "about three minutes", "patterns"),
    ("a melancholic waltz in D minor for string quartet, ABA, two minutes", "patterns"),
    ("a jazz tune in Bb, AABA, with tenor sax, piano, upright bass and drums", "patterns"),
    ("a bossa nova in F for nylon guitar, flute and bass, 90 seconds", "patterns"),
    ("an Irish reel in D for fiddle, tin whistle and bodhran", "patterns"),
    ("a 12-bar blues shuffle in A at 96 bpm with electric guitar, bass and drums", "patterns"),
    ("a dark film cue in C minor for strings and French horn that builds to a climax, 90 seconds", "patterns"),
    ("a lullaby in 6/8 in G major for piano, 70 bpm", "patterns"),
    ("a minuet in 3/4 for harpsichord", "patterns"),
    ("a march in Bb major for concert band, one minute", "patterns"),
    ("a calm folk tune in G major, 4/4 at 100 bpm, for fiddle, acoustic guitar and upright bass, 30 seconds",
     "transformer"),
    ("a melancholic waltz in D minor for string quartet, ABA, one minute", "transformer"),
    ("a medium swing jazz tune in F, AABA, for trumpet, piano, upright bass and drums, one minute", "auto"),
    ("a bossa nova in D minor for flute, nylon guitar, upright bass and drums, 45 seconds", "auto"),
]
FILES = ("plan.json", "piece.mid", "piece.musicxml")


def hashes(tmp: Path) -> dict[str, list[str]]:
    out = {}
    for i, (brief, arranger) in enumerate(BRIEFS):
        plan = make_plan(brief, 1)
        score = arrange(plan, 1, arranger)
        export(plan, score, tmp / f"b{i}")
        out[f"{arranger}: {brief}"] = [hashlib.sha256((tmp / f"b{i}" / n).read_bytes()).hexdigest() for n in FILES]
    return out


@pytest.mark.slow
def test_the_same_briefs_give_the_same_bytes(tmp_path):
    got = hashes(tmp_path)
    if os.environ.get("COMPOSER_RECORD_IDENTICAL"):
        RECORD.write_text(json.dumps(got, indent=1) + "\n")
    want = json.loads(RECORD.read_text())
    changed = [f"{key} ({', '.join(n for n, a, b in zip(FILES, want[key], got[key]) if a != b)})"
               for key in want if want[key] != got.get(key)]
    assert not changed, "different bytes for: " + "; ".join(changed)
    assert set(got) == set(want)
