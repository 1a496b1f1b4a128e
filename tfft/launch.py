"""`python -m tfft.launch`: multi-worker training on this machine, N workers on 127.0.0.1 ports.

    python -m tfft.launch --workers=2 -- --flagfile=flags/quickstart_classification.cfg --output_dir=runs/mw

Everything after `--` goes to every `python -m tfft.train` worker, with --distribute=multi_worker added. Worker 0
is the chief: it alone writes the run directory (checkpoints, best/, summaries, reports). The global batch is
--batch_size, split over the workers. If a worker dies the job stops (exit code 1) with a line saying which; the
same command with --resume continues from the last checkpoint. On a cluster, see BUILD.md 'Several machines'.
"""

import sys

from absl import flags

from tfft import cli
from tfft.cluster import launch, was_interrupted

flags.DEFINE_integer("workers", 2, "Local worker processes.", lower_bound=1)
FLAGS = flags.FLAGS


def main(argv):
    code, outcome = launch(FLAGS.workers, argv[1:])
    if code and not was_interrupted(code):
        cli.fail(outcome, code)
    print(outcome)
    sys.exit(code)  # 0, or the signal's code (130, 143) of an interrupted job


if __name__ == "__main__":
    cli.run(main)
