"""The frozen-encoder feature cache: training a head on cached features gives the weights that training through the
frozen encoder gives; a second run (another head setting) reuses the cache; a cache of another model or other data,
or a directory that is no cache, is refused with an error naming it; a damaged file is never read as features."""

import dataclasses
import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from conftest import tiny_run_config
from tfft.runs import start_run
from tfft.training import feature_cache
from tfft.training.feature_cache import FeatureCacheError
from tfft.training.loop import train_and_evaluate


def train(tiny_model, out, task="classification", **options):
    run = tiny_run_config(tiny_model, task, freeze="all", select="last", evaluate_test=False, max_steps=4,
                          eval_every=None, cache_dir=str(out.parent / "tokens"), **options)
    start_run(run, out, overwrite=True)
    train_and_evaluate(run, out)
    return out


def final_weights(run_dir) -> dict[str, np.ndarray]:
    best = run_dir / "best"
    head = best / "tfft_head.safetensors"
    return load_file(str(head)) if head.is_file() else load_file(str(best / "model.safetensors"))


@pytest.mark.slow
@pytest.mark.parametrize("task,head", [("classification", "lstm"), ("classification", "hf"), ("ner", "crf"),
                                       ("classification", "mlp")])
def test_cached_features_train_the_same_head(tmp_path, tiny_model, task, head):
    options = dict(head=head, head_dropout=0.0) if head != "hf" else {}
    uncached = train(tiny_model, tmp_path / "uncached", task, feature_cache="off", **options)
    cached = train(tiny_model, tmp_path / "cached", task, feature_cache=str(tmp_path / "features"),
                   feature_dtype="fp32", **options)
    meta = json.loads((tmp_path / "features" / "meta.json").read_text())
    assert meta["features"] == ("pooled" if head in ("hf", "mlp") else "tokens") and meta["dtype"] == "float32"
    ours, reference = final_weights(cached), final_weights(uncached)
    assert ours.keys() == reference.keys()
    for name in reference:
        np.testing.assert_allclose(ours[name], reference[name], atol=1e-5, err_msg=name)
    norms = [json.loads(line).get("gradient_norm") for line in (cached / "metrics.jsonl").read_text().splitlines()]
    assert all(norm > 0 for norm in norms if norm is not None) and any(norms)  # the head did train
    assert json.loads((cached / "timing.json").read_text())["seconds"]["features"] > 0


@pytest.mark.slow
def test_a_second_run_reuses_the_automatic_cache(tmp_path, tiny_model, monkeypatch, caplog):
    monkeypatch.setattr(feature_cache, "DEFAULT_ROOT", tmp_path / "auto")
    train(tiny_model, tmp_path / "first", head="gru", head_hidden=8)
    (cache,) = (tmp_path / "auto").iterdir()
    stamps = {path.name: path.stat().st_mtime_ns for path in cache.iterdir()}
    assert set(stamps) == {"meta.json", "train.npy"}  # evaluations run the whole model
    with caplog.at_level("INFO"):
        train(tiny_model, tmp_path / "second", head="gru", head_hidden=16, lr=3e-3)  # a sweep's next setting
    assert "encoder features of train loaded from" in caplog.text
    assert {path.name: path.stat().st_mtime_ns for path in cache.iterdir()} == stamps
    assert np.load(cache / "train.npy").dtype == np.float16
    train(tiny_model, tmp_path / "third", head="gru", max_seq_length=32)  # another max length: another cache
    assert len(list((tmp_path / "auto").iterdir())) == 2


@pytest.mark.slow
def test_a_cache_of_another_model_or_other_data_is_refused(tmp_path, tiny_model):
    directory = tmp_path / "features"
    train(tiny_model, tmp_path / "first", head="lstm", feature_cache=str(directory), init="random", seed=1)
    with pytest.raises(FeatureCacheError, match=f"--feature_cache={directory}: it holds features of another model"):
        train(tiny_model, tmp_path / "second", head="lstm", feature_cache=str(directory), init="random", seed=2)
    with pytest.raises(FeatureCacheError, match="it holds features of other data .split train"):
        run = tiny_run_config(tiny_model, "classification", freeze="all", head="lstm", feature_cache=str(directory),
                              init="random", seed=1, max_steps=2)
        run = dataclasses.replace(run, data=dataclasses.replace(run.data, max_train_examples=100))
        start_run(run, tmp_path / "third", overwrite=True)
        train_and_evaluate(run, tmp_path / "third")
    with pytest.raises(FeatureCacheError, match="its kind of features is tokens, this run's pooled"):
        train(tiny_model, tmp_path / "fourth", head="mlp", feature_cache=str(directory), init="random", seed=1)


@pytest.mark.slow
def test_a_directory_that_is_no_cache_or_is_damaged_is_refused(tmp_path, tiny_model):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("mine")
    with pytest.raises(FeatureCacheError, match="the directory is not empty and has no meta.json"):
        train(tiny_model, tmp_path / "first", head="attention", feature_cache=str(other))
    directory = tmp_path / "features"
    train(tiny_model, tmp_path / "second", head="attention", feature_cache=str(directory))
    (directory / "train.npy").write_bytes((directory / "train.npy").read_bytes()[:200])
    with pytest.raises(FeatureCacheError, match="train.npy cannot be read"):
        train(tiny_model, tmp_path / "third", head="attention", feature_cache=str(directory))
