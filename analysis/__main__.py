"""`python -m analysis report|compare|share|unpack`: a run's report, two runs compared, a run shared and unpacked.

RUN is a run id under results/, a path, or omitted for the latest (by the manifest's started_at, runs
made here before unpacked ones; the choice is printed). Errors are one line naming
the file and the problem, exit 2.
"""

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from records.layout import RESULTS

from . import archive
from .compare import LEGEND as COMPARE_LEGEND
from .compare import compare, differences
from .locust_csv import LocustCSVError
from .report import build, disturbed_line, disturbed_steps, latest_run, load, summary_rows
from .tables import DISTURBED_MARK, GENERATOR_MARK, UNSTABLE_MARK, to_markdown
from .tidy import AnalysisError



def resolve_run(run: str | None, results: Path) -> Path:
    if not run:
        latest, why = latest_run(results)
        print(why)
        return latest
    for candidate in (Path(run), results / run):
        if candidate.is_dir():
            return candidate
    raise AnalysisError(f"no run {run!r}: neither a folder nor a run id under {results}")


def console() -> Console:
    # Wide enough for the summary when the output is not a terminal (make, CI logs).
    return Console(highlight=False, width=max(Console().width, 110))


def cmd_report(args) -> int:
    run_dir = resolve_run(args.run, Path(args.results))
    report = build(run_dir)
    out = console()
    for scenario, peaks in summary_rows(report).items():
        table = Table(title=f"{scenario}: peak per framework", title_justify="left")
        for column in ("framework", "peak req/s", "users @peak", "p95 ms", "vs fastest", "flags"):
            table.add_column(column, justify="left" if column in ("framework", "flags") else "right")
        fastest = peaks["rps"].max() if not peaks.empty else None
        for name, row in peaks.iterrows():
            flags = [text for flag, text in (("generator_bound", f"{GENERATOR_MARK} generator-bound"), ("unstable", f"{UNSTABLE_MARK} unstable"),
                                              ("disturbed", f"{DISTURBED_MARK} disturbed")) if row[flag]]  # fmt: skip
            table.add_row(name, f"{row['rps']:,.0f}", f"{row['users']:.0f}", f"{row['p95_ms']:,.0f}", f"{row['rps'] / fastest:.2f}", ", ".join(flags))
        out.print(table)
    shaken = disturbed_steps(report.frame)
    if shaken:
        out.print(f"[bold yellow]{disturbed_line(len(shaken))}[/] (other processes used the lab's cores; marked {DISTURBED_MARK}, no verdict rests on them):")
        for line in shaken:
            out.print(f"  {line}")
    folder = run_dir / "report"
    out.print(f"written: {folder}/ (tables.md, report.md, tidy.csv, charts/)")
    out.print(f"HTML report: {(folder / 'report.html').resolve()}")
    return 0


def cmd_compare(args) -> int:
    results = Path(args.results)
    run_a, run_b = resolve_run(args.a, results), resolve_run(args.b, results)
    a, b = load(run_a), load(run_b)
    problems = differences(a.manifest, b.manifest)
    if problems and not args.force:
        print(f"error: runs {run_a.name} and {run_b.name} are not comparable (--force compares them anyway):", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 2
    for line in problems:
        print(f"warning: not comparable: {line}")
    table = compare(a.levels, b.levels, a.order)
    print(f"A: {run_a}\nB: {run_b}\n")
    print(to_markdown(table) if not table.empty else "no step was measured in both runs")
    print(f"\n{COMPARE_LEGEND}")
    return 0


def cmd_share(args) -> int:
    run_dir = resolve_run(args.run, Path(args.results))
    build(run_dir)  # the archive carries an up-to-date report
    print(f"archive: {archive.share(run_dir)}")
    return 0


def cmd_unpack(args) -> int:
    destination = archive.unpack(Path(args.file), Path(args.results))
    print(f"unpacked: {destination}\nreport it with: make report RUN={destination}")
    return 0


def one_line(problem: Exception) -> str:
    return " / ".join(line.strip() for line in str(problem).splitlines() if line.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--results", default=str(RESULTS), help="the results folder (default: results/)")
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", parents=[common], help="tables, charts, claims checked: report/ of one run, summary printed")
    report.add_argument("run", nargs="?", help="run id or folder (default: the latest)")
    report.set_defaults(func=cmd_report)
    comparison = sub.add_parser("compare", parents=[common], help="two runs side by side, refused when not comparable")
    comparison.add_argument("a", help="run id or folder (the before)")
    comparison.add_argument("b", help="run id or folder (the after)")
    comparison.add_argument("--force", action="store_true", help="compare even when the manifests differ (printed as warnings)")
    comparison.set_defaults(func=cmd_compare)
    share = sub.add_parser("share", parents=[common], help="one archive, results/<run-id>.tar.gz, with results, manifest and report")
    share.add_argument("run", nargs="?", help="run id or folder (default: the latest)")
    share.set_defaults(func=cmd_share)
    unpack = sub.add_parser("unpack", parents=[common], help="a shared archive into results/ (refuses anything that is not a lab run)")
    unpack.add_argument("file")
    unpack.set_defaults(func=cmd_unpack)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (AnalysisError, LocustCSVError) as problem:
        print(f"error: {one_line(problem)}", file=sys.stderr)
        return 2
    except Exception as problem:  # bad input the checks did not foresee: still one line, not a traceback
        if os.environ.get("ANALYSIS_DEBUG"):
            raise
        print(f"error: {args.command}: unexpected {type(problem).__name__}: {one_line(problem)} (ANALYSIS_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
