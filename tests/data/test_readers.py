"""File parsers on the tricky cases real files have (see ../shared/data/*/SOURCE.md), checked against
hand-written expectations and Python's csv module used independently."""

import csv
import io
import json

import pytest

from tfft.data.examples import DataError
from tfft.data.readers import read_conll, read_delimited, read_jsonl, read_text, sniff_delimiter


def write(tmp_path, name, content, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
    return path


def test_quoted_csv_with_embedded_newlines_delimiters_and_doubled_quotes(tmp_path):
    rows = [["text", "label"], ['He said "wow", twice', "pos"], ["line one\nline two", "neg"], ["a\tb", "pos"]]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    table = read_delimited(write(tmp_path, "d.csv", buffer.getvalue()))
    assert table.rows == rows
    assert table.lines == [1, 2, 3, 5]


def test_unescaped_quotes_in_tsv_fall_back_to_plain_splitting(tmp_path):
    """MRPC: a field starting with a quote makes a CSV reader merge rows; 'auto' must keep every line."""
    content = "\ufeffQuality\t#1 String\t#2 String\n1\t\"Yes\" he said\tHe agreed\n0\tno quote\t\"odd\n1\tplain\ttext\n"
    path = write(tmp_path, "mrpc.tsv", content)
    assert len(list(csv.reader(io.StringIO(content), delimiter="\t"))) < 4  # the trap
    table = read_delimited(path)
    assert table.rows[0] == ["Quality", "#1 String", "#2 String"]  # BOM dropped
    assert [row[1] for row in table.rows[1:]] == ['"Yes" he said', "no quote", "plain"]
    assert table.lines == [1, 2, 3, 4]
    assert len(read_delimited(path, quoting="csv").rows) == 3  # forcing CSV quoting merges two rows


def test_valid_csv_with_a_quoted_line_break_keeps_its_quoting(tmp_path):
    """Each physical line has one comma, so plain splitting gives a consistent table too; the file is RFC 4180."""
    path = write(tmp_path, "d.csv", 'text,label\n"a,\nb",pos\n')
    assert read_delimited(path).rows == [["text", "label"], ["a,\nb", "pos"]]


def test_a_field_longer_than_the_csv_modules_default_limit(tmp_path):
    long = "word " * 30000  # 150000 characters; csv.field_size_limit() is 131072 by default
    assert read_delimited(write(tmp_path, "long.csv", f'text,label\n"{long}",pos\n')).rows[1] == [long, "pos"]


def test_only_blank_rows_and_separators(tmp_path):
    with pytest.raises(DataError, match=r"sep.csv: no rows, only blank lines and separators"):
        read_delimited(write(tmp_path, "sep.csv", ",\n \n,,\n"))


@pytest.mark.parametrize("delimiter", ["\\t", ";;"])
def test_a_delimiter_of_several_characters(tmp_path, delimiter):
    with pytest.raises(DataError, match=r"--delimiter=.*: expected one character"):
        read_delimited(write(tmp_path, "d.txt", "a\tb\n"), delimiter=delimiter)


def test_semicolon_separator_is_sniffed(tmp_path):
    path = write(tmp_path, "emotion.txt", "text;label_name\ni feel fine;joy\nim so sad;sadness\n")
    assert sniff_delimiter(path, read_text(path)) == ";"
    assert read_delimited(path).rows[2] == ["im so sad", "sadness"]


def test_inconsistent_row_names_its_line(tmp_path):
    path = write(tmp_path, "bad.tsv", "1\tgood\n0\tgood too\n1\ttoo\tmany\n")
    with pytest.raises(DataError, match=r"bad.tsv:3: expected 2 fields \(as on line 1\), found 3"):
        read_delimited(path)


def test_empty_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(DataError, match="empty.csv: the file is empty"):
        read_text(write(tmp_path, "empty.csv", "\n  \n"))
    with pytest.raises(DataError, match="nope.csv: no such file"):
        read_text(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"latin.csv:2: not valid UTF-8 \(byte 0xe9"):
        read_text(write(tmp_path, "latin.csv", "text,label\ncaf\u00e9,1\n", encoding="latin-1"))


def test_jsonl_and_json_array(tmp_path):
    records, lines = read_jsonl(write(tmp_path, "d.jsonl", '{"text": "a", "label": 1}\n\n{"text": "b", "label": 0}\n'))
    assert records == [{"text": "a", "label": 1}, {"text": "b", "label": 0}] and lines == [1, 3]
    records, _ = read_jsonl(write(tmp_path, "d.json", '[{"text": "a"}, {"text": "b"}]'))
    assert [r["text"] for r in records] == ["a", "b"]
    with pytest.raises(DataError, match=r"bad.jsonl:2: not valid JSON"):
        read_jsonl(write(tmp_path, "bad.jsonl", '{"text": "a"}\n{"text": \n'))
    with pytest.raises(DataError, match=r"list.jsonl:1: expected a JSON object, found list"):
        read_jsonl(write(tmp_path, "list.jsonl", "[1, 2]\n"))


def test_json_array_elements_name_the_line_they_start_on(tmp_path):
    records = [{"text": "a", "label": 1}, {"text": "b", "label": 0}]
    assert read_jsonl(write(tmp_path, "d.json", json.dumps(records, indent=2))) == (records, [2, 6])


@pytest.mark.parametrize("line,message", [
    ("[" * 5000, r"not valid JSON \(nested too deeply\)"),
    ('{"text": "a", "label": ' + "1" * 5000 + "}", r"not valid JSON \(a number too long to read\)"),
    ('{"text": "\\ud800", "label": 1}', r"a \\u escape spells half a surrogate pair"),
])
def test_json_that_python_reads_but_no_data_file_holds(tmp_path, line, message):
    path = write(tmp_path, "d.jsonl", '{"text": "\\ud83d\\ude00", "label": 0}\n' + line + "\n")  # a pair is fine
    with pytest.raises(DataError, match=r"d.jsonl:2: " + message):
        read_jsonl(path)


CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

Lyon NNP B-NP B-LOC
"""


def test_conll_skips_docstart_and_keeps_lines(tmp_path):
    examples, converted = read_conll(write(tmp_path, "train.txt", CONLL))
    assert examples.words == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"], ["Lyon"]]
    assert examples.labels == [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"], ["B-LOC"]]
    assert [w.rsplit(":", 1)[1] for w in examples.where] == ["3", "8", "13"]
    assert converted == 0


def test_conll_iob1_is_converted_or_rejected(tmp_path):
    iob1 = "Peter I-PER\nBlackburn I-PER\nand O\nBonn I-LOC\nParis B-LOC\n"
    path = write(tmp_path, "iob1.txt", iob1)
    examples, converted = read_conll(path)
    assert examples.labels == [["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]] and converted == 1
    with pytest.raises(DataError, match=r"iob1.txt:1: an entity starts with I- .*--tag_scheme=iob1"):
        read_conll(path, tag_scheme="iob2")


@pytest.mark.parametrize("content,message", [
    ("EU B-ORG\nrejects\n", r"x.txt:2: expected a token and a tag"),
    ("EU B-ORG\nrejects PER\n", r"x.txt:2: tag 'PER' is not BIO"),
    ("EU X-ORG\n", r"x.txt:1: tag 'X-ORG' is not BIO"),
    ("-DOCSTART- O\n\n", r"x.txt: no sentences found"),
])
def test_conll_errors_name_the_line(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        read_conll(write(tmp_path, "x.txt", content))
