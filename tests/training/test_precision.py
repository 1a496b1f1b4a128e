"""Dynamic loss scaling: skip and halve on overflow, double after a run of finite steps, identity when disabled;
the warning for a --precision slower than fp32 on this CPU."""

import numpy as np
import pytest
import tensorflow as tf

from tfft.optim import AdamW, clip_by_global_norm
from tfft.training.precision import LossScale, all_finite, cpu_flags, finite_by_norm, precision_warning


def _finite():
    return [tf.ones([2, 3]), tf.ones([3])]


def _with(bad: float):
    return [tf.ones([2, 3]), tf.constant([1.0, bad, 1.0])]


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_gradient_skips_halves_and_counts(bad):
    scaler = LossScale(enabled=True, growth_interval=3)
    scaler.update(_finite())
    assert int(scaler.good_steps) == 1
    assert not bool(scaler.update(_with(bad)))
    assert float(scaler.current) == 2.0**14
    assert int(scaler.good_steps) == 0 and int(scaler.skipped) == 1


def test_scale_doubles_after_growth_interval_finite_steps():
    scaler = LossScale(enabled=True, initial=8.0, growth_interval=3)
    history = [(bool(scaler.update(_finite())), float(scaler.current), int(scaler.good_steps)) for _ in range(7)]
    assert history == [(True, 8.0, 1), (True, 8.0, 2), (True, 16.0, 0), (True, 16.0, 1), (True, 16.0, 2),
                       (True, 32.0, 0), (True, 32.0, 1)]
    assert int(scaler.skipped) == 0


def test_scale_never_drops_below_one_nor_grows_past_float32():
    scaler = LossScale(enabled=True, initial=2.0, growth_interval=1)
    for _ in range(3):
        scaler.update(_with(np.inf))
    assert float(scaler.current) == 1.0 and int(scaler.skipped) == 3
    big = LossScale(enabled=True, initial=2.0**127, growth_interval=1)
    big.update(_finite())
    assert float(big.current) == 2.0**127


def test_scale_and_unscale_are_exact_inverses_in_float32():
    scaler = LossScale(enabled=True)
    loss = tf.constant(0.123, tf.float32)
    assert float(scaler.scale(loss)) == pytest.approx(0.123 * 2.0**15)
    grads = scaler.unscale([tf.constant([3.0, 2.0**-10]) * 2.0**15, tf.constant([1.0], tf.float16)])
    assert [g.dtype for g in grads] == [tf.float32, tf.float32]
    np.testing.assert_array_equal(grads[0].numpy(), [3.0, 2.0**-10])


def test_disabled_scaler_is_the_identity_and_still_reports_non_finite_steps():
    """fp32 / bf16: no scaling, but a non-finite gradient or loss is reported and counted (--nan_policy)."""
    scaler = LossScale(enabled=False)
    loss = tf.constant(1.5)
    assert float(scaler.scale(loss)) == 1.5
    grads = _with(np.inf)
    for ours, grad in zip(scaler.unscale(grads), grads):
        np.testing.assert_array_equal(ours.numpy(), grad.numpy())
    assert not bool(scaler.update(grads))
    assert bool(scaler.update(_finite(), loss))
    assert not bool(scaler.update(_finite(), tf.constant(np.nan, tf.float32)))
    assert float(scaler.current) == 1.0 and int(scaler.skipped) == 2 and int(scaler.good_steps) == 0


def test_all_finite():
    assert bool(all_finite(_finite()))
    assert not bool(all_finite(_with(np.nan)))
    assert bool(all_finite([tf.fill([4], 3e38)]))  # large but finite: no false alarm from a sum


@pytest.mark.parametrize("grads, expected", [
    ([tf.ones([2, 3]), tf.fill([4], 3e38)], True),  # the sum of squares overflows, every element is finite
    (_with(np.inf), False), (_with(np.nan), False), (_finite(), True)])
def test_finite_by_norm_agrees_with_all_finite(grads, expected):
    norm = tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(g)) for g in grads]))
    for compiled in (False, True):
        assert bool(tf.function(lambda n: finite_by_norm(n, lambda: grads), jit_compile=compiled)(norm)) == expected


def test_finite_by_norm_builds_the_gradients_only_for_a_non_finite_norm():
    built = []
    assert bool(finite_by_norm(tf.constant(3.0), lambda: built.append(1) or _finite()))
    assert not built


def test_state_is_checkpointed(tmp_path):
    scaler = LossScale(enabled=True, growth_interval=5)
    scaler.update(_with(np.nan))
    scaler.update(_finite())
    path = tf.train.Checkpoint(scaler=scaler).write(str(tmp_path / "ckpt"))
    restored = LossScale(enabled=True, growth_interval=5)
    tf.train.Checkpoint(scaler=restored).read(path).assert_consumed()
    assert (float(restored.current), int(restored.good_steps), int(restored.skipped)) == (2.0**14, 1, 1)


def test_a_compiled_step_skips_the_update_on_overflow():
    """The training step's shape under XLA: unscale, update the scaler, clip, apply only when finite."""
    variable = tf.Variable(tf.ones([3]))
    optimizer = AdamW([variable], learning_rate=0.1)
    scaler = LossScale(enabled=True, growth_interval=2)

    @tf.function(jit_compile=True)
    def step(scaled_grad):
        grads = scaler.unscale([scaled_grad])
        finite = scaler.update(grads)
        grads, _ = clip_by_global_norm(grads, 1.0)

        def apply():
            optimizer.apply(grads)
            return tf.constant(True)

        return tf.cond(finite, apply, lambda: tf.constant(False))

    assert not bool(step(tf.constant([1.0, np.inf, 1.0])))
    np.testing.assert_array_equal(variable.numpy(), 1.0)
    assert int(optimizer.step) == 0 and int(scaler.skipped) == 1 and float(scaler.current) == 2.0**14

    assert bool(step(tf.constant([2.0**14, 0.0, -(2.0**14)])))
    np.testing.assert_allclose(variable.numpy(), [0.9, 1.0, 1.1], rtol=1e-6)
    assert int(optimizer.step) == 1
    assert bool(step(tf.constant([1.0, 1.0, 1.0])))
    assert float(scaler.current) == 2.0**15 and int(scaler.good_steps) == 0


def test_warns_about_reduced_precision_only_without_native_support(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 fma avx512f avx512_bf16\n\nprocessor\t: 1\n")
    assert cpu_flags(cpuinfo) == {"fpu", "sse", "avx2", "fma", "avx512f", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == set()
    avx2 = {"avx2", "fma"}
    assert "runs slower than --precision=fp32" in precision_warning("bf16", avx2)
    assert "avx512_fp16 or amx_fp16" in precision_warning("fp16", avx2 | {"avx512_bf16"})
    assert precision_warning("bf16", avx2 | {"avx512_bf16"}) is None
    assert precision_warning("bf16", avx2 | {"amx_bf16"}) is None
    assert precision_warning("fp32", set()) is None
