"""A run as one file to share (results/<run-id>.tar.gz), and the careful way back in.

unpack() accepts only what share() makes: one top folder named by a run id holding a
manifest.json, regular files and folders only, every name a plain name (records/names.py), no
links, no sparse files, no name twice, within the caps below; and it never overwrites a run.
A shared archive is untrusted: the caps are checked from the tar headers before anything is
written, and again for each member as it is extracted.
"""

import bz2
import gzip
import json
import lzma
import os
import shutil
import tarfile
import tempfile
import zlib
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from .tidy import MAX_JSON_BYTES, AnalysisError, check_manifest, check_name, inside

# Caps on a shared run, generous for a real one: a quick run is about 1,000 members and a few MB;
# the full sweep (810 steps plus warm-ups and ceilings, about 10 files each) about 10,000 members
# and tens of MB; the largest file is a server's log, targets/<name>.log, a few MB. The caps leave
# 5x room over the full sweep and refuse what only a bomb needs (200,000 files, a 2 GB member).
MAX_MEMBERS = 50_000
MAX_MEMBER_BYTES = 64 << 20
MAX_TOTAL_BYTES = 512 << 20
# tarfile reads a PAX extended header or a GNU long name whole, whatever size it claims (real ones
# are under 1 KB); every other read it makes is a 512-byte block or a 16 KiB piece of a member.
MAX_READ_BYTES = 1 << 20
# Written by unpack() into each run it brings in: `make report` prefers runs made here.
UNPACKED = "unpacked.json"


def share(run_dir: Path) -> Path:
    """Write <results>/<run-id>.tar.gz from the run folder (report included) and return its path."""
    run_dir = Path(run_dir).resolve()
    check_name("run id", run_dir.name, f"{run_dir}: cannot share")  # unpack would refuse it
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


class _BoundedReads:
    """The decompressed archive, for tarfile, refusing any single read over MAX_READ_BYTES."""

    def __init__(self, fileobj, path: Path):
        self.fileobj, self.path = fileobj, path

    def read(self, size=-1):
        if size is None or size < 0 or size > MAX_READ_BYTES:
            raise AnalysisError(f"{self.path}: not a lab run: a tar header of {size:,} bytes, over the {MAX_READ_BYTES >> 20} MiB cap")
        return self.fileobj.read(size)

    def seek(self, offset, whence=os.SEEK_SET):
        return self.fileobj.seek(offset, whence)

    def tell(self):
        return self.fileobj.tell()


@contextmanager
def _open(path: Path):
    """The archive as a TarFile (plain, gzip, bzip2 or xz); read errors as one-line AnalysisErrors."""
    if not path.is_file():
        raise AnalysisError(f"{path}: no such file")
    try:
        with ExitStack() as stack:
            raw = stack.enter_context(open(path, "rb"))
            magic = raw.read(6)
            raw.seek(0)
            if magic.startswith(b"\x1f\x8b"):
                raw = stack.enter_context(gzip.GzipFile(fileobj=raw))
            elif magic.startswith(b"BZh"):
                raw = stack.enter_context(bz2.BZ2File(raw))
            elif magic.startswith(b"\xfd7zXZ\x00"):
                raw = stack.enter_context(lzma.LZMAFile(raw))
            try:
                tar = stack.enter_context(tarfile.open(fileobj=_BoundedReads(raw, path), mode="r:"))
            except tarfile.ReadError:
                raise AnalysisError(f"{path}: not a tar archive (plain, gzip, bzip2 or xz)") from None
            yield tar
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error) as problem:
        raise AnalysisError(f"{path}: damaged archive ({problem})") from None


class _Budget:
    """What an archive may hold; take() refuses the first member over a cap."""

    def __init__(self, path: Path):
        self.path, self.count, self.total, self.seen = path, 0, 0, set()

    def take(self, member: tarfile.TarInfo) -> str:
        """The member's name, normalised, if it is acceptable; otherwise AnalysisError saying why."""
        where = f"{self.path}: not a lab run"
        self.count += 1
        if self.count > MAX_MEMBERS:
            raise AnalysisError(f"{where}: more than {MAX_MEMBERS:,} members (the cap; a full sweep has about 10,000)")
        name = PurePosixPath(member.name)
        if name.is_absolute() or member.name.startswith(("/", "\\")):
            raise AnalysisError(f"{where}: absolute path {member.name!r} in the archive")
        if ".." in name.parts:
            raise AnalysisError(f"{where}: member {member.name!r} leads outside its folder (..)")
        if not name.parts:
            raise AnalysisError(f"{where}: a member with an empty name")
        check_name("run id", name.parts[0], f"{where}: top folder")
        for part in name.parts[1:]:
            check_name("file name", part, f"{where}: member {member.name!r}")
        if member.issym() or member.islnk():
            raise AnalysisError(f"{where}: link {member.name!r} in the archive")
        if member.issparse():
            raise AnalysisError(f"{where}: sparse member {member.name!r} (a run's files are never sparse)")
        if not (member.isfile() or member.isdir()):
            raise AnalysisError(f"{where}: special file {member.name!r} in the archive")
        if member.size > MAX_MEMBER_BYTES:
            raise AnalysisError(f"{where}: {member.name!r} is {member.size:,} bytes, over the {MAX_MEMBER_BYTES >> 20} MiB cap per file")
        self.total += member.size
        if self.total > MAX_TOTAL_BYTES:
            raise AnalysisError(f"{where}: its files add up to more than {MAX_TOTAL_BYTES >> 20} MiB in total (the cap)")
        if str(name) in self.seen:
            raise AnalysisError(f"{where}: duplicate name {str(name)!r} in the archive")
        self.seen.add(str(name))
        return str(name)


def _check(tar: tarfile.TarFile, path: Path) -> tuple[str, list[tarfile.TarInfo]]:
    """The top folder and the members, read from the headers alone; AnalysisError at the first problem."""
    budget, members = _Budget(path), []
    for member in tar:  # header by header: a cap stops the scan before tarfile reads further
        budget.take(member)
        members.append(member)
    tops = {PurePosixPath(m.name).parts[0] for m in members}
    if len(tops) != 1:
        raise AnalysisError(f"{path}: not a lab run: expected one top folder, found {len(tops)} ({', '.join(sorted(tops)[:5])})")
    (top,) = tops
    manifest = next((m for m in members if str(PurePosixPath(m.name)) == f"{top}/manifest.json" and m.isfile()), None)
    if manifest is None:
        raise AnalysisError(f"{path}: not a lab run: no {top}/manifest.json")
    where = f"{path}: {top}/manifest.json"
    if manifest.size > MAX_JSON_BYTES:
        raise AnalysisError(f"{where}: {manifest.size:,} bytes, over the {MAX_JSON_BYTES >> 20} MiB cap for a JSON file of a run")
    with tar.extractfile(manifest) as handle:
        text = b"".join(iter(lambda: handle.read(64 << 10), b""))
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # ValueError: JSONDecodeError, UnicodeDecodeError, too many digits
        raise AnalysisError(f"{path}: not a lab run: {top}/manifest.json is not JSON") from None
    if not isinstance(data, dict) or "matrix" not in data:
        raise AnalysisError(f"{path}: not a lab run: {top}/manifest.json is not a lab manifest (no matrix)")
    check_manifest(data, where)
    return top, members


def check_archive(path: Path) -> str:
    """The top folder's name if this is a lab run's archive; otherwise AnalysisError saying why not."""
    path = Path(path)
    with _open(path) as tar:
        return _check(tar, path)[0]


def unpack(path: Path, results: Path) -> Path:
    """Extract a shared run into results/<run-id>/; an existing run is never overwritten."""
    path, results = Path(path), Path(results)
    with _open(path) as tar:
        top, members = _check(tar, path)
        destination = results / top
        if destination.exists():
            raise AnalysisError(f"{path}: run {top} already exists at {destination}; not overwritten")
        results.mkdir(parents=True, exist_ok=True)
        inside(results, destination)
        budget = _Budget(path)

        def guard(member: tarfile.TarInfo, where: str) -> tarfile.TarInfo:
            budget.take(member)  # the caps again, member by member, as it is written
            return tarfile.data_filter(member, where)

        # Extract beside the destination, then rename: a failed unpack leaves no half run behind.
        scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=results))
        try:
            tar.extractall(scratch, members=members, filter=guard)
            marker = {"archive": str(path.resolve()), "unpacked_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            (scratch / top / UNPACKED).write_text(json.dumps(marker) + "\n")
            os.rename(scratch / top, destination)
        except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error) as problem:
            raise AnalysisError(f"{path}: cannot extract ({problem})") from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return destination
