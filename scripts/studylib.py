"""What the study scripts share: a preset flagfile per mode, the base run from the training flags, and the steps
(sweep, baselines, evaluation) they chain. Each script is one command that ends in a report.

A script's command line is its preset (the real data set, or the embedded sample with --smoke) followed by the
user's own flags, so any training flag overrides the preset: `python scripts/study_ner.py --epochs=2`.
"""

import dataclasses
import logging
import pathlib
import sys

from absl import flags

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the scripts run from a checkout: `python scripts/study_ner.py`

from tfft import cli  # noqa: E402
from tfft.config import RunConfig  # noqa: E402
from tfft.studies.baselines import run_baseline  # noqa: E402
from tfft.studies.grid import SweepConfig, run_sweep  # noqa: E402
from tfft.train import train_config  # noqa: E402  (defines every training flag)
flags.DEFINE_boolean("smoke", False, "Run on the embedded sample with a few steps (the tests use it).")
FLAGS = flags.FLAGS
log = logging.getLogger("study")


def launch(study, *, preset: list[str], smoke: list[str]) -> None:
    """Runs `study(output_dir)` with the preset flags (flagfiles relative to the repository) before the user's."""
    args = sys.argv[1:]
    chosen = smoke if any(a in ("--smoke", "--smoke=true") for a in args) else preset
    if any(a.startswith("--flagfile=") for a in args):  # the user's data set replaces the preset's (all of it)
        chosen = [a for a in chosen if not a.startswith("--flagfile=")]
    chosen = [f"--flagfile={ROOT / a[len('--flagfile='):]}" if a.startswith("--flagfile=") else a for a in chosen]
    name = pathlib.Path(sys.argv[0]).stem

    def main(argv):
        if len(argv) > 1:
            cli.fail(f"unexpected arguments {argv[1:]}: {name} takes only flags")
        logging.getLogger().setLevel(logging.INFO)
        output_dir = pathlib.Path(FLAGS.output_dir or f"studies/{name}")
        study(output_dir)
        print(f"study report: {output_dir / 'report.md'} and {output_dir / 'report.html'}")

    cli.run(main, argv=[sys.argv[0], *chosen, *args])


def base_run(**overrides) -> RunConfig:
    """The run the flags describe, with `overrides` (training or data flag names) applied."""
    train = dataclasses.replace(train_config(FLAGS), output_dir="")
    data = cli.data_config(FLAGS)
    train_fields, data_fields = ({f.name for f in dataclasses.fields(c)} for c in (train, data))
    train = dataclasses.replace(train, **{k: v for k, v in overrides.items() if k in train_fields})
    data = dataclasses.replace(data, **{k: v for k, v in overrides.items() if k in data_fields})
    return RunConfig(train, data)


def sweep(sweep_dir: pathlib.Path, base: RunConfig, grid: str, *, refit: bool = False,
          test_every_run: bool = False) -> dict:
    """A sweep (resumed if it was started before); its result.json content."""
    config = SweepConfig(base, grid, str(sweep_dir), refit=refit, test_every_run=test_every_run)
    with cli.stop_on_signals() as stop:  # Ctrl-C / SIGTERM: checkpoint the current run; the same command resumes
        result = run_sweep(config, interrupt=stop)
    if "interrupted" in result:
        cli.exit_interrupted(stop, f"interrupted in {result['interrupted']}: run the same command again to resume "
                                   "the study")
    return result


def baselines(run_dir: pathlib.Path, kinds: list[str], output_root: pathlib.Path) -> None:
    """Baselines on the data and splits of `run_dir`, written to output_root/<kind> (done ones are kept)."""
    for kind in kinds:
        if (output_root / kind / "baseline.json").is_file():
            log.info("baseline %s: done earlier, kept", kind)
            continue
        result, _ = run_baseline(kind, run_dir, output_root / kind)
        log.info("baseline %s: %s", kind, {k: round(v, 4) for k, v in result.items() if isinstance(v, float)})
