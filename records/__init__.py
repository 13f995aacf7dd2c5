"""A run's records: what the runner (lab/) writes and the analysis (analysis/) reads.

Both import this package; it imports neither, and only the standard library, so a run shared
from another machine is read with nothing else.

    names.py    the rule for names that become paths, and paths that must stay inside a folder
    files.py    atomic JSON writes and capped reads
    layout.py   where a run's files go (results/<run-id>/...)
    run.py      manifest.json and step.json as versioned dataclasses
    rules.py    the rules that judge a step: generator-bound, disturbed, faithful
"""
