"""The real data sets in ../shared/data load with their flagfile and give the split sizes and label counts their
SOURCE.md files state. Skipped (with the reason) on a clone without ../shared."""

import pathlib
import shlex

import pytest

from tfft.data import DataConfig, load_data
from tfft.tasks import TASKS

ROOT = pathlib.Path(__file__).parent.parent.parent
SHARED = ROOT.parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent: real-data checks need ../shared")

# flagfile -> (train, validation, test, {label: count in the split given by SOURCE.md})
EXPECTED = {
    "sst2": (6920, 872, 1821, ("train", {"negative": 3310, "positive": 3610})),
    "emotion": (16000, 2000, 2000, ("validation", {"sadness": 550, "joy": 704, "love": 178, "anger": 275,
                                                   "fear": 212, "surprise": 81})),
    "mrpc": (3668, 408, 1725, ("test", {"paraphrase": 1147, "not_paraphrase": 578})),
    "ag_news": (6080, 760, 760, ("test", {"World": 190, "Sports": 190, "Business": 190, "Sci/Tech": 190})),
    "conll2003": (14041, 3250, 3453, ("validation", {"O": 42759, "B-PER": 1842, "I-PER": 1307, "B-ORG": 1341,
                                                     "I-ORG": 751, "B-LOC": 1837, "I-LOC": 257, "B-MISC": 922,
                                                     "I-MISC": 346})),
}


def config_from_flagfile(name: str) -> tuple[str, DataConfig]:
    values = {}
    for line in (ROOT / "flags" / f"{name}.cfg").read_text().splitlines():
        if line.startswith("--"):
            key, _, value = shlex.split(line)[0][2:].partition("=")
            values[key] = value
    task = values.pop("task")
    values.pop("max_seq_length", None)
    values.pop("model", None)
    values["dataset"] = str((ROOT / values["dataset"]).resolve())
    return task, DataConfig(**values)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_data_set_matches_its_source_md(name):
    task, config = config_from_flagfile(name)
    data = load_data(config, TASKS[task])
    train, validation, test, (split, counts) = EXPECTED[name]
    assert (len(data.splits["train"]), len(data.splits["validation"]), len(data.splits["test"])) == (
        train, validation, test)
    assert data.summary()["splits"][split]["labels"] == dict(sorted(counts.items()))
