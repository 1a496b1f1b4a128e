"""Every tfft head through save, reload, predict and export: the SavedModel (in-graph tokenizer, a CRF's Viterbi
decoding in the graph) gives what the Python path gives from the saved best/ directory, and empty outputs for an
empty batch."""

import numpy as np
import pytest
import tensorflow_text  # noqa: F401  registers the WordPiece op the export's tokenizer needs

from conftest import TINY_LABELS, TINY_MAX_LENGTH
from test_module import assert_empty_batch_gives_empty_outputs
from tfft.checkpoints.io import from_pretrained, save_pretrained
from tfft.models import HeadConfig, head_task
from tfft.serving.module import export_saved_model
from tfft.serving.predictors import ModelPredictor, SavedModelPredictor
from tfft.tokenization import load_tokenizer

TEXTS = ["The film was a delight from start to finish .", "Angela Merkel met Emmanuel Macron in Paris .", "",
         "naïve café owners in Zürich and São Paulo", "word " * 40]
HEADS = [HeadConfig("mlp", pooling="mean"), HeadConfig("attention"), HeadConfig("mha"), HeadConfig("rnn"),
         HeadConfig("gru", bidirectional=True), HeadConfig("lstm", pooling="max"), HeadConfig("crf"),
         HeadConfig("lstm_crf", bidirectional=True, hidden=16)]


@pytest.mark.slow
@pytest.mark.parametrize("head", HEADS, ids=lambda head: head.kind)
def test_saved_head_predicts_the_same_after_reload_and_export(tmp_path, tiny_model, head):
    task = "ner" if head_task(head.kind) == "token_classification" else "classification"
    model = from_pretrained(tiny_model, head_task(head.kind), labels=TINY_LABELS[task], custom_head=head, seed=3)
    rng = np.random.default_rng(4)
    for variable in model.head.trainable_variables:  # a trained-looking head, far from ties
        variable.assign(variable * 20 + rng.normal(0, 0.5, variable.shape).astype(np.float32))
    tokenizer = load_tokenizer(tiny_model)
    save_pretrained(model, tmp_path / "best", tokenizer=tokenizer)
    export_saved_model(from_pretrained(tmp_path / "best"), tokenizer, task=task, labels=TINY_LABELS[task],
                       max_length=TINY_MAX_LENGTH, export_dir=tmp_path / "export")
    python = ModelPredictor(tmp_path / "best", task=task, max_length=TINY_MAX_LENGTH).predict(TEXTS)
    predictor = SavedModelPredictor(tmp_path / "export")
    served = predictor.predict(TEXTS)
    assert_empty_batch_gives_empty_outputs({"serving_default": predictor.serve}, task, len(TINY_LABELS[task]))
    for ours, reference in zip(served, python):
        if task == "ner":
            assert ours["words"] == reference["words"]
            assert [e["type"] for e in ours["entities"]] == [e["type"] for e in reference["entities"]]
            np.testing.assert_allclose([e["score"] for e in ours["entities"]],
                                       [e["score"] for e in reference["entities"]], atol=1e-5)
        else:
            assert ours["label"] == reference["label"]
            np.testing.assert_allclose(list(ours["probabilities"].values()),
                                       list(reference["probabilities"].values()), atol=1e-5)
    if task == "ner":
        assert any(e for record in python for e in record["entities"])  # something was tagged
