"""Masked-LM (--task=mlm) against transformers' PyTorch masked-LM models, and the continued-pretraining run.

The reference for the numbers is transformers' own DistilBertForMaskedLM / BertForMaskedLM (PyTorch, tiny
configs, every tensor randomised), given the same masked input and labels [B, L] that are -100 except at the
masked positions: its `.loss` is the mean cross-entropy over those positions, which tfft's gathered [B, K]
path (forward with `mlm_positions`, model_loss) must reproduce. The run tests check what a user relies on:
best/ of an MLM run loads in transformers with the same logits, fine-tuning starts from its encoder, and a few
updates on a small repeated corpus lower the validation perplexity. fp32; tolerance 1e-4.
"""

import json
import logging

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file

from conftest import max_abs_diff, padded_batch, randomize_torch, tiny_run_config
from tfft.checkpoints.io import export_weights, from_pretrained, save_pretrained
from tfft.config import RunConfig
from tfft.data import DataConfig
from tfft.data.masking import Masking, mask_batch
from tfft.runs import read_metrics_log, start_run
from tfft.tokenization import IGNORE_INDEX, NO_WORD
from tfft.training import loop
from tfft.training.losses import model_loss
from tfft.training.steps import forward, predict

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TOLERANCE = 1e-4
VOCAB = 1000  # small, so that the vocabulary head is cheap
CLS, SEP, MASK = 1, 2, 3  # ids the batch below uses for [CLS], [SEP] and [MASK] (any ids inside VOCAB do)
MAX_LENGTH = 32

def _torch_mlm(layout: str, tied: bool, seed: int):
    if layout == "distilbert":
        config = transformers.DistilBertConfig(vocab_size=VOCAB, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                               max_position_embeddings=64, tie_word_embeddings=tied)
        model = transformers.DistilBertForMaskedLM(config)
    else:
        config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=37, max_position_embeddings=64, tie_word_embeddings=tied)
        model = transformers.BertForMaskedLM(config)
    model.eval()
    randomize_torch(model, seed)
    return model


def _masked_batch(layout: str, whole_word: bool, seed: int):
    """A padded batch shaped like real MLM sequences ([CLS] words [SEP], words of one to three pieces), masked by
    mask_batch: (tfft batch with mlm_positions, labels [B, K]; torch inputs with labels [B, L])."""
    rng = np.random.default_rng(seed)
    batch = padded_batch(VOCAB, lengths=(24, 17, 6), seed=seed, segments=layout == "bert")
    ids = batch["input_ids"]  # words are ids >= 5: never one of the special ids below
    word_ids = np.full_like(ids, NO_WORD)
    for row, n in enumerate(batch["attention_mask"].sum(axis=1)):
        ids[row, 0], ids[row, n - 1] = CLS, SEP
        pieces = np.repeat(np.arange(n), rng.integers(1, 4, size=n))[:n - 2]  # word index of each piece
        word_ids[row, 1:n - 1] = pieces
    masking = Masking(probability=0.3, whole_word=whole_word, mask_token_id=MASK, vocab_size=VOCAB)
    masked, labels, positions = mask_batch(ids, word_ids, masking, np.random.default_rng(100 + seed))

    valid = labels != IGNORE_INDEX  # [B, K]
    rows = np.nonzero(valid)[0]
    assert valid.any(axis=1).all() and (~valid).any(), "every row predicts something and some slots are unused"
    np.testing.assert_array_equal(labels[valid], ids[rows, positions[valid]])  # labels are the original tokens
    assert (masked[rows, positions[valid]] == MASK).any()
    unmasked = np.ones_like(ids, bool)
    unmasked[rows, positions[valid]] = False
    np.testing.assert_array_equal(masked[unmasked], ids[unmasked])  # nothing else changed
    labels_full = np.full_like(ids, IGNORE_INDEX)
    labels_full[rows, positions[valid]] = labels[valid]  # [B, L]: -100 except at the chosen positions

    types = batch.get("token_type_ids", np.zeros_like(ids))
    ours = {"input_ids": tf.constant(masked, tf.int32), "attention_mask": tf.constant(batch["attention_mask"]),
            "token_type_ids": tf.constant(types, tf.int32), "mlm_positions": tf.constant(positions),
            "labels": tf.constant(labels)}
    theirs = {"input_ids": masked, "attention_mask": batch["attention_mask"], "labels": labels_full}
    if layout == "bert":
        theirs["token_type_ids"] = types
    theirs = {k: torch.from_numpy(v.astype(np.int64)) for k, v in theirs.items()}
    return ours, theirs, positions, valid


@pytest.mark.parametrize("whole_word", [False, True], ids=["tokens", "whole_words"])
@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
@pytest.mark.parametrize("layout", ["distilbert", "bert"])
def test_masked_lm_loss_and_logits_match_transformers(tmp_path, layout, tied, whole_word):
    seed = 2 * int(tied) + int(whole_word)
    torch_model = _torch_mlm(layout, tied, seed)
    torch_model.save_pretrained(tmp_path)
    ours = from_pretrained(tmp_path, head="masked_lm")
    assert type(ours).__name__ == type(torch_model).__name__
    batch, torch_inputs, positions, valid = _masked_batch(layout, whole_word, seed)
    with torch.no_grad():
        reference = torch_model(**torch_inputs)
    rows = np.nonzero(valid)[0]
    reference_at_masks = reference.logits.numpy()[rows, positions[valid]]  # [masked tokens, V]

    gathered = forward(ours, batch, training=False)  # [B, K, V]
    assert gathered.shape == (*positions.shape, VOCAB)
    loss_sum, weight = model_loss(ours, gathered, batch["labels"])
    assert float(weight) == valid.sum()
    assert abs(float(loss_sum) / float(weight) - reference.loss.item()) < TOLERANCE

    full = ours(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], training=False).numpy()
    assert max_abs_diff(full[rows, positions[valid]], reference_at_masks) < TOLERANCE
    assert max_abs_diff(gathered.numpy()[valid], full[rows, positions[valid]]) < 1e-5

    predicted_loss, predicted_weight, predicted = predict(ours, batch)
    assert abs(float(predicted_loss) - float(loss_sum)) < 1e-3 and float(predicted_weight) == valid.sum()
    np.testing.assert_array_equal(predicted.numpy()[valid], reference_at_masks.argmax(axis=-1))

    # and back: what tfft saves loads in transformers with every tensor it uses (an untied BERT decoder adds its
    # own cls.predictions.decoder.bias in transformers 5) and the same logits
    bias = ours.vocab_projector.bias if layout == "distilbert" else ours.decoder.bias
    bias.assign_add(np.linspace(-1, 1, VOCAB, dtype=np.float32))  # a bias that matters
    save_pretrained(ours, tmp_path / "saved")
    reloaded, info = type(torch_model).from_pretrained(tmp_path / "saved", output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"], info
    assert all(".pooler." in key for key in info["unexpected_keys"]), info  # BertForMaskedLM carries the pooler
    with torch.no_grad():
        logits = reloaded.eval()(**{k: v for k, v in torch_inputs.items() if k != "labels"}).logits.numpy()
    full = ours(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], training=False).numpy()
    assert max_abs_diff(full, logits) < TOLERANCE


# ---------------------------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def mlm_run(tmp_path_factory, tiny_model):
    """Four MLM updates of the tiny BERT (no MLM head to start from) on the embedded sample corpus."""
    run = tiny_run_config(tiny_model, "mlm", max_steps=4, eval_every=2, max_seq_length=MAX_LENGTH)
    out = tmp_path_factory.mktemp("mlm-run")
    start_run(run, out)
    loop.train_and_evaluate(run, out)
    return out


@pytest.mark.slow
def test_adapted_checkpoint_loads_in_transformers_with_the_same_logits(mlm_run, tiny_model):
    best = mlm_run / "best"
    hf_model, info = transformers.AutoModelForMaskedLM.from_pretrained(best, output_loading_info=True)
    hf_model.eval()
    assert type(hf_model).__name__ == "BertForMaskedLM"
    assert not info["missing_keys"] and not info["mismatched_keys"], info
    assert sorted(info["unexpected_keys"]) == ["bert.pooler.dense.bias", "bert.pooler.dense.weight"], info
    ours = from_pretrained(best)  # the head from config.json's architectures
    assert type(ours).__name__ == "BertForMaskedLM"
    batch = padded_batch(30522, lengths=(20, 13, 4), seed=3, segments=True)
    with torch.no_grad():
        reference = hf_model(**{k: torch.from_numpy(v.astype(np.int64)) for k, v in batch.items()}).logits.numpy()
    logits = ours(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], training=False)
    assert max_abs_diff(logits, reference, batch["attention_mask"]) < TOLERANCE

    # the run trained the encoder and the head: every tensor that enters the loss moved from the start
    start = export_weights(from_pretrained(tiny_model, head="encoder"))
    adapted = load_file(str(best / "model.safetensors"))
    encoder = {name: adapted["bert." + name] for name in start if not name.startswith("pooler.")}
    assert len(encoder) == len(start) - 2  # pooler.dense.weight/bias: carried untrained (next test)
    unchanged = [name for name in encoder if np.array_equal(start[name], encoder[name])]
    assert not unchanged, f"not trained: {unchanged}"
    assert np.abs(adapted["cls.predictions.bias"]).max() > 0  # the head's bias started at 0


@pytest.mark.slow
def test_fine_tuning_starts_from_the_adapted_encoder(mlm_run, tiny_model, tmp_path, monkeypatch, caplog):
    """A classification run with --model=RUN/best: its model at creation holds the adapted encoder exactly
    (read here straight from best/model.safetensors) and the starting checkpoint's pooler, carried through the
    masked-LM training unchanged; only the classifier is new."""
    created = {}
    make_model = loop.make_model

    def spy(*args, **kwargs):
        model = make_model(*args, **kwargs)
        created.update(export_weights(model))
        return model

    monkeypatch.setattr(loop, "make_model", spy)
    run = tiny_run_config(mlm_run / "best", "classification", max_steps=2, eval_every=2, max_seq_length=MAX_LENGTH)
    start_run(run, tmp_path)
    with caplog.at_level(logging.WARNING):
        result = loop.train_and_evaluate(run, tmp_path)
    assert "accuracy" in result and (tmp_path / "test_metrics.json").is_file()
    assert not [r.getMessage() for r in caplog.records if "ENCODER" in r.getMessage()]

    adapted = load_file(str(mlm_run / "best" / "model.safetensors"))
    assert sorted(name for name in created if name not in adapted) == ["classifier.bias", "classifier.weight"]
    for name in created:
        if name in adapted:
            np.testing.assert_array_equal(created[name], adapted[name], err_msg=name)
    original = load_file(str(tiny_model / "model.safetensors"))
    for name in ("bert.pooler.dense.weight", "bert.pooler.dense.bias"):  # carried, not trained
        np.testing.assert_array_equal(adapted[name], original[name.removeprefix("bert.")], err_msg=name)
    # and tfft's own loader agrees: the classifier model's encoder is the masked-LM model's encoder
    mlm = export_weights(from_pretrained(mlm_run / "best", head="masked_lm").encoder)
    classifier = export_weights(from_pretrained(mlm_run / "best", head="sequence_classification",
                                                num_labels=2).encoder)
    assert set(classifier) == set(mlm)
    for name in mlm:
        np.testing.assert_array_equal(classifier[name], mlm[name], err_msg=name)


SENTENCES = ("the cat sat on the mat .", "a dog ran in the park .", "birds sing early every morning .",
             "she reads a book by the window .", "rain fell on the quiet town .")


@pytest.mark.slow
def test_validation_perplexity_falls_on_a_small_repeated_corpus(tiny_model, tmp_path):
    """Two epochs of a 5-sentence corpus (repeated; the validation split is cut from the same file): the
    untrained head starts near uniform over 30522 tokens, and the tiny model learns the corpus's few tokens
    (constant lr 1e-2 suits a 32-wide model: 31149 -> 548 -> 25 here; at 1e-3 the fall is only about 2x in 30
    updates, because the head's bias over 30522 tokens starts at 0 and Adam moves it ~lr per update)."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 60) + "\n", encoding="utf-8")
    run = tiny_run_config(tiny_model, "mlm", max_steps=16, eval_every=8, max_seq_length=MAX_LENGTH, lr=1e-2,
                          schedule="constant", warmup_ratio=0.0)
    run = RunConfig(run.train, DataConfig(dataset=str(corpus)))
    out = tmp_path / "run"
    start_run(run, out)
    loop.train_and_evaluate(run, out)
    validation = {r["step"]: r for r in read_metrics_log(out) if r["split"] == "validation" and "perplexity" in r}
    assert sorted(validation) == [0, 8, 16]  # before training (mlm only), then every 8 updates (= one epoch)
    for record in validation.values():
        assert record["perplexity"] == pytest.approx(np.exp(record["loss"]), rel=1e-6)
        assert record["masked_tokens"] == validation[0]["masked_tokens"] > 0  # the same masks every time
    first, middle, last = (validation[step]["perplexity"] for step in (0, 8, 16))
    assert first > 10000, first  # an untrained head: close to uniform over the 30522 tokens
    assert first > middle > last and last < first / 100, (first, middle, last)
    best = json.loads((out / "best_metrics.json").read_text())
    assert best["step"] == 16 and best["perplexity"] == pytest.approx(last)


def test_encoder_without_masked_lm_head_warns_and_ties_the_decoder(minilm_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="tfft.checkpoints.io"):
        model = from_pretrained(minilm_dir, head="masked_lm")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("has no masked-LM head" in message and "cls.predictions" in message for message in warnings), warnings
    assert not any("ENCODER" in message for message in warnings)
    embeddings = load_file(str(minilm_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]
    decoder = model.decoder
    assert decoder.weight is None and decoder.embedding is model.encoder.embeddings.word  # tied, not a copy
    np.testing.assert_array_equal(decoder.embedding.table.numpy(), embeddings)
    np.testing.assert_array_equal(decoder.bias.numpy(), np.zeros(embeddings.shape[0], np.float32))
