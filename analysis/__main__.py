"""`python -m analysis report [RUN]`: RUN is a run id under results/, a path, or omitted for the latest."""

import argparse
import sys
from pathlib import Path

from .locust_csv import LocustCSVError
from .report import build, latest_run
from .tidy import AnalysisError

RESULTS = Path(__file__).resolve().parent.parent / "results"


def resolve_run(run: str | None, results: Path) -> Path:
    if not run:
        return latest_run(results)
    for candidate in (Path(run), results / run):
        if candidate.is_dir():
            return candidate
    raise AnalysisError(f"no run {run!r}: neither a folder nor a run id under {results}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", help="tidy.csv + tables.md for one run, tables printed")
    report.add_argument("run", nargs="?", help="run id or folder (default: the latest)")
    report.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)
    try:
        run_dir = resolve_run(args.run, Path(args.results))
        print(build(run_dir))
        print(f"written: {run_dir / 'report' / 'tables.md'} and tidy.csv")
    except (AnalysisError, LocustCSVError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
