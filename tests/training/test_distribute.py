"""MirroredStrategy on 2 logical CPU devices gives the same updates as one device (run in a subprocess: logical
devices must be configured before TensorFlow initialises)."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parent.parent.parent

SCRIPT = r'''
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from conftest import padded_batch
from tfft.models import BertConfig, build_model
from tfft.optim import AdamW
from tfft.training.precision import LossScale
from tfft.training.steps import TrainSteps

config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                    max_position_embeddings=64, id2label=("a", "b", "c"), hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0)

def batches():
    out = []
    for seed in range(3):
        b = padded_batch(99, lengths=(9, 5, 3, 7, 12, 2, 6, 4), seed=seed, segments=True)
        b["labels"] = np.random.default_rng(seed).integers(0, 3, 8).astype(np.int32)
        b["example_index"] = np.arange(8, dtype=np.int32)
        out.append(b)
    return out

def run(strategy):
    with strategy.scope():
        model = build_model(config, "sequence_classification", seed=0)
        optimizer = AdamW(model.trainable_variables, learning_rate=1e-3, weight_decay=0.01)
        loss_scale = LossScale(enabled=False)
    steps = TrainSteps(model, list(model.trainable_variables), optimizer, loss_scale, strategy=strategy, xla=False,
                       clip_norm=1.0, class_weights=None, label_smoothing=0.0, normalizer=8)
    specs = {k: tf.TensorSpec([8, None][:v.ndim], tf.int32) for k, v in batches()[0].items()}  # any length
    data = strategy.experimental_distribute_dataset(tf.data.Dataset.from_generator(batches, output_signature=specs))
    steps.trace_any_length(data.element_spec, specs)
    losses = []
    for b in data:
        loss_sum, weight, examples, _, _ = steps.accumulate(b)
        assert float(examples) == 8
        steps.apply(weight, loss_sum)
        losses.append(float(loss_sum) / float(weight))
    assert steps.traces["gradients"] == strategy.num_replicas_in_sync, steps.traces  # one trace per replica
    return losses, [v.numpy() for v in model.trainable_variables]

single_losses, single = run(tf.distribute.get_strategy())
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert mirrored.num_replicas_in_sync == 2
mirrored_losses, weights = run(mirrored)
np.testing.assert_allclose(single_losses, mirrored_losses, atol=1e-5)
assert max(float(np.abs(a - b).max()) for a, b in zip(single, weights)) < 1e-5
print("ok", single_losses)
'''


@pytest.mark.slow
def test_mirrored_two_cpus_equals_one_device():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}  # the script uses conftest
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.startswith("ok")
