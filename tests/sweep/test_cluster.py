"""Sweeps on a real dask.distributed cluster: a scheduler and two worker processes started as subprocesses on
127.0.0.1, each worker in its own working folder. The workers never see the client's files: the sweep's output
path they are given does not exist, and the VAE snapshot is named by a path relative to the client's folder,
so they can only use the bytes that travel with the cells. Results equal the single-process sweep, and a worker
killed mid-sweep costs nothing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import gradlab as gl
from gradlab.sweep import load_config, run_sweep

START_TIMEOUT = 90  # seconds for the scheduler and the workers to come up (torch is imported at the first task)


@contextlib.contextmanager
def dask_cluster(root: Path, n_workers: int = 2):
    """``(address, worker processes, worker folders)`` of a scheduler and ``n_workers`` worker processes (no
    nanny: a killed worker stays dead), torn down (process groups killed) when the block ends."""
    from dask.distributed import Client

    procs = []
    logs = root / "logs"
    logs.mkdir(parents=True)
    scheduler_file = root / "scheduler.json"

    def start(args, cwd, name):
        cwd.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{name}.log", "w") as log:
            p = subprocess.Popen(
                [sys.executable, "-m", *args],
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        procs.append(p)
        return p

    try:
        start(
            ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
            + ["--scheduler-file", str(scheduler_file)],
            root / "scheduler",
            "scheduler",
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not scheduler_file.is_file():
            assert time.monotonic() < deadline, (logs / "scheduler.log").read_text()
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        folders = [root / f"worker{i}" for i in range(n_workers)]
        workers = [
            start(
                ["distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
                + ["--host", "127.0.0.1", "--local-directory", str(root / f"dask-space{i}")],
                folder,
                f"worker{i}",
            )
            for i, folder in enumerate(folders)
        ]
        with Client(address, timeout=START_TIMEOUT) as client:
            client.wait_for_workers(n_workers, timeout=START_TIMEOUT)
            threads = set(client.run(torch.get_num_threads).values())
        assert len(threads) == 1, threads
        yield address, workers, folders, threads.pop()
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=30)


@contextlib.contextmanager
def threads_as(n: int):
    """The single-process sweep with the workers' number of intra-op threads: the bootstrap's matrix product
    rounds differently with another thread count (1 ulp in an interval bound; and a test run before may have
    changed this process's count), which is not what these tests are about."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def sweep_config(name: str, out: Path, n: int, seeds: list[int]) -> dict:
    return {
        "name": name,
        "out": str(out),
        "problem": {"kind": "vae", "snapshot": "snap/epoch_0001.pt", "batch_size": 8, "dtype": "float64"},
        "reference": {"kind": "estimator", "name": "reinforce", "m": 4, "n": 2000},
        "sampling": {"n": n, "seeds": seeds, "bootstrap": 20},
        "estimators": [{"name": "zgr"}, {"name": "st", "t": [1.0, 2.0]}, {"name": "reinforce", "m": 2}],
    }


@pytest.fixture
def client_folder(tmp_path, monkeypatch):
    """The client's working folder, with a small VAE snapshot at the relative path snap/epoch_0001.pt."""
    folder = tmp_path / "client"
    folder.mkdir()
    monkeypatch.chdir(folder)
    gl.training.train_vae(
        gl.problems.digits(),
        gl.estimator("reinforce", m=4),
        num_vars=2,
        num_classes=4,
        hidden=(16,),
        epochs=1,
        snapshot_epochs=[1],
        out_dir="snap",
        progress=False,
    )
    return folder


def assert_same_numbers(a, b):
    """The same numbers: bit for bit for the estimates, to 1e-12 relative for the bootstrap interval bounds,
    whose matrix product can round differently in another process (BLAS kernels depend on memory alignment and
    thread count; 1 ulp was seen)."""
    for var in a.data_vars:
        if var in ("seconds", "seconds_per_sample"):
            continue
        if var.endswith(("_lo", "_hi", "_se")):
            np.testing.assert_allclose(a[var].values, b[var].values, rtol=1e-12, atol=0, err_msg=var)
        else:
            np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)


@pytest.mark.slow
def test_sweep_on_a_cluster_equals_the_single_process_sweep(client_folder, tmp_path):
    with dask_cluster(tmp_path / "cluster") as (address, _, folders, threads):
        with threads_as(threads):
            here = run_sweep(load_config(sweep_config("here", client_folder / "here.nc", 300, [0, 1])), progress=False)
        cfg = load_config(sweep_config("there", client_folder / "there.nc", 300, [0, 1]))
        there = run_sweep(cfg, backend="dask", scheduler=address, progress=False)
        assert_same_numbers(here, there)
        assert all(list(f.iterdir()) == [] for f in folders)  # the workers wrote nothing where they run
    assert len(list(cfg.cells_dir.glob("*.json"))) == 8 and (client_folder / "there.nc").is_file()


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_costs_nothing(client_folder, tmp_path):
    """One of two workers is killed (SIGKILL) after the first cells arrive: Dask runs its cells on the other,
    every cell is written once, and the numbers equal the single-process sweep's."""
    cfg_here = load_config(sweep_config("here", client_folder / "here.nc", 2000, [0, 1, 2]))
    with dask_cluster(tmp_path / "cluster") as (address, workers, _, threads):
        with threads_as(threads):
            here = run_sweep(cfg_here, progress=False)
        cfg = load_config(sweep_config("there", client_folder / "there.nc", 2000, [0, 1, 2]))
        killed = threading.Event()

        def kill_after_two_cells():
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if cfg.cells_dir.is_dir() and len(list(cfg.cells_dir.glob("*.json"))) >= 2:
                    os.killpg(workers[0].pid, signal.SIGKILL)
                    killed.set()
                    return
                time.sleep(0.05)

        watcher = threading.Thread(target=kill_after_two_cells, daemon=True)
        watcher.start()
        there = run_sweep(cfg, backend="dask", scheduler=address, progress=False)
        watcher.join(timeout=10)
        assert killed.is_set() and workers[0].wait(timeout=30) == -signal.SIGKILL
    assert len(list(cfg.cells_dir.glob("*.json"))) == 12
    assert_same_numbers(here, there)
