"""Does the model read its control tokens? Held-out sequences scored with and without what they say.

    python -m training.probe style   [--weights DIR] [--data DIR] [--n 40] [--split val]
    python -m training.probe context [--weights DIR] [--data DIR] [--n 40] [--split val]

style: for each style family in the split, up to N sequences (their first 512 tokens) are scored with the
Style token they were labelled with and with each other family's, the text left empty (captions name
the genre, so the text alone could carry the style). Printed per family: the mean loss per body token
with the true label, with the label changed to pop (folk for pop), and how often the true family
scores best of all. A model that ignores the token scores every label alike.

context: for each role that hears other parts, up to N sequences with a context block are scored as
they are, with the block emptied (only Ctx_end), and with the block of another piece's sequence of the
same role (the same length of bars); the loss is over the part's own bars. A model that listens scores
the true block best.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from symbolic.model import MusicGPT
from symbolic.style import FAMILIES
from symbolic.tokenizer import HEADER_LEN, TOKENIZER_PATH, MusicTokenizer
from training.train import TokenShards, default_shard_dir


@torch.no_grad()
def body_losses(model: MusicGPT, rows: list[np.ndarray], ctx_end: int | None = None) -> np.ndarray:
    """Mean next-token loss over a part's own bars (after the header and, when `ctx_end` is given, the context
    block, which the model is given rather than asked to write), one value per row (rows of one length
    whose blocks end at one place)."""
    x = torch.as_tensor(np.stack(rows), dtype=torch.long)
    logits = model(x[:, :-1]).logits.float()
    loss = F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none")
    start = HEADER_LEN - 1
    if ctx_end is not None and ctx_end in rows[0]:
        start = int(np.flatnonzero(rows[0] == ctx_end)[0])
    return loss[:, start:].mean(dim=1).numpy()


@torch.no_grad()
def own_loss(model: MusicGPT, seq: np.ndarray, ctx_end: int) -> float:
    """Mean next-token loss over a sequence's own bars (after its context block)."""
    x = torch.as_tensor(seq[None], dtype=torch.long)
    logits = model(x[:, :-1]).logits.float()
    loss = F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none")[0]
    start = int(np.flatnonzero(seq == ctx_end)[0])  # predicting the first Bar after the block onwards
    return float(loss[start:].mean())


def context_probe(model: MusicGPT, data: TokenShards, tok: MusicTokenizer, n: int = 40, block: int = 512) -> dict:
    end_id, melody_id = tok.ctx_end_id, tok.vocab["Ctx_melody"]
    by_role: dict[str, list[np.ndarray]] = defaultdict(list)
    for k in range(len(data)):
        seq = np.asarray(data.tokens[data.offsets[k]:data.offsets[k + 1]], dtype=np.int64)[:block + 1]
        if len(seq) <= HEADER_LEN + 8 or seq[HEADER_LEN] != melody_id or end_id not in seq[:-8]:
            continue
        role = tok.token(int(seq[1])).split("_", 1)[1]
        if len(by_role[role]) < n:
            by_role[role].append(seq)
    out = {}
    for role, seqs in sorted(by_role.items()):
        true_l, none_l, other_l = [], [], []
        for i, seq in enumerate(seqs):
            end = int(np.flatnonzero(seq == end_id)[0])
            body = seq[end:]
            donor = seqs[(i + 1) % len(seqs)]
            d_end = int(np.flatnonzero(donor == end_id)[0])
            true_l.append(own_loss(model, seq, end_id))
            none_l.append(own_loss(model, np.concatenate([seq[:HEADER_LEN], body]), end_id))
            other_l.append(own_loss(model, np.concatenate([seq[:HEADER_LEN], donor[HEADER_LEN:d_end], body])[:block + 1],
                                    end_id))
        out[role] = {"sequences": len(seqs), "true": float(np.mean(true_l)), "none": float(np.mean(none_l)),
                     "other": float(np.mean(other_l)),
                     "true_best": float(np.mean([t < min(a, b) for t, a, b in zip(true_l, none_l, other_l)]))}
    return out


def probe(model: MusicGPT, data: TokenShards, tok: MusicTokenizer, n: int = 40, block: int = 512) -> dict:
    style_ids = tok.ids_of("Style_")
    fam_of = {i: tok.token(i).split("_", 1)[1] for i in style_ids}
    pos = HEADER_LEN - 1
    picked: dict[str, list[np.ndarray]] = defaultdict(list)
    for k in range(len(data)):
        seq = np.asarray(data.tokens[data.offsets[k]:data.offsets[k + 1]], dtype=np.int64)[:block + 1]
        if len(seq) <= HEADER_LEN + 8 or int(seq[pos]) not in fam_of:
            continue
        fam = fam_of[int(seq[pos])]
        if len(picked[fam]) < n:
            picked[fam].append(seq)
    out = {}
    for fam, seqs in sorted(picked.items()):
        other = "folk" if fam == "pop" else "pop"
        true_l, other_l, best = [], [], 0
        for seq in seqs:
            rows = []
            for sid in style_ids:
                r = seq.copy()
                r[pos] = sid
                rows.append(r)
            losses = body_losses(model, rows, tok.ctx_end_id)
            by_fam = {fam_of[sid]: float(v) for sid, v in zip(style_ids, losses)}
            true_l.append(by_fam[fam])
            other_l.append(by_fam[other])
            best += min(by_fam, key=by_fam.get) == fam  # type: ignore[arg-type]
        out[fam] = {"sequences": len(seqs), "loss": float(np.mean(true_l)), "other": other,
                    "loss_other": float(np.mean(other_l)), "true_best": best / len(seqs)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.probe", description=__doc__.split("\n")[0])
    p.add_argument("which", choices=("style", "context"))
    p.add_argument("--weights", type=Path, default=TOKENIZER_PATH.parent, help="model folder (default: the shipped one)")
    p.add_argument("--data", type=Path, default=None, help="shard folder (default: $COMPOSER_CACHE or ~/.cache/composer/data)")
    p.add_argument("--split", default="val")
    p.add_argument("--n", type=int, default=40, help="sequences per family")
    args = p.parse_args(argv)
    data_dir = args.data or default_shard_dir()
    if not (data_dir / args.split).is_dir():
        print(f"error: no {args.split} split in {data_dir}", file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    try:
        model = MusicGPT.from_pretrained(args.weights)
        tok = MusicTokenizer.in_folder(args.weights)
    except (OSError, ValueError) as exc:  # TokenizerError is a ValueError
        print(f"error: cannot load the model in {args.weights}: {exc}", file=sys.stderr)
        return 2
    data = TokenShards(data_dir / args.split)
    if args.which == "context":
        got = context_probe(model, data, tok, args.n, model.config.block_size)
        print("| role | sequences | loss (its own context) | loss (no context) | loss (another piece's) | own best |\n"
              "| --- | --- | --- | --- | --- | --- |")
        for role, c in got.items():
            print(f"| {role} | {c['sequences']} | {c['true']:.3f} | {c['none']:.3f} | {c['other']:.3f} | {c['true_best']:.2f} |")
        return 0
    res = probe(model, data, tok, args.n, model.config.block_size)
    print("| style | sequences | loss (true style) | loss (other style) | true style best of "
          f"{len(FAMILIES)} |\n| --- | --- | --- | --- | --- |")
    for fam, r in res.items():
        print(f"| {fam} | {r['sequences']} | {r['loss']:.3f} | {r['loss_other']:.3f} ({r['other']}) | {r['true_best']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
