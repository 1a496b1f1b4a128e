"""The training loss, returned as (sum, weight) so that padding, gradient accumulation and replicas divide by the
true number of labelled examples or tokens (STYLE 13).

Masked sparse cross-entropy in float32 matches torch.nn.CrossEntropyLoss(weight=class_weights, ignore_index=-100,
label_smoothing=eps, reduction='sum'), with the weight sum returned for the mean. A model with a CRF (NER heads
crf, lstm_crf) is trained on the negative log-likelihood of the gold tag sequences instead, per labelled token.
"""

import numpy as np
import tensorflow as tf

from tfft.tokenization import IGNORE_INDEX


def label_weights(labels: tf.Tensor, class_weights: tf.Tensor | None) -> tf.Tensor:
    """Per-position weight: 0 where the label is ignored (-100: padding, special tokens, filler rows)."""
    valid = labels != IGNORE_INDEX
    if class_weights is None:
        return tf.cast(valid, tf.float32)
    return tf.where(valid, tf.gather(class_weights, tf.where(valid, labels, 0)), 0.0)


def masked_cross_entropy(logits: tf.Tensor, labels: tf.Tensor, *, class_weights: tf.Tensor | None = None,
                         label_smoothing: float = 0.0) -> tuple[tf.Tensor, tf.Tensor]:
    """logits [..., C] (cast to float32), labels [...] int -> (weighted loss sum, weight sum)."""
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)  # [..., C]
    safe = tf.where(labels == IGNORE_INDEX, tf.zeros_like(labels), labels)
    nll = -tf.gather(log_probs, safe, axis=-1, batch_dims=len(labels.shape))  # [...]
    weights = label_weights(labels, class_weights)
    if label_smoothing:
        # torch: (1 - eps) * nll + eps * mean_c(-w_c log p_c), each term weighted like its own target
        smooth = -log_probs if class_weights is None else -log_probs * class_weights
        smooth = tf.reduce_mean(smooth, axis=-1) * tf.cast(labels != IGNORE_INDEX, tf.float32)
        per_position = (1.0 - label_smoothing) * nll * weights + label_smoothing * smooth
    else:
        per_position = nll * weights
    return tf.reduce_sum(per_position), tf.reduce_sum(weights)


def model_loss(model, logits: tf.Tensor, labels: tf.Tensor, *, class_weights: tf.Tensor | None = None,
               label_smoothing: float = 0.0) -> tuple[tf.Tensor, tf.Tensor]:
    """The loss of `model`'s logits: (sum, weight) of the cross-entropy, or of the CRF's negative log-likelihood
    of each sentence over its labelled tokens (the words' first sub-tokens) with the labelled tokens as weight."""
    crf = getattr(model, "crf", None)
    if crf is None:
        return masked_cross_entropy(logits, labels, class_weights=class_weights, label_smoothing=label_smoothing)
    positions = labels != IGNORE_INDEX  # [B, L]
    negative_log_likelihood = -crf.log_likelihood(logits, labels, positions)  # [B]
    return tf.reduce_sum(negative_log_likelihood), tf.reduce_sum(tf.cast(positions, tf.float32))


def balanced_class_weights(counts: np.ndarray) -> np.ndarray:
    """scikit-learn's 'balanced' weights: n_samples / (n_classes * count); 0 for a class with no examples."""
    counts = np.asarray(counts, np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.astype(np.float32)
