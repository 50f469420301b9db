"""`composer eval` on briefs: the table is produced, deterministic, and reports TB/CK."""
import pytest

from composer.evaluate import MIDICAPS, midicaps_examples, own_captions, run


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
    a = run(tmp_path / "a.md", None, None, n_own=4, seed=0, progress=lambda m: None)
    b = run(tmp_path / "b.md", None, None, n_own=4, seed=0, progress=lambda m: None)
    strip = lambda t: "\n".join(line for line in t.splitlines() if not line.startswith("Run time"))  # noqa: E731
    assert strip(a) == strip(b)
    assert "| patterns |" in a and "TB %" in a


def test_w1_and_the_closer_table():
    from composer.evaluate import closer_table
    from symbolic.metrics import wasserstein1
    assert wasserstein1([0, 1], [1, 0]) == pytest.approx(0)
    assert wasserstein1([0, 0], [1, 3]) == pytest.approx(2)       # every value moved by 1 and by 3
    assert wasserstein1([0, 2], [1, 1]) == pytest.approx(1)       # same mean, different spread
    human = {"bass": {"human": [{"pce": v, "ct": 0.8} for v in (1.0, 2.0, 3.0)]}}
    rows = {"bass": {"model": [{"pce": v, "ct": 0.9} for v in (1.1, 2.0, 2.9)],
                     "patterns": [{"pce": 2.0, "ct": 1.0}] * 3}}   # the same mean as the humans, no spread
    table = "\n".join(closer_table(human, rows))
    assert "| pce | - | 0 of 1 | bass | 1 of 1 |" in table
    assert "| ct at least the human's | bass | 1 of 1 |" in table
