"""Data sources: column choice, headers, label names, directories, JSONL, the embedded samples, the Hub."""

import logging

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
                                        r"id, title, body, topic"):
        read_splits(DataConfig(dataset=str(path), text_column="headline"), CLS)


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
