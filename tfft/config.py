"""The run configuration: one frozen dataclass per concern, built by the entry point from flags, validated here
(errors name the flag), and written into the run directory as JSON."""

import dataclasses
import json

from tfft.data import DataConfig, DataError
from tfft.models import CLASSIFICATION_HEADS, NER_HEADS, ConfigError, HeadConfig
from tfft.models.lora import DEFAULT_TARGETS, LoraConfig

OPTIMIZERS = ("adamw", "sgd", "adafactor")
SCHEDULES = ("linear", "cosine", "constant")
PRECISIONS = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
DISTRIBUTE = ("default", "mirrored", "multi_worker", "tpu")
HEADS = ("hf",) + CLASSIFICATION_HEADS + NER_HEADS
FEATURE_DTYPES = {"fp16": "float16", "fp32": "float32"}
INITS = ("pretrained", "random")
SELECTS = ("best", "last")
NAN_POLICIES = ("stop", "skip")
# Validation metrics --metric_for_best may name, per task; the first is the default. MINIMISED ones are minimised.
_CLASSIFICATION_METRICS = ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "loss")
METRICS = {"classification": _CLASSIFICATION_METRICS, "pair": _CLASSIFICATION_METRICS,
           "ner": ("f1", "precision", "recall", "f1_macro", "token_accuracy", "loss"),
           "mlm": ("loss", "perplexity", "accuracy")}
MINIMISED = ("loss", "perplexity")


class ConfigFlagError(DataError):
    """A flag value that cannot work; the message starts with the flag."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train. Field names are the `python -m tfft.train` flag names."""

    task: str = "classification"
    model: str = "distilbert-base-uncased"
    output_dir: str = ""
    lr: float = 5e-5
    batch_size: int = 32
    eval_batch_size: int = 64
    epochs: float = 3.0
    max_steps: int | None = None
    max_seq_length: int = 128
    padding: str = "bucket"
    buckets: str = "auto"
    warmup_ratio: float | None = 0.1
    warmup_steps: int | None = None
    schedule: str = "linear"
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    clip_norm: float | None = 1.0
    grad_accum_steps: int = 1
    freeze: str = "none"
    head: str = "hf"
    head_hidden: int = 0
    head_layers: int = 1
    head_activation: str = "gelu"
    head_dropout: float = 0.1
    head_pooling: str = ""
    bidirectional: bool = False
    crf_constraints: bool = True
    feature_cache: str = "auto"
    feature_dtype: str = "fp16"
    layer_lr_decay: float = 1.0
    precision: str = "fp32"
    xla: bool = False
    class_weights: str = "none"
    label_smoothing: float = 0.0
    label_all_subtokens: bool = False
    eval_every: int | None = None
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    early_stopping_patience: int | None = None
    min_delta: float = 0.0
    metric_for_best: str = ""
    seed: int = 0
    deterministic: bool = False
    distribute: str = "default"
    log_every: int = 20
    cache_dir: str | None = None
    export: bool = False
    init: str = "pretrained"
    select: str = "best"
    evaluate_test: bool = True
    nan_policy: str = "stop"
    mlm_probability: float = 0.15
    whole_word_masking: bool = False
    adafactor_relative_step: bool = False
    adafactor_scale_parameter: bool = False
    adafactor_warmup_init: bool = False
    adafactor_clip_threshold: float = 1.0
    adafactor_decay_rate: float = -0.8
    adafactor_beta1: float = 0.0
    recompute: bool = False
    lora_rank: int | None = None
    lora_alpha: float = 16.0
    lora_dropout: float = 0.1
    lora_targets: str = ",".join(DEFAULT_TARGETS)
    lora_adapter: str = ""
    merge_lora: bool = False

    def __post_init__(self):
        def need(condition: bool, flag: str, expected: str):
            if not condition:
                raise ConfigFlagError(f"--{flag}={getattr(self, flag)}: expected {expected}")

        need(self.lr > 0, "lr", "a positive learning rate")
        need(self.batch_size >= 1, "batch_size", "at least 1")
        need(self.eval_batch_size >= 1, "eval_batch_size", "at least 1")
        need(self.epochs > 0, "epochs", "a positive number of epochs")
        need(self.max_steps is None or self.max_steps >= 1, "max_steps", "at least 1")
        need(self.warmup_ratio is None or 0 <= self.warmup_ratio < 1, "warmup_ratio", "a fraction in [0, 1)")
        need(self.warmup_steps is None or self.warmup_steps >= 0, "warmup_steps", "0 or more")
        need(self.schedule in SCHEDULES, "schedule", " / ".join(SCHEDULES))
        need(self.optimizer in OPTIMIZERS, "optimizer", " / ".join(OPTIMIZERS))
        need(self.weight_decay >= 0, "weight_decay", "0 or more")
        need(0 <= self.momentum < 1, "momentum", "a value in [0, 1)")
        need(self.clip_norm is None or self.clip_norm >= 0, "clip_norm", "0 (off) or more")
        need(self.grad_accum_steps >= 1, "grad_accum_steps", "at least 1")
        need(self.task in METRICS, "task", " / ".join(METRICS))
        need(not self.metric_for_best or self.metric_for_best in METRICS.get(self.task, ()), "metric_for_best",
             f"one of {', '.join(METRICS.get(self.task, ()))} for --task={self.task}")
        need(0 < self.layer_lr_decay <= 1, "layer_lr_decay", "a factor in (0, 1] (1: off)")
        need(self.head in HEADS, "head", " / ".join(HEADS))
        task_heads = ("hf",) + {"ner": NER_HEADS, "mlm": ()}.get(self.task, CLASSIFICATION_HEADS)
        need(self.head in task_heads, "head", f"{' / '.join(task_heads)} for --task={self.task}")
        need(self.head != "hf" or not self.head_pooling, "head_pooling", "nothing with --head=hf (pooling belongs to "
             "tfft's heads)")
        need(self.head != "hf" or not self.bidirectional, "bidirectional", "a recurrent --head (rnn, gru, lstm, "
             "lstm_crf), not hf")
        if self.head in NER_HEADS:  # the CRF scores one tag per word, with its own likelihood
            need(not self.label_all_subtokens, "label_all_subtokens", f"off with --head={self.head} (the CRF tags "
                 "each word once, at its first sub-token)")
            need(self.class_weights == "none", "class_weights", f"none with --head={self.head} (a CRF's loss is "
                 "the sequence likelihood)")
            need(self.label_smoothing == 0, "label_smoothing", f"0 with --head={self.head} (a CRF's loss is the "
                 "sequence likelihood)")
        self.head_config()  # the head's own checks
        need(self.feature_cache == "auto" or self.feature_cache == "off" or self.freeze == "all", "feature_cache",
             "auto or off unless --freeze=all (only a frozen encoder's features can be cached)")
        need(self.feature_dtype in FEATURE_DTYPES, "feature_dtype", " / ".join(FEATURE_DTYPES))
        need(self.precision in PRECISIONS, "precision", " / ".join(PRECISIONS))
        need(self.class_weights in ("none", "balanced"), "class_weights", "none or balanced")
        need(0 <= self.label_smoothing < 1, "label_smoothing", "a value in [0, 1)")
        need(self.eval_every is None or self.eval_every >= 1, "eval_every", "at least 1")
        need(self.checkpoint_every >= 1, "checkpoint_every", "at least 1")
        need(self.keep_checkpoints >= 1, "keep_checkpoints", "at least 1")
        need(self.early_stopping_patience is None or self.early_stopping_patience >= 1, "early_stopping_patience",
             "at least 1")
        need(self.distribute in DISTRIBUTE, "distribute", " / ".join(DISTRIBUTE))
        need(self.log_every >= 1, "log_every", "at least 1")
        need(self.init in INITS, "init", " / ".join(INITS))
        need(self.select in SELECTS, "select", " / ".join(SELECTS))
        need(self.select == "best" or self.early_stopping_patience is None, "select",
             "best with --early_stopping_patience (early stopping keeps the best evaluation)")
        need(self.nan_policy in NAN_POLICIES, "nan_policy", " / ".join(NAN_POLICIES))
        need(0 < self.mlm_probability < 1, "mlm_probability", "a share strictly between 0 and 1")
        adafactor = self.optimizer == "adafactor"
        for flag in ("adafactor_relative_step", "adafactor_scale_parameter", "adafactor_warmup_init"):
            need(adafactor or not getattr(self, flag), flag, "off unless --optimizer=adafactor")
        need(self.adafactor_relative_step or not self.adafactor_warmup_init, "adafactor_warmup_init",
             "off unless --adafactor_relative_step (it warms the relative step up)")
        need(self.adafactor_clip_threshold > 0, "adafactor_clip_threshold", "a positive update RMS")
        need(self.adafactor_decay_rate < 0, "adafactor_decay_rate", "a negative exponent (beta2 = 1 - t^rate)")
        need(0 <= self.adafactor_beta1 < 1, "adafactor_beta1", "a value in [0, 1) (0: no first moment)")
        self._check_lora(need)
        if self.task == "mlm":
            need(self.class_weights == "none", "class_weights", "none with --task=mlm (the targets are tokens)")
            need(self.freeze != "all" or self.feature_cache == "off", "feature_cache", "off with --task=mlm "
                 "--freeze=all (the masked inputs change every epoch: encoder outputs cannot be cached)")
            need(not self.export, "export", "off with --task=mlm: best/ is the result, a Hugging Face masked-LM "
                 "checkpoint; fine-tune it with --model=RUN/best, or fill masks with python -m tfft.predict")

    def _check_lora(self, need) -> None:
        lora = self.lora_rank is not None or bool(self.lora_adapter)
        need(self.lora_rank is None or self.lora_rank >= 1, "lora_rank", "a rank of at least 1 (leave it unset for "
             "full fine-tuning)")
        need(self.lora_alpha > 0, "lora_alpha", "a positive scale (the update is scaled by alpha / rank)")
        need(0 <= self.lora_dropout < 1, "lora_dropout", "a rate in [0, 1)")
        try:
            self.lora_config()
        except ConfigError as err:
            raise ConfigFlagError(f"--lora_targets={self.lora_targets}: {err}") from err
        need(self.lora_rank is None or not self.lora_adapter, "lora_rank", "unset with --lora_adapter (its "
             "adapter_config.json gives the rank, alpha, dropout and targets)")
        defaults = TrainConfig.__dataclass_fields__
        for flag in ("lora_alpha", "lora_dropout", "lora_targets", "merge_lora"):
            need(lora or getattr(self, flag) == defaults[flag].default, flag, "its default unless --lora_rank or "
                 "--lora_adapter is set")
        if lora:
            need(self.freeze == "none", "freeze", "none with LoRA (the adapters and the head train, every base "
                 "weight is frozen already)")
            need(self.task != "mlm", "task", "a labelled task with LoRA (tfft adapts encoders for classification, "
                 "pair and NER tasks)")
            need(self.init == "pretrained", "init", "pretrained with LoRA (adapters are saved against the pretrained "
                 "base model, which they name)")

    def lora_config(self) -> LoraConfig | None:
        """The adapters --lora_rank, --lora_alpha, --lora_dropout and --lora_targets describe; None without LoRA (and
        with --lora_adapter, which brings its own)."""
        if self.lora_rank is None:
            return None
        targets = tuple(name.strip() for name in self.lora_targets.split(",") if name.strip())
        return LoraConfig(self.lora_rank, self.lora_alpha, self.lora_dropout, targets)

    def head_config(self) -> HeadConfig | None:
        """The custom head the --head* flags describe; None for Hugging Face's (--head=hf)."""
        if self.head == "hf":
            return None
        return HeadConfig(kind=self.head, hidden=self.head_hidden, layers=self.head_layers,
                          activation=self.head_activation, dropout=self.head_dropout, pooling=self.head_pooling,
                          bidirectional=self.bidirectional, crf_constraints=self.crf_constraints)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, as written to `output_dir/config.json`."""

    train: TrainConfig
    data: DataConfig

    def __post_init__(self):
        if self.data.max_seq_length != self.train.max_seq_length:  # texts are read for the length the model takes
            object.__setattr__(self, "data", dataclasses.replace(self.data, max_seq_length=self.train.max_seq_length))
        if self.data.train_on_validation and self.train.select != "last":
            raise ConfigFlagError("--train_on_validation: expected --select=last (validation is training data then, "
                                  "so nothing is left to pick the best evaluation by)")

    def to_flags(self) -> str:
        """The run as a flagfile for `python -m tfft.train --flagfile=...`: every setting, so it repeats the run
        whatever the defaults and presets were. ('seed' and 'max_seq_length' are one flag for both configs.)"""
        lines = []
        for name, value in {**dataclasses.asdict(self.data), **dataclasses.asdict(self.train)}.items():
            if name == "clip_norm" and value is None:
                lines.append("--clip_norm=0")  # the flag's 'off'
            elif isinstance(value, bool):
                lines.append(f"--{name}" if value else f"--no{name}")
            elif value is not None and not (name == "output_dir" and not value):
                lines.append(f"--{name}={value}")
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        return json.dumps({"train": dataclasses.asdict(self.train), "data": dataclasses.asdict(self.data)},
                          indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        raw = json.loads(text)
        return cls(TrainConfig(**raw["train"]), DataConfig(**raw["data"]))
