"""Where trials run: a local pool of processes (the default) or the tasks of a Ray cluster (`--ray`).

Both take a batch of jobs and return their results in the jobs' order, whatever order they finish in:
the study tells Optuna in that order, so the same seed gives the same trials on either.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from engine.errors import UserError
from engine.optimize.trial import StudyContext, TrialJob, run_trial

RAY_MISSING = "--ray needs Ray, which is not installed: install the ray extra: uv sync --extra ray"


class Workers(Protocol):
    size: int

    def run(self, jobs: list[TrialJob]) -> list[dict[str, Any]]: ...

    def close(self, *, abandon: bool = False) -> None: ...


def _init_worker(ctx: StudyContext) -> None:
    # Ctrl+C goes to the whole process group; the study process alone decides what it stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("ENGINE_OFFLINE", "1")


def _run(ctx: StudyContext, job: TrialJob) -> dict[str, Any]:
    # A trial's engine logs (halts, stop-loss streaks) would flood the study's console; its figures
    # say what matters. Errors still show.
    logging.getLogger().setLevel(logging.ERROR)
    return run_trial(ctx, job)


class LocalPool:
    """K processes forked from a forkserver that has imported the engine once (its pages are shared)."""

    def __init__(self, ctx: StudyContext, size: int) -> None:
        self.ctx, self.size = ctx, size
        mp = multiprocessing.get_context("forkserver")
        mp.set_forkserver_preload(["engine.optimize.trial", "engine.run.backtest", "pandas", "numpy"])
        self._pool = ProcessPoolExecutor(max_workers=size, mp_context=mp, initializer=_init_worker,
                                         initargs=(ctx,))

    def run(self, jobs: list[TrialJob]) -> list[dict[str, Any]]:
        futures: list[Future[dict[str, Any]]] = [self._pool.submit(_run, self.ctx, job) for job in jobs]
        return [f.result() for f in futures]

    def pids(self) -> list[int]:
        return [p.pid for p in getattr(self._pool, "_processes", {}).values() if p.pid is not None]

    def close(self, *, abandon: bool = False) -> None:
        if abandon:
            # Running trials are abandoned (the study marks them failed); the pool has no public way to
            # stop a running task, so its processes are ended by their own ids.
            processes = list(getattr(self._pool, "_processes", {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                if process.is_alive():
                    process.terminate()
        else:
            self._pool.shutdown(wait=True)


class RayWorkers:
    """Trials as Ray tasks on a cluster (`auto`, an address, or `local`: a cluster of this machine)."""

    def __init__(self, ctx: StudyContext, address: str, size: int | None) -> None:
        # Under `uv run`, Ray would start its workers with `uv run` in a copy of the project, a fresh
        # environment without the ray extra; the workers must use this interpreter, as the nodes of a
        # real cluster use theirs (read at import, so set before it).
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        try:
            import ray
        except ImportError:
            raise UserError(RAY_MISSING) from None
        self._ray = ray
        self._own = not ray.is_initialized()
        if self._own:
            # The project is not an installed package: workers find it at the path it has here, which
            # every node of a real cluster must share (README, Optimisation).
            project = str(Path(__file__).resolve().parents[2])
            env = {"env_vars": {"ENGINE_OFFLINE": "1", "PYTHONPATH": project}}
            if address == "local":  # a cluster of this machine only, on the loopback address
                ray.init(address="local", num_cpus=size, include_dashboard=False, log_to_driver=False,
                         _node_ip_address="127.0.0.1", runtime_env=env)
            else:
                ray.init(address=address, log_to_driver=False, runtime_env=env)
        self.ctx = ctx
        self.size = size or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._task = ray.remote(num_cpus=1, max_retries=0)(_run)
        self._pending: list[Any] = []

    def run(self, jobs: list[TrialJob]) -> list[dict[str, Any]]:
        self._pending = [self._task.remote(self.ctx, job) for job in jobs]
        try:
            return list(self._ray.get(self._pending))
        finally:
            self._pending = []

    def close(self, *, abandon: bool = False) -> None:
        if abandon:
            for ref in self._pending:
                self._ray.cancel(ref, force=True)
        if self._own:
            self._ray.shutdown()


def ray_missing() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("ray") is None
    except (ImportError, ValueError):  # a `ray` entry set to None in sys.modules
        return True


def open_workers(ctx: StudyContext, size: int, ray_address: str | None) -> Workers:
    if ray_address is not None:
        return RayWorkers(ctx, ray_address, size)
    return LocalPool(ctx, size)
