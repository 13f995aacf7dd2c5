"""Read Locust's per-entry statistics CSV, of any Locust version, into one normalised table.

Covered: every Locust release that writes this file, 0.8 (first with --csv) to 2.47.
The header and the aggregate row were read from `locust/stats.py` in the Locust git
history (github.com/locustio/locust) at these release tags (every tag was checked; only
releases are cited, as commits between them sometimes wrote other headers); four families:

  family        versions         file written    source of header + aggregate row
  0.8-0.13.2    0.8 .. 0.13.2    <prefix>_requests.csv  tags v0.8, 0.13.2; 0.9.0 = untagged commit 4bde2ca9: requests_csv()
                                 (percentiles are in a separate <prefix>_distribution.csv, not read here)
  0.13.3-0.14   0.13.3 .. 0.14.6 <prefix>_stats.csv     tags 0.13.3, 0.14.6: requests_csv()
  1.0-1.1       1.0 .. 1.1.1     <prefix>_stats.csv     tags 1.0, 1.0.3, 1.1.1: requests_csv()
  1.2+          1.2 .. 2.47      <prefix>_stats.csv     tags 1.2, 1.4.4, 2.46.3, master 407343d0: StatsCSV.requests_csv_columns,
                                                        and the installed locust 2.47.0 (same header)

What differs between them, all from the same files:
- Column names: "Method"/"# requests"/"Median response time" (0.8-0.13.2), "Type" and
  "Requests Failed/s" plus percentiles (0.13.3-0.14), "Request Count"/"Failures/s" (1.0+).
- Percentiles: none (0.8-0.13.2); 50%..99.99%, "99.999" (no % sign: a typo in 0.13.3-0.14.6),
  100% (0.13.3-0.14); 50%..99.99%, "99.999%", 100% (1.0-1.1); 50%..99.99%, 100% (1.2+).
  The 99.999 column is dropped (the normalised table has no p99999).
- Aggregate row: name "Total" up to 0.12.1, "Aggregated" from 0.12.2 (commit a664d7ad);
  Type "None" up to 1.0.3 ('"%s"' % None), "" from 1.1 (csv.writer writes None as "",
  2.x passes "").
- Quoting: 0.x and 1.0 quote every header and string field by hand ('"%s"') and end
  without a newline; 1.1+ use csv.writer (minimal quoting, "\\r\\n", a final line break).
- N/A: 0.13.3+ write "N/A" in every percentile column of an entry with 0 requests
  (quoted up to 1.0.3, bare from 1.1). Nowhere else.
- Numbers: 0.x and 1.0 write integers ("%i") and rates with "%.2f"; 1.1+ write Python floats.
- 0.13.3 and 0.13.4 put the *current* (recent-window) percentiles in this file, not the
  whole-run ones (get_current_response_time_percentile; fixed in 0.13.5). Same format, so
  such files read fine, but their percentiles mean something else.

Columns are matched by name through COLUMN_MAP (so column order does not matter), and a
header must match one family exactly: extra or missing columns are errors, which includes
files written with a customised locust.stats.PERCENTILES_TO_REPORT.
"""

import csv
import io
import math
from pathlib import Path

import pandas as pd


class LocustCSVError(Exception):
    """A file that is not a readable Locust stats CSV; the message names the file and the problem."""


# One row per request name plus the aggregate: the lab's files are well under 1 KB, a run with
# thousands of distinct names a few hundred KB. Files from elsewhere are untrusted: a sparse
# 20 GB file would otherwise be read whole. Parsing takes ~20x the file size in memory.
MAX_CSV_BYTES = 4 << 20


# Locust header name -> normalised column. None = a real Locust column deliberately dropped.
COLUMN_MAP = {
    "Method": "type",  # 0.8-0.13.2
    "Type": "type",  # 0.13.3+
    "Name": "name",
    "# requests": "requests",  # up to 0.14
    "Request Count": "requests",  # 1.0+
    "# failures": "failures",
    "Failure Count": "failures",
    "Median response time": "median_ms",
    "Median Response Time": "median_ms",
    "Average response time": "avg_ms",
    "Average Response Time": "avg_ms",
    "Min response time": "min_ms",
    "Min Response Time": "min_ms",
    "Max response time": "max_ms",
    "Max Response Time": "max_ms",
    "Average Content Size": "avg_size_bytes",  # same spelling in every version
    "Requests/s": "rps",  # same spelling in every version
    "Requests Failed/s": "failures_per_s",  # 0.13.3-0.14
    "Failures/s": "failures_per_s",  # 1.0+
    "50%": "p50",
    "66%": "p66",
    "75%": "p75",
    "80%": "p80",
    "90%": "p90",
    "95%": "p95",
    "98%": "p98",
    "99%": "p99",
    "99.9%": "p999",
    "99.99%": "p9999",
    "99.999": None,  # 0.13.3-0.14 (sic, no %)
    "99.999%": None,  # 1.0-1.1
    "100%": "p100",
}

_PERCENTILES_0_13 = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "99.999", "100%"]
_PERCENTILES_1_0 = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "99.999%", "100%"]
_PERCENTILES_1_2 = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"]

_OLD_BASE = ["# requests", "# failures", "Median response time", "Average response time",
             "Min response time", "Max response time", "Average Content Size", "Requests/s"]
_NEW_BASE = ["Type", "Name", "Request Count", "Failure Count", "Median Response Time", "Average Response Time",
             "Min Response Time", "Max Response Time", "Average Content Size", "Requests/s", "Failures/s"]

# label -> (header as Locust writes it, names the aggregate row had)
FORMATS = {
    "0.8-0.13.2": (["Method", "Name", *_OLD_BASE], {"Total", "Aggregated"}),
    "0.13.3-0.14": (["Type", "Name", *_OLD_BASE, "Requests Failed/s", *_PERCENTILES_0_13], {"Aggregated"}),
    "1.0-1.1": ([*_NEW_BASE, *_PERCENTILES_1_0], {"Aggregated"}),
    "1.2+": ([*_NEW_BASE, *_PERCENTILES_1_2], {"Aggregated"}),
}
# csv.writer always ends the file with a line break; the older families never do, so
# only here does a missing final line break prove the last row was cut.
_ENDS_WITH_NEWLINE = {"1.2+"}

INT_COLUMNS = ["requests", "failures"]
FLOAT_COLUMNS = ["median_ms", "avg_ms", "min_ms", "max_ms", "avg_size_bytes", "rps", "failures_per_s"]
PERCENTILE_COLUMNS = ["p50", "p66", "p75", "p80", "p90", "p95", "p98", "p99", "p999", "p9999", "p100"]
COLUMNS = ["type", "name", *INT_COLUMNS, *FLOAT_COLUMNS, *PERCENTILE_COLUMNS, "locust_format"]

AGGREGATE_NAME = "Aggregated"
_AGGREGATE_TYPES = {"", "None"}  # None as written by '"%s"' (<= 1.0.3) or by csv.writer (1.1+)


def read_stats(path) -> pd.DataFrame:
    """One row per entry of a Locust stats CSV, the aggregate row included, in COLUMNS."""
    path = Path(path)
    try:
        # newline="" so csv sees "\r\n" itself; utf-8-sig drops a BOM a spreadsheet may add
        with open(path, encoding="utf-8-sig", newline="") as handle:
            text = handle.read(MAX_CSV_BYTES + 1)  # characters; never more than the cap is read
            if len(text.encode()) > MAX_CSV_BYTES:
                raise LocustCSVError(f"{path}: {path.stat().st_size:,} bytes, over the {MAX_CSV_BYTES >> 20} MiB cap for a Locust stats CSV")
    except (OSError, UnicodeDecodeError) as problem:
        raise LocustCSVError(f"{path}: cannot read file: {problem}") from None
    if not text.strip():
        raise LocustCSVError(f"{path}: empty file")

    # strict: an unterminated quote (a row cut inside "...") is an error, not a field
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = []  # (line number, fields)
    try:
        for fields in reader:
            if fields:  # blank lines, e.g. "\r\r\n" from a file written on Windows
                rows.append((reader.line_num, fields))
    except csv.Error as problem:
        raise LocustCSVError(f"{path}: truncated or malformed row at line {reader.line_num}: {problem}") from None

    header = [name.strip() for name in rows[0][1]]
    label = _detect_format(path, header)
    data = rows[1:]
    if not data:
        raise LocustCSVError(f"{path}: header only, no data rows (no aggregate row)")
    if label in _ENDS_WITH_NEWLINE and not text.endswith("\n"):
        raise LocustCSVError(f"{path}: truncated row at line {data[-1][0]}: file ends mid-line "
                             f"(Locust {label} always ends the file with a line break)")

    records = []
    aggregate_lines = []
    for line, fields in data:
        if len(fields) < len(header):
            raise LocustCSVError(f"{path}: truncated row at line {line}: {len(fields)} fields, "
                                 f"header has {len(header)}")
        if len(fields) > len(header):
            raise LocustCSVError(f"{path}: malformed row at line {line}: {len(fields)} fields, "
                                 f"header has {len(header)}")
        record = _parse_row(path, line, header, fields)
        if record["name"] in FORMATS[label][1] and record["type"] in _AGGREGATE_TYPES:
            record["name"], record["type"] = AGGREGATE_NAME, ""
            aggregate_lines.append(line)
        record["locust_format"] = label
        records.append(record)

    if not aggregate_lines:
        names = " or ".join(sorted(FORMATS[label][1]))
        raise LocustCSVError(f"{path}: no aggregate row (a row named {names} with an empty Type)")
    if len(aggregate_lines) > 1:
        raise LocustCSVError(f"{path}: more than one aggregate row, at lines {aggregate_lines}")

    frame = pd.DataFrame.from_records(records)
    frame = frame.reindex(columns=COLUMNS)
    frame = frame.astype({**{c: "int64" for c in INT_COLUMNS},
                          **{c: "float64" for c in FLOAT_COLUMNS + PERCENTILE_COLUMNS}})
    frame.attrs["path"] = str(path)
    return frame


def aggregate_row(df: pd.DataFrame) -> pd.Series:
    """The aggregate ("Aggregated", formerly "Total") row of a read_stats() table."""
    where = df.attrs.get("path", "<table>")
    match = df[(df["name"] == AGGREGATE_NAME) & (df["type"] == "")]
    if len(match) == 0:
        raise LocustCSVError(f"{where}: no aggregate row")
    if len(match) > 1:
        raise LocustCSVError(f"{where}: {len(match)} aggregate rows")
    return match.iloc[0]


def _detect_format(path, header):
    """The family whose header has exactly these column names (in any order)."""
    found = ", ".join(repr(name) for name in header)
    unknown = [name for name in header if name not in COLUMN_MAP]
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        raise LocustCSVError(f"{path}: unknown Locust format: unknown column(s) {listed}; columns found: {found}")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise LocustCSVError(f"{path}: duplicate column(s) {duplicates}; columns found: {found}")
    for label, (columns, _) in FORMATS.items():
        if set(header) == set(columns):
            return label
    # name the family this header is closest to, and what it lacks or has extra
    label, (columns, _) = min(FORMATS.items(), key=lambda item: len(set(header) ^ set(item[1][0])))
    missing = [name for name in columns if name not in header]
    extra = [name for name in header if name not in columns]
    problem = []
    if missing:
        problem.append("missing column(s) " + ", ".join(repr(name) for name in missing))
    if extra:
        problem.append("column(s) from another Locust version " + ", ".join(repr(name) for name in extra))
    raise LocustCSVError(f"{path}: not a complete Locust {label} header: {'; '.join(problem)}; columns found: {found}")


def _parse_row(path, line, header, fields):
    """One data row as {normalised column: value}; numbers checked here so errors name the line."""
    target = {name: COLUMN_MAP[name] for name in header}
    raw = {target[name]: (name, value.strip()) for name, value in zip(header, fields) if target[name]}
    record = {"type": raw["type"][1], "name": raw["name"][1]}
    for column in INT_COLUMNS:
        name, value = raw[column]
        try:
            record[column] = int(value)
        except ValueError:
            raise LocustCSVError(f"{path}: non-numeric value {value!r} in column {name!r} at line {line} "
                                 f"(an integer count)") from None
    # columns a format lacks (failures_per_s before 0.13.3, percentiles) are left out: NaN later
    for column in [c for c in FLOAT_COLUMNS + PERCENTILE_COLUMNS if c in raw]:
        name, value = raw[column]
        if value == "N/A" and column in PERCENTILE_COLUMNS:
            # Locust writes N/A only for an entry with no requests yet
            if record["requests"] != 0:
                raise LocustCSVError(f"{path}: value 'N/A' in column {name!r} at line {line}, but the entry "
                                     f"has {record['requests']} requests (Locust writes N/A only for 0 requests)")
            record[column] = math.nan
            continue
        try:
            record[column] = float(value)
        except ValueError:
            raise LocustCSVError(f"{path}: non-numeric value {value!r} in column {name!r} at line {line}") from None
        if not math.isfinite(record[column]):  # float() accepts "nan"/"inf"; Locust never writes them
            raise LocustCSVError(f"{path}: non-numeric value {value!r} in column {name!r} at line {line}")
    return record
