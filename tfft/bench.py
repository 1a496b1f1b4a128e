"""`python -m tfft.bench`: measurements, one JSON line per run (optionally appended to --output).

--mode=data: the data pipeline on the data set the flags name: read + split time, tokenize time (cold),
cache-hit time, batch shapes, padding share with length buckets vs --padding=max_length, and the split
sizes. Example: python -m tfft.bench --mode=data --flagfile=flags/conll2003.cfg
--mode=tokenizer: the in-graph (SavedModel) tokenizer against the Hugging Face tokenizer on every text of
every split of the data set: texts whose ids differ, and the time each takes.
Example: python -m tfft.bench --mode=tokenizer --flagfile=flags/sst2.cfg
--mode=serve: the SavedModel export against the Python path (tfft model + Hugging Face tokenizer) on the first
--examples test texts of a run's data set: examples per second, max probability difference, label mismatches.
Example: python -m tfft.bench --mode=serve --run_dir=runs/sst2 --examples=1000
"""

import json
import pathlib
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import flags

from tfft import cli
from tfft.data import Batches, Data, bucket_boundaries, encode_data, load_data
from tfft.runs import read_run
from tfft.serving.module import export_run
from tfft.serving.predictors import load_predictor
from tfft.serving.text import TextEncoder, TextEncoderConfig, read_char_table
from tfft.tasks import TASKS
from tfft.tokenization import load_tokenizer

cli.define_data_flags()
flags.DEFINE_enum("mode", "data", ["data", "tokenizer", "serve"], "What to measure.")
flags.DEFINE_string("run_dir", None, "--mode=serve: the training run whose best model to measure.")
flags.DEFINE_integer("examples", 1000, "--mode=serve: test texts to predict.")
flags.DEFINE_string("output", None, "Also append the JSON line to this file.")
FLAGS = flags.FLAGS


def bench_data(values) -> dict:
    task = TASKS[values.task]
    tokenizer = load_tokenizer(values.model)
    start = time.perf_counter()
    data = load_data(cli.data_config(values), task)
    read_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as cache:
        timings = []
        for _ in range(2):  # cold (tokenize and write the cache), then warm (read the cache)
            start = time.perf_counter()
            encoded = encode_data(data, tokenizer, max_length=values.max_seq_length,
                                  label_all_subtokens=values.label_all_subtokens, cache_dir=pathlib.Path(cache))
            timings.append(time.perf_counter() - start)
    result = {"mode": "data", "task": task.name, "dataset": values.dataset, "model": values.model,
              "max_seq_length": values.max_seq_length, "batch_size": values.batch_size,
              "examples": {name: len(split) for name, split in data.splits.items()},
              "labels": len(data.labels), "read_and_split_seconds": round(read_seconds, 3),
              "tokenize_seconds": round(timings[0], 3), "cache_hit_seconds": round(timings[1], 3),
              "truncated": {name: int(e.truncated.sum()) for name, e in encoded.items()}}
    for padding in ("bucket", "max_length"):
        boundaries = bucket_boundaries(values.max_seq_length, padding, values.buckets)
        batches = Batches(encoded["train"], batch_size=values.batch_size, boundaries=boundaries,
                          pad_token_id=tokenizer.pad_token_id, seed=values.seed, shuffle=True)
        plan = batches.plan(0)
        start = time.perf_counter()
        count = sum(1 for _ in batches.dataset(epoch=0))
        result[padding] = {"train_batches": count, "batch_shapes": [list(s) for s in plan.shapes],
                           "padding_share": round(plan.padding_share(encoded["train"].lengths), 4),
                           "epoch_iteration_seconds": round(time.perf_counter() - start, 3)}
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
    data = load_data(cli.data_config(values), TASKS[values.task])
    texts, pairs = data_texts(data)
    texts += pairs or []
    with tempfile.TemporaryDirectory() as scratch:
        mismatches, seconds = tokenizer_mismatches(tokenizer, texts, pathlib.Path(scratch) / "vocab.txt")
    return {"mode": "tokenizer", "dataset": values.dataset, "model": values.model, "texts": len(texts),
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
    result = {"data": bench_data, "tokenizer": bench_tokenizer, "serve": bench_serve}[FLAGS.mode](FLAGS)
    line = json.dumps(result)
    print(line)
    if FLAGS.output:
        with open(FLAGS.output, "a", encoding="utf-8") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    cli.run(main)
