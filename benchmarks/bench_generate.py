"""Transformer arranging speed, measured in one run.

Prints: the time to plan and arrange the 3-minute, 4-track demo brief with the transformer arranger
(plan-constrained, batched, with the key/value cache), its realtime factor, tokens per second, and the
throughput of naive generation with the same weights (no cache, one sequence at a time) on the same
prompts, as a ratio; and the peak resident memory.

    python benchmarks/bench_generate.py [--weights DIR] [--naive-rows 4]

Without trained weights (none shipped yet, or --random) a model with the shipped config and random
weights is used: speed does not depend on the weights' values.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BRIEF = ("Upbeat pop song in E major, 4/4 at 120 bpm, with piano, electric bass and drums, "
         "verse-chorus form, about three minutes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="trained model folder (default: the shipped one)")
    ap.add_argument("--random", action="store_true", help="random weights with configs/small.json's shape")
    ap.add_argument("--naive-rows", type=int, default=4, help="sequences for the naive baseline")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()

    import torch

    from composer.planner import plan_from_brief
    from symbolic.arrange.transformer import WEIGHTS_DIR, TransformerArranger
    from symbolic.model import ModelConfig, MusicGPT
    from symbolic.tokenizer import MusicTokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    folder = Path(args.weights) if args.weights else WEIGHTS_DIR
    if not args.random and (folder / "model.safetensors").exists():
        arr = TransformerArranger.load(folder, text=True)
        what = f"trained weights in {folder}"
    else:
        cfg = json.loads((ROOT / "configs" / "small.json").read_text())["model"]
        tok = MusicTokenizer.default()
        torch.manual_seed(0)
        model = MusicGPT(ModelConfig(vocab_size=tok.vocab_size, block_size=1024, **{k: v for k, v in cfg.items()
                                                                                    if k != "dropout"}))
        arr = TransformerArranger(model, tok, None)
        what = "random weights, configs/small.json shape"
    n_params = sum(p.numel() for p in arr.model.parameters())

    t0 = time.perf_counter()
    plan = plan_from_brief(BRIEF, 0)
    t_plan = time.perf_counter() - t0
    sheet = plan.to_sheet()
    counted = {"tokens": 0}
    orig = arr._advance

    def counting(row, token):
        counted["tokens"] += 1
        return orig(row, token)
    arr._advance = counting
    t0 = time.perf_counter()
    score = arr.arrange(sheet, seed=0, brief=BRIEF)
    t_arr = time.perf_counter() - t0
    arr._advance = orig
    duration = score.duration
    ours_tps = counted["tokens"] / t_arr

    # Naive: the same kind of prompts, one at a time, the whole sequence recomputed each step.
    rows = arr._rows(sheet, [(1, i) for i in range(len(sheet.parts))], 1)[: args.naive_rows]
    new_tokens = 96
    t0 = time.perf_counter()
    made = 0
    for r in rows:
        out = arr.model.generate_naive([r.prompt + r.forced[0]], None, max_new_tokens=new_tokens, temperature=1.0,
                                       eos_id=arr.tok.eos_id)
        made += len(out[0]) - len(r.prompt) - len(r.forced[0])
    t_naive = time.perf_counter() - t0
    naive_tps = made / t_naive
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"model: {n_params / 1e6:.1f}M parameters ({what}); torch threads {torch.get_num_threads()}")
    print(f"piece: {len(score.parts)} tracks, {plan.total_bars} bars, {duration:.0f} s, {score.n_notes} notes")
    print(f"plan: {t_plan:.3f} s; arrange (transformer): {t_arr:.1f} s; plan + arrange {t_plan + t_arr:.1f} s = "
          f"{duration / (t_plan + t_arr):.1f}x faster than the music plays")
    print(f"tokens: ours {counted['tokens']} in {t_arr:.1f} s = {ours_tps:.0f} tokens/s (batched, cached, constrained)")
    print(f"naive: {made} tokens in {t_naive:.1f} s = {naive_tps:.0f} tokens/s (no cache, one sequence at a time)")
    print(f"throughput ratio ours / naive: {ours_tps / naive_tps:.1f}x")
    print(f"peak resident memory: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
