"""A report as a list of blocks (headings, text, tables, charts), rendered to markdown and HTML by analysis/report.py."""

from dataclasses import dataclass

import pandas as pd


@dataclass
class Block:
    kind: str  # "h1", "h2", "p", "ul", "table", "chart"
    text: str = ""
    items: list[str] | None = None
    table: pd.DataFrame | None = None
    png: bytes = b""
    align: str = "right"  # of a table's text cells in markdown: numbers right, prose left
