"""Where a request's CPU goes: a profiled window's collapsed stacks (lab/run/profiling.py) as a
flame graph (SVG) and as the hottest frames grouped by layer.

A collapsed stack is one line, root first: `process PID:"command";func (file:line);... count`.
The process frame is dropped (a server's workers are merged) and line numbers too (a function is
one box however many lines it spent time on). A frame's layer comes from where its code lives:
the server (Uvicorn, Gunicorn, Granian...), the framework, validation and serialisation, the
database driver, the app's own code (services/), the standard library, or another library.

The stacks file is untrusted input (a shared run): read with a size cap, nothing in it reaches a
path, and the SVG escapes every name.
"""

import html
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# A profile of a few seconds at 100 Hz is well under a megabyte.
MAX_STACKS_BYTES = 16 * 2**20
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]+?)(?::\d+)?\)$")
COUNT = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$", re.S)

LAYERS = {
    "server": {"uvicorn", "uvicorn_worker", "gunicorn", "granian", "hypercorn", "h11", "httptools", "uvloop", "h2", "wsproto"},
    "framework": {"fastapi", "starlette", "flask", "werkzeug", "django", "falcon", "litestar", "quart", "asgiref", "jinja2", "markupsafe"},
    "validation and serialisation": {"pydantic", "pydantic_core", "marshmallow", "rest_framework", "msgspec", "orjson", "annotated_types", "json"},
    "database driver": {"psycopg", "psycopg_pool", "asyncpg", "sqlalchemy", "flask_sqlalchemy"},
    "app code": {"app", "bench", "labsite", "contract", "limits", "person_marshmallow", "person_pydantic", "orm_async", "workers"},
}
STDLIB = "standard library"
OTHER = "other libraries"


def layer(file: str) -> str:
    """The layer a frame's code belongs to, by its top-level package or module."""
    top = file.replace("\\", "/").lstrip("./").split("/")[0].removesuffix(".py")
    for name, packages in LAYERS.items():
        if top in packages:
            return name
    if top in sys.stdlib_module_names or top.startswith("<"):
        return STDLIB
    return OTHER


@dataclass
class Node:
    name: str
    layer: str = STDLIB
    samples: int = 0
    children: dict[str, "Node"] = field(default_factory=dict)


@dataclass
class Profile:
    root: Node
    self_samples: Counter  # (function, file, layer) -> samples where it was the innermost frame

    @property
    def samples(self) -> int:
        return self.root.samples

    def layers(self) -> dict[str, float]:
        """Each layer's share of the samples, by the innermost frame (where the CPU was spent)."""
        found: Counter = Counter()
        for (_, _, where), count in self.self_samples.items():
            found[where] += count
        total = sum(found.values()) or 1
        return {name: found[name] / total for name, _ in found.most_common()}

    def top(self, count: int = 5) -> list[tuple[str, str, float]]:
        """The hottest frames by their own samples: (function (file), layer, share)."""
        total = sum(self.self_samples.values()) or 1
        return [(f"{function} ({file})", where, samples / total) for (function, file, where), samples in self.self_samples.most_common(count)]


def records(text: str) -> list[tuple[list[str], int]]:
    """(frames, count) per collapsed line; a command line spanning several lines is joined first."""
    found, pending = [], ""
    for line in text.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        match = COUNT.match(pending)
        if match:
            parts = match["stack"].split(";")
            frames = parts[1:] if parts and parts[0].startswith("process ") else parts
            found.append((frames, int(match["count"])))
            pending = ""
    return found


def parse(text: str) -> Profile:
    root, own = Node("all"), Counter()
    for frames, count in records(text):
        node = root
        node.samples += count
        last = None
        for frame in frames:
            match = FRAME.match(frame.strip())
            function, file = (match["function"], match["file"]) if match else (frame.strip(), "?")
            key = f"{function} ({file})"
            node = node.children.setdefault(key, Node(key, layer(file)))
            node.samples += count
            last = (function, file, node.layer)
        if last:
            own[last] += count
    return Profile(root, own)


def read(path: Path) -> Profile:
    with open(path, "rb") as handle:
        raw = handle.read(MAX_STACKS_BYTES + 1)
    if len(raw) > MAX_STACKS_BYTES:
        raise ValueError(f"{path}: over the {MAX_STACKS_BYTES >> 20} MiB cap for a profile")
    return parse(raw.decode(errors="replace"))


COLOURS = {"server": "#e8a33d", "framework": "#d9534f", "validation and serialisation": "#9b59b6", "database driver": "#3f88c5",
           "app code": "#44a36b", STDLIB: "#9aa5b1", OTHER: "#c7b98f"}  # fmt: skip
ROW, WIDTH, MIN_WIDTH = 18, 1200, 0.5


def svg(profile: Profile, title: str) -> str:
    """The flame graph: root at the bottom, a box per frame as wide as its samples, hover for numbers."""
    boxes: list[str] = []
    depth_max = 0

    def draw(node: Node, x: float, depth: int, total: int) -> None:
        nonlocal depth_max
        width = WIDTH * node.samples / total
        if width < MIN_WIDTH:
            return
        depth_max = max(depth_max, depth)
        label = html.escape(node.name)
        share = f"{100 * node.samples / total:.1f}%"
        text = f'<text x="{x + 3:.1f}" y="{{y}}" font-size="11">{html.escape(node.name[: int(width / 7)])}</text>' if width > 30 else ""
        boxes.append((depth, f'<g><title>{label}: {node.samples} samples, {share} ({html.escape(node.layer)})</title>'
                             f'<rect x="{x:.1f}" y="{{y}}" width="{width:.1f}" height="{ROW - 1}" fill="{COLOURS.get(node.layer, "#ccc")}"/>{text}</g>'))  # fmt: skip
        offset = x
        for child in sorted(node.children.values(), key=lambda n: n.name):
            draw(child, offset, depth + 1, total)
            offset += WIDTH * child.samples / total

    total = profile.root.samples or 1
    draw(profile.root, 0, 0, total)
    height = (depth_max + 1) * ROW + 40
    rows = []
    for depth, box in boxes:
        y = height - 20 - (depth + 1) * ROW
        rows.append(box.replace("{y}", f"{y}", 1).replace('y="{y}"', f'y="{y + 13}"'))
    legend = " ".join(f'<tspan fill="{colour}">■</tspan> {html.escape(name)}' for name, colour in COLOURS.items())
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="monospace">'
            f'<text x="4" y="14" font-size="13">{html.escape(title)} — {profile.samples} samples</text>'
            f'<text x="4" y="{height - 4}" font-size="11">{legend}</text>' + "".join(rows) + "</svg>\n")  # fmt: skip
