"""`python -m tfft.bench`: measurements, one JSON line per run (optionally appended to --output).

--mode=data: the data pipeline on the data set the flags name: read + split time, tokenize time (cold),
cache-hit time, batch shapes, padding share with length buckets vs --padding=max_length, and the split
sizes. Example: python -m tfft.bench --mode=data --flagfile=flags/conll2003.cfg
"""

import json
import pathlib
import tempfile
import time

from absl import flags

from tfft import cli
from tfft.data import Batches, bucket_boundaries, encode_data, load_data
from tfft.tasks import TASKS
from tfft.tokenization import load_tokenizer

cli.define_data_flags()
flags.DEFINE_enum("mode", "data", ["data"], "What to measure.")
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


def main(argv):
    del argv
    result = bench_data(FLAGS)
    line = json.dumps(result)
    print(line)
    if FLAGS.output:
        with open(FLAGS.output, "a", encoding="utf-8") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    cli.run(main)
