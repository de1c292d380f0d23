"""Where joblib runs its tasks: a joblib backend, or a dask.distributed cluster (one context for the sweeps and the
training studies)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["joblib_backend"]


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
