"""tfft: fine-tune DistilBERT-family encoders in plain TensorFlow 2 (tf.Module, GradientTape, tf.data; no Keras).

    import tfft
    model = tfft.from_pretrained("all-MiniLM-L6-v2", head="sequence_classification", labels=["neg", "pos"])
    tokenizer = tfft.load_tokenizer("all-MiniLM-L6-v2")

The names below load on first use (PEP 562), so `import tfft` does not import TensorFlow yet: the entry points
(`python -m tfft.<command>`) set TensorFlow's logging up before it loads (tfft/cli.py).
"""

import importlib

_EXPORTS = {
    "tfft.checkpoints.formats": ("CheckpointError",),
    "tfft.checkpoints.hub": ("ModelNotFoundError", "resolve"),
    "tfft.checkpoints.io": ("from_pretrained", "load_weights", "save_pretrained"),
    "tfft.models": ("HEADS", "BertConfig", "ConfigError", "DistilBertConfig", "EncoderOutput", "build_model",
                    "read_config"),
    "tfft.tokenization": ("encode_texts", "encode_words", "load_tokenizer", "pad_batch", "word_predictions"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'tfft' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
