"""tfft's own heads: attention pooling ignores padding, an MLP head computes what its layers say, and a model
with either head saves and loads (tfft gets the same logits back; transformers loads the encoder part)."""

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import max_abs_diff, padded_batch, tfft_call, torch_outputs
from tfft.checkpoints.io import from_pretrained, save_pretrained
from tfft.models import BertConfig, ConfigError, DistilBertConfig, HeadConfig, build_model

TINY = {
    "bert": BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                       max_position_embeddings=64, id2label=("a", "b", "c")),
    "distilbert": DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                   max_position_embeddings=64, id2label=("a", "b", "c")),
}


def test_attention_pool_ignores_padding():
    model = build_model(TINY["bert"], "sequence_classification", custom_head=HeadConfig("attention_pool"), seed=1)
    short = padded_batch(99, lengths=(5,), seed=2)
    longer = {k: np.pad(v, ((0, 0), (0, 7))) for k, v in short.items()}  # more padding, ids 0 there
    longer["input_ids"][0, 5:] = 42  # whatever sits in padded positions must not matter
    np.testing.assert_allclose(tfft_call(model, short), tfft_call(model, longer), atol=1e-5)


def test_mlp_head_against_numpy():
    model = build_model(TINY["distilbert"], "sequence_classification", custom_head=HeadConfig("mlp", hidden=16),
                        seed=3)
    batch = padded_batch(99, lengths=(7, 4), seed=4)
    cls = tfft_call(model.encoder, batch).last_hidden_state.numpy()[:, 0]
    layer, out = model.head.layers[0], model.head.classifier.dense
    hidden = tf.nn.gelu(cls @ layer.kernel.numpy() + layer.bias.numpy(), approximate=False).numpy()
    np.testing.assert_allclose(tfft_call(model, batch), hidden @ out.kernel.numpy() + out.bias.numpy(), atol=1e-5)


@pytest.mark.parametrize("family", ["bert", "distilbert"])
@pytest.mark.parametrize("kind", ["mlp", "attention_pool"])
def test_save_and_load_round_trip(tmp_path, family, kind):
    transformers = pytest.importorskip("transformers")
    model = build_model(TINY[family], "sequence_classification", custom_head=HeadConfig(kind, layers=2), seed=5)
    rng = np.random.default_rng(5)
    for variable in model.trainable_variables:
        variable.assign(variable + rng.normal(0, 0.05, variable.shape).astype(np.float32))
    save_pretrained(model, tmp_path)
    reloaded = from_pretrained(tmp_path)
    batch = padded_batch(99, lengths=(9, 3), seed=6)
    assert reloaded.head_config == model.head_config
    np.testing.assert_array_equal(tfft_call(reloaded, batch), tfft_call(model, batch))
    encoder = transformers.AutoModel.from_pretrained(tmp_path).eval()
    assert max_abs_diff(torch_outputs(encoder, batch).last_hidden_state.numpy(),
                        tfft_call(model.encoder, batch).last_hidden_state, batch["attention_mask"]) < 1e-5


def test_custom_heads_are_for_sequence_classification():
    with pytest.raises(ConfigError, match="--head=mlp is a sequence-classification head"):
        build_model(TINY["bert"], "token_classification", custom_head=HeadConfig("mlp"))
    with pytest.raises(ConfigError, match="--head='lstm'"):
        HeadConfig("lstm")
