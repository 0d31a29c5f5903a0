"""``skutag train --model transformer --ray``: the fine-tuning loop of :func:`~skutag.workflows.train.train_model`
run data-parallel on a Ray cluster with Ray Train, surviving workers that die.

The driver (this process) reads the data and prepares the fit as a local run does; ``N`` Ray Train workers (a
``TorchTrainer``: DDP over gloo on CPUs, NCCL when the cluster has GPUs) each rebuild the same rows and initial
network from the same data and seed, and run skutag's own training loop (:class:`~skutag.trainer.loop.Trainer`)
on their share of every batch, so the run takes the steps, learning-rate schedule and batch size of one process.
Rank 0 evaluates on the held-out rows and, at each epoch's end (and every ``checkpoint_every`` steps), hands a
checkpoint (weights, optimizer, scheduler, progress) to ``ray.train.report``, which keeps the newest two under
``STORAGE/RUN``. A worker that dies fails the group; Ray Train restarts it (``FailureConfig(max_failures)``) and
the loop resumes from the newest checkpoint. The driver then loads the weights the run ended with and finishes
as a local run does (temperature, nearest-neighbour index, validation, calibration, the model directory).

The run's name is a digest of the data, the settings and the number of workers: the same command run again
(after the driver died) picks the run up from its newest checkpoint. Ray is imported here only.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from skutag.catalogue.labelled import data_hash
from skutag.catalogue.storage import is_uri
from skutag.errors import ConfigError
from skutag.log import get_logger
from skutag.trainer.checkpoint import final_weights, read_state
from skutag.trainer.loop import TrainOutcome, outcome_from_state
from skutag.trainer.runner import WorkerSetup
from skutag.workflows.ray_common import ray_session, run_driver
from skutag.workflows.train import TrainResult, train_model

log = get_logger(__name__)

T = TypeVar("T")

#: Test hook: a directory where each worker writes ``pid-PID.json`` (rank, epoch, batch, step) after each step.
PROBE_ENV = "SKUTAG_RAY_TRAIN_PROBE"
#: Restarts of the worker group after a failure before the run gives up.
MAX_FAILURES = 3
#: Ray's switch back to the Ray Train API of before 2.5x (no committed-checkpoint wait, no rank-0 broadcast)
V2_FLAG = "RAY_TRAIN_V2_ENABLED"


class RayDistributed:
    """One Ray Train worker as the training loop sees it (:class:`~skutag.trainer.distributed.Distributed`)."""

    def __init__(self, probe: str | None = None) -> None:
        import ray.train

        ctx = ray.train.get_context()
        self.rank = int(ctx.get_world_rank())
        self.world_size = int(ctx.get_world_size())
        self.probe = Path(probe) if probe else None

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        from ray.train.torch import prepare_model

        return prepare_model(model, move_to_device=False)  # DistributedDataParallel when there are several

    def from_rank0(self, compute: Callable[[], Any]) -> Any:
        from ray.train.collective import broadcast_from_rank_zero

        return broadcast_from_rank_zero(compute() if self.rank == 0 else None)

    def restore(self, read: Callable[[Path], T]) -> T | None:
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            return None
        log.warning("rank %d resumes from %s", self.rank, checkpoint.path)
        with checkpoint.as_directory() as folder:
            return read(Path(folder))

    def report(self, metrics: dict[str, float], write: Callable[[Path], None] | None) -> None:
        import ray.train

        if write is None:
            ray.train.report(metrics)
            return
        name = f"checkpoint-epoch{int(metrics['epoch']):03d}-batch{int(metrics['batch']):06d}"
        with tempfile.TemporaryDirectory(prefix="skutag-checkpoint-") as folder:
            write(Path(folder))
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder), checkpoint_dir_name=name)
        # the controller registers reports when it next polls the workers: wait for it, so that a checkpoint the
        # loop has gone past is one a restart resumes from (a worker killed before the poll would lose it)
        ray.train.get_all_reported_checkpoints(consistency_mode=ray.train.CheckpointConsistencyMode.COMMITTED)

    def after_step(self, epoch: int, batch: int, step: int) -> None:
        if self.probe is None:
            return
        record = {"rank": self.rank, "pid": os.getpid(), "epoch": epoch, "batch": batch, "step": step}
        tmp = self.probe / f".pid-{os.getpid()}.tmp"
        tmp.write_text(json.dumps(record), "utf-8")
        tmp.replace(self.probe / f"pid-{os.getpid()}.json")


def _train_worker(config: dict[str, Any]) -> None:
    """The function each Ray Train worker runs: build the trainer, then train with this worker's share."""
    import ray

    threads = int(config["threads"])
    torch.set_num_threads(threads)
    if torch.cuda.is_available():
        from ray.train.torch import get_device

        device = get_device()
        if device.type == "cuda":
            torch.cuda.set_device(device)  # "cuda" is this worker's GPU from here on
    build: WorkerSetup = ray.get(config["build"][0])
    trainer, ids, targets = build()
    torch.set_num_threads(threads)  # building resolves the device, which sizes torch's pool to the machine
    trainer.train(ids, targets, dist=RayDistributed(config.get("probe")))


def _fit_job(
    job: dict[str, Any], on_rows: Callable[[int], None] | None
) -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
    """:func:`_fit_on_cluster` in :func:`run_driver`'s shape (a fine-tune reports no rows)."""
    return _fit_on_cluster(job)


def _fit_on_cluster(job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
    """Run the Ray Train job (from a process connected to the cluster); the last checkpoint's trainer state and the
    weights the run ended with, and where the checkpoint is."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={"build": job["build"], "threads": job["threads"], "probe": job["probe"]},
        torch_config=TorchConfig(backend=job["backend"]),
        scaling_config=ScalingConfig(
            num_workers=job["workers"], use_gpu=job["use_gpu"], resources_per_worker={"CPU": job["cpus"]}
        ),
        run_config=RunConfig(
            name=job["name"],
            storage_path=job["storage"],
            failure_config=FailureConfig(max_failures=job["max_failures"]),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
        ),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    if result.checkpoint is None:
        raise ConfigError("the Ray Train run reported no checkpoint")
    with result.checkpoint.as_directory() as folder:
        return read_state(Path(folder)), final_weights(Path(folder)), str(result.checkpoint.path)


class RayLoopRunner:
    """Runs a fit's training loop on a Ray cluster (:class:`~skutag.trainer.runner.LoopRunner`)."""

    def __init__(
        self,
        *,
        name: str,
        storage: str,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_worker: float = 1.0,
        max_failures: int = MAX_FAILURES,
        ray_init: dict[str, Any] | None = None,
        keep_checkpoints: bool = True,
    ) -> None:
        self.name = name
        self.keep_checkpoints = keep_checkpoints
        self.storage = storage
        self.address = address
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.max_failures = max_failures
        self.ray_init = ray_init or {}
        self.card: dict[str, Any] = {}

    def __call__(self, build: WorkerSetup) -> tuple[TrainOutcome, dict[str, torch.Tensor]]:
        t0 = time.perf_counter()
        with ray_session(self.address, **self.ray_init) as ray:
            resources = ray.cluster_resources()
            use_gpu = resources.get("GPU", 0) >= 1
            workers = self._workers(float(resources.get("CPU", 0)), float(resources.get("GPU", 0)))
            job = {
                "build": [ray.put(build)],  # in a list: the workers get the reference, not the object
                "threads": max(1, int(self.cpus_per_worker)),
                "probe": os.environ.get(PROBE_ENV) or None,
                "backend": "nccl" if use_gpu else "gloo",
                "workers": workers,
                "use_gpu": use_gpu,
                "cpus": self.cpus_per_worker,
                "name": self.name,
                "storage": self.storage,
                "max_failures": self.max_failures,
            }
            log.info("fine-tuning on %d Ray Train worker(s) (%s), run %s", workers, job["backend"], self.name)
            # a Ray Client cannot drive a Ray Train run either: run_driver runs it as a task on the cluster
            state, weights, where = run_driver(ray, self.address, _fit_job, job, None, rows=lambda _: 0)
        outcome = outcome_from_state(state)
        outcome.seconds = time.perf_counter() - t0
        self.card = {
            "framework": "ray-train",
            "workers": workers,
            "cpus_per_worker": self.cpus_per_worker,
            "gpus": bool(use_gpu),
            "backend": job["backend"],
            "run": self.name,
            **({"checkpoint": where} if self.keep_checkpoints else {}),
            "steps": outcome.steps,
            "resumed_at_steps": outcome.resumes,
        }
        return outcome, weights

    def _workers(self, cpus: float, gpus: float) -> int:
        """``workers`` as asked (checked against a local cluster's CPUs), else one per GPU or per worker's CPUs."""
        if self.workers is not None:
            if self.workers < 1:
                raise ConfigError(f"--workers must be at least 1, got {self.workers}")
            need = self.workers * self.cpus_per_worker
            if need > cpus:
                message = (
                    f"{self.workers} workers x {self.cpus_per_worker:g} CPUs need more than the cluster's {cpus:g} "
                    "CPUs; lower --workers or --cpus-per-worker"
                )
                if self.address is None:
                    raise ConfigError(message)
                log.warning("%s (or the cluster must grow)", message)
            return self.workers
        fit = int(gpus) if gpus >= 1 else int(cpus // self.cpus_per_worker)
        if fit < 1:
            raise ConfigError(f"the cluster's {cpus:g} CPUs hold no worker of {self.cpus_per_worker:g} CPUs")
        return fit


def run_name(paths: Sequence[str | Path], settings: dict[str, Any]) -> str:
    """``skutag-train-DIGEST``: the same data and settings name the same run (which then resumes)."""
    digest = hashlib.sha256(data_hash(paths).encode())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return f"skutag-train-{digest.hexdigest()[:16]}"


def train_model_ray(
    data: str | Path | Sequence[str | Path],
    *,
    out: str | Path,
    model: str = "transformer",
    params: dict[str, Any] | None = None,
    address: str | None = None,
    workers: int | None = None,
    cpus_per_worker: float = 1.0,
    storage: str | Path | None = None,
    max_failures: int = MAX_FAILURES,
    ray_init: dict[str, Any] | None = None,
    **train: Any,
) -> TrainResult:
    """:func:`~skutag.workflows.train.train_model` (same arguments in ``train``) with the fine-tuning loop on Ray
    Train: ``workers`` data-parallel workers of ``cpus_per_worker`` CPUs each (default: as many as the cluster
    holds; one per GPU on a GPU cluster) on the cluster at ``address`` (None: a local one started for the run,
    sized by ``ray_init``). Checkpoints go to ``storage`` (a local path, shared by every node on a multi-node
    cluster, or a URI such as ``s3://bucket/prefix``); by default ``OUT.ray-train/`` beside the model directory,
    removed once the model is saved. ``max_failures``: restarts of the worker group after a worker died."""
    if model != "transformer":
        raise ConfigError(f"--ray fine-tunes --model transformer; {model!r} trains in one process")
    if os.environ.get(V2_FLAG, "1").lower() in ("0", "false", "no"):
        raise ConfigError(f"--ray needs Ray Train's current API: unset {V2_FLAG} (it is {os.environ[V2_FLAG]!r})")
    importlib.import_module("ray.train")  # without the ray extra, say so before any work
    paths = [data] if isinstance(data, str | Path) else list(data)
    keep = storage is not None
    target = str(storage) if storage is not None else str(Path(out).absolute()) + ".ray-train"
    if not is_uri(target):
        target = str(Path(target).absolute())  # Ray Train wants an absolute path
    settings = {
        "model": model,
        "params": params or {},
        "workers": workers,
        "cpus_per_worker": cpus_per_worker,
        **{k: train.get(k) for k in ("text", "label", "label_sep", "levels")},
    }
    runner = RayLoopRunner(
        name=run_name([str(p) for p in paths], settings),
        storage=target,
        address=address,
        workers=workers,
        cpus_per_worker=cpus_per_worker,
        max_failures=max_failures,
        ray_init=ray_init,
        keep_checkpoints=keep,
    )
    result = train_model(data, model=model, params=params, out=out, loop_runner=runner, **train)
    if not keep:
        with contextlib.suppress(OSError):
            shutil.rmtree(Path(target) / runner.name)
            Path(target).rmdir()  # only when no other run is kept there
    return result
