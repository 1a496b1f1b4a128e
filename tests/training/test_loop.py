"""The loop's reaction to a non-finite loss planted at a chosen update (fp32, no loss scaling): --nan_policy=stop
ends the run at that update, naming it and the last good checkpoint; --nan_policy=skip skips and counts it. Either
way the update never reaches the weights and best/ holds finite ones."""

import json

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file

from conftest import tiny_run_config
from tfft.runs import read_metrics_log, start_run
from tfft.training import steps as steps_module
from tfft.training.loop import train_and_evaluate
from tfft.training.precision import DivergedError

PLANTED = 4  # the micro-batch (= update, one micro-batch each) whose loss is NaN


@pytest.fixture
def nan_at_update_4(monkeypatch):
    """The training forward pass returns NaN logits on its PLANTED-th call (evaluation passes are not counted)."""
    calls = tf.Variable(0)
    forward = steps_module.forward

    def planted(model, batch, *, training, frozen_encoder=False):
        logits = forward(model, batch, training=training, frozen_encoder=frozen_encoder)
        if not training:
            return logits
        poison = tf.where(tf.equal(calls.assign_add(1), PLANTED), np.nan, 0.0)
        return logits + tf.cast(poison, logits.dtype)

    monkeypatch.setattr(steps_module, "forward", planted)


def _finite_best(run_dir) -> bool:
    return all(np.isfinite(v).all() for v in load_file(str(run_dir / "best" / "model.safetensors")).values())


@pytest.mark.slow
def test_stop_ends_the_run_at_the_planted_update_naming_the_last_good_checkpoint(tiny_model, tmp_path,
                                                                                 nan_at_update_4):
    run = tiny_run_config(tiny_model, "classification", checkpoint_every=2, eval_every=2, log_every=1)
    start_run(run, tmp_path)
    with pytest.raises(DivergedError) as caught:
        train_and_evaluate(run, tmp_path)
    checkpoint = tmp_path / "checkpoints" / "ckpt-2"
    assert str(caught.value) == (f"update {PLANTED}: non-finite loss or gradients, the run stopped "
                                 f"(--nan_policy=stop) and the update was not applied; the last good checkpoint is "
                                 f"{checkpoint}: --resume continues from it (add --nan_policy=skip to skip such "
                                 "updates)")
    assert (caught.value.update, caught.value.checkpoint) == (PLANTED, str(checkpoint))
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")) == str(checkpoint)
    assert _finite_best(tmp_path) and json.loads((tmp_path / "best_metrics.json").read_text())["step"] == 2
    assert not (tmp_path / "test_metrics.json").exists()


@pytest.mark.slow
def test_skip_skips_and_counts_the_planted_update_and_finishes(tiny_model, tmp_path, nan_at_update_4):
    run = tiny_run_config(tiny_model, "classification", nan_policy="skip", log_every=1)
    start_run(run, tmp_path)
    result = train_and_evaluate(run, tmp_path)
    assert "accuracy" in result and _finite_best(tmp_path)
    train = [r for r in read_metrics_log(tmp_path) if r["split"] == "train"]
    assert [r["step"] for r in train] == [1, 2, 3, 3, 4, 5, 6]  # the skipped update logs at the step it left
    assert [r["skipped_steps"] for r in train] == [0, 0, 0, 1, 1, 1, 1]
    reader = tf.train.load_checkpoint(str(tmp_path / "checkpoints"))
    assert all(np.isfinite(reader.get_tensor(name)).all() for name in reader.get_variable_to_shape_map()
               if name.startswith("model/"))


def test_progress_line_says_where_the_run_is_and_the_time_left_at_its_pace():
    from tfft.training.loop import progress_line

    numbers = {"loss": 0.56941, "learning_rate": 8.43e-5, "examples_per_second": 28.14}
    # 40 - 10 = 30 updates in 60 s: 2 s each, 74 left: 148 s
    assert progress_line(40, 114, 10, 60.0, numbers) == ("update 40/114 (35%): loss 0.5694, lr 8.4e-05, 28.1 "
                                                         "examples/s, 2:28 left")
