"""Pid files: which process runs each server of a state folder, so that a later run can stop
what a run killed by SIGKILL left behind (servers live in their own sessions and outlive it)."""

import glob
import json
import os
import signal
import time
from pathlib import Path

import psutil

RUN_DIR = "run"
POLL_INTERVAL = 0.05


def pid_file(state_dir: Path, name: str) -> Path:
    return Path(state_dir) / RUN_DIR / f"{name}.pid"


def record(
    path: Path,
    pid: int,
    *,
    stop_signal: signal.Signals,
    stop_grace: float,
    leftovers: list[str],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "pid": pid,
        "created": psutil.Process(pid).create_time(),
        "stop_signal": stop_signal.name,
        "grace": stop_grace,
        "leftovers": leftovers,
    }
    path.write_text(json.dumps(entry))


def stop_recorded(path: Path) -> int | None:
    """Stop the process a pid file names, as its server would be stopped; return its pid, or
    None if it no longer runs. The caller must own the state folder (hold its lock)."""
    try:
        entry = json.loads(path.read_text())
        process = psutil.Process(entry["pid"])
        # The create time tells the recorded process from a later one given the same pid.
        if process.create_time() != entry["created"]:
            process = None
    except (FileNotFoundError, ValueError, KeyError, TypeError, psutil.Error):
        process = None
    if process is None:
        path.unlink(missing_ok=True)
        return None
    send(process.pid, signal.Signals[entry.get("stop_signal", "SIGTERM")])
    wait_gone(process, entry.get("grace", 3.0))
    send_group(process.pid, signal.SIGKILL)
    wait_gone(process, 10)
    path.unlink(missing_ok=True)
    remove_leftovers(entry.get("leftovers", []))
    return process.pid


def stop_all_recorded(state_dir: Path) -> dict[str, int]:
    """Stop every process the pid files of `state_dir` name; return them by server name."""
    stopped = {}
    for path in sorted((Path(state_dir) / RUN_DIR).glob("*.pid")):
        pid = stop_recorded(path)
        if pid is not None:
            stopped[path.stem] = pid
    return stopped


def remove_leftovers(patterns: list[str]) -> None:
    for pattern in patterns:
        for leftover in glob.glob(pattern):
            Path(leftover).unlink(missing_ok=True)


def send(pid: int, signum: signal.Signals) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def send_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def wait_gone(process: psutil.Process, timeout: float) -> bool:
    """Wait until a process that is not our child is gone; a zombie counts as gone, since an
    init that does not reap would otherwise keep it "running" forever."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(POLL_INTERVAL)
    return False
