"""Variable-length sequences for the sequence-model study (scripts/study_sequences.py): many-to-one regression,
each example a sequence of l_i vectors in R^F and one scalar target.

Dimension legend: N sequences, L the longest length in the data set, F features per step, T the total number of
steps (sum of the lengths).

`Sequences` holds them padded: x [N, L, F] float32 with zeros after each row's length, `lengths` [N], y [N].

Files (`load_sequences`), by suffix:
- `.npz`, read with allow_pickle=False. `X` and `y` [N], in one of two layouts:
    padded:        X [N, L, F] with `lengths` [N] (each in 1..L; steps past a length are ignored), or without
                   `lengths` when every sequence has length L;
    concatenated:  X [T, F] with `lengths` [N] summing to T (sequence i is the next lengths[i] rows).
  A ragged list saved as is (`np.savez(f, X=list_of_arrays, y=y)`) is an object array: NumPy can load it only by
  unpickling, so it needs --allow_pickle, or re-saving as np.savez(f, X=np.concatenate(X), lengths=[len(s) for s
  in X], y=y) (what `save_npz` writes).
- `.pkl` / `.pickle`: a dict with "X" (a list of [l_i, F] arrays, or either layout above) and "y", or a pair
  (X, y). Unpickling runs whatever code the file names, so it is refused unless allow_pickle=True, and then
  warned about.

The synthetic process (`synthetic`), for when no file is given: lengths uniform in min_length..max_length; every
feature an independent stationary AR(1) process
    x_1 ~ N(0, 1),   x_t = rho * x_{t-1} + sqrt(1 - rho^2) * e_t,   e_t ~ N(0, 1)
and the target a mix of the whole history and the last step:
    y = mean_{t=1..l} tanh(a . x_t) + b . x_l + noise * n,   n ~ N(0, 1)
with fixed directions a (norm 2) and b (norm 0.5) drawn from the seed. The best possible MSE is noise^2. A model
that sees only the first steps misses b . x_l (its correlation with x_t decays as rho^(l - t)) and most of the
mean; a model that reads every step but not the length must learn where each sequence ends.
"""

import dataclasses
import logging
import pathlib
import pickle
import zipfile

import numpy as np

from tfft import files
from tfft.data import DataError

log = logging.getLogger(__name__)
SUFFIXES = (".npz", ".pkl", ".pickle")


@dataclasses.dataclass(frozen=True)
class Sequences:
    """x [N, L, F] float32 (zeros past each length), lengths [N] int64 (>= 1), y [N] float32; `source` names them."""
    x: np.ndarray
    lengths: np.ndarray
    y: np.ndarray
    source: str

    @property
    def mask(self) -> np.ndarray:
        """[N, L] int32: 1 on each sequence's steps, 0 on padding."""
        return (np.arange(self.x.shape[1])[None, :] < self.lengths[:, None]).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    examples: int = 5000
    min_length: int = 5
    max_length: int = 60
    features: int = 10
    rho: float = 0.9
    noise: float = 0.1
    seed: int = 0

    def __post_init__(self):
        checks = [(self.examples >= 3, "examples", "at least 3 (one per split)"),
                  (1 <= self.min_length <= self.max_length, "min_length",
                   f"between 1 and max_length={self.max_length}"),
                  (self.features >= 1, "features", "at least 1"), (0 <= self.rho < 1, "rho", "in [0, 1)"),
                  (self.noise >= 0, "noise", ">= 0")]
        for ok, name, expected in checks:
            if not ok:
                raise DataError(f"synthetic {name}={getattr(self, name)}: expected {expected}")


def synthetic(config: SyntheticConfig) -> Sequences:
    """The process of the module docstring; the same config (seed included) gives the same arrays."""
    rng = np.random.default_rng(config.seed)
    n, length, f = config.examples, config.max_length, config.features
    a, b = (rng.normal(size=f) for _ in range(2))
    a, b = 2.0 * a / np.linalg.norm(a), 0.5 * b / np.linalg.norm(b)
    lengths = rng.integers(config.min_length, config.max_length + 1, size=n)
    shocks = rng.normal(size=(n, length, f))
    x = np.empty((n, length, f))
    x[:, 0] = shocks[:, 0]
    for t in range(1, length):
        x[:, t] = config.rho * x[:, t - 1] + np.sqrt(1.0 - config.rho ** 2) * shocks[:, t]
    mask = np.arange(length)[None, :] < lengths[:, None]  # [N, L]
    history = np.sum(np.tanh(x @ a) * mask, axis=1) / lengths  # [N]
    last = x[np.arange(n), lengths - 1] @ b  # [N]
    y = history + last + config.noise * rng.normal(size=n)
    source = (f"synthetic AR(1) process (examples={n}, lengths {config.min_length}-{config.max_length}, "
              f"features={f}, rho={config.rho}, noise={config.noise}, seed={config.seed})")
    return Sequences((x * mask[..., None]).astype(np.float32), lengths.astype(np.int64), y.astype(np.float32), source)


def load_sequences(path: str | pathlib.Path, *, allow_pickle: bool = False) -> Sequences:
    """Sequences from a file in one of the layouts of the module docstring; DataError naming the file otherwise."""
    path = pathlib.Path(path)
    if path.suffix not in SUFFIXES:
        raise DataError(f"{path}: expected a {', '.join(SUFFIXES)} file holding X and y")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix == ".npz":
        return _from_npz(path, allow_pickle)
    if not allow_pickle:
        raise DataError(f"{path}: loading a pickle can run any code it names; pass --allow_pickle only if you trust "
                        "the file, or save it as .npz (see tfft/studies/sequence_data.py)")
    log.warning("%s: unpickling (--allow_pickle); this runs any code the file names, so only load files you trust",
                path)
    try:
        with open(path, "rb") as f:
            content = pickle.load(f)
    except Exception as err:  # a damaged pickle raises anything (UnpicklingError, EOFError, AttributeError, ...)
        raise DataError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from None
    if isinstance(content, dict) and {"X", "y"} <= set(content):
        return from_arrays(content["X"], content["y"], content.get("lengths"), source=str(path))
    if isinstance(content, (tuple, list)) and len(content) == 2:
        return from_arrays(content[0], content[1], None, source=str(path))
    raise DataError(f"{path}: expected a dict with 'X' and 'y' or a pair (X, y), got {type(content).__name__}")


def _from_npz(path: pathlib.Path, allow_pickle: bool) -> Sequences:
    if not zipfile.is_zipfile(path):  # np.load would take anything else for a pickle
        raise DataError(f"{path}: not a readable .npz (expected a zip archive of .npy arrays, as np.savez writes)")
    if allow_pickle:
        log.warning("%s: object arrays will be unpickled (--allow_pickle); only load files you trust", path)
    try:
        with np.load(path, allow_pickle=allow_pickle) as archive:
            missing = {"X", "y"} - set(archive.files)
            if missing:
                raise DataError(f"{path}: no {' or '.join(sorted(missing))} in the archive (it holds "
                                f"{', '.join(archive.files) or 'nothing'})")
            arrays = {key: archive[key] for key in ("X", "y", "lengths") if key in archive.files}
    except ValueError as err:
        if "allow_pickle" not in str(err):
            raise DataError(f"{path}: not a readable .npz ({err})") from None
        raise DataError(f"{path}: X or y is an object array (a ragged list), which NumPy loads only by unpickling; "
                        "save X=np.concatenate(X) with lengths=[len(s) for s in X], or pass --allow_pickle if you "
                        "trust the file") from None
    except (OSError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: not a readable .npz ({files.reason(err)})") from None
    return from_arrays(arrays["X"], arrays["y"], arrays.get("lengths"), source=str(path))


def from_arrays(X, y, lengths, *, source: str) -> Sequences:
    """Sequences from a list of [l_i, F] arrays or either array layout; DataError naming `source` when malformed."""
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{source}: y is not numeric; expected one number per sequence") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{source}: y has shape {list(y.shape)}; expected [N], one number per sequence")
    steps = _split_steps(X, lengths, source)
    if len(steps) != len(y):
        raise DataError(f"{source}: {len(steps)} sequences in X but {len(y)} targets in y")
    if len(steps) == 0:
        raise DataError(f"{source}: no sequences")
    width = steps[0].shape[1] if steps[0].ndim == 2 else None
    for i, sequence in enumerate(steps):
        if sequence.ndim != 2 or sequence.shape[0] < 1 or sequence.shape[1] != width or width < 1:
            raise DataError(f"{source}: X[{i}] has shape {list(sequence.shape)}; expected [length >= 1, {width}] "
                            "like X[0]")
        if not np.all(np.isfinite(sequence)):
            raise DataError(f"{source}: X[{i}] holds NaN or infinity")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise DataError(f"{source}: y[{bad[0]}] is {y[bad[0]]}; expected a finite number")
    sizes = np.array([len(s) for s in steps], dtype=np.int64)
    x = np.zeros((len(steps), sizes.max(), width), np.float32)
    for i, sequence in enumerate(steps):
        x[i, :len(sequence)] = sequence
    return Sequences(x, sizes, y.astype(np.float32), source)


def _split_steps(X, lengths, source: str) -> list[np.ndarray]:
    """The list of [l_i, F] float arrays X holds, in whichever layout."""
    if isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.dtype == object):
        if lengths is not None:
            raise DataError(f"{source}: X is a list of sequences, so 'lengths' must not be given")
        try:
            return [np.asarray(s, dtype=np.float64) for s in X]
        except (TypeError, ValueError):
            raise DataError(f"{source}: X holds something that is not an array of numbers") from None
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{source}: X is not numeric") from None
    if lengths is None:
        if X.ndim != 3:
            raise DataError(f"{source}: X has shape {list(X.shape)} and there is no 'lengths'; expected [N, L, F] "
                            "(all of length L), or give lengths")
        return list(X)
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer) or (lengths.size and lengths.min() < 1):
        raise DataError(f"{source}: lengths must be positive integers, one per sequence")
    if X.ndim == 3:
        if len(lengths) != len(X) or (lengths.size and lengths.max() > X.shape[1]):
            raise DataError(f"{source}: lengths must give one length in 1..{X.shape[1]} per row of X "
                            f"{list(X.shape)}")
        return [row[:n] for row, n in zip(X, lengths)]
    if X.ndim == 2:
        if lengths.sum() != len(X):
            raise DataError(f"{source}: lengths sum to {lengths.sum()} but X has {len(X)} rows")
        return np.split(X, np.cumsum(lengths)[:-1])
    raise DataError(f"{source}: X has shape {list(X.shape)}; expected [N, L, F] or [T, F] with lengths")


def save_npz(path: str | pathlib.Path, data: Sequences) -> pathlib.Path:
    """The concatenated layout (no pickle needed to load it), written atomically."""
    steps = np.concatenate([row[:n] for row, n in zip(data.x, data.lengths)])  # [T, F]
    with files.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, X=steps, lengths=data.lengths, y=data.y)
    return pathlib.Path(path)


def split(n: int, validation_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """{"train", "validation", "test": sorted indices}, a seeded shuffle cut by the fractions (each split >= 1)."""
    if not (0 < validation_fraction < 1 and 0 < test_fraction < 1 and validation_fraction + test_fraction < 1):
        raise DataError(f"validation_fraction={validation_fraction} and test_fraction={test_fraction}: expected "
                        "each in (0, 1) and their sum below 1")
    order = np.random.default_rng(seed).permutation(n)
    n_validation, n_test = round(n * validation_fraction), round(n * test_fraction)
    splits = {"test": order[:n_test], "validation": order[n_test:n_test + n_validation],
              "train": order[n_test + n_validation:]}
    empty = [name for name, indices in splits.items() if len(indices) == 0]
    if empty:
        raise DataError(f"{n} sequences leave the {' and '.join(empty)} split empty; give more data or larger "
                        "fractions")
    return {name: np.sort(indices) for name, indices in splits.items()}


@dataclasses.dataclass(frozen=True)
class Scaling:
    """Per-feature mean and std of the training steps (padding left out) and the training targets' mean and std.
    The models see standardised inputs and fit standardised targets; predictions are mapped back."""
    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: float
    y_std: float

    @classmethod
    def fit(cls, data: Sequences, train: np.ndarray) -> "Scaling":
        steps = data.x[train][data.mask[train].astype(bool)]  # [T_train, F]
        x_std, y_std = steps.std(axis=0), float(data.y[train].std())
        return cls(steps.mean(axis=0), np.where(x_std > 0, x_std, 1.0), float(data.y[train].mean()),
                   y_std if y_std > 0 else 1.0)

    def inputs(self, data: Sequences) -> np.ndarray:
        """x standardised, padding still exactly 0: [N, L, F] float32."""
        return ((data.x - self.x_mean) / self.x_std * data.mask[..., None]).astype(np.float32)
