"""The sequence study's data: the synthetic process against its documented statistics, the file layouts, the safe
loading of pickles and object arrays, the split and the scaling."""

import logging
import pickle

import numpy as np
import pytest

from tfft.data import DataError
from tfft.studies.sequence_data import (Scaling, SyntheticConfig, from_arrays, load_sequences, save_npz, split,
                                        synthetic)

SMALL = SyntheticConfig(examples=400, min_length=5, max_length=30, seed=7)


def _ragged(n=6, f=4, seed=0):
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(length), f)).astype(np.float32) for length in rng.integers(1, 9, size=n)]
    return X, rng.normal(size=n).astype(np.float32)


def _assert_same(data, X, y):
    assert list(data.lengths) == [len(s) for s in X]
    for row, length, sequence in zip(data.x, data.lengths, X):
        np.testing.assert_array_equal(row[:length], sequence)
        assert not row[length:].any()
    np.testing.assert_array_equal(data.y, y)


def test_synthetic_data_is_reproducible_by_seed():
    first, again, other = synthetic(SMALL), synthetic(SMALL), synthetic(SyntheticConfig(examples=400, max_length=30,
                                                                                        seed=8))
    for name in ("x", "lengths", "y"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.y, other.y)
    assert first.x.shape == (400, 30, 10) and first.x.dtype == np.float32
    assert first.lengths.min() == 5 and first.lengths.max() == 30  # the whole range is drawn
    assert not (first.x * (1 - first.mask[..., None])).any()  # zeros after every length


def test_synthetic_process_has_the_documented_statistics():
    """Each feature a stationary AR(1) with unit variance and lag-1 correlation rho; the noise adds exactly
    noise * n to the targets (same seed, same draws)."""
    config = SyntheticConfig(examples=3000, min_length=40, max_length=40, rho=0.7, noise=0.0, seed=1)
    data = synthetic(config)
    x = data.x.astype(np.float64)
    assert abs(x.std() - 1.0) < 0.02
    lag1 = np.mean(x[:, 1:] * x[:, :-1]) / np.mean(x * x)
    assert abs(lag1 - 0.7) < 0.01
    noisy = synthetic(SyntheticConfig(examples=3000, min_length=40, max_length=40, rho=0.7, noise=0.3, seed=1))
    np.testing.assert_array_equal(noisy.x, data.x)
    assert abs(np.std(noisy.y - data.y) - 0.3) < 0.02


@pytest.mark.parametrize("field, value", [("examples", 2), ("min_length", 0), ("rho", 1.0), ("noise", -1.0)])
def test_synthetic_settings_are_checked(field, value):
    with pytest.raises(DataError, match=f"synthetic {field}="):
        SyntheticConfig(**{field: value})


def test_npz_round_trip_in_the_concatenated_layout(tmp_path):
    data = synthetic(SMALL)
    path = save_npz(tmp_path / "data.npz", data)
    with np.load(path, allow_pickle=False) as archive:  # loads without pickle: no object array inside
        assert archive["X"].shape == (data.lengths.sum(), 10)
    loaded = load_sequences(path)
    for name in ("x", "lengths", "y"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(data, name))


def test_npz_padded_layouts(tmp_path):
    X, y = _ragged()
    padded = np.full((len(X), 8, 4), 9.0, np.float32)  # values past each length are ignored
    for row, sequence in zip(padded, X):
        row[:len(sequence)] = sequence
    np.savez(tmp_path / "padded.npz", X=padded, lengths=[len(s) for s in X], y=y)
    _assert_same(load_sequences(tmp_path / "padded.npz"), X, y)
    np.savez(tmp_path / "equal.npz", X=padded, y=y[:, None])  # no lengths: every sequence is 8 long
    equal = load_sequences(tmp_path / "equal.npz")
    assert list(equal.lengths) == [8] * len(X) and equal.y.shape == (len(X),)


def test_ragged_npz_needs_pickle(tmp_path, caplog):
    X, y = _ragged()
    objects = np.empty(len(X), dtype=object)
    objects[:] = X
    np.savez(tmp_path / "ragged.npz", X=objects, y=y)
    with pytest.raises(DataError, match=r"ragged.npz: X or y is an object array .* --allow_pickle"):
        load_sequences(tmp_path / "ragged.npz")
    with caplog.at_level(logging.WARNING):
        _assert_same(load_sequences(tmp_path / "ragged.npz", allow_pickle=True), X, y)
    assert "only load files you trust" in caplog.text


def test_pickles_load_only_when_allowed(tmp_path, caplog):
    X, y = _ragged()
    path = tmp_path / "data.pkl"
    path.write_bytes(pickle.dumps({"X": X, "y": list(map(float, y))}))
    with pytest.raises(DataError, match=r"data.pkl: loading a pickle can run any code .* --allow_pickle"):
        load_sequences(path)
    with caplog.at_level(logging.WARNING):
        _assert_same(load_sequences(path, allow_pickle=True), X, y)
    assert "unpickling (--allow_pickle)" in caplog.text
    (tmp_path / "pair.pickle").write_bytes(pickle.dumps((X, y)))
    _assert_same(load_sequences(tmp_path / "pair.pickle", allow_pickle=True), X, y)


@pytest.mark.parametrize("make, message", [
    (lambda X, y: {"X": X[:3] + [np.zeros((4, 5))] + X[4:], "y": y}, r"X\[3\] has shape \[4, 5\]; expected "
                                                                     r"\[length >= 1, 4\]"),
    (lambda X, y: {"X": X[:2] + [np.zeros((0, 4))] + X[3:], "y": y}, r"X\[2\] has shape \[0, 4\]"),
    (lambda X, y: {"X": X[:1] + [np.full((2, 4), np.nan)] + X[2:], "y": y}, r"X\[1\] holds NaN"),
    (lambda X, y: {"X": X, "y": y[:-1]}, "6 sequences in X but 5 targets"),
    (lambda X, y: {"X": X, "y": np.array([1.0, np.inf, 0, 0, 0, 0])}, r"y\[1\] is inf"),
    (lambda X, y: {"X": X, "y": np.zeros((6, 2))}, r"y has shape \[6, 2\]"),
    (lambda X, y: {"X": X, "y": ["a"] * 6}, "y is not numeric"),
    (lambda X, y: {"X": np.zeros((10, 4)), "lengths": [3, 3], "y": [0.0, 1.0]}, "lengths sum to 6 but X has 10"),
    (lambda X, y: {"X": np.zeros((2, 5, 4)), "lengths": [3, 6], "y": [0.0, 1.0]},
     r"lengths must give one length in 1..5"),
    (lambda X, y: {"X": np.zeros((2, 5, 4)), "lengths": [0, 3], "y": [0.0, 1.0]},
     "lengths must be positive integers"),
    (lambda X, y: {"X": np.zeros((10, 4)), "y": [0.0]}, r"X has shape \[10, 4\] and there is no 'lengths'"),
])
def test_malformed_data_is_named(tmp_path, make, message):
    X, y = _ragged()
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(make(X, y)))
    with pytest.raises(DataError, match=f"bad.pkl: {message}"):
        load_sequences(path, allow_pickle=True)


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(DataError, match=r"data.csv: expected a .npz, .pkl, .pickle file"):
        load_sequences(tmp_path / "data.csv")
    with pytest.raises(DataError, match="missing.npz: no such file"):
        load_sequences(tmp_path / "missing.npz")
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "pickled.npz").write_bytes(pickle.dumps({"X": [], "y": []}))  # np.load would unpickle it
    for name in ("cut.npz", "pickled.npz"):
        for allow in (False, True):
            with pytest.raises(DataError, match=f"{name}: not a readable .npz"):
                load_sequences(tmp_path / name, allow_pickle=allow)
    np.savez(tmp_path / "other.npz", features=np.zeros(3))
    with pytest.raises(DataError, match=r"other.npz: no X or y in the archive \(it holds features\)"):
        load_sequences(tmp_path / "other.npz")
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04junk")
    with pytest.raises(DataError, match="junk.pkl: not a readable pickle"):
        load_sequences(tmp_path / "junk.pkl", allow_pickle=True)
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataError, match="list.pkl: expected a dict with 'X' and 'y' or a pair"):
        load_sequences(tmp_path / "list.pkl", allow_pickle=True)


def test_split_is_a_seeded_partition():
    parts = split(1000, 0.15, 0.2, seed=3)
    assert [len(parts[name]) for name in ("train", "validation", "test")] == [650, 150, 200]
    assert np.array_equal(np.sort(np.concatenate(list(parts.values()))), np.arange(1000))
    again, other = split(1000, 0.15, 0.2, seed=3), split(1000, 0.15, 0.2, seed=4)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    assert not np.array_equal(parts["test"], other["test"])
    with pytest.raises(DataError, match="3 sequences leave the validation split empty"):
        split(3, 0.1, 0.4, seed=0)
    with pytest.raises(DataError, match="expected each in"):
        split(100, 0.5, 0.5, seed=0)


def test_scaling_uses_training_steps_only_and_keeps_padding_zero():
    data = from_arrays([np.full((2, 1), 1.0), np.full((1, 1), 3.0), np.full((3, 1), 100.0)], [1.0, 3.0, 8.0],
                       None, source="memory")
    scaling = Scaling.fit(data, np.array([0, 1]))  # steps 1, 1, 3: mean 5/3; targets 1, 3
    assert np.isclose(scaling.x_mean[0], 5 / 3) and np.isclose(scaling.x_std[0], np.std([1.0, 1.0, 3.0]))
    assert scaling.y_mean == 2.0 and scaling.y_std == 1.0
    inputs = scaling.inputs(data)
    assert inputs.shape == (3, 3, 1) and not inputs[0, 2:].any() and not inputs[1, 1:].any()
    np.testing.assert_allclose(inputs[2, :, 0], (100.0 - 5 / 3) / np.std([1.0, 1.0, 3.0]), rtol=1e-6)
