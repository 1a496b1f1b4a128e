"""What `python -m tfft.bench` measures with: the machine's matmul peak, a model's FLOPs per step, synthetic batches,
median call times and peak resident memory.

MFU (model FLOPs utilisation) = FLOPs of a step / step seconds / the best matmul rate measured on this machine in
the same process, the way PaLM's appendix and nanoGPT count it: the matmuls of the encoder blocks only
(projections, feed-forward, and the two attention products), x3 for a training step (forward + backward).
Embedding lookups, softmax, layer norms, the optimizer and the task head are left out, so MFU is a lower bound.
"""

import os
import pathlib
import resource
import statistics
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfft.tokenization import IGNORE_INDEX
from tfft.training.precision import cpu_fields

# The instruction sets that decide which kernels oneDNN and XLA run on an x86 CPU (/proc/cpuinfo names); the same
# step ran 1.7x apart on two EPYCs of this project, one with AVX-512 and AVX-512 BF16, one with AVX2 and FMA only.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_fp16", "amx_int8")

MATMUL_SIZE = 2048


def matmul_peak(dtype: tf.DType = tf.float32, size: int = MATMUL_SIZE, repeats: int = 7) -> dict:
    """GFLOP/s of a [size, size] x [size, size] matmul in `dtype`, as a graph and XLA-compiled (median of
    `repeats`), and the better of the two as `peak`."""
    a = tf.random.normal([size, size], dtype=tf.float32)
    b = tf.random.normal([size, size], dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(b, dtype)
    rates = {}
    for name, jit in (("graph", False), ("xla", True)):
        matmul = tf.function(tf.linalg.matmul, jit_compile=jit)
        seconds = steady_seconds(call_seconds(lambda: matmul(a, b).numpy(), 1 + repeats), warmup=1)
        rates[name] = round(2 * size**3 / seconds / 1e9, 1)
    return {"dtype": tf.as_dtype(dtype).name, "size": size, **rates, "peak": max(rates.values())}


def cpu_description(cpuinfo: pathlib.Path = pathlib.Path("/proc/cpuinfo")) -> dict:
    """What a CPU speed depends on: the model, which of ISA_FLAGS it has, the cores, and ONEDNN_MAX_CPU_ISA when set
    (it caps the instruction set oneDNN's kernels use, e.g. AVX2 on an AVX-512 machine)."""
    fields = cpu_fields(cpuinfo)
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name", "unknown"), "isa": [f for f in ISA_FLAGS if f in flags],
            "cores": os.cpu_count(), "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA")}


def encoder_dims(config) -> tuple[int, int, int]:
    """(layers, hidden width, feed-forward width) of a DistilBERT- or BERT-layout config."""
    if config.model_type == "distilbert":
        return config.n_layers, config.dim, config.hidden_dim
    return config.num_hidden_layers, config.hidden_size, config.intermediate_size


def forward_flops(config, batch: int, length: int) -> int:
    """Matmul FLOPs of one forward pass of the encoder blocks over [batch, length] (see the module docstring)."""
    layers, hidden, ffn = encoder_dims(config)
    tokens = batch * length
    projections = 2 * tokens * (4 * hidden * hidden + 2 * hidden * ffn)  # Q, K, V, output; feed-forward in, out
    attention = 2 * 2 * batch * length * length * hidden  # scores Q K^T, then probabilities x V
    return layers * (projections + attention)


def synthetic_batch(*, batch: int, length: int, vocab_size: int, num_labels: int, token_level: bool,
                    seed: int = 0) -> dict[str, tf.Tensor]:
    """A full [batch, length] batch of random ids and labels, shaped like the training pipeline's."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000 if vocab_size > 2000 else 1, vocab_size, (batch, length))
    labels = rng.integers(0, num_labels, (batch, length) if token_level else (batch,))
    result = {"input_ids": ids, "attention_mask": np.ones((batch, length)), "token_type_ids": np.zeros((batch, length)),
              "labels": labels, "example_index": np.arange(batch)}
    if token_level:  # as the pipeline labels NER: the special tokens at both ends carry no label
        result["labels"][:, [0, -1]] = IGNORE_INDEX
    return {key: tf.constant(value, tf.int32) for key, value in result.items()}


def call_seconds(call: Callable[[], object], calls: int) -> list[float]:
    """Wall seconds of each of `calls` calls of `call`, which must block until its result exists. The first
    includes tracing (and compiling, under XLA); the median of the rest is the steady state."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def steady_seconds(times: list[float], warmup: int) -> float:
    """The median of the calls after the first `warmup`."""
    return statistics.median(times[warmup:])


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
