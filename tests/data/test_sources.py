"""Data sources: column choice, headers, label names, directories, JSONL, the embedded samples, the Hub; split files
given by flag, formats told by content, where each split comes from, and texts cut as they are read."""

import logging
import random

import pytest

from tfft.data import DataConfig, DataError, load_data
from tfft.data.sources import read_splits, split_of
from tfft.tasks import TASKS

CLS, PAIR, NER = TASKS["classification"], TASKS["pair"], TASKS["ner"]


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def test_split_names_from_file_names(tmp_path):
    assert split_of(tmp_path / "train.tsv") == "train"
    assert split_of(tmp_path / "dev.txt") == "validation"
    assert split_of(tmp_path / "msr_paraphrase_test.txt") == "test"
    assert split_of(tmp_path / "readme.txt") is None
    # WNUT-17 as distributed: the whole name counts, suffixes that name no format included
    assert split_of(tmp_path / "wnut17train.conll") == "train"
    assert split_of(tmp_path / "emerging.dev.conll") == "validation"
    assert split_of(tmp_path / "emerging.test.annotated") == "test"
    assert split_of(tmp_path / "test.data") == "test"


def test_headerless_tsv_columns_are_guessed(tmp_path):
    write(tmp_path / "train.tsv", "".join(f"{i % 2}\tthis is sentence number {i} of the file\n" for i in range(20)))
    splits, _ = read_splits(DataConfig(dataset=str(tmp_path / "train.tsv")), CLS)
    assert splits["train"].texts[3] == "this is sentence number 3 of the file"
    assert splits["train"].labels[:3] == ["0", "1", "0"]


def test_columns_by_name_index_and_joined(tmp_path):
    path = write(tmp_path / "train.csv", 'id,title,body,topic\n1,Big win,"Team A beat B, 3-1",sports\n'
                                         '2,Rates up,Bank raises rates,business\n3,Draw,Nil-nil,sports\n')
    examples = read_splits(DataConfig(dataset=str(path), text_column="title,body", label_column="topic"), CLS)[0]
    assert examples["train"].texts[:2] == ["Big win Team A beat B, 3-1", "Rates up Bank raises rates"]
    assert examples["train"].labels == ["sports", "business", "sports"]
    by_index = read_splits(DataConfig(dataset=str(path), text_column="2", label_column="3"), CLS)[0]
    assert by_index["train"].texts[0] == "Team A beat B, 3-1"  # header detected from the label column
    no_header = read_splits(DataConfig(dataset=str(path), text_column="2", label_column="3", header="no"), CLS)[0]
    assert no_header["train"].texts[0] == "body"
    with pytest.raises(DataError, match=r"--text_column='headline': no column 'headline'; available columns: "
                                        r"'id', 'title', 'body', 'topic'"):
        read_splits(DataConfig(dataset=str(path), text_column="headline"), CLS)


def test_joined_columns_skip_empty_parts(tmp_path):
    path = write(tmp_path / "train.csv", "title,body,label\nBig win,,sports\n,,sports\nRates,up,business\n")
    splits, _ = read_splits(DataConfig(dataset=str(path), text_column="title,body"), CLS)
    assert splits["train"].texts == ["Big win", "Rates up"]


def test_a_column_of_distinct_values_is_never_the_label(tmp_path):
    """Issue 24: header 'review,id' chose text=[0] label=[0]; 'id' (unique integers) cannot be a label either."""
    rows = "".join(f"review number {i},{7 * i + 3}\n" for i in range(30))
    path = write(tmp_path / "reviews.csv", "review,id\n" + rows)
    with pytest.raises(DataError, match=r"reviews.csv: column 'id' cannot be the label: every value in it is distinct "
                                        r"\(30 distinct values in 30 rows\), .*; set --label_column$"):
        read_splits(DataConfig(dataset=str(path)), CLS)
    assert read_splits(DataConfig(dataset=str(path), label_column="id"), CLS)[0]["train"].texts[1] == "review number 1"
    rated = write(tmp_path / "rated.csv", "review,stars\n" + "".join(f"review {i},{i % 5}\n" for i in range(30)))
    splits, _ = read_splits(DataConfig(dataset=str(rated)), CLS)  # the label: the column no name chose
    assert splits["train"].texts[:2] == ["review 0", "review 1"] and splits["train"].labels[:2] == ["0", "1"]


@pytest.mark.parametrize("task,content", [(CLS, "one column\nanother line\n"), (PAIR, "a\t0\nb\t1\n")])
def test_too_few_columns_to_guess_from(tmp_path, task, content):
    path = write(tmp_path / "train.tsv", content)
    with pytest.raises(DataError, match=r"train.tsv: [12] column\(s\), expected a text, "):
        read_splits(DataConfig(dataset=str(path)), task)


def test_column_indices_out_of_range_and_digits_int_does_not_read(tmp_path):
    table = write(tmp_path / "train.csv", "a,b\nx,pos\ny,neg\nz,pos\n")
    with pytest.raises(DataError, match=r"--label_column index 5 is out of range: the file has 2 columns"):
        read_splits(DataConfig(dataset=str(table), label_column="5"), CLS)
    with pytest.raises(DataError, match=r"--label_column='\u00b2': no column '\u00b2'"):
        read_splits(DataConfig(dataset=str(table), label_column="\u00b2"), CLS)
    records = write(tmp_path / "train.jsonl", '{"text": "a", "label": 1}\n')
    with pytest.raises(DataError, match=r"train.jsonl: --label_column index 2 is out of range: the first record"):
        read_splits(DataConfig(dataset=str(records), label_column="2"), CLS)


def test_a_label_that_spans_lines(tmp_path):
    """A stray quote merges lines; such a label would make every message that lists the labels span lines."""
    path = write(tmp_path / "train.csv", 'text,label\na,"pos\nneg"\nb,pos\n')
    with pytest.raises(DataError, match=r"train.csv:2: label 'pos\\nneg' spans lines"):
        read_splits(DataConfig(dataset=str(path)), CLS)


def test_messages_that_list_columns_or_keys_stay_on_one_line(tmp_path):
    table = write(tmp_path / "train.csv", '"head\nline",label\na,pos\n')
    with pytest.raises(DataError) as err:
        read_splits(DataConfig(dataset=str(table), text_column="title"), CLS)
    assert str(err.value).endswith("available columns: 'head\\nline', 'label'")
    records = write(tmp_path / "train.jsonl", '{"a\\nb": "x", "label": 1}\n')
    with pytest.raises(DataError) as err:
        read_splits(DataConfig(dataset=str(records)), CLS)
    assert str(err.value).endswith("(available keys: 'a\\nb', 'label')")


def test_one_based_integer_labels_with_classes_file(tmp_path):
    """AG News: classes 1..4 named by classes.txt line order."""
    write(tmp_path / "classes.txt", "World\nSports\nBusiness\nSci/Tech\n")
    write(tmp_path / "test.csv", "".join(f'"{c}","Title {i}","Body {i}"\n' for i, c in enumerate([1, 2, 3, 4] * 5)))
    splits, names = read_splits(DataConfig(dataset=str(tmp_path), text_column="1,2", label_column="0"), CLS)
    assert names == ["World", "Sports", "Business", "Sci/Tech"]
    assert splits["test"].labels[:4] == ["World", "Sports", "Business", "Sci/Tech"]
    assert splits["test"].texts[0] == "Title 0 Body 0"


def test_label_names_flag_maps_zero_based_ints(tmp_path):
    write(tmp_path / "train.tsv", "".join(f"{i % 2}\tsentence {i}\n" for i in range(10)))
    data = load_data(DataConfig(dataset=str(tmp_path), label_names="negative,positive"), CLS)
    assert data.labels.names == ("negative", "positive")
    assert data.splits["train"].labels.count("positive") + data.splits["validation"].labels.count("positive") + \
        data.splits["test"].labels.count("positive") == 5


def test_one_based_ids_are_decided_for_the_whole_data_set(tmp_path):
    """A dev split that happens to lack class K is 1-based like the train split that has it."""
    write(tmp_path / "classes.txt", "World\nSports\nBusiness\n")
    write(tmp_path / "train.tsv", "1\ta\n2\tb\n3\tc\n")
    write(tmp_path / "dev.tsv", "1\td\n2\te\n")
    splits, _ = read_splits(DataConfig(dataset=str(tmp_path), header="no", label_column="0", text_column="1"), CLS)
    assert splits["validation"].labels == ["World", "Sports"]


def test_label_ids_and_names_that_do_not_fit(tmp_path):
    data = write(tmp_path / "train.tsv", "0\ta\n1\tb\n5\tc\n")
    config = dict(dataset=str(data), header="no", label_column="0", text_column="1")
    with pytest.raises(DataError, match=r"train.tsv:3: label id 5 does not index the 2 label names \['neg', 'pos'\]"):
        read_splits(DataConfig(**config, label_names="neg,pos"), CLS)
    names = write(tmp_path / "names.txt", "neg\npos\nneg\n")
    with pytest.raises(DataError, match=rf"{names}: label name 'neg' is listed twice"):
        read_splits(DataConfig(**config, label_names=str(names)), CLS)
    many = ",".join(f"class number {i}" for i in range(40))  # longer than a file name may be
    splits, found = read_splits(DataConfig(**config, label_names=many), CLS)
    assert found[39] == "class number 39" and splits["train"].labels[2] == "class number 5"
    ner = write(tmp_path / "ner.jsonl", '{"tokens": ["Paris"], "ner_tags": [1]}\n')
    with pytest.raises(DataError, match=r"--label_names='O,LOC': tag 'LOC' is not BIO"):
        read_splits(DataConfig(dataset=str(ner), label_names="O,LOC"), NER)


@pytest.mark.parametrize("records,message", [
    ('{"tokens": ["Paris"], "ner_tags": ["X-LOC"]}', r"ner.jsonl:1: tag 'X-LOC' is not BIO"),
    ('{"tokens": ["Paris", " "], "ner_tags": ["B-LOC", "O"]}', r"ner.jsonl:1: word 2 is blank"),
    ('{"tokens": [], "ner_tags": []}', r"ner.jsonl: no sentences with words"),
])
def test_ner_jsonl_tags_words_and_sentences(tmp_path, records, message):
    with pytest.raises(DataError, match=message):
        read_splits(DataConfig(dataset=str(write(tmp_path / "ner.jsonl", records + "\n"))), NER)


def test_empty_ner_sentences_are_skipped_or_an_error_with_strict(tmp_path):
    path = write(tmp_path / "ner.jsonl", '{"tokens": [], "ner_tags": []}\n'
                                         '{"tokens": ["Rome"], "ner_tags": ["B-LOC"]}\n')
    splits, _ = read_splits(DataConfig(dataset=str(path)), NER)
    assert splits["train"].words == [["Rome"]] and splits["train"].where == [f"{path}:2"]
    with pytest.raises(DataError, match=r"ner.jsonl:1: empty sentence"):
        read_splits(DataConfig(dataset=str(path), strict=True), NER)


def test_empty_texts_are_skipped_and_counted_or_an_error_with_strict(tmp_path, caplog):
    path = write(tmp_path / "train.csv", "text,label\ngood,1\n ,0\nbad,0\n")
    with caplog.at_level(logging.WARNING):
        splits, _ = read_splits(DataConfig(dataset=str(path)), CLS)
    assert splits["train"].texts == ["good", "bad"]
    assert "skipped 1 rows with an empty text" in caplog.text
    with pytest.raises(DataError, match=r"train.csv:3: empty text"):
        read_splits(DataConfig(dataset=str(path), strict=True), CLS)


def test_directory_with_two_files_for_one_split(tmp_path):
    write(tmp_path / "train.csv", "text,label\na,1\n")
    write(tmp_path / "train_extra.csv", "text,label\nb,1\n")
    with pytest.raises(DataError, match="several files for the train split: train.csv, train_extra.csv"):
        read_splits(DataConfig(dataset=str(tmp_path)), CLS)


def test_missing_dataset_path(tmp_path):
    with pytest.raises(DataError, match="--dataset=.*nope.csv: no such file or directory"):
        read_splits(DataConfig(dataset=str(tmp_path / "nope.csv")), CLS)


def test_pair_and_ner_jsonl(tmp_path):
    path = write(tmp_path / "train.jsonl", '{"sentence1": "a b", "sentence2": "b a", "label": 1}\n'
                                           '{"sentence1": "c", "sentence2": "d", "label": 0}\n')
    splits, _ = read_splits(DataConfig(dataset=str(path)), PAIR)
    assert splits["train"].texts == ["a b", "c"] and splits["train"].text_pairs == ["b a", "d"]
    path = write(tmp_path / "ner.jsonl", '{"tokens": ["Paris", "is"], "ner_tags": [1, 0]}\n')
    splits, _ = read_splits(DataConfig(dataset=str(path), label_names="O,B-LOC,I-LOC"), NER)
    assert splits["train"].labels == [["B-LOC", "O"]]
    bad = write(tmp_path / "bad.jsonl", '{"tokens": ["Paris", "is"], "ner_tags": [1]}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:1: expected lists 'tokens' and 'ner_tags' of equal length"):
        read_splits(DataConfig(dataset=str(bad)), NER)


@pytest.mark.parametrize("task,sizes", [("classification", (320, 80, 80)), ("pair", (320, 80, 80)),
                                        ("ner", (300, 70, 70))])
def test_embedded_samples(task, sizes):
    data = load_data(DataConfig(dataset="sample"), TASKS[task])
    assert tuple(len(data.splits[s]) for s in ("train", "validation", "test")) == sizes
    assert len(data.labels) == (9 if task == "ner" else 2)


class _FakeHub:
    """Stands in for `datasets.load_dataset` with real `datasets` objects built in memory (no network)."""

    def __init__(self):
        import datasets

        labels = datasets.ClassLabel(names=["neg", "pos"])
        features = datasets.Features({"sentence": datasets.Value("string"), "label": labels})
        tags = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER"]))})
        self.data = {
            ("nyu-mll/glue", "sst2"): datasets.DatasetDict({
                "train": datasets.Dataset.from_dict({"sentence": ["good", "bad", "fine", "awful"] * 5,
                                                     "label": [1, 0, 1, 0] * 5}, features=features),
                "validation": datasets.Dataset.from_dict({"sentence": ["ok", "meh"], "label": [1, 0]},
                                                         features=features),
                "test": datasets.Dataset.from_dict({"sentence": ["?", "!"], "label": [-1, -1]},
                                                   features=datasets.Features({"sentence": datasets.Value("string"),
                                                                               "label": datasets.Value("int64")})),
            }),
            ("eriktks/conll2003", None): datasets.DatasetDict({
                "train": datasets.Dataset.from_dict({"tokens": [["Ann", "Lee", "ran"]] * 10,
                                                     "ner_tags": [[1, 2, 0]] * 10}, features=tags)}),
        }
        self.calls = []

    def __call__(self, repo, subset=None):
        self.calls.append((repo, subset))
        return self.data[(repo, subset)]


def test_hub_data_sets_map_columns_and_class_labels(monkeypatch):
    fake = _FakeHub()
    monkeypatch.setattr("datasets.load_dataset", fake)
    data = load_data(DataConfig(dataset="glue/sst2"), CLS)
    assert fake.calls == [("nyu-mll/glue", "sst2")]
    assert data.labels.names == ("neg", "pos")
    assert data.splits["validation"].texts == ["ok", "meh"]
    assert len(data.splits["test"]) == 2 and len(data.splits["train"]) == 18  # hidden test labels: made from train
    ner = load_data(DataConfig(dataset="conll2003"), NER)
    assert ner.splits["train"].labels[0] == ["B-PER", "I-PER", "O"]


def test_hub_offline_gives_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path))
    with pytest.raises(DataError) as err:
        load_data(DataConfig(dataset="imdb"), CLS)
    message = str(err.value)
    assert message.startswith("--dataset=imdb: could not load the Hugging Face data set stanfordnlp/imdb")
    assert "--dataset=sample" in message and "\n" not in message


MLM = TASKS["mlm"]


def test_mlm_corpora_one_document_per_line_a_text_column_or_conll_sentences(tmp_path):
    lines = write(tmp_path / "corpus.txt", "first document here\n\n  second one \nthird\n")
    splits, _ = read_splits(DataConfig(dataset=str(lines)), MLM)
    assert splits["train"].texts == ["first document here", "second one", "third"]
    assert splits["train"].where == [f"{lines}:1", f"{lines}:3", f"{lines}:4"]
    table = write(tmp_path / "t" / "train.tsv", "label\tsentence1\tsentence2\n1\tone a\tone b\n0\ttwo a\t\n")
    splits, _ = read_splits(DataConfig(dataset=str(table)), MLM)  # the pair column's texts are documents too
    assert splits["train"].texts == ["one a", "one b", "two a"]
    header = write(tmp_path / "e" / "train.txt", "text;label\ni feel fine;joy\ni am sad;sadness\n")
    splits, _ = read_splits(DataConfig(dataset=str(header)), MLM)  # a .txt table whose header names the text
    assert splits["train"].texts == ["i feel fine", "i am sad"]
    conll = write(tmp_path / "c" / "train.txt", "-DOCSTART- -X- O O\n\nEU NNP B-ORG\nrejects VBZ O\n\nPeter B-PER\n")
    splits, _ = read_splits(DataConfig(dataset=str(conll)), MLM)
    assert splits["train"].texts == ["EU rejects", "Peter"]
    jsonl = write(tmp_path / "j" / "train.jsonl", '{"review": "good", "stars": 5}\n{"review": "bad", "stars": 1}\n')
    splits, _ = read_splits(DataConfig(dataset=str(jsonl), text_column="review"), MLM)
    assert splits["train"].texts == ["good", "bad"]


def test_mlm_data_has_no_labels_and_splits_the_corpus(tmp_path):
    corpus = write(tmp_path / "corpus.txt", "".join(f"document number {i}\n" for i in range(50)))
    data = load_data(DataConfig(dataset=str(corpus)), MLM)
    assert len(data.labels) == 0
    assert [len(data.splits[s]) for s in ("train", "validation", "test")] == [40, 5, 5]
    assert sorted(t for s in data.splits.values() for t in s.texts) == sorted(f"document number {i}" for i in range(50))
    assert data.summary()["splits"]["train"] == {"examples": 40, "labels": {}}
    with pytest.raises(DataError, match="--label_names=a,b: --task=mlm has no labels"):
        load_data(DataConfig(dataset=str(corpus), label_names="a,b"), MLM)


@pytest.mark.parametrize("content,message", [
    ("", "the file is empty"),
    ("\n \n\n", "the file is empty"),
    ("a,b\n,\n", r"corpus.csv: no text \(an empty corpus\)"),
])
def test_an_empty_mlm_corpus_is_one_error_naming_the_file(tmp_path, content, message):
    path = write(tmp_path / ("corpus.csv" if "," in content else "corpus.txt"), content)
    with pytest.raises(DataError, match=message):
        read_splits(DataConfig(dataset=str(path), text_column="a" if "," in content else None), MLM)


def wnut17(directory, test_name="emerging.test.annotated"):
    """A small WNUT-17 layout as distributed: token<TAB>tag lines, blank lines between tweets."""
    rng = random.Random(0)
    entities = {"person": ["Taylor Swift", "Obama"], "location": ["New York", "Paris"], "product": ["iPhone"]}

    def tweets(count):
        lines = []
        for _ in range(count):
            for _ in range(rng.randint(3, 7)):
                if rng.random() < 0.3:
                    kind = rng.choice(list(entities))
                    words = rng.choice(entities[kind]).split()
                    lines += [f"{w}\t{'B' if i == 0 else 'I'}-{kind}" for i, w in enumerate(words)]
                else:
                    lines.append(f"{rng.choice(['lol', 'going', 'to', 'see', 'tonight', '@user'])}\tO")
            lines.append("")
        return "\n".join(lines) + "\n"

    return {split: write(directory / name, tweets(count)) for split, name, count in (
        ("train", "wnut17train.conll", 40), ("validation", "emerging.dev.conll", 10), ("test", test_name, 12))}


def test_wnut17_layout_loads_its_real_test_split(tmp_path, caplog):
    files = wnut17(tmp_path)
    with caplog.at_level(logging.WARNING):
        data = load_data(DataConfig(dataset=str(tmp_path)), NER)
    assert data.summary()["sources"] == {split: str(path) for split, path in files.items()}
    assert [len(data.splits[s]) for s in ("train", "validation", "test")] == [40, 10, 12]
    assert not caplog.records  # nothing carved, nothing passed over


def test_split_files_without_a_dataset(tmp_path, caplog):
    files = wnut17(tmp_path)
    with caplog.at_level(logging.WARNING):
        data = load_data(DataConfig(dataset=None, train_file=str(files["train"]), test_file=str(files["test"])), NER)
    assert data.summary()["sources"] == {"train": str(files["train"]), "validation": "carved from train: 10%, seed 0",
                                         "test": str(files["test"])}
    assert len(data.splits["test"]) == 12 and len(data.splits["train"]) + len(data.splits["validation"]) == 40
    assert [r.message for r in caplog.records if r.levelno == logging.WARNING] == [
        "no validation split given: carved 10% of train (4 of 40 examples, seed 0) as the validation split; give the "
        "real one with --validation_file"]
    with pytest.raises(DataError, match=r"^--test_file=.*nope.conll: no such file$"):
        read_splits(DataConfig(dataset=None, train_file=str(files["train"]), test_file=str(tmp_path / "nope.conll")),
                    NER)
    with pytest.raises(DataError, match=r"^--train_file=.*: a directory, expected a data file"):
        read_splits(DataConfig(dataset=None, train_file=str(tmp_path)), NER)
    with pytest.raises(DataError, match=r"^no data: expected --dataset, or --train_file"):
        DataConfig(dataset=None)


def test_a_split_file_replaces_the_directorys(tmp_path, caplog):
    wnut17(tmp_path / "d", test_name="test.conll")
    mine = write(tmp_path / "mine.txt", "Paris\tB-location\nis\tO\n")
    with caplog.at_level(logging.WARNING):
        splits, _ = read_splits(DataConfig(dataset=str(tmp_path / "d"), test_file=str(mine)), NER)
    assert splits["test"].words == [["Paris", "is"]] and len(splits["train"]) == 40
    assert [r.message for r in caplog.records] == [
        f"{tmp_path / 'd'}: not read: test.conll (--test_file gives the test split); a file is read as a split by "
        "--train_file, --validation_file or --test_file"]
    with pytest.raises(DataError, match=r"--dataset=.*test.conll is read as the test split, and --test_file gives"):
        read_splits(DataConfig(dataset=str(tmp_path / "d" / "test.conll"), test_file=str(mine)), NER)


def test_a_directory_reads_split_files_by_content_and_lists_the_rest(tmp_path, caplog):
    write(tmp_path / "train.csv", "text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(20)))
    write(tmp_path / "test.data", '"review ""one"", with commas",a\n"two, also",b\nthree,a\n')
    for name in ("README.md", "SOURCE.md", "classes.txt", ".DS_Store", "notes.xlsx", "emotions.txt"):
        write(tmp_path / name, "a\nb\n")
    with caplog.at_level(logging.WARNING):
        splits, names = read_splits(DataConfig(dataset=str(tmp_path), header="no"), CLS)
    assert splits["test"].texts == ['review "one", with commas', "two, also", "three"] and names == ["a", "b"]
    assert [r.message for r in caplog.records] == [
        f"{tmp_path}: not read: emotions.txt, notes.xlsx (the name says no split: train, dev / val / validation, "
        "test); a file is read as a split by --train_file, --validation_file or --test_file"]
    write(tmp_path / "test.data", "just prose\nof one column\n")
    with pytest.raises(DataError, match=rf"^{tmp_path / 'test.data'}: cannot tell its format from its name or its "
                                        rf"content .*; pass it as --test_file={tmp_path / 'test.data'} with "
                                        r"--format=csv\|tsv\|txt\|jsonl\|json\|conll$"):
        read_splits(DataConfig(dataset=str(tmp_path), header="no"), CLS)


def test_format_reads_every_file_in_it(tmp_path):
    path = write(tmp_path / "train.txt", '{"tokens": ["Paris", "is"], "ner_tags": ["B-LOC", "O"]}\n')
    assert read_splits(DataConfig(dataset=str(path), format="jsonl"), NER)[0]["train"].words == [["Paris", "is"]]
    with pytest.raises(DataError, match=r"train.txt:1: tag .* is not BIO"):  # read as its suffix says: CoNLL
        read_splits(DataConfig(dataset=str(path)), NER)
    with pytest.raises(DataError, match=r"^--format='xml': expected auto or one of csv, tsv, txt, jsonl, json, conll$"):
        DataConfig(format="xml")


def test_a_hub_data_set_with_a_test_file(monkeypatch, tmp_path):
    monkeypatch.setattr("datasets.load_dataset", _FakeHub())
    mine = write(tmp_path / "my_test", "sentence\tlabel\nfine indeed\tpos\nnot good\tneg\n")  # no suffix: sniffed
    data = load_data(DataConfig(dataset="glue/sst2", test_file=str(mine)), CLS)
    assert data.summary()["sources"] == {"train": "glue/sst2[train]", "validation": "glue/sst2[validation]",
                                         "test": str(mine)}
    assert data.splits["test"].texts == ["fine indeed", "not good"]


def test_long_texts_are_cut_as_they_are_read_and_tokenize_as_before(tmp_path, caplog):
    """A cut text keeps its first max_seq_length tokens (all-MiniLM-L6-v2's WordPiece); shorter texts stay whole."""
    import tfft
    from tfft.tokenization import encode_texts

    length, rng = 16, random.Random(0)
    bound = DataConfig(max_seq_length=length).max_text_chars()
    words = ["the", "Café", "naïve", "über-long", "x" * 150, "don't", "12,5", "日本語", "(a)", "\u00a0", "...",
             "#tag"]
    texts = ["".join(rng.choice(words) + rng.choice([" ", "  ", "\t", ""]) for _ in range(rng.randint(300, 900)))
             for _ in range(40)] + ["a" * (bound + 1), "b " * bound, "c" * bound]
    rows = "".join(f'"{text}",{i % 2}\n' for i, text in enumerate(texts))
    with caplog.at_level(logging.WARNING):
        read = read_splits(DataConfig(dataset=str(write(tmp_path / "train.csv", "text,label\n" + rows)),
                                      max_seq_length=length), CLS)[0]["train"].texts
    long = [i for i, text in enumerate(texts) if len(text.strip()) > bound]
    assert [len(text) for text in read] == [min(len(text.strip()), bound) for text in texts] and len(long) > 30
    assert read[-1] == texts[-1]  # exactly the bound: whole
    assert [r.message for r in caplog.records] == [
        f"{tmp_path / 'train.csv'}: cut {len(long)} texts to their first {bound} characters as they were read (100 a "
        f"token of --max_seq_length={length}: the tokens kept are the same)"]
    tokenizer = tfft.load_tokenizer("all-MiniLM-L6-v2")
    whole = encode_texts(tokenizer, [text.strip() for text in texts], max_length=length)
    cut = encode_texts(tokenizer, read, max_length=length)
    assert [ids.tolist() for ids in whole.input_ids] == [ids.tolist() for ids in cut.input_ids]
    assert list(whole.truncated) == list(cut.truncated)
