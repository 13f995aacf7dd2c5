"""A run as one file to share (results/<run-id>.tar.gz), and the careful way back in.

unpack() accepts only what share() makes: one top folder holding a manifest.json, regular
files and folders only, nothing absolute, no `..`, no links; and it never overwrites a run.
"""

import json
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from .tidy import AnalysisError

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def share(run_dir: Path) -> Path:
    """Write <results>/<run-id>.tar.gz from the run folder (report included) and return its path."""
    run_dir = Path(run_dir).resolve()
    archive = run_dir.parent / f"{run_dir.name}.tar.gz"
    partial = archive.with_name(archive.name + ".partial")

    def neutral(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if not (info.isfile() or info.isdir()):
            return None  # links and special files are not part of a run, and unpack refuses them
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(partial, "w:gz") as tar:
        tar.add(run_dir, arcname=run_dir.name, filter=neutral)
    os.replace(partial, archive)
    return archive


def check_archive(path: Path) -> str:
    """The top folder's name if this is a lab run's archive; otherwise AnalysisError saying why not."""
    if not path.is_file():
        raise AnalysisError(f"{path}: no such file")
    try:
        with tarfile.open(path, "r:*") as tar:
            members = tar.getmembers()
            tops = {PurePosixPath(m.name).parts[0] for m in members if PurePosixPath(m.name).parts}
            for member in members:
                name = PurePosixPath(member.name)
                if name.is_absolute() or member.name.startswith(("/", "\\")):
                    raise AnalysisError(f"{path}: not a lab run: absolute path {member.name!r} in the archive")
                if ".." in name.parts:
                    raise AnalysisError(f"{path}: not a lab run: member {member.name!r} leads outside its folder (..)")
                if member.issym() or member.islnk():
                    raise AnalysisError(f"{path}: not a lab run: link {member.name!r} in the archive")
                if not (member.isfile() or member.isdir()):
                    raise AnalysisError(f"{path}: not a lab run: special file {member.name!r} in the archive")
            if len(tops) != 1:
                raise AnalysisError(f"{path}: not a lab run: expected one top folder, found {len(tops)} ({', '.join(sorted(tops)[:5])})")
            (top,) = tops
            if not RUN_ID.match(top):
                raise AnalysisError(f"{path}: not a lab run: top folder {top!r} is not a run id")
            manifest = next((m for m in members if str(PurePosixPath(m.name)) == f"{top}/manifest.json" and m.isfile()), None)
            if manifest is None:
                raise AnalysisError(f"{path}: not a lab run: no {top}/manifest.json")
            try:
                data = json.loads(tar.extractfile(manifest).read())
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise AnalysisError(f"{path}: not a lab run: {top}/manifest.json is not JSON") from None
            if not isinstance(data, dict) or "matrix" not in data:
                raise AnalysisError(f"{path}: not a lab run: {top}/manifest.json is not a lab manifest (no matrix)")
            return top
    except tarfile.ReadError:
        raise AnalysisError(f"{path}: not a tar archive (plain, gzip, bzip2 or xz)") from None
    except (tarfile.TarError, EOFError, OSError) as problem:
        raise AnalysisError(f"{path}: damaged archive ({problem})") from None


def unpack(path: Path, results: Path) -> Path:
    """Extract a shared run into results/<run-id>/; an existing run is never overwritten."""
    path = Path(path)
    top = check_archive(path)
    destination = Path(results) / top
    if destination.exists():
        raise AnalysisError(f"{path}: run {top} already exists at {destination}; not overwritten")
    Path(results).mkdir(parents=True, exist_ok=True)
    # Extract beside the destination, then rename: a failed unpack leaves no half run behind.
    scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=results))
    try:
        with tarfile.open(path, "r:*") as tar:
            tar.extractall(scratch, filter="data")
        os.rename(scratch / top, destination)
    except (tarfile.TarError, EOFError, OSError) as problem:
        raise AnalysisError(f"{path}: cannot extract ({problem})") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return destination
