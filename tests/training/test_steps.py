"""The compiled steps on a tiny model: freezing computes no gradient and changes nothing, accumulation equals
one big batch, XLA equals no XLA, and a planted non-finite gradient is skipped under fp16 loss scaling.

The steps run a one-block model (freezing: two blocks): every trace and XLA compile is of one block less, and
what is checked does not depend on depth. The tests without XLA, and those with it, share one TrainSteps each
(`shared_steps`), restarted from its initial state (every variable read back from a checkpoint) before each
use: the compiled `apply` and the traced steps are made once."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from conftest import padded_batch
from tfft.models import BertConfig, build_model
from tfft.optim import AdamW
from tfft.training.freeze import FreezeError, frozen_block_count, layer_lr_scales, trainable_variables
from tfft.training.precision import LossScale
from tfft.training import steps as steps_module
from tfft.training.steps import TrainSteps

TINY = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=37,
                  max_position_embeddings=64, id2label=("a", "b", "c"), hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0)
ONE_BLOCK = dataclasses.replace(TINY, num_hidden_layers=1)  # the steps' tests: a trace or compile per block less
TWO_BLOCKS = dataclasses.replace(TINY, num_hidden_layers=2)  # freezing: a partly frozen stack of blocks


def _batch(lengths, seed):
    batch = padded_batch(99, lengths=lengths, seed=seed, segments=True)
    batch["labels"] = np.random.default_rng(seed).integers(0, 3, len(lengths)).astype(np.int32)
    batch["example_index"] = np.arange(len(lengths), dtype=np.int32)
    return {k: tf.constant(v) for k, v in batch.items()}


def _steps(freeze="none", xla=False, fp16=False, seed=0, config=ONE_BLOCK):
    model = build_model(config, "sequence_classification", seed=seed,
                        compute_dtype=tf.float16 if fp16 else tf.float32)
    trainable = trainable_variables(model, freeze)
    optimizer = AdamW(trainable, learning_rate=1e-3, weight_decay=0.01)
    return model, TrainSteps(model, trainable, optimizer, LossScale(enabled=fp16), strategy=tf.distribute.get_strategy(),
                             xla=xla, clip_norm=1.0, class_weights=None, label_smoothing=0.0, normalizer=8)


def _update(steps, batches):
    loss = weight = 0.0
    for batch in batches:
        loss_sum, batch_weight = steps.accumulate(batch)[:2]
        loss, weight = loss + float(loss_sum), weight + float(batch_weight)
    return steps.apply(tf.constant(weight), tf.constant(loss))


def _trace_batches():
    return [_batch((9, 5, 3, 7), 0), _batch((12, 2, 6, 4), 0), _batch((4, 5, 3, 2), 0)]  # lengths 9, 12, 5


def _count_traces(steps, any_length: bool) -> dict:
    """The traces of a fresh TrainSteps over two passes of three batch lengths, each an update and predictions."""
    batches = _trace_batches()
    if any_length:
        specs = {key: tf.TensorSpec([4, None][:value.shape.rank], value.dtype) for key, value in batches[0].items()}
        steps.trace_any_length(specs, specs)
    for _ in range(2):
        _update(steps, batches)
        for batch in batches:
            steps.predict(batch)
    return dict(steps.traces)


@dataclasses.dataclass
class Shared:
    model: object
    steps: TrainSteps
    traces: dict  # what `_count_traces` counted on it when it was new (any_length=True)
    restart: object  # () -> the model, optimizer, loss scale and accumulator as they were made


@pytest.fixture(scope="module")
def shared_steps(tmp_path_factory):
    """xla -> Shared: one fp32 TrainSteps per --xla setting (same seed, so the same initial weights), made on first
    use, where it counts its traces; every test then restarts it."""
    made = {}

    def get(xla: bool) -> Shared:
        if xla not in made:
            model, steps = _steps(seed=6, xla=xla)
            state = tf.train.Checkpoint(model=model, optimizer=steps.optimizer, loss_scale=steps.loss_scale,
                                        accumulator=steps.accumulator)
            path = state.write(str(tmp_path_factory.mktemp("initial-steps") / "state"))
            made[xla] = Shared(model, steps, _count_traces(steps, any_length=True),
                               lambda: state.read(path).assert_consumed())
        made[xla].restart()
        return made[xla]

    return get


def _weights(model) -> list[np.ndarray]:
    return [v.numpy().copy() for v in model.trainable_variables]


def test_freeze_specs():
    assert frozen_block_count("bottom:2", 3) == 2 and frozen_block_count("all", 3) is None
    for bad in ("bottom:4", "bottom:x", "top:1", "some"):
        with pytest.raises(FreezeError, match="--freeze="):
            frozen_block_count(bad, 3)


@pytest.mark.slow
@pytest.mark.parametrize("spec,trained", [("all", {"classifier"}), ("bottom:1", {"block_1", "pooler", "classifier"}),
                                          ("embeddings", {"block_0", "block_1", "pooler", "classifier"})])
def test_frozen_variables_get_no_gradient_and_keep_their_values(spec, trained):
    model, steps = _steps(freeze=spec, config=TWO_BLOCKS)
    before = {v.ref(): v.numpy().copy() for v in model.trainable_variables}
    watched = {v.ref() for v in steps.trainable}
    _update(steps, [_batch((9, 5, 3, 7), 0)])
    for v in model.trainable_variables:
        changed = not np.array_equal(before[v.ref()], v.numpy())
        assert changed == (v.ref() in watched), v.name
    assert len(steps.trainable) == len(steps.accumulator.sums) < len(model.trainable_variables)


@pytest.mark.slow
def test_accumulation_equals_one_big_batch(shared_steps):
    """The same TrainSteps from the same start: 3 updates of 8 examples, then (restarted) 3 of two halves each."""
    big = _batch((9, 5, 3, 7, 12, 2, 6, 4), 1)
    halves = [{k: v[:4] for k, v in big.items()}, {k: v[4:] for k, v in big.items()}]
    shared = shared_steps(xla=False)
    for _ in range(3):
        _update(shared.steps, [big])
    one_batch = _weights(shared.model)
    shared.restart()
    for _ in range(3):
        _update(shared.steps, halves)
    for a, b in zip(one_batch, _weights(shared.model)):
        np.testing.assert_allclose(a, b, atol=2e-6)


@pytest.mark.slow
def test_xla_matches_no_xla(shared_steps):
    """Same weights after 3 updates (tolerance 1e-5: XLA fuses and reorders float32 sums)."""
    weights = []
    for xla in (False, True):
        shared = shared_steps(xla=xla)
        for i in range(3):
            _update(shared.steps, [_batch((9, 5, 3, 7), i)])
        weights.append(_weights(shared.model))
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.slow
def test_fp16_planted_overflow_skips_the_update_and_halves_the_scale():
    model, steps = _steps(fp16=True, seed=5)
    before = [v.numpy().copy() for v in model.trainable_variables]
    steps.accumulate(_batch((9, 5, 3, 7), 2))
    steps.accumulator.sums[0].assign_add(tf.fill(steps.accumulator.sums[0].shape, np.inf))
    applied, _ = steps.apply(tf.constant(4.0), tf.constant(1.0))
    assert not bool(applied) and float(steps.loss_scale.current) == 2.0 ** 14 and int(steps.optimizer.step) == 0
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables))
    applied, _ = _update(steps, [_batch((9, 5, 3, 7), 3)])
    assert bool(applied) and int(steps.optimizer.step) == 1
    assert all(np.isfinite(v.numpy()).all() for v in model.trainable_variables)


@pytest.mark.parametrize("plant", ["gradient", "loss"])
def test_fp32_non_finite_step_is_skipped_and_counted_not_applied(plant, shared_steps):
    """Without loss scaling too: a NaN gradient, or a NaN loss with finite gradients, never reaches the weights."""
    shared = shared_steps(xla=False)
    model, steps = shared.model, shared.steps
    before = [v.numpy().copy() for v in model.trainable_variables]
    loss_sum, weight = steps.accumulate(_batch((9, 5, 3, 7), 2))[:2]
    if plant == "gradient":
        steps.accumulator.sums[1].assign_add(tf.fill(steps.accumulator.sums[1].shape, np.nan))
    else:
        loss_sum = tf.constant(np.nan, tf.float32)
    applied, _ = steps.apply(weight, loss_sum)
    assert not bool(applied) and int(steps.optimizer.step) == 0 and int(steps.loss_scale.skipped) == 1
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables))
    assert float(steps.loss_scale.current) == 1.0
    applied, _ = _update(steps, [_batch((9, 5, 3, 7), 3)])  # the accumulator was cleared: the next step is clean
    assert bool(applied) and int(steps.optimizer.step) == 1


@pytest.mark.slow
@pytest.mark.parametrize("xla, any_length, traces", [
    (False, True, {"gradients": 1, "predict": 1}),  # traced once for every length before the first batch
    (False, False, {"gradients": 2, "predict": 2}),  # the second length retraces for any length
    (True, True, {"gradients": 3, "predict": 3}),  # XLA: once per shape
])
def test_traces_per_batch_shape(xla, any_length, traces, shared_steps):
    """Counted on a new TrainSteps; with any_length, on the shared one (it counts its traces when it is made)."""
    if any_length:
        counted = shared_steps(xla=xla).traces
    else:
        counted = _count_traces(_steps(seed=6, xla=xla)[1], any_length=False)
    assert counted == traces


def test_layer_lr_scales():
    model = build_model(TINY, "sequence_classification")
    scales = dict(zip((v.ref() for v in model.trainable_variables),
                      layer_lr_scales(model, model.trainable_variables, 0.5)))
    encoder = model.encoder
    assert {scales[v.ref()] for v in encoder.embeddings.trainable_variables} == {0.5 ** 4}
    assert [{scales[v.ref()] for v in b.trainable_variables} for b in encoder.blocks] == [{0.5 ** 3}, {0.25}, {0.5}]
    assert {scales[v.ref()] for v in model.classifier.trainable_variables + encoder.pooler.trainable_variables} == {1}


def test_lr_scale_equals_torch_param_groups_with_their_own_lr():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    values = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(5, 2)).astype(np.float32)]
    ours = [tf.Variable(v) for v in values]
    theirs = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
    optimizer = AdamW(ours, learning_rate=1e-2, weight_decay=0.1, lr_scale=[1.0, 0.3])
    reference = torch.optim.AdamW([{"params": [theirs[0]], "lr": 1e-2}, {"params": [theirs[1]], "lr": 3e-3}],
                                  weight_decay=0.1)
    for _ in range(4):
        grads = [rng.normal(size=v.shape).astype(np.float32) for v in values]
        optimizer.apply([tf.constant(g) for g in grads])
        for p, g in zip(theirs, grads):
            p.grad = torch.from_numpy(g)
        reference.step()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("fp16, xla_update", [(False, False), (True, True)])
def test_an_update_is_torchs_clipped_adamw_step_on_the_mean_gradient(fp16, xla_update, monkeypatch):
    """`apply` from two accumulated micro-batches against torch: the gradient sums divided by the label weight
    (and the loss scale), clip_grad_norm_ to 1.0, then torch.optim.AdamW, on copies of the same variables; with the
    update as a graph (a small model's) and XLA-compiled (from XLA_UPDATE_PARAMETERS on, here lowered to 0)."""
    torch = pytest.importorskip("torch")
    if xla_update:
        monkeypatch.setattr(steps_module, "XLA_UPDATE_PARAMETERS", 0)
    _, steps = _steps(fp16=fp16)
    assert steps.xla_update == xla_update
    before = [v.numpy() for v in steps.trainable]
    batches = [_batch((9, 5, 3, 7), 3), _batch((12, 2, 6), 4)]
    weight = 0.0
    for batch in batches:
        weight += float(steps.accumulate(batch)[1])
    sums = [s.numpy() for s in steps.accumulator.value()]
    scale = float(steps.loss_scale.current)  # what the sums were taken at (2**15 under fp16)
    applied, norm = steps.apply(tf.constant(weight), tf.constant(1.0))
    assert bool(applied) and scale == (2.0**15 if fp16 else 1.0)
    params = [torch.tensor(b, requires_grad=True) for b in before]
    for param, total in zip(params, sums):
        param.grad = torch.tensor(total * 8 / weight / scale)
    torch_norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    optimizer.step()
    np.testing.assert_allclose(float(norm), float(torch_norm), rtol=1e-5)
    for ours, theirs in zip(steps.trainable, params):
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-7)
    assert all(not np.any(s.numpy()) for s in steps.accumulator.value())
