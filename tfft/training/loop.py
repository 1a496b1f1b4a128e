"""The training loop, top to bottom: data, model, optimizer, restore-or-init, loop, final test evaluation.
Features are the small functions and modules it calls (tfft/training/*, tfft/optim/*), not callbacks."""

import collections
import contextlib
import functools
import logging
import math
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tqdm
import tqdm.contrib.logging

from tfft import files
from tfft.checkpoints import peft
from tfft.checkpoints.io import from_config, from_pretrained, restore, save_pretrained
from tfft.config import FEATURE_DTYPES, METRICS, MINIMISED, PRECISIONS, ConfigFlagError, RunConfig, TrainConfig
from tfft.data import Batches, DataError, bucket_boundaries, encode_data, load_data
from tfft.data.features import DEFAULT_CACHE_DIR, tokenizer_fingerprint
from tfft.data.masking import Masking
from tfft.models import enable_recompute, lora
from tfft.optim import SGD, Adafactor, AdamW, make_schedule, warmup_steps
from tfft.serving.module import export_run
from tfft.tasks import TASKS
from tfft.tokenization import load_tokenizer
from tfft.training import feature_cache
from tfft.training.evaluation import evaluate, prediction_records, records_markdown
from tfft.training.checkpointing import Checkpoints
from tfft.training.freeze import layer_lr_scales, trainable_variables
from tfft.training.losses import balanced_class_weights
from tfft.training.precision import SKIP_LIMIT, DivergedError, LossScale, all_finite, precision_warning
from tfft.training.steps import TrainSteps
from tfft.training.summaries import Summaries

log = logging.getLogger(__name__)


class Progress(tf.Module):
    """Where the run is, checkpointed with the model: the data position (epoch, micro-batches consumed in it)
    and early-stopping state. The optimizer's own `step` counts updates."""

    def __init__(self):
        super().__init__(name="progress")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.batch_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best = tf.Variable(-math.inf, dtype=tf.float64, trainable=False)
        self.bad_evaluations = tf.Variable(0, dtype=tf.int64, trainable=False)


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


class Trainer(NamedTuple):
    """What a run trains with: the model, the variables it updates, the optimizer (and its learning-rate
    schedule), the fp16 loss scale and the compiled steps."""

    model: tf.Module
    trainable: list[tf.Variable]
    schedule: Callable[[tf.Tensor], tf.Tensor]
    optimizer: tf.Module
    loss_scale: LossScale
    steps: TrainSteps


def make_model(config: TrainConfig, head: str, labels: Sequence[str]) -> tf.Module:
    """The model a run trains: --model with the task's `head` (or --head), pretrained or --init=random, computing
    in --precision (with a warning where that precision is slower than fp32), with LoRA adapters (--lora_rank, or
    --lora_adapter's), its blocks checkpointed with --recompute."""
    warning = precision_warning(config.precision)
    if warning:
        log.warning(warning)
    options = dict(head=head, labels=tuple(labels) or None, seed=config.seed,  # masked LM: no labels
                   compute_dtype=tf.as_dtype(PRECISIONS[config.precision]), custom_head=config.head_config())
    if config.init == "random":  # the architecture without its pretraining: the 'untrained' baseline
        model = from_config(config.model, **options)
    else:
        model = from_pretrained(config.model, ignore_mismatched_sizes=True, **options)
    if config.lora_adapter:
        adapter = peft.read_adapter(config.lora_adapter)
        peft.check_base(model, adapter, config.model)
        peft.load_adapter(model, adapter, ignore_mismatched_sizes=True)
    elif config.lora_rank is not None:
        if getattr(model, "lora", None) is not None:
            raise ConfigFlagError(f"--lora_rank={config.lora_rank}: --model={config.model} holds LoRA adapters already "
                                  f"({model.lora}); leave --lora_rank unset to train them further")
        lora.attach(model, config.lora_config())
    if config.recompute:
        enable_recompute(model)
    return model


def make_trainer(config: TrainConfig, head: str, labels: Sequence[str], *, strategy: tf.distribute.Strategy,
                 total_steps: int, class_weights: tf.Tensor | None = None) -> Trainer:
    """The model (`head`: the task's; --model, --init, --head, --precision), the trainable variables (--freeze),
    the optimizer and the compiled steps of a run, built under `strategy`. tfft.bench times the same steps."""
    with strategy.scope():
        model = make_model(config, head, labels)
        trainable = trainable_variables(model, config.freeze)
        schedule = make_schedule(config.schedule, base_lr=config.lr, total_steps=total_steps,
                                 warmup_steps=warmup_steps(total_steps, config.warmup_ratio, config.warmup_steps))
        lr_scale = layer_lr_scales(model, trainable, config.layer_lr_decay)
        if config.optimizer == "adamw":
            optimizer = AdamW(trainable, learning_rate=schedule, weight_decay=config.weight_decay, lr_scale=lr_scale)
        elif config.optimizer == "adafactor":
            optimizer = Adafactor(trainable, learning_rate=schedule, weight_decay=config.weight_decay,
                                  lr_scale=lr_scale, relative_step=config.adafactor_relative_step,
                                  scale_parameter=config.adafactor_scale_parameter,
                                  warmup_init=config.adafactor_warmup_init,
                                  clip_threshold=config.adafactor_clip_threshold,
                                  decay_rate=config.adafactor_decay_rate, beta1=config.adafactor_beta1 or None)
        else:
            optimizer = SGD(trainable, learning_rate=schedule, momentum=config.momentum, nesterov=config.nesterov,
                            weight_decay=config.weight_decay, lr_scale=lr_scale)
        loss_scale = LossScale(enabled=config.precision == "fp16")
    steps = TrainSteps(model, trainable, optimizer, loss_scale, strategy=strategy, xla=config.xla,
                       clip_norm=config.clip_norm, class_weights=class_weights, label_smoothing=config.label_smoothing,
                       normalizer=config.batch_size * config.grad_accum_steps, frozen_encoder=config.freeze == "all")
    log.info("%s: %d of %d variables trainable (--freeze=%s), %s parameters", type(model).__name__, len(trainable),
             len(model.trainable_variables), config.freeze, f"{sum(int(np.prod(v.shape)) for v in trainable):,}")
    return Trainer(model, trainable, schedule, optimizer, loss_scale, steps)


def train_and_evaluate(run: RunConfig, output_dir: pathlib.Path, *, resume: bool = False,
                       interrupt: Callable[[int], bool] | None = None,
                       strategy: tf.distribute.Strategy | None = None) -> dict:
    """Fine-tunes, keeps the best model in output_dir/best, evaluates it on the test split; returns test metrics.

    `interrupt(step)` is asked after every update; when it says yes (on any worker) the run checkpoints and
    returns {"interrupted_at": step}, and `resume=True` continues it later exactly where it stopped. A non-finite
    loss or gradient skips the update; with --nan_policy=stop it then raises DivergedError, naming the step and
    the checkpoint to resume from. `strategy`: the one --distribute names, if the caller made it already.
    """
    config = run.train
    task = TASKS[config.task]
    metric_name = config.metric_for_best or METRICS[task.name][0]
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    tf.random.set_seed(config.seed)

    # ---------------------------------------------------------------- data
    tokenizer = load_tokenizer(config.model)
    data = load_data(run.data, task)
    cache_dir = pathlib.Path(config.cache_dir) if config.cache_dir else DEFAULT_CACHE_DIR
    encoded = encode_data(data, tokenizer, max_length=config.max_seq_length,
                          label_all_subtokens=config.label_all_subtokens, cache_dir=cache_dir)
    boundaries = bucket_boundaries(config.max_seq_length, config.padding, config.buckets,
                                   xla=config.xla)
    masking = masked_lm_masking(config, tokenizer) if task.name == "mlm" else None
    train_batches = Batches(encoded["train"], batch_size=config.batch_size, boundaries=boundaries,
                            pad_token_id=tokenizer.pad_token_id, seed=config.seed, shuffle=True, masking=masking)
    eval_batches = {split: Batches(encoded[split], batch_size=config.eval_batch_size, boundaries=boundaries,
                                   pad_token_id=tokenizer.pad_token_id, seed=config.seed, masking=masking)
                    for split in ("validation", "test")}
    updates_per_epoch = math.ceil(train_batches.steps_per_epoch / config.grad_accum_steps)
    total_steps = config.max_steps or math.ceil(config.epochs * updates_per_epoch)
    lengths = sorted({length for _, length in train_batches.plan(0).shapes})
    for split, examples in data.splits.items():
        log.info("%s: %d examples from %s", split, len(examples), data.sources[split])
    log.info("%d training examples, %d batches of %d per epoch, %d updates in all; %d batch lengths from %d to %d",
             len(encoded["train"]), train_batches.steps_per_epoch, config.batch_size, total_steps, len(lengths),
             lengths[0], lengths[-1])

    # ---------------------------------------------------------------- model and optimizer
    strategy = strategy or make_strategy(config.distribute)
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ConfigFlagError(f"--batch_size={config.batch_size}: expected a multiple of the "
                              f"{strategy.num_replicas_in_sync} replicas of --distribute={config.distribute}")
    class_weights = (tf.constant(balanced_class_weights(data.class_counts()))
                     if config.class_weights == "balanced" else None)
    model, trainable, schedule, optimizer, loss_scale, steps = make_trainer(
        config, task.head, data.labels.names, strategy=strategy, total_steps=total_steps, class_weights=class_weights)
    with strategy.scope():
        progress = Progress()
    clock = Stopwatch()
    if config.freeze == "all" and config.feature_cache != "off":  # the frozen encoder's outputs, computed once
        # for the training split: evaluations run the whole model, so every reported number is the saved model's
        train_split = {"train": encoded["train"]}
        description = feature_cache.describe(model, train_split, model_name=config.model,
                                             tokenizer=tokenizer_fingerprint(tokenizer),
                                             max_length=config.max_seq_length,
                                             dtype=FEATURE_DTYPES[config.feature_dtype])
        with clock("features"):
            directory = None if config.feature_cache == "auto" else pathlib.Path(config.feature_cache)
            features = feature_cache.encoder_features(
                model, train_split, directory=directory, description=description, batch_size=config.eval_batch_size,
                boundaries=bucket_boundaries(config.max_seq_length), pad_token_id=tokenizer.pad_token_id)
        train_batches = train_batches.with_features(features["train"])
    log.info("compiling the training step (the first update waits for it)")
    compile_start = time.perf_counter()
    steps.trace_any_length(strategy.experimental_distribute_dataset(train_batches.dataset()).element_spec,
                           eval_batches["validation"].dataset().element_spec)

    # ---------------------------------------------------------------- restore or init
    # Multi-worker: every worker saves (a collective), non-chief workers to a scratch directory, and every worker
    # restores from the chief's (a worker that skips the save deadlocks the others); only the chief writes best/,
    # summaries and reports.
    chief = getattr(strategy.extended, "should_checkpoint", True)
    checkpoints = Checkpoints(
        tf.train.Checkpoint(model=model, optimizer=optimizer, loss_scale=loss_scale, progress=progress),
        output_dir / "checkpoints", chief=chief, max_to_keep=config.keep_checkpoints)
    restored = checkpoints.restore_latest() if resume else None
    if restored:
        log.info("resumed from %s at step %d (epoch %d, batch %d)", restored, int(optimizer.step.numpy()),
                 int(progress.epoch.numpy()), int(progress.batch_in_epoch.numpy()))
    scratch = None if chief else tempfile.TemporaryDirectory(prefix="tfft-worker-")  # removed when the run returns
    summaries = Summaries(output_dir if chief else pathlib.Path(scratch.name),
                          after_step=int(optimizer.step.numpy()) if resume else None)
    summaries.text("train", 0, "config", "```\n" + run.to_json() + "\n```")
    if chief:
        files.write_json(output_dir / "data_summary.json", data.summary())


    @clock.timed("evaluation")
    def evaluate_and_keep_best(step: int) -> bool:
        """Evaluates on validation, saves best/ when it improved; returns True when early stopping says stop."""
        result, predictions = evaluate(steps.predict, eval_batches["validation"], data.splits["validation"],
                                       data.labels)
        result["epoch"] = step / updates_per_epoch
        summaries.scalars("validation", step, result)
        shown = min(5, len(predictions))
        records = prediction_records(data.splits["validation"].select(range(shown)), predictions[:shown], data.labels)
        summaries.text("validation", step, "predictions", records_markdown(records))
        value = result[metric_name]
        log.info("step %d validation: %s", step, " ".join(f"{name}={result[name]:.4f}" for name in dict.fromkeys(
            (metric_name, "loss", "perplexity")) if name in result))
        signed = -value if metric_name in MINIMISED else value  # progress.best: the signed value, higher is better
        improved = signed > float(progress.best.numpy()) + config.min_delta
        if improved:
            progress.best.assign(signed)
            progress.bad_evaluations.assign(0)
        else:
            progress.bad_evaluations.assign_add(1)
        keep = improved if config.select == "best" else step >= total_steps  # --select=last: the final weights
        if keep and not bool(all_finite([v for v in model.variables if v.dtype.is_floating])):
            log.warning("step %d: the weights are not finite; best/ keeps the model it had", step)
            keep = False
        if keep and chief:
            save_pretrained(model, output_dir / "best", tokenizer=tokenizer)
            files.write_json(output_dir / "best_metrics.json", {"step": step, **result})
        patience = config.early_stopping_patience
        return patience is not None and int(progress.bad_evaluations.numpy()) >= patience

    # ---------------------------------------------------------------- loop
    step = first_step = int(optimizer.step.numpy())
    evaluated_at, stop = None, step >= total_steps
    # Continued pretraining, or adapters trained elsewhere (--lora_adapter): the validation numbers it starts from.
    if (masking is not None or config.lora_adapter) and step == 0:
        stop, evaluated_at = evaluate_and_keep_best(0) or stop, 0
    window = Window()
    agreed = any_worker(strategy)
    skipped_in_a_row, compiled = 0, False
    loop_start = time.perf_counter()
    with progress_bar(total_steps, step) as bar:
        while not stop:
            epoch, skip = int(progress.epoch.numpy()), int(progress.batch_in_epoch.numpy())
            # Each bucketed global batch is split evenly over the replicas: they always agree on the shape, and no
            # replica ever waits on an uneven last batch (tensorflow#37112).
            iterator = iter(strategy.experimental_distribute_dataset(train_batches.dataset(epoch, skip=skip)))
            exhausted = False
            while not (exhausted or stop):
                total_weight = total_loss = 0.0
                for _ in range(config.grad_accum_steps):  # one update = grad_accum_steps micro-batches
                    with clock("input"):
                        batch = next(iterator, None)
                    if batch is None:
                        exhausted = True
                        break
                    counts = steps.accumulate(batch)
                    window.add(*(float(c) for c in counts))
                    total_loss += float(counts[0])
                    total_weight += float(counts[1])
                    progress.batch_in_epoch.assign_add(1)
                if total_weight == 0.0:
                    continue
                scale = float(loss_scale.current.numpy())
                applied, norm = steps.apply(tf.constant(total_weight), tf.constant(total_loss))
                step = int(optimizer.step.numpy())
                if not compiled:
                    compiled = True
                    log.info("compiled; the first update done %.1f s after compiling began",
                             time.perf_counter() - compile_start)
                bar.update(step - bar.n)
                last = step >= total_steps
                skipped_in_a_row = 0 if bool(applied) else skipped_in_a_row + 1
                if skipped_in_a_row:
                    log.warning("update %d skipped: non-finite loss or gradients (%d skipped so far); loss scale "
                                "now %g", step + 1, int(loss_scale.skipped.numpy()), float(loss_scale.current.numpy()))
                    # under fp16 only at scale 1: not an overflow that a smaller scale fixes
                    if (config.nan_policy == "stop" and scale <= 1.0) or skipped_in_a_row >= SKIP_LIMIT:
                        summaries.close()
                        raise DivergedError(step + 1, checkpoints.last_good,
                                            in_a_row=1 if config.nan_policy == "stop" else skipped_in_a_row)
                if step % config.log_every == 0 or last:
                    numbers = {**window.flush(), "epoch": step / updates_per_epoch,
                               "learning_rate": float(schedule(step - 1)), "gradient_norm": float(norm),
                               "loss_scale": float(loss_scale.current.numpy()),
                               "skipped_steps": int(loss_scale.skipped.numpy())}
                    summaries.scalars("train", step, numbers)
                    log.info("%s", progress_line(step, total_steps, first_step, time.perf_counter() - loop_start,
                                                 numbers))
                    bar.set_postfix(loss=f"{numbers['loss']:.4f}", lr=f"{numbers['learning_rate']:.2e}",
                                    examples_s=f"{numbers['examples_per_second']:.1f}", refresh=False)
                if config.eval_every and step % config.eval_every == 0 and evaluated_at != step:
                    stop, evaluated_at = evaluate_and_keep_best(step), step
                if step % config.checkpoint_every == 0:
                    with clock("checkpoint"):
                        checkpoints.save(step)
                if interrupt is not None and agreed(interrupt(step)) and not last:
                    if step % config.checkpoint_every:
                        checkpoints.save(step)
                    summaries.close()
                    log.info("interrupted at step %d; checkpoint %s; continue with --resume", step,
                             checkpoints.last_good)
                    return {"interrupted_at": step}
                stop = stop or last
            if exhausted:
                progress.epoch.assign_add(1)
                progress.batch_in_epoch.assign(0)
                if evaluated_at != step:
                    stop, evaluated_at = evaluate_and_keep_best(step) or stop, step
    if evaluated_at != step:  # the last updates were not evaluated yet (an early stop evaluates before it stops)
        evaluate_and_keep_best(step)
    clock.seconds["loop"] = time.perf_counter() - loop_start
    checkpoints.save(step)
    if chief:
        files.write_json(output_dir / "timing.json", timing(clock, window, updates=step - first_step,
                                                            traces=steps.traces, batch_lengths=lengths))
    # Under XLA every trace is a compile (tensorflow#62198): one per batch length; without XLA one trace serves all.
    expected = (len(boundaries) if config.xla else 1) * strategy.num_replicas_in_sync  # traced once per replica
    if steps.traces["gradients"] > expected:
        log.warning("the train step was traced %d times, expected at most %d (--xla=%s, %d batch lengths)",
                    steps.traces["gradients"], expected, config.xla, len(boundaries))

    # ---------------------------------------------------------------- test evaluation of the best model
    if not chief:  # best/ lives with the chief; the test evaluation has no collectives to join
        summaries.close()
        return {}
    result = {}
    if config.evaluate_test:  # a sweep leaves the test split alone until it has picked its configuration
        restore(model, output_dir / "best")
        result, predictions = evaluate(steps.predict, eval_batches["test"], data.splits["test"], data.labels)
        summaries.scalars("validation", step, {f"test/{k}": v for k, v in result.items()})
        files.write_json(output_dir / "test_metrics.json", result)
        if predictions:  # masked-LM evaluations have no per-example predictions
            files.write_jsonl(output_dir / "test_predictions.jsonl",
                              prediction_records(data.splits["test"], predictions, data.labels))
        log.info("test: %s=%.4f (best validation %s=%.4f)", metric_name, result[metric_name], metric_name,
                 abs(float(progress.best.numpy())) if metric_name in MINIMISED else float(progress.best.numpy()))
    summaries.close()
    if config.merge_lora:  # the best adapters folded into the base weights: a plain Hugging Face checkpoint
        restore(model, output_dir / "best")
        lora.merge(model)
        save_pretrained(model, output_dir / "merged", tokenizer=tokenizer)
        log.info("merged the best adapters into %s", output_dir / "merged")

    # ---------------------------------------------------------------- export
    if config.export:  # from best/ in float32, whatever --precision trained in
        log.info("exported the best model to %s", export_run(output_dir, output_dir / "export", overwrite=True))
    return result


def masked_lm_masking(config: TrainConfig, tokenizer) -> Masking:
    """How --task=mlm masks its batches (--mlm_probability, --whole_word_masking) with the tokenizer's [MASK]."""
    if tokenizer.mask_token_id is None:
        raise DataError(f"--model={config.model}: its tokenizer has no mask token, so --task=mlm cannot mask")
    return Masking(config.mlm_probability, config.whole_word_masking, tokenizer.mask_token_id, len(tokenizer))


def any_worker(strategy: tf.distribute.Strategy) -> Callable[[bool], bool]:
    """A function telling whether a flag is true on any worker: a signal reaches one process, but all must stop at
    the same step (the checkpoint save is collective). One all-reduce under MultiWorkerMirroredStrategy; in a
    single process the flag itself."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return bool

    @tf.function
    def votes(flag):
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: flag), axis=None)

    return lambda flag: float(votes(tf.constant(float(flag)))) > 0


class Window:
    """Training numbers since the last log line: loss (per labelled example or token) and throughput; `totals`
    keeps the examples, tokens and padded token slots of the whole run (this process)."""

    def __init__(self):
        self.totals = collections.Counter()
        self._reset()

    def _reset(self):
        self.loss = self.weight = self.examples = self.tokens = 0.0
        self.start = time.perf_counter()

    def add(self, loss_sum: float, weight: float, examples: float, tokens: float, slots: float) -> None:
        self.loss += loss_sum
        self.weight += weight
        self.examples += examples
        self.tokens += tokens
        self.totals.update(examples=examples, tokens=tokens, slots=slots)

    def flush(self) -> dict:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        values = {"loss": self.loss / max(self.weight, 1e-9), "examples_per_second": self.examples / elapsed,
                  "tokens_per_second": self.tokens / elapsed}
        self._reset()
        return values


@contextlib.contextmanager
def progress_bar(total: int, done: int) -> Iterator[tqdm.tqdm]:
    """A bar over the updates (ETA, and the last logged loss, learning rate and examples/s) while stderr is a
    terminal; log lines print above it. Elsewhere (a file, CI) there is no bar, only the log lines."""
    with tqdm.contrib.logging.logging_redirect_tqdm(), tqdm.tqdm(
            total=total, initial=done, unit="update", disable=not sys.stderr.isatty(), dynamic_ncols=True) as bar:
        yield bar


def progress_line(step: int, total: int, first: int, seconds: float, numbers: dict) -> str:
    """'update 40/114 (35%): loss 0.5694, lr 8.4e-05, 28.1 examples/s, 1:05 left' (the time left from this run's
    pace so far, evaluations included)."""
    left = seconds / max(step - first, 1) * (total - step)
    return (f"update {step}/{total} ({100 * step / total:.0f}%): loss {numbers['loss']:.4f}, lr "
            f"{numbers['learning_rate']:.2g}, {numbers['examples_per_second']:.1f} examples/s, "
            f"{int(left // 60)}:{int(left % 60):02d} left")


class Stopwatch:
    """Seconds per activity of the loop, summed over the run: `with clock("input"): ...`."""

    def __init__(self):
        self.seconds = collections.defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, activity: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[activity] += time.perf_counter() - start

    def timed(self, activity: str):
        """A decorator: every call of the function counts as `activity`."""
        def decorate(function):
            @functools.wraps(function)
            def timed_function(*args, **kwargs):
                with self(activity):
                    return function(*args, **kwargs)
            return timed_function
        return decorate


def timing(clock: Stopwatch, window: Window, *, updates: int, traces: dict, batch_lengths: list[int]) -> dict:
    """Where the loop's time went (timing.json). train_seconds is the loop without evaluations and checkpoints:
    the steps (tracing included) and the waits on the input pipeline. batch_lengths: the first epoch's."""
    seconds = {key: round(value, 3) for key, value in clock.seconds.items()}
    train = clock.seconds["loop"] - clock.seconds["evaluation"] - clock.seconds["checkpoint"]
    totals = window.totals
    return {"updates": updates, "examples": int(totals["examples"]), "seconds": seconds,
            "train_seconds": round(train, 3), "examples_per_second": round(totals["examples"] / max(train, 1e-9), 2),
            "input_wait_share": round(clock.seconds["input"] / max(train, 1e-9), 4),
            "padding_share": round(1 - totals["tokens"] / max(totals["slots"], 1.0), 4),
            "traces": dict(traces), "batch_lengths": batch_lengths}
