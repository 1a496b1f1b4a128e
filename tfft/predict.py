"""`python -m tfft.predict`: labels (or entities, or the fillers of [MASK] tokens) for raw texts, as JSONL.

    python -m tfft.predict --model_dir=runs/sst2/export "a gripping film" "dull and overlong"
    python -m tfft.predict --model_dir=runs/ner --input_file=news.txt --output_file=entities.jsonl
    python -m tfft.predict --model_dir=runs/mlm/best --task=mlm --top_k=5 "a sentence with a [MASK] token"

--model_dir is a SavedModel export (TensorFlow only), a run directory or a run's best/ (the Python path: tfft
model + Hugging Face tokenizer). Input: one text per line, or JSONL objects with "text" (and "text_pair");
for the pair task a plain line is "text<TAB>text_pair", and so is a command-line text. The file is read and
predicted in batches, so memory stays flat however long it is; --output_file appears only when complete. Each
output line holds its input text.

Blank texts (empty or whitespace only; for the pair task either text), from a command-line argument, a line or a
JSONL record alike, are skipped, as training skips them, with one warning naming where they were ("argument 2",
FILE:LINE). The whole input is checked before anything is predicted: a bad line is one error `FILE:LINE: what was
expected`, and the progress bar counts exactly the texts predicted.
"""

import json
import pathlib
import sys
from collections.abc import Iterator

import tqdm
from absl import flags, logging

from tfft import cli, files
from tfft.data import DataError
from tfft.serving.predictors import load_predictor

flags.DEFINE_string("model_dir", None, "A SavedModel export, a training run directory, or a run's best/ model.")
flags.DEFINE_string("input_file", None, "Texts to label: one per line (pair task: text<TAB>text_pair), or .jsonl "
                    "objects with 'text' (and 'text_pair'). Blank texts, here or as arguments, are skipped with a "
                    "warning.")
flags.DEFINE_string("output_file", None, "Where to write the JSONL predictions (default: stdout).")
flags.DEFINE_integer("batch_size", 64, "Texts per model call.")
flags.DEFINE_enum("task", None, ["classification", "pair", "ner", "mlm"], "Checked against the run's task; mlm also "
                  "takes any Hugging Face masked-LM directory.")
flags.DEFINE_integer("top_k", 5, "--task=mlm: fillers listed per [MASK] token.")
flags.mark_flag_as_required("model_dir")
FLAGS = flags.FLAGS
SKIPPED_NAMED = 10  # places of skipped blank texts the warning lists


Input = tuple[str, str, str | None]
"""(place: "FILE:LINE" or "argument N", text, text_pair or None)"""


def read_inputs(path: pathlib.Path, *, pair: bool) -> Iterator[Input]:
    """Every line of the file as an input, blank ones included; bad lines are one-line errors FILE:LINE: ...."""
    with open(path, "rb") as file:
        jsonl = None
        for number, raw in enumerate(file, start=1):
            place = f"{path}:{number}"
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise DataError(f"{place}: not UTF-8 ({err.reason} at byte {err.start})") from None
            if jsonl is None and line.strip():
                jsonl = path.suffix in (".jsonl", ".json") or line.lstrip().startswith("{")
            parse = _json_input if jsonl and line.strip() else _plain_input  # a blank line is a blank text
            yield place, *parse(line, place, pair=pair)


def read_arguments(texts: list[str], *, pair: bool) -> Iterator[Input]:
    for number, text in enumerate(texts, start=1):
        place = f"argument {number}"
        yield place, *_plain_input(text, place, pair=pair)


def blank(text: str, text_pair: str | None) -> bool:
    """Nothing to predict: the text, or a pair's second text, is empty or whitespace only."""
    return not text.strip() or (text_pair is not None and not text_pair.strip())


def _json_input(line: str, place: str, *, pair: bool) -> tuple[str, str | None]:
    try:
        record = json.loads(line)
    except ValueError as err:
        raise DataError(f"{place}: not JSON ({err})") from None
    keys = ("text", "text_pair") if pair else ("text",)
    if not isinstance(record, dict) or not all(isinstance(record.get(key), str) for key in keys):
        raise DataError(f"{place}: expected a JSON object with string {' and '.join(keys)}")
    return record["text"], record.get("text_pair") if pair else None


def _plain_input(line: str, place: str, *, pair: bool) -> tuple[str, str | None]:
    if not pair or not line.strip():  # a blank line has no tab to find
        return line, None
    text, tab, text_pair = line.partition("\t")
    if not tab:
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

    def inputs() -> Iterator[Input]:
        return read_arguments(texts, pair=pair) if texts else read_inputs(path, pair=pair)

    total, skipped, named = 0, 0, []
    for place, *both in inputs():  # a first pass: every input checked and counted before anything is predicted
        if not blank(*both):
            total += 1
            continue
        skipped += 1
        if skipped <= SKIPPED_NAMED:
            named.append(place)
    if skipped:
        logging.warning("skipped %d blank text%s (empty or whitespace only): %s%s", skipped, "s" * (skipped > 1),
                        ", ".join(named), ", ..." if skipped > len(named) else "")
    predicted = (both for _, *both in inputs() if not blank(*both))

    def write(out) -> None:
        with tqdm.tqdm(total=total, unit="text", file=sys.stderr, disable=bool(texts), mininterval=1.0) as progress:
            for batch in batches(predicted, FLAGS.batch_size):
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
