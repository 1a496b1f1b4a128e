"""Parsers for local data files: delimited text (CSV, TSV, ';'-separated), JSON Lines and CoNLL columns.

Each returns rows with the line each came from, so later checks can point at `file:line`. Real files have
quirks these parsers survive (see ../shared/data/*/SOURCE.md): a UTF-8 byte-order mark (MRPC), unescaped
double quotes in tab-separated text (MRPC: a CSV reader with quoting merges rows, so 'auto' quoting
falls back to plain splitting when that gives a consistent table and quoting does not), fields quoted
with doubled quotes (AG News), ';' separators (emotion), and -DOCSTART- blocks (CoNLL).
"""

import csv
import io
import json
import pathlib
from typing import NamedTuple

from tfft.data.examples import DataError, Examples
from tfft.tasks.ner import check_tag, iob1_to_iob2, starts_with_inside

DELIMITERS = {".csv": ",", ".tsv": "\t"}
SNIFF_DELIMITERS = ("\t", ",", ";", "|")
QUOTING = ("auto", "csv", "none")
TAG_SCHEMES = ("auto", "iob1", "iob2")


class Table(NamedTuple):
    rows: list[list[str]]
    lines: list[int]  # 1-based line where each row starts
    delimiter: str


def read_text(path: pathlib.Path) -> str:
    """The file as text: UTF-8 (a BOM is dropped), universal newlines; errors name the line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise DataError(f"{path}: no such file") from err
    except IsADirectoryError as err:
        raise DataError(f"{path}: is a directory, expected a data file") from err
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start}); "
                        "re-save the file as UTF-8") from err
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    return text


def sniff_delimiter(path: pathlib.Path, text: str) -> str:
    """By extension (.csv ',', .tsv tab), else the candidate found the same number of times on every line."""
    if path.suffix.lower() in DELIMITERS:
        return DELIMITERS[path.suffix.lower()]
    sample = [line for line in text.split("\n")[:200] if line.strip()]
    for candidate in SNIFF_DELIMITERS:
        counts = {line.count(candidate) for line in sample}
        if len(counts) == 1 and counts.pop() > 0:
            return candidate
    raise DataError(f"{path}: cannot tell the column separator (tried tab, ',', ';', '|'); set --delimiter")


def _parse_csv(text: str, delimiter: str) -> tuple[list[list[str]], list[int]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows, lines, line = [], [], 1
    for row in reader:
        if any(field.strip() for field in row):
            rows.append(row)
            lines.append(line)
        line = reader.line_num + 1
    return rows, lines


def _parse_plain(text: str, delimiter: str) -> tuple[list[list[str]], list[int]]:
    rows, lines = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            rows.append(line.split(delimiter))
            lines.append(number)
    return rows, lines


def _first_inconsistent(rows: list[list[str]]) -> int | None:
    return next((i for i, row in enumerate(rows) if len(row) != len(rows[0])), None)


def read_delimited(path: pathlib.Path, *, delimiter: str | None = None, quoting: str = "auto") -> Table:
    """Rows of a delimited file. quoting: 'csv' (RFC 4180 quotes), 'none' (split lines), 'auto' (see above)."""
    if quoting not in QUOTING:
        raise DataError(f"--quoting={quoting!r}: expected one of {', '.join(QUOTING)}")
    text = read_text(path)
    delimiter = delimiter or sniff_delimiter(path, text)
    quoted, plain = _parse_csv(text, delimiter), _parse_plain(text, delimiter)
    if quoting == "auto":
        embedded = any(delimiter in field or "\n" in field for row in quoted[0] for field in row)
        plain_wins = _first_inconsistent(plain[0]) is None and (
            _first_inconsistent(quoted[0]) is not None or (embedded and len(plain[0]) > len(quoted[0])))
        quoting = "none" if plain_wins else "csv"
    rows, lines = plain if quoting == "none" else quoted
    bad = _first_inconsistent(rows)
    if bad is not None:
        raise DataError(f"{path}:{lines[bad]}: expected {len(rows[0])} fields (as on line {lines[0]}), found "
                        f"{len(rows[bad])}; check --delimiter / --quoting")
    return Table(rows, lines, delimiter)


def read_jsonl(path: pathlib.Path) -> tuple[list[dict], list[int]]:
    """JSON Lines (one object per line); a .json file may instead hold one array of objects."""
    text = read_text(path)
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from err
        lines = list(range(1, len(records) + 1))
    else:
        records, lines = [], []
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{number}: not valid JSON ({err.msg})") from err
            lines.append(number)
    for record, number in zip(records, lines):
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, found {type(record).__name__}")
    return records, lines


def read_conll(path: pathlib.Path, *, tag_scheme: str = "auto") -> tuple[Examples, int]:
    """CoNLL columns: token first, tag last, blank lines between sentences, -DOCSTART- blocks skipped.

    Returns the sentences and how many were converted from IOB1 to IOB2.
    """
    if tag_scheme not in TAG_SCHEMES:
        raise DataError(f"--tag_scheme={tag_scheme!r}: expected one of {', '.join(TAG_SCHEMES)}")
    words, tags, where, tag_lines = [], [], [], []
    current, current_tags, current_lines = [], [], []

    def close():
        if current:
            words.append(list(current))
            tags.append(list(current_tags))
            where.append(f"{path}:{current_lines[0]}")
            tag_lines.append(list(current_lines))
        current.clear(), current_tags.clear(), current_lines.clear()

    for number, line in enumerate(read_text(path).split("\n"), start=1):
        fields = line.split()
        if not fields:
            close()
            continue
        if fields[0] == "-DOCSTART-":
            close()
            continue
        if len(fields) < 2:
            raise DataError(f"{path}:{number}: expected a token and a tag separated by whitespace, found {line!r}")
        problem = check_tag(fields[-1])
        if problem:
            raise DataError(f"{path}:{number}: {problem}")
        current.append(fields[0])
        current_tags.append(fields[-1])
        current_lines.append(number)
    close()
    converted = 0
    for i, sentence_tags in enumerate(tags):
        if starts_with_inside(sentence_tags):
            if tag_scheme == "iob2":
                first = next(line for line, tag, fixed in zip(tag_lines[i], sentence_tags, iob1_to_iob2(sentence_tags))
                             if tag != fixed)
                raise DataError(f"{path}:{first}: an entity starts with I- (not valid IOB2/BIO); pass "
                                "--tag_scheme=iob1 (or auto) to convert IOB1 tags")
            tags[i] = iob1_to_iob2(sentence_tags)
            converted += 1
    if not words:
        raise DataError(f"{path}: no sentences found (expected 'token ... tag' lines)")
    return Examples(labels=tags, where=where, words=words), converted
