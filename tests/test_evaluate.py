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
