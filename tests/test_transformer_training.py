"""Training pieces: arguments, length-bucketing collator, losses, early stopping, curves, and a training run
killed mid-way (SIGKILL) that resumes from its last checkpoint and ends where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from skutag.errors import ConfigError
from skutag.trainer.arguments import TrainingArguments
from skutag.trainer.callbacks import CurveLogger, EarlyStopping
from skutag.trainer.checkpoint import LAST
from skutag.trainer.collator import PaddingCollator, bucket_batches, sorted_batches
from skutag.trainer.losses import class_weights, focal_loss, level_loss
from test_transformer_helpers import tiny_encoder


def test_arguments_validate_and_round_trip() -> None:
    args = TrainingArguments(epochs=2, loss="focal")
    assert TrainingArguments.from_dict(args.to_dict()) == args
    with pytest.raises(ConfigError):
        TrainingArguments(loss="nope")
    with pytest.raises(ConfigError):
        TrainingArguments.from_dict({"epochz": 1})


def test_bucket_batches_cover_every_row_once_with_similar_lengths() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, size=1000).tolist()
    batches = bucket_batches(lengths, 16, seed=3, bucket=8)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    spread = np.mean([np.ptp(np.asarray(lengths)[b]) for b in batches])
    random_spread = np.mean([np.ptp(np.asarray(lengths)[rng.permutation(1000)[:16]]) for _ in range(50)])
    assert spread < random_spread / 2
    assert [b.tolist() for b in bucket_batches(lengths, 16, seed=3, bucket=8)] == [b.tolist() for b in batches]
    assert [b.tolist() for b in bucket_batches(lengths, 16, seed=4, bucket=8)] != [b.tolist() for b in batches]


def test_sorted_batches_and_padding() -> None:
    batches = sorted_batches([5, 1, 3], 2)
    assert [b.tolist() for b in batches] == [[1, 2], [0]]
    batch = PaddingCollator(pad_id=0)([[7, 8, 9], [4]], y=np.array([1, 2]), labels=[np.array([0, 1, 2]), np.array([5])])
    assert batch["input_ids"].tolist() == [[7, 8, 9], [4, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[0, 1, 2], [5, -100, -100]]
    assert batch["y"].tolist() == [1, 2]


def test_losses() -> None:
    y = np.array([0, 0, 0, 0, 1])
    w = class_weights(y, 3, power=1.0)
    assert w[1] > w[0] and w[2] == 1.0
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    target = torch.tensor([0, 0])
    ce = torch.nn.functional.cross_entropy(logits, target)
    assert focal_loss(logits, target, gamma=0.0).item() == pytest.approx(ce.item(), rel=1e-5)
    assert focal_loss(logits, target, gamma=2.0).item() < ce.item()
    assert level_loss(logits, target, "weighted", torch.tensor([1.0, 1.0])).item() == pytest.approx(ce.item())


def test_early_stopping() -> None:
    stop = EarlyStopping(patience=2)
    assert stop.improved(0.5) and not stop.should_stop
    assert not stop.improved(0.4) and not stop.should_stop
    assert not stop.improved(0.5) and stop.should_stop


def test_curve_logger_writes_png_history_and_tensorboard(tmp_path: Path) -> None:
    logger = CurveLogger(tmp_path)
    logger.step(1, {"train_loss": 1.0})
    for epoch in (1, 2):
        logger.epoch({"epoch": epoch, "train_loss": 1.0 / epoch, "valid_score": 0.5 * epoch})
    logger.close()
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert len(json.loads((tmp_path / "history.json").read_text())) == 2
    assert any(p.name.startswith("events") for p in (tmp_path / "tensorboard").iterdir())


RUN = """
import sys, json
sys.path.insert(0, {tests!r})
from test_transformer_helpers import synthetic_catalogue
from skutag.models.neural.transformer import TransformerModel
texts, labels = synthetic_catalogue(128)
m = TransformerModel(encoder={enc!r}, epochs=2, batch_size=8, checkpoint_dir={ckpt!r}, checkpoint_every=4,
                     num_threads=1, progress_bar=False, head_lr=1e-2, patience=0, valid_fraction=0.0, seed=7)
m.fit(texts, labels)
o = m.outcome_
total = float(sum(p.detach().double().sum() for p in m.net_.parameters()))
json.dump({{"steps": o.steps, "resumed": o.resumed_from_step, "sum": total}}, open({result!r}, "w"))
"""


def _script(tmp: Path, enc: str, name: str) -> tuple[str, Path, Path]:
    ckpt, result = tmp / f"{name}.ckpt", tmp / f"{name}.json"
    tests = str(Path(__file__).parent)
    return RUN.format(tests=tests, enc=enc, ckpt=str(ckpt), result=str(result)), ckpt, result


def test_killed_run_resumes_from_last_checkpoint(tmp_path: Path) -> None:
    enc = tiny_encoder(tmp_path / "enc")
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    code, ckpt, result = _script(tmp_path, enc, "killed")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    state = ckpt / LAST / "trainer_state.json"
    deadline = time.monotonic() + 900  # generous: a loaded CI machine must not kill before step 8
    while time.monotonic() < deadline and proc.poll() is None:
        if state.is_file() and json.loads(state.read_text())["step"] >= 8:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be killed (machine too fast for this test)")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(state.read_text())["step"]
    assert killed_at >= 8 and not result.exists()
    # resume: same command, same checkpoint directory
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    resumed = json.loads(result.read_text())
    assert resumed["resumed"] is not None and resumed["resumed"] >= killed_at
    assert resumed["steps"] == 32  # 2 epochs x 16 batches of 8
    # an uninterrupted run ends with the same weights (checkpoints restore optimizer, schedule and RNG)
    code2, _, result2 = _script(tmp_path, enc, "straight")
    exec(compile(code2, "<straight run>", "exec"), {})  # in this process: one interpreter start less
    straight = json.loads(result2.read_text())
    assert straight["resumed"] is None
    assert resumed["sum"] == pytest.approx(straight["sum"], rel=1e-6)
