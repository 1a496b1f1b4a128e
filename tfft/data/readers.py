"""Parsers for local data files: delimited text (CSV, TSV, ';'-separated), JSON Lines and CoNLL columns.

Each returns rows with the line each came from, so later checks can point at `file:line`. Real files have
quirks these parsers survive (each seen in the distributed files named): a UTF-8 byte-order mark (MRPC), unescaped
double quotes in tab-separated text (MRPC: a CSV reader with quoting merges rows, so 'auto' quoting
falls back to plain splitting when that gives a consistent table and quoting does not, or when quoting merged
lines and the file is not RFC 4180 CSV), fields quoted with doubled quotes (AG News), ';' separators (emotion),
and -DOCSTART- blocks (CoNLL).
"""

import csv
import itertools
import json
import pathlib
import re
from collections.abc import Iterator
from typing import NamedTuple

from tfft.data.examples import DataError, Examples
from tfft.tasks.ner import check_tag, iob1_to_iob2, starts_with_inside

DELIMITERS = {".csv": ",", ".tsv": "\t"}
SNIFF_DELIMITERS = ("\t", ",", ";", "|")
SNIFF_LINES = 200  # lines a separator is sniffed from
QUOTING = ("auto", "csv", "none")
TAG_SCHEMES = ("auto", "iob1", "iob2")
JSON_SPACE = re.compile(r"[ \t\n\r]*")  # the whitespace JSON allows between values


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


def lines_of(text: str) -> Iterator[str]:
    """The text's lines, each with its '\\n' (the last may lack one), made one at a time: a list of them, or an
    io.StringIO (4 bytes a character), would copy a file of one 100-million-character row whole."""
    start = 0
    while start < len(text):
        end = text.find("\n", start) + 1 or len(text)
        yield text[start:end]
        start = end


def sniff_delimiter(path: pathlib.Path, text: str) -> str:
    """By extension (.csv ',', .tsv tab), else the candidate found the same number of times on every one of the
    first lines, else the one that splits them into a table of equal rows as CSV quotes it (a quoted field may hold
    the separator)."""
    if path.suffix.lower() in DELIMITERS:
        return DELIMITERS[path.suffix.lower()]
    head = list(itertools.islice(lines_of(text), SNIFF_LINES + 1))
    sample, cut = [line for line in head[:SNIFF_LINES] if line.strip()], len(head) > SNIFF_LINES
    for candidate in SNIFF_DELIMITERS:
        counts = {line.count(candidate) for line in sample}
        if len(counts) == 1 and counts.pop() > 0:
            return candidate
    for candidate in SNIFF_DELIMITERS:
        rows = [row for row in _csv_reader(sample, candidate, len(text)) if any(field.strip() for field in row)]
        widths = {len(row) for row in (rows[:-1] if cut else rows)}  # a cut sample may end inside a quoted field
        if len(widths) == 1 and widths.pop() > 1:
            return candidate
    raise DataError(f"{path}: cannot tell the column separator (tried tab, ',', ';', '|'); set --delimiter")


def _csv_reader(lines, delimiter: str, size: int, **options):
    """csv.reader, allowing fields of up to `size` characters (the default limit, 131072, refuses long documents)."""
    csv.field_size_limit(max(csv.field_size_limit(), size))
    return csv.reader(lines, delimiter=delimiter, **options)


def _parse_csv(text: str, delimiter: str) -> tuple[list[list[str]], list[int]]:
    reader = _csv_reader(lines_of(text), delimiter, len(text))
    rows, lines, line = [], [], 1
    for row in reader:
        if any(field.strip() for field in row):
            rows.append(row)
            lines.append(line)
        line = reader.line_num + 1
    return rows, lines


def _parse_plain(text: str, delimiter: str) -> tuple[list[list[str]], list[int]]:
    rows, lines = [], []
    for number, line in enumerate(lines_of(text), start=1):
        if line.strip():
            rows.append(line.split(delimiter))
            rows[-1][-1] = rows[-1][-1].removesuffix("\n")  # the last field's, not a copy of the whole line
            lines.append(number)
    return rows, lines


def _is_rfc4180(text: str, delimiter: str) -> bool:
    """Whether the text is CSV as RFC 4180 quotes it: a quote opens a field and closes it before a separator."""
    try:
        for _ in _csv_reader(lines_of(text), delimiter, len(text), strict=True):
            pass
    except csv.Error:
        return False
    return True


def _first_inconsistent(rows: list[list[str]]) -> int | None:
    return next((i for i, row in enumerate(rows) if len(row) != len(rows[0])), None)


def read_delimited(path: pathlib.Path, *, delimiter: str | None = None, quoting: str = "auto") -> Table:
    """Rows of a delimited file. quoting: 'csv' (RFC 4180 quotes), 'none' (split lines), 'auto' (see above)."""
    if quoting not in QUOTING:
        raise DataError(f"--quoting={quoting!r}: expected one of {', '.join(QUOTING)}")
    if delimiter and len(delimiter) != 1:
        raise DataError(f"--delimiter={delimiter!r}: expected one character (a tab: --delimiter=$'\\t' in bash)")
    text = read_text(path)
    delimiter = delimiter or sniff_delimiter(path, text)
    rows, lines = _parse_csv(text, delimiter) if quoting != "none" else _parse_plain(text, delimiter)
    if quoting == "auto":  # plain splitting can win only where quoting gave no table or quoted a separator
        embedded = any(delimiter in field or "\n" in field for row in rows for field in row)
        if embedded or _first_inconsistent(rows) is not None:
            plain = _parse_plain(text, delimiter)
            if _first_inconsistent(plain[0]) is None and (
                    _first_inconsistent(rows) is not None
                    or (embedded and len(plain[0]) > len(rows) and not _is_rfc4180(text, delimiter))):
                rows, lines = plain
    if not rows:
        raise DataError(f"{path}: no rows, only blank lines and separators")
    bad = _first_inconsistent(rows)
    if bad is not None:
        raise DataError(f"{path}:{lines[bad]}: expected {len(rows[0])} fields (as on line {lines[0]}), found "
                        f"{len(rows[bad])}; check --delimiter / --quoting")
    return Table(rows, lines, delimiter)


def _parse_json(text: str, path: pathlib.Path, line: int):
    """One JSON value that starts on `line`; whatever json.loads refuses is a DataError naming the line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{line + err.lineno - 1}: not valid JSON ({err.msg})") from err
    except RecursionError as err:
        raise DataError(f"{path}:{line}: not valid JSON (nested too deeply)") from err
    except ValueError as err:  # an integer of more digits than int() reads (sys.get_int_max_str_digits)
        raise DataError(f"{path}:{line}: not valid JSON (a number too long to read)") from err


def _element_lines(text: str, count: int) -> list[int]:
    """The line each of the `count` elements of the (valid) JSON array in `text` starts on."""
    decoder, lines, line, position = json.JSONDecoder(), [], 1, text.index("[")
    for _ in range(count):
        start = JSON_SPACE.match(text, position + 1).end()  # past the '[' or ',' before the element
        line += text.count("\n", position, start)
        lines.append(line)
        position = JSON_SPACE.match(text, decoder.raw_decode(text, start)[1]).end()
        line += text.count("\n", start, position)
    return lines


def read_jsonl(path: pathlib.Path, *, array: bool | None = None) -> tuple[list[dict], list[int]]:
    """JSON Lines (one object per line); with `array` (by default: a .json file) the file may instead hold one array
    of objects."""
    text = read_text(path)
    if (path.suffix.lower() == ".json" if array is None else array) and text.lstrip().startswith("["):
        records = _parse_json(text, path, 1)
        lines = _element_lines(text, len(records))
    else:
        records, lines = [], []
        for number, line in enumerate(lines_of(text), start=1):
            if line.strip():
                records.append(_parse_json(line.removesuffix("\n"), path, number))
                lines.append(number)
    escapes = "\\u" in text
    for record, number in zip(records, lines):
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, found {type(record).__name__}")
        if escapes:
            try:  # a \u escape can spell half a surrogate pair: no character, and no tokenizer takes it
                json.dumps(record, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as err:
                raise DataError(f"{path}:{number}: a \\u escape spells half a surrogate pair, which is not a "
                                "character") from err
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

    for number, line in enumerate(lines_of(read_text(path)), start=1):
        # the token, and the rest, whose last field is the tag: line.split() would make a string of every field
        fields = line.split(None, 1)
        if not fields:
            close()
            continue
        if fields[0] == "-DOCSTART-":
            close()
            continue
        if len(fields) < 2:
            found = line.removesuffix("\n")
            raise DataError(f"{path}:{number}: expected a token and a tag separated by whitespace, found {found!r}")
        tag = fields[1].rsplit(None, 1)[-1]
        problem = check_tag(tag)
        if problem:
            raise DataError(f"{path}:{number}: {problem}")
        current.append(fields[0])
        current_tags.append(tag)
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
