"""Property-based fuzzing of every data loader, and of how `python -m tfft.train` refuses bad input.

Round trips: random tables written by independent writers (Python's csv module with RFC 4180 quoting, json.dumps,
the CoNLL and label-name writers below) must load as generated, under the documented rules: universal newlines,
one leading BOM dropped, fields stripped, blank lines and rows skipped, a row with an empty text skipped (an error
with --strict), an empty label an error at `file:line`, IOB1 tags converted to IOB2, integer labels named 0-based
or 1-based (when the ids of the data set run 1..K). A file whose suffix names no format loads as it would under the
suffix that names its content's (CSV, TSV, JSON Lines, a JSON array, CoNLL), or fails alike.
Garbage in (random bytes, other encodings, mutated files, empty files, directories): a data set that passes the
checks below, or a DataError of one line naming the file (`file:line` for a place in it). Any other exception is
a bug. The command line refuses fuzzed bad data, label names and flagfiles with one line "error: ..." and exit 2:
`python -m tfft.train` run in this process (conftest in_process: its flag parsing and main, without
TensorFlow's start-up per case), the command itself for a flagfile that is not UTF-8.

TFFT_FUZZ_EXAMPLES sets the cases per property (default 200; the command-line properties run a hundredth of it, at
least 2). With TFFT_FUZZ_REPORT=counts.json (or the
fault-injection suite's TFFT_FAULTS_REPORT) each test adds how many cases it ran, and how they ended, to that file.
"""

import collections
import csv
import io
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import in_process
from test_readers import write
from tfft.data import DataConfig, DataError, load_data
from tfft.data.readers import read_conll
from tfft.data.sources import FORMATS, LABEL_NAMES, PAIR_NAMES, TAG_NAMES, TEXT_NAMES, WORD_NAMES, read_splits
from tfft.tasks import TASKS

pytestmark = pytest.mark.faults

EXAMPLES = int(os.environ.get("TFFT_FUZZ_EXAMPLES", "200"))
settings.register_profile("tfft-fuzz", max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                 HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
FUZZ = settings.get_profile("tfft-fuzz")
CLI_FUZZ = settings(FUZZ, max_examples=max(2, EXAMPLES // 100))
ROOT = pathlib.Path(__file__).parents[2]
CSV_FIELD_LIMIT = 131072  # csv.field_size_limit()'s default: huge fields straddle it


@pytest.fixture
def cases(request):
    """Counts the cases a property ran and how each ended; added to the JSON files $TFFT_FUZZ_REPORT and (with the
    fault-injection suite's counts) $TFFT_FAULTS_REPORT, when set."""
    counts = collections.Counter()
    yield counts
    for report in filter(None, map(os.environ.get, ("TFFT_FUZZ_REPORT", "TFFT_FAULTS_REPORT"))):
        report = pathlib.Path(report)
        table = json.loads(report.read_text()) if report.is_file() else {}
        table[request.node.name] = dict(counts)
        report.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")


def error_kind(message: str) -> str:
    """What went wrong, without the place and values, for the counts: '/d/a.csv:3: empty label' -> 'empty label'."""
    words = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\[.*\]|\d+", "_", message)  # values
    return "DataError: " + " ".join(re.split(r"[(;:,]", re.sub(r"^\S*?(:_)?: ", "", words))[0].split()[:5])


def normalised(text: str) -> str:
    """Universal newlines, as documented for every text file tfft reads."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def line_count(path: pathlib.Path) -> int:
    """An upper bound on the lines of a file (every \\n and every \\r ends one)."""
    data = path.read_bytes()
    return data.count(b"\n") + data.count(b"\r") + 1


def assert_names_a_place(message: str, *paths: pathlib.Path) -> None:
    """One line, naming one of `paths` (or a flag); a `path:line` it names must be a line of that file."""
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith("--") or any(str(p) in message for p in paths), message
    for path in paths:
        for file, line in re.findall(rf"({re.escape(str(path))}[^:]*):(\d+): ", message):
            assert pathlib.Path(file).is_file() and 1 <= int(line) <= line_count(pathlib.Path(file)), message


# ---------------------------------------------------------------- strategies

def chars(banned: str = "", categories: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    """Any character but a surrogate (no file holds one) and the banned ones."""
    return st.characters(exclude_characters=banned, exclude_categories=("Cs", *categories))


PIECES = ('"', "'", ",", "\t", ";", "|", " ", "\n", "\r\n", "\r", "\ufeff", "\x00", "\x0c", "\x85", "\u2028", "\\",
          "[", "{", "#", "-DOCSTART-", "B-", "I-")


def fields(banned: str = "") -> st.SearchStrategy[str]:
    """Random text, rich in the characters parsers care about; `banned` characters never appear."""
    pieces = [p for p in PIECES if not set(p) & set(banned)]
    part = st.one_of(st.text(chars(banned), max_size=8), st.sampled_from(pieces))
    return st.lists(part, max_size=5).map("".join)


def with_case(name: str) -> st.SearchStrategy[str]:
    """A column name as a file may spell it (case and surrounding spaces do not matter)."""
    return st.sampled_from([name, name.upper(), name.title(), f" {name} "])


def one_huge_field(draw, rows: list[dict], role: str, banned: str) -> None:
    """Now and then, one field longer than the csv module's default field limit."""
    if rows and draw(st.integers(0, 9)) == 0:
        unit = draw(st.text(chars(banned), min_size=1, max_size=3))
        size = draw(st.integers(CSV_FIELD_LIMIT - 5, CSV_FIELD_LIMIT + 5000))
        rows[draw(st.integers(0, len(rows) - 1))][role] = (unit * size)[:size]


@st.composite
def delimited_tables(draw):
    """A classification or pair table written as CSV / TSV / sniffed or given separators, with the config that
    reads it back."""
    task = draw(st.sampled_from(["classification", "pair"]))
    roles = ["text", "pair", "label"] if task == "pair" else ["text", "label"]
    roles += ["id"] if draw(st.booleans()) else []
    roles = draw(st.permutations(roles))
    kind = draw(st.sampled_from(["by extension", "sniffed", "given"]))
    if kind == "by extension":
        delimiter, suffix = draw(st.sampled_from([(",", ".csv"), ("\t", ".tsv")]))
        suffix = draw(st.sampled_from([suffix, suffix.upper()]))
    elif kind == "sniffed":
        delimiter, suffix = draw(st.sampled_from(["\t", ",", ";", "|"])), ".txt"
    else:
        delimiter, suffix = draw(st.sampled_from([",", "\t", ";", "|", " ", ":"])), ".txt"
    banned = "\t,;|\n\r" if kind == "sniffed" else ""  # sniffing needs the separator count equal on every line
    labels = draw(st.lists(st.one_of(fields(banned), st.text(chars(banned), min_size=1, max_size=6)), min_size=1,
                           max_size=4))
    rows = draw(st.lists(st.fixed_dictionaries({"text": fields(banned), "pair": fields(banned), "id": fields(banned),
                                                 "label": st.sampled_from(labels)}), min_size=1, max_size=7))
    one_huge_field(draw, rows, "text", banned)
    header = draw(st.sampled_from(["auto", "yes", "no"]))
    names = {"text": draw(st.sampled_from(TEXT_NAMES).flatmap(with_case)),
             "pair": draw(st.sampled_from(PAIR_NAMES).flatmap(with_case)),
             "label": draw(st.sampled_from(LABEL_NAMES).flatmap(with_case)), "id": "id"}
    columns = {}
    for role, flag in (("text", "text_column"), ("pair", "text_pair_column"), ("label", "label_column")):
        if role in roles and (header == "no" or draw(st.booleans())):
            columns[flag] = str(roles.index(role)) if header == "no" else names[role].strip()
    lineterminator, quoting = draw(st.sampled_from([("\r\n", csv.QUOTE_MINIMAL), ("\n", csv.QUOTE_ALL)]))
    return dict(task=task, roles=roles, rows=rows, names=names, header=header, delimiter=delimiter, suffix=suffix,
                lineterminator=lineterminator, quoting=quoting, columns=columns, given_delimiter=kind == "given",
                blank_lines=draw(st.lists(st.sampled_from(["", " ", "\t", " \x0c "]), min_size=len(rows) + 1,
                                          max_size=len(rows) + 1)),
                bom=draw(st.booleans()), strict=draw(st.booleans()),
                csv_quoting=draw(st.sampled_from(["auto", "csv"])))


def write_delimited(table) -> tuple[str, list[int]]:
    """The file's text, written by Python's csv module, and the line each data row starts on."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=table["delimiter"], lineterminator=table["lineterminator"],
                        quoting=table["quoting"])
    if table["header"] != "no":
        writer.writerow([table["names"][role] for role in table["roles"]])
    lines = []
    for row, blank in zip(table["rows"], table["blank_lines"]):
        if blank:
            out.write(blank + table["lineterminator"])
        lines.append(normalised(out.getvalue()).count("\n") + 1)
        writer.writerow([row[role] for role in table["roles"]])
    out.write(table["blank_lines"][-1])
    return out.getvalue(), lines


def expected_rows(path, rows: list[dict], lines: list[int], roles, task: str, strict: bool, delimited: bool):
    """What the documented rules make of the rows: (texts, pairs, labels, where), or the DataError message expected.
    Delimited files: fields have universal newlines, and rows whose fields are all blank are skipped."""
    texts, pairs, labels, where = [], [], [], []
    for row, line in zip(rows, lines):
        value = {role: (normalised(row[role]) if delimited else str(row[role])).strip() for role in roles}
        if delimited and not any(value.values()):
            continue
        if not value["label"]:
            return f"{path}:{line}: empty label"
        if "\n" in value["label"] or "\r" in value["label"]:
            return f"{path}:{line}: label {value['label']!r} spans lines"
        if not value["text"] or (task == "pair" and not value["pair"]):
            if strict:
                return f"{path}:{line}: empty text"
            continue
        texts.append(value["text"])
        pairs.append(value.get("pair"))
        labels.append(value["label"])
        where.append(f"{path}:{line}")
    if not texts:
        return f"{path}: no examples with text"
    return texts, pairs if task == "pair" else None, labels, where


def iob2_tags(types: list[str]) -> st.SearchStrategy[list[str]]:
    """A valid IOB2 (BIO) tag sequence: an entity starts with B-X, and I-X only continues an X."""

    @st.composite
    def tags(draw):
        out = []
        for _ in range(draw(st.integers(0, 8))):
            previous = out[-1][2:] if out and out[-1] != "O" else None
            choices = ["O"] + [f"B-{t}" for t in types] + ([f"I-{previous}"] if previous else [])
            out.append(draw(st.sampled_from(choices)))
        return out

    return tags()


def iob2_to_iob1(tags: list[str]) -> list[str]:
    """IOB1 as the original CoNLL-2003 files write it: B-X only where an X entity directly follows another X."""
    return [f"B-{tag[2:]}" if tag.startswith("B-") and i and tags[i - 1][2:] == tag[2:] else
            f"I-{tag[2:]}" if tag.startswith("B-") else tag for i, tag in enumerate(tags)]


NON_SPACE = st.text(chars("", ("Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=6).filter(
    lambda s: s.split() == [s])  # one whitespace-free token (str.split also splits at some Cc / Cf characters)
ENTITY_TYPES = st.lists(NON_SPACE, min_size=1, max_size=3, unique=True)


# ---------------------------------------------------------------- round trips


def load_as_expected(config: DataConfig, task: str, expected, cases):
    """The train split read_splits loads, when `expected` is rows; None when it is the start of the DataError
    read_splits must raise (checked, and counted in `cases`)."""
    try:
        examples = read_splits(config, TASKS[task])[0]["train"]
    except DataError as err:
        assert isinstance(expected, str) and str(err).startswith(expected), (str(err)[:300], expected)
        cases.update(["cases", error_kind(str(err))])
        return None
    assert not isinstance(expected, str), expected
    return examples


@given(table=delimited_tables())
@FUZZ
def test_delimited_round_trip(tmp_path, cases, table):
    body, lines = write_delimited(table)
    assume(not body.startswith("\ufeff"))  # a leading BOM is dropped: only the one written below is one
    with tempfile.TemporaryDirectory(dir=tmp_path) as directory:
        path = write(pathlib.Path(directory), "data" + table["suffix"], ("\ufeff" if table["bom"] else "") + body)
        config = DataConfig(dataset=str(path), header=table["header"], strict=table["strict"],
                            delimiter=table["delimiter"] if table["given_delimiter"] else None,
                            quoting=table["csv_quoting"], **table["columns"])
        text = normalised(body)
        kept = [row for row in table["rows"] if any(normalised(row[r]).strip() for r in table["roles"])]
        if not text.strip():
            expected = f"{path}: the file is empty"
        elif not kept:
            expected = f"{path}: no data rows after the header line" if table["header"] != "no" else f"{path}: no rows"
        else:
            expected = expected_rows(path, table["rows"], lines, table["roles"], table["task"], table["strict"], True)
        examples = load_as_expected(config, table["task"], expected, cases)
    if examples is None:
        return
    assert (examples.texts, examples.text_pairs, examples.labels, examples.where) == expected
    cases.update(["cases", "loaded"])


@st.composite
def jsonl_tables(draw):
    """Records for the three tasks as JSON Lines, or as one JSON array, with blank lines and extra keys."""
    task = draw(st.sampled_from(["classification", "pair", "ner"]))
    if task == "ner":
        types = draw(ENTITY_TYPES)
        keys = {"text": draw(st.sampled_from(WORD_NAMES)), "label": draw(st.sampled_from(TAG_NAMES))}
        word = st.one_of(NON_SPACE, fields().filter(str.strip))
        rows = draw(st.lists(iob2_tags(types).flatmap(lambda tags: st.fixed_dictionaries(
            {"text": st.lists(word, min_size=len(tags), max_size=len(tags)), "label": st.just(tags)})), min_size=1,
            max_size=6))
    else:
        keys = {"text": draw(st.sampled_from(TEXT_NAMES)), "pair": draw(st.sampled_from(PAIR_NAMES)),
                "label": draw(st.sampled_from(LABEL_NAMES))}
        labels = draw(st.lists(st.one_of(fields(), st.text(min_size=1, max_size=6), st.integers(-5, 10 ** 6)),
                               min_size=1, max_size=4))
        rows = draw(st.lists(st.fixed_dictionaries({"text": fields(), "pair": fields(),
                                                     "label": st.sampled_from(labels)}), min_size=1, max_size=7))
        one_huge_field(draw, rows, "text", "")
        if task == "classification":
            del keys["pair"]
    extra = draw(st.dictionaries(st.text(max_size=5).map("x_".__add__), st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5), lambda inner: st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=6), max_size=3))
    return dict(task=task, keys=keys, rows=rows, extra=extra, array=draw(st.booleans()),
                spaces=draw(st.lists(st.sampled_from(["", " ", "\n", "\n\n", " \t\n", "\r\n"]), min_size=len(rows) + 1,
                                     max_size=len(rows) + 1)),
                indent=draw(st.sampled_from([None, 0, 2, "\t"])), ascii=draw(st.booleans()), strict=draw(st.booleans()))


def write_json(table) -> tuple[str, list[int]]:
    """JSON Lines (blank lines between records) or one array; and the line where each record starts."""
    text, lines = "", []
    for i, row in enumerate(table["rows"]):
        record = {**table["extra"], **{key: row[role] for role, key in table["keys"].items()}}
        if table["array"]:
            text += ("[" if i == 0 else ",") + table["spaces"][i]
            lines.append(normalised(text).count("\n") + 1)
            text += json.dumps(record, indent=table["indent"], ensure_ascii=table["ascii"])
        else:  # blank lines between records, each ending in a newline
            blank = table["spaces"][i]
            text += ("\n" if i else "") + (blank if blank.endswith("\n") or not blank else blank + "\n")
            lines.append(normalised(text).count("\n") + 1)
            text += json.dumps(record, ensure_ascii=table["ascii"])
    return text + table["spaces"][-1] + ("]" if table["array"] else ""), lines


@pytest.mark.slow
@given(table=jsonl_tables())
@FUZZ
def test_json_round_trip(tmp_path, cases, table):
    text, lines = write_json(table)
    with tempfile.TemporaryDirectory(dir=tmp_path) as directory:
        path = write(pathlib.Path(directory), "data.json" if table["array"] else "data.jsonl", text)
        config = DataConfig(dataset=str(path), strict=table["strict"])
        if table["task"] == "ner":
            kept = [(row, line) for row, line in zip(table["rows"], lines) if row["text"]]
            if table["strict"] and len(kept) < len(lines):
                expected = f"{path}:{next(ln for row, ln in zip(table['rows'], lines) if not row['text'])}: empty"
            elif not kept:
                expected = f"{path}: no sentences with words"
            else:
                expected = ([row["text"] for row, _ in kept], [row["label"] for row, _ in kept],
                            [f"{path}:{line}" for _, line in kept])
        else:
            expected = expected_rows(path, table["rows"], lines, list(table["keys"]), table["task"], table["strict"],
                                     False)
        examples = load_as_expected(config, table["task"], expected, cases)
    if examples is None:
        return
    if table["task"] == "ner":
        assert (examples.words, examples.labels, examples.where) == expected
    else:
        assert (examples.texts, examples.text_pairs, examples.labels, examples.where) == expected
    cases.update(["cases", "loaded"])


@st.composite
def conll_files(draw):
    """Sentences of whitespace-free tokens with IOB2 tags, written as CoNLL columns (tags in IOB2 or IOB1)."""
    types = draw(ENTITY_TYPES)
    sentences = draw(st.lists(iob2_tags(types).filter(bool).flatmap(lambda tags: st.tuples(
        st.lists(NON_SPACE.filter(lambda t: t != "-DOCSTART-"), min_size=len(tags), max_size=len(tags)),
        st.just(tags))), min_size=1, max_size=6))
    return dict(sentences=sentences, iob1=draw(st.booleans()), scheme=draw(st.sampled_from(["auto", "iob1", "iob2"])),
                middle=draw(st.lists(NON_SPACE, max_size=3)), sep=draw(st.sampled_from([" ", "\t", "  ", " \t"])),
                docstarts=draw(st.lists(st.booleans(), min_size=len(sentences), max_size=len(sentences))),
                newline=draw(st.sampled_from(["\n", "\r\n"])), bom=draw(st.booleans()), tail=draw(st.booleans()))


def write_conll(spec) -> tuple[str, list[int], list[list[str]]]:
    """The file (without a BOM), the line of each sentence's first token, and the tags as written."""
    lines, starts, written = [], [], []
    for (words, tags), docstart in zip(spec["sentences"], spec["docstarts"]):
        if docstart:
            lines += ["-DOCSTART- -X- -X- O", ""]
        tags = iob2_to_iob1(tags) if spec["iob1"] else tags
        starts.append(len(lines) + 1)
        written.append(tags)
        lines += [spec["sep"].join([word, *spec["middle"], tag]) for word, tag in zip(words, tags)] + [" "]
    return spec["newline"].join(lines) + (spec["newline"] if spec["tail"] else ""), starts, written


@given(spec=conll_files())
@FUZZ
def test_conll_round_trip(tmp_path, cases, spec):
    body, starts, written = write_conll(spec)
    assume(not body.startswith("\ufeff"))  # a leading BOM is dropped: only the one written below is one
    words = [words for words, _ in spec["sentences"]]
    tags = [tags for _, tags in spec["sentences"]]
    with tempfile.TemporaryDirectory(dir=tmp_path) as directory:
        path = write(pathlib.Path(directory), "train.conll", ("\ufeff" if spec["bom"] else "") + body)
        config = DataConfig(dataset=str(path), tag_scheme=spec["scheme"])
        if spec["iob1"] and spec["scheme"] == "iob2" and written != tags:
            # the first tag that IOB1 writes differently: the first entity start, written I-X
            line = next(start + i for start, iob1, iob2 in zip(starts, written, tags)
                        for i, (a, b) in enumerate(zip(iob1, iob2)) if a != b)
            with pytest.raises(DataError) as err:
                read_splits(config, TASKS["ner"])
            assert str(err.value).startswith(f"{path}:{line}: an entity starts with I-"), str(err.value)
            cases.update(["cases", error_kind(str(err.value))])
            return
        examples = read_splits(config, TASKS["ner"])[0]["train"]
        converted = read_conll(path, tag_scheme=spec["scheme"])[1]
    assert examples.words == words and examples.labels == tags
    assert examples.where == [f"{path}:{line}" for line in starts]
    assert converted == (sum(any(t != "O" for t in s) for s in tags) if spec["iob1"] else 0)  # IOB1 wrote I-X
    cases.update(["cases", "loaded"])


UNINFORMATIVE_SUFFIXES = (".data", ".annotated", ".dat", "")  # WNUT-17's test file ends in .annotated


@st.composite
def sniffable_files(draw) -> tuple[str, str, str, dict]:
    """(task, the suffix its format has, text, reading flags) of a file the round-trip writers made. A table's
    fields hold no other separator a sniffer tries and no line break, so its content tells its format; its own
    separator may sit in quoted fields, which only a CSV parse of the lines tells."""
    kind = draw(st.sampled_from(["delimited", "json", "conll"]))
    if kind == "delimited":
        table = draw(delimited_tables().filter(lambda table: not table["given_delimiter"]))
        banned = {ord(c): None for c in set("\t,;|\r\n") - {table["delimiter"]}}
        table["rows"] = [{role: value.translate(banned) for role, value in row.items()} for row in table["rows"]]
        return table["task"], table["suffix"], ("\ufeff" if table["bom"] else "") + write_delimited(table)[0], dict(
            header=table["header"], strict=table["strict"], quoting=table["csv_quoting"], **table["columns"])
    mlm = draw(st.booleans())  # a masked-LM corpus reads every format too
    if kind == "json":
        table = draw(jsonl_tables())
        return "mlm" if mlm else table["task"], ".json" if table["array"] else ".jsonl", write_json(table)[0], dict(
            strict=table["strict"])
    spec = draw(conll_files())
    return "mlm" if mlm else "ner", ".conll", ("\ufeff" if spec["bom"] else "") + write_conll(spec)[0], dict(
        tag_scheme=spec["scheme"])


def loaded(config: DataConfig, task: str, path: pathlib.Path):
    """The train split and label names read_splits makes of a file, or its DataError, with the file's path as FILE."""
    try:
        splits, names = read_splits(config, TASKS[task])
    except DataError as err:
        return str(err).replace(str(path), "FILE")
    train = splits["train"]
    return ([place.replace(str(path), "FILE") for place in train.where], train.texts, train.text_pairs, train.words,
            train.labels, names)


@pytest.mark.slow
@given(case=sniffable_files(), suffix=st.sampled_from(UNINFORMATIVE_SUFFIXES))
@FUZZ
def test_content_tells_the_format_its_suffix_would(tmp_path, cases, case, suffix):
    task, named, text, options = case
    with tempfile.TemporaryDirectory(dir=tmp_path) as directory:
        outcomes = [loaded(DataConfig(dataset=str(path), **options), task, path)
                    for path in (write(pathlib.Path(directory), f"named{named}", text),
                                 write(pathlib.Path(directory), f"sniffed{suffix}", text))]
    assert outcomes[1] == outcomes[0], (named, suffix, str(outcomes[1])[:300], str(outcomes[0])[:300])
    cases.update(["cases", error_kind(outcomes[0]) if isinstance(outcomes[0], str) else "loaded"])


LABEL_FILES = ("classes.txt", "labels.txt", "label_names.txt")


@st.composite
def labelled_directories(draw):
    """Train / dev / test files with integer labels, and the label names as a file, a file in the directory or a
    comma list; sometimes with a duplicate name or an id that indexes no name."""
    single_line = st.text(chars("\n\r"), max_size=8).map(str.strip).filter(bool)
    source = draw(st.sampled_from(["--label_names file", "directory file", "comma list"]))
    name = single_line.filter(lambda n: "," not in n) if source == "comma list" else single_line
    least, most = draw(st.sampled_from([(2, 6), (30, 40)]))  # many names: a comma list longer than a file name
    names = draw(st.lists(name, min_size=least, max_size=most, unique=True).filter(
        lambda names: not names[0].startswith("\ufeff")))
    base = draw(st.sampled_from([0, 1]))
    ids = st.integers(base, len(names) - 1 + base)
    splits = draw(st.lists(ids, min_size=1, max_size=8).flatmap(
        lambda train: st.tuples(st.just(train), st.lists(ids, min_size=1, max_size=5), st.lists(ids, min_size=1,
                                                                                                 max_size=5))))
    if base == 1:  # documented: 1-based when the ids run 1..K (somewhere in the data set)
        splits[0][0] = len(names)
    problem = draw(st.sampled_from([None, None, None, "duplicate", "out of range"]))
    listed = names + [draw(st.sampled_from(names))] if problem == "duplicate" else names
    if problem == "out of range":
        split = draw(st.integers(0, 2))
        splits[split][draw(st.integers(0, len(splits[split]) - 1))] = draw(st.sampled_from([len(names) + 1, -1]))
    return dict(names=names, listed=listed, splits=splits, base=base, source=source, problem=problem,
                label_file=draw(st.sampled_from(LABEL_FILES)), padding=draw(st.sampled_from(["", " ", "\t"])),
                blank=draw(st.sampled_from(["", "\n", "\n \n"])))


@given(spec=labelled_directories())
@FUZZ
def test_label_names_round_trip(tmp_path, cases, spec):
    with tempfile.TemporaryDirectory(dir=tmp_path) as directory:
        root = pathlib.Path(directory)
        data = root / "data"
        data.mkdir()
        for split, ids in zip(("train", "dev", "test"), spec["splits"]):
            write(data, f"{split}.tsv", "".join(f"{i}\tsentence {n} of {split}\n" for n, i in enumerate(ids)))
        listing = spec["blank"].join(f"{spec['padding']}{n}{spec['padding']}\n" for n in spec["listed"])
        if spec["source"] == "comma list":
            label_names, names_path = ",".join(f"{spec['padding']}{n}" for n in spec["listed"]), None
        elif spec["source"] == "--label_names file":
            names_path = write(root, "names.txt", listing)
            label_names = str(names_path)
        else:
            label_names, names_path = None, write(data, spec["label_file"], listing)
        config = DataConfig(dataset=str(data), label_names=label_names, header="no", label_column="0",
                            text_column="1")
        if spec["problem"]:
            with pytest.raises(DataError) as err:
                load_data(config, TASKS["classification"])
            message = str(err.value)
            assert_names_a_place(message, data, *([names_path] if names_path else []))
            if spec["problem"] == "duplicate":
                assert message.startswith(f"{names_path or '--label_names'}") and "twice" in message, message
            else:
                ids = {i for split in spec["splits"] for i in split}
                base = 1 if min(ids) >= 1 and max(ids) == len(spec["names"]) else 0  # the documented rule
                place, line = re.match(rf"({re.escape(str(data))}/\w+\.tsv):(\d+): ", message).groups()
                label = pathlib.Path(place).read_text().split("\n")[int(line) - 1].split("\t")[0]
                assert not 0 <= int(label) - base < len(spec["names"]), message
            cases.update(["cases", error_kind(message)])
            return
        found, names = read_splits(config, TASKS["classification"])
        loaded = load_data(config, TASKS["classification"])
    assert names == spec["names"] and loaded.labels.names == tuple(spec["names"])
    for split, ids in zip(("train", "validation", "test"), spec["splits"]):
        assert found[split].labels == [spec["names"][i - spec["base"]] for i in ids]
    cases.update(["cases", "loaded"])


# ---------------------------------------------------------------- garbage in

ENCODINGS = ("utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16", "utf-32")
TAG_LIKE = st.sampled_from(["O", "B-PER", "I-PER", "I-LOC", "B-", "I-", "X-ORG", "b-per", "0", "1"]) | fields()


@st.composite
def plausible_files(draw) -> str:
    """Text that looks like a data file of some kind, and is wrong in small ways."""
    kind = draw(st.sampled_from(["delimited", "json", "conll", "names"]))
    if kind == "delimited":
        delimiter = draw(st.sampled_from([",", "\t", ";", "|", " ", ":"]))
        out = io.StringIO()
        writer = csv.writer(out, delimiter=delimiter, quotechar=draw(st.sampled_from(['"', "'", "`"])),
                            lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])),
                            quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])))
        header = draw(st.lists(st.sampled_from(TEXT_NAMES + PAIR_NAMES + LABEL_NAMES + ("id",)) | fields(),
                               max_size=4))
        rows = draw(st.lists(st.lists(fields() | st.sampled_from(["0", "1", "pos", "neg"]), max_size=4), max_size=8))
        writer.writerows([header] + rows if header else rows)
        return out.getvalue()
    if kind == "json":
        value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | fields(), lambda inner: st.lists(
            inner, max_size=3) | st.dictionaries(st.sampled_from(TEXT_NAMES + LABEL_NAMES + WORD_NAMES + TAG_NAMES)
                                                 | fields(), inner, max_size=4), max_leaves=8)
        lines = [json.dumps(v, ensure_ascii=draw(st.booleans())) for v in draw(st.lists(value, max_size=6))]
        raw = st.sampled_from(['{"text": "a", "label": ' + "7" * 5000 + "}", '{"text": "\\ud800", "label": 1}',
                               '{"tokens": ["a", ""], "ner_tags": ["O", "B-X"]}', '{"tokens": [], "ner_tags": []}',
                               "[" * 3000, '{"text": 1}', "NaN"])
        lines += draw(st.lists(raw, max_size=2))
        lines = draw(st.permutations(lines))
        return ("[" + ",\n".join(lines) + "]") if draw(st.booleans()) else "\n".join(lines)
    if kind == "conll":
        line = st.one_of(st.tuples(NON_SPACE, st.lists(NON_SPACE, max_size=2), TAG_LIKE).map(
            lambda t: " ".join([t[0], *t[1], t[2]])), st.sampled_from(["", " ", "-DOCSTART- O", "word"]), fields())
        return "\n".join(draw(st.lists(line, max_size=12)))
    return "\n".join(draw(st.lists(fields() | st.sampled_from(["pos", "neg", "pos", "0"]), max_size=6)))


def mutated(draw, data: bytes) -> bytes:
    """The bytes cut short, with bytes inserted or replaced (up to twice), or (as often) as they were."""
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        at = draw(st.integers(0, len(data)))
        cut = draw(st.sampled_from(["truncate", "insert", "replace"]))
        if cut == "truncate":
            data = data[:at]
        else:
            data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at + (cut == "replace"):]
    return data


@st.composite
def garbage(draw) -> bytes:
    """Random bytes, random text in some encoding, or a plausible file, maybe cut, grown or bitten."""
    kind = draw(st.sampled_from(["bytes", "encoded", "plausible", "plausible", "plausible", "tiny"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    if kind == "tiny":
        return draw(st.sampled_from([b"", b"\n", b" \r\n\t\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n,\n", b",", b"\t\n"]))
    text = draw(plausible_files() if kind == "plausible" else fields())
    encoding = draw(st.sampled_from(ENCODINGS)) if kind == "encoded" or draw(st.integers(0, 4)) == 0 else "utf-8"
    return mutated(draw, text.encode(encoding, errors="replace"))


@st.composite
def written_files(draw) -> tuple[str, str, bytes]:
    """(task, suffix, bytes) of a file the round-trip writers made, maybe in another encoding, maybe damaged."""
    task, suffix, text = draw(st.one_of(
        delimited_tables().map(lambda table: (table["task"], table["suffix"], write_delimited(table)[0])),
        jsonl_tables().map(lambda table: (table["task"], ".json" if table["array"] else ".jsonl",
                                          write_json(table)[0])),
        conll_files().map(lambda spec: ("ner", ".conll", write_conll(spec)[0]))))
    encoding = draw(st.sampled_from(ENCODINGS)) if draw(st.integers(0, 4)) == 0 else "utf-8"
    return task, suffix, mutated(draw, text.encode(encoding, errors="replace"))


SPLIT_NAMES = ("train", "dev", "test", "valid", "data", "my_train_v2")
SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".conll", ".CSV") + UNINFORMATIVE_SUFFIXES
FILES = st.one_of(written_files(), written_files(), written_files(),
                  st.tuples(st.none(), st.sampled_from(SUFFIXES), garbage()),
                  st.tuples(st.none(), st.sampled_from(SUFFIXES), st.none()))  # no bytes: a directory


def mostly_none(values) -> st.SearchStrategy:
    return st.one_of(st.none(), st.none(), st.none(), st.sampled_from(values))


@st.composite
def garbage_sources(draw):
    """A data set of damaged or garbage files: one file, or a directory of split files (some of them directories,
    or three copies of one file), with random flags; the task is mostly the one a written file was written for."""
    entries = draw(st.lists(st.tuples(st.sampled_from(SPLIT_NAMES), FILES).map(lambda e: (e[0], *e[1])), min_size=1,
                            max_size=3, unique_by=lambda e: e[0] + e[2]))
    if draw(st.booleans()):  # train, dev and test from one file: no split to make, labels in every split
        entries = [(split, *entries[0][1:]) for split in ("train", "dev", "test")]
    in_directory = len(entries) > 1 or draw(st.booleans())
    names = st.lists(fields() | st.sampled_from(["O", "B-PER", "I-PER", "pos", "neg"]), max_size=5, unique=True)
    label_file = draw(st.none() | st.tuples(st.sampled_from(LABEL_FILES), garbage() | names.map(
        lambda names: "\n".join(names).encode()) | st.none()))
    spec = mostly_none(["0", "1", "2", "0,1", "text", "label", "tokens", "\u00b2", "-1", " 1"])
    config = dict(quoting=draw(st.sampled_from(["auto", "csv", "none"])),
                  format=draw(st.sampled_from(["auto", "auto", "auto", *FORMATS])),
                  header=draw(st.sampled_from(["auto", "yes", "no"])),
                  tag_scheme=draw(st.sampled_from(["auto", "iob1", "iob2"])), strict=draw(st.booleans()),
                  delimiter=draw(mostly_none([",", "\t", ";", "|", " ", "\\t", "", '"', "ab", "\n"])),
                  text_column=draw(spec), text_pair_column=draw(spec), label_column=draw(spec))
    task = entries[0][1] if entries[0][1] and draw(st.integers(0, 2)) else draw(st.sampled_from(list(TASKS)))
    return dict(task=task, entries=entries, in_directory=in_directory, label_file=label_file, config=config,
                label_names=draw(mostly_none(["file", "missing", "directory", "pos,neg", "O,B-PER,I-PER", ",", "a,a"])),
                names_file=draw(garbage() | names.map(lambda names: "\n".join(names).encode())))


def check_examples(splits: dict, names, task: str, root: pathlib.Path) -> None:
    """What every loaded data set satisfies, whatever the input: examples with text (words), a label (BIO tags;
    none for a masked-LM corpus), each from a line of a file under `root`; and label names that are names."""
    for examples in splits.values():
        assert len(examples.labels) == len(examples.where) > 0
        for place in examples.where:
            file, line = place.rsplit(":", 1)
            assert file.startswith(str(root)) and 1 <= int(line) <= line_count(pathlib.Path(file)), place
        if task == "ner":
            assert len(examples.words) == len(examples.labels)
            for words, tags in zip(examples.words, examples.labels):
                assert words and len(words) == len(tags), (words, tags)
                assert all(isinstance(w, str) and w.strip() and w.encode("utf-8") for w in words), words
                assert all(re.fullmatch(r"O|[BI]-[^\n\r]+", tag) for tag in tags), tags
        elif task == "mlm":  # unlabelled documents
            assert examples.labels == [None] * len(examples.texts)
            assert all(isinstance(text, str) and text and text == text.strip() for text in examples.texts)
        else:
            columns = [examples.texts, examples.labels] + ([examples.text_pairs] if task == "pair" else [])
            for column in columns:
                assert len(column) == len(examples.labels)
                for value in column:
                    assert isinstance(value, str) and value and value == value.strip() and value.encode("utf-8"), value
            assert not any("\n" in label or "\r" in label for label in examples.labels)
    assert names is None or (len(set(names)) == len(names) and all(n and n == n.strip() for n in names)), names


@pytest.mark.slow
@given(source=garbage_sources())
@FUZZ
def test_garbage_in_loads_or_names_the_place(tmp_path, cases, source):
    task = source["task"]
    with tempfile.TemporaryDirectory(dir=tmp_path) as directory:
        root = pathlib.Path(directory)
        data = root / "data" if source["in_directory"] else root
        data.mkdir(exist_ok=True)
        for stem, _, suffix, content in source["entries"]:
            (data / (stem + suffix)).mkdir() if content is None else write(data, stem + suffix, content)
        if source["label_file"] and source["in_directory"]:
            name, content = source["label_file"]
            (data / name).mkdir() if content is None else write(data, name, content)
        label_names = {"file": str(root / "names.txt"), "missing": str(root / "missing.txt"),
                       "directory": str(data)}.get(source["label_names"], source["label_names"])
        write(root, "names.txt", source["names_file"])
        dataset = data if source["in_directory"] else data / (source["entries"][0][0] + source["entries"][0][2])
        config = DataConfig(dataset=str(dataset), label_names=label_names, **source["config"])
        try:
            splits, names = read_splits(config, TASKS[task])
        except DataError as err:
            assert_names_a_place(str(err), dataset, root / "names.txt")
            cases.update(["cases", error_kind(str(err))])
            return
        check_examples(splits, names, task, root)
        try:
            loaded = load_data(config, TASKS[task])
        except DataError as err:  # too few examples or classes to split: a problem of the data set, not a place
            assert "\n" not in str(err) and "\r" not in str(err), str(err)
            cases.update(["cases", "read, then " + error_kind(str(err))])
            return
    unlabelled = {None} if task == "mlm" else set()
    for examples in loaded.splits.values():
        assert len(examples) and set(examples.flat_labels()) <= set(loaded.labels.names) | unlabelled
    cases.update(["cases", "loaded"])


# ---------------------------------------------------------------- the command line


def train(*args: str) -> subprocess.CompletedProcess:
    """`python -m tfft.train ARGS` in this process, stopped where it would build the model: none of these inputs
    may get that far."""

    def accepted(*_, **__):
        raise AssertionError(f"tfft.train accepted {args}")

    with mock.patch("tfft.training.loop.make_trainer", accepted):
        return in_process("train", *args)


def train_command(*args: str) -> subprocess.CompletedProcess:
    """The command itself, in a new process."""
    return subprocess.run([sys.executable, "-m", "tfft.train", *args], cwd=ROOT, capture_output=True, text=True,
                          errors="replace", timeout=600)


def assert_refused(result: subprocess.CompletedProcess, out: pathlib.Path) -> str:
    """Exit code 2, no traceback, the last line of stderr one "error: ..." line; the run directory absent or
    holding only the complete record of the run's settings. Returns that line."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = [line for line in result.stderr.split("\n") if line.strip()][-1]
    assert last.startswith("error: ") and result.stderr.rstrip("\n").endswith(last), result.stderr[-3000:]
    if out.exists():
        assert {p.name for p in out.iterdir()} <= {"config.json", "flags.txt"}, sorted(out.iterdir())
        json.loads((out / "config.json").read_text(encoding="utf-8"))
    return last


@st.composite
def bad_data(draw):
    """A data file that cannot load: invalid UTF-8, a row with another field count, a JSON line that is not an
    object, or a CoNLL line with a tag that is not BIO. Returns (kind, task, file name, bytes, where the error is)."""
    kind = draw(st.sampled_from(["utf-8", "fields", "json", "conll"]))
    plain = st.text(chars('\t\n\r"'), min_size=1, max_size=20)
    rows = draw(st.lists(st.tuples(plain, st.sampled_from(["0", "1"])), min_size=2, max_size=10))
    at = draw(st.integers(0, len(rows) - 1))
    if kind == "utf-8":
        lines = [f"{text}\t{label}" for text, label in rows]
        before = "\n".join(["text\tlabel", *lines[:at]]) + "\n"
        bad = draw(st.sampled_from([b"\xff", b"\xe9", b"\xc3(", b"\xed\xa0\x80", b"\xf0\x9f"]))
        data = before.encode() + bad + "\n".join(lines[at:]).encode()
        return kind, "classification", "train.tsv", data, f":{before.count(chr(10)) + 1}: not valid UTF-8"
    if kind == "fields":
        lines = [f"{text}\t{label}" for text, label in rows]
        lines[at] += "\t" + draw(plain)  # the first row sets the count: an extra field there shows on line 2
        return kind, draw(st.sampled_from(["classification", "pair"])), "train.tsv", "\n".join(lines).encode(), \
            f":{at + 1 if at else 2}: expected"
    if kind == "json":
        lines = [json.dumps({"text": text, "label": label}) for text, label in rows]
        lines[at] = json.dumps(draw(st.lists(st.integers(), max_size=2) | st.integers() | st.text() | st.none()))
        return kind, "classification", "train.jsonl", "\n".join(lines).encode(), f":{at + 1}: expected a JSON object"
    tag = draw(NON_SPACE.filter(lambda t: not re.fullmatch(r"O|[BI]-\S+", t)))
    lines = [f"{draw(NON_SPACE)} O" for _ in rows]
    lines[at] = f"{draw(NON_SPACE.filter(lambda t: t != '-DOCSTART-'))} {tag}"
    return kind, "ner", "train.conll", "\n".join(lines).encode(), f":{at + 1}: tag"


@given(case=bad_data())
@CLI_FUZZ
def test_cli_refuses_bad_data(tmp_path, cases, case):
    kind, task, name, content, place = case
    with tempfile.TemporaryDirectory(dir=tmp_path) as directory:
        path, out = write(pathlib.Path(directory), name, content), pathlib.Path(directory) / "run"
        result = train(f"--task={task}", f"--dataset={path}", "--model=all-MiniLM-L6-v2", f"--output_dir={out}",
                       "--max_steps=1")
        assert assert_refused(result, out).startswith(f"error: {path}{place}"), result.stderr[-2000:]
    cases.update(["cases", f"refused: {kind}"])


SAFE_FLAG_LINES = st.one_of(
    st.sampled_from(["", "   ", "\t", "--dataset=sample", "--max_steps=1", "--model=all-MiniLM-L6-v2"]),
    st.text(chars("\n\r"), max_size=20).flatmap(
        lambda text: st.sampled_from([f"#{text}", f"//{text}"])),
    st.integers(0, 10 ** 6).map("--seed={}".format), st.floats(1e-6, 1.0).map("--lr={}".format),
    st.sampled_from(list(TASKS)).map("--task={}".format))
NOT_A_NUMBER = st.text(chars("\n\r"), max_size=6).map(
    lambda text: text + "z")  # 'z' ends neither an int nor a float


@st.composite
def bad_flag_lines(draw) -> tuple[str, str, str]:
    """(kind, a flagfile line no run can start with, the flag or file its error must name)."""
    kind = draw(st.sampled_from(["unknown", "int", "float", "enum", "bool", "range", "nested"]))
    if kind == "unknown":
        name = "fuzz_" + draw(st.text("abcdefghijklmnopqrstuvwxyz_0123456789", max_size=8))
        return kind, f"--{name}={draw(NOT_A_NUMBER)}", name
    if kind == "int":
        name = draw(st.sampled_from(["batch_size", "max_steps", "seed", "max_seq_length"]))
        return kind, f"--{name}={draw(NOT_A_NUMBER)}", name
    if kind == "float":
        name = draw(st.sampled_from(["lr", "val_fraction", "weight_decay"]))
        return kind, f"--{name}={draw(NOT_A_NUMBER)}", name
    if kind == "enum":
        name = draw(st.sampled_from(["task", "quoting", "header", "optimizer", "precision"]))
        return kind, f"--{name}=fuzz-{draw(st.text('abcxyz', max_size=4))}", name
    if kind == "bool":
        name = draw(st.sampled_from(["strict", "xla", "export"]))
        return kind, f"--{name}={draw(st.sampled_from(['maybe', '2', 'yes please', 'nope']))}", name
    if kind == "range":  # values the flags parse but tfft refuses; no safe line sets these flags
        name, value = draw(st.sampled_from([("val_fraction", st.floats(1.0, 10.0)), ("test_fraction", st.floats(
            -5.0, 0.0)), ("batch_size", st.integers(-5, 0)), ("max_train_examples", st.integers(-5, 1))]))
        return kind, f"--{name}={draw(value)}", name
    return kind, "--flagfile=/nonexistent/fuzz.cfg", "/nonexistent/fuzz.cfg"


@given(safe=st.lists(SAFE_FLAG_LINES, max_size=8), bad=st.lists(bad_flag_lines(), min_size=1, max_size=3),
       newline=st.sampled_from(["\n", "\r\n"]), order=st.randoms(use_true_random=False))
@CLI_FUZZ
def test_cli_refuses_bad_flagfiles(tmp_path, cases, safe, bad, newline, order):
    lines = safe + [line for _, line, _ in bad]
    order.shuffle(lines)
    with tempfile.TemporaryDirectory(dir=tmp_path) as directory:
        flagfile = write(pathlib.Path(directory), "fuzz.cfg", newline.join(lines) + newline)
        out = pathlib.Path(directory) / "run"
        line = assert_refused(train(f"--flagfile={flagfile}", f"--output_dir={out}"), out)
        assert any(name in line for _, _, name in bad), (line, bad)
        assert not out.exists()
    cases.update(["cases", *(f"refused, with a bad line: {kind}" for kind in {kind for kind, _, _ in bad})])


@pytest.mark.slow
def test_cli_refuses_a_flagfile_that_is_not_utf8(tmp_path):
    """By the command itself (absl reads the flagfile in the locale's encoding), in the line made in this process."""
    flagfile = write(tmp_path, "latin.cfg", "--task=classification\n# caf\u00e9\n", encoding="latin-1")
    out = tmp_path / "run"
    line = assert_refused(train_command(f"--flagfile={flagfile}", f"--output_dir={out}"), out)
    assert f"{flagfile}" in line
    assert assert_refused(train(f"--flagfile={flagfile}", f"--output_dir={out}"), out) == line


@st.composite
def bad_label_names(draw):
    """Label names no data set with integer labels 0 and 1 can use: not UTF-8, a name listed twice, too few
    names, no names, or a directory given as the file. Returns (kind, bytes or None for a directory, delivery)."""
    kind = draw(st.sampled_from(["not utf-8", "duplicate", "one name", "empty", "directory"]))
    name = st.text(chars("\n\r,", ("Z", "Cc")), min_size=1, max_size=8).filter(
        lambda n: n == n.strip() and not n.startswith("\ufeff"))
    names = draw(st.lists(name, min_size=2, max_size=4, unique=True))
    if kind == "not utf-8":
        data = "\n".join(names).encode("utf-8") + b"\n" + draw(st.sampled_from([b"\xff", b"caf\xe9", b"\xc3("]))
    elif kind == "duplicate":
        data = "\n".join(names + [draw(st.sampled_from(names))]).encode()
    elif kind == "one name":
        data = names[0].encode()
    else:
        data = draw(st.sampled_from([b"", b"\n \n", b"\xef\xbb\xbf"])) if kind == "empty" else None
    delivery = "--label_names" if data is None else draw(st.sampled_from(["--label_names", "classes.txt"]))
    return kind, data, delivery


@given(case=bad_label_names())
@CLI_FUZZ
def test_cli_refuses_bad_label_names(tmp_path, cases, case):
    kind, content, delivery = case
    with tempfile.TemporaryDirectory(dir=tmp_path) as directory:
        root = pathlib.Path(directory)
        data, names, out = root / "data", root / "names", root / "run"
        data.mkdir()
        train_file = write(data, "train.tsv", "".join(f"{i % 2}\tsentence number {i}\n" for i in range(20)))
        if content is None:
            names.mkdir()
        else:
            names = write(root, "names.txt", content) if delivery == "--label_names" else write(data, "classes.txt",
                                                                                                 content)
        result = train("--task=classification", f"--dataset={data}", "--model=all-MiniLM-L6-v2",
                       f"--output_dir={out}", "--max_steps=1", "--header=no", "--label_column=0", "--text_column=1",
                       *([f"--label_names={names}"] if delivery == "--label_names" else []))
        line = assert_refused(result, out)
        # too few names: the first label id that names none is the place
        named = f"{train_file}:2: " if kind in ("one name", "directory") else f"{names}"
        assert line.startswith(f"error: {named}"), line
    cases.update(["cases", f"refused: {kind}"])
