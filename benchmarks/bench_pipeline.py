"""Time planning, arranging and exporting a 3-minute, 4-track piece, in one run.

Prints: plan and arrange time (and how many times faster than the music plays), MIDI export time,
and MusicXML export time against the naive route (music21 parsing our MIDI and writing MusicXML with
its default notation pass), as a ratio measured in the same run.

    python benchmarks/bench_pipeline.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BRIEF = ("Upbeat pop song in E major, 4/4 at 120 bpm, with piano, electric bass and drums, "
         "verse-chorus form, about three minutes")


def best(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import music21

    from composer.pipeline import arrange, make_plan
    from symbolic.midi_io import midi_bytes
    from symbolic.musicxml import to_musicxml

    t_plan, plan = best(lambda: make_plan(BRIEF, seed=0), args.repeat)
    t_arr, score = best(lambda: arrange(plan, seed=0, arranger="patterns"), args.repeat)
    t_mid, data = best(lambda: midi_bytes(score), args.repeat)
    t_xml, xml = best(lambda: to_musicxml(score), args.repeat)

    # music21's own route cannot write the drum part it reads from MIDI (its unpitched instruments are not
    # registered in the part), so the comparison runs on the pitched parts, for both.
    from symbolic.score import Score
    pitched = Score(score.title, [p for p in score.parts if not p.is_drum], score.bars, score.tempos, score.keys,
                    score.markers)
    t_xml_pitched, _ = best(lambda: to_musicxml(pitched), args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        mid_path = Path(tmp) / "piece.mid"
        mid_path.write_bytes(midi_bytes(pitched))

        def naive():
            s = music21.converter.parse(str(mid_path))
            s.write("musicxml", fp=str(Path(tmp) / "naive.musicxml"))
        t_naive, _ = best(naive, max(1, args.repeat - 1))

    secs = score.duration
    n_parts = len(score.parts)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"music21 {music21.__version__}")
    print(f"piece: {plan.title!r}, {n_parts} tracks, {plan.total_bars} bars, {score.n_notes} notes, {secs:.0f} s")
    print(f"{'step':32s} {'seconds':>9s} {'note':>30s}")
    print(f"{'plan (rules planner)':32s} {t_plan:9.3f}")
    print(f"{'arrange (pattern arranger)':32s} {t_arr:9.3f}")
    total = t_plan + t_arr
    print(f"{'plan + arrange':32s} {total:9.3f} {secs / total:24.0f}x realtime")
    print(f"{'MIDI export':32s} {t_mid:9.3f}")
    print(f"{'MusicXML export (ours)':32s} {t_xml:9.3f} {len(xml) / 1e6:26.1f} MB")
    print(f"{'MusicXML, pitched parts (ours)':32s} {t_xml_pitched:9.3f}")
    print(f"{'MusicXML, pitched, music21 route':32s} {t_naive:9.3f} {t_naive / t_xml_pitched:24.1f}x ours")


if __name__ == "__main__":
    main()
