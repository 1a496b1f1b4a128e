"""`python -m tfft.bench`: measurements, one JSON line per run (optionally appended to --output), each with the
process's peak resident memory and the CPU it ran on (model, instruction sets, cores). The training flags
(--model, --task, --batch_size, --max_seq_length, --xla, --precision, --optimizer, --freeze, ...) mean what they
mean to tfft.train.

--mode=train_step: the real training step (tfft.training.loop.make_trainer: forward, loss, backward, clipping,
optimizer) on a fixed synthetic batch of --batch_size x --max_seq_length: median step seconds after
--warmup_calls, examples/s, tokens/s, FLOPs, and MFU against a matmul peak measured in the same process.
Example: python -m tfft.bench --mode=train_step --model=all-MiniLM-L6-v2 --batch_size=32 --max_seq_length=128
--mode=infer: the same for inference, through the Python model call and through the exported SavedModel.
--model=distilbert-random: random weights at distilbert-base-uncased's dimensions (its weights are not offline).
--mode=epoch: one epoch of real training on the data set the flags name, with the normal pipeline and loop:
wall and train seconds, examples/s, padding share, input-pipeline wait share, traces, validation metrics.
Example: python -m tfft.bench --mode=epoch --flagfile=flags/bench_sst2.cfg
--mode=head_epoch: head-only training (--freeze=all, any --head) for one epoch through the frozen encoder, then on
its cached features (the first pass computes and writes them, the second reads them): seconds per epoch each way.
Example: python -m tfft.bench --mode=head_epoch --flagfile=flags/bench_sst2.cfg --head=mlp --lr=1e-3
--mode=pipeline: reading, tokenizing and batching alone (examples/s), the bucketed shapes and padding share against
--padding=max_length. Example: python -m tfft.bench --mode=pipeline --flagfile=flags/conll2003.cfg
--mode=tokenizer: the in-graph (SavedModel) tokenizer against the Hugging Face tokenizer on every text of
every split of the data set: texts whose ids differ, and the time each takes.
Example: python -m tfft.bench --mode=tokenizer --flagfile=flags/sst2.cfg
--mode=memory: --mode=train_step in a fresh process for each of full fine-tuning with AdamW, + --recompute, LoRA rank 8,
LoRA + recompute and Adafactor (--memory_configs), each beside the same configuration in Hugging Face + PyTorch (+ PEFT)
(scripts/peer_torch_memory.py): peak resident memory before the first step (runtime, model, optimizer) and after the
steps, examples/s, trainable parameters, and the bytes of the saved model (best/) and of a training checkpoint.
Example: python -m tfft.bench --mode=memory --model=all-MiniLM-L6-v2 --batch_size=32 --max_seq_length=128
--mode=serve: the SavedModel export against the Python path (tfft model + Hugging Face tokenizer) on the first
--examples test texts of a run's data set: examples per second, max probability difference, label mismatches.
Example: python -m tfft.bench --mode=serve --run_dir=runs/sst2 --examples=1000
"""

import dataclasses
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import flags

from tfft import cli, files
from tfft.benchmarks import (call_seconds, cpu_description, forward_flops, matmul_peak, peak_rss_mb, steady_seconds,
                             synthetic_batch)
from tfft.checkpoints.hub import resolve
from tfft.checkpoints.io import save_pretrained
from tfft.config import PRECISIONS, ConfigFlagError, RunConfig, TrainConfig
from tfft.data import Batches, Data, bucket_boundaries, encode_data, load_data
from tfft.models import DistilBertConfig
from tfft.runs import read_json, read_run
from tfft.serving.module import export_run, export_saved_model
from tfft.serving.predictors import load_predictor
from tfft.serving.text import TextEncoder, TextEncoderConfig, read_char_table
from tfft.tasks import TASKS
from tfft.tokenization import load_tokenizer
from tfft.train import train_config
from tfft.training.loop import make_model, make_trainer, train_and_evaluate
from tfft.training.steps import compiled_predict

MODES = ("train_step", "infer", "epoch", "head_epoch", "pipeline", "tokenizer", "serve", "memory")
# --mode=memory: configuration name -> its training flags (the peer script knows the same names).
MEMORY_CONFIGS = {"full": [], "recompute": ["--recompute"], "lora": ["--lora_rank=8"],
                  "lora_recompute": ["--lora_rank=8", "--recompute"], "adafactor": ["--optimizer=adafactor"]}
PEER_SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "scripts" / "peer_torch_memory.py"
flags.DEFINE_enum("mode", "train_step", MODES, "What to measure.")
flags.DEFINE_integer("calls", 10, "--mode=train_step/infer: timed steps (median reported).")
flags.DEFINE_integer("warmup_calls", 3, "--mode=train_step/infer: untimed steps first (the first traces).")
flags.DEFINE_string("run_dir", None, "--mode=serve: the training run whose best model to measure.")
flags.DEFINE_integer("examples", 1000, "--mode=serve: test texts to predict.")
flags.DEFINE_list("memory_configs", list(MEMORY_CONFIGS), "--mode=memory: the configurations measured: full "
                  "(AdamW), recompute, lora (rank 8 on query and value), lora_recompute, adafactor.")
flags.DEFINE_string("peer_script", str(PEER_SCRIPT) if PEER_SCRIPT.is_file() else "", "--mode=memory: the Hugging "
                    "Face + PyTorch (+ PEFT) peer run beside each configuration (needs torch and peft); empty: none.")
flags.DEFINE_string("output", None, "Also append the JSON line to this file.")
FLAGS = flags.FLAGS

# Models built from a config alone, with random weights: speed does not depend on the weights.
RANDOM_MODELS = {"distilbert-random": DistilBertConfig}  # Hugging Face's defaults are distilbert-base-uncased's
RANDOM_MODEL_TOKENIZER = "all-MiniLM-L6-v2"  # the same uncased 30,522-piece WordPiece vocabulary, packaged
# Label spaces of the synthetic batches: CoNLL-2003's 9 tags for NER, 2 classes otherwise.
SYNTHETIC_LABELS = {"token_classification": 9, "sequence_classification": 2}


def bench_config(values, scratch: pathlib.Path) -> TrainConfig:
    """The training flags as a TrainConfig; a RANDOM_MODELS name becomes a config-only directory in `scratch`."""
    config = train_config(values)
    if config.model not in RANDOM_MODELS:
        return config
    model_dir = scratch / config.model
    model_dir.mkdir(parents=True)
    files.write_json(model_dir / "config.json", RANDOM_MODELS[config.model]().to_dict())
    load_tokenizer(RANDOM_MODEL_TOKENIZER).save_pretrained(str(model_dir))
    return dataclasses.replace(config, model=str(model_dir), init="random")


def _setup(config: TrainConfig, model_name: str) -> dict:
    return {"model": model_name, "task": config.task, "batch_size": config.batch_size,
            "seq_length": config.max_seq_length, "precision": config.precision, "xla": config.xla}


def _peaks(config: TrainConfig) -> dict:
    """The matmul peaks MFU is measured against: float32, and the compute dtype when it is another."""
    dtype = tf.as_dtype(PRECISIONS[config.precision])
    peaks = {"float32": matmul_peak(tf.float32)}
    if dtype != tf.float32:
        peaks[dtype.name] = matmul_peak(dtype)
    return peaks


def _synthetic_labels(head: str) -> list[str]:
    return [f"label_{i}" for i in range(SYNTHETIC_LABELS[head])]


def _synthetic_batch(config: TrainConfig, head: str, model: tf.Module) -> dict[str, tf.Tensor]:
    return synthetic_batch(batch=config.batch_size, length=config.max_seq_length, vocab_size=model.config.vocab_size,
                           num_labels=SYNTHETIC_LABELS[head], token_level=head == "token_classification")


def _speed(seconds: float, examples: int, tokens: int, flops: int, peak: float) -> dict:
    return {"examples_per_second": round(examples / seconds, 2), "tokens_per_second": round(tokens / seconds, 1),
            "gflops_per_second": round(flops / seconds / 1e9, 1), "mfu": round(flops / seconds / 1e9 / peak, 3)}


def bench_train_step(config: TrainConfig, model_name: str, calls: int, warmup_calls: int,
                     scratch: pathlib.Path) -> dict:
    """The real step (grad_accum_steps micro-batches, then the update) on one synthetic batch, again and again; then
    the sizes of the model as a run saves it and of a training checkpoint."""
    task = TASKS[config.task]
    peaks = _peaks(config)
    trainer = make_trainer(config, task.head, _synthetic_labels(task.head), strategy=tf.distribute.get_strategy(),
                           total_steps=warmup_calls + calls)
    batch = _synthetic_batch(config, task.head, trainer.model)

    def step():  # as the loop does it: accumulate, read the loss sum and label weight, apply, read the step
        counts = [trainer.steps.accumulate(batch) for _ in range(config.grad_accum_steps)]
        trainer.steps.apply(*(tf.constant(sum(float(c[i]) for c in counts)) for i in (1, 0)))
        return int(trainer.optimizer.step)

    setup_peak = peak_rss_mb()  # the runtime, model, optimizer and batch before any step
    times = call_seconds(step, warmup_calls + calls)
    train_peak = peak_rss_mb()  # before the saves below
    seconds = steady_seconds(times, warmup_calls)
    examples = config.batch_size * config.grad_accum_steps
    flops = 3 * forward_flops(trainer.model.config, examples, config.max_seq_length)  # forward + backward
    peak = peaks[tf.as_dtype(PRECISIONS[config.precision]).name]["peak"]
    return {"mode": "train_step", **_setup(config, model_name), "optimizer": config.optimizer,
            "grad_accum_steps": config.grad_accum_steps, "freeze": config.freeze, "recompute": config.recompute,
            "lora_rank": config.lora_rank, "trainable_parameters": sum(int(np.prod(v.shape)) for v in trainer.trainable),
            "first_step_seconds": round(times[0], 3), "step_seconds": round(seconds, 6),
            **_speed(seconds, examples, examples * config.max_seq_length, flops, peak),
            "flops_per_step": flops, "matmul_peak_gflops": peaks, "traces": trainer.steps.traces,
            "setup_peak_rss_mb": setup_peak, "train_peak_rss_mb": train_peak, **_checkpoint_sizes(trainer, scratch)}


def _checkpoint_sizes(trainer, scratch: pathlib.Path) -> dict:
    """Bytes of what a run keeps: best/ (save_pretrained: the weights, or only the adapters and head under LoRA) and a
    training checkpoint (model and optimizer state)."""
    save_pretrained(trainer.model, scratch / "saved")
    tf.train.Checkpoint(model=trainer.model, optimizer=trainer.optimizer).write(str(scratch / "ckpt" / "c"))
    return {"saved_bytes": _directory_bytes(scratch / "saved"), "checkpoint_bytes": _directory_bytes(scratch / "ckpt")}


def _directory_bytes(path: pathlib.Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_memory(values, scratch: pathlib.Path) -> dict:
    """--mode=train_step once per MEMORY_CONFIGS configuration, each in its own process (peak memory is per process),
    and beside each the Hugging Face + PyTorch (+ PEFT) peer of the same configuration at the same shapes."""
    shared = [f"--model={values.model}", f"--task={values.task}", f"--batch_size={values.batch_size}",
              f"--max_seq_length={values.max_seq_length}", f"--calls={values.calls}",
              f"--warmup_calls={values.warmup_calls}", f"--precision={values.precision}",
              "--xla" if values.xla else "--noxla"]
    peer_model = values.model if values.model in RANDOM_MODELS else str(resolve(values.model))
    unknown = [name for name in values.memory_configs if name not in MEMORY_CONFIGS]
    if unknown:
        raise ConfigFlagError(f"--memory_configs: unknown {unknown[0]!r}; expected any of {', '.join(MEMORY_CONFIGS)}")
    rows = []
    for name in values.memory_configs:
        row = {"config": name, "tfft": _json_line([sys.executable, "-m", "tfft.bench", "--mode=train_step", *shared,
                                                   *MEMORY_CONFIGS[name]])}
        if values.peer_script:
            row["peer"] = _json_line([sys.executable, values.peer_script, f"--model={peer_model}", f"--config={name}",
                                      f"--batch={values.batch_size}", f"--seq={values.max_seq_length}",
                                      f"--calls={values.calls}", f"--warmup_calls={values.warmup_calls}"])
        rows.append(row)
    return {"mode": "memory", "model": values.model, "batch_size": values.batch_size,
            "seq_length": values.max_seq_length, "rows": rows}


def _json_line(command: list[str]) -> dict:
    """The last line of a benchmark process's output as JSON, or {"error": ...} with its last error line."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit code {result.returncode}"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_infer(config: TrainConfig, model_name: str, calls: int, warmup_calls: int, scratch: pathlib.Path) -> dict:
    """One synthetic batch: the model called as evaluation calls it (logits, loss, probabilities), then the exported
    SavedModel's id signature (its text signatures add the in-graph tokenizer: --mode=serve measures those)."""
    task = TASKS[config.task]
    peaks = _peaks(config)
    labels = _synthetic_labels(task.head)
    model = make_model(config, task.head, labels)
    batch = _synthetic_batch(config, task.head, model)
    predict = compiled_predict(model, xla=config.xla)
    times = {"python": call_seconds(lambda: predict(batch)[2].numpy(), warmup_calls + calls)}
    export_dir = export_saved_model(model, load_tokenizer(config.model), task=task.name, labels=labels,
                                    max_length=config.max_seq_length, export_dir=scratch / "export")
    serve = tf.saved_model.load(str(export_dir)).signatures["predict_ids"]
    inputs = {name: batch[name] for name in serve.structured_input_signature[1]}
    times["saved_model"] = call_seconds(lambda: serve(**inputs)["logits"].numpy(), warmup_calls + calls)
    flops = forward_flops(model.config, config.batch_size, config.max_seq_length)
    peak = peaks[tf.as_dtype(PRECISIONS[config.precision]).name]["peak"]
    result = {"mode": "infer", **_setup(config, model_name), "flops_per_batch": flops, "matmul_peak_gflops": peaks}
    for path, path_times in times.items():
        seconds = steady_seconds(path_times, warmup_calls)
        result[path] = {"first_call_seconds": round(path_times[0], 3), "batch_seconds": round(seconds, 6),
                        **_speed(seconds, config.batch_size, config.batch_size * config.max_seq_length, flops, peak)}
    return result


def bench_epoch(run: RunConfig, model_name: str, scratch: pathlib.Path) -> dict:
    """One epoch of tfft.train (no test evaluation, no export) in a scratch directory, from the loop's timing.json
    and the epoch-end validation."""
    run = RunConfig(dataclasses.replace(run.train, epochs=1.0, evaluate_test=False, export=False),
                    run.data)
    output_dir = scratch / "run"
    output_dir.mkdir()
    start = time.perf_counter()
    train_and_evaluate(run, output_dir)
    wall = time.perf_counter() - start
    timing = read_json(output_dir / "timing.json")
    validation = read_json(output_dir / "best_metrics.json")
    return {"mode": "epoch", **_setup(run.train, model_name), "dataset": run.data.description(),
            "lr": run.train.lr, "wall_seconds": round(wall, 1), **timing,
            "validation": {key: value for key, value in validation.items() if isinstance(value, float)}}


def bench_head_epoch(run: RunConfig, model_name: str, scratch: pathlib.Path) -> dict:
    """Head-only training (--freeze=all) for one epoch each way: through the frozen encoder (--feature_cache=off),
    then on cached features, the first time computing and writing the cache, the second time reading it."""
    cache = scratch / "features"
    results = {}
    for arm, setting in (("uncached", "off"), ("first_pass", str(cache)), ("cached", str(cache))):
        (scratch / arm).mkdir()
        results[arm] = bench_epoch(RunConfig(dataclasses.replace(run.train, freeze="all", feature_cache=setting),
                                             run.data), model_name, scratch / arm)
    epoch = {arm: result["train_seconds"] for arm, result in results.items()}
    return {"mode": "head_epoch", **_setup(run.train, model_name), "dataset": run.data.description(),
            "freeze": "all", "head": run.train.head, "feature_dtype": run.train.feature_dtype, "lr": run.train.lr,
            "examples": results["cached"]["examples"], "epoch_train_seconds": epoch,
            "features_seconds": {"compute_and_write": results["first_pass"]["seconds"]["features"],
                                 "read": results["cached"]["seconds"]["features"]},
            "cache_mb": round(sum(path.stat().st_size for path in cache.iterdir()) / 2**20, 1),
            "speedup_per_epoch": round(epoch["uncached"] / epoch["cached"], 1),
            "validation": {arm: result["validation"] for arm, result in results.items()}}


def bench_pipeline(values) -> dict:
    task = TASKS[values.task]
    tokenizer = load_tokenizer(values.model)
    start = time.perf_counter()
    config = cli.data_config(values)
    data = load_data(config, task)
    read_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as cache:
        timings = []
        for _ in range(2):  # cold (tokenize and write the cache), then warm (read the cache)
            start = time.perf_counter()
            encoded = encode_data(data, tokenizer, max_length=values.max_seq_length,
                                  label_all_subtokens=values.label_all_subtokens, cache_dir=pathlib.Path(cache))
            timings.append(time.perf_counter() - start)
    examples = sum(len(split) for split in data.splits.values())
    result = {"mode": "pipeline", "task": task.name, "dataset": config.description(), "model": values.model,
              "max_seq_length": values.max_seq_length, "batch_size": values.batch_size,
              "examples": {name: len(split) for name, split in data.splits.items()},
              "labels": len(data.labels), "read_and_split_seconds": round(read_seconds, 3),
              "tokenize_seconds": round(timings[0], 3), "cache_hit_seconds": round(timings[1], 3),
              "tokenize_examples_per_second": round(examples / timings[0], 1),
              "truncated": {name: int(e.truncated.sum()) for name, e in encoded.items()}}
    for padding in ("bucket", "max_length"):
        boundaries = bucket_boundaries(values.max_seq_length, padding, values.buckets, xla=values.xla)
        batches = Batches(encoded["train"], batch_size=values.batch_size, boundaries=boundaries,
                          pad_token_id=tokenizer.pad_token_id, seed=values.seed, shuffle=True)
        plan = batches.plan(0)
        start = time.perf_counter()
        count = sum(1 for _ in batches.dataset(epoch=0))
        seconds = time.perf_counter() - start
        result[padding] = {"train_batches": count, "batch_shapes": [list(s) for s in plan.shapes],
                           "padding_share": round(plan.padding_share(encoded["train"].lengths), 4),
                           "epoch_iteration_seconds": round(seconds, 3),
                           "batching_examples_per_second": round(len(encoded["train"]) / seconds, 1)}
    return result


def data_texts(data: Data, splits=("train", "validation", "test")) -> tuple[list[str], list[str] | None]:
    """The raw texts (and second texts of pairs) of the splits; NER sentences are their words joined by spaces."""
    texts, pairs = [], []
    for name in splits:
        split = data.splits[name]
        texts += [" ".join(words) for words in split.words] if split.words is not None else split.texts
        pairs += split.text_pairs or []
    return texts, pairs or None


def tokenizer_mismatches(tokenizer, texts: list[str], vocab_file: pathlib.Path) -> tuple[list[str], dict]:
    """The texts whose in-graph ids differ from the Hugging Face tokenizer's, and the seconds each took."""
    encoder = TextEncoder(read_char_table(tokenizer),
                          TextEncoderConfig.from_tokenizer(tokenizer, vocab_file, max_length=8))
    tokenize = tf.function(lambda text: encoder.tokenize(text)[0], input_signature=[tf.TensorSpec([None], tf.string)])
    tokenize(tf.constant(texts[:1]))  # trace before timing
    start = time.perf_counter()
    batches = [tokenize(tf.constant(texts[begin:begin + 4096])) for begin in range(0, len(texts), 4096)]
    seconds = {"in_graph": time.perf_counter() - start}  # the graph alone, not the conversion to lists below
    ours = [ids for batch in batches for ids in batch.to_list()]
    start = time.perf_counter()
    reference = tokenizer(texts, add_special_tokens=False)["input_ids"]
    seconds["hugging_face"] = time.perf_counter() - start
    return [text for text, a, b in zip(texts, ours, reference) if a != b], seconds


def bench_tokenizer(values) -> dict:
    tokenizer = load_tokenizer(values.model)
    config = cli.data_config(values)
    data = load_data(config, TASKS[values.task])
    texts, pairs = data_texts(data)
    texts += pairs or []
    with tempfile.TemporaryDirectory() as scratch:
        mismatches, seconds = tokenizer_mismatches(tokenizer, texts, pathlib.Path(scratch) / "vocab.txt")
    return {"mode": "tokenizer", "dataset": config.description(), "model": values.model, "texts": len(texts),
            "mismatches": len(mismatches), "first_mismatches": mismatches[:5],
            "seconds": {k: round(v, 3) for k, v in seconds.items()}}


def bench_serve(values) -> dict:
    """Both prediction paths on the same texts, in batches of --batch_size, after one warm-up batch each."""
    if not values.run_dir:
        cli.fail("--mode=serve needs --run_dir=RUN (a training run with a best/ model)")
    run = read_run(values.run_dir)
    data = load_data(run.data, TASKS[run.train.task])
    texts, pairs = data_texts(data, ("test",))
    texts, pairs = texts[:values.examples], pairs[:values.examples] if pairs else None
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        export_dir = export_run(values.run_dir, pathlib.Path(scratch) / "export")
        export_seconds = time.perf_counter() - start
        predictors = {"saved_model": load_predictor(export_dir), "python": load_predictor(values.run_dir)}
        records, speed = {}, {}
        for name, predictor in predictors.items():
            predictor.predict(texts[:values.batch_size], pairs[:values.batch_size] if pairs else None)
            start = time.perf_counter()
            records[name] = []
            for begin in range(0, len(texts), values.batch_size):
                end = begin + values.batch_size
                records[name] += predictor.predict(texts[begin:end], pairs[begin:end] if pairs else None)
            speed[name] = round(len(texts) / (time.perf_counter() - start), 1)
    result = {"mode": "serve", "run_dir": values.run_dir, "task": run.train.task, "examples": len(texts),
              "batch_size": values.batch_size, "export_seconds": round(export_seconds, 1),
              "examples_per_second": speed}
    result.update(_differences(records["saved_model"], records["python"]))
    return result


def _differences(ours: list[dict], reference: list[dict]) -> dict:
    """Largest probability (NER: entity score) difference and the records whose labels or entities differ."""
    if "probabilities" in ours[0]:
        differences = [abs(a["probabilities"][k] - b["probabilities"][k])
                       for a, b in zip(ours, reference) for k in a["probabilities"]]
        differing = sum(a["label"] != b["label"] for a, b in zip(ours, reference))
    else:
        differences = [abs(x["score"] - y["score"]) for a, b in zip(ours, reference)
                       for x, y in zip(a["entities"], b["entities"])]
        differing = sum((a["words"], [e["text"] for e in a["entities"]]) !=
                        (b["words"], [e["text"] for e in b["entities"]]) for a, b in zip(ours, reference))
    return {"max_probability_difference": float(np.max(differences, initial=0.0)), "differing_predictions": differing}


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        if FLAGS.mode in ("train_step", "infer", "epoch", "head_epoch"):
            config = bench_config(FLAGS, scratch)
            if FLAGS.mode == "train_step":
                result = bench_train_step(config, FLAGS.model, FLAGS.calls, FLAGS.warmup_calls, scratch)
            elif FLAGS.mode == "infer":
                result = bench_infer(config, FLAGS.model, FLAGS.calls, FLAGS.warmup_calls, scratch)
            else:
                bench = bench_epoch if FLAGS.mode == "epoch" else bench_head_epoch
                result = bench(RunConfig(config, cli.data_config(FLAGS)), FLAGS.model, scratch)
        elif FLAGS.mode == "memory":
            result = bench_memory(FLAGS, scratch)
        else:
            result = {"pipeline": bench_pipeline, "tokenizer": bench_tokenizer, "serve": bench_serve}[FLAGS.mode](FLAGS)
    result["peak_rss_mb"] = peak_rss_mb()
    result["cpu"] = cpu_description()
    line = json.dumps(result)
    print(line)
    if FLAGS.output:
        with open(FLAGS.output, "a", encoding="utf-8") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    cli.run(main)
