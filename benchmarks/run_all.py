"""Run every speed benchmark, seed's method against ours, and print one table (optionally into README).

    python benchmarks/run_all.py                     # all five, default runs (about 20 min on 2 busy cores)
    python benchmarks/run_all.py --update-readme     # the same, then write the table into README.md
    python benchmarks/run_all.py --quick             # fewer runs and a 2-minute stream: checks it all works

Each benchmark is also a script of its own (featurize.py, predict_cold.py, predict_warm.py,
batch.py, stream.py in this folder); see their docstrings for what exactly is measured.
"""

import argparse
import datetime
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import batch  # noqa: E402
import featurize  # noqa: E402
import predict_cold  # noqa: E402
import predict_warm  # noqa: E402
import stream  # noqa: E402
from common import REPO, BenchError, machine, table  # noqa: E402

# The benchmarks, in the order they run.
BENCHMARKS = {"featurize": featurize, "predict_cold": predict_cold, "predict_warm": predict_warm,
              "batch": batch, "stream": stream}
# Fewer runs for --quick (a check that everything works, not figures to report).
QUICK = {"featurize": ["--runs", "1"], "predict_cold": ["--runs", "2"],
         "predict_warm": ["--rounds", "30"], "batch": ["--runs", "1", "--clips", "200"],
         "stream": ["--minutes", "2"]}
# README markers between which --update-readme writes the table.
README_START, README_END = "<!-- speed:start -->", "<!-- speed:end -->"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these")
    parser.add_argument("--quick", action="store_true", help="few runs: check, do not report")
    parser.add_argument("--update-readme", action="store_true",
                        help=f"write the table into README.md between {README_START} and {README_END}")
    args = parser.parse_args(argv)
    where = machine()
    rows = []
    try:
        for name in args.only or BENCHMARKS:
            module = BENCHMARKS[name]
            log(f"== {name}")
            rows += module.run(module.parser().parse_args(QUICK[name] if args.quick else []), log=log)
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    text = table(rows)
    print(text)
    if args.update_readme:
        if args.quick:
            print("error: --quick figures are not written to README.md", file=sys.stderr)
            return 1
        readme = REPO / "README.md"
        old = readme.read_text()
        if README_START not in old or README_END not in old:
            print(f"error: {readme}: markers {README_START} ... {README_END} not found", file=sys.stderr)
            return 1
        stamp = (f"Measured {datetime.date.today().isoformat()} by `python benchmarks/run_all.py "
                 f"--update-readme` on {where}; medians.")
        new = re.sub(re.escape(README_START) + ".*?" + re.escape(README_END),
                     lambda _: f"{README_START}\n{text}\n\n{stamp}\n{README_END}", old, flags=re.S)
        readme.write_text(new)
        log(f"wrote the table into {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
