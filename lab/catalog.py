"""What the lab can run, read from the repository itself.

- services:   one folder per service, services/<name>/service.toml. A service is one of
              - a framework as the blog deploys it (kind "framework": fastapi, flask, django),
              - a variant: a framework on another server, or its async sibling (kind "variant",
                e.g. flask-granian, django-asgi, quart); a variant of a framework runs that
                framework's app (`app`: the folder holding its code), only its start differs,
              - a baseline: a bare app giving a server's ceiling (kind "baseline").
- scenarios:  one locustfile per scenario, locustfiles/scenario_<name>.py
- profiles:   lab/run/profiles.toml

Adding a framework or a scenario means adding its folder or file; nothing here
lists them by hand.
"""

import ast
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LabError

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "services"
LOCUSTFILES = ROOT / "locustfiles"
PROFILES = ROOT / "lab" / "run" / "profiles.toml"


@dataclass(frozen=True)
class Service:
    """One folder of services/: a framework as the blog deploys it, a variant of one, or a bare baseline."""

    name: str
    port: int
    server: str
    interface: str
    summary: str
    folder: Path
    kind: str = "framework"  # "variant": on another server; "baseline": a bare app giving its server's ceiling
    baseline: str | None = None  # the baseline on the same server, for frameworks and variants
    framework: str = ""  # the framework it runs ("" for a baseline): what the "framework or server?" tables group by
    app: str = ""  # the folder of its app's code, when not its own (a variant runs its framework's)

    @property
    def start_command(self) -> Path:
        return self.folder / "start.sh"

    @property
    def local_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Scenario:
    name: str
    locustfile: Path
    description: str
    database: bool = False
    resets_database: bool = False
    wrk_path: str | None = None  # a GET path wrk can replay, for the Locust-to-wrk comparison
    user_class: str = ""  # the Locust user class the file defines (what the web UI's picker lists)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    scenarios: list[str]
    users: list[int]
    duration: int
    warmup: int
    repeats: int
    settings: dict = field(default_factory=dict)
    frameworks: list[str] = field(default_factory=list)  # empty: the blog's three; ["all"]: every target


KINDS = ("framework", "variant", "baseline")


def frameworks() -> dict[str, Service]:
    """The blog's three setups, in port order: what a run measures unless told otherwise."""
    return {name: s for name, s in services().items() if s.kind == "framework"}


def targets() -> dict[str, Service]:
    """Everything a run can measure (FRAMEWORKS=...): the blog's setups, then the variants."""
    return {name: s for name, s in services().items() if s.kind in ("framework", "variant")}


def baselines() -> dict[str, Service]:
    """The bare apps (a raw ASGI or WSGI app on each server the targets use) that measure its ceiling."""
    return {name: s for name, s in services().items() if s.kind == "baseline"}


def services() -> dict[str, Service]:
    found = {}
    for config in sorted(SERVICES.glob("*/service.toml")):
        data = tomllib.loads(config.read_text())
        try:
            kind = data.get("kind", "framework")
            found[data["name"]] = Service(
                name=data["name"],
                port=int(data["port"]),
                server=data["server"],
                interface=data["interface"],
                summary=data["summary"],
                folder=config.parent,
                kind=kind,
                baseline=data.get("baseline"),
                framework=data.get("framework", data["name"] if kind == "framework" else ""),
                app=data.get("app", ""),
            )
        except KeyError as missing:
            raise LabError(f"{config}: missing key {missing}") from None
        if kind not in KINDS:
            raise LabError(f"{config}: kind {kind!r} is not one of {', '.join(KINDS)}")
    return dict(sorted(found.items(), key=lambda item: item[1].port))


def _module_constants(path: Path) -> tuple[str, dict, list[str]]:
    """A locustfile's docstring, top-level constants and class names, read without importing Locust."""
    tree = ast.parse(path.read_text(), filename=str(path))
    constants = {}
    classes = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
        elif isinstance(node, ast.ClassDef):
            classes.append(node.name)
    return (ast.get_docstring(tree) or "").strip(), constants, classes


def scenarios() -> dict[str, Scenario]:
    found = {}
    for path in sorted(LOCUSTFILES.glob("scenario_*.py")):
        doc, constants, classes = _module_constants(path)
        name = path.stem.removeprefix("scenario_")
        if len(classes) != 1:
            raise LabError(f"{path}: a scenario file defines exactly one Locust user class; found {classes or 'none'}")
        found[name] = Scenario(
            name=name,
            locustfile=path,
            description=doc.splitlines()[0] if doc else "",
            database=bool(constants.get("DATABASE", False)),
            resets_database=bool(constants.get("RESETS_DATABASE", False)),
            wrk_path=constants.get("WRK_PATH"),
            user_class=classes[0],
        )
    return found


def profiles() -> dict[str, Profile]:
    data = tomllib.loads(PROFILES.read_text())
    found = {}
    for name, settings in data.items():
        try:
            found[name] = Profile(
                name=name,
                description=settings.get("description", ""),
                scenarios=list(settings["scenarios"]),
                users=[int(u) for u in settings["users"]],
                duration=int(settings["duration"]),
                warmup=int(settings["warmup"]),
                repeats=int(settings["repeats"]),
                settings=dict(settings),
                frameworks=[settings["frameworks"]] if isinstance(settings.get("frameworks"), str) else list(settings.get("frameworks", [])),
            )
        except (KeyError, TypeError, ValueError) as problem:
            raise LabError(f"{PROFILES}: profile [{name}] is invalid: {problem!r}") from None
    return found


def pick(kind: str, available: dict, wanted: list[str] | None) -> list:
    """The named entries, in the order given; an unknown name is a LabError listing the valid ones."""
    if not wanted or wanted == ["all"]:
        return list(available.values())
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise LabError(f"unknown {kind} {', '.join(map(repr, unknown))}; valid: {', '.join(available)}, or all")
    return [available[name] for name in wanted]
