"""Weight-file readers: legacy TF h5 (against transformers-TF's own outputs), sharded safetensors,
pytorch_model.bin, bfloat16 tensors, and the errors for broken files."""

import pathlib
import sys

import numpy as np
import pytest

from conftest import max_abs_diff, padded_batch, tfft_call
from tfft.checkpoints import formats
from tfft.checkpoints.io import export_weights, from_pretrained
from tfft.models import BertConfig, build_model

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

H5_FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "hf_tf_h5"


@pytest.mark.parametrize("case,cls_name", [
    ("distilbert_seqcls", "DistilBertForSequenceClassification"),
    ("bert_tokcls", "BertForTokenClassification"),
    ("bert_mlm", "BertForMaskedLM"),
])
def test_tf_h5_matches_transformers_tf_outputs(case, cls_name):
    """Fixtures written by transformers 4.57 TF models (scripts/make_h5_fixtures.py); logits are theirs."""
    expected = np.load(H5_FIXTURES / case / "expected.npz")
    model = from_pretrained(H5_FIXTURES / case)
    assert type(model).__name__ == cls_name
    batch = {k: expected[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in expected}
    mask = None if case == "distilbert_seqcls" else batch["attention_mask"]
    assert max_abs_diff(tfft_call(model, batch), expected["logits"], mask) < 1e-5


@pytest.mark.parametrize("tf_name,pt_name,transpose", [
    ("tf_distil_bert_for_sequence_classification/distilbert/transformer/layer_._0/attention/q_lin/kernel:0",
     "distilbert.transformer.layer.0.attention.q_lin.weight", True),
    ("tf_bert_for_masked_lm/bert/embeddings/word_embeddings/weight:0", "bert.embeddings.word_embeddings.weight", False),
    ("tf_bert_for_masked_lm/bert/embeddings/position_embeddings/embeddings:0",
     "bert.embeddings.position_embeddings.weight", False),
    ("tf_bert_for_masked_lm/mlm___cls/predictions/bias:0", "cls.predictions.bias", False),
    ("tf_bert_model/bert/encoder/layer_._11/output/LayerNorm/gamma:0", "bert.encoder.layer.11.output.LayerNorm.weight",
     False),
])
def test_tf_weight_names(tf_name, pt_name, transpose):
    assert formats.tf_name_to_pytorch(tf_name) == (pt_name, transpose)


def _tiny_torch_bert(tmp_path):
    config = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=37, max_position_embeddings=64, num_labels=3)
    model = transformers.BertForSequenceClassification(config).eval()
    model.save_pretrained(tmp_path / "single")
    return model


def test_sharded_safetensors_equal_single_file(tmp_path):
    model = _tiny_torch_bert(tmp_path)
    model.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert (tmp_path / "sharded" / formats.SAFETENSORS_INDEX).is_file()
    assert len(list((tmp_path / "sharded").glob("model-*.safetensors"))) > 2
    single = formats.read_weights(tmp_path / "single")
    sharded = formats.read_weights(tmp_path / "sharded")
    assert single.keys() == sharded.keys()
    assert all(np.array_equal(single[k], sharded[k]) for k in single)


def test_missing_shard_is_named(tmp_path):
    model = _tiny_torch_bert(tmp_path)
    model.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    shard = sorted((tmp_path / "sharded").glob("model-*.safetensors"))[0]
    shard.unlink()
    with pytest.raises(formats.CheckpointError, match=f"names shard {shard.name}, which is missing"):
        from_pretrained(tmp_path / "sharded")


def test_pytorch_bin_loads_like_safetensors(tmp_path):
    model = _tiny_torch_bert(tmp_path)
    (tmp_path / "bin").mkdir()
    torch.save(model.state_dict(), tmp_path / "bin" / formats.PYTORCH)
    (tmp_path / "bin" / "config.json").write_bytes((tmp_path / "single" / "config.json").read_bytes())
    batch = padded_batch(99, lengths=(9, 4), segments=True)
    assert max_abs_diff(tfft_call(from_pretrained(tmp_path / "bin"), batch),
                        tfft_call(from_pretrained(tmp_path / "single"), batch)) == 0.0


def test_pytorch_bin_without_torch_says_how_to_convert(tmp_path, monkeypatch):
    model = _tiny_torch_bert(tmp_path)
    torch.save(model.state_dict(), tmp_path / formats.PYTORCH)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(formats.CheckpointError, match="needs PyTorch.*convert it once to model.safetensors"):
        formats.read_pytorch_bin(tmp_path / formats.PYTORCH)


def test_pytorch_bin_that_is_not_a_state_dict(tmp_path):
    (tmp_path / formats.PYTORCH).write_bytes(b"definitely not a pickle")
    with pytest.raises(formats.CheckpointError, match="not a loadable PyTorch state dict"):
        formats.read_pytorch_bin(tmp_path / formats.PYTORCH)


class Hostile:
    """Unpickling this calls open(marker, "w"): a stand-in for any code a hostile pytorch_model.bin would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    model = _tiny_torch_bert(tmp_path)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "config.json").write_bytes((tmp_path / "single" / "config.json").read_bytes())
    marker = tmp_path / "code-ran"
    torch.save({**model.state_dict(), "payload": Hostile(marker)}, tmp_path / "bin" / formats.PYTORCH)
    with pytest.raises(formats.CheckpointError) as refused:
        from_pretrained(tmp_path / "bin")
    assert str(refused.value) == (f"{tmp_path / 'bin' / formats.PYTORCH}: refused: unpickling it would call io.open, "
                                  "which no weights file needs, so nothing in it was run; load only checkpoints you "
                                  "trust, saved as model.safetensors")
    assert not marker.exists()
    torch.load(tmp_path / "bin" / formats.PYTORCH, weights_only=False)  # what an unsafe loader would have done
    assert marker.exists()


def test_bfloat16_safetensors(tmp_path):
    model = _tiny_torch_bert(tmp_path).to(torch.bfloat16)
    model.save_pretrained(tmp_path / "bf16")
    tensors = formats.read_weights(tmp_path / "bf16")
    reference = {k: v.to(torch.float32).numpy() for k, v in model.state_dict().items() if v.is_floating_point()}
    assert all(tensors[k].dtype == np.float32 and np.array_equal(tensors[k], reference[k]) for k in reference)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_broken_safetensors_is_named(tmp_path, damage):
    model = build_model(BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                   intermediate_size=37, max_position_embeddings=64), "encoder")
    from safetensors.numpy import save_file

    path = tmp_path / formats.SAFETENSORS
    save_file(export_weights(model), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\xff" * 64 + data[64:])
    with pytest.raises(formats.CheckpointError, match=f"{path}: not a readable safetensors file"):
        formats.read_weights(tmp_path)


def test_directory_without_weights(tmp_path):
    with pytest.raises(formats.CheckpointError, match="no weights found; expected one of model.safetensors"):
        formats.read_weights(tmp_path)
