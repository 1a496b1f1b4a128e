"""Length-bucketed, padded tf.data batches of an encoded split.

Why buckets: an XLA-compiled step compiles once per input shape (tensorflow#62198), so batches are padded to
one of a small fixed set of lengths, and padding to the longest possible length wastes most of the
compute on short texts (keras-hub#1627). Each batch holds examples of one bucket; the examples left over
in a bucket move up to the next (longer) one, so only the last batch of an epoch is partial, and with a
fixed batch size it is filled with masked rows (label -100, attention 0, example_index -1) rather than
dropped or given a new shape.

The order of an epoch is a pure function of (seed, epoch), so a resumed run rebuilds the same epoch and
skips the batches already done: no iterator state needs saving (tensorflow#48178).
"""

import copy
import dataclasses
import functools

import numpy as np
import tensorflow as tf

from tfft.data.examples import DataError
from tfft.data.features import Encoded
from tfft.data.masking import Masking, mask_batch
from tfft.tokenization import IGNORE_INDEX, NO_WORD

PADDING = ("bucket", "max_length")


# The 'auto' lengths under XLA, which compiles the step once per shape (tensorflow#62198): each at most 1.5x the
# one before, so a batch pads its examples by less than a third of its bucket length at worst; measured on SST-2 /
# CoNLL-2003 at max 128 this gives a padding share of 0.24 / 0.27, against 0.38 / 0.48 with multiples of 32 and
# 0.80 / 0.84 with max-length padding, for 6 shapes instead of 4. Without XLA one graph serves every length
# (TrainSteps.trace_any_length), so 'auto' allows every length: a batch pads to its longest example, and only the
# examples carried up from a nearly empty length pay padding (SST-2 at max 128: a padding share of 0.016 against
# 0.238; one training epoch in 97 s against 124 s with the ladder, which also traced once more; 2 cores,
# tfft.bench --mode=epoch --flagfile=flags/bench_sst2.cfg).
AUTO_BUCKETS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


def bucket_boundaries(max_seq_length: int, padding: str = "bucket", buckets: str = "auto", *,
                      xla: bool = False) -> tuple[int, ...]:
    """The padded lengths batches may have. 'auto': every length up to --max_seq_length, or under XLA the
    AUTO_BUCKETS below it plus it; or an explicit comma-separated list; 'max_length' padding: one length."""
    if padding not in PADDING:
        raise DataError(f"--padding={padding!r}: expected one of {', '.join(PADDING)}")
    if max_seq_length < 8:
        raise DataError(f"--max_seq_length={max_seq_length}: expected at least 8")
    if padding == "max_length":
        return (max_seq_length,)
    if buckets == "auto":
        ladder = AUTO_BUCKETS if xla else range(1, max_seq_length)
        return tuple(b for b in ladder if b < max_seq_length) + (max_seq_length,)
    try:
        chosen = sorted({int(b) for b in buckets.split(",")})
    except ValueError as err:
        raise DataError(f"--buckets={buckets!r}: expected 'auto' or comma-separated lengths") from err
    if chosen[0] < 1 or chosen[-1] > max_seq_length:
        raise DataError(f"--buckets={buckets!r}: lengths must be between 1 and --max_seq_length={max_seq_length}")
    return tuple(b for b in chosen if b < max_seq_length) + (max_seq_length,)


@dataclasses.dataclass(frozen=True)
class Plan:
    """One epoch's batches: example indices (-1 for a masked filler row) and each batch's padded length."""

    indices: np.ndarray  # [num_batches, batch_size] int64
    lengths: np.ndarray  # [num_batches] int32

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return sorted({(self.indices.shape[1], int(length)) for length in self.lengths})

    def padding_share(self, example_lengths: np.ndarray) -> float:
        """Padding tokens / all tokens in the padded batches (filler rows count as padding)."""
        real = example_lengths[self.indices[self.indices >= 0]].sum()
        total = int(self.indices.shape[1] * self.lengths.sum())
        return float(1.0 - real / total) if total else 0.0


def make_plan(lengths: np.ndarray, boundaries: tuple[int, ...], batch_size: int, *,
              rng: np.random.Generator | None) -> Plan:
    """Groups examples by bucket into batches; shuffled within buckets and across batches when `rng` is given,
    otherwise shortest first (evaluation: least padding, order recovered through example_index). The one
    partial batch is completed with -1 (filler) entries."""
    if batch_size < 1:
        raise DataError(f"--batch_size={batch_size}: expected at least 1")
    if len(lengths) and lengths.max() > boundaries[-1]:
        raise DataError(f"an example has {lengths.max()} tokens, more than the largest bucket {boundaries[-1]}")
    order = rng.permutation(len(lengths)) if rng is not None else np.argsort(lengths, kind="stable")
    bucket_of = np.searchsorted(np.asarray(boundaries), lengths[order])
    batches, carry = [], np.zeros(0, np.int64)
    for bucket, boundary in enumerate(boundaries):
        members = np.concatenate([carry, order[bucket_of == bucket]])
        full = len(members) // batch_size
        batches += [(members[k * batch_size:(k + 1) * batch_size], boundary) for k in range(full)]
        carry = members[full * batch_size:]
    if len(carry):
        length = boundaries[int(np.searchsorted(np.asarray(boundaries), lengths[carry].max()))]
        batches.append((np.concatenate([carry, np.full(batch_size - len(carry), -1, np.int64)]), length))
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    if not batches:
        return Plan(np.zeros((0, batch_size), np.int64), np.zeros(0, np.int32))
    return Plan(np.stack([b for b, _ in batches]).astype(np.int64), np.array([n for _, n in batches], np.int32))


class Batches:
    """The padded batches of one split, epoch by epoch.

    Each element is a dict of int32 tensors: input_ids, attention_mask, token_type_ids [B, L], labels [B]
    (sequence tasks) or [B, L] (NER; -100 where ignored), word_ids [B, L] (NER), example_index [B] (-1 for
    a filler row). L is one of `boundaries`. With `fixed_batch_size` (the default, one shape per bucket for
    XLA and equal per-replica batches) the epoch's last batch is completed with filler rows; without it,
    that batch is simply smaller. `with_features` adds a frozen encoder's cached outputs as float32 `features`:
    [B, L, H] token states or [B, H] pooled states (zeros for padding and filler rows). With `masking`
    (masked-LM), input_ids come masked, labels [B, K] hold the original tokens at `mlm_positions` [B, K]
    (tfft/data/masking.py), drawn from (seed, epoch, batch) and differently for shuffled (training) batches.
    """

    def __init__(self, encoded: Encoded, *, batch_size: int, boundaries: tuple[int, ...], pad_token_id: int,
                 seed: int = 0, shuffle: bool = False, fixed_batch_size: bool = True, masking: Masking | None = None):
        self.encoded = encoded
        self.batch_size = batch_size
        self.fixed_batch_size = fixed_batch_size
        self.boundaries = boundaries
        self.pad_token_id = pad_token_id
        self.seed = seed
        self.shuffle = shuffle
        self.masking = masking
        self.steps_per_epoch = len(self.plan(0))
        self.features = None

    def with_features(self, features: np.ndarray) -> "Batches":
        """The same batches with cached encoder features: [T, H] (one row per token, the examples' tokens
        concatenated as in `encoded.input_ids`) or [N, H] (one row per example)."""
        if len(features) not in (len(self.encoded.input_ids), len(self.encoded)):
            raise ValueError(f"{len(features)} feature rows fit neither the {len(self.encoded.input_ids)} tokens nor "
                             f"the {len(self.encoded)} examples")
        batches = copy.copy(self)
        batches.features = tf.constant(np.concatenate([features, np.zeros_like(features[:1])]))  # + a filler row
        return batches

    def plan(self, epoch: int) -> Plan:
        rng = np.random.default_rng([self.seed, epoch]) if self.shuffle else None
        return make_plan(self.encoded.lengths, self.boundaries, self.batch_size, rng=rng)

    def dataset(self, epoch: int = 0, skip: int = 0) -> tf.data.Dataset:
        """The batches of `epoch`, starting after the first `skip` (to resume mid-epoch)."""
        plan = self.plan(epoch)
        if not 0 <= skip <= len(plan):
            raise ValueError(f"cannot skip {skip} batches of an epoch of {len(plan)}")
        encoded, fixed = self.encoded, self.fixed_batch_size
        filler = len(encoded)  # an empty row appended after the last example
        lengths = np.append(encoded.lengths, 0).astype(np.int64)

        def ragged(values: np.ndarray) -> tf.RaggedTensor:
            return tf.RaggedTensor.from_row_lengths(values, lengths)

        ids, types = ragged(encoded.input_ids), ragged(encoded.token_type_ids)
        token_labels = ragged(encoded.labels) if encoded.token_level else None
        word_ids = ragged(encoded.word_ids) if encoded.token_level else None
        example_labels = None if encoded.token_level else tf.constant(np.append(encoded.labels, IGNORE_INDEX), tf.int32)
        features = self.features
        per_token = features is not None and len(features) == len(encoded.input_ids) + 1
        if per_token:  # the filler row appended to the tokens is not a token; the filler example has 0 of them
            features = tf.RaggedTensor.from_row_lengths(features[:-1], lengths)

        def make_batch(indices, length):
            if not fixed:
                indices = tf.boolean_mask(indices, indices >= 0)
            rows = tf.where(indices < 0, tf.constant(filler, tf.int64), indices)
            shape = tf.stack([tf.size(rows, out_type=tf.int64), tf.cast(length, tf.int64)])
            dense = lambda r, pad: tf.gather(r, rows).to_tensor(default_value=pad, shape=shape)  # noqa: E731
            batch = {
                "input_ids": dense(ids, self.pad_token_id),
                "attention_mask": tf.sequence_mask(tf.gather(lengths, rows), length, dtype=tf.int32),
                "token_type_ids": dense(types, 0),
                "example_index": tf.cast(indices, tf.int32),
            }
            if token_labels is not None:
                batch["labels"] = dense(token_labels, IGNORE_INDEX)
                batch["word_ids"] = dense(word_ids, NO_WORD)
            else:
                batch["labels"] = tf.gather(example_labels, rows)
            if per_token:
                width = tf.constant([features.shape[-1]], tf.int64)
                states = tf.gather(features, rows).to_tensor(shape=tf.concat([shape, width], 0))
                batch["features"] = tf.cast(states, tf.float32)  # [B, L, H]
            elif features is not None:
                batch["features"] = tf.cast(tf.gather(features, rows), tf.float32)  # [B, H]
            size = self.batch_size if fixed else None
            return {k: tf.ensure_shape(v, [size] + [None] * (v.shape.rank - 1)) for k, v in batch.items()}

        data = tf.data.Dataset.from_tensor_slices((plan.indices[skip:], plan.lengths[skip:]))
        data = data.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if self.masking is not None:
            data = data.enumerate(start=skip).map(functools.partial(self._mask, epoch),
                                                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return data.prefetch(tf.data.AUTOTUNE)

    def _mask(self, epoch: int, index: tf.Tensor, batch: dict) -> dict:
        """Masks batch `index` of `epoch` (numpy, tfft/data/masking.py)."""
        def draw(input_ids, word_ids, index):
            rng = np.random.default_rng([self.seed, int(self.shuffle), epoch, int(index)])
            return mask_batch(input_ids, word_ids, self.masking, rng)

        input_ids, labels, positions = tf.numpy_function(
            draw, [batch["input_ids"], batch["word_ids"], index], [tf.int32] * 3, stateful=False)
        rows = batch["input_ids"].shape[0]
        batch = dict(batch, input_ids=tf.ensure_shape(input_ids, batch["input_ids"].shape),
                     labels=tf.ensure_shape(labels, [rows, None]),
                     mlm_positions=tf.ensure_shape(positions, [rows, None]))
        return batch
