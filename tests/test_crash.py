"""Crash consistency: `new`, `revise`, `regenerate`, `render`, `export` and `undo` killed at many points
(SIGINT, SIGTERM, SIGKILL) leave every file of the project from one version, the old or the new.

A server process imports composer once and forks one child per run, so a kill can land anywhere in the
command's own work (planning, arranging, writing, rendering, committing) rather than in Python's start-up.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from composer import project
from composer.cli import main

ROOT = Path(__file__).resolve().parents[1]
BRIEF = "a waltz in F major for piano and cello, 3/4, 16 seconds"
KILLS = 18  # per command: 108 kill points in all
# Where the kills land, as fractions of the command's full run: spread over the whole run, and more of them
# near its end, where the files are committed (a slower or busier machine moves that window a little).
POINTS = [(k + 0.5) / 12 for k in range(12)] + [0.90 + 0.02 * k for k in range(6)]

SERVER = r"""
import json, os, sys, time
import composer.cli, composer.pipeline, composer.revise, symbolic.musicxml, symbolic.arrange.patterns, symbolic.perform
import audio.render
for line in sys.stdin:
    req = json.loads(line)
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os._exit(composer.cli.main(req["argv"]))
    killed = False
    if req["delay"] is not None:
        time.sleep(req["delay"])
        try:
            os.kill(pid, req["sig"])
            killed = True
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"status": status, "seconds": time.perf_counter() - t0}), flush=True)
"""


def state(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != project.LOCK}


class Server:
    def __init__(self):
        env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
        self.p = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, env=env)

    def run(self, argv, log: Path, delay=None, sig=signal.SIGKILL) -> dict:
        self.p.stdin.write(json.dumps({"argv": argv, "log": str(log), "delay": delay, "sig": int(sig)}) + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


def _commands(base: Path, soundfont: Path):
    """(name, how to make the starting folder from `base`, argv with {d} for the folder)."""
    def plain(d: Path):
        shutil.copytree(base, d)

    def without_xml(d: Path):
        shutil.copytree(base, d)
        (d / project.MUSICXML).unlink()

    def revised(d: Path):
        shutil.copytree(base, d)
        assert main(["-q", "revise", str(d), "transpose up a whole step"]) == 0

    sf = ["--soundfont", str(soundfont)]
    return [
        ("new", plain, ["new", BRIEF + ", allegro", "--out", "{d}", "--arranger", "patterns", *sf]),
        ("revise", plain, ["revise", "{d}", "make it 4/4 at 100 bpm"]),
        ("regenerate", plain, ["regenerate", "{d}", "--track", "Cello", "--arranger", "patterns"]),
        ("render", plain, ["render", "{d}/piece.mid", "--stems", "{d}/stems", *sf]),
        ("export", without_xml, ["export", "{d}"]),
        ("undo", revised, ["undo", "{d}"]),
    ]


@pytest.mark.slow
def test_kills_at_many_points_leave_one_whole_version(tmp_path, soundfont):
    base = tmp_path / "base"
    assert main(["-q", "new", BRIEF, "--out", str(base), "--arranger", "patterns", "--soundfont", str(soundfont)]) == 0
    server = Server()
    sigs = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]
    outcomes = {"old": 0, "new": 0}
    points = 0
    try:
        for name, make, argv in _commands(base, soundfont):
            ref_old, ref_new = tmp_path / f"{name}-old", tmp_path / f"{name}-new"
            make(ref_old)
            make(ref_new)
            full = server.run([a.replace("{d}", str(ref_new)) for a in argv], tmp_path / f"{name}.log")
            assert full["status"] == 0, (tmp_path / f"{name}.log").read_text()
            old, new = state(ref_old), state(ref_new)
            assert old != new, name
            # The same command on the same folder gives the same bytes: the new version is well defined.
            again = tmp_path / f"{name}-again"
            make(again)
            server.run([a.replace("{d}", str(again)) for a in argv], tmp_path / f"{name}.log")
            assert state(again) == new, name
            for k in range(KILLS):
                d = tmp_path / f"{name}-{k}"
                make(d)
                sig = sigs[k % 3]
                log = tmp_path / f"{name}-{k}.log"
                res = server.run([a.replace("{d}", str(d)) for a in argv], log,
                                 delay=full["seconds"] * POINTS[k], sig=sig)
                status, text = res["status"], log.read_text()
                assert "Traceback" not in text, text
                if os.WIFEXITED(status):  # finished first, or unwound from SIGINT/SIGTERM
                    assert os.WEXITSTATUS(status) in (0, 130, 128 + int(sig)), text
                else:
                    assert os.WTERMSIG(status) == signal.SIGKILL, (name, k, sig, os.WTERMSIG(status), text[-2000:])
                with project.hold(d, "the next command"):  # finishes or discards what the kill left
                    pass
                after = state(d)
                assert after in (old, new), (name, k, sig, sorted(set(after.items()) ^ set(new.items()))[:6])
                assert not (d / project.STAGING).exists() and not list(d.rglob("*.tmp"))
                outcomes["old" if after == old else "new"] += 1
                points += 1
                shutil.rmtree(d)
    finally:
        server.close()
    assert points >= 100
    assert outcomes["old"] >= 20 and outcomes["new"] >= 5, outcomes  # kills landed before and after commits


def test_a_stop_that_c_code_turns_into_another_error_still_reads_as_a_stop(tmp_path, soundfont, monkeypatch):
    """SIGTERM landing inside torch's storage code comes back as a TypeError, which the weights loader reports
    as broken weights: the command must still say it was interrupted (exit 128 + signal) and change nothing."""
    import time

    from symbolic.perform import sampling
    d = tmp_path / "p"
    assert main(["-q", "new", BRIEF, "--out", str(d), "--arranger", "patterns", "--no-audio"]) == 0
    before = state(d)
    real = sampling.load

    def load(folder=None):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        except KeyboardInterrupt:  # what torch does with an exception raised under it
            raise TypeError("could not determine the shape of object type 'torch.storage.UntypedStorage'") from None
        return real(folder)
    monkeypatch.setattr(sampling, "load", load)
    assert main(["-q", "render", str(d / "piece.mid"), "--stems", str(d / "stems"), "--soundfont", str(soundfont)]) == 128 + signal.SIGTERM
    assert state(d) == before
