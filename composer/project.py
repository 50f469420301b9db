"""The project folder, changed as one unit: plan.json, piece.mid, piece.musicxml, piece.performed.mid, mix.wav,
stems/ and history/.

A command changes a folder inside a transaction. Everything it writes goes to a staging folder inside the
project (`.composer.staging/new`); once all of it is written and flushed, a commit record is written and the
staged files are renamed into place (each replaced file moves to `.composer.staging/old` first). The commit
record is the point of no return: the next command that takes the folder finishes an interrupted commit and
throws away a staging folder that has none. So a crash, Ctrl-C, SIGTERM or a full disk leaves either the whole
old project or the whole new one.

One writer at a time: a transaction holds the folder's lock (`.composer.lock`, an flock that the kernel drops
when its holder dies, with the holder's pid and command inside). A second writer waits up to LOCK_WAIT seconds,
then fails with a one-line error that says who holds it. Within one process the lock is re-entrant, so the TUI
can hold it for as long as it has the project open and still run its own edits.

Nothing is written or deleted through a symbolic link: a linked file or folder inside the project is refused.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from symbolic.files import FILE_MODE, atomic_write
from symbolic.score import plain_text

PLAN = "plan.json"
MIDI = "piece.mid"
MUSICXML = "piece.musicxml"
PERFORMED = "piece.performed.mid"
MIX = "mix.wav"
TAKES = "takes.json"   # takes kept as variations of a section, to pick later
STEMS = "stems"
HISTORY = "history"
REDO = "redo"  # history/redo/: what undo took back, until the next edit
MAX_HISTORY = 50
LOCK = ".composer.lock"
STAGING = ".composer.staging"
COMMIT = "commit.json"

__all__ = ["atomic_write", "ensure_dir", "history", "ProjectError", "ProjectBusy", "transaction", "Transaction",
           "hold", "recover", "request_stop", "lock_wait", "history_entry", "prune_names"]

_HIST_PLAN = re.compile(r"plan-(\d{4,})\.json")


class ProjectError(OSError):
    """A project folder that cannot be read or written."""


class ProjectBusy(ProjectError):
    """Another writer holds the project."""


def lock_wait() -> float:
    """How long a second writer waits for the lock: $COMPOSER_LOCK_WAIT seconds, default 10."""
    raw = os.environ.get("COMPOSER_LOCK_WAIT", "10")
    try:
        value = float(raw)
    except ValueError:
        raise ProjectError(f"COMPOSER_LOCK_WAIT={raw!r} is not a number of seconds") from None
    if not 0 <= value <= 3600:
        raise ProjectError(f"COMPOSER_LOCK_WAIT={raw} is outside 0-3600 seconds")
    return value


def ensure_dir(path: str | Path) -> Path:
    """Create the folder if needed and check that it is writable, with a one-line error otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        # An unnamed file (O_TMPFILE where the system has it): a kill here leaves nothing in the folder.
        with tempfile.TemporaryFile(prefix=".write-check.", dir=path):
            pass
    except OSError as exc:
        raise ProjectError(f"cannot write to {path}: {exc.strerror or exc}") from None
    return path


def history(folder: str | Path, redo: bool = False) -> list[Path]:
    """The history's plans, oldest first (only the files the project wrote: plan-NNNN.json, no links);
    redo=True: the plans that undo took back."""
    hist = Path(folder) / HISTORY / REDO if redo else Path(folder) / HISTORY
    if hist.is_symlink() or hist.parent.is_symlink() or not hist.is_dir():
        return []
    found = [p for p in hist.iterdir() if _HIST_PLAN.fullmatch(p.name) and p.is_file() and not p.is_symlink()]
    return sorted(found, key=lambda p: int(_HIST_PLAN.fullmatch(p.name).group(1)))  # type: ignore[union-attr]


def history_entry(plan_path: Path) -> Path:
    """The piece.mid kept beside a history plan."""
    return plan_path.with_name(plan_path.name.replace("plan-", "piece-").replace(".json", ".mid"))


def history_note(plan_path: Path) -> Path:
    """The words kept beside a history plan: the edit that replaced it (what undo takes back)."""
    return plan_path.with_suffix(".txt")


def history_what(plan_path: Path) -> str:
    """The edit an entry's undo takes back, in words ("" for entries kept before edits were named)."""
    try:
        return history_note(plan_path).read_text(encoding="utf-8").strip()[:200]
    except (OSError, UnicodeDecodeError):
        return ""


def prune_names(existing: list[Path], adding: int) -> list[Path]:
    """The oldest history plans to drop so that at most MAX_HISTORY remain after `adding` more."""
    return existing[: max(0, len(existing) + adding - MAX_HISTORY)]


# --- the lock ----------------------------------------------------------------------------------------

@dataclass
class _Held:
    fd: int
    count: int
    guard: threading.RLock = field(default_factory=threading.RLock)


_held: dict[str, _Held] = {}
_held_guard = threading.Lock()


def _key(folder: Path) -> str:
    return os.path.realpath(folder)


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
        since = time.strftime("%H:%M:%S", time.localtime(float(info["since"])))
        return f"{info['command']} (pid {int(info['pid'])}, since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another composer process"


def _try_flock(folder: Path, command: str) -> int | None:
    """The lock's file descriptor when the lock was taken, None when someone else holds it."""
    path = folder / LOCK
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ProjectError(f"{path} is a symbolic link; composer does not write through links") from None
            raise ProjectError(f"cannot lock {folder}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        # The holder before us may have removed the file after we opened it: lock the file that is there now.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        info = json.dumps({"pid": os.getpid(), "command": command, "since": time.time()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        return fd


def _acquire(folder: Path, command: str, wait: float | None) -> _Held:
    key = _key(folder)
    with _held_guard:
        held = _held.get(key)
        if held is not None:
            held.count += 1
            return held
    wait = lock_wait() if wait is None else wait
    deadline = time.monotonic() + wait
    while True:
        fd = _try_flock(folder, command)
        if fd is not None:
            break
        if time.monotonic() >= deadline:
            raise ProjectBusy(f"{folder} is in use by {_holder(folder / LOCK)}; try again when it has finished")
        time.sleep(0.1)
    held = _Held(fd, 1)
    with _held_guard:
        _held[key] = held
    try:
        recover(folder)
    except BaseException:
        _release(folder)
        raise
    return held


def _release(folder: Path) -> None:
    key = _key(folder)
    with _held_guard:
        held = _held[key]
        held.count -= 1
        if held.count:
            return
        del _held[key]
    # Unlink first, then unlock: a waiter that opened the old file sees it is gone and opens the new one.
    try:
        os.unlink(folder / LOCK)
    except OSError:
        pass
    os.close(held.fd)


def _take(folder: str | Path, command: str, wait: float | None) -> tuple[Path, _Held]:
    """Create the folder if needed and take its lock (never through a linked lock file)."""
    path = ensure_dir(folder)
    _refuse_link(path, path / LOCK)
    return path, _acquire(path, command, wait)


@contextmanager
def hold(folder: str | Path, command: str, wait: float | None = None) -> Iterator[None]:
    """Hold the folder's lock (re-entrant within this process); finishes or discards an interrupted change."""
    folder, held = _take(folder, command, wait)
    try:
        with held.guard:
            yield
    finally:
        _release(folder)


class Holder:
    """A lock held across calls (the TUI holds its project while it is open): release() when done."""

    def __init__(self, folder: str | Path, command: str, wait: float | None = None):
        self.folder, _ = _take(folder, command, wait)
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            _release(self.folder)


# --- links -------------------------------------------------------------------------------------------

def _refuse_link(root: Path, path: Path) -> None:
    """Refuse a path inside root that is, or lies under, a symbolic link (a link out of the project)."""
    rel = Path(os.path.relpath(path, root))
    if rel.parts[:1] == ("..",):
        raise ProjectError(f"{path} is outside the project folder {root}")
    cur = root
    for part in rel.parts:
        if part == ".":
            continue
        cur = cur / part
        if cur.is_symlink():
            raise ProjectError(f"{cur} is a symbolic link; composer does not write or delete through links "
                               f"(remove it, or make it a real {'folder' if part != rel.parts[-1] else 'file'})")


# --- recovery ----------------------------------------------------------------------------------------

def recover(folder: str | Path) -> str:
    """Finish a committed change that was interrupted, or discard one that never committed.
    Call with the lock held. Returns 'finished', 'discarded' or ''."""
    folder = Path(folder)
    staging = folder / STAGING
    if staging.is_symlink():
        raise ProjectError(f"{staging} is a symbolic link; remove it")
    if not staging.exists():
        return ""
    record = staging / COMMIT
    if record.exists():
        try:
            entries = json.loads(record.read_text(encoding="utf-8"))["entries"]
        except (OSError, ValueError, KeyError, TypeError):
            entries = None  # written atomically, so unreadable means someone else's file: keep the old project
        if entries is not None:
            _apply(folder, entries)
            _discard(staging)
            return "finished"
    _discard(staging)
    return "discarded"


def _discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def _apply(folder: Path, entries: list[list[str]]) -> None:
    """Rename the staged entries into place; every step can be repeated after a crash."""
    new, old = folder / STAGING / "new", folder / STAGING / "old"
    for kind, rel in entries:
        target, staged, trash = folder / rel, new / rel, old / rel
        if kind == "put" and not os.path.lexists(staged):
            continue  # already in place
        if os.path.lexists(target) and not os.path.lexists(trash):
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, trash)  # the old version goes with the staging folder
        if kind == "put":
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
    _fsync_dir(folder)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP back while renaming (main thread only), so a commit is not cut in two."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# --- transactions ------------------------------------------------------------------------------------

_stop = threading.Event()


def request_stop(on: bool = True) -> None:
    """A signal asked this process to stop: no transaction commits after this (until cleared)."""
    _stop.set() if on else _stop.clear()


@dataclass
class _Root:
    folder: Path
    entries: dict[str, str] = field(default_factory=dict)  # relative path -> "put" | "remove", in order

    @property
    def staging(self) -> Path:
        return self.folder / STAGING

    @property
    def new(self) -> Path:
        return self.staging / "new"


class Transaction:
    """What one command writes and removes, staged and then swapped in as one unit.

    `write` and `target`/`target_dir` stage files (a tool writes to the staged path it is given), `remove`
    stages a deletion, `snapshot` keeps the current plan and MIDI in history/. A path is absolute, relative to
    the working directory, or a bare file name in the main folder (PLAN, MIDI, ...); a path in another folder
    opens that folder too (its own lock and staging).
    """

    def __init__(self, folder: Path, command: str, wait: float | None):
        self.given = Path(folder)  # as the caller named it, for the paths `write` reports
        self.folder = Path(os.path.abspath(folder))
        self.command = command
        self.wait = wait
        self.roots: dict[str, _Root] = {}
        self._holding: list[tuple[Path, _Held]] = []
        self._snapshotted = False
        self.what = ""   # the edit in words, kept with the history entry it makes ("transpose up a tone")
        self._open_root(folder)

    # -- staging --
    def _open_root(self, folder: Path) -> _Root:
        key = _key(ensure_dir(folder))
        if key not in self.roots:
            folder, held = _take(folder, self.command, self.wait)
            held.guard.acquire()
            self._holding.append((folder, held))
            root = _Root(folder)
            _refuse_link(folder, root.staging)
            _discard(root.staging)  # recover() left none; a leftover from this process's failed change goes too
            self.roots[key] = root
        return self.roots[key]

    def _place(self, path: str | Path) -> tuple[_Root, str]:
        path = self._final(path)
        for root in self.roots.values():
            base = Path(os.path.abspath(root.folder))
            if path.parent == base or base in path.parents:
                rel = os.path.relpath(path, base)
                if rel.split(os.sep)[0] in (STAGING, LOCK):
                    raise ProjectError(f"{path} is composer's own working file")
                _refuse_link(base, path)
                return root, rel
        root = self._open_root(path.parent)
        _refuse_link(root.folder, path)
        return root, path.name

    def target(self, path: str | Path) -> Path:
        """The staged path to write `path`'s new contents to."""
        root, rel = self._place(path)
        root.entries.pop(rel, None)
        root.entries[rel] = "put"
        staged = root.new / rel
        staged.parent.mkdir(parents=True, exist_ok=True)
        if staged.is_dir() and not staged.is_symlink():
            shutil.rmtree(staged)
        return staged

    def target_dir(self, path: str | Path) -> Path:
        """An empty staged folder that replaces the folder `path` as a whole (stems/: no old stem survives)."""
        staged = self.target(path)
        staged.unlink(missing_ok=True)
        staged.mkdir()
        return staged

    def write(self, path: str | Path, data: bytes | str) -> Path:
        """Stage a file's new contents; returns its final path."""
        staged = self.target(path)
        try:
            _write_synced(staged, data.encode("utf-8") if isinstance(data, str) else data)
        except OSError as exc:
            raise ProjectError(f"cannot write {self._shown(path)}: {exc.strerror or exc}") from None
        return self._shown(path)

    def remove(self, path: str | Path) -> None:
        root, rel = self._place(path)
        staged = root.new / rel
        if os.path.lexists(staged):
            shutil.rmtree(staged) if staged.is_dir() else staged.unlink()
        root.entries.pop(rel, None)
        root.entries[rel] = "remove"

    def _shown(self, path: str | Path) -> Path:
        """The final path as the caller would write it (a bare name inside the folder as the caller named it)."""
        path = Path(path)
        return self.given / path if not path.is_absolute() and len(path.parts) == 1 else path

    def _final(self, path: str | Path) -> Path:
        path = Path(path)
        if path.is_absolute():
            return Path(os.path.abspath(path))
        # A bare name is the folder's own file; a longer relative path was given from the working directory.
        return self.folder / path if len(path.parts) == 1 else Path(os.path.abspath(path))

    def staged(self, path: str | Path) -> bool:
        root, rel = self._place(path)
        return root.entries.get(rel) == "put"

    def snapshot(self, redo: bool = False, forget_redo: bool = True, what: str | None = None) -> Path | None:
        """Keep the folder's current plan.json (and piece.mid) in history/ before they are replaced (once per
        transaction), so that undo brings them back; a new edit forgets what undo took back. redo=True keeps
        them in history/redo/ instead (undo does that, so that redo brings them back; redo itself keeps the
        rest of history/redo/ with forget_redo=False). The oldest entries beyond MAX_HISTORY go."""
        if self._snapshotted:
            return None
        plan = self.folder / PLAN
        if not plan.is_file():
            return None
        self._snapshotted = True
        entry = self._keep(history(self.folder, redo), self.folder / HISTORY / (REDO if redo else ""))
        words = self.what if what is None else what
        if words:
            self.write(history_note(entry), plain_text(words)[:200] + "\n")
        if forget_redo and not redo:
            for old in history(self.folder, redo=True):
                self.drop(old)
        return entry

    def _keep(self, existing: list[Path], where: Path) -> Path:
        n = int(_HIST_PLAN.fullmatch(existing[-1].name).group(1)) + 1 if existing else 1  # type: ignore[union-attr]
        entry = where / f"plan-{n:04d}.json"
        self.write(entry, (self.folder / PLAN).read_bytes())
        midi = self.folder / MIDI
        if midi.is_file():
            self.write(history_entry(entry), midi.read_bytes())
        for stale in prune_names(existing, 1):
            self.drop(stale)
        return entry

    def drop(self, entry: Path) -> None:
        """Remove a history plan and the MIDI and words kept beside it."""
        self.remove(entry)
        for beside in (history_entry(entry), history_note(entry)):
            if beside.is_file():
                self.remove(beside)

    # -- commit --
    def commit(self) -> None:
        if _stop.is_set():
            raise KeyboardInterrupt
        for root in self.roots.values():
            if not root.entries:
                continue
            entries = [[kind, rel] for rel, kind in root.entries.items()]
            record = json.dumps({"command": self.command, "entries": entries}).encode()
            try:
                _write_synced(root.staging / (COMMIT + ".tmp"), record)
            except OSError as exc:
                raise ProjectError(f"cannot write to {root.folder}: {exc.strerror or exc}") from None
            with _signals_deferred():
                os.replace(root.staging / (COMMIT + ".tmp"), root.staging / COMMIT)  # the point of no return
                _fsync_dir(root.staging)
                _apply(root.folder, entries)
                _discard(root.staging)
            root.entries.clear()

    def close(self, failed: bool) -> None:
        for root in reversed(list(self.roots.values())):
            if failed and not (root.staging / COMMIT).exists():
                _discard(root.staging)
            elif failed:
                try:  # committed: finish it now rather than leave it to the next command
                    recover(root.folder)
                except OSError:
                    pass
        for folder, held in reversed(self._holding):
            held.guard.release()
            _release(folder)
        self._holding.clear()


_current = threading.local()


@contextmanager
def transaction(folder: str | Path, command: str, wait: float | None = None, what: str = "") -> Iterator[Transaction]:
    """Change a folder as one unit. Nested calls in the same thread join the outer transaction (and may add
    folders to it), which commits when the outermost one ends without an exception. `what` names the edit
    for its history entry (the outermost call that names it wins)."""
    outer: Transaction | None = getattr(_current, "tx", None)
    if outer is not None:
        outer._place(Path(os.path.abspath(folder)) / PLAN)  # opens the folder in the outer transaction if new
        outer.what = outer.what or what
        yield outer
        return
    tx = Transaction(Path(folder), command, wait)
    tx.what = what
    _current.tx = tx
    failed = True
    try:
        yield tx
        tx.commit()
        failed = False
    finally:
        _current.tx = None
        tx.close(failed)
