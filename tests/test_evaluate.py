"""`composer eval` on briefs: the table is produced, deterministic, and reports TB/CK."""
import math

import pytest

from training.evaluate import MIDICAPS, midicaps_examples, own_captions, run


def test_own_captions_state_key_tempo_and_meter():
    caps = own_captions(5, seed=1)
    assert caps == own_captions(5, seed=1)
    for c in caps:
        assert c["key"] in c["caption"] and c["meter"] in c["caption"]
        from composer.brief import parse_brief
        from symbolic.metrics import tempo_bin
        assert tempo_bin(parse_brief(c["caption"]).tempo) == tempo_bin(c["tempo"])  # stated as a number or a term


def test_midicaps_examples_parse():
    if not MIDICAPS.exists():
        pytest.skip("MidiCaps examples not found")
    ex = midicaps_examples()
    assert len(ex) >= 16 and all({"caption", "key", "tempo"} <= set(e) for e in ex)


@pytest.mark.slow
def test_eval_table_is_deterministic(tmp_path):
    a = run(tmp_path / "a.md", None, None, n_own=4, seed=0, progress=lambda m: None, style_seeds=0)
    b = run(tmp_path / "b.md", None, None, n_own=4, seed=0, progress=lambda m: None, style_seeds=0)
    strip = lambda t: "\n".join(line for line in t.splitlines() if not line.startswith("Run time"))  # noqa: E731
    assert strip(a) == strip(b)
    assert "| patterns |" in a and "TB %" in a


def test_w1_and_the_closer_table():
    from symbolic.metrics import wasserstein1
    from training.evaluate import closer_table
    assert wasserstein1([0, 1], [1, 0]) == pytest.approx(0)
    assert wasserstein1([0, 0], [1, 3]) == pytest.approx(2)       # every value moved by 1 and by 3
    assert wasserstein1([0, 2], [1, 1]) == pytest.approx(1)       # same mean, different spread
    human = {"bass": {"human": [{"pce": v, "ct": 0.8} for v in (1.0, 2.0, 3.0)]}}
    rows = {"bass": {"model": [{"pce": v, "ct": 0.9} for v in (1.1, 2.0, 2.9)],
                     "patterns": [{"pce": 2.0, "ct": 1.0}] * 3}}   # the same mean as the humans, no spread
    table = "\n".join(closer_table(human, rows))
    assert "| pce | - | 0 of 1 | bass | 1 of 1 |" in table
    assert "| ct at least the human's | bass | 1 of 1 |" in table


def test_heldout_draws_each_role_alike(tmp_path):
    import json

    from training.evaluate import heldout_picks
    roles = ["melody"] * 50 + ["pad"] * 6 + ["bass"] * 30
    (tmp_path / "index.jsonl").write_text("".join(json.dumps({"role": r}) + "\n" for r in roles))
    picks = heldout_picks(tmp_path, len(roles), 30, seed=0)
    got = [roles[i] for i in picks]
    assert picks == sorted(set(picks)) and got.count("melody") == 10 and got.count("bass") == 10
    assert got.count("pad") == 6  # all a rare role has
    assert picks == heldout_picks(tmp_path, len(roles), 30, seed=0)
    # Without an index that matches the split, a uniform draw.
    assert len(heldout_picks(tmp_path, len(roles) + 1, 30, seed=0)) == 30


def test_energy_matched_humans_take_the_windows_energy_shares():
    from training.evaluate import energy_matched
    human = [{"energy": 1, "density": 2.0}] * 3 + [{"energy": 4, "density": 8.0}]
    windows = [{"energy": 4}] * 3 + [{"energy": 1}] + [{"energy": 5}]  # nobody played at 5: left out
    got = energy_matched(human, windows, size=100)
    assert sum(r["energy"] == 4 for r in got) == 75 and sum(r["energy"] == 1 for r in got) == 24
    assert energy_matched(human, [], size=100) == human


def test_energy_table_counts_windows_at_the_planned_level():
    from symbolic.arrange.transformer import WEIGHTS_DIR
    from symbolic.tokenizer import MusicTokenizer
    from training.evaluate import energy_table
    rows = {"pad": {"model": [{"energy": 3, "level": 3}, {"energy": 3, "level": 5}],
                    "patterns": [{"energy": 2, "level": 2}] * 2},
            "bass": {"model": [{"energy": 4, "level": 3}, {"energy": 4, "level": 4}]}}
    table = energy_table(rows, ["model", "patterns", "absent"])
    assert table[0] == "| system | pad | bass | all | within one level |"
    assert table[2] == "| model | 50 | 50 | 50 | 75 |"
    assert table[3] == "| patterns | 100 | - | 100 | 100 |" and len(table) == 4
    tok = MusicTokenizer.in_folder(WEIGHTS_DIR)
    t = tok.energy_thresholds["pad"]
    assert tok.energy_level("pad", t[0]) == 1 and tok.energy_level("pad", t[3] + 0.1) == 5
    assert tok.energy_level("pad", 8.0) == tok.energy("pad", 16, 2)


def test_the_performance_evaluation_beside_the_output_is_appended(tmp_path, monkeypatch):
    import training.evaluate as E
    monkeypatch.setattr(E, "MIDICAPS", tmp_path / "absent")        # our captions only: quick
    (tmp_path / "EVAL_PERFORMANCE.md").write_text("# Performance evaluation\n\n| class | W1 |\n| toms | 3.38 |\n")
    text = E.run(tmp_path / "EVAL.md", None, None, n_own=2, progress=None, style_seeds=0)
    assert text == (tmp_path / "EVAL.md").read_text()
    assert text.rstrip().endswith("## Performance\n| class | W1 |\n| toms | 3.38 |")
    assert "Performance evaluation" not in text


@pytest.mark.slow
def test_the_audio_part_measures_real_renders_against_the_notation(soundfont):
    import importlib.util

    from training.evaluate import arrangers, audio_adherence, audio_table
    items = [{"caption": "a calm pop piece in C major for piano and bass, 20 seconds"},
             {"caption": "an upbeat rock piece in E minor for guitar, bass and drums, 20 seconds"}]
    rows = audio_adherence(items, 0, arrangers(None)["patterns"], 2, soundfont=soundfont, progress=None)
    assert [r["render"] for r in rows] == ["notation", "performed"] * 2
    for r in rows:
        assert 10 < r["seconds"] < 40
        assert r["chroma_cosine"] > r["chroma_other"] + 0.1  # follows its own MIDI, not the other piece's
        assert r["onset_f1"] > 0.5
        if importlib.util.find_spec("basic_pitch") is not None:
            assert r["note_f1"] is not None and r["note_f1"] > 0.3
    table = audio_table(rows)
    assert table[-2].startswith("| all 2 (mean) | notation |") and table[-1].startswith("| all 2 (mean) | performed |")


def test_a_section_is_replaced_in_place_or_added_before_the_performance():
    from training.evaluate import splice
    doc = "# Evaluation\n\n## Briefs\nb\n\n## Style: x\nold\n\n## Performance\np\n"
    new = splice(doc, "## Style: x\n\nnew table\n")
    assert new == "# Evaluation\n\n## Briefs\nb\n\n## Style: x\n\nnew table\n\n## Performance\np\n"
    assert splice(new, "## Style: x\n\nnew table\n") == new
    added = splice("# Evaluation\n\n## Briefs\nb\n\n## Performance\np\n", "## Style: x\nt\n")
    assert added == "# Evaluation\n\n## Briefs\nb\n\n## Style: x\nt\n\n## Performance\np\n"


@pytest.mark.slow
def test_composer_eval_only_style_replaces_its_section(tmp_path, monkeypatch):
    """`composer eval --only style` measures the styles (here rock, quick) and keeps the rest of EVAL.md."""
    import training.style_eval as S
    from composer.cli import main
    real = S.evaluate
    monkeypatch.setattr(S, "evaluate", lambda seeds, quick, styles, *a, **k: real(1, True, ["rock"], *a, **k))
    out = tmp_path / "EVAL.md"
    out.write_text("# Evaluation\n\n## Briefs\nkept\n")
    assert main(["-q", "eval", "--only", "style", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Evaluation\n\n## Briefs\nkept\n\n" + S.SECTION_TITLE)
    assert "| rock | backbeat share | ≥ 0.80 | 0.9" in text and "| rock | kick on 1 share | ≥ 0.80 | 1.00 ✓ | 1.00 ✓ |" in text


@pytest.mark.slow
def test_composer_eval_only_arrangement_measures_the_craft(tmp_path, monkeypatch):
    """`composer eval --only arrangement` writes the Arrangement table (here two briefs, one seed) with both
    arrangers' rows, the targets judged, and the rest of EVAL.md kept."""
    import training.arrangement_eval as A
    from composer.cli import main
    briefs = ["a gentle lullaby in F major in 6/8 for piano, flute and cello, 30 seconds",
              "a dark film cue in C minor for strings and french horn that builds to a climax, 40 seconds"]
    real = A.run
    monkeypatch.setattr(A, "run", lambda seeds, say=print: real(1, briefs, say=say))
    out = tmp_path / "EVAL.md"
    out.write_text("# Evaluation\n\n## Briefs\nkept\n")
    assert main(["-q", "eval", "--only", "arrangement", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Evaluation\n\n## Briefs\nkept\n\n" + A.SECTION_TITLE)
    rows = [line for line in text.splitlines() if line.startswith("| a ") or line.startswith("|  |")]
    assert len(rows) == 4
    cue = next(i for i, r in enumerate(rows) if "film cue" in r)
    cells = rows[cue].split(" | ")
    assert cells[2] == "1.00 ✓"                                                 # every instrument named plays
    assert cells[5] == "0 ✓" and cells[6] == "0 ✓" and cells[7] == "0 ✓"     # ranges and chords a player holds
    assert cells[-3].endswith("✓")                                              # louder at the end


def test_the_arrangement_measures_read_what_they_say():
    """The line, counter-line, form and energy figures on small hand-made scores."""
    from symbolic import style_measures as sm
    from symbolic.score import Bar, Note, Part, Score
    bars = [Bar(i * 1920, 4, 4) for i in range(6)]
    up = [Note(i * 480, i * 480 + 480, p, 80) for i, p in enumerate([60, 62, 64, 72, 71, 69, 67, 65])]
    steps, wide, answered = sm.line_figures(up)
    assert steps == 6 / 7 and wide == 0.0 and answered == 1.0
    assert sm.line_figures([Note(0, 480, 60, 80), Note(480, 960, 76, 80), Note(960, 1440, 79, 80)]) == (0.0, 0.5, 0.0)
    counter_with = [Note(n.start, n.end, n.pitch - 4, 70) for n in up]        # a third under, in its rhythm
    counter_between = [Note(n.start + 240, n.end, n.pitch - 12, 70) for n in up]
    octaves = [Note(n.start, n.end, n.pitch + 12, 70) for n in up]            # the tune itself, an octave up
    assert sm.doubling_share(up, counter_with) == 1.0 and sm.doubling_share(up, counter_between) == 0.0
    assert math.isnan(sm.doubling_share(up, octaves))
    assert sm.doubles_tune(octaves, up) and not sm.doubles_tune(counter_between, up)
    quiet = [Note(i * 1920, i * 1920 + 1920, 60, 50) for i in range(2)]
    loud = [Note(4 * 1920 + k * 480, 4 * 1920 + k * 480 + 480, 48 + 12 * (k % 3), 100) for k in range(8)]
    score = Score(bars=bars, parts=[Part("Piano", 0, role="chords", notes=quiet + loud)])
    vel, dens, span = sm.energy_arc(score, bars)
    assert vel == 2.0 and dens == 4.0 and span > 1.0


def test_every_instrument_a_brief_names_is_counted_as_playing():
    from symbolic.score import Note, Part, Score
    from training.arrangement_eval import named_share
    brief = "a reel for fiddle, tin whistle and bodhran"
    parts = [Part("Fiddle", 110, notes=[Note(0, 240, 74, 80)]), Part("Tin Whistle", 78, notes=[Note(0, 240, 86, 80)]),
             Part("Bodhrán", 0, is_drum=True, notes=[])]
    assert named_share(brief, Score("t", parts)) == 2 / 3          # the bodhrán has no notes
    parts[2].notes.append(Note(0, 240, 41, 90))
    assert named_share(brief, Score("t", parts)) == 1.0


def test_on_grid_reads_the_notes_written_on_the_off_beat():
    """A written syncopation (a note on a beat's last sixteenth) is not an off-beat eighth; an off-beat eighth
    played 10 ticks late is still on the grid, one played a triplet late is not."""
    from symbolic.score import PPQ, Bar, Note, Part, Score
    from training.style_eval import Take, _on_grid
    bars = [Bar(0, 4, 4)]
    written = [Note(PPQ // 2, PPQ, 60, 80), Note(PPQ + 3 * PPQ // 4, 2 * PPQ, 62, 80),
               Note(2 * PPQ + PPQ // 2, 3 * PPQ, 64, 80)]
    played = [Note(PPQ // 2 + 10, PPQ, 60, 80), Note(PPQ + 3 * PPQ // 4, 2 * PPQ, 62, 80),
              Note(2 * PPQ + 2 * PPQ // 3, 3 * PPQ, 64, 80)]
    score = Score("t", [Part("Bass", 32, role="bass", notes=written)], bars=bars)
    take = Take(bars=bars, parts=[("bass", written)], played=[played], score=score)
    assert _on_grid(take) == 0.5
