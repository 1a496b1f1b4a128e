"""`python -m tfft.sweep`: a grid search over training flags, resumable, with an optional refit of the pick.

    python -m tfft.sweep --flagfile=flags/sst2.cfg --output_dir=sweeps/sst2 \\
        --grid="lr=1e-5,3e-5,5e-5;batch_size=16,32;optimizer=adamw,sgd;freeze=none,bottom:3,all" --refit

Takes every `tfft.train` flag as the base of each run. Runs land in OUTPUT_DIR/runs/<settings>; run the same
command again to resume an interrupted sweep (finished runs are skipped). The pick is the best validation
--metric_for_best (ties: fewer updates, then grid order); --refit retrains it on train + validation for the
epochs it needed and tests it once, otherwise the picked run is tested once. Results: sweep.csv, sweep.json,
result.json; `tensorboard --logdir OUTPUT_DIR` shows the HParams dashboard; `python -m tfft.report
--run_dir=OUTPUT_DIR` writes the report.
"""

import dataclasses
import pathlib

from absl import flags, logging

from tfft import cli
from tfft.config import RunConfig
from tfft.studies.grid import SweepConfig, run_sweep
from tfft.train import train_config

flags.DEFINE_string("grid", None, "Settings to combine: name=value,value;name=value,... (training flag names).")
flags.DEFINE_boolean("refit", False, "Retrain the pick on train + validation for the epochs it needed, then test.")
flags.mark_flag_as_required("grid")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}: tfft.sweep takes only flags")
    logging.set_verbosity(logging.INFO)
    if not FLAGS.output_dir:
        cli.fail("--output_dir: required (the sweep directory; the same one resumes the sweep)")
    output_dir = pathlib.Path(FLAGS.output_dir)
    base = RunConfig(dataclasses.replace(train_config(FLAGS), output_dir=""), cli.data_config(FLAGS))
    with cli.stop_on_signals() as stop:
        result = run_sweep(SweepConfig(base, FLAGS.grid, str(output_dir), refit=FLAGS.refit,
                                       overwrite=FLAGS.overwrite), interrupt=stop)
    if "interrupted" in result:
        cli.exit_interrupted(stop, f"interrupted in run {result['interrupted']}; run the same command again to "
                                   "resume the sweep")
    pick, metric = result["pick"], result["metric"]
    print(f"pick: {pick['name']} (validation {metric}={pick['metric']:.4f}); test {metric}="
          f"{result['test'][metric]:.4f} ({result['protocol']['kind']})")
    print(f"sweep directory: {output_dir}  (sweep.csv, result.json; report: python -m tfft.report "
          f"--run_dir={output_dir})")


if __name__ == "__main__":
    cli.run(main)
