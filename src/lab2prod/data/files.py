"""The paths a command reads and writes, checked before anything is opened or written.

An input must be a regular file: a named pipe would make `open` wait for a writer forever, a device
or a socket holds no table, a loop of symbolic links has no end. An output must go in a folder (not
under a regular file) and must not be one of the inputs: a command refuses in one line before it
reads a row, so nothing is lost and nothing is half written.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from lab2prod.errors import SourceError

_NOT_REGULAR = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _status(path: Path) -> os.stat_result | None:
    """Return `path`'s status (symbolic links followed), None when nothing is there.

    Raises one line for a loop of symbolic links or a folder that cannot be searched.
    """
    try:
        return path.stat()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None  # a parent is a file: the caller names it
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SourceError(
                f"{path}: is a loop of symbolic links: point the link at a file"
            ) from None
        raise SourceError(
            f"{path}: cannot be read ({exc.strerror or exc}): check its permissions"
        ) from None


def check_file(path: str | os.PathLike) -> Path:
    """Return `path` when it is a readable regular file; else raise one line saying what it is.

    The line also says what to pass. Nothing is opened before its kind is known (a named pipe would
    block).
    """
    path = Path(path)
    info = _status(path)
    if info is None:
        if path.is_symlink():
            raise SourceError(
                f"{path}: is a symbolic link to {os.readlink(path)}, which does not exist"
            )
        raise SourceError(f"{path}: file not found")
    if stat.S_ISDIR(info.st_mode):
        inside = sorted(
            p.name for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
        )
        example = f" (for example {path / inside[0]})" if inside else ""
        raise SourceError(f"{path}: is a folder, not a file: pass one file of it{example}")
    for test, kind in _NOT_REGULAR:
        if test(info.st_mode):
            raise SourceError(
                f"{path}: is {kind}, not a regular file: save the data to a file and pass that"
            )
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise SourceError(
            f"{path}: cannot be read ({exc.strerror or exc}): check its permissions"
        ) from None
    return path


def make_folder(path: str | os.PathLike) -> Path:
    """Create the folder `path` and its parents when missing.

    Raises one line when a part of it is a file (or a loop of symbolic links) and so can hold nothing.
    """
    path = Path(path)
    for part in (path, *path.parents):
        info = _status(part)
        if info is None:
            continue
        if not stat.S_ISDIR(info.st_mode):
            where = "" if part == path else f"cannot be a folder: {part} "
            raise SourceError(f"{path}: {where}is a file, not a folder: choose another output path")
        break
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SourceError(
            f"{path}: cannot create the folder ({exc.strerror or exc}): "
            "check its permissions or choose another output path"
        ) from None
    return path


def check_outputs(outputs: dict[Path, str], inputs: Iterable[str | os.PathLike]) -> None:
    """Raise one line when an output cannot be written where it is asked for.

    An output cannot be written under a regular file, over a folder, or over one of the `inputs`
    (the same file under any name).

    `outputs` maps every file a command writes, the ones it writes beside its main output included,
    to what it is ("the quarantine beside --output"), for the message.
    """
    inputs = [Path(p) for p in inputs]
    for path, what in outputs.items():
        path = Path(path)
        info = _status(path)
        if info is None:
            for part in path.parents:
                above = _status(part)
                if above is not None:
                    if not stat.S_ISDIR(above.st_mode):
                        raise SourceError(
                            f"{path}: cannot write {what} there: {part} is a file, not a folder: "
                            "choose another output path"
                        )
                    break
            continue
        if stat.S_ISDIR(info.st_mode):
            raise SourceError(f"{path}: is a folder: name a file for {what}")
        for source in inputs:
            if _status(source) is not None and os.path.samefile(path, source):
                raise SourceError(
                    f"{path}: {what} would overwrite the input {source}: choose another output path"
                )
