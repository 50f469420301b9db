"""The performance model's offline steps:

    python -m training.perform build   [--data DIR]            # (feature, target) arrays -> ~/.cache/composer/perform
    python -m training.perform train   [--minutes M] [--out DIR]
    python -m training.perform eval    [--out docs/EVAL_PERFORMANCE.md]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from symbolic.perform.features import WEIGHTS_DIR

from .data import build, cache_dir
from .evaluate import eval_markdown, evaluate
from .train import train


def main(argv: list[str] | None = None) -> int:
    from training.corpora import default_data_dir
    ap = argparse.ArgumentParser(prog="python -m training.perform")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--data", default=None)
    b.add_argument("--cache", default=None)
    b.add_argument("--limit", type=int)
    t = sub.add_parser("train")
    t.add_argument("--cache", default=None)
    t.add_argument("--out", default=str(WEIGHTS_DIR))
    t.add_argument("--minutes", type=float, default=8.0)
    t.add_argument("--rare-boost", type=float, default=1.0, help="rare classes' weight ~ 1 / frequency ** this")
    e = sub.add_parser("eval")
    e.add_argument("--cache", default=None)
    e.add_argument("--weights", default=None)
    e.add_argument("--split", default="test", choices=["test", "val"], help="val: Groove's validation split")
    e.add_argument("--out", default=None, help="default: docs/EVAL_PERFORMANCE.md for test, CACHE/eval_val.md for val")
    args = ap.parse_args(argv)
    cache = Path(args.cache) if getattr(args, "cache", None) else cache_dir()
    if args.cmd == "build":
        build(Path(args.data) if args.data else default_data_dir(), cache, args.limit)
    elif args.cmd == "train":
        train(cache, Path(args.out), args.minutes, rare_boost=args.rare_boost)
    else:
        res = evaluate(cache, Path(args.weights) if args.weights else None, split=args.split)
        test = args.split == "test"
        command = "python -m training.perform eval" + ("" if test else f" --split {args.split}")
        text = "# Performance evaluation\n" + eval_markdown(res, command).split("\n", 1)[1]
        # The validation table is for choosing settings: it never replaces the held-out one in docs/.
        out = Path(args.out) if args.out else Path("docs/EVAL_PERFORMANCE.md") if test else cache / f"eval_{args.split}.md"
        out.write_text(text)
        (cache / ("eval.json" if test else f"eval_{args.split}.json")).write_text(json.dumps(res, indent=1))
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
