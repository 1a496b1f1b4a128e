"""Readers for the weight files a Hugging Face model directory can hold, all into {PyTorch name: numpy array}.

Order of preference (as transformers): model.safetensors, its sharded index, pytorch_model.bin (and its
sharded index), then the legacy TensorFlow tf_model.h5 written by transformers <= 4.x.
"""

import json
import pathlib
import re

import numpy as np

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PYTORCH = "pytorch_model.bin"
PYTORCH_INDEX = "pytorch_model.bin.index.json"
TF_H5 = "tf_model.h5"
WEIGHT_FILES = (SAFETENSORS, SAFETENSORS_INDEX, PYTORCH, PYTORCH_INDEX, TF_H5)


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message names the file or tensor and what was expected."""


def read_weights(model_dir: pathlib.Path) -> dict[str, np.ndarray]:
    """Every tensor of the first weight file found in `model_dir`, by its PyTorch state-dict name."""
    for name in WEIGHT_FILES:
        path = model_dir / name
        if path.is_file():
            return _READERS[name](path)
    raise CheckpointError(f"{model_dir}: no weights found; expected one of {', '.join(WEIGHT_FILES)}")


def read_safetensors(path: pathlib.Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError, safe_open

    tensors = {}
    try:
        with safe_open(str(path), framework="np") as f:
            for key in f.keys():
                if f.get_slice(key).get_dtype() == "BF16":  # numpy has no bfloat16: read through TensorFlow
                    with safe_open(str(path), framework="tf") as tf_file:
                        tensors[key] = tf_file.get_tensor(key).numpy().astype(np.float32)
                else:
                    tensors[key] = f.get_tensor(key)
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err}); re-download or re-save it") from err
    return tensors


def _read_index(path: pathlib.Path, reader) -> dict[str, np.ndarray]:
    """A sharded checkpoint: the index maps every tensor name to the shard file that holds it."""
    try:
        weight_map = json.loads(path.read_text(encoding="utf-8"))["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: not a valid shard index (expected a JSON object with 'weight_map')") from err
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        shard_path = path.parent / shard
        if not shard_path.is_file():
            raise CheckpointError(f"{path}: names shard {shard}, which is missing from {path.parent}")
        tensors.update(reader(shard_path))
    missing = sorted(set(weight_map) - set(tensors))
    if missing:
        raise CheckpointError(f"{path}: tensors listed in the index are absent from their shards: {missing[:5]}")
    return tensors


def read_pytorch_bin(path: pathlib.Path) -> dict[str, np.ndarray]:
    """Pickled PyTorch weights, read only with torch.load(weights_only=True): no arbitrary code runs."""
    try:
        import torch
    except ImportError as err:
        raise CheckpointError(
            f"{path}: reading pytorch_model.bin needs PyTorch, which tfft does not install; convert it once to "
            "model.safetensors (transformers: model.save_pretrained(dir, safe_serialization=True)) or "
            "pip install torch==2.13.0") from err
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad pickle; all mean the same to the user
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if refused:
            raise CheckpointError(f"{path}: refused: unpickling it would call {refused[1]}, which no weights file "
                                  "needs, so nothing in it was run; load only checkpoints you trust, saved as "
                                  "model.safetensors") from err
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise CheckpointError(f"{path}: not a loadable PyTorch state dict ({type(err).__name__}: {first_line})") \
            from err
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    return {key: value.detach().to(torch.float32).numpy() if value.is_floating_point() else value.numpy()
            for key, value in state.items()}


def tf_name_to_pytorch(weight_name: str) -> tuple[str, bool]:
    """A transformers-TF weight name -> (PyTorch name, whether the array must be transposed).

    'tf_bert_for_masked_lm/mlm___cls/predictions/transform/dense/kernel:0' ->
    ('cls.predictions.transform.dense.weight', True): the first level is the Keras model's name; 'a___b'
    means 'b'; '_._' separates list items; kernel/embeddings/gamma -> weight, beta -> bias. This is the
    rule transformers used (modeling_tf_pytorch_utils.convert_tf_weight_name_to_pt_weight_name).
    """
    name = weight_name.replace(":0", "")
    name = re.sub(r"/[^/]*___([^/]*)/", r"/\1/", name)
    name = name.replace("_._", "/")
    parts = [part for part in name.split("/") if part]
    if len(parts) > 1:
        parts = parts[1:]
    transpose = parts[-1] == "kernel"
    renamed = {"kernel": "weight", "embeddings": "weight", "gamma": "weight", "beta": "bias"}
    parts[-1] = renamed.get(parts[-1], parts[-1])
    return ".".join(parts), transpose


def read_tf_h5(path: pathlib.Path) -> dict[str, np.ndarray]:
    """Keras-2 `save_weights` HDF5 written by transformers' TF models (groups listed in `layer_names`)."""
    import h5py

    tensors = {}
    try:
        with h5py.File(path, "r") as f:
            for layer in f.attrs["layer_names"]:
                group = f[layer]
                for weight_name in group.attrs["weight_names"]:
                    weight_name = weight_name.decode() if isinstance(weight_name, bytes) else weight_name
                    name, transpose = tf_name_to_pytorch(weight_name)
                    array = np.asarray(group[weight_name])
                    tensors[name] = array.T if transpose else array
    except (OSError, KeyError) as err:
        raise CheckpointError(f"{path}: not a transformers TF weight file ({err})") from err
    return tensors


_READERS = {
    SAFETENSORS: read_safetensors,
    SAFETENSORS_INDEX: lambda path: _read_index(path, read_safetensors),
    PYTORCH: read_pytorch_bin,
    PYTORCH_INDEX: lambda path: _read_index(path, read_pytorch_bin),
    TF_H5: read_tf_h5,
}
