"""tfft: fine-tune DistilBERT-family encoders in plain TensorFlow 2 (tf.Module, GradientTape, tf.data; no Keras).

    import tfft
    model = tfft.from_pretrained("all-MiniLM-L6-v2", head="sequence_classification", labels=["neg", "pos"])
    tokenizer = tfft.load_tokenizer("all-MiniLM-L6-v2")
"""

from tfft.checkpoints.formats import CheckpointError
from tfft.checkpoints.hub import ModelNotFoundError, resolve
from tfft.checkpoints.io import from_pretrained, load_weights, save_pretrained
from tfft.models import HEADS, BertConfig, ConfigError, DistilBertConfig, EncoderOutput, build_model, read_config
from tfft.tokenization import encode_texts, encode_words, load_tokenizer, pad_batch, word_predictions

__all__ = ["HEADS", "BertConfig", "CheckpointError", "ConfigError", "DistilBertConfig", "EncoderOutput",
           "ModelNotFoundError", "build_model", "encode_texts", "encode_words", "from_pretrained", "load_tokenizer",
           "load_weights", "pad_batch", "read_config", "resolve", "save_pretrained", "word_predictions"]
