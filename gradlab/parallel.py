"""Where joblib runs its tasks: a joblib backend, or a dask.distributed cluster (one context for the sweeps and the
training studies)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["joblib_backend", "with_registrations"]


_WATCHING = {"parent": None}


def _watch_parent(interval: float = 0.5) -> None:
    """In a worker process: a daemon thread that ends the process as soon as its parent (the client that started
    it) has gone, so that no worker outlives a client killed with SIGKILL (a SIGINT lets joblib clean up itself)."""
    if _WATCHING["parent"] is not None:
        return
    import threading
    import time

    parent = _WATCHING["parent"] = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:  # re-parented: the client is gone
                os._exit(1)

    threading.Thread(target=watch, name="gradlab-parent-watch", daemon=True).start()


class _Registered:
    """``fn`` that first registers, in the process it runs in, the estimators and problem kinds the caller's process
    registered beyond the built-in ones: they travel with the task by value (a class or a build function defined in
    ``__main__`` is pickled by value by loky's and Dask's cloudpickle), so a worker knows them by name too. In a
    worker process started by the client (joblib's loky), it also watches the client (:func:`_watch_parent`)."""

    def __init__(self, fn, estimators: dict, problems: dict):
        self.fn, self.estimators, self.problems = fn, estimators, problems
        self.client = os.getpid()

    def __call__(self, *args, **kwargs):
        from .estimators import REGISTRY
        from .problems.build import PROBLEMS

        if os.getpid() != self.client and os.getppid() == self.client:  # a child of the client: watch it
            _watch_parent()
        REGISTRY.update(self.estimators)
        PROBLEMS.update(self.problems)
        return self.fn(*args, **kwargs)


def with_registrations(fn):
    """``fn`` wrapped to carry this process's own registrations to a worker (:class:`_Registered`)."""
    from .estimators import BUILTIN, REGISTRY
    from .problems.build import PROBLEM_KINDS, PROBLEMS

    builtin = {cls.name for cls in BUILTIN}
    estimators = {k: v for k, v in REGISTRY.items() if k not in builtin}
    problems = {k: v for k, v in PROBLEMS.items() if k not in PROBLEM_KINDS}
    return _Registered(fn, estimators, problems)


@contextlib.contextmanager
def joblib_backend(backend: str, n_jobs: int, scheduler: str | None = None) -> Iterator[None]:
    """Within the block, ``joblib.Parallel`` runs on ``backend`` with ``n_jobs`` workers; ``backend="dask"``: on
    the scheduler at ``scheduler`` (``tcp://HOST:PORT``), else on a local cluster of ``n_jobs`` worker processes
    (one thread each), closed when the block ends."""
    import joblib

    if backend != "dask":
        with joblib.parallel_config(backend=backend, n_jobs=n_jobs):
            yield
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ModuleNotFoundError(
            "backend 'dask' needs dask.distributed, which is not installed: pip install \"gradlab[dask]\""
        ) from None

    with contextlib.ExitStack() as stack:
        if scheduler:
            stack.enter_context(Client(scheduler))
        else:
            cluster = stack.enter_context(
                LocalCluster(n_workers=max(1, n_jobs), threads_per_worker=1, processes=True, dashboard_address=None)
            )
            stack.enter_context(Client(cluster))
        with joblib.parallel_config(backend="dask", n_jobs=-1):
            yield
