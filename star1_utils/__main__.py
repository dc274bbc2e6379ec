"""Command line: ``python -m star1_utils run ...``, ``notebooks``, ``clean-notebooks``, ``vllm-env``, ``student``,
``judges``, ``lab-setup`` and ``smoke``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Each sub-command imports what it runs, when it runs: the command line starts in a fraction of a
# second (importing every module first takes about 4 s), and git's clean filter
# (`clean-notebooks --stdin`, once per notebook file) stays quick. The one exception to the rule
# that imports sit at the top of a module (tests/test_layout.py).


def _judges(per_source: int) -> int:
    """``judges``: build (or find in the cache) the offline judges and print what they measured."""
    import json

    from star1_utils.evaluate import judge_models

    folder = judge_models.build(per_source=per_source)
    card = json.loads((folder / "card.json").read_text())
    for task in ("harm", "refusal"):
        print(f"{task}: serving {card[task + '_learner']}; leave-one-source-out mean balanced accuracy "
              + ", ".join(f"{k} {v:.3f}" for k, v in card[f"{task}_loso_mean_balanced_accuracy"].items()))
    print(f"judges in {folder} (built in {card['timings']['total_s']} s)")
    return 0


def _parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per entry point."""
    parser = argparse.ArgumentParser(prog="python -m star1_utils", description="STAR-1 notebook suite")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute the notebooks in order with papermill")
    run.add_argument("--profile", default="demo", help="profile name (profiles/<name>.yaml) or a YAML path")
    run.add_argument("--notebooks", default=None, help="comma-separated stage numbers, e.g. 00,01 (default: all)")
    run.add_argument("--run-dir", default="", help="run folder (default: runs/<profile>)")
    run.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                     help="notebook parameter passed to every notebook (repeatable)")
    run.add_argument("--resume", action="store_true", help="skip stages whose manifest is current")

    smoke = sub.add_parser("smoke", help="the full profile's paths end to end, every role a local vllm serve model")
    smoke.add_argument("--profile", default="full-smoke", help="profile whose roles share one local endpoint")
    smoke.add_argument("--notebooks", default=None, help="comma-separated stage numbers (default: all)")
    smoke.add_argument("--run-dir", default="", help="run folder (default: runs/<profile>)")
    smoke.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="notebook parameter (repeatable)")
    smoke.add_argument("--resume", action="store_true", help="skip stages whose manifest is current")

    clean = sub.add_parser("clean-notebooks", help="strip outputs and metadata from notebooks")
    clean.add_argument("paths", nargs="*", default=["notebooks"])
    clean.add_argument("--check", action="store_true", help="only report problems; exit 1 if any")
    clean.add_argument("--stdin", action="store_true",
                       help="clean the notebook read from stdin onto stdout (git's clean filter)")

    nbs = sub.add_parser("notebooks", help="write each notebooks/NN_name.ipynb from its text source NN_name.py")
    nbs.add_argument("folder", nargs="?", default="notebooks")
    nbs.add_argument("--check", action="store_true", help="write nothing; exit 1 if a pair disagrees")
    nbs.add_argument("--from-ipynb", action="store_true", help="rewrite each .py from its .ipynb instead")

    venv = sub.add_parser("vllm-env", help="create the separate environment that serves students with vllm serve")
    venv.add_argument("path", nargs="?", default=".venv-vllm", help="environment folder (default: .venv-vllm)")
    venv.add_argument("--gpu", action="store_true", help="the CUDA wheel (GPU machines) instead of the CPU build")

    student = sub.add_parser("student", help="write the student edition: notebooks without solutions")
    student.add_argument("folder", nargs="?", default="student", help="output folder (default: student)")

    sub.add_parser("lab-setup", help="this environment's notebook kernel (out-of-order hints) and JupyterLab settings")

    jd = sub.add_parser("judges", help="build (once, cached) the offline judges learned from human labels")
    jd.add_argument("--per-source", type=int, default=0, help="labelled rows per public source; 0 = all")

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "judges":
        return _judges(args.per_source)
    if args.command == "lab-setup":
        from star1_utils.run import lab

        for path in lab.install():
            print(f"wrote {path}")
        return 0
    if args.command == "student":
        from star1_utils.run.teaching import build_student_edition

        written = build_student_edition(args.folder)
        print(f"student edition: {len(written)} notebooks without solutions in {Path(args.folder).resolve()}"
              f"/notebooks (read {Path(args.folder) / 'STUDENT.md'})")
        return 0
    if args.command == "vllm-env":
        from star1_utils.evaluate.serving import build_env

        print(build_env(args.path, gpu=args.gpu))
        return 0
    if args.command == "notebooks":
        from star1_utils.run.hygiene import sync_notebooks

        lines = sync_notebooks(args.folder, check=args.check, from_ipynb=args.from_ipynb)
        print("\n".join(lines) if lines else "notebooks and their text sources agree")
        return 1 if args.check and lines else 0
    if args.command == "smoke":
        from star1_utils.run.smoke import main as smoke_main

        return smoke_main(args)
    if args.command == "run":
        from star1_utils.run.runner import main as run_main

        return run_main(args)
    if args.command == "clean-notebooks":
        return _clean_notebooks(args)
    return 2


def _clean_notebooks(args: argparse.Namespace) -> int:
    """``clean-notebooks``: strip outputs and metadata in place, check only, or filter stdin (git)."""
    from star1_utils.run.hygiene import check_notebook, clean_notebook, clean_notebook_text

    if args.stdin:
        text = sys.stdin.buffer.read().decode("utf-8")
        sys.stdout.buffer.write(clean_notebook_text(text).encode("utf-8"))
        return 0
    files = []
    for p in args.paths:
        p = Path(p)
        files.extend(sorted(p.glob("*.ipynb")) if p.is_dir() else [p])
    bad = 0
    for f in files:
        if args.check:
            for problem in check_notebook(f):
                print(problem)
                bad += 1
        elif clean_notebook(f):
            print(f"cleaned {f}")
        problems = [] if args.check else check_notebook(f)
        for problem in problems:
            print(f"still wrong: {problem}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
