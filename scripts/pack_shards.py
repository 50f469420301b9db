"""Carry a token shard folder to another machine in one small file, and unpack it there.

    python scripts/pack_shards.py pack [DATA] OUT.npz [--splits train val]
    python scripts/pack_shards.py unpack PACK.npz DATA

The shard folder (``python -m training.shards build``) is mostly text embeddings, one per sequence,
but the tracks of one piece share a caption: packing keeps each distinct embedding once with an
index, and compresses the tokens. Unpacking needs only numpy and rebuilds the splits'
tokens.npy, offsets.npy, text.npy and meta.json (plus tokenizer.json and transpose.npy when the
folder has them) bit for bit, ready for ``python -m training.train --data DATA``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

EXTRAS = ("tokenizer.json", "transpose.npy")


def default_shard_dir() -> Path:
    """training.train's default, repeated here so that this script runs with numpy alone (no torch)."""
    env = os.environ.get("COMPOSER_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "composer" / "data"


def pack(data: Path, out: Path, splits: list[str]) -> dict:
    arrays: dict[str, np.ndarray] = {}
    info = {"splits": [], "extras": []}
    for split in splits:
        d = data / split
        if not (d / "tokens.npy").is_file():
            raise FileNotFoundError(f"no {d / 'tokens.npy'}")
        text = np.load(d / "text.npy")
        unique, inverse = np.unique(text, axis=0, return_inverse=True)
        arrays[f"{split}.tokens"] = np.load(d / "tokens.npy")
        arrays[f"{split}.offsets"] = np.load(d / "offsets.npy")
        arrays[f"{split}.text_rows"] = unique
        arrays[f"{split}.text_index"] = inverse.reshape(-1).astype(np.int32)
        meta = d / "meta.json" if (d / "meta.json").is_file() else data / "meta.json"
        arrays[f"{split}.meta"] = np.frombuffer(meta.read_bytes(), dtype=np.uint8)
        info["splits"].append(split)
    for name in EXTRAS:
        if (data / name).is_file():
            arrays[f"extra.{name}"] = np.frombuffer((data / name).read_bytes(), dtype=np.uint8)
            info["extras"].append(name)
    arrays["info"] = np.frombuffer(json.dumps(info).encode(), dtype=np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return info


def unpack(pack_file: Path, data: Path) -> dict:
    with np.load(pack_file, allow_pickle=False) as z:
        info = json.loads(z["info"].tobytes())
        for split in info["splits"]:
            d = data / split
            d.mkdir(parents=True, exist_ok=True)
            np.save(d / "tokens.npy", z[f"{split}.tokens"])
            np.save(d / "offsets.npy", z[f"{split}.offsets"])
            np.save(d / "text.npy", z[f"{split}.text_rows"][z[f"{split}.text_index"]])
            (d / "meta.json").write_bytes(z[f"{split}.meta"].tobytes())
        for name in info["extras"]:
            (data / name).write_bytes(z[f"extra.{name}"].tobytes())
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("paths", nargs="+", help="[DATA] OUT.npz")
    p.add_argument("--splits", nargs="+", default=["train", "val"])
    u = sub.add_parser("unpack")
    u.add_argument("pack_file")
    u.add_argument("data")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "pack":
            if len(args.paths) > 2:
                ap.error("pack takes [DATA] OUT.npz")
            data = Path(args.paths[0]) if len(args.paths) == 2 else default_shard_dir()
            out = Path(args.paths[-1])
            info = pack(data, out, args.splits)
            print(f"packed {', '.join(info['splits'])} of {data} into {out} ({out.stat().st_size / 1e6:.1f} MB)")
        else:
            info = unpack(Path(args.pack_file), Path(args.data))
            print(f"unpacked {', '.join(info['splits'])} into {args.data}")
    except (OSError, KeyError, ValueError) as e:
        print(f"pack_shards: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
