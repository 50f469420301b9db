"""The --llm-path route: a tiny randomly initialised transformers model built here, decoded under the
Plan's constraints, still yields a valid plan offline."""
import pytest

from composer.cli import main
from composer.llm import LLMError, LLMSettings
from composer.pipeline import make_plan
from composer.plan import Plan

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-lm")
    bpe = tokenizers.ByteLevelBPETokenizer()
    corpus = ['{"key": "D minor", "meter": "3/4", "tempo": 120, "name": "Verse", "chord": "Am"}',
              "Brief: a calm waltz in D minor for strings. Plan as JSON:"] * 20
    bpe.train_from_iterator(corpus, vocab_size=400, min_frequency=1, special_tokens=["<pad>", "<eos>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="<eos>")
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=256, n_embd=32, n_layer=2, n_head=2)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    return folder


def test_random_weights_still_give_a_valid_plan(tiny_model):
    plan = make_plan("a calm waltz in D minor for strings", planner="llm",
                     llm=LLMSettings(path=str(tiny_model)), fallback=False)
    assert isinstance(plan, Plan)
    assert 1 <= len(plan.tracks) <= 6 and 2 <= len(plan.sections) <= 8
    Plan.model_validate_json(plan.to_json())  # valid through the whole contract
    # The piece opens and closes on the tonic chord.
    from symbolic.harmony import parse_chord, parse_key
    key = parse_key(plan.key)
    assert parse_chord(plan.sections[0].chords[0][0].symbol).root == key.tonic
    assert parse_chord(plan.sections[-1].chords[-1][0].symbol).root == key.tonic


@pytest.mark.slow
def test_cli_llm_path_offline(tiny_model, tmp_path):
    out = tmp_path / "proj"
    assert main(["-q", "new", "a calm waltz for strings", "--no-audio", "--out", str(out), "--planner", "llm",
                 "--llm-path", str(tiny_model), "--no-fallback"]) == 0
    assert (out / "piece.mid").exists()


def test_missing_model_folder(tmp_path):
    with pytest.raises(LLMError, match="not a transformers model folder"):
        make_plan("a waltz", planner="llm", llm=LLMSettings(path=str(tmp_path)), fallback=False)
