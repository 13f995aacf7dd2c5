"""Write a run's tidy.csv and tables.md under results/<run-id>/report/ and print the tables."""

from pathlib import Path

from .tables import comparison, format_table, framework_order
from .tidy import AnalysisError, load_manifest, missing_steps, tidy


def conditions(manifest: dict) -> list[str]:
    """The facts a reader needs before trusting a number: where, how, with what."""
    host = manifest.get("host") or {}
    cores = manifest.get("cores") or {}
    effective = manifest.get("effective") or {}
    locust = manifest.get("locust") or {}
    lines = [
        f"- run `{manifest.get('run_id')}`, status **{manifest.get('status')}**, engine {manifest.get('engine')}, "
        f"profile {(manifest.get('profile') or {}).get('name')}",
        f"- host: {host.get('cpu_model')}, {host.get('logical_cores')} logical cores, {host.get('memory_gb')} GB, kernel {host.get('kernel')}",
        f"- cores: server {cores.get('server')}, Locust {cores.get('locust')} ({locust.get('processes', 1)} Locust process, "
        f"Locust {locust.get('version')}, {locust.get('user_class')})",
        f"- each step: {effective.get('duration_s')} s measured after a {locust.get('ramp_s')} s ramp, "
        f"{effective.get('repeats')} repeat(s), warm-up {effective.get('warmup_s')} s thrown away",
    ]
    for name, target in (manifest.get("targets") or {}).items():
        command = " ".join(target.get("command_line") or [])
        lines.append(f"- {name}: {target.get('processes')} process(es) on cores {target.get('cores')}: `{command}`")
    for name, reason in (manifest.get("unavailable") or {}).items():
        lines.append(f"- {name}: **not measured**: {reason.splitlines()[0]}")
    return lines


def build(run_dir: Path) -> str:
    run_dir = Path(run_dir)
    manifest = load_manifest(run_dir)
    frame = tidy(run_dir)
    out = run_dir / "report"
    out.mkdir(exist_ok=True)
    frame.to_csv(out / "tidy.csv", index=False)

    order = framework_order(frame, manifest)
    parts = [f"# Results: {manifest.get('run_id', run_dir.name)}", "", *conditions(manifest), ""]
    parts += [
        "Columns: `req/s @N` is the median throughput over repeats with N concurrent users; `peak req/s` the best "
        "of those, reached at `users @peak`, where `p50/p95/p99 ms` are the response-time percentiles; "
        "`failure %` counts wrong or failed answers over all levels; `vs fastest` is peak req/s over the fastest "
        "framework's peak in the same scenario.",
        "",
    ]
    for scenario in dict.fromkeys(frame["scenario"]):
        table = comparison(frame, scenario, order)
        parts += [f"## {scenario}", ""]
        parts += [format_table(table) if not table.empty else "_no successful steps_", ""]
    problems = frame[frame["status"] != "ok"]
    if not problems.empty:
        parts += ["## Steps not measured", ""]
        for row in problems.itertuples():
            parts.append(f"- {row.framework} {row.scenario} u={row.users} r{row.repeat}: {row.status}: {(row.reason or '').splitlines()[0]}")
        parts.append("")
    missing = missing_steps(run_dir, frame)
    if missing:
        parts += [f"## Steps missing ({len(missing)} planned, never run)", "", *[f"- {step}" for step in missing], ""]
    text = "\n".join(parts)
    (out / "tables.md").write_text(text)
    return text


def latest_run(results: Path) -> Path:
    runs = sorted(p for p in Path(results).iterdir() if (p / "manifest.json").exists()) if Path(results).is_dir() else []
    if not runs:
        raise AnalysisError(f"{results}: no runs yet; run `make bench` first")
    return runs[-1]

