"""Fault injection into real `python -m tfft.train` processes: SIGKILL at random moments (some timed to land inside a
checkpoint or best/ write), SIGTERM at random steps, a cut checkpoint file, a write failing in TensorFlow's own
file code, a read-only output directory, a diverging learning rate.

Goals, checked after every injection: resume finds the latest complete checkpoint (never a partial one), loses no
progress beyond one checkpoint interval, and under --deterministic ends with exactly the weights, best/ model and
test metrics of an uninterrupted run. CI runs a few injections; TFFT_FAULTS=full runs the full count.
"""

import glob
import pathlib
import random
import re
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file

from conftest import FAULTS_FULL, checkpoint_model_tensors, record_faults
from tfft.runs import read_metrics_log
from tfft.training.checkpointing import verify

pytestmark = pytest.mark.faults

ROOT = pathlib.Path(__file__).parent.parent.parent
UPDATES, INTERVAL = 24, 3  # 24 updates of 8 examples (the sample has 80 training examples: 2.4 epochs)
KILLS_PER_RUN = 3
RUNS = 8 if FAULTS_FULL else 1  # up to 3 SIGKILLs a run: 24 in full, 3 in CI
SIGTERMS = 5 if FAULTS_FULL else 1


def _flags(model, output_dir, *extra) -> list[str]:
    return ["--task=classification", f"--model={model}", "--dataset=sample", "--batch_size=8",
            "--max_seq_length=64", f"--max_steps={UPDATES}", f"--checkpoint_every={INTERVAL}", "--eval_every=6",
            "--keep_checkpoints=2", "--log_every=1", "--lr=1e-3", "--deterministic", f"--output_dir={output_dir}",
            *extra]


def _start(args, log_path: pathlib.Path) -> subprocess.Popen:
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, "-m", "tfft.train", *args], cwd=ROOT, stdout=log, stderr=log)


def _train(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfft.train", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, **kwargs)


def _last_logged_step(run_dir: pathlib.Path) -> int:
    if not (run_dir / "metrics.jsonl").is_file():
        return 0
    return max((r["step"] for r in read_metrics_log(run_dir) if r["split"] == "train"), default=0)


def _latest_step(run_dir: pathlib.Path) -> int:
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def _writes(run_dir: pathlib.Path) -> set[str]:
    """The temporary directories of checkpoint and best/ writes in the run directory."""
    return set(glob.glob(str(run_dir / "checkpoints" / "*_temp")) + glob.glob(str(run_dir / ".best.tmp-*")))


def _train_log(run_dir: pathlib.Path) -> list[tuple]:
    return [(r["step"], r["loss"], r["gradient_norm"], r["learning_rate"]) for r in read_metrics_log(run_dir)
            if r["split"] == "train"]


def _assert_same_run(run_dir: pathlib.Path, reference: pathlib.Path) -> float:
    """The run ended with the reference's weights, best/, test metrics and training log (each update logged once,
    with the same numbers); returns the largest weight difference."""
    assert _train_log(run_dir) == _train_log(reference)
    ours, theirs = checkpoint_model_tensors(run_dir), checkpoint_model_tensors(reference)
    assert ours.keys() == theirs.keys() and ours
    worst = max(float(np.abs(ours[n] - theirs[n]).max()) for n in ours)
    best, reference_best = (load_file(str(d / "best" / "model.safetensors")) for d in (run_dir, reference))
    assert all(np.array_equal(best[n], reference_best[n]) for n in best)
    assert (run_dir / "test_metrics.json").read_text() == (reference / "test_metrics.json").read_text()
    return worst


@pytest.fixture(scope="module")
def reference(tiny_model, tmp_path_factory) -> pathlib.Path:
    """The uninterrupted run every injected one must end equal to."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    result = _train(_flags(tiny_model, run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def _kill_once(process: subprocess.Popen, run_dir: pathlib.Path, log: pathlib.Path, rng: random.Random) -> str:
    """SIGKILLs the process at a moment of a randomly chosen kind: inside a checkpoint or best/ write (a new
    temporary directory appeared), while training (at a random time after its first logged update), or while
    starting (at a random time after launch). Returns where the kill landed, or 'ended' when the run finished
    first."""
    aim = rng.choices(["write", "training", "startup"], weights=[2, 3, 1])[0]
    earlier = _writes(run_dir)  # left by an earlier kill, until the resumed run removes them
    launched, deadline = time.monotonic(), None
    while process.poll() is None:
        writing = bool(_writes(run_dir) - earlier)
        training = "examples/s" in log.read_text(errors="replace")
        if aim == "startup" and deadline is None:
            deadline = launched + rng.uniform(0.0, 8.0)
        if aim == "training" and deadline is None and training:
            deadline = time.monotonic() + rng.uniform(0.0, 1.5)
        if (aim == "write" and writing) or (deadline is not None and time.monotonic() >= deadline):
            process.kill()
            process.wait()
            return "write" if writing else "training" if training else "startup"
        time.sleep(0.001 if aim == "write" else 0.01)
    return "ended"


@pytest.mark.slow
def test_random_sigkills_lose_nothing_and_resume_to_the_uninterrupted_weights(tiny_model, reference, tmp_path):
    rng = random.Random(20261201)
    kills = {"write": 0, "training": 0, "startup": 0}
    lost_beyond_interval, differing_runs, partial_taken = 0, 0, 0
    for run in range(RUNS):
        run_dir = tmp_path / f"run{run}"
        resume = []
        for attempt in range(KILLS_PER_RUN):
            log = tmp_path / f"run{run}-{attempt}.log"
            landed = _kill_once(_start(_flags(tiny_model, run_dir, *resume), log), run_dir, log, rng)
            if landed == "ended":
                break
            kills[landed] += 1
            logged, latest = _last_logged_step(run_dir), _latest_step(run_dir)
            latest_prefix = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
            partial_taken += latest_prefix is not None and verify(latest_prefix) is not None
            lost_beyond_interval += logged - latest > INTERVAL
            resume = ["--resume"] if (run_dir / "config.json").is_file() else []
        result = _train(_flags(tiny_model, run_dir, *resume))
        assert result.returncode == 0, result.stderr[-3000:]
        differing_runs += _assert_same_run(run_dir, reference) > 0.0
        assert not _writes(run_dir) and not glob.glob(str(run_dir / ".*.tmp*"))  # no temporary file left behind
    record_faults("sigkill", injected=sum(kills.values()), **{f"landed_{k}": v for k, v in kills.items()}, runs=RUNS,
                  lost_beyond_interval=lost_beyond_interval, partial_checkpoint_taken=partial_taken,
                  final_weights_differ=differing_runs)
    assert sum(kills.values()) >= (20 if FAULTS_FULL else 2)  # a kill misses only when its run ends first
    assert (lost_beyond_interval, partial_taken, differing_runs) == (0, 0, 0)


@pytest.mark.slow
def test_sigterm_at_a_random_step_checkpoints_there_and_resumes_exactly(tiny_model, reference, tmp_path):
    rng = random.Random(7)
    lost, differing = 0, 0
    for trial in range(SIGTERMS):
        run_dir = tmp_path / f"run{trial}"
        target = rng.randint(1, UPDATES - 2)
        process = _start(_flags(tiny_model, run_dir), tmp_path / f"run{trial}.log")
        while process.poll() is None and _last_logged_step(run_dir) < target:
            time.sleep(0.005)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=300) == 128 + signal.SIGTERM  # the shell's code: an unfinished run is no success
        log = (tmp_path / f"run{trial}.log").read_text()
        stopped = int(re.search(r"interrupted at step (\d+); continue with: python -m tfft.train "
                                rf"--flagfile={re.escape(str(run_dir / 'flags.txt'))} "
                                rf"--output_dir={re.escape(str(run_dir))} --resume", log).group(1))
        lost += _latest_step(run_dir) != stopped  # the checkpoint is at the step it stopped at
        result = _train(_flags(tiny_model, run_dir, "--resume"))
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"at step {stopped} " in result.stderr
        differing += _assert_same_run(run_dir, reference) > 0.0
    record_faults("sigterm", injected=SIGTERMS, lost_updates_runs=lost, final_weights_differ=differing)
    assert (lost, differing) == (0, 0)


@pytest.mark.slow
def test_a_cut_latest_checkpoint_is_skipped_with_a_warning_and_the_run_still_ends_exact(tiny_model, reference,
                                                                                        tmp_path):
    run_dir = tmp_path / "run"
    process = _start(_flags(tiny_model, run_dir), tmp_path / "run.log")
    while process.poll() is None and _latest_step(run_dir) < 2 * INTERVAL:
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=300) == 128 + signal.SIGTERM
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    data = pathlib.Path(glob.glob(f"{latest}.data-*")[0])
    data.write_bytes(data.read_bytes()[:100])
    result = _train(_flags(tiny_model, run_dir, "--resume"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"checkpoint {latest} is unreadable, falling back to the one before: {data}: " in result.stderr
    assert _assert_same_run(run_dir, reference) == 0.0
    record_faults("truncated_checkpoint", injected=1, lost="nothing: fell back to the previous checkpoint")


def _file_size_limit(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.slow
def test_a_checkpoint_write_failing_in_tensorflows_own_code_is_one_line_naming_the_directory(tiny_model, tmp_path):
    """The file size limit lets the small files through and fails the first checkpoint (about 12 MB) inside
    TensorFlow's C++ writer, the way a full disk fails it."""
    run_dir = tmp_path / "run"
    result = _train(_flags(tiny_model, run_dir), preexec_fn=_file_size_limit(4 << 20))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {run_dir / 'checkpoints'}: cannot write checkpoint {INTERVAL} (")
    assert tf.train.latest_checkpoint(str(run_dir / "checkpoints")) is None
    record_faults("write_failure_in_tensorflow", injected=1, lost="nothing written half; one-line error")


@pytest.mark.slow
def test_a_read_only_output_directory_is_one_line_naming_it(tiny_model, tmp_path):
    """Immutable (chattr +i), which binds root too: the tests may run as root, for whom chmod changes nothing."""
    parent = tmp_path / "read-only"
    parent.mkdir()
    if subprocess.run(["chattr", "+i", str(parent)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        result = _train(_flags(tiny_model, parent / "run"))
    finally:
        subprocess.run(["chattr", "-i", str(parent)], check=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (f"error: {parent / 'run'}: cannot write (Operation not "
                                                      "permitted)")
    assert list(parent.iterdir()) == []
    record_faults("read_only_output_dir", injected=1, lost="nothing: refused before any work")


@pytest.mark.slow
def test_a_diverging_learning_rate_stops_at_once_naming_the_update_and_checkpoint(tiny_model, tmp_path):
    run_dir = tmp_path / "run"
    result = _train(_flags(tiny_model, run_dir, "--lr=1e8", "--optimizer=sgd", "--clip_norm=0", "--warmup_ratio=0"))
    assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    update = int(re.match(r"error: update (\d+): non-finite loss or gradients, the run stopped", line).group(1))
    assert update < UPDATES  # at once, not at the end of an epoch
    latest = _latest_step(run_dir)
    assert latest == (update - 1) // INTERVAL * INTERVAL
    if latest:
        assert f"the last good checkpoint is {run_dir / 'checkpoints' / f'ckpt-{latest}'}" in line
    for name, tensor in checkpoint_model_tensors(run_dir).items() if latest else ():
        assert np.isfinite(tensor).all(), name
    if (run_dir / "best").exists():
        assert all(np.isfinite(v).all() for v in load_file(str(run_dir / "best" / "model.safetensors")).values())
    record_faults("diverging_lr", injected=1, stopped_at_update=update, last_good_checkpoint=latest)
