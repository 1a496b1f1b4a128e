"""`python -m tfft.predict`: labels (or entities, or the fillers of [MASK] tokens) for raw texts, as JSONL.

    python -m tfft.predict --model_dir=runs/sst2/export "a gripping film" "dull and overlong"
    python -m tfft.predict --model_dir=runs/ner --input_file=news.txt --output_file=entities.jsonl
    python -m tfft.predict --model_dir=runs/mlm/best --task=mlm --top_k=5 "a sentence with a [MASK] token"

--model_dir is a SavedModel export (TensorFlow only), a run directory or a run's best/ (the Python path: tfft
model + Hugging Face tokenizer). Input: one text per line, or JSONL objects with "text" (and "text_pair");
for the pair task a plain line is "text<TAB>text_pair", and so is a command-line text. The file is read and
predicted in batches, so memory stays flat however long it is; blank lines are skipped; --output_file
appears only when complete. Each output line holds its input text.
"""

import json
import pathlib
import sys
from collections.abc import Iterator

import tqdm
from absl import flags

from tfft import cli, files
from tfft.data import DataError
from tfft.serving.predictors import load_predictor

flags.DEFINE_string("model_dir", None, "A SavedModel export, a training run directory, or a run's best/ model.")
flags.DEFINE_string("input_file", None, "Texts to label: one per line (pair task: text<TAB>text_pair), or .jsonl "
                    "objects with 'text' (and 'text_pair').")
flags.DEFINE_string("output_file", None, "Where to write the JSONL predictions (default: stdout).")
flags.DEFINE_integer("batch_size", 64, "Texts per model call.")
flags.DEFINE_enum("task", None, ["classification", "pair", "ner", "mlm"], "Checked against the run's task; mlm also "
                  "takes any Hugging Face masked-LM directory.")
flags.DEFINE_integer("top_k", 5, "--task=mlm: fillers listed per [MASK] token.")
flags.mark_flag_as_required("model_dir")
FLAGS = flags.FLAGS


def read_inputs(path: pathlib.Path, *, pair: bool) -> Iterator[tuple[str, str | None]]:
    """(text, text_pair) per input line, with one-line errors naming the file and line."""
    with open(path, "rb") as file:
        jsonl = None
        for number, raw in enumerate(file, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise DataError(f"{path} line {number}: not UTF-8 ({err.reason} at byte {err.start})") from None
            if not line.strip():
                continue
            if jsonl is None:
                jsonl = path.suffix in (".jsonl", ".json") or line.lstrip().startswith("{")
            yield (_json_input if jsonl else _plain_input)(line, path, number, pair=pair)


def _json_input(line: str, path: pathlib.Path, number: int, *, pair: bool) -> tuple[str, str | None]:
    try:
        record = json.loads(line)
    except ValueError as err:
        raise DataError(f"{path} line {number}: not JSON ({err})") from None
    keys = ("text", "text_pair") if pair else ("text",)
    if not isinstance(record, dict) or not all(isinstance(record.get(key), str) for key in keys):
        raise DataError(f"{path} line {number}: expected a JSON object with string {' and '.join(keys)}")
    return record["text"], record.get("text_pair") if pair else None


def _plain_input(line: str, where, number: int | None, *, pair: bool) -> tuple[str, str | None]:
    if not pair:
        return line, None
    text, tab, text_pair = line.partition("\t")
    if not tab:
        place = f"{where} line {number}" if number else where
        raise DataError(f"{place}: the pair task needs text<TAB>text_pair")
    return text, text_pair


def batches(items, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def main(argv):
    texts = argv[1:]
    if bool(texts) == bool(FLAGS.input_file):
        cli.fail("give texts as arguments or --input_file=FILE (one of the two)")
    if FLAGS.batch_size < 1:
        cli.fail(f"--batch_size={FLAGS.batch_size}: expected at least 1")
    if FLAGS.top_k < 1:
        cli.fail(f"--top_k={FLAGS.top_k}: expected at least 1")
    path = pathlib.Path(FLAGS.input_file or "")
    if FLAGS.input_file and not path.is_file():
        raise DataError(f"--input_file={path}: no such file")
    predictor = load_predictor(FLAGS.model_dir, task=FLAGS.task, top_k=FLAGS.top_k)
    pair = predictor.task.pair
    if texts:
        inputs, total = (_plain_input(text, "argument", None, pair=pair) for text in texts), None
    else:
        inputs = read_inputs(path, pair=pair)
        with open(path, "rb") as file:
            total = sum(1 for _ in file)

    def write(out) -> None:
        with tqdm.tqdm(total=total, unit="text", file=sys.stderr, disable=total is None, mininterval=1.0) as progress:
            for batch in batches(inputs, FLAGS.batch_size):
                firsts, seconds = zip(*batch)
                for record in predictor.predict(list(firsts), list(seconds) if pair else None):
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                progress.update(len(batch))

    if FLAGS.output_file is None:
        write(sys.stdout)
        return
    with files.atomic_open(FLAGS.output_file) as out:
        write(out)


if __name__ == "__main__":
    cli.run(main)
