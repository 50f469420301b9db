"""MusicGPT: cached and batched decoding against full recomputation, text conditioning, safetensors I/O."""
import json
from pathlib import Path

import pytest
import torch

from symbolic.model import CONFIG_NAME, WEIGHTS_NAME, ModelConfig, MusicGPT, sample_logits

torch.set_num_threads(1)

VOCAB = 40
EOS = 2
ROOT = Path(__file__).resolve().parents[1]


def make_model(seed: int = 0, **overrides) -> MusicGPT:
    """A small model with large random weights, so its outputs vary with its input."""
    cfg = dict(vocab_size=VOCAB, block_size=64, n_layer=2, n_head=2, n_embd=32, dropout=0.0,
               text_dim=16, n_text_tokens=3, bias=True)
    cfg.update(overrides)
    torch.manual_seed(seed)
    model = MusicGPT(ModelConfig(**cfg))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model.eval()


@pytest.fixture(scope="module")
def model() -> MusicGPT:
    return make_model()


def texts(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 16, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_cached_incremental_logits_equal_full_forward(model):
    idx = torch.randint(3, VOCAB, (3, 30), generator=torch.Generator().manual_seed(5))
    text = texts(3)
    full = model(idx, text).logits
    assert full.shape == (3, 30, VOCAB)
    cache = model.new_cache(3, capacity=6)  # too small on purpose: the cache grows
    steps = [model(idx[:, :5], text, past=cache).logits]
    steps.append(model(idx[:, 5:9], past=cache).logits)  # a chunk of several tokens
    for t in range(9, 30):
        steps.append(model(idx[:, t:t + 1], past=cache).logits)
    inc = torch.cat(steps, dim=1)
    assert (inc - full).abs().max().item() < 1e-4
    assert cache.length == 3 + 30 and cache.next_pos.tolist() == [30, 30, 30]
    # rows are independent: each row alone gives its batch logits
    for b in range(3):
        alone = model(idx[b:b + 1], text[b:b + 1]).logits
        assert (alone - full[b:b + 1]).abs().max().item() < 1e-4


@torch.no_grad()
def test_left_padded_rows_compute_what_the_row_alone_does(model):
    rows = [[1, 5, 6, 7, 8, 9, 10], [1, 11, 12], [1, 13, 14, 15, 16]]
    text = texts(3)
    T = max(map(len, rows))
    idx = torch.zeros(3, T, dtype=torch.long)
    mask = torch.zeros(3, T, dtype=torch.bool)
    for b, r in enumerate(rows):
        idx[b, T - len(r):] = torch.tensor(r)
        mask[b, T - len(r):] = True
    cache = model.new_cache(3, 16)
    out = model(idx, text, past=cache, attention_mask=mask)
    nxt = torch.tensor([[20], [21], [22]])
    step = model(nxt, past=cache).logits[:, -1]
    for b, r in enumerate(rows):
        alone = model(torch.tensor([r + [20 + b]]), text[b:b + 1]).logits
        assert (out.logits[b, -1] - alone[0, -2]).abs().max().item() < 1e-4
        assert (step[b] - alone[0, -1]).abs().max().item() < 1e-4


def test_generate_with_cache_equals_naive_greedy(model):
    prompts = torch.randint(3, VOCAB, (4, 6), generator=torch.Generator().manual_seed(9))
    prompts[:, 0] = 1
    text = texts(4)
    free = model.generate_naive(prompts, text, max_new_tokens=20, temperature=0)
    assert all(len(r) == 26 for r in free)
    # an end token that row 0 produces part-way: rows now stop at different steps
    eos = free[0][6 + 4]
    naive = model.generate_naive(prompts, text, max_new_tokens=20, temperature=0, eos_id=eos)
    cached = model.generate(prompts, text, max_new_tokens=20, temperature=0, eos_id=eos)
    kept = model.generate(prompts, text, max_new_tokens=20, temperature=0, eos_id=eos, drop_finished=False)
    assert cached == naive == kept
    assert naive[0][-1] == eos and len(naive[0]) <= 11
    assert cached[0][:6] == prompts[0].tolist()


def test_generate_ragged_prompts_equals_naive(model):
    prompts = [[1, 4, 5, 6, 7, 8, 9, 10, 11], [1, 12], [1, 13, 14, 15]]
    text = texts(3, seed=4)
    naive = model.generate_naive(prompts, text, max_new_tokens=15, temperature=0, eos_id=EOS)
    cached = model.generate(prompts, text, max_new_tokens=15, temperature=0, eos_id=EOS)
    assert cached == naive
    for p, r in zip(prompts, cached):
        assert r[:len(p)] == p


def test_sampling_same_seed_same_tokens(model):
    prompt = [[1, 7, 8, 9]]
    text = texts(1)
    kw = dict(max_new_tokens=25, temperature=1.0, top_p=0.9)
    a = model.generate(prompt, text, generator=torch.Generator().manual_seed(3), **kw)
    b = model.generate_naive(prompt, text, generator=torch.Generator().manual_seed(3), **kw)
    c = model.generate(prompt, text, generator=torch.Generator().manual_seed(3), **kw)
    assert a == b == c
    batch = model.generate([prompt[0]] * 8, text.repeat(8, 1), generator=torch.Generator().manual_seed(3), **kw)
    assert len({tuple(r) for r in batch}) > 1  # rows sample independently


def test_logits_processor_constrains_every_step(model):
    calls = []

    def no_repeat_no_seven(step, logits, tokens):
        calls.append((step, tuple(logits.shape), tuple(tokens.shape)))
        logits = logits.clone()
        logits[:, 7] = float("-inf")
        logits.scatter_(1, tokens[:, -1:], float("-inf"))  # never repeat the previous token
        return logits

    prompts = [[1, 3, 4], [1, 5, 6]]
    text = texts(2)
    cached = model.generate(prompts, text, max_new_tokens=12, temperature=0, logits_processor=no_repeat_no_seven)
    assert calls[0] == (0, (2, VOCAB), (2, 3)) and calls[-1][2] == (2, 3 + 11)
    calls.clear()
    naive = model.generate_naive(prompts, text, max_new_tokens=12, temperature=0,
                                 logits_processor=no_repeat_no_seven)
    assert calls[0] == (0, (1, VOCAB), (1, 3))
    assert cached == naive
    for row in cached:
        assert 7 not in row[3:]
        assert all(a != b for a, b in zip(row[2:], row[3:]))


@torch.no_grad()
def test_text_prefix_changes_the_distribution(model):
    idx = torch.tensor([[1, 5, 6, 7, 8]])
    a = torch.softmax(model(idx, texts(1, seed=1)).logits[0, -1], -1)
    b = torch.softmax(model(idx, texts(1, seed=2)).logits[0, -1], -1)
    assert 0.5 * (a - b).abs().sum().item() > 0.01  # total variation distance
    none = model(idx, None).logits
    zeros = model(idx, torch.zeros(1, 16)).logits
    assert torch.equal(none, zeros)
    # the prefix is not predicted: one logit row per real token
    assert model(idx, texts(1)).logits.shape == (1, 5, VOCAB)


@torch.no_grad()
def test_no_text_tokens_model_works():
    m = make_model(n_text_tokens=0)
    prompts = [[1, 4, 5, 6], [1, 7]]
    assert m.generate(prompts, None, max_new_tokens=6, temperature=0) == \
        m.generate_naive(prompts, None, max_new_tokens=6, temperature=0)


def test_loss_ignores_padding(model):
    idx = torch.tensor([[1, 5, 6, 7, 0, 0]])
    targets = torch.tensor([[5, 6, 7, 2, -100, -100]])
    loss = model(idx, texts(1), targets=targets).loss
    short = model(idx[:, :4], texts(1), targets=targets[:, :4]).loss
    assert abs(loss.item() - short.item()) < 1e-5


def test_save_load_round_trip_fp16(model, tmp_path):
    from safetensors import safe_open

    m = make_model(seed=3)
    with torch.no_grad():  # values that fp16 holds exactly: the round trip is then exact
        for p in m.parameters():
            p.copy_(p.half().float())
    m.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    with safe_open(str(tmp_path / "m" / WEIGHTS_NAME), framework="pt") as f:
        assert all(f.get_tensor(k).dtype == torch.float16 for k in f.keys())
        assert "wpe.weight" in f.keys() and not any(k.startswith("lm_head") for k in f.keys())
    cfg = json.loads((tmp_path / "m" / CONFIG_NAME).read_text())
    assert cfg["n_layer"] == 2 and cfg["format"] == "composer-musicgpt"
    loaded = MusicGPT.from_pretrained(tmp_path / "m")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    idx = torch.tensor([[1, 5, 6, 7, 8, 9]])
    with torch.no_grad():
        assert torch.equal(m(idx, texts(1)).logits, loaded(idx, texts(1)).logits)
    # an ordinary fp32 model comes back within fp16 rounding
    model.save_pretrained(tmp_path / "fp32")
    again = MusicGPT.from_pretrained(tmp_path / "fp32")
    with torch.no_grad():
        diff = (model(idx, texts(1)).logits - again(idx, texts(1)).logits).abs().max().item()
    assert diff < 0.05


def test_generation_stops_at_block_size():
    m = make_model(block_size=12)
    out = m.generate([[1, 4, 5], [1, 6, 7, 8, 9]], texts(2), max_new_tokens=100, temperature=0)
    assert max(map(len, out)) == 12
    with pytest.raises(ValueError, match="block_size"):
        m(torch.ones(1, 13, dtype=torch.long), texts(1))


def test_sample_logits_greedy_limits():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.9], [5.0, 0.0, 0.0, 0.0]])
    g = torch.Generator().manual_seed(0)
    assert sample_logits(logits, 0).tolist() == [1, 0]
    for _ in range(20):
        assert sample_logits(logits, 1.0, top_k=1, generator=g).tolist() == [1, 0]
        assert sample_logits(logits, 1.0, top_p=0.01, generator=g).tolist() == [1, 0]
    seen = {int(sample_logits(logits, 1.0, top_p=0.9, generator=g)[0]) for _ in range(200)}
    assert seen <= {1, 2, 3} and {1, 3} <= seen  # token 0 is outside the nucleus


def test_parameter_count_and_config():
    m = make_model()
    assert m.num_params() == sum(p.numel() for p in m.parameters())
    assert m.num_params(non_embedding=True) == m.num_params() - 64 * 32
    assert "parameters" in m.describe()
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({"vocab_size": 10, "n_layers": 3})
    with pytest.raises(ValueError):
        ModelConfig(n_embd=30, n_head=4)
    small = json.loads((ROOT / "configs" / "small.json").read_text())
    cfg = ModelConfig(vocab_size=512, block_size=small["block_size"], **small["model"])
    n = MusicGPT(cfg).num_params()
    assert 3e6 < n < 8e6
