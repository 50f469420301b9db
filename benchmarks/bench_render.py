"""Rendering speed: audio.render against the fluidsynth command line on the same MIDI file.

    python benchmarks/bench_render.py [--midi PATH | --parts N] [--soundfont SF] [--repeats 3] [--naive]

Without --midi it writes a deterministic 3-minute piece (piano, bass, strings,
lead and drums, 5451 notes; --parts adds more) built as a Score. Each
contender runs `--repeats` times, taking turns, and its best wall time counts:

  cli          fluidsynth -ni -g 0.2 -r 44100 -F out.wav SF piece.mid  (subprocess)
  mix          render_score(..., mix_path=mix.wav, with_stems=False)
  mix+stems    render_score(..., mix_path=mix.wav, stems_dir=stems/)
  1 synth      the same with workers=1 (a single core)
  pretty_midi  pretty_midi.PrettyMIDI(piece).fluidsynth(44100, SF) (with --naive; synthesis only, no file)

The table gives wall and CPU seconds, the realtime factor (seconds of music per
wall second) and the throughput ratio against the CLI (>1 means faster).
"""
from __future__ import annotations

import argparse
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audio.render import default_workers, fluidsynth_version, render_score  # noqa: E402
from audio.soundfont import find_soundfont  # noqa: E402
from symbolic.midi_io import midi_bytes, read_midi  # noqa: E402
from symbolic.score import PPQ, Bar, Note, Part, Score  # noqa: E402

# I-vi-IV-V style progression in C major / A minor, as (root pitch class, minor?)
PROGRESSION = [(0, False), (9, True), (5, False), (7, False), (2, True), (7, False), (0, False), (4, True)]


EXTRA_PROGRAMS = [24, 40, 52, 56, 61, 65, 68, 71, 80, 89, 19, 46, 11, 60, 32, 0, 33, 48, 73, 26, 42, 57, 64, 70, 74, 81, 90]


def make_piece(seconds: float = 180.0, bpm: float = 120.0, seed: int = 7, parts: int = 5) -> Score:
    """A deterministic multi-track piece: piano arpeggios and chords, bass, string pads, a lead and drums.

    With parts > 5, further parts copy the four melodic ones in turn on other
    GM programs, keeping every other note.
    """
    rng = random.Random(seed)
    bar_len = 4 * PPQ
    n_bars = int(round(seconds * bpm / 60 / 4))
    score = Score(title="bench")
    score.tempos = [(0, bpm)]
    score.bars = [Bar(i * bar_len, 4, 4) for i in range(n_bars)]
    piano = Part("Piano", 0, role="chords")
    bass = Part("Bass", 33, role="bass")
    strings = Part("Strings", 48, role="pad")
    lead = Part("Lead", 73, role="melody")
    drums = Part("Drums", 0, is_drum=True, role="drums")
    eighth, sixteenth = PPQ // 2, PPQ // 4
    scale = [0, 2, 4, 5, 7, 9, 11]
    for b in range(n_bars):
        t0 = b * bar_len
        root, minor = PROGRESSION[b % len(PROGRESSION)]
        triad = [root, root + (3 if minor else 4), root + 7]
        # piano: a 16th-note arpeggio over two octaves plus a chord on beats 1 and 3
        arp = [48 + p for p in triad] + [60 + p for p in triad]
        for k in range(16):
            pitch = arp[(k * 5 + b) % len(arp)] if k % 4 else arp[k % len(arp)]
            piano.notes.append(Note(t0 + k * sixteenth, t0 + (k + 1) * sixteenth, pitch, 60 + rng.randrange(25)))
        for beat in (0, 2):
            for p in triad:
                piano.notes.append(Note(t0 + beat * PPQ, t0 + (beat + 2) * PPQ - 30, 60 + p, 70))
        # bass: eighth notes on root and fifth
        for k in range(8):
            p = 36 + (root if k % 4 != 3 else root + 7) % 12
            bass.notes.append(Note(t0 + k * eighth, t0 + (k + 1) * eighth - 20, p, 90 + rng.randrange(20)))
        # strings: sustained four-note voicing for the whole bar
        for p in triad + [root + 12]:
            strings.notes.append(Note(t0, t0 + bar_len, 55 + (p % 12) + (12 if p % 12 < 5 else 0), 64))
        # lead: a random walk on the scale in eighths and quarters
        t = t0
        step = rng.randrange(7)
        while t < t0 + bar_len:
            dur = eighth if rng.random() < 0.6 else PPQ
            step = max(0, min(13, step + rng.choice((-2, -1, 1, 1, 2))))
            pitch = 72 + scale[step % 7] + 12 * (step // 7)
            lead.notes.append(Note(t, min(t + dur, t0 + bar_len), pitch, 80 + rng.randrange(30)))
            t += dur
        # drums: kick, snare, 16th hats, a crash every 8 bars
        for k in range(16):
            t = t0 + k * sixteenth
            drums.notes.append(Note(t, t + sixteenth, 42, 60 + rng.randrange(30)))
            if k in (0, 8, 10) or (k == 14 and rng.random() < 0.5):
                drums.notes.append(Note(t, t + sixteenth, 36, 110))
            if k in (4, 12):
                drums.notes.append(Note(t, t + sixteenth, 38, 105))
        if b % 8 == 0:
            drums.notes.append(Note(t0, t0 + PPQ, 49, 100))
    score.parts = [piano, bass, strings, lead, drums]
    melodic = score.parts[:4]
    for k in range(max(0, parts - 5)):
        src = melodic[k % 4]
        notes = [Note(n.start, n.end, n.pitch, n.velocity) for n in src.notes[k % 2::2]]
        score.parts.append(Part(f"{src.name} {k + 2}", EXTRA_PROGRAMS[k % len(EXTRA_PROGRAMS)], role=src.role, notes=notes))
    for p in score.parts:
        p.sort()
    return score


def measure(contenders: list[tuple[str, Callable[[], None], bool]], repeats: int) -> dict[str, tuple[float, float]]:
    """Best wall time per contender (and the CPU seconds of that run), running them in turn each round."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(repeats):
        for name, fn, child in contenders:
            cpu0 = _child_cpu() if child else time.process_time()
            t0 = time.perf_counter()
            fn()
            wall = time.perf_counter() - t0
            cpu = (_child_cpu() if child else time.process_time()) - cpu0
            if name not in best or wall < best[name][0]:
                best[name] = (wall, cpu)
    return best


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--midi", type=Path, help="MIDI file to render (default: a generated 3-minute piece)")
    ap.add_argument("--soundfont", type=Path, help="SoundFont (default: the one find_soundfont returns)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--parts", type=int, default=5, help="parts in the generated piece (5 to 32)")
    ap.add_argument("--naive", action="store_true", help="also time pretty_midi's fluidsynth()")
    ap.add_argument("--keep", type=Path, help="keep the MIDI file and outputs in this folder")
    args = ap.parse_args(argv)

    cli = shutil.which("fluidsynth")
    if cli is None:
        print("the fluidsynth command is not installed (apt-get install fluidsynth)", file=sys.stderr)
        return 2
    sf = find_soundfont(args.soundfont)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_render_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.midi:
            midi = args.midi
        else:
            midi = work / "piece.mid"
            midi.write_bytes(midi_bytes(make_piece(parts=args.parts)))
        score = read_midi(midi)
        cli_out = work / "cli.wav"
        cmd = [cli, "-ni", "-g", "0.2", "-r", "44100", "-F", str(cli_out), str(sf), str(midi)]

        def run_cli() -> None:
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def run_mix() -> None:
            render_score(score, sf, mix_path=work / "mix.wav", with_stems=False)

        def run_stems() -> None:
            render_score(score, sf, mix_path=work / "mix.wav", stems_dir=work / "stems")

        def run_stems_one() -> None:
            render_score(score, sf, mix_path=work / "mix.wav", stems_dir=work / "stems", workers=1)

        version = subprocess.run([cli, "--version"], capture_output=True, text=True).stdout.splitlines()
        print(f"fluidsynth   {version[0] if version else '?'} (library {fluidsynth_version()})")
        print(f"SoundFont    {sf} ({sf.stat().st_size / 2**20:.1f} MiB)")
        print(f"MIDI         {midi}: {len(score.parts)} parts, {score.n_notes} notes, {score.duration:.1f} s")
        print(f"CLI command  {' '.join(cmd)}")
        n = len(score.parts)
        contenders: list[tuple[str, Callable[[], None], bool]] = [
            ("fluidsynth CLI", run_cli, True),
            ("render_score mix", run_mix, False),
            (f"render_score mix+{n} stems", run_stems, False),
            (f"render_score mix+{n} stems, 1 synth", run_stems_one, False),
        ]
        if args.naive:
            import pretty_midi

            pm = pretty_midi.PrettyMIDI(str(midi))
            contenders.append(("pretty_midi.fluidsynth", lambda: pm.fluidsynth(44100, str(sf)), False))
        print(f"best of {args.repeats} (contenders run in turn), {default_workers()} synthesizer threads\n")
        best = measure(contenders, args.repeats)
        result = render_score(score, sf, mix_path=work / "mix.wav", stems_dir=work / "stems")
        audio_s = score.duration
        cli_s = best["fluidsynth CLI"][0]
        print(f"{'renderer':<36} {'wall s':>7} {'CPU s':>7} {'x realtime':>11} {'vs CLI':>7}")
        for name, _, _ in contenders:
            wall, cpu = best[name]
            print(f"{name:<36} {wall:7.2f} {cpu:7.2f} {audio_s / wall:11.1f} {cli_s / wall:7.2f}")
        print(f"\nmusic {audio_s:.1f} s, rendered {result.duration:.1f} s with the release tail; "
              f"mix peak {result.peak_dbfs:.2f} dBFS after gain {result.gain:.3f}; {len(result.files)} files")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
