"""A linear-chain conditional random field (CRF) over per-token emissions, for token-classification (NER) heads.

Dimension legend: B batch, L tokens, C tags.

Emissions come per token [B, L, C]; a boolean `mask` [B, L] selects the positions the chain runs over (for NER
the first sub-token of each word). The selected positions need not be adjacent, and a row may select none: the
chain links each selected position to the next selected one. A tag path y_1..y_n over a row's n positions scores
    start[y_1] + sum_k emissions[y_k] + sum_k transitions[y_(k-1), y_k] + end[y_n]
and the model is p(y) = exp(score(y)) / Z, with Z summed over all C^n paths (a row without positions has Z = 1).

Constraints (`bio_constraints`) forbid transitions and starts that no IOB2 sequence has (I-X after O, at the
start, ...). They apply to `decode` and `marginals` only, as a FORBIDDEN score added to the learned one, never to
the training likelihood: gold data may be IOB1, where I-X opens an entity, and a gold path through a forbidden
transition would cost ~1e4 per step under the constrained model (with -inf: an infinite loss and NaN gradients).
FORBIDDEN is large but finite for the same reason: -inf scores give inf - inf = NaN in logsumexp and gradients.

Static shapes: XLA compiles for fixed shapes, so the selected positions are not sliced out to the longest row's
count. `_compaction` permutes each row so that its selected positions come first, in order, on the same length-L
axis, and marks them with a contiguous prefix mask; the recursions then run over all L steps (time-major) and
carry a row's state unchanged past its prefix. `_scatter_back` puts per-position results back where they came from.
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

# Added to the score of a forbidden transition or start: exp(-1e4) is 0 in float32, and no sum overflows.
FORBIDDEN = -1e4


def _bio_tag(label: str) -> tuple[str, str | None]:
    """("O", None), ("B", type) or ("I", type); tags read as `tfft.tasks.ner.check_tag` reads them."""
    if label == "O":
        return "O", None
    prefix, _, kind = label.partition("-")
    if prefix not in ("B", "I") or not kind:
        raise ValueError(f"label {label!r} is not a BIO tag (expected O, B-TYPE or I-TYPE)")
    return prefix, kind


def bio_constraints(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(allowed_transitions [C, C], allowed_start [C]) bool for IOB2 tags; [i, j] is True when tag j may follow tag i.

    I-X may only follow B-X or I-X and never starts a sequence; everything else is allowed (any tag may end one).
    """
    tags = [_bio_tag(label) for label in labels]
    allowed_transitions = np.array([[prefix != "I" or kind == previous for prefix, kind in tags]
                                    for _, previous in tags], dtype=bool)
    allowed_start = np.array([prefix != "I" for prefix, _ in tags], dtype=bool)
    return allowed_transitions, allowed_start


def _compaction(mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The permutation [B, L] that moves each row's selected positions to its front (in order), and the prefix
    mask [B, L] of the moved positions."""
    mask = tf.cast(mask, tf.bool)
    length = tf.shape(mask)[1]
    position = tf.range(length)  # [L]
    order = tf.argsort(tf.where(mask, position, length + position), axis=1)  # [B, L]
    count = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)  # [B]
    return order, position < count[:, tf.newaxis]


def _compact(values: tf.Tensor, order: tf.Tensor) -> tf.Tensor:
    """values [B, L, ...] -> the same values with each row permuted by `order` [B, L]."""
    return tf.gather(values, order, batch_dims=1)


def _scatter_back(values: tf.Tensor, order: tf.Tensor) -> tf.Tensor:
    """Undoes `_compact`: compacted values [B, L, ...] -> values at their original positions [B, L, ...]."""
    return tf.gather(values, tf.argsort(order, axis=1), batch_dims=1)


def _moves(prefix: tf.Tensor) -> tf.Tensor:
    """The prefix positions [B, L] that a transition leads into: all but the first. The recursions step over every
    position (XLA cannot loop over the L - 1 transitions when L is 1) and leave the state alone elsewhere."""
    return tf.concat([tf.zeros_like(prefix[:, :1]), prefix[:, 1:]], axis=1)


def _time_major(values: tf.Tensor) -> tf.Tensor:
    """[B, L, ...] -> [L, B, ...], the layout tf.scan steps over."""
    rank = values.shape.rank
    return tf.transpose(values, [1, 0, *range(2, rank)])


class CRF(tf.Module):
    """Learned transition [C, C], start [C] and end [C] scores over emissions; see the module docstring."""

    def __init__(self, num_tags: int, *, rng: tf.random.Generator,
                 constraints: tuple[np.ndarray, np.ndarray] | None = None, name: str | None = None):
        super().__init__(name=name)
        self.num_tags = num_tags
        self.transitions = tf.Variable(rng.uniform([num_tags, num_tags], -0.1, 0.1), name="transitions")
        self.start = tf.Variable(rng.uniform([num_tags], -0.1, 0.1), name="start")
        self.end = tf.Variable(rng.uniform([num_tags], -0.1, 0.1), name="end")
        if constraints is None:
            constraints = np.ones([num_tags, num_tags], bool), np.ones([num_tags], bool)
        allowed_transitions, allowed_start = (np.asarray(table, bool) for table in constraints)
        if allowed_transitions.shape != (num_tags, num_tags) or allowed_start.shape != (num_tags,):
            raise ValueError(f"constraint tables of shapes {allowed_transitions.shape} and {allowed_start.shape} "
                             f"do not fit {num_tags} tags: expected ({num_tags}, {num_tags}) and ({num_tags},)")
        self.transition_penalty = tf.constant(np.where(allowed_transitions, 0.0, FORBIDDEN), tf.float32)  # [C, C]
        self.start_penalty = tf.constant(np.where(allowed_start, 0.0, FORBIDDEN), tf.float32)  # [C]

    def _scores(self, constrained: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """(transitions [C, C], start [C]), with the constraints' penalties when `constrained`."""
        if constrained:
            return self.transitions + self.transition_penalty, self.start + self.start_penalty
        return self.transitions, self.start

    def log_likelihood(self, emissions: tf.Tensor, tags: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """log p(tags) [B] float32 under the unconstrained model; tags off the mask are ignored; 0 for empty rows."""
        order, prefix = _compaction(mask)
        emissions = _compact(tf.cast(emissions, tf.float32), order)  # [B, L, C]
        keep = tf.cast(prefix, tf.float32)  # [B, L]
        gold = tf.one_hot(_compact(tags, order), self.num_tags) * keep[..., tf.newaxis]  # [B, L, C], 0 past the prefix
        is_last = keep - tf.pad(keep[:, 1:], [[0, 0], [0, 1]])  # [B, L]: 1 at a row's last position
        score = (tf.linalg.matvec(gold[:, 0], self.start)
                 + tf.reduce_sum(gold * emissions, axis=[1, 2])
                 + tf.einsum("blc,cd,bld->b", gold[:, :-1], self.transitions, gold[:, 1:])
                 + tf.einsum("blc,bl,c->b", gold, is_last, self.end))  # [B]
        return score - self._forward(emissions, prefix, *self._scores(constrained=False))

    def log_partition(self, emissions: tf.Tensor, mask: tf.Tensor, *, constrained: bool = False) -> tf.Tensor:
        """log Z [B] float32 (0 for a row without positions); under the constraints when `constrained`."""
        order, prefix = _compaction(mask)
        emissions = _compact(tf.cast(emissions, tf.float32), order)  # [B, L, C]
        return self._forward(emissions, prefix, *self._scores(constrained))

    def _forward(self, emissions: tf.Tensor, prefix: tf.Tensor, transitions: tf.Tensor, start: tf.Tensor) -> tf.Tensor:
        """The forward algorithm in log space over compacted emissions [B, L, C] and prefix [B, L] -> log Z [B]."""
        def step(alpha, inputs):
            scores, move = inputs  # [B, C], [B]
            moved = tf.reduce_logsumexp(alpha[:, :, tf.newaxis] + transitions, axis=1) + scores  # [B, C]
            return tf.where(move[:, tf.newaxis], moved, alpha)

        alpha = start + emissions[:, 0]  # [B, C]
        alpha = tf.foldl(step, (_time_major(emissions), _time_major(_moves(prefix))), initializer=alpha)
        return tf.where(prefix[:, 0], tf.reduce_logsumexp(alpha + self.end, axis=1), 0.0)

    def decode(self, emissions: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """The Viterbi path [B, L] int32 (constrained when constraints were given) on the mask, -1 off it."""
        order, prefix = _compaction(mask)
        emissions = _compact(tf.cast(emissions, tf.float32), order)  # [B, L, C]
        transitions, start = self._scores(constrained=True)
        first = start + emissions[:, 0]  # [B, C]
        stay = tf.zeros_like(first, tf.int32) + tf.range(self.num_tags)  # [B, C]: past the prefix, keep the tag

        def step(carry, inputs):
            best, _ = carry  # [B, C]: the best score of a path ending in each tag
            scores, move = inputs  # [B, C], [B]
            candidates = best[:, :, tf.newaxis] + transitions  # [B, C, C]: previous tag, tag
            moved = tf.reduce_max(candidates, axis=1) + scores
            backpointer = tf.argmax(candidates, axis=1, output_type=tf.int32)  # [B, C]
            return tf.where(move[:, tf.newaxis], moved, best), tf.where(move[:, tf.newaxis], backpointer, stay)

        bests, backpointers = tf.scan(step, (_time_major(emissions), _time_major(_moves(prefix))),
                                      initializer=(first, stay))  # [L, B, C] each
        last_tag = tf.argmax(bests[-1] + self.end, axis=1, output_type=tf.int32)  # [B]
        # backpointers[t] maps the tag at t to the tag at t - 1; shifted by one, step t maps the tag at t + 1 to t's.
        following = tf.concat([backpointers[1:], stay[tf.newaxis]], axis=0)  # [L, B, C]
        path = tf.scan(lambda tag, backpointer: tf.gather(backpointer, tag, batch_dims=1), following,
                       initializer=last_tag, reverse=True)  # [L, B]
        path = tf.transpose(path)  # [B, L], compacted
        return _scatter_back(tf.where(prefix, path, -1), order)

    def marginals(self, emissions: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """p(tag at a position) [B, L, C] float32 at the masked positions (constrained when constraints were given),
        zero rows elsewhere: the gradient of log Z with respect to the emissions."""
        emissions = tf.cast(emissions, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(emissions)
            log_z = self.log_partition(emissions, mask, constrained=True)  # [B]
        return tape.gradient(log_z, emissions)
