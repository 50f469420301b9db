"""Does the model read its Style token? Held-out sequences scored under every style family.

    python -m training.style_probe [--weights DIR] [--data DIR] [--n 40] [--split val]

For each style family in the split, up to N sequences (their first 512 tokens) are scored with the
Style token they were labelled with and with each other family's, the text left empty (captions name
the genre, so the text alone could carry the style). Printed per family: the mean loss per body token
with the true label, with the label changed to pop (folk for pop), and how often the true family
scores best of all. A model that ignores the token scores every label alike.
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
def body_losses(model: MusicGPT, rows: list[np.ndarray]) -> np.ndarray:
    """Mean next-token loss over the tokens after the header, one value per row (rows of one length)."""
    x = torch.as_tensor(np.stack(rows), dtype=torch.long)
    logits = model(x[:, :-1]).logits.float()
    loss = F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none")
    return loss[:, HEADER_LEN - 1:].mean(dim=1).numpy()


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
            losses = body_losses(model, rows)
            by_fam = {fam_of[sid]: float(v) for sid, v in zip(style_ids, losses)}
            true_l.append(by_fam[fam])
            other_l.append(by_fam[other])
            best += min(by_fam, key=by_fam.get) == fam  # type: ignore[arg-type]
        out[fam] = {"sequences": len(seqs), "loss": float(np.mean(true_l)), "other": other,
                    "loss_other": float(np.mean(other_l)), "true_best": best / len(seqs)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.style_probe", description=__doc__.split("\n")[0])
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
    model = MusicGPT.from_pretrained(args.weights)
    tok = MusicTokenizer.in_folder(args.weights)
    res = probe(model, TokenShards(data_dir / args.split), tok, args.n, model.config.block_size)
    print("| style | sequences | loss (true style) | loss (other style) | true style best of "
          f"{len(FAMILIES)} |\n| --- | --- | --- | --- | --- |")
    for fam, r in res.items():
        print(f"| {fam} | {r['sequences']} | {r['loss']:.3f} | {r['loss_other']:.3f} ({r['other']}) | {r['true_best']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
