"""Bucketed batches: every shape is declared, every example appears once per epoch, padding share matches an
independent count, the order is a function of (seed, epoch), and resuming skips exactly the batches done."""

import numpy as np
import pytest
import tensorflow as tf

from tfft.data import Batches, DataError, Encoded, bucket_boundaries, make_plan
from tfft.tokenization import IGNORE_INDEX


def _encoded(lengths, token_level=False, seed=0):
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, np.int32)
    total = int(lengths.sum())
    return Encoded(lengths=lengths, input_ids=rng.integers(1, 1000, total).astype(np.int32),
                   token_type_ids=np.zeros(total, np.int32),
                   labels=(rng.integers(0, 5, total) if token_level else rng.integers(0, 3, len(lengths))).astype(
                       np.int32),
                   word_ids=np.arange(total, dtype=np.int32) if token_level else None,
                   truncated=np.zeros(len(lengths), bool))


def test_bucket_boundaries():
    assert bucket_boundaries(128) == tuple(range(1, 129))  # without XLA any length: a batch pads to its longest
    assert bucket_boundaries(128, xla=True) == (16, 32, 48, 64, 96, 128)  # under XLA every length compiles
    assert bucket_boundaries(512, xla=True) == (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)
    assert bucket_boundaries(100, xla=True) == (16, 32, 48, 64, 96, 100)
    assert bucket_boundaries(128, "max_length") == (128,)
    assert bucket_boundaries(128, buckets="16,48") == (16, 48, 128)
    with pytest.raises(DataError, match="--buckets='16,999'"):
        bucket_boundaries(128, buckets="16,999")


@pytest.mark.parametrize("token_level, xla", [(False, True), (True, True), (False, False)])
def test_epoch_covers_every_example_once_in_declared_shapes(token_level, xla):
    lengths = np.random.default_rng(1).integers(3, 128, 203)
    encoded = _encoded(lengths, token_level)
    boundaries = bucket_boundaries(128, xla=xla)
    batches = Batches(encoded, batch_size=16, boundaries=boundaries, pad_token_id=0, seed=5, shuffle=True)
    seen, offsets = [], encoded.offsets
    for batch in batches.dataset(epoch=0):
        assert {v.dtype for v in batch.values()} == {tf.int32}
        size, length = batch["input_ids"].shape
        assert size == 16 and length in boundaries
        for row, index in enumerate(batch["example_index"].numpy()):
            mask = batch["attention_mask"].numpy()[row]
            if index < 0:  # a filler row: nothing real, nothing trained on
                assert mask.sum() == 0 and (np.asarray(batch["labels"][row]) == IGNORE_INDEX).all()
                continue
            seen.append(index)
            n = lengths[index]
            assert mask.sum() == n and mask[:n].all()
            np.testing.assert_array_equal(batch["input_ids"][row][:n], encoded.input_ids[offsets[index]:offsets[index] + n])
            assert (batch["input_ids"].numpy()[row][n:] == 0).all()
            if token_level:
                np.testing.assert_array_equal(batch["labels"][row][:n], encoded.labels[offsets[index]:offsets[index] + n])
            else:
                assert batch["labels"][row] == encoded.labels[index]
    assert sorted(seen) == list(range(len(lengths)))
    assert batches.steps_per_epoch == len(list(batches.dataset(epoch=1)))


def test_padding_share_matches_an_independent_count():
    lengths = np.random.default_rng(2).integers(5, 70, 100)
    plan = make_plan(lengths, (32, 64, 96), 8, rng=np.random.default_rng(0))
    padded = real = 0
    for indices, length in zip(plan.indices, plan.lengths):
        padded += len(indices) * length
        real += sum(lengths[i] for i in indices if i >= 0)
        assert all(lengths[i] <= length for i in indices if i >= 0)
    assert plan.padding_share(lengths) == pytest.approx(1 - real / padded)
    assert plan.padding_share(lengths) < make_plan(lengths, (96,), 8, rng=None).padding_share(lengths)


def test_order_is_a_function_of_seed_and_epoch_and_resume_skips_exactly():
    encoded = _encoded(np.random.default_rng(3).integers(3, 64, 90))
    make = lambda seed: Batches(encoded, batch_size=8, boundaries=(32, 64), pad_token_id=0, seed=seed,  # noqa
                                shuffle=True)
    order = lambda b, epoch, skip=0: [x["example_index"].numpy().tolist() for x in b.dataset(epoch, skip=skip)]  # noqa
    assert order(make(1), 0) == order(make(1), 0)
    assert order(make(1), 0) != order(make(1), 1)
    assert order(make(1), 0) != order(make(2), 0)
    assert order(make(1), 2, skip=4) == order(make(1), 2)[4:]


def test_without_fixed_batch_size_the_last_batch_is_smaller():
    encoded = _encoded([5, 6, 7, 30, 31])
    batches = Batches(encoded, batch_size=2, boundaries=(8, 32), pad_token_id=0, fixed_batch_size=False)
    shapes = [tuple(b["input_ids"].shape) for b in batches.dataset()]
    assert shapes == [(2, 8), (2, 32), (1, 32)]
    assert Batches(encoded, batch_size=2, boundaries=(8, 32), pad_token_id=0).plan(0).shapes == [(2, 8), (2, 32)]


def test_evaluation_order_is_shortest_first_without_shuffle():
    lengths = np.array([50, 3, 20, 7, 60, 9])
    plan = make_plan(lengths, (16, 64), 2, rng=None)
    assert plan.indices.tolist() == [[1, 3], [5, 2], [0, 4]]
    assert plan.lengths.tolist() == [16, 64, 64]


@pytest.mark.parametrize("per_token", [True, False])
def test_batches_carry_cached_features_row_by_row(per_token):
    lengths = np.random.default_rng(2).integers(2, 20, 37)
    encoded = _encoded(lengths)
    rows = int(lengths.sum()) if per_token else len(lengths)
    features = np.random.default_rng(3).normal(size=(rows, 6)).astype(np.float16)
    batches = Batches(encoded, batch_size=8, boundaries=bucket_boundaries(24, buckets="8,16"), pad_token_id=0,
                      seed=1, shuffle=True).with_features(features)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    seen = 0
    for batch in batches.dataset():
        values = batch["features"].numpy()
        assert values.dtype == np.float32
        assert values.shape == ((8, batch["input_ids"].shape[1], 6) if per_token else (8, 6))
        for row, index in enumerate(batch["example_index"].numpy()):
            if index < 0:  # a filler row: zeros
                assert not values[row].any()
                continue
            seen += 1
            if per_token:
                n = lengths[index]
                np.testing.assert_array_equal(values[row, :n], features[offsets[index]:offsets[index + 1]])
                assert not values[row, n:].any()  # padding: zeros
            else:
                np.testing.assert_array_equal(values[row], features[index])
    assert seen == len(lengths)
    with pytest.raises(ValueError, match="5 feature rows fit neither"):
        batches.with_features(features[:5])
