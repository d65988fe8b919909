"""Worker processes: the same results as one process, and no worker outlives its parent or its consumer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from poser_interp.workers import in_workers

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")


def square(x: int) -> int:
    return x * x


def record_pid_then_sleep(folder: str, i: int, seconds: float) -> int:
    """Writes this worker's pid to `folder/i`, then sleeps (a job that is still running when killed)."""
    Path(folder, str(i)).write_text(str(os.getpid()))
    time.sleep(seconds)
    return i


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): count it as gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def wait_for(condition, seconds: float = 30.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_two_workers_give_what_one_process_gives():
    jobs = [(x,) for x in range(6)]
    assert sorted(in_workers(square, jobs, workers=2)) == [square(x) for x in range(6)]
    assert list(in_workers(square, jobs, workers=1)) == [square(x) for x in range(6)]


@linux_only
def test_a_consumer_that_stops_early_kills_the_running_workers(tmp_path):
    jobs = [(str(tmp_path), 0, 0.0), (str(tmp_path), 1, 60.0), (str(tmp_path), 2, 60.0)]
    results = in_workers(record_pid_then_sleep, jobs, workers=2)
    assert next(results) == 0
    assert wait_for(lambda: (tmp_path / "1").exists())
    sleeper = int((tmp_path / "1").read_text())
    assert alive(sleeper)
    start = time.monotonic()
    results.close()
    assert time.monotonic() - start < 10, "close() waited for the running jobs"
    assert wait_for(lambda: not alive(sleeper), 10)


@linux_only
def test_workers_die_with_a_parent_killed_by_sigterm(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_workers import record_pid_then_sleep
        from poser_interp.workers import in_workers
        if __name__ == "__main__":
            jobs = [({str(tmp_path)!r}, i, 120.0) for i in range(2)]
            list(in_workers(record_pid_then_sleep, jobs, workers=2))
    """))
    parent = subprocess.Popen([sys.executable, str(script)])
    try:
        assert wait_for(lambda: (tmp_path / "0").exists() and (tmp_path / "1").exists(), 60)
        workers = [int((tmp_path / str(i)).read_text()) for i in range(2)]
        assert all(alive(pid) for pid in workers)
        parent.send_signal(signal.SIGTERM)  # no clean-up runs in the parent
        parent.wait(10)
        assert wait_for(lambda: not any(alive(pid) for pid in workers), 10), "a worker outlived its parent"
    finally:
        parent.kill()
