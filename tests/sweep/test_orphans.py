"""No worker outlives its client (issue 27, item 5): a sweep on loky workers whose client is killed with SIGKILL
mid-sweep leaves no worker process alive a few seconds later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

SCRIPT = textwrap.dedent(
    """
    import os, sys
    from gradlab.sweep import run_sweep
    if __name__ == "__main__":
        run_sweep({"name": "long", "out": sys.argv[1], "problem": {"kind": "single", "num_classes": 6},
                   "sampling": {"n": 3_000_000, "seeds": list(range(8))},
                   "estimators": [{"name": "gr_mc", "m": 100}]}, n_jobs=2, progress=False)
    """
)


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return {int(x) for x in out.split()}


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and ps --ppid (Linux)")
def test_loky_workers_exit_when_their_client_is_killed(tmp_path):
    script = tmp_path / "client.py"
    script.write_text(SCRIPT)
    client = subprocess.Popen([sys.executable, str(script), str(tmp_path / "long.nc")])
    workers: set[int] = set()
    deadline = time.time() + 180
    while time.time() < deadline:  # until two children have worked 5 s of CPU: computing cells, past their imports
        workers |= _children(client.pid)
        if sum(_cpu_seconds(p) > 5 for p in workers) >= 2:
            break
        time.sleep(0.5)
    assert workers, "no worker process was started"
    os.kill(client.pid, signal.SIGKILL)
    client.wait()
    time.sleep(8)
    alive = [p for p in workers if _alive(p)]
    for p in alive:  # (clean up whatever a failure leaves behind)
        os.kill(p, signal.SIGKILL)
    assert not alive, f"{len(alive)} of {len(workers)} worker processes outlived their client"
