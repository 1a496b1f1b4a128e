"""BERT-layout parity with transformers' PyTorch BERT, on the real packaged all-MiniLM-L6-v2 weights.

The encoder is compared on the checkpoint as shipped (a bare BertModel with its pooler). The heads are
added on the PyTorch side (BertFor*.from_pretrained(minilm)), randomised, saved, and loaded by tfft.
fp32, padded batch with two segments, padded positions excluded; tolerance 1e-4.
"""

import pytest

from conftest import max_abs_diff, padded_batch, randomize_torch, tfft_call, torch_outputs

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tfft.checkpoints.io import from_pretrained  # noqa: E402

TOLERANCE = 1e-4


def test_encoder_matches_transformers_on_real_weights(minilm_dir):
    reference_model = transformers.BertModel.from_pretrained(minilm_dir).eval()
    batch = padded_batch(30522, segments=True)
    reference = torch_outputs(reference_model, batch)
    ours = from_pretrained(minilm_dir)
    assert type(ours).__name__ == "BertModel"
    out = tfft_call(ours, batch, output_hidden_states=True)
    mask = batch["attention_mask"]
    for layer, (a, b) in enumerate(zip(out.hidden_states, reference.hidden_states, strict=True)):
        assert max_abs_diff(a, b.numpy(), mask) < TOLERANCE, f"hidden state {layer}"
    assert max_abs_diff(out.pooled, reference.pooler_output.numpy()) < TOLERANCE


def test_packaged_names_resolve_to_the_same_model(minilm_dir):
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        assert from_pretrained(name).source_dir == minilm_dir


@pytest.mark.parametrize("cls_name,labels", [
    ("BertForSequenceClassification", 4),
    ("BertForTokenClassification", 9),
    ("BertForMaskedLM", None),
])
def test_heads_match_transformers(minilm_dir, tmp_path, cls_name, labels):
    kwargs = {"num_labels": labels} if labels else {}
    reference_model = getattr(transformers, cls_name).from_pretrained(minilm_dir, **kwargs).eval()
    randomize_torch(reference_model, seed=3)
    reference_model.save_pretrained(tmp_path)
    batch = padded_batch(30522, seed=4, segments=True)
    ours = from_pretrained(tmp_path)
    assert type(ours).__name__ == cls_name
    mask = None if cls_name == "BertForSequenceClassification" else batch["attention_mask"]
    assert max_abs_diff(tfft_call(ours, batch), torch_outputs(reference_model, batch).logits.numpy(),
                        mask) < TOLERANCE
