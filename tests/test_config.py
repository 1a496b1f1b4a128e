"""The run configuration: the data is read for the model's --max_seq_length; a run recorded before a data setting
existed still loads, with that setting's default; flags.txt repeats split files, and no --dataset stays none."""

import copy
import dataclasses
import json

from absl import flags

import tfft.train  # defines the training command's flags, the data flags among them
from tfft import cli
from tfft.config import RunConfig, TrainConfig
from tfft.data import DataConfig


def parsed(*args: str) -> flags.FlagValues:
    """The training command's flags parsed from `args`, leaving absl's global FLAGS untouched."""
    values = copy.deepcopy(flags.FLAGS)
    values(["tfft.train", *args])
    return values


def test_the_data_is_read_for_the_models_length():
    run = RunConfig(TrainConfig(max_seq_length=64), DataConfig(dataset="sample"))
    assert run.data.max_seq_length == 64 and run.data.max_text_chars() == 6400
    assert RunConfig(run.train, DataConfig(dataset="sample", max_seq_length=512)) == run


def test_a_run_recorded_before_split_files_loads_with_their_defaults():
    recorded = json.loads(RunConfig(TrainConfig(max_seq_length=96), DataConfig(dataset="d")).to_json())
    for name in ("train_file", "validation_file", "test_file", "format", "max_seq_length"):
        del recorded["data"][name]
    run = RunConfig.from_json(json.dumps(recorded))
    assert run.data == dataclasses.replace(DataConfig(dataset="d"), max_seq_length=96)


def test_split_files_need_no_dataset_and_keep_the_task_default_away():
    config = cli.data_config(parsed("--task=ner", "--train_file=a.conll", "--test_file=b.annotated",
                                    "--format=conll", "--max_seq_length=64"))
    assert config.dataset is None and config.format == "conll" and config.max_seq_length == 64
    assert config.split_files() == {"train": "a.conll", "test": "b.annotated"}
    assert cli.data_config(parsed("--task=ner")).dataset == "conll2003"
    both = cli.data_config(parsed("--task=ner", "--dataset=d", "--validation_file=v.jsonl"))
    assert both.dataset == "d" and both.split_files() == {"validation": "v.jsonl"}


def test_flags_txt_repeats_split_files_and_format():
    values = parsed("--task=ner", "--train_file=a.conll", "--test_file=b.annotated", "--format=conll")
    run = RunConfig(tfft.train.train_config(values), cli.data_config(values))
    again = parsed(*run.to_flags().split())
    assert RunConfig(tfft.train.train_config(again), cli.data_config(again)) == run
    assert "--dataset" not in run.to_flags()
