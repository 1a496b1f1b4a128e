"""The FLOPs MFU divides by equal PyTorch's own count (torch.utils.flop_counter) on Hugging Face's models; the
synthetic batches look like the pipeline's; the matmul peak is a positive rate."""

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

from tfft.benchmarks import (call_seconds, cpu_description, forward_flops, matmul_peak, steady_seconds,
                             synthetic_batch)
from tfft.models import BertConfig, DistilBertConfig
from tfft.tokenization import IGNORE_INDEX

CONFIGS = {
    "distilbert": (DistilBertConfig(vocab_size=120, dim=48, n_heads=4, hidden_dim=80, n_layers=3),
                   transformers.DistilBertConfig(vocab_size=120, dim=48, n_heads=4, hidden_dim=80, n_layers=3)),
    "bert": (BertConfig(vocab_size=120, hidden_size=48, num_attention_heads=4, intermediate_size=80,
                        num_hidden_layers=2),
             transformers.BertConfig(vocab_size=120, hidden_size=48, num_attention_heads=4, intermediate_size=80,
                                     num_hidden_layers=2)),
}


def torch_flops(config, batch: int, length: int, *, backward: bool) -> int:
    """FLOPs PyTorch counts for the encoder (no pooler, no head), eager attention as the reference computes it."""
    config._attn_implementation = "eager"
    model = transformers.AutoModel.from_config(config, **({"add_pooling_layer": False} if config.model_type == "bert"
                                                           else {}))
    ids = torch.randint(0, config.vocab_size, (batch, length))
    with FlopCounterMode(display=False) as counter:
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        if backward:
            out.sum().backward()
    return counter.get_total_flops()


@pytest.mark.parametrize("family", sorted(CONFIGS))
@pytest.mark.parametrize("batch, length", [(2, 16), (3, 7)])
def test_forward_flops_equal_torch_flop_counter(family, batch, length):
    ours, reference = CONFIGS[family]
    assert forward_flops(ours, batch, length) == torch_flops(reference, batch, length, backward=False)


def test_a_training_step_is_three_forward_passes():
    ours, reference = CONFIGS["distilbert"]
    # PyTorch also counts the gradient of the embeddings' first matmul input, which no parameter needs; the
    # convention (forward + 2x backward) is the one MFU uses everywhere.
    counted = torch_flops(reference, 2, 16, backward=True)
    assert abs(counted - 3 * forward_flops(ours, 2, 16)) / counted < 0.05


@pytest.mark.parametrize("token_level", [False, True])
def test_synthetic_batch_has_the_pipeline_layout(token_level):
    batch = synthetic_batch(batch=4, length=10, vocab_size=30522, num_labels=9, token_level=token_level)
    assert {k: v.shape.as_list() for k, v in batch.items()} == {
        "input_ids": [4, 10], "attention_mask": [4, 10], "token_type_ids": [4, 10],
        "labels": [4, 10] if token_level else [4], "example_index": [4]}
    assert all(v.dtype == tf.int32 for v in batch.values())
    ids, labels = batch["input_ids"].numpy(), batch["labels"].numpy()
    assert ids.min() >= 1000 and ids.max() < 30522  # clear of [PAD], [CLS], [SEP], [MASK] and unused pieces
    assert np.all(batch["attention_mask"].numpy() == 1)
    if token_level:
        assert np.all(labels[:, [0, -1]] == IGNORE_INDEX) and labels[:, 1:-1].max() < 9
    else:
        assert labels.min() >= 0 and labels.max() < 9


def test_call_timing_and_matmul_peak():
    times = call_seconds(lambda: sum(range(1000)), 5)
    assert len(times) == 5 and all(t > 0 for t in times)
    assert steady_seconds([9.0, 1.0, 3.0, 2.0], warmup=1) == 2.0
    peak = matmul_peak(size=256, repeats=2)
    assert peak["dtype"] == "float32" and peak["peak"] == max(peak["graph"], peak["xla"]) > 0


def test_cpu_description_names_the_model_and_the_instruction_sets_that_pick_kernels(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx2 fma f16c\n\n"
                       "processor\t: 1\nmodel name\t: other\nflags\t\t: avx512f\n")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    described = cpu_description(cpuinfo)
    assert described["model"] == "AMD EPYC" and described["isa"] == ["avx2", "fma"]
    assert described["onednn_max_cpu_isa"] == "AVX2" and described["cores"] >= 1
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert cpu_description(tmp_path / "missing") == {"model": "unknown", "isa": [], "cores": described["cores"],
                                                     "onednn_max_cpu_isa": None}
