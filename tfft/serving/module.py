"""The SavedModel: a plain `tf.Module` that serves raw text (tokenization in the graph) and token ids.

Signatures (`saved_model_cli show --all --dir DIR` lists them; README 'Serving' documents them):
- `serving_default`: `text` tf.string [B] (and `text_pair` for the pair task) ->
  classification and pair: `probabilities` float32 [B, C], `label_id` int32 [B], `label` tf.string [B];
  NER: per word `word_start`, `word_end` (character offsets into `text`, int32), `word_tag` (tf.string),
  `word_score` (float32), and per entity `entity_start`, `entity_end`, `entity_type`, `entity_score`, all
  [B, N] padded (-1, "", 0.0) with `word_count` / `entity_count` [B] int32 giving each row's N;
  every task: `truncated` bool [B] (the text had more tokens than max_length; words past it are not tagged).
- `predict_ids`: `input_ids`, `attention_mask` (and `token_type_ids` for BERT-layout models) int32 [B, L] ->
  `logits` float32 ([B, C], or [B, L, C] for NER); `predict_ids_int64` takes int64 ids.
Every signature answers an empty batch (B = 0) with empty outputs of the shapes above.

String handling stays outside any XLA-compiled function (XLA takes no DT_STRING input: tensorflow/models#10834).
"""

from __future__ import annotations

import json
import pathlib
import tempfile
from collections.abc import Sequence

import tensorflow as tf

from tfft import files
from tfft.checkpoints.io import from_pretrained
from tfft.config import RunConfig
from tfft.models.config import ConfigError
from tfft.models.heads import output_probabilities
from tfft.runs import best_model_dir, check_labelled, claim_dir, read_run
from tfft.serving import ServingError
from tfft.serving.text import TextEncoder, TextEncoderConfig, read_char_table
from tfft.tasks import TASKS
from tfft.tasks.ner import check_tag, entity_types
from tfft.tokenization import NO_WORD, first_tokens, load_tokenizer

ASSETS = ("config.json", "label_map.json", "vocab.txt", "tokenizer.json", "run_config.json")
"""Files copied into the export's assets/ directory, for clients and for `tfft.predict`."""
# What tf.saved_model.save writes: an export directory holding anything else holds files of the user's.
EXPORT_ENTRIES = frozenset({"saved_model.pb", "fingerprint.pb", "variables", "assets"})


class ServingModule(tf.Module):
    """A fine-tuned model with its tokenizer, as TensorFlow functions of raw text or ids."""

    def __init__(self, model: tf.Module, encoder: TextEncoder, *, task: str, labels: Sequence[str],
                 assets: Sequence[tf.saved_model.Asset] = ()):
        super().__init__(name="tfft_serving")
        self.model = model
        self.encoder = encoder
        self.task = TASKS[task]
        self.labels = tf.constant(list(labels))
        self.assets = list(assets)
        self.uses_token_types = model.config.model_type == "bert"
        if self.task.head == "token_classification":
            problems = [problem for problem in map(check_tag, labels) if problem]
            if problems:
                raise ServingError(f"NER labels must be BIO tags: {problems[0]}")
            types = entity_types(labels)
            self.entity_types = tf.constant(types or [""])
            self.tag_type = tf.constant([-1 if tag == "O" else types.index(tag[2:]) for tag in labels], tf.int32)
            self.tag_begins = tf.constant([tag.startswith("B-") for tag in labels])

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """The serving functions, traced once each, by signature name."""
        text = tf.TensorSpec([None], tf.string, name="text")
        # No autograph: the graphs have no data-dependent Python control flow, and tracing is 5x faster.
        if self.task.head == "token_classification":
            serve = tf.function(self.tag, autograph=False).get_concrete_function(text)
        elif self.task.pair:
            pair = tf.TensorSpec([None], tf.string, name="text_pair")
            serve = tf.function(self.classify, autograph=False).get_concrete_function(text, pair)
        else:
            serve = tf.function(lambda text: self.classify(text), autograph=False).get_concrete_function(text)
        signatures = {"serving_default": serve}
        predict_ids = tf.function(self.logits, autograph=False)
        for name, dtype in (("predict_ids", tf.int32), ("predict_ids_int64", tf.int64)):
            specs = {key: tf.TensorSpec([None, None], dtype, name=key) for key in self._id_inputs()}
            signatures[name] = predict_ids.get_concrete_function(**specs)
        return signatures

    def logits(self, input_ids, attention_mask, token_type_ids=None) -> dict[str, tf.Tensor]:
        """The model on token ids of either integer type."""
        inputs = [tf.cast(t, tf.int32) for t in (input_ids, attention_mask)]
        if token_type_ids is not None:
            inputs.append(tf.cast(token_type_ids, tf.int32))
        return {"logits": self.model(*inputs, training=False)}

    def classify(self, text: tf.Tensor, text_pair: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        inputs = self._encode(text, text_pair)
        probabilities = tf.nn.softmax(self._logits(inputs), axis=-1)  # [B, C]
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)  # [B]
        return {"probabilities": probabilities, "label_id": label_id, "label": tf.gather(self.labels, label_id),
                "truncated": inputs["truncated"]}

    def tag(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        """Per-word tags read at each word's first token, and the entities they spell (seqeval's reading). With a CRF
        head the tags are the Viterbi path, decoded in the graph, and a word's score is its tag's marginal."""
        inputs = self._encode(text)
        first = first_tokens(inputs["word_ids"])  # [B, L] the first token of each word
        probabilities = output_probabilities(self.model, self._logits(inputs), first)  # [B, L, C]; CRF: Viterbi
        word_probabilities = tf.ragged.boolean_mask(probabilities, first)  # [B, (W), C]
        flat = word_probabilities.flat_values  # [W, C]
        tags = word_probabilities.with_flat_values(tf.argmax(flat, axis=-1, output_type=tf.int32))  # [B, (W)]
        scores = word_probabilities.with_flat_values(tf.reduce_max(flat, axis=-1))  # [B, (W)]
        words = inputs["words"]  # all words; truncation keeps the first `count` of each text
        count = tags.row_lengths()
        kept = tf.ragged.range(words.start.row_lengths()) < count[:, tf.newaxis]
        start, end = tf.ragged.boolean_mask(words.start, kept), tf.ragged.boolean_mask(words.end, kept)
        return {
            "word_start": start.to_tensor(-1),
            "word_end": end.to_tensor(-1),
            "word_tag": tf.gather(self.labels, tags).to_tensor(""),
            "word_score": scores.to_tensor(0.0),
            "word_count": tf.cast(count, tf.int32),
            **self._entities(tags, scores, start, end),
            "truncated": inputs["truncated"],
        }

    def _encode(self, text: tf.Tensor, text_pair: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """The encoder's model inputs, at least one position long. An empty batch encodes to [0, 0] (no example sets
        a length), and the models read position 0 (a [CLS] pooler, a CRF's first step), which a length of 0 lacks;
        one padding position lets every output come out empty, in its usual rank. Other batches are never shorter
        than their special tokens, so they pass unchanged."""
        inputs = self.encoder.encode(text, text_pair)
        missing = tf.maximum(1 - tf.shape(inputs["input_ids"])[1], 0)
        padding = {"input_ids": self.encoder.config.pad_token_id, "attention_mask": 0, "token_type_ids": 0,
                   "word_ids": NO_WORD}
        return inputs | {name: tf.pad(inputs[name], [[0, 0], [0, missing]], constant_values=value)
                         for name, value in padding.items()}

    def _logits(self, inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        token_types = inputs["token_type_ids"] if self.uses_token_types else None
        return self.logits(inputs["input_ids"], inputs["attention_mask"], token_types)["logits"]

    def _id_inputs(self) -> tuple[str, ...]:
        return ("input_ids", "attention_mask") + (("token_type_ids",) if self.uses_token_types else ())

    def _entities(self, tags: tf.RaggedTensor, scores: tf.RaggedTensor, start: tf.RaggedTensor,
                  end: tf.RaggedTensor) -> dict[str, tf.Tensor]:
        """Entity spans of per-word BIO tags, as `tfft.tasks.metrics.entities` reads them: an entity opens at B-X,
        or at I-X after anything but X, and runs over the I-X that follow. Its score is the mean word score."""
        kind = tf.gather(self.tag_type, tags.flat_values)  # [W] entity type, -1 for O
        begins = tf.gather(self.tag_begins, tags.flat_values)
        row_first = tf.ragged.range(tags.row_lengths()).flat_values == 0
        previous = tf.where(row_first, -1, tf.concat([[-1], kind[:-1]], axis=0))
        opens = (kind >= 0) & (begins | (previous != kind))  # [W] the first word of each entity
        inside = kind >= 0
        entity = tf.boolean_mask(tf.cumsum(tf.cast(opens, tf.int32)) - 1, inside)  # entity of each entity word

        def per_entity(values, reduce):
            values = reduce(tf.boolean_mask(values, inside), entity)
            return tf.RaggedTensor.from_value_rowids(values, tf.boolean_mask(tags.value_rowids(), opens),
                                                     nrows=tags.nrows(), validate=False)

        types = tf.gather(self.entity_types, tf.boolean_mask(kind, opens))
        entity_start = per_entity(start.flat_values, tf.math.segment_min)
        return {
            "entity_start": entity_start.to_tensor(-1),
            "entity_end": per_entity(end.flat_values, tf.math.segment_max).to_tensor(-1),
            "entity_type": entity_start.with_flat_values(types).to_tensor(""),
            "entity_score": per_entity(scores.flat_values, tf.math.segment_mean).to_tensor(0.0),
            "entity_count": tf.cast(entity_start.row_lengths(), tf.int32),
        }


def _portable_settings(run: RunConfig) -> str:
    """The run's settings for an export, which leaves the training machine: every setting that is an absolute path
    (the run directory, a local model or data set, a cache) is cut to its last part."""
    settings = json.loads(run.to_json())
    for section in settings.values():
        for name, value in section.items():
            if isinstance(value, str) and (value.startswith("~") or pathlib.PurePath(value).is_absolute()):
                section[name] = pathlib.PurePath(value).name
    return json.dumps(settings, indent=2, sort_keys=True)


def export_saved_model(model: tf.Module, tokenizer, *, task: str, labels: Sequence[str], max_length: int,
                       export_dir: str | pathlib.Path, overwrite: bool = False,
                       run_config: RunConfig | None = None) -> pathlib.Path:
    """Writes the SavedModel to `export_dir`, atomically (staging directory + rename)."""
    target = pathlib.Path(export_dir).expanduser()
    claim_dir(target, flag="--export_dir", what="export", owned=EXPORT_ENTRIES, resume=None, overwrite=overwrite,
              recognised=(target / "saved_model.pb").is_file() and (target / "assets" / "label_map.json").is_file(),
              whole=True)
    with files.atomic_dir(target) as staging, tempfile.TemporaryDirectory() as sources:
        sources = pathlib.Path(sources)
        encoder_config = TextEncoderConfig.from_tokenizer(tokenizer, sources / "vocab.txt", max_length=max_length)
        encoder = TextEncoder(read_char_table(tokenizer), encoder_config)
        config = model.config.to_dict()
        (sources / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (sources / "label_map.json").write_text(
            json.dumps({"task": task, "max_length": max_length, "id2label": dict(enumerate(labels))}, indent=2)
            + "\n", encoding="utf-8")
        (sources / "tokenizer.json").write_text(tokenizer.backend_tokenizer.to_str(), encoding="utf-8")
        if run_config is not None:
            (sources / "run_config.json").write_text(_portable_settings(run_config) + "\n", encoding="utf-8")
        assets = [tf.saved_model.Asset(str(sources / name)) for name in ASSETS if (sources / name).exists()]
        module = ServingModule(model, encoder, task=task, labels=labels, assets=assets)
        tf.saved_model.save(module, str(staging), signatures=module.signatures())
    return target.resolve()


def export_run(run_dir: str | pathlib.Path, export_dir: str | pathlib.Path, *,
               overwrite: bool = False) -> pathlib.Path:
    """Exports the best model of a training run, with the run's task and max_seq_length."""
    run = read_run(run_dir)
    check_labelled(run, run_dir, "tfft.export")
    best = best_model_dir(run_dir)
    try:
        model = from_pretrained(best, merge_lora=True)
    except ConfigError as err:
        raise ServingError(f"{best}: {err}") from err
    labels = list(model.config.id2label)
    return export_saved_model(model, load_tokenizer(best), task=run.train.task, labels=labels,
                              max_length=run.train.max_seq_length, export_dir=export_dir, overwrite=overwrite,
                              run_config=run)
