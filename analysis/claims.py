"""The blog's claims (analysis/claims.toml) beside what a run measured, with a verdict each.

Absolute req/s depend on the hardware, so a throughput claim is judged by its ratios to the
other frameworks (peak req/s on the same scenario), and the run's own numbers are shown
beside the post's as they are.
"""

import tomllib
from pathlib import Path

import pandas as pd

from .stats import rankable, unstable
from .tables import marks, peak_levels, ratio_of, scenario_steps, unfaithful, with_fidelity
from .tidy import AnalysisError

CLAIMS = Path(__file__).with_name("claims.toml")

# -- verdict rules: the one place they live ------------------------------------------------

HOLDS = "holds"
PARTLY = "partly"
FAILS = "does not hold"
NOT_TESTED = "not tested here"
GENERATOR_BOUND = "inconclusive: generator-bound"
# Other processes took the lab's cores in a step of a peak that the claim rests on: the number
# is not this machine's, so the claim is not judged on it (re-run). Checked before
# generator-bound: a neighbour on Locust's cores can be why Locust looked short of CPU.
DISTURBED = "inconclusive: disturbed"
# The run could not compare its budget with the whole core (no wrk, no cgroup accounting, or the
# smoke profile): nothing says the budget did not make the ratio (lab/run/reference.py).
FIDELITY_NOT_MEASURED = "inconclusive: fidelity not measured"
# The budget bent a framework's cost per request (fidelity outside the band), or the ratio at the
# budget and the same ratio on the whole cores disagree beyond METHOD_TOLERANCE: the answer
# depends on how it was measured, and the report shows both numbers.
METHOD_DEPENDENT = "method-dependent"

# A measured ratio within this factor of the post's (either way) is the post's ratio.
RATIO_TOLERANCE = 1.25
# The ratio at the budget and on the whole cores are the same answer when within this factor
# (either way): the spread the lab already calls too noisy to rank on (analysis.stats.UNSTABLE_SPREAD).
METHOD_TOLERANCE = 1.10
# Validation that costs less than this share of the plain JSON throughput is "free".
FREE_COST = 0.10


def on_wrk(row: pd.Series | None) -> pd.Series | None:
    """The figure a throughput or ratio claim is judged on: wrk's at the budget, where the run measured it.

    The whole-core reference is wrk's, so wrk at the budget isolates what the budget does to a
    server's cost per request. Locust's figure also carries what Locust's way of sending costs the
    server: Gunicorn's sync workers wait for the client to close each connection (RFC 9112's
    graceful close), and a Python client closes later than a C one, so each request costs them more
    (docs/budget.md, "The generator"). Where wrk did not measure at the budget, Locust's row as is."""
    if row is None or not isinstance(row.get("_wrk_summary"), dict) or pd.isna(row.get("wrk_rps")):
        return row
    judged = row.copy()
    summary = row["_wrk_summary"]
    judged["rps"], judged["_summary"] = row["wrk_rps"], summary
    judged["rps_min"], judged["rps_max"] = summary["min"], summary["max"]
    judged["fidelity"], judged["faithful"] = row.get("wrk_fidelity"), row.get("wrk_faithful")
    judged["unstable"] = unstable(summary["spread"], summary["n"])
    judged["generator_bound"] = False  # wrk is never the limit here (docs/budget.md)
    judged["disturbed"] = bool(row.get("wrk_disturbed", row["disturbed"]))
    judged["generator"] = "wrk"
    return judged


def measured_fidelity(row: pd.Series) -> bool:
    value = row.get("faithful")
    return value is not None and not pd.isna(value)


def whole_core_ratio(fast: pd.Series, slow: pd.Series) -> float | None:
    """The same ratio on the whole cores (wrk, no quota; lab/run/reference.py), None where not measured."""
    return ratio_of(fast.get("reference_rps"), slow.get("reference_rps"))


def ratio_verdict(fast: pd.Series | None, slow: pd.Series | None, post_ratio: float) -> str:
    if fast is None or slow is None:
        return NOT_TESTED  # a framework was not measured on this scenario
    if fast["disturbed"] or slow["disturbed"]:
        return DISTURBED
    if fast["generator_bound"] or slow["generator_bound"]:
        return GENERATOR_BOUND  # one number is a floor: the ratio could be anything beyond it
    whole = whole_core_ratio(fast, slow)
    if not measured_fidelity(fast) or not measured_fidelity(slow) or whole is None:
        return FIDELITY_NOT_MEASURED  # nothing says the budget did not make this ratio
    measured = fast["rps"] / slow["rps"]
    if unfaithful(fast) or unfaithful(slow) or not 1 / METHOD_TOLERANCE <= measured / whole <= METHOD_TOLERANCE:
        return METHOD_DEPENDENT  # the budget and the whole cores give different answers: never "holds"
    if post_ratio / RATIO_TOLERANCE <= measured <= post_ratio * RATIO_TOLERANCE:
        return HOLDS  # the post's ratio, within the tolerance
    same_order = (measured > 1) == (post_ratio > 1)
    if same_order and rankable(fast["_summary"], slow["_summary"]):
        return PARTLY  # the post's order, beyond the repeats' spread, by a different margin
    return FAILS  # the order is reversed, or the repeats cannot tell the two apart


def combined_verdict(verdicts: list[str]) -> str:
    """A throughput claim through its ratios: all agree -> that; any inconclusive -> that; else partly/fails."""
    if not verdicts:
        return NOT_TESTED
    if len(set(verdicts)) == 1:
        return verdicts[0]
    for inconclusive in (DISTURBED, GENERATOR_BOUND, FIDELITY_NOT_MEASURED, METHOD_DEPENDENT, NOT_TESTED):
        if inconclusive in verdicts:
            return inconclusive
    return PARTLY if HOLDS in verdicts or PARTLY in verdicts else FAILS


def faster_verdict(first: pd.Series | None, others: dict[str, pd.Series]) -> str:
    if first is None or not others:
        return NOT_TESTED
    if first["disturbed"] or any(row["disturbed"] for row in others.values()):
        return DISTURBED
    if first["generator_bound"] or any(row["generator_bound"] for row in others.values()):
        return GENERATOR_BOUND
    wins = [first["rps"] > row["rps"] and rankable(first["_summary"], row["_summary"]) for row in others.values()]
    if all(wins):
        return HOLDS  # faster than every other framework, beyond the spread
    return PARTLY if any(wins) else FAILS  # faster than some / than none


def interface_verdict(interfaces: dict[str, str | None], async_paths: dict[str, str | None]) -> str:
    """The blog's setups are WSGI, and its async paths (Quart, Django's async views) run as ASGI.

    interfaces: the blog's setups; async_paths: each async path's interface where this run
    measured it (None: not run, failed the contract or measured nothing)."""
    if any(interface not in ("WSGI", None) for interface in interfaces.values()):
        return PARTLY  # a blog setup runs as ASGI here: the claim's premise is only partly this setup
    ran = [name for name, interface in async_paths.items() if interface == "ASGI"]
    if not ran:
        return NOT_TESTED  # no async path measured (the quick profile runs the blog's setups only)
    if len(ran) == len(async_paths) and all(interface == "WSGI" for interface in interfaces.values()):
        return HOLDS  # the blog's setups ran as WSGI and every async path it names ran as ASGI
    return PARTLY  # some async path, or a blog setup, was not measured


def validation_verdict(costs: dict[str, float], generator_bound: bool, first: str, disturbed: bool = False) -> str:
    if first not in costs:
        return NOT_TESTED
    if disturbed:
        return DISTURBED
    if generator_bound:
        return GENERATOR_BOUND
    if costs[first] <= FREE_COST:
        return HOLDS  # validating costs next to nothing in throughput
    others = [cost for name, cost in costs.items() if name != first]
    return PARTLY if others and all(costs[first] < cost for cost in others) else FAILS  # cheaper than the others' / not


# -- reading the claims and the run ----------------------------------------------------------


def load_claims(path: Path = CLAIMS) -> list[dict]:
    try:
        claims = tomllib.loads(path.read_text())["claim"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as problem:
        raise AnalysisError(f"{path}: cannot read the claims ({problem})") from None
    by_id = {claim["id"]: claim for claim in claims}
    for claim in claims:
        for field in ("id", "text", "check", "metric", "frameworks"):
            if field not in claim:
                raise AnalysisError(f"{path}: claim {claim.get('id', '?')} has no {field!r}")
        if claim["check"] == "ratio":
            unknown = [i for i in claim.get("from", []) if "figure" not in by_id.get(i, {})]
            if len(claim.get("from", [])) != 2 or unknown:
                raise AnalysisError(f"{path}: claim {claim['id']}: `from` must name two throughput claims (bad: {unknown})")
            first, second = (by_id[i]["figure"] for i in claim["from"])
            claim["figure"] = first / second
    return claims


def check_claims(levels: pd.DataFrame, manifest: dict, claims: list[dict] | None = None) -> pd.DataFrame:
    """One row per claim: what the post says, what this run measured, the verdict, the conditions."""
    claims = claims if claims is not None else load_claims()
    scenarios = {c.get(key) for c in claims for key in ("scenario", "baseline_scenario")}
    peaks = {scenario: with_fidelity(peak_levels(scenario_steps(levels, scenario)), levels, scenario) for scenario in scenarios}

    def peak(scenario: str, framework: str) -> pd.Series | None:
        table = peaks[scenario]
        return table.loc[framework] if framework in table.index else None

    ratio_verdicts: dict[str, list[str]] = {}
    rows = []
    for claim in claims:
        scenario, names = claim.get("scenario"), claim["frameworks"]
        check = claim["check"]
        if check == "ratio":
            fast, slow = (on_wrk(peak(scenario, name)) for name in names)
            verdict = ratio_verdict(fast, slow, claim["figure"])
            for name in names:
                ratio_verdicts.setdefault(name, []).append(verdict)
            measured = _ratio_text(fast, slow, *(peak(scenario, name) for name in names))
            post = f"{claim['figure']:.2f}"
        elif check == "throughput":
            row = on_wrk(peak(scenario, names[0]))
            post = f"{claim['figure']:,.0f} req/s"
            measured = f"{_rps(row)} ({row['rps'] / claim['figure']:.2f}× the post's)" if row is not None else "not measured"
            verdict = None  # filled in from the ratios below
        elif check == "faster":
            first = peak(scenario, names[0])
            others = {name: peak(scenario, name) for name in names[1:] if peak(scenario, name) is not None}
            verdict = faster_verdict(first, others)
            post = f"{names[0]} faster than {', '.join(names[1:])}"
            measured = "; ".join(
                [f"{names[0]} {_rps(first)}" if first is not None else f"{names[0]} not measured"]
                + [f"{name} {_rps(row)}" + (f" ({first['rps'] / row['rps']:.1f}× slower)" if first is not None else "") for name, row in others.items()]
            )
        elif check == "interface":
            targets = manifest.get("targets") or {}
            interfaces = {name: (targets.get(name) or {}).get("interface") for name in names}
            measured_names = set(levels.loc[levels["kind"] == "step", "framework"]) if not levels.empty else set()
            paths = claim.get("async_paths", [])
            async_paths = {name: (targets.get(name) or {}).get("interface") if name in measured_names else None for name in paths}
            verdict = interface_verdict(interfaces, async_paths)
            post = "WSGI; async via Quart / Channels; Django async views since 3.1"
            measured = "; ".join([_deployment(name, targets.get(name) or {}) for name in names]
                                 + [_deployment(name, targets.get(name) or {}) + ("" if async_paths[name] else ", not measured") for name in paths])  # fmt: skip
        elif check == "validation":
            costs, bound, shaken, parts = {}, False, False, []
            for name in names:
                valid, plain = peak(scenario, name), peak(claim["baseline_scenario"], name)
                if valid is None or plain is None:
                    continue
                costs[name] = 1 - valid["rps"] / plain["rps"]
                bound |= name == names[0] and bool(valid["generator_bound"] or plain["generator_bound"])
                # Every framework's cost is compared with the first's: a disturbed one spoils the comparison.
                shaken |= bool(valid["disturbed"] or plain["disturbed"])
                parts.append(f"{name} {valid['rps'] / plain['rps']:.2f} (costs {costs[name]:.0%})")
            verdict = validation_verdict(costs, bound, names[0], shaken)
            post = "no cost"
            measured = "; ".join(parts) or "not measured"
        else:
            raise AnalysisError(f"{CLAIMS}: claim {claim['id']}: unknown check {check!r}")
        rows.append({"#": claim["id"], "claim": claim["text"], "checked on": f"{scenario}: {claim['metric']}" if scenario else claim["metric"],
                     "the post": post, "this run": measured, "verdict": verdict,
                     "conditions": _conditions(scenario, names, peaks[scenario], manifest)})  # fmt: skip
    for row, claim in zip(rows, claims):
        if claim["check"] == "throughput":
            row["verdict"] = NOT_TESTED if peak(claim["scenario"], claim["frameworks"][0]) is None else combined_verdict(
                ratio_verdicts.get(claim["frameworks"][0], [])
            )
            row["verdict"] += " (by its ratios)" if row["verdict"] != NOT_TESTED else ""
    return pd.DataFrame(rows).set_index("#")


def _rps(row: pd.Series) -> str:
    by = " (wrk at the budget)" if row.get("generator") == "wrk" else ""
    return f"{row['rps']:,.0f} req/s{marks(row)}{by}"


def _ratio_text(fast: pd.Series | None, slow: pd.Series | None, fast_locust: pd.Series | None, slow_locust: pd.Series | None) -> str:
    """The judged ratio, the same ratio on the whole cores, and Locust's beside them."""
    if fast is None or slow is None:
        return "not measured"
    by = " (wrk)" if fast.get("generator") == "wrk" and slow.get("generator") == "wrk" else ""
    text = f"{fast['rps'] / slow['rps']:.2f}{by}"
    whole = whole_core_ratio(fast, slow)
    if whole is not None:
        text += f" at the budget; {whole:.2f} on the whole cores"
    if by:
        text += f"; Locust {fast_locust['rps'] / slow_locust['rps']:.2f}"
    return text


def _deployment(name: str, target: dict) -> str:
    if not target:
        return f"{name} not run"
    text = f"{name}: {target.get('interface', '?')} on {target.get('server', '?')}"
    framework = str(target.get("framework") or name)
    version = _package_version(target.get("packages") or [], framework)
    if version is not None:
        text += f", {framework.capitalize()} {version}"
        if framework == "django":
            major_minor = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
            used = "used here" if target.get("interface") == "ASGI" else "not used here"
            text += f" (async views: yes, {used})" if major_minor >= (3, 1) else " (no async views)"
    return text


def _package_version(packages: list[str], name: str) -> str | None:
    for line in packages:
        package, _, version = line.partition("==")
        if package.lower() == name.lower():
            return version
    return None


def _conditions(scenario: str, names: list[str], peaks: pd.DataFrame, manifest: dict) -> str:
    """Cores, workers, server and flags: what a reader needs to weigh this row."""
    targets = manifest.get("targets") or {}
    cores = (manifest.get("cores") or {}).get("server") or []
    locust = manifest.get("locust") or {}
    budget = (manifest.get("cores") or {}).get("server_cpus")
    share = f" at a budget of {budget:g}" if isinstance(budget, (int, float)) and not isinstance(budget, bool) and budget < len(cores) else ""
    parts = [f"{len(cores)} server core(s){share}, Locust {locust.get('processes', 1)} process(es) on {len((manifest.get('cores') or {}).get('locust') or [])} core(s)"]
    for name in names:
        target = targets.get(name) or {}
        if not target:
            continue
        text = f"{name} {target.get('server', '?')} ×{_workers(target)}"
        if name in peaks.index:
            row = peaks.loc[name]
            text += f" @{row['users']:.0f} users"
            text += " generator-bound" if row["generator_bound"] else ""
            text += " unstable" if row["unstable"] else ""
            text += " disturbed" if row["disturbed"] else ""
        parts.append(text)
    return "; ".join(parts)


def _workers(target: dict) -> str:
    # Older manifests counted Gunicorn's workers as worker_processes.
    return str(target.get("workers") or target.get("worker_processes") or "?")
