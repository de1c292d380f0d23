"""What a task takes to a worker process besides its arguments: the caller's own registrations (a user's estimators
and problem kinds, by value), and a watch on the client, so that no worker outlives it."""

from __future__ import annotations

import os

__all__ = ["with_registrations"]


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
        from gradlab.estimators import REGISTRY
        from gradlab.problems.build import PROBLEMS

        if os.getpid() != self.client and os.getppid() == self.client:  # a child of the client: watch it
            _watch_parent()
        REGISTRY.update(self.estimators)
        PROBLEMS.update(self.problems)
        return self.fn(*args, **kwargs)


def with_registrations(fn):
    """``fn`` wrapped to carry this process's own registrations to a worker (:class:`_Registered`)."""
    from gradlab.estimators import BUILTIN, REGISTRY
    from gradlab.problems.build import PROBLEM_KINDS, PROBLEMS

    builtin = {cls.name for cls in BUILTIN}
    estimators = {k: v for k, v in REGISTRY.items() if k not in builtin}
    problems = {k: v for k, v in PROBLEMS.items() if k not in PROBLEM_KINDS}
    return _Registered(fn, estimators, problems)
