"""Where examples come from: the embedded sample, a local file or directory, a Hugging Face Hub data set, and the
files --train_file / --validation_file / --test_file name (they replace or complete the --dataset's splits).

`read_splits(config, task)` returns the splits as found ({'train': Examples, ...}); making the missing
ones is tfft/data/splits.py's job. A file's format is --format, else its suffix, else what its content looks
like (JSON, CoNLL token-tag lines, a delimited table). A directory is read by file names: a file whose name names
a split is read (or, when its content is no format tfft reads, the run stops naming the flag that takes it), and
the other files are listed in one warning.
"""

import dataclasses
import itertools
import json
import logging
import pathlib
import re

from tfft.data.examples import DataError, Examples
from tfft.data.readers import DELIMITERS, lines_of, read_conll, read_delimited, read_jsonl, read_text, sniff_delimiter
from tfft.tasks.ner import check_tag

log = logging.getLogger(__name__)

SAMPLE_DIR = pathlib.Path(__file__).parent / "sample"
SPLIT_WORDS = {"train": "train", "training": "train", "dev": "validation", "val": "validation",
               "valid": "validation", "validation": "validation", "test": "test", "testing": "test"}
SPLIT_FLAGS = {"train": "train_file", "validation": "validation_file", "test": "test_file"}
FORMATS = ("csv", "tsv", "txt", "jsonl", "json", "conll")  # --format values besides 'auto'; each also a suffix
DATA_SUFFIXES = tuple(f".{name}" for name in FORMATS)
LABEL_NAME_FILES = ("classes.txt", "labels.txt", "label_names.txt")
DOC_NAMES = ("readme", "source", "license", "licence", "citation", "changelog", "notice")  # name up to the first dot
# A text is cut to this many characters per --max_seq_length token while it is read (it is truncated to that many
# tokens anyway, and tokenizing one row of 100 million characters took 13.9 GB). A WordPiece token is a piece of a
# word of at most 100 characters (a longer word is one [UNK]: max_input_chars_per_word), so the words that make the
# first max_seq_length tokens end inside the cut, and tokenize as before, unless the text runs near 100 characters a
# token: long runs of whitespace or of characters the tokenizer drops, or words over 100 characters. English runs
# 4.1-4.6 characters a token (all-MiniLM-L6-v2 on 3,000 texts each of SST-2, AG News and emotion; 7.25 at most).
# In a pair with a cut text, the odd token of an odd budget may go to the other text when both run past half the
# budget ('longest_first' truncation gives it to the longer, and the cut may hide which that is).
CHARS_PER_TOKEN = 100

# Column names tried, in order, when a column is not given (case-insensitive).
TEXT_NAMES = ("text", "sentence", "sentence1", "review", "content", "document", "tweet", "question1", "text_a",
              "#1 string", "definition-1", "definition1")
PAIR_NAMES = ("text_pair", "sentence2", "question2", "text_b", "#2 string", "definition-2", "definition2")
LABEL_NAMES = ("label", "labels", "label_name", "class", "category", "target", "sentiment", "quality",
               "binary_label")
WORD_NAMES = ("tokens", "words")
TAG_NAMES = ("ner_tags", "tags", "labels", "label")

# Hub data sets whose canonical repository moved or needs a config: --dataset name -> (repository, config).
HUB_ALIASES = {
    "conll2003": ("eriktks/conll2003", None),
    "imdb": ("stanfordnlp/imdb", None),
    "ag_news": ("fancyzhx/ag_news", None),
    "emotion": ("dair-ai/emotion", None),
    "glue/sst2": ("nyu-mll/glue", "sst2"),
    "glue/mrpc": ("nyu-mll/glue", "mrpc"),
}


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the data is and how to read and split it. Field names are the training CLI's flag names."""

    dataset: str | None = "sample"  # None: --train_file / --validation_file / --test_file give the splits
    train_file: str | None = None
    validation_file: str | None = None
    test_file: str | None = None
    format: str = "auto"  # of every file read: one of FORMATS, or 'auto' (the suffix, else the content)
    text_column: str | None = None  # name or 0-based index; 'a,b' joins several columns with a space
    text_pair_column: str | None = None
    label_column: str | None = None
    delimiter: str | None = None
    quoting: str = "auto"
    header: str = "auto"  # 'yes', 'no', or 'auto' (see _has_header)
    tag_scheme: str = "auto"
    label_names: str | None = None  # comma-separated names, or a file with one name per line
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    max_train_examples: int | None = None
    seed: int = 0
    strict: bool = False
    train_label_fraction: str | None = None  # 'label:fraction,...': keep that share of a class's training examples
    train_on_validation: bool = False  # train on train + validation (the refit of a study)
    max_seq_length: int | None = None  # texts are cut to CHARS_PER_TOKEN characters a token as they are read

    def __post_init__(self):
        if self.dataset is None and not self.split_files():
            raise DataError("no data: expected --dataset, or --train_file (with --validation_file / --test_file, or "
                            "without: the missing splits are carved from it)")
        if self.format not in ("auto", *FORMATS):
            raise DataError(f"--format={self.format!r}: expected auto or one of {', '.join(FORMATS)}")
        if self.max_seq_length is not None and self.max_seq_length < 1:
            raise DataError(f"--max_seq_length={self.max_seq_length}: expected at least 1")
        for name in ("val_fraction", "test_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise DataError(f"--{name}={getattr(self, name)}: expected a fraction strictly between 0 and 1")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise DataError(f"--val_fraction + --test_fraction = {self.val_fraction + self.test_fraction}: "
                            "must leave some training data (expected a sum below 1)")
        if self.header not in ("auto", "yes", "no"):
            raise DataError(f"--header={self.header!r}: expected auto, yes or no")
        if self.max_train_examples is not None and self.max_train_examples < 2:
            raise DataError(f"--max_train_examples={self.max_train_examples}: expected at least 2")
        self.label_fractions()

    def label_fractions(self) -> dict[str, float]:
        """--train_label_fraction as {label: fraction}, e.g. 'positive:0.1' -> {'positive': 0.1}."""
        fractions = {}
        for item in filter(None, (self.train_label_fraction or "").split(",")):
            label, _, value = item.rpartition(":")
            try:
                fraction = float(value)
            except ValueError:
                fraction = -1.0
            if not label or not 0.0 < fraction <= 1.0:
                raise DataError(f"--train_label_fraction={self.train_label_fraction}: expected label:fraction pairs "
                                f"with fractions in (0, 1], e.g. positive:0.1 (got {item!r})")
            fractions[label] = fraction
        return fractions

    def split_files(self) -> dict[str, str]:
        """{split: file} of the --train_file, --validation_file and --test_file given."""
        return {split: getattr(self, flag) for split, flag in SPLIT_FLAGS.items() if getattr(self, flag)}

    def description(self) -> str:
        """The data in a few words, for reports: --dataset and the split files given beside or instead of it."""
        files = [f"{split} {path}" for split, path in self.split_files().items()]
        return ", ".join(filter(None, [self.dataset, *files]))

    def max_text_chars(self) -> int | None:
        """How long a text may be when it is read (see CHARS_PER_TOKEN); None: as long as it is."""
        return None if self.max_seq_length is None else CHARS_PER_TOKEN * self.max_seq_length


def split_of(path: pathlib.Path) -> str | None:
    """The split a file's whole name names: 'train.tsv' -> train, 'dev.txt' -> validation, 'msr_paraphrase_test.txt'
    and 'emerging.test.annotated' -> test, 'wnut17train.conll' -> train."""
    found = {SPLIT_WORDS[w] for w in re.split(r"[^a-z]+", path.name.lower()) if w in SPLIT_WORDS}
    return found.pop() if len(found) == 1 else None


def _is_file(spec: str) -> bool:
    try:
        return pathlib.Path(spec).is_file()
    except OSError:  # a comma list longer than a file name may be
        return False


def _label_names(config: DataConfig, directory: pathlib.Path | None, task) -> list[str] | None:
    spec = config.label_names
    if spec is None and directory is not None:
        spec = next((str(directory / n) for n in LABEL_NAME_FILES if (directory / n).is_file()), None)
    if spec is None:
        return None
    from_file = _is_file(spec)
    names = [n.strip() for n in (read_text(pathlib.Path(spec)).split("\n") if from_file else spec.split(","))]
    names = [n for n in names if n]
    source = spec if from_file else f"--label_names={spec!r}"
    twice = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if twice is not None:
        raise DataError(f"{source}: label name {twice!r} is listed twice")
    problem = next(filter(None, map(check_tag, names)), None) if task.name == "ner" else None
    if problem:
        raise DataError(f"{source}: {problem}")
    return names


def _label_id(label: str) -> int | None:
    """The integer a label spells ('3', '-1'), else None. Decimal digits only, as int() takes them (not '²'); no
    label id has more than 18."""
    digits = label.removeprefix("-")
    return int(label) if digits.isdecimal() and len(digits) <= 18 else None


def _map_label_ints(splits: dict[str, Examples], names: list[str] | None) -> dict[str, Examples]:
    """Integer labels (NER: tags) -> names when names are given and every label is an integer: 0-based, or 1-based
    when the ids run 1..K (AG News). Decided once for all splits: a split that lacks a class reads like the others."""
    if names is None:
        return splits
    ids = [(_label_id(label), place) for examples in splits.values()
           for labels, place in zip(examples.labels, examples.where)
           for label in (labels if examples.words is not None else [labels])]
    if any(i is None for i, _ in ids):
        return splits
    base = 1 if min(i for i, _ in ids) >= 1 and max(i for i, _ in ids) == len(names) else 0
    bad = next(((i, place) for i, place in ids if not 0 <= i - base < len(names)), None)
    if bad:
        raise DataError(f"{bad[1]}: label id {bad[0]} does not index the {len(names)} label names {names} (ids count "
                        f"from 0, or from 1 when they run 1..{len(names)})")
    name = lambda label: names[int(label) - base]  # noqa: E731
    return {split: dataclasses.replace(examples, labels=[
        [name(tag) for tag in labels] if examples.words is not None else name(labels) for labels in examples.labels])
        for split, examples in splits.items()}


def _label_problem(label: str, ner: bool) -> str | None:
    """Why a label (NER: tag) cannot be one: a line break in it (a stray quote merged lines), or not BIO."""
    if "\n" in label or "\r" in label:
        return f"label {label!r} spans lines; check --quoting (a stray quote merges lines)"
    return check_tag(label) if ner else None


def _resolve_column(spec: str | None, header: list[str] | None, default_names: tuple[str, ...], path,
                    flag: str) -> list[int] | None:
    """Column indices for a flag value ('2', 'title,description', 'sentence'), or the default by name."""
    lowered = [h.strip().lower() for h in header] if header else None
    if spec is None:
        if lowered is None:
            return None
        return next(([lowered.index(n)] for n in default_names if n in lowered), None)
    indices = []
    for part in spec.split(","):
        part = part.strip()
        if part.isdecimal():
            indices.append(int(part))
        elif lowered is not None and part.lower() in lowered:
            indices.append(lowered.index(part.lower()))
        else:
            available = (", ".join(map(repr, header)) if header  # repr: a name may hold a line break
                         else "none: the file has no header line, use 0-based indices")
            raise DataError(f"{path}: --{flag}={spec!r}: no column {part!r}; available columns: {available}")
    return indices


def _guess_columns(rows: list[list[str]], header: list[str] | None, path, text: list[int] | None,
                   pair: list[int] | None, label: list[int] | None,
                   task_pair: bool) -> tuple[list[int], list[int] | None, list[int]]:
    """The columns no flag or header name chose, from the others: the label is the one with the fewest distinct
    values, the text (and pair) the longest on average. A column whose every value is distinct is no label."""
    free = [c for c in range(len(rows[0])) if c not in (text or []) + (pair or []) + (label or [])]
    missing = ["label"] * (label is None) + ["text"] * (text is None) + ["text_pair"] * (task_pair and pair is None)
    if len(free) < len(missing):
        raise DataError(f"{path}: no column is left for the {missing[-1].replace('_', ' ')} (the file has "
                        f"{len(rows[0])}); set --{missing[-1]}_column")
    if label is None:
        distinct = {c: len({row[c] for row in rows}) for c in free}
        label = [min(free, key=lambda c: (distinct[c], c))]
        if distinct[label[0]] == len(rows) > 1:
            name = repr(header[label[0]]) if header else label[0]
            raise DataError(f"{path}: column {name} cannot be the label: every value in it is distinct ({len(rows)} "
                            f"distinct values in {len(rows)} rows), and a label repeats its classes; set "
                            "--label_column")
        free.remove(label[0])
    mean_length = {c: sum(len(row[c]) for row in rows) / len(rows) for c in free}
    longest = sorted(sorted(mean_length, key=mean_length.get, reverse=True)[: len(missing) - ("label" in missing)])
    text = text or [longest.pop(0)]
    pair = (pair or [longest.pop(0)]) if task_pair else None
    return text, pair, label


def _join_columns(row, cols: list) -> str:
    """The row's fields in `cols`, stripped, empty ones left out, joined by a space ('title,description')."""
    return " ".join(filter(None, (str(row[c]).strip() for c in cols)))


def _examples_from_rows(rows: list[dict[int, str]] | list[list[str]], lines, source, text_cols, pair_cols,
                        label_cols, config: DataConfig) -> Examples:
    texts, pairs, labels, where, skipped, cut = [], [] if pair_cols else None, [], [], 0, 0
    limit = config.max_text_chars()
    for row, line in zip(rows, lines):
        text = _join_columns(row, text_cols)
        pair_text = _join_columns(row, pair_cols) if pair_cols else None
        label = _join_columns(row, label_cols)
        place = f"{source}:{line}"
        if not label:
            raise DataError(f"{place}: empty label")
        if problem := _label_problem(label, ner=False):
            raise DataError(f"{place}: {problem}")
        if not text or (pair_cols and not pair_text):
            if config.strict:
                raise DataError(f"{place}: empty text (drop --strict to skip such rows with a warning)")
            skipped += 1
            continue
        if limit is not None:
            cut += (len(text) > limit) + (pair_text is not None and len(pair_text) > limit)
            text, pair_text = text[:limit], pair_text and pair_text[:limit]
        texts.append(text)
        if pairs is not None:
            pairs.append(pair_text)
        labels.append(label)
        where.append(place)
    if skipped:
        log.warning("%s: skipped %d rows with an empty text (--strict makes this an error)", source, skipped)
    if cut:
        log.warning("%s: cut %d texts to their first %d characters as they were read (%d a token of "
                    "--max_seq_length=%d: the tokens kept are the same)", source, cut, limit, CHARS_PER_TOKEN,
                    config.max_seq_length)
    if not texts:
        raise DataError(f"{source}: no examples with text")
    return Examples(labels=labels, where=where, texts=texts, text_pairs=pairs)


def _has_header(rows: list[list[str]], config: DataConfig) -> bool:
    """'auto': a column given by name, a known column name in the first row, or a first-row label that never
    recurs in a label column whose other values do (a label column repeats its few values; a header does not)."""
    if config.header != "auto":
        return config.header == "yes"
    specs = (config.text_column, config.text_pair_column, config.label_column)
    if any(spec and not spec.replace(",", "").replace(" ", "").isdecimal() for spec in specs):
        return True
    if any(field.strip().lower() in TEXT_NAMES + PAIR_NAMES + LABEL_NAMES for field in rows[0]):
        return True
    label = int(config.label_column) if config.label_column and config.label_column.isdecimal() else None
    if label is not None and label < len(rows[0]) and len(rows) > 2:  # a wrong index is reported by the caller
        column = [row[label] for row in rows[1:]]
        return rows[0][label] not in column and len(set(column)) < len(column)
    return False


def _read_table_file(path: pathlib.Path, task, config: DataConfig, fmt: str) -> Examples:
    table = read_delimited(path, delimiter=_delimiter(config, fmt), quoting=config.quoting)
    has_header = _has_header(table.rows, config)
    header = table.rows[0] if has_header else None
    rows, lines = (table.rows[1:], table.lines[1:]) if has_header else (table.rows, table.lines)
    if not rows:
        raise DataError(f"{path}: no data rows after the header line")
    text = _resolve_column(config.text_column, header, TEXT_NAMES, path, "text_column")
    pair = _resolve_column(config.text_pair_column, header, PAIR_NAMES, path, "text_pair_column") if task.pair else None
    label = _resolve_column(config.label_column, header, LABEL_NAMES, path, "label_column")
    if text is None or label is None or (task.pair and pair is None):
        if len(rows[0]) < (3 if task.pair else 2):
            raise DataError(f"{path}: {len(rows[0])} column(s), expected a text, {'a text pair, ' if task.pair else ''}"
                            "and a label column; check --delimiter")
        text, pair, label = _guess_columns(rows, header, path, text, pair, label, task.pair)
        log.info("%s: columns chosen automatically: text=%s%s label=%s (set --text_column/--label_column to "
                 "choose)", path, text, f" text_pair={pair}" if task.pair else "", label)
    width = len(rows[0])
    for flag, cols in (("text_column", text), ("text_pair_column", pair), ("label_column", label)):
        if cols and max(cols) >= width:
            raise DataError(f"{path}: --{flag} index {max(cols)} is out of range: the file has {width} columns")
    return _examples_from_rows(rows, lines, path, text, pair, label, config)


def _read_jsonl_file(path: pathlib.Path, task, config: DataConfig, fmt: str) -> Examples:
    records, lines = read_jsonl(path, array=fmt == "json")
    keys = list(records[0])

    def key(spec, defaults, flag):
        cols = _resolve_column(spec, keys, defaults, path, flag)
        if cols is None:
            raise DataError(f"{path}: cannot find the {flag.replace('_column', '')} key; set --{flag} "
                            f"(available keys: {', '.join(map(repr, keys))})")
        if max(cols) >= len(keys):
            raise DataError(f"{path}: --{flag} index {max(cols)} is out of range: the first record has {len(keys)} "
                            "keys")
        return [keys[c] for c in cols]

    if task.name == "ner":
        word_key, tag_key = key(config.text_column, WORD_NAMES, "text_column"), key(config.label_column, TAG_NAMES,
                                                                                    "label_column")
        words, tags, where, skipped = [], [], [], 0
        for record, line in zip(records, lines):
            sentence, sentence_tags = record.get(word_key[0]), record.get(tag_key[0])
            if not isinstance(sentence, list) or not isinstance(sentence_tags, list) or len(sentence) != len(
                    sentence_tags):
                raise DataError(f"{path}:{line}: expected lists {word_key[0]!r} and {tag_key[0]!r} of equal length")
            if not sentence:
                if config.strict:
                    raise DataError(f"{path}:{line}: empty sentence (drop --strict to skip such records with a "
                                    "warning)")
                skipped += 1
                continue
            blank = next((i for i, word in enumerate(sentence, start=1) if not str(word).strip()), None)
            if blank:
                raise DataError(f"{path}:{line}: word {blank} is blank (its tag would be lost: the tokenizer makes "
                                "nothing of it)")
            words.append([str(w) for w in sentence])
            tags.append([str(t) for t in sentence_tags])
            where.append(f"{path}:{line}")
        if skipped:
            log.warning("%s: skipped %d records with no words (--strict makes this an error)", path, skipped)
        if not words:
            raise DataError(f"{path}: no sentences with words")
        return Examples(labels=tags, where=where, words=words)
    text = key(config.text_column, TEXT_NAMES, "text_column")
    pair = key(config.text_pair_column, PAIR_NAMES, "text_pair_column") if task.pair else None
    label = key(config.label_column, LABEL_NAMES, "label_column")
    for record, line in zip(records, lines):
        missing = [k for k in text + (pair or []) + label if k not in record]
        if missing:
            raise DataError(f"{path}:{line}: missing key {missing[0]!r}")
    return _examples_from_rows(records, lines, path, text, pair, label, config)


def _looks_like_conll(text: str) -> bool:
    """Token ... tag lines: the first 50 non-blank lines (past -DOCSTART-) all end in a BIO tag."""
    lines = [line.rsplit(None, 1) for line in itertools.islice(
        (line for line in lines_of(text) if line.strip() and not line.startswith("-DOCSTART-")), 50)]
    return bool(lines) and all(len(fields) == 2 and check_tag(fields[-1]) is None for fields in lines)


def _json(text: str):
    """The JSON value the text spells, or None."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past Python's limit
        return None


def sniff_format(path: pathlib.Path, text: str) -> str | None:
    """The format of a file whose suffix names none, from its (not blank) text: 'json' (one array), 'jsonl' (its
    first 20 non-blank lines are JSON objects), 'conll', 'csv' / 'tsv' / 'txt' (a table split at ',' / a tab / ';' or
    '|'), or None."""
    if text.lstrip()[:1] == "[" and isinstance(_json(text), list):
        return "json"
    if all(isinstance(_json(line), dict) for line in itertools.islice(filter(str.strip, lines_of(text)), 20)):
        return "jsonl"
    if _looks_like_conll(text):
        return "conll"
    try:
        delimiter = sniff_delimiter(path, text)
    except DataError:
        return None
    return {separator: suffix[1:] for suffix, separator in DELIMITERS.items()}.get(delimiter, "txt")


def file_format(path: pathlib.Path, task, config: DataConfig) -> str | None:
    """The format a file is read in: --format, else its suffix, else its content; None when none fits (a masked-LM
    corpus takes any text: one document a line)."""
    if config.format != "auto":
        return config.format
    if path.suffix.lower() in DATA_SUFFIXES:
        return path.suffix.lower()[1:]
    return sniff_format(path, read_text(path)) or ("txt" if task.name == "mlm" else None)


def _delimiter(config: DataConfig, fmt: str) -> str | None:
    """--delimiter, else the format's (csv ',', tsv a tab), else None: sniffed."""
    return config.delimiter or DELIMITERS.get(f".{fmt}")


def _corpus_documents(rows, lines, source, text_cols, pair_cols) -> tuple[list[str], list[str]]:
    """Each row's text (and its pair text, as a document of its own) with its place; empty ones skipped."""
    documents, where = [], []
    for row, line in zip(rows, lines):
        for cols in filter(None, (text_cols, pair_cols)):
            document = _join_columns(row, cols)
            if document:
                documents.append(document)
                where.append(f"{source}:{line}")
    return documents, where


def read_corpus_file(path: pathlib.Path, config: DataConfig, fmt: str) -> Examples:
    """Unlabelled documents for --task=mlm from a file in format `fmt`: txt, one document per line; the text
    column(s) of a delimited or JSON Lines file (--text_column, or a column with a known text name; a pair column
    adds its texts as documents too); the sentences of a CoNLL file (conll, or txt of token ... tag lines)."""
    text = read_text(path)
    if fmt == "conll" or (fmt == "txt" and config.text_column is None and _looks_like_conll(text)):
        sentences, _ = read_conll(path, tag_scheme="auto")
        documents, where = [" ".join(words) for words in sentences.words], sentences.where
    elif fmt in ("jsonl", "json"):
        records, lines = read_jsonl(path, array=fmt == "json")
        keys = list(records[0])
        text_keys = _resolve_column(config.text_column, keys, TEXT_NAMES, path, "text_column")
        if text_keys is None:
            raise DataError(f"{path}: cannot find the text key; set --text_column (available keys: "
                            f"{', '.join(map(repr, keys))})")
        pair_keys = _resolve_column(config.text_pair_column, keys, PAIR_NAMES, path, "text_pair_column")
        rows = [{i: record.get(key, "") for i, key in enumerate(keys)} for record in records]
        documents, where = _corpus_documents(rows, lines, path, text_keys, pair_keys)
    else:
        table = read_delimited(path, delimiter=_delimiter(config, fmt), quoting=config.quoting) if (
            fmt != "txt" or config.text_column is not None or _has_known_header(path, text)) else None
        if table is None:  # plain text: one document per line
            lines = [(number, line.strip()) for number, line in enumerate(text.split("\n"), start=1)]
            documents = [line for _, line in lines if line]
            where = [f"{path}:{number}" for number, line in lines if line]
        else:
            header = table.rows[0] if _has_header(table.rows, config) else None
            rows, lines = (table.rows[1:], table.lines[1:]) if header else (table.rows, table.lines)
            text_cols = _resolve_column(config.text_column, header, TEXT_NAMES, path, "text_column")
            if text_cols is None:
                if len(table.rows[0]) > 1:
                    raise DataError(f"{path}: {len(table.rows[0])} columns and none named as text; set --text_column")
                text_cols = [0]
            pair_cols = _resolve_column(config.text_pair_column, header, PAIR_NAMES, path, "text_pair_column")
            for flag, cols in (("text_column", text_cols), ("text_pair_column", pair_cols)):
                if cols and max(cols) >= len(table.rows[0]):
                    raise DataError(f"{path}: --{flag} index {max(cols)} is out of range: the file has "
                                    f"{len(table.rows[0])} columns")
            documents, where = _corpus_documents(rows, lines, path, text_cols, pair_cols)
    if not documents:
        raise DataError(f"{path}: no text (an empty corpus)")
    return Examples(labels=[None] * len(documents), where=where, texts=documents)


def _has_known_header(path: pathlib.Path, text: str) -> bool:
    """A .txt table rather than plain lines: its first line, split at the sniffed delimiter, names a text column."""
    first = next(lines_of(text)).removesuffix("\n")
    try:
        delimiter = sniff_delimiter(path, text)
    except DataError:  # no consistent separator: prose
        return False
    return delimiter in first and any(field.strip().lower() in TEXT_NAMES for field in first.split(delimiter))


def read_file(path: pathlib.Path, task, config: DataConfig, flag: str = "--dataset") -> Examples:
    """One data file, in its format (file_format) as the task reads it; integer labels stay integers. `flag` is the
    flag that takes the file, for the error when its format cannot be told."""
    fmt = file_format(path, task, config)
    if fmt is None:
        raise DataError(f"{path}: cannot tell its format from its name or its content (expected a CSV, TSV or other "
                        "delimited table, JSON Lines, a JSON array or CoNLL token-tag lines); pass it as "
                        f"{flag}={path} with --format={'|'.join(FORMATS)}")
    if task.name == "mlm":
        return read_corpus_file(path, config, fmt)
    if fmt in ("jsonl", "json"):
        return _read_jsonl_file(path, task, config, fmt)
    if task.name == "ner":
        examples, converted = read_conll(path, tag_scheme=config.tag_scheme)
        if converted:
            log.info("%s: %d sentences had IOB1 tags (an entity starting with I-); converted to IOB2", path, converted)
        return examples
    return _read_table_file(path, task, config, fmt)


def _directory_files(directory: pathlib.Path, given: dict[str, str]) -> dict[str, pathlib.Path]:
    """The file for each split the directory's file names name, less the splits `given` by flag. Files that name
    no split, and those a flag replaces, are listed in one warning; label-name files, documentation and hidden files
    are passed over."""
    files: dict[str, list[pathlib.Path]] = {}
    unnamed = []
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.name in LABEL_NAME_FILES or (
                path.name.lower().split(".")[0] in DOC_NAMES):
            continue
        split = split_of(path)
        if split is None:
            unnamed.append(path.name)
        else:
            files.setdefault(split, []).append(path)
    clashes = {split: paths for split, paths in files.items() if len(paths) > 1 and split not in given}
    if clashes:
        split, paths = next(iter(clashes.items()))
        raise DataError(f"{directory}: several files for the {split} split: {', '.join(p.name for p in paths)}; "
                        f"keep one per split, or pass the one to read as --{SPLIT_FLAGS[split]}")
    if not files and not given:
        raise DataError(f"{directory}: no data files named for a split (expected e.g. train.csv, dev.tsv, "
                        "test.conll; file names with train / dev / val / validation / test)")
    skipped = [f"{', '.join(unnamed)} (the name says no split: train, dev / val / validation, test)"] if unnamed else []
    skipped += [f"{', '.join(p.name for p in paths)} (--{SPLIT_FLAGS[split]} gives the {split} split)"
                for split, paths in files.items() if split in given]
    if skipped:
        log.warning("%s: not read: %s; a file is read as a split by --train_file, --validation_file or --test_file",
                    directory, "; ".join(skipped))
    return {split: paths[0] for split, paths in files.items() if split not in given}


def _given_file(split: str, spec: str) -> pathlib.Path:
    """The file --train_file / --validation_file / --test_file names, or a DataError naming the flag."""
    path = pathlib.Path(spec).expanduser()
    try:
        kind = "file" if path.is_file() else "directory" if path.is_dir() else None
    except OSError:  # a name longer than the file system takes
        kind = None
    if kind == "directory":
        raise DataError(f"--{SPLIT_FLAGS[split]}={spec}: a directory, expected a data file (a directory of split "
                        "files goes to --dataset)")
    if kind is None:
        raise DataError(f"--{SPLIT_FLAGS[split]}={spec}: no such file")
    return path


def _hub_splits(name: str, task, config: DataConfig) -> dict[str, Examples]:
    """A Hub data set through `datasets.load_dataset` (cache first; offline and not cached: one clear error)."""
    import datasets

    repo, subset = HUB_ALIASES.get(name, (name.partition(":")[0], name.partition(":")[2] or None))
    try:
        loaded = datasets.load_dataset(repo, subset)
    except Exception as err:  # offline, unknown name, gated: the same advice applies to each
        raise DataError(
            f"--dataset={name}: could not load the Hugging Face data set {repo}{':' + subset if subset else ''} "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). Offline and not cached? "
            "Point --dataset at local files (a directory with train/dev/test files, or one CSV/TSV/JSONL/CoNLL "
            "file), e.g. --dataset=data/sst2, or use the embedded sample: --dataset=sample") from err
    splits = {}
    for split_name, table in loaded.items():
        split = SPLIT_WORDS.get(split_name)
        if split is None:
            log.info("--dataset=%s: ignoring split %r", name, split_name)
            continue
        splits[split] = _hub_examples(table, f"{name}[{split_name}]", task, config)
    return {split: examples for split, examples in splits.items() if examples is not None}


def _hub_examples(table, source: str, task, config: DataConfig) -> Examples | None:
    columns = list(table.column_names)
    records, lines = table.to_dict(), range(len(table))
    if task.name == "mlm":
        rows = [{i: records[key][row] for i, key in enumerate(columns)} for row in lines]
        text = _resolve_column(config.text_column, columns, TEXT_NAMES, source, "text_column")
        if text is None:
            raise DataError(f"{source}: cannot find the text column; set --text_column (available: "
                            f"{', '.join(columns)})")
        pair = _resolve_column(config.text_pair_column, columns, PAIR_NAMES, source, "text_pair_column")
        documents, where = _corpus_documents(rows, lines, source, text, pair)
        return Examples(labels=[None] * len(documents), where=where, texts=documents) if documents else None

    def column(spec, defaults, flag):
        cols = _resolve_column(spec, columns, defaults, source, flag)
        if cols is None:
            raise DataError(f"{source}: cannot find the {flag.replace('_column', '')} column; set --{flag} "
                            f"(available: {', '.join(columns)})")
        return columns[cols[0]]

    label_key = column(config.label_column, TAG_NAMES if task.name == "ner" else LABEL_NAMES, "label_column")
    feature = table.features[label_key]
    names = getattr(getattr(feature, "feature", feature), "names", None)
    raw = records[label_key]
    if task.name == "ner":
        words = records[column(config.text_column, WORD_NAMES, "text_column")]
        tags = [[names[t] if names else str(t) for t in sentence] for sentence in raw]
        return Examples(labels=tags, where=[f"{source}:{i}" for i in lines], words=[list(w) for w in words])
    if all(label == -1 for label in raw):  # GLUE hides its test labels
        log.info("%s: labels are hidden (-1); the split is not used", source)
        return None
    rows = [{key: records[key][i] for key in columns} for i in lines]
    for row in rows:
        row[label_key] = names[row[label_key]] if names else str(row[label_key])
    text = [column(config.text_column, TEXT_NAMES, "text_column")]
    pair = [column(config.text_pair_column, PAIR_NAMES, "text_pair_column")] if task.pair else None
    return _examples_from_rows(rows, lines, source, text, pair, [label_key], config)


def read_splits(config: DataConfig, task) -> tuple[dict[str, Examples], list[str] | None]:
    """The splits the data source provides ('sample', a directory, a single file, or a Hub name; the files of
    --train_file, --validation_file and --test_file replace or add splits), and the label names it gives
    (--label_names, or a classes.txt / labels.txt beside the files), if any; a masked-LM corpus has none."""
    if task.name == "mlm" and config.label_names:
        raise DataError(f"--label_names={config.label_names}: --task=mlm has no labels (the targets are the masked "
                        "tokens)")
    given, hub, found, directory = config.split_files(), {}, {}, None
    if config.dataset is not None:
        path = SAMPLE_DIR / task.name if config.dataset == "sample" else pathlib.Path(config.dataset).expanduser()
        if path.is_dir():
            directory = path
            found = {split: read_file(file, task, config, f"--{SPLIT_FLAGS[split]}")
                     for split, file in _directory_files(path, given).items()}
        elif path.is_file():
            split = split_of(path) or "train"
            if split in given:
                raise DataError(f"--dataset={config.dataset} is read as the {split} split, and --{SPLIT_FLAGS[split]} "
                                "gives that split too; pass one of them")
            found = {split: read_file(path, task, config)}
        elif config.dataset.startswith((".", "/", "~")) or path.suffix.lower() in DATA_SUFFIXES:
            raise DataError(f"--dataset={config.dataset}: no such file or directory")
        else:  # a Hub name: its labels come named (or as they are), unchecked
            hub = _hub_splits(config.dataset, task, config)
            if not given:
                return hub, None
    found.update({split: read_file(_given_file(split, spec), task, config, f"--{SPLIT_FLAGS[split]}")
                  for split, spec in given.items()})
    names = _label_names(config, directory, task) if task.name != "mlm" else None
    found = _map_label_ints(found, names)
    if task.name == "ner":  # CoNLL tags are checked as read; JSON Lines tags only now, as names or as they are
        for examples in found.values():
            for tags, place in zip(examples.labels, examples.where):
                if problem := next(filter(None, (_label_problem(tag, ner=True) for tag in tags)), None):
                    raise DataError(f"{place}: {problem}")
    return {**hub, **found}, names
