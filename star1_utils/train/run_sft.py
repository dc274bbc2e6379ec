"""Training entry point: ``python -m star1_utils.train.run_sft --config <job.json>``.

Notebook 05 writes the job file (:func:`star1_utils.train.sft.prepare_job`) and either runs this in
its own process (demo) or launches it on every GPU::

    accelerate launch --config_file <run>/05_training/<name>/accelerate.yaml --num_processes 8 \\
        -m star1_utils.train.run_sft --config <run>/05_training/<name>/job.json

(:func:`star1_utils.train.sft.launch_command` builds that line; give it to your cluster scheduler as is.)
Re-running the same command resumes from the last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
from star1_utils.train import sft


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m star1_utils.train.run_sft", description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="job.json written by star1_utils.train.sft.prepare_job")
    ap.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    ap.add_argument("--print-every", type=int, default=0, help="one short progress line every N updates")
    a = ap.parse_args(argv)

    summary = sft.train(a.config, use_cpu=True if a.cpu else None, print_every=a.print_every)
    if summary:
        print("STAR1_TRAIN_SUMMARY " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
