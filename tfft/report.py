"""`python -m tfft.report`: report.md and a self-contained report.html for a run or a sweep directory.

    python -m tfft.report --run_dir=runs/sst2        # a training run (with its baselines and evaluation)
    python -m tfft.report --run_dir=sweeps/sst2      # a sweep: ranked runs, sweep plots, the tested pick

Every number comes from the directory's files (metrics, baselines, evaluation); plots go to DIR/report_files/.
"""

from absl import flags

from tfft import cli
from tfft.studies.report import write_report

flags.DEFINE_string("run_dir", None, "A training run directory or a sweep directory.")
flags.mark_flag_as_required("run_dir")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}: tfft.report takes only flags")
    markdown, page = write_report(FLAGS.run_dir)
    print(f"report: {markdown}\n        {page}")


if __name__ == "__main__":
    cli.run(main)
