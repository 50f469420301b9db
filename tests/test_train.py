"""The training loop on a small synthetic shard folder: batches, loss, checkpoints, exact resume, export."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from symbolic.model import MusicGPT
from symbolic.tokenizer import MusicTokenizer
from training.train import (
    IGNORE_INDEX,
    TokenShards,
    TrainConfig,
    TrainError,
    batch_rng,
    grow_vocab,
    lr_at,
    main,
    train,
    write_synthetic_shards,
)

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return write_synthetic_shards(tmp_path_factory.mktemp("shards"), n_train=48, n_val=8, vocab_size=48,
                                  max_len=120, text_dim=384, seed=0)


def tiny_config(shards: Path, out: Path, **overrides) -> TrainConfig:
    d = dict(name="t", model={"n_layer": 2, "n_head": 2, "n_embd": 32, "dropout": 0.1, "n_text_tokens": 2},
             data_dir=str(shards), out_dir=str(out), batch_size=4, block_size=64, lr=3e-3, min_lr=3e-4,
             warmup_iters=2, max_iters=8, eval_interval=4, eval_iters=2, log_interval=2, seed=7,
             text_dropout=0.25)
    d.update(overrides)
    return TrainConfig.from_dict(d)


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def train_losses(run: Path) -> dict[int, float]:
    return {r["iter"]: r["loss"] for r in read_log(run) if "loss" in r}


def test_shards_batches_pad_and_crop(shards):
    data = TokenShards(shards / "train")
    cfg = tiny_config(shards, Path("unused"), block_size=32)
    x, y, text = data.batch(batch_rng(7, 0, 0, 0), cfg)
    assert x.shape == y.shape and x.shape[1] <= 32 and text.shape == (4, 384)
    assert text.dtype == torch.float32 and x.dtype == torch.int64
    # targets are the inputs shifted by one; pads carry no loss
    real = y != IGNORE_INDEX
    assert torch.equal(x[:, 1:][real[:, 1:]], y[:, :-1][real[:, 1:]])
    assert (x[~real] == data.pad_id).all()
    # the same (seed, rank, iteration) gives the same batch
    x2, y2, t2 = data.batch(batch_rng(7, 0, 0, 0), cfg)
    assert torch.equal(x, x2) and torch.equal(y, y2) and torch.equal(text, t2)
    # a long sequence keeps its header (9 tokens in these synthetic shards) and a window that starts on a bar token
    seq = np.asarray(data.tokens[data.offsets[0]:data.offsets[1]])
    assert len(seq) > 40
    rng = np.random.default_rng(0)
    for _ in range(20):
        c = data.crop(seq, rng, 32, "window", 9)
        assert len(c) == 33 and (c[:9] == seq[:9]).all() and c[9] == data.bar_id
    assert (data.crop(seq, rng, 32, "head", 9) == seq[:33]).all()


def test_lr_schedule():
    cfg = TrainConfig(lr=1.0, min_lr=0.1, warmup_iters=10, max_iters=110)
    assert lr_at(0, cfg) < lr_at(9, cfg) < 1.0
    assert lr_at(10, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.55)
    assert lr_at(110, cfg) == lr_at(500, cfg) == 0.1


def test_training_reduces_loss_and_learns_the_text(shards, tmp_path):
    cfg = tiny_config(shards, tmp_path / "run", max_iters=60, eval_interval=30,
                      model={"n_layer": 2, "n_head": 2, "n_embd": 48, "dropout": 0.0, "n_text_tokens": 2},
                      text_dropout=0.0, warmup_iters=5, lr=5e-3, block_size=48)
    summary = train(cfg, quiet=True)
    losses = train_losses(tmp_path / "run")
    first = np.mean([losses[i] for i in (1, 2, 3)])
    last = np.mean([losses[i] for i in (58, 59, 60)])
    assert last < first - 1.0, (first, last)
    vals = [r["val_loss"] for r in read_log(tmp_path / "run") if "val_loss" in r]
    assert len(vals) == 2 and summary["best_val_loss"] == min(vals)
    assert summary["tokens_seen"] > 0 and not summary["interrupted"]
    # the first header token names the style, and only the text tells the style
    model = MusicGPT.from_pretrained(tmp_path / "run" / "best")
    data = TokenShards(shards / "val")
    hits = 0
    for i in range(len(data)):
        seq = data.tokens[data.offsets[i]:data.offsets[i + 1]]
        text = torch.from_numpy(np.asarray(data.text[i:i + 1], dtype=np.float32))
        with torch.no_grad():
            pred = model(torch.tensor([[1]]), text).logits[0, -1].argmax().item()
        hits += pred == int(seq[1])
    assert hits >= len(data) // 2  # chance is 1 in 8


def test_resume_after_signal_reproduces_uninterrupted_run(shards, tmp_path):
    whole = tiny_config(shards, tmp_path / "whole")
    train(whole, quiet=True)

    def interrupt(it, loss):
        if it == 3:
            signal.raise_signal(signal.SIGTERM)

    parts = tiny_config(shards, tmp_path / "parts")
    first = train(parts, quiet=True, on_iter=interrupt)
    assert first["interrupted"] and first["iter"] == 3
    state = json.loads((tmp_path / "parts" / "ckpt" / "state.json").read_text())
    assert state["iter"] == 3 and isinstance(state["rng"]["torch_cpu"], list)
    assert not (tmp_path / "parts" / "export").exists()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers restored
    with pytest.raises(TrainError, match="--resume"):
        train(parts, quiet=True)
    second = train(parts, resume=True, quiet=True)
    assert second["iter"] == 8 and not second["interrupted"]

    a, b = train_losses(tmp_path / "whole"), train_losses(tmp_path / "parts")
    assert sorted(a) == sorted(b) == list(range(1, 9))
    for it in a:
        assert abs(a[it] - b[it]) <= 1e-6, (it, a[it], b[it])
    wa = MusicGPT.from_pretrained(tmp_path / "whole" / "ckpt").state_dict()
    wb = MusicGPT.from_pretrained(tmp_path / "parts" / "ckpt").state_dict()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6, rtol=0) for k in wa)
    # the optimizer state is safetensors too; nothing in the run folder is pickled
    files = {p.name for p in (tmp_path / "parts").rglob("*") if p.is_file()}
    assert "optimizer.safetensors" in files
    assert not any(n.endswith((".pt", ".pth", ".pkl", ".bin")) for n in files)


def test_export_writes_fp16_model_config_and_summary(shards, tmp_path):
    from safetensors import safe_open

    cfg = tiny_config(shards, tmp_path / "run", max_iters=4, eval_interval=2)
    summary = train(cfg, quiet=True, export_dir=tmp_path / "ship")
    ship = tmp_path / "ship"
    assert summary["export_dir"] == str(ship)
    assert sorted(p.name for p in ship.iterdir()) == ["config.json", "generation.json", "model.safetensors",
                                                      "train_summary.json"]
    with safe_open(str(ship / "model.safetensors"), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    info = json.loads((ship / "train_summary.json").read_text())
    assert info["iterations"] == 4 and info["tokens_seen"] == summary["tokens_seen"] > 0
    assert info["best_val_loss"] == summary["best_val_loss"] and info["exported_from"] == "best"
    assert info["wall_time_s"] >= 0 and info["n_params"] > 0
    shipped = MusicGPT.from_pretrained(ship)
    best = MusicGPT.from_pretrained(tmp_path / "run" / "best")
    idx = torch.tensor([[1, 4, 5, 6]])
    with torch.no_grad():
        assert (shipped(idx).logits - best(idx).logits).abs().max().item() < 1e-2


def test_export_carries_the_shards_tokenizer(shards, tmp_path):
    import shutil
    data = tmp_path / "data"
    shutil.copytree(shards, data)
    (data / "tokenizer.json").write_text('{"vocab": "of these shards"}')
    train(tiny_config(data, tmp_path / "run", max_iters=2, eval_interval=2), quiet=True, export_dir=tmp_path / "ship")
    assert (tmp_path / "ship" / "tokenizer.json").read_text() == '{"vocab": "of these shards"}'


def test_warm_start_from_exported_weights(shards, tmp_path):
    cfg = tiny_config(shards, tmp_path / "run", max_iters=4, eval_interval=2)
    train(cfg, quiet=True, export_dir=tmp_path / "ship")
    warm = tiny_config(shards, tmp_path / "run2", max_iters=1, eval_interval=1, init_from=str(tmp_path / "ship"))
    cold = tiny_config(shards, tmp_path / "run3", max_iters=1, eval_interval=1)
    w = train(warm, quiet=True)
    c = train(cold, quiet=True)
    assert w["best_val_loss"] < c["best_val_loss"]  # the warm start begins where the export left off
    with pytest.raises(Exception, match="holds no model.safetensors"):
        train(tiny_config(shards, tmp_path / "run4", max_iters=1, init_from=str(tmp_path)), quiet=True)


def test_a_grown_vocabulary_keeps_the_old_rows():
    old = {"wte.weight": torch.randn(5, 4), "wpe.weight": torch.randn(3, 4)}
    fresh = torch.randn(7, 4)
    grown = grow_vocab(old, fresh)
    assert torch.equal(grown["wte.weight"][:5], old["wte.weight"]) and torch.equal(grown["wte.weight"][5:], fresh[5:])
    assert grown["wpe.weight"] is old["wpe.weight"]
    assert grow_vocab(old, torch.randn(5, 4)) is old
    with pytest.raises(TrainError, match="embedding"):
        grow_vocab(old, torch.randn(4, 4))


def test_cli_main(shards, tmp_path, capsys):
    cfg = tiny_config(shards, tmp_path / "unused").to_dict()
    cfg.pop("out_dir"), cfg.pop("data_dir")
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    args = ["--config", str(tmp_path / "c.json"), "--data", str(shards), "--out", str(tmp_path / "run")]
    assert main(args + ["--max-iters", "2", "-q"]) == 0
    assert "2 iterations" in capsys.readouterr().out
    assert main(args + ["-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("composer: error:") and "--resume" in err
    assert main(args + ["--resume", "--max-iters", "4", "-q"]) == 0
    assert main(args + ["--export-only", "--export", str(tmp_path / "ship")]) == 0
    assert json.loads((tmp_path / "ship" / "train_summary.json").read_text())["iterations"] == 4
    # --max-iters left the config alone: a plain --resume goes on to its max_iters (8)
    assert main(args + ["--resume", "-q"]) == 0
    assert json.loads((tmp_path / "run" / "export" / "train_summary.json").read_text())["iterations"] == 8
    assert main(["--config", str(tmp_path / "missing.json")]) == 2
    (tmp_path / "bad.json").write_text(json.dumps({"batch_sise": 3}))
    assert main(["--config", str(tmp_path / "bad.json")]) == 2
    assert "batch_sise" in capsys.readouterr().err


def test_shipped_configs_load():
    for name in ("small", "tiny"):
        cfg = TrainConfig.load(name)
        assert cfg.name == name and cfg.lr_decay_iters == cfg.max_iters
    assert TrainConfig.load(ROOT / "configs" / "small.json").block_size == 512


def test_bad_data_is_reported(shards, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(shards, bad)
    np.save(bad / "train" / "offsets.npy", np.array([0, 5], dtype=np.int64))
    with pytest.raises(TrainError, match="offsets"):
        TokenShards(bad / "train")
    with pytest.raises(TrainError, match="not found"):
        train(tiny_config(tmp_path / "nowhere", tmp_path / "run"), quiet=True)


def test_ddp_path_imports():
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel  # noqa: F401
    assert dist.is_available()
    assert dist.is_gloo_available()


@pytest.mark.slow
def test_torchrun_two_processes_gloo(shards, tmp_path):
    import torch.distributed as dist
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    cfg = tiny_config(shards, tmp_path / "run", max_iters=4, eval_interval=2, threads=1).to_dict()
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "training.train", "--config", str(tmp_path / "c.json"), "-q"]
    try:
        res = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        if res.returncode != 0 and "terminate called without an active exception" in res.stderr:
            # gloo's threads now and then abort a rank as it exits on a loaded machine; a clean run once more
            shutil.rmtree(tmp_path / "run", ignore_errors=True)
            res = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip("torchrun did not finish in time on this machine")
    if res.returncode != 0 and ("socket" in res.stderr.lower() or "address" in res.stderr.lower()):
        pytest.skip(f"torchrun could not open its local rendezvous: {res.stderr[-300:]}")
    assert res.returncode == 0, res.stderr[-2000:]
    state = json.loads((tmp_path / "run" / "ckpt" / "state.json").read_text())
    assert state["world_size"] == 2 and state["iter"] == 4
    assert (tmp_path / "run" / "export" / "model.safetensors").is_file()
    # each rank trained on its own batches: the tokens seen are the sum over both ranks
    log = read_log(tmp_path / "run")
    assert log[-1]["iter"] == 4 and state["tokens_seen"] == max(r.get("tokens_seen", 0) for r in log)


def test_transpose_table_moves_real_sequences(tmp_path):
    from symbolic.score import Bar, Note
    from symbolic.tokenizer import MusicTokenizer
    from training.train import MAX_TRANSPOSE, transpose_table

    tok = MusicTokenizer.default()
    tok.save(tmp_path / "tokenizer.json")
    table = transpose_table(tmp_path, tok.vocab_size)
    assert table.shape == (2 * MAX_TRANSPOSE + 1, tok.vocab_size)
    assert (table[MAX_TRANSPOSE] == np.arange(tok.vocab_size)).all()
    assert (table[MAX_TRANSPOSE + 3] == tok.transpose_map(3)).all()
    assert (tmp_path / "transpose.npy").is_file()  # made once, then read without the tokenizer
    (tmp_path / "tokenizer.json").unlink()
    assert (transpose_table(tmp_path, tok.vocab_size) == table).all()
    with pytest.raises(TrainError, match="shape"):
        transpose_table(tmp_path, tok.vocab_size + 1)

    bars = [(Bar(i * 1920, 4, 4), [(0, ["Dm", "A7"][i])]) for i in range(2)]  # chord ticks count from the bar
    notes = [Note(0, 480, 62, 80), Note(480, 960, 65, 80), Note(1920, 2880, 69, 90), Note(2880, 3840, 73, 90)]
    seq = np.array(tok.encode(notes, bars, {"role": "melody", "program": 40, "key": "D minor"}), dtype=np.uint16)
    shards = TokenShards.__new__(TokenShards)
    shards.transpose_table = table
    down = shards.transpose(seq, -2)
    assert down.dtype == seq.dtype and len(down) == len(seq)
    header, moved, chords = tok.decode(down.tolist())
    _, original, _ = tok.decode(seq.tolist())
    assert [n.pitch for n in moved] == [n.pitch - 2 for n in original]
    assert [(n.start, n.end) for n in moved] == [(n.start, n.end) for n in original]
    assert header["key"] == (0, "minor") and [c[0][1].root for c in chords] == [0, 7]
    assert shards.transpose(seq, 0) is seq
    high = np.array(tok.encode([Note(0, 480, 106, 80)], bars[:1], {"role": "melody", "program": 40}),
                    dtype=np.uint16)
    assert (shards.transpose(high, 5) == high).all()  # out of range: the row stays as it was


def test_training_with_transposition(shards, tmp_path):
    from training.train import MAX_TRANSPOSE

    data = tmp_path / "data"
    shutil.copytree(shards, data)
    # the synthetic body tokens 12..47 stand in for pitches: a shift moves them, off the ends is -1
    table = np.tile(np.arange(48), (2 * MAX_TRANSPOSE + 1, 1))
    for k in range(-MAX_TRANSPOSE, MAX_TRANSPOSE + 1):
        body = np.arange(12, 48) + k
        table[k + MAX_TRANSPOSE, 12:] = np.where((body >= 12) & (body < 48), body, -1)
    np.save(data / "transpose.npy", table)
    cfg = tiny_config(data, tmp_path / "run", transpose=3, max_iters=4, eval_interval=4)
    train_data = TokenShards(data / "train")
    train_data.transpose_table = table
    plain, _, _ = train_data.batch(batch_rng(7, 0, 0, 0), tiny_config(data, tmp_path / "x"))
    moved, _, _ = train_data.batch(batch_rng(7, 0, 0, 0), cfg)
    assert not torch.equal(plain, moved)
    summary = train(cfg, quiet=True)
    assert summary["finished"] and np.isfinite(summary["best_val_loss"])
    with pytest.raises(TrainError, match="transpose must be"):
        tiny_config(data, tmp_path / "y", transpose=13)


def test_wall_clock_budget_sets_the_schedule_and_the_end(shards, tmp_path):
    cfg = TrainConfig(lr=1.0, min_lr=0.1, warmup_iters=10, max_iters=10_000, max_minutes=2.0)
    assert lr_at(5, cfg, 0.0) == lr_at(5, TrainConfig(lr=1.0, min_lr=0.1, warmup_iters=10))  # warmup by steps
    assert lr_at(500, cfg, 60.0) == pytest.approx(0.55)
    assert lr_at(500, cfg, 120.0) == lr_at(20, cfg, 500.0) == pytest.approx(0.1)
    with pytest.raises(TrainError, match="max_minutes"):
        TrainConfig(max_minutes=0)
    run = tiny_config(shards, tmp_path / "run", max_iters=100_000, eval_interval=50, max_minutes=0.02)
    summary = train(run, quiet=True, export_dir=tmp_path / "ship")
    assert summary["finished"] and not summary["interrupted"] and 0 < summary["iter"] < 100_000
    assert summary["wall_time_s"] >= 1.2
    assert (tmp_path / "ship" / "model.safetensors").is_file()
    lrs = [r["lr"] for r in read_log(tmp_path / "run") if "lr" in r]
    assert lrs[-1] < 0.5 * max(lrs)  # decayed with the time spent


def test_pack_shards_round_trip(shards, tmp_path):
    """scripts/pack_shards.py carries a shard folder in one file and restores it bit for bit."""
    script = ROOT / "scripts" / "pack_shards.py"
    data = tmp_path / "data"
    shutil.copytree(shards, data)
    (data / "tokenizer.json").write_text('{"vocab": "x"}')
    # the tracks of one piece share a caption: repeat embeddings as the real build does
    text = np.load(data / "train" / "text.npy")
    text[1::2] = text[0::2][: len(text[1::2])]
    np.save(data / "train" / "text.npy", text)
    def run(*a):
        return subprocess.run([sys.executable, str(script), *a], capture_output=True, text=True)
    res = run("pack", str(data), str(tmp_path / "p.npz"))
    assert res.returncode == 0, res.stderr
    res = run("unpack", str(tmp_path / "p.npz"), str(tmp_path / "back"))
    assert res.returncode == 0, res.stderr
    for rel in ("train/tokens.npy", "train/offsets.npy", "train/text.npy", "val/text.npy", "val/meta.json",
                "tokenizer.json"):
        assert (tmp_path / "back" / rel).read_bytes() == (data / rel).read_bytes(), rel
    assert not (tmp_path / "back" / "test").exists()  # train and val unless --splits says more
    assert TokenShards(tmp_path / "back" / "train").n_tokens == TokenShards(data / "train").n_tokens
    res = run("pack", str(tmp_path / "nowhere"), str(tmp_path / "q.npz"))
    assert res.returncode == 2 and res.stderr.startswith("pack_shards: error:")


def test_a_window_keeps_the_context_block_with_the_header(tmp_path):
    tok = MusicTokenizer()
    from symbolic.score import Bar, Note
    from symbolic.tokenizer import TokBar
    bars = [TokBar(Bar(i * 1920, 4, 4), ((0, "C"),)) for i in range(8)]
    notes = [Note(b.bar.start + k * 120, b.bar.start + k * 120 + 120, 60 + k % 12, 80) for b in bars for k in range(16)]
    melody = [Note(b.bar.start + k * 480, b.bar.start + k * 480 + 480, 72, 80) for b in bars for k in range(4)]
    seq = np.asarray(tok.encode(notes, bars, {"role": "arpeggio"}, {"melody": melody}), dtype=np.int64)
    data = TokenShards.__new__(TokenShards)
    data.bar_id, data.ctx_end_id = tok.bar_id, tok.ctx_end_id
    prefix = int(np.flatnonzero(seq == tok.ctx_end_id)[0]) + 1
    assert len(seq) > 200 and prefix > 40
    rng = np.random.default_rng(0)
    for _ in range(10):
        c = data.crop(seq, rng, 160, "window", 10)
        assert len(c) == 161 and (c[:prefix] == seq[:prefix]).all() and c[prefix] == tok.bar_id


def test_the_context_block_carries_no_loss(tmp_path):
    tok = MusicTokenizer()
    from symbolic.score import Bar, Note
    from symbolic.tokenizer import TokBar
    bars = [TokBar(Bar(i * 1920, 4, 4), ((0, "C"),)) for i in range(2)]
    seq = np.asarray(tok.encode([Note(0, 480, 64, 80)], bars, {"role": "pad"},
                                {"melody": [Note(0, 480, 72, 80), Note(1920, 2400, 74, 80)]}), dtype=np.uint16)
    data = TokenShards.__new__(TokenShards)
    data.bar_id, data.ctx_end_id, data.pad_id, data.transpose_table = tok.bar_id, tok.ctx_end_id, tok.pad_id, None
    data.tokens, data.offsets, data.text = seq, np.array([0, len(seq)]), np.zeros((1, 4), np.float16)
    data.lengths, data._cdf = np.array([len(seq)]), np.array([1.0])
    cfg = TrainConfig(name="t", data_dir=str(tmp_path), out_dir=str(tmp_path), batch_size=1, block_size=64,
                      text_dropout=0.0)
    x, y, _ = data.batch(np.random.default_rng(0), cfg, training=False)
    end = int(np.flatnonzero(seq == tok.ctx_end_id)[0])
    assert (y[0, :9] == torch.as_tensor(seq[1:10].astype(np.int64))).all()   # the header is learnt
    assert (y[0, 9:end] == IGNORE_INDEX).all()                                # the context block is given
    assert y[0, end] == tok.bar_id and (y[0, end:len(seq) - 1] != IGNORE_INDEX).all()


def test_tuning_trains_only_the_named_tokens_rows(shards, tmp_path):
    """With `tune`, a warm start changes only the embedding rows of the named tokens; every other
    weight stays as it was, and the loss still falls."""
    from safetensors.torch import load_file

    train(tiny_config(shards, tmp_path / "run", max_iters=4, eval_interval=4), quiet=True, export_dir=tmp_path / "ship")
    data = tmp_path / "data"
    shutil.copytree(shards, data)
    names = [f"T_{i}" for i in range(48)]
    names[4:12] = [f"Style_{i}" for i in range(8)]  # the synthetic header's style tokens
    (data / "tokenizer.json").write_text(json.dumps({"vocab": names}))
    cfg = tiny_config(data, tmp_path / "tuned", max_iters=12, eval_interval=4, lr=3e-2,
                      init_from=str(tmp_path / "ship"), tune=["Style_"])
    out = train(cfg, quiet=True)
    before = {k: v.float() for k, v in load_file(str(tmp_path / "ship" / "model.safetensors")).items()}
    after = load_file(str(tmp_path / "tuned" / "ckpt" / "model.safetensors"))
    for k, v in after.items():
        if k == "wte.weight":
            moved = (v - before[k]).abs().sum(1) > 0
            assert moved[4:12].all() and not moved[:4].any() and not moved[12:].any()
        else:
            assert torch.allclose(v, before[k], atol=1e-3), k  # fp16 export vs fp32 checkpoint
    assert out["best_val_loss"] is not None
    with pytest.raises(TrainError, match="init_from"):
        tiny_config(data, tmp_path / "x", tune=["Style_"])
    with pytest.raises(TrainError, match="no token"):
        train(tiny_config(data, tmp_path / "y", max_iters=1, init_from=str(tmp_path / "ship"), tune=["Nope_"]), quiet=True)
