"""MultiWorkerMirroredStrategy over local processes (`python -m tfft.launch`): two workers train what one worker
trains with the same global batch, and a worker killed mid-run ends the job cleanly; a relaunch with --resume
finishes it with the uninterrupted run's weights."""

import json
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import checkpoint_model_tensors, record_faults
from tfft.cluster import is_chief, tf_config
from tfft.runs import read_metrics_log

pytestmark = pytest.mark.faults

ROOT = pathlib.Path(__file__).parent.parent.parent
# Two workers sum the two halves of each batch in another order than one worker sums the whole: float32 rounding.
TOLERANCE = 1e-5


def _flags(model, output_dir, updates=6, *extra) -> list[str]:
    return ["--task=classification", f"--model={model}", "--dataset=sample", "--batch_size=8",
            "--max_seq_length=64", f"--max_steps={updates}", "--checkpoint_every=2", "--eval_every=6",
            "--log_every=1", "--lr=1e-3", "--deterministic", f"--output_dir={output_dir}", *extra]


def _run(command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


def _train_losses(run_dir: pathlib.Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_metrics_log(run_dir) if r["split"] == "train"}


def _largest_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys() and a
    return max(float(np.abs(a[n] - b[n]).max()) for n in a)


@pytest.fixture(scope="module")
def single(tiny_model_without_dropout, tmp_path_factory) -> pathlib.Path:
    run_dir = tmp_path_factory.mktemp("single") / "run"
    _run(["tfft.train", *_flags(tiny_model_without_dropout, run_dir, 12)])
    return run_dir


def test_the_chief_is_worker_0_or_the_chief_task():
    assert is_chief({}) and is_chief({"TF_CONFIG": tf_config([1, 2], 0)}) and not is_chief(
        {"TF_CONFIG": tf_config([1, 2], 1)})
    chief_cluster = {"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "worker", "index": 0}}
    assert not is_chief({"TF_CONFIG": json.dumps(chief_cluster)})


@pytest.mark.slow
def test_two_workers_train_what_one_worker_trains_with_the_same_global_batch(tiny_model_without_dropout, single,
                                                                              tmp_path):
    run_dir = tmp_path / "run"
    result = _run(["tfft.launch", "--workers=2", "--", *_flags(tiny_model_without_dropout, run_dir, 12)])
    assert result.stdout.strip().splitlines()[-1] == "2 workers finished"
    assert "[worker 1] " in result.stderr
    one, two = _train_losses(single), _train_losses(run_dir)
    assert list(one) == list(two) == list(range(1, 13))
    loss_difference = max(abs(one[s] - two[s]) for s in one)
    weight_difference = _largest_difference(checkpoint_model_tensors(single), checkpoint_model_tensors(run_dir))
    timing = [json.loads((d / "timing.json").read_text()) for d in (single, run_dir)]
    assert timing[0]["examples"] == timing[1]["examples"] == 96  # each example once: the workers split each batch
    assert loss_difference < TOLERANCE and weight_difference < TOLERANCE
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(p.name for p in single.iterdir())  # the chief's
    record_faults("two_workers_vs_one", updates=12, largest_loss_difference=loss_difference,
                  largest_weight_difference=weight_difference, tolerance=TOLERANCE)


@pytest.mark.slow
def test_a_killed_worker_stops_the_job_and_a_relaunch_resumes_it(tiny_model_without_dropout, single, tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "tfft.launch", "--workers=2", "--", *_flags(tiny_model_without_dropout, run_dir,
                                                                                  12)]
    launcher = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while launcher.poll() is None and not (run_dir / "checkpoints" / "ckpt-4.index").exists():
        time.sleep(0.01)
    workers = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True).stdout.split()
    assert len(workers) == 2
    worker_1 = max(workers, key=lambda pid: "index\": 1" in pathlib.Path(f"/proc/{pid}/environ").read_text(
        errors="replace"))
    subprocess.run(["kill", "-KILL", worker_1], check=True)
    _, stderr = launcher.communicate(timeout=300)
    assert launcher.returncode == 1
    assert stderr.strip().splitlines()[-1] == (
        "error: worker 1 was killed by SIGKILL; the job stopped; the chief's last complete checkpoint stays: run the "
        "same command with --resume to continue from it")
    stopped_at = int(tf.train.latest_checkpoint(str(run_dir / "checkpoints")).rsplit("-", 1)[1])
    assert stopped_at >= 4
    resumed = _run(["tfft.launch", "--workers=2", "--", *_flags(tiny_model_without_dropout, run_dir, 12),
                    "--resume"])
    assert f"at step {stopped_at} " in resumed.stderr
    difference = _largest_difference(checkpoint_model_tensors(single), checkpoint_model_tensors(run_dir))
    assert difference < TOLERANCE
    record_faults("worker_killed", injected=1, resumed_from_step=stopped_at,
                  largest_weight_difference_to_uninterrupted=difference)


@pytest.mark.slow
def test_sigterm_to_the_launcher_checkpoints_every_worker_at_one_step(tiny_model_without_dropout, tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "tfft.launch", "--workers=2", "--",
               *_flags(tiny_model_without_dropout, run_dir, 200)]
    launcher = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while launcher.poll() is None and not (run_dir / "checkpoints" / "ckpt-2.index").exists():
        time.sleep(0.01)
    launcher.send_signal(signal.SIGTERM)
    stdout, stderr = launcher.communicate(timeout=300)
    assert launcher.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    steps = {int(s) for s in re.findall(r"interrupted at step (\d+)", stdout + stderr)}
    assert len(steps) == 1  # both workers, the same step
    assert tf.train.latest_checkpoint(str(run_dir / "checkpoints")).endswith(f"ckpt-{steps.pop()}")
