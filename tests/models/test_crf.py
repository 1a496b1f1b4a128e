"""The linear-chain CRF against brute force: every tag sequence of a row's selected positions enumerated with
itertools, scored in float64 numpy. Eager, under XLA and with an unknown length."""

import functools
import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfft.models.crf import CRF, bio_constraints

BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]

# Row 0 selects nothing, row 1 everything, the others gaps (first sub-tokens of words) cut to the length.
MASKS = [[0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], [0, 1, 0, 1, 1, 0], [1, 0, 0, 1, 0, 1]]


def _case(num_tags: int, length: int, seed: int):
    """A CRF with random scores of order 1, and emissions, gold tags (-100 off the mask) and masks for 4 rows."""
    rng = np.random.default_rng(seed)
    crf = CRF(num_tags, rng=tf.random.Generator.from_seed(seed))
    for variable in (crf.transitions, crf.start, crf.end):
        variable.assign(rng.normal(size=variable.shape).astype(np.float32))
    mask = np.array(MASKS, bool)[:, :length]
    emissions = rng.normal(size=(4, length, num_tags)).astype(np.float32)
    tags = np.where(mask, rng.integers(0, num_tags, size=mask.shape), -100).astype(np.int32)
    return crf, emissions, tags, mask


def _paths(crf: CRF, emissions: np.ndarray, row_mask: np.ndarray) -> dict[tuple, float]:
    """Every tag sequence over the selected positions of one row -> its score, in float64."""
    transitions, start, end = (v.numpy().astype(np.float64) for v in (crf.transitions, crf.start, crf.end))
    positions = np.flatnonzero(row_mask)
    if not len(positions):
        return {(): 0.0}
    return {path: (start[path[0]] + end[path[-1]] + emissions[positions, path].astype(np.float64).sum()
                   + sum(transitions[i, j] for i, j in zip(path, path[1:])))
            for path in itertools.product(range(crf.num_tags), repeat=len(positions))}


def _violations(path, allowed) -> int:
    """Forbidden starts and transitions in a path (positions off the mask, -1, skipped)."""
    path = [tag for tag in path if tag >= 0]
    return (not allowed[1][path[0]]) + sum(not allowed[0][i, j] for i, j in zip(path, path[1:])) if path else 0


def _brute_force(crf: CRF, emissions, tags, mask, allowed=None) -> dict[str, np.ndarray]:
    """log Z, best path (-1 off the mask) and marginals over the (allowed) paths, and the unconstrained
    log-likelihood of the gold tags, per row."""
    out = {"log_z": [], "log_likelihood": [], "decode": [], "marginals": []}
    for b in range(len(mask)):
        every = _paths(crf, emissions[b], mask[b])
        positions = np.flatnonzero(mask[b])
        out["log_likelihood"].append(every[tuple(tags[b, positions])] - np.logaddexp.reduce(list(every.values())))
        scores = {path: score for path, score in every.items() if allowed is None or not _violations(path, allowed)}
        paths, values = list(scores), np.array(list(scores.values()))
        log_z = np.logaddexp.reduce(values)
        decoded = np.full(mask.shape[1], -1)
        decoded[positions] = paths[int(np.argmax(values))]
        marginals = np.zeros(emissions.shape[1:])
        for path, probability in zip(paths, np.exp(values - log_z)):
            marginals[positions, path] += probability
        out["log_z"].append(log_z)
        out["decode"].append(decoded)
        out["marginals"].append(marginals)
    return {key: np.array(values) for key, values in out.items()}


def _everything(crf: CRF, emissions, tags, mask):
    return {"log_z": crf.log_partition(emissions, mask, constrained=True),
            "log_likelihood": crf.log_likelihood(emissions, tags, mask),
            "decode": crf.decode(emissions, mask), "marginals": crf.marginals(emissions, mask)}


def _run(mode: str, crf: CRF, emissions, tags, mask) -> dict[str, np.ndarray]:
    """`_everything` eagerly, jit-compiled, traced for any batch and length, or traced without autograph."""
    def call(e, t, m):
        return _everything(crf, e, t, m)

    signature = [tf.TensorSpec([None, None, crf.num_tags], tf.float32), tf.TensorSpec([None, None], tf.int32),
                 tf.TensorSpec([None, None], tf.bool)]
    function = {"eager": call, "xla": tf.function(call, jit_compile=True),
                "unknown_length": tf.function(call, input_signature=signature),
                "no_autograph": tf.function(call, autograph=False)}[mode]
    return {key: value.numpy() for key, value in function(emissions, tags, mask).items()}


def _check(got: dict, want: dict) -> None:
    for key in ("log_z", "log_likelihood", "marginals"):
        np.testing.assert_allclose(got[key], want[key], atol=1e-5, rtol=1e-5, err_msg=key)
    np.testing.assert_array_equal(got["decode"], want["decode"])


@functools.cache
def _reference(num_tags: int, length: int):
    """One case and its brute-force answers, shared by the modes."""
    crf, emissions, tags, mask = _case(num_tags, length, seed=num_tags * 10 + length)
    return crf, emissions, tags, mask, _brute_force(crf, emissions, tags, mask)


@pytest.mark.parametrize("num_tags,length", [(3, 6), (4, 5), (3, 1)])
@pytest.mark.parametrize("mode", ["eager", "xla", "unknown_length", "no_autograph"])
def test_matches_brute_force(mode, num_tags, length):
    crf, emissions, tags, mask, want = _reference(num_tags, length)
    got = _run(mode, crf, emissions, tags, mask)
    _check(got, want)
    assert got["decode"].dtype == np.int32 and got["marginals"].dtype == np.float32
    np.testing.assert_array_equal(got["log_z"][0], 0.0)  # the row without positions
    np.testing.assert_array_equal(got["log_likelihood"][0], 0.0)


def test_positions_off_the_mask_do_not_matter():
    crf, emissions, tags, mask = _case(4, 6, seed=1)
    noise = np.random.default_rng(2).normal(0, 10, emissions.shape).astype(np.float32)
    moved = np.where(mask[..., None], emissions, noise)
    other_tags = np.where(mask, tags, 3)
    for key, value in _everything(crf, emissions, tags, mask).items():
        np.testing.assert_array_equal(_everything(crf, moved, other_tags, mask)[key], value, err_msg=key)


@pytest.mark.parametrize("mode", ["eager", "xla"])
def test_constrained_decode_and_marginals_match_brute_force_over_allowed_paths(mode):
    allowed = bio_constraints(BIO)
    crf, emissions, tags, mask = _case(len(BIO), 5, seed=3)
    constrained = CRF(len(BIO), rng=tf.random.Generator.from_seed(0), constraints=allowed)
    for ours, theirs in zip(constrained.trainable_variables, crf.trainable_variables):
        ours.assign(theirs)
    emissions[..., [2, 4]] += 2.0  # make the unconstrained best paths start with or jump into I- tags
    got = _run(mode, constrained, emissions, tags, mask)
    want = _brute_force(crf, emissions, tags, mask, allowed)  # its log_likelihood is the unconstrained one
    _check(got, want)
    assert not np.array_equal(want["decode"], _brute_force(crf, emissions, tags, mask)["decode"])


def test_constrained_decoding_never_produces_a_forbidden_sequence():
    allowed = bio_constraints(BIO)
    rng = np.random.default_rng(4)
    emissions = rng.normal(size=(200, 8, len(BIO))).astype(np.float32)
    emissions[..., [2, 4]] += 3.0  # I- tags favoured everywhere
    mask = rng.random((200, 8)) < 0.6
    free = CRF(len(BIO), rng=tf.random.Generator.from_seed(5))
    constrained = CRF(len(BIO), rng=tf.random.Generator.from_seed(5), constraints=allowed)
    assert sum(_violations(path, allowed) for path in free.decode(emissions, mask).numpy()) > 100
    decoded = tf.function(constrained.decode, jit_compile=True)(emissions, mask).numpy()
    assert all(_violations(path, allowed) == 0 for path in decoded)
    np.testing.assert_array_equal(decoded >= 0, mask)
    np.testing.assert_allclose(constrained.marginals(emissions, mask).numpy().sum(-1), mask, atol=1e-5)


def test_bio_constraints_tables():
    transitions, start = bio_constraints(BIO)
    o, b_per, i_per, b_loc, i_loc = range(5)
    assert transitions.dtype == bool and transitions.shape == (5, 5)
    assert transitions[b_per, i_per] and transitions[i_per, i_per] and transitions[b_loc, i_loc]
    assert not transitions[o, i_per] and not transitions[b_loc, i_per] and not transitions[i_loc, i_per]
    assert transitions[i_per, o] and transitions[i_per, b_loc] and transitions[o, b_per] and transitions[b_per, b_per]
    assert transitions.sum() == 25 - 6  # 3 forbidden predecessors for each of the 2 I- tags
    np.testing.assert_array_equal(start, [True, True, False, True, False])


@pytest.mark.parametrize("label", ["PER", "B-", "X-PER", "b-PER", "B_PER", ""])
def test_bio_constraints_reject_non_bio_labels(label):
    with pytest.raises(ValueError, match=f"label {label!r} is not a BIO tag"):
        bio_constraints(["O", "B-PER", label])


def test_constraint_tables_must_fit_the_tags():
    with pytest.raises(ValueError, match="do not fit 4 tags"):
        CRF(4, rng=tf.random.Generator.from_seed(0), constraints=bio_constraints(BIO))


def test_variables_and_constraints():
    crf = CRF(5, rng=tf.random.Generator.from_seed(0), constraints=bio_constraints(BIO))
    assert sorted(v.name for v in crf.trainable_variables) == ["end:0", "start:0", "transitions:0"]
    assert all(v.dtype == tf.float32 and np.abs(v.numpy()).max() <= 0.1 for v in crf.variables)
    assert len(crf.variables) == 3  # the constraint penalties are constants


def test_constraints_leave_the_training_likelihood_alone():
    """IOB1 gold (an entity opened by I-PER) stays a normal training example under a constrained CRF."""
    emissions = np.random.default_rng(6).normal(size=(1, 4, len(BIO))).astype(np.float32)
    tags, mask = np.array([[2, 2, 0, 4]], np.int32), np.ones([1, 4], bool)
    free = CRF(len(BIO), rng=tf.random.Generator.from_seed(7))
    constrained = CRF(len(BIO), rng=tf.random.Generator.from_seed(7), constraints=bio_constraints(BIO))
    likelihood = constrained.log_likelihood(emissions, tags, mask).numpy()
    np.testing.assert_array_equal(likelihood, free.log_likelihood(emissions, tags, mask))
    assert -20 < likelihood[0] < 0


def test_gradient_descent_raises_the_gold_likelihood():
    crf, emissions, tags, mask = _case(4, 6, seed=8)
    emissions = tf.Variable(emissions)
    variables = [emissions, *crf.trainable_variables]

    @tf.function(jit_compile=True)
    def step():
        with tf.GradientTape() as tape:
            loss = -tf.reduce_sum(crf.log_likelihood(emissions, tags, mask))
        gradients = tape.gradient(loss, variables)
        for variable, gradient in zip(variables, gradients):
            variable.assign_sub(0.5 * gradient)
        return loss, gradients

    losses = []
    for _ in range(20):
        loss, gradients = step()
        assert all(np.isfinite(g.numpy()).all() for g in gradients)
        losses.append(loss.numpy())
    assert losses[-1] < 0.1 * losses[0] and all(np.diff(losses) < 0)
    np.testing.assert_array_equal(gradients[0].numpy()[~mask], 0.0)  # no signal off the mask
    np.testing.assert_array_equal(crf.decode(emissions, mask), np.where(mask, tags, -1))


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_reduced_precision_emissions(dtype):
    crf, emissions, tags, mask = _case(5, 6, seed=9)
    low = tf.cast(emissions * 10, dtype)
    got = _everything(crf, low, tags, mask)
    want = _everything(crf, tf.cast(low, tf.float32), tags, mask)
    for key, value in got.items():
        assert value.dtype in (tf.float32, tf.int32) and np.isfinite(value.numpy()).all(), key
        np.testing.assert_array_equal(value, want[key], err_msg=key)
