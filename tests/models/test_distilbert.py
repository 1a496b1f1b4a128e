"""DistilBERT parity with transformers' PyTorch DistilBERT at distilbert-base-uncased dimensions.

distilbert-base-uncased weights are not available offline, so the reference is transformers' own PyTorch
model built from its config with random weights (every tensor, biases and LayerNorm included), saved
with save_pretrained and loaded by tfft. fp32, padded batch, padded positions excluded; tolerance 1e-4.
"""

import numpy as np
import pytest

from conftest import max_abs_diff, padded_batch, randomize_torch, tfft_call, torch_outputs

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

pytestmark = pytest.mark.slow  # three 67M-parameter models saved and loaded

from tfft.checkpoints.io import from_pretrained  # noqa: E402
from tfft.models.distilbert import sinusoidal_table  # noqa: E402

TOLERANCE = 1e-4
LABELS = {0: "negative", 1: "neutral", 2: "positive"}


def _base_config(**overrides):
    # distilbert-base-uncased's config.json: 6 x 768, 12 heads, 3072 FFN, 30522 vocab.
    fields = dict(vocab_size=30522, dim=768, n_layers=6, n_heads=12, hidden_dim=3072, max_position_embeddings=512,
                  id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    return transformers.DistilBertConfig(**{**fields, **overrides})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One randomised PyTorch model per head, saved with save_pretrained."""
    out = {}
    for seed, cls in enumerate([transformers.DistilBertForMaskedLM, transformers.DistilBertForSequenceClassification,
                                transformers.DistilBertForTokenClassification]):
        model = cls(_base_config()).eval()
        randomize_torch(model, seed)
        path = tmp_path_factory.mktemp(cls.__name__)
        model.save_pretrained(path)
        out[cls.__name__] = (model, path)
    return out


def test_encoder_hidden_states_and_mlm_logits(saved):
    torch_model, path = saved["DistilBertForMaskedLM"]
    batch = padded_batch(30522)
    reference = torch_outputs(torch_model, batch)
    ours = from_pretrained(path, head="masked_lm")
    assert type(ours).__name__ == "DistilBertForMaskedLM"
    mask = batch["attention_mask"]

    encoded = tfft_call(ours.encoder, batch, output_hidden_states=True)
    assert len(encoded.hidden_states) == len(reference.hidden_states) == 7
    for layer, (a, b) in enumerate(zip(encoded.hidden_states, reference.hidden_states)):
        assert max_abs_diff(a, b.numpy(), mask) < TOLERANCE, f"hidden state {layer}"
    assert max_abs_diff(tfft_call(ours, batch), reference.logits.numpy(), mask) < TOLERANCE


@pytest.mark.parametrize("name", ["DistilBertForSequenceClassification", "DistilBertForTokenClassification"])
def test_classification_logits(saved, name):
    torch_model, path = saved[name]
    batch = padded_batch(30522, seed=1)
    ours = from_pretrained(path)  # the head comes from config.json's `architectures`
    assert type(ours).__name__ == name
    assert ours.config.id2label == ("negative", "neutral", "positive")
    mask = batch["attention_mask"] if "Token" in name else None
    assert max_abs_diff(tfft_call(ours, batch), torch_outputs(torch_model, batch).logits.numpy(), mask) < TOLERANCE


def test_sinusoidal_positions_match_transformers(tmp_path):
    model = transformers.DistilBertModel(_base_config(sinusoidal_pos_embds=True, n_layers=1)).eval()
    expected = model.embeddings.position_embeddings.weight.detach().numpy()
    np.testing.assert_allclose(sinusoidal_table(512, 768), expected, atol=1e-6)
    model.save_pretrained(tmp_path)
    ours = from_pretrained(tmp_path)
    assert not ours.embeddings.position.table.trainable
    batch = padded_batch(30522, seed=2)
    assert max_abs_diff(tfft_call(ours, batch).last_hidden_state, torch_outputs(model, batch).last_hidden_state,
                        batch["attention_mask"]) < TOLERANCE
