"""The compiled steps the loop calls. Each is a plain function of tensors; tfft.bench times them.

Arrangement (correct under any tf.distribute strategy and under XLA: an NCCL all-reduce inside an XLA cluster is
refused, tensorflow#45940 and #48502, and MultiWorker with jit_compile failed to compile, tensorflow#58961):
- `gradients` (jit-compiled when --xla, once per batch shape; otherwise one graph for every batch length): forward
  (from cached encoder features when the batch has them), masked loss (or a CRF's), backward for one micro-batch
  on one replica; only the trainable variables are watched, so frozen ones get no gradient at all.
- `accumulate` adds them into a GradientAccumulator, whose variables aggregate by SUM: under a strategy the
  add is the cross-replica all-reduce, outside any XLA cluster.
- `apply`: unscale (fp16), finiteness check of the gradients and the loss (after the reduction, in every
  precision), global-norm clipping, then the optimizer update (jit-compiled on one device); a non-finite step is
  skipped without advancing the optimizer's step or the schedule (the loop then goes on or stops: --nan_policy).
Gradients are of loss sums (over labelled examples or tokens, divided by a fixed `normalizer` only to keep
their scale like a mean's); `apply` divides the accumulated sum by the label weight of everything accumulated,
so k micro-batches, or N replicas, give exactly the gradient of the mean loss over one batch k (or N) times
larger, however the labelled tokens are spread over them.
"""

import functools

import tensorflow as tf

from tfft.models.heads import output_probabilities
from tfft.optim import GradientAccumulator, clip_coefficient, global_norm
from tfft.tokenization import IGNORE_INDEX
from tfft.training.losses import model_loss
from tfft.training.precision import finite_by_norm

# Trainable parameters from which the optimizer update is XLA-compiled (see TrainSteps).
XLA_UPDATE_PARAMETERS = 1_000_000


def forward(model, batch: dict, *, training: bool, frozen_encoder: bool = False) -> tf.Tensor:
    """The model's logits for a batch. A frozen encoder (--freeze=all) runs in inference mode, without dropout: it
    is a fixed feature extractor, and its features are then exactly what a feature cache holds; a batch with
    cached `features` skips it altogether. A masked-LM batch's `mlm_positions` [B, K] pick the token states the
    vocabulary head scores: logits [B, K, V], not [B, L, V] (the head is most of a small encoder's compute)."""
    masked_lm = "mlm_positions" in batch
    if "features" not in batch and not frozen_encoder and not masked_lm:
        return model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], training=training)
    features = batch.get("features")
    if features is None:
        features = model.features(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"],
                                  training=training and not frozen_encoder)
    if masked_lm:
        features = tf.gather(features, batch["mlm_positions"], batch_dims=1)  # [B, K, H]
    return model.head_logits(features, batch["attention_mask"], training=training)


def predict(model, batch: dict) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(loss sum, label weight, per-label probabilities) of an evaluation batch: what `evaluate` reads. For a CRF
    the probabilities mark the Viterbi path (tfft.models.heads.output_probabilities); for a masked-LM batch the
    third is the predicted token id at each masked position [B, K] (a vocabulary of probabilities is too big to
    carry)."""
    logits = forward(model, batch, training=False)
    loss_sum, weight = model_loss(model, logits, batch["labels"])
    if "mlm_positions" in batch:
        return loss_sum, weight, tf.argmax(logits, axis=-1, output_type=tf.int32)
    return loss_sum, weight, output_probabilities(model, logits, batch["labels"] != IGNORE_INDEX)


def step_function(fn, **options):
    """tf.function without AutoGraph: the steps and the models branch with tf.cond and loop with tf.while_loop or
    tf.scan themselves, and converting the model's ~300 functions cost 2.0 s of the 17 s a 6-update run of the
    tiny test BERT takes (`python -m tfft.train --task=classification --dataset=sample --max_steps=6`, 2 cores)."""
    return tf.function(fn, autograph=False, **options)


def compiled_predict(model, *, xla: bool):
    """`predict` as one tf.function: under XLA compiled once per batch shape, otherwise one graph for any length
    (the second length retraces with the length unknown)."""
    return step_function(functools.partial(predict, model), jit_compile=xla, reduce_retracing=not xla)


class TrainSteps:
    """Holds the compiled step functions and the accumulator variables they update."""

    def __init__(self, model, trainable: list[tf.Variable], optimizer, loss_scale, *, strategy: tf.distribute.Strategy,
                 xla: bool, clip_norm: float | None, class_weights: tf.Tensor | None, label_smoothing: float,
                 normalizer: float, frozen_encoder: bool = False):
        self.model, self.trainable, self.optimizer, self.loss_scale = model, trainable, optimizer, loss_scale
        self.frozen_encoder = frozen_encoder
        self.strategy, self.clip_norm, self.normalizer = strategy, clip_norm, float(normalizer)
        self.class_weights, self.label_smoothing = class_weights, label_smoothing
        with strategy.scope():
            self.accumulator = GradientAccumulator(trainable)
        self.traces = {"gradients": 0, "predict": 0}
        self.xla = xla
        # Without XLA one graph serves every batch length (see `trace_any_length`; otherwise the second length
        # retraces with the length left unknown). XLA compiles each shape anyway.
        self._gradients = step_function(self._replica_gradients, jit_compile=xla, reduce_retracing=not xla)
        self.predict = step_function(self._replica_predict, jit_compile=xla,  # `predict` of a non-distributed batch
                                   reduce_retracing=not xla)
        self.accumulate = step_function(self._accumulate, reduce_retracing=not xla)
        # The update is elementwise work over every trainable parameter (AdamW reads 4 floats and writes 3 per
        # parameter): XLA fuses it into one pass per variable, whatever --xla says about the model. On 2 AVX2 cores,
        # AdamW over 22.6M parameters took 28 ms so against 159 ms op by op, and its compile ~1.5 s more than the
        # graph's trace: XLA pays from XLA_UPDATE_PARAMETERS trainable parameters on (a LoRA or head-only update is
        # a graph). Not over several devices: one XLA cluster cannot reach the variables' copies on the others.
        # The rest of `apply` (norm, finiteness) is a graph: all-MiniLM-L6-v2's `apply` took 150 ms with XLA's
        # scalar-loop reductions, 28 ms so (median of 10 calls).
        parameters = sum(v.shape.num_elements() for v in trainable)
        self.xla_update = strategy.num_replicas_in_sync == 1 and parameters >= XLA_UPDATE_PARAMETERS
        self._update = step_function(self._scaled_update, jit_compile=self.xla_update)
        self.apply = step_function(self._apply)

    def trace_any_length(self, train_spec, eval_spec) -> None:
        """Without XLA, traces `accumulate` and `predict` once for the element specs of the training and
        evaluation datasets, whose length dimension is unknown: no batch length traces again (each trace of the
        step costs 3-5 s on 2 cores). Under XLA every shape compiles on its first batch instead."""
        if not self.xla:
            self.accumulate.get_concrete_function(train_spec)
            self.predict.get_concrete_function(eval_spec)

    def _replica_gradients(self, batch: dict):
        self.traces["gradients"] += 1  # a Python side effect: counts traces, i.e. distinct batch shapes
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(self.trainable)
            logits = forward(self.model, batch, training=True, frozen_encoder=self.frozen_encoder)
            loss_sum, weight = model_loss(self.model, logits, batch["labels"], class_weights=self.class_weights,
                                          label_smoothing=self.label_smoothing)
            scaled = self.loss_scale.scale(loss_sum / self.normalizer)
        return tape.gradient(scaled, self.trainable), loss_sum, weight

    def _replica_predict(self, batch: dict):
        self.traces["predict"] += 1
        return predict(self.model, batch)

    def _accumulate(self, batch):
        """Adds one (distributed) micro-batch's gradients; returns its (loss sum, label weight, examples, tokens,
        token slots), summed over replicas."""

        def replica(batch):
            grads, loss_sum, weight = self._gradients(batch)
            self.accumulator.add(grads)
            examples = tf.reduce_sum(tf.cast(batch["example_index"] >= 0, tf.float32))
            tokens = tf.reduce_sum(tf.cast(batch["attention_mask"], tf.float32))
            slots = tf.cast(tf.size(batch["attention_mask"]), tf.float32)  # tokens + padding
            return loss_sum, weight, examples, tokens, slots

        per_replica = self.strategy.run(replica, (batch,))
        return tuple(self.strategy.reduce(tf.distribute.ReduceOp.SUM, x, axis=None) for x in per_replica)

    def _apply(self, total_weight: tf.Tensor, total_loss: tf.Tensor):
        """One update from the accumulated gradients of micro-batches whose losses sum to `total_loss`; returns
        (applied, global norm). Clears the accumulators.

        The gradients are the accumulated sums times one scalar, mean factor / loss scale (exact: the scale is a
        power of two); their norm is that factor times the sums' norm. The norm and the finiteness test run as
        graph ops (matmul kernels, see sum_of_squares), the elementwise update as its own XLA function."""
        sums = self.accumulator.value()
        factor = self.normalizer / tf.maximum(tf.cast(total_weight, tf.float32), 1e-9) / self.loss_scale.current
        norm = global_norm(sums) * factor
        finite = finite_by_norm(norm, lambda: [g * factor for g in sums]) & tf.math.is_finite(
            tf.cast(total_loss, tf.float32))
        self.loss_scale.record(finite)
        multiplier = factor * clip_coefficient(norm, self.clip_norm)

        def update():
            self._update(multiplier)
            return tf.constant(True)

        applied = tf.cond(finite, update, lambda: tf.constant(False))
        self.accumulator.reset()
        return applied, norm

    def _scaled_update(self, multiplier: tf.Tensor) -> None:
        """The optimizer's update with the accumulated sums times `multiplier` as the gradients."""
        self.optimizer.apply([g * multiplier for g in self.accumulator.value()])
