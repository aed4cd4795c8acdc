"""The OFD container (GB/T 33190 §7.2): a ZIP of named parts, read with limits and written deterministically.

Part names are kept without a leading slash (``Doc_0/Document.xml``). A document refers to a part either
absolutely (``/Doc_0/Signs/Sign_0/Signature.xml``) or relative to the referring part's folder;
:func:`resolve` turns both into a part name.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from collections.abc import Iterator, Mapping

from baohan.adapters.documents.ofd.errors import OfdError

# A fixed time for every entry, so equal inputs give equal bytes (the ZIP format cannot say before 1980).
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
MAX_PARTS = 10_000
MAX_TOTAL_SIZE = 256 * 1024 * 1024  # uncompressed; a guarantee with attachments is a few megabytes
_UNIX = 3
_FILE_MODE = 0o100644 << 16


def resolve(base_part: str, location: str) -> str:
    """The part name ``location`` means when written inside ``base_part`` (absolute or relative)."""
    loc = location.strip()
    if not loc:
        raise OfdError(f"an empty location in {base_part}")
    joined = loc[1:] if loc.startswith("/") else posixpath.join(posixpath.dirname(base_part), loc)
    name = posixpath.normpath(joined)
    if name.startswith("../") or name in ("..", ".") or "\\" in name:
        raise OfdError(f"location {location!r} in {base_part} points outside the package")
    return name


def absolute(part: str) -> str:
    """``part`` as an absolute location (``/Doc_0/…``), the form signatures use in ``FileRef``."""
    return "/" + part


class OfdPackage(Mapping[str, bytes]):
    """The parts of an OFD document by name, in the order they were added or read."""

    __slots__ = ("_parts",)

    def __init__(self, parts: Mapping[str, bytes] | None = None) -> None:
        self._parts: dict[str, bytes] = {}
        for name, data in (parts or {}).items():
            self.put(name, data)

    @classmethod
    def read(cls, data: bytes, *, max_total_size: int = MAX_TOTAL_SIZE) -> OfdPackage:
        """Parse an OFD file; a broken ZIP, an unsafe name or too much content is an :class:`OfdError`."""
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            infos = archive.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
            raise OfdError(f"not an OFD package (not a ZIP file: {exc})") from None
        if len(infos) > MAX_PARTS:
            raise OfdError(f"the package has more than {MAX_PARTS} entries")
        package, total = cls(), 0
        for info in infos:
            if info.is_dir():
                continue
            total += info.file_size
            if total > max_total_size:
                raise OfdError(f"the package unpacks to more than {max_total_size} bytes")
            name = resolve("", "/" + info.filename.lstrip("/"))
            if name in package._parts:
                raise OfdError(f"the package holds {name} twice")
            try:
                content = archive.read(info)
            except (
                zipfile.BadZipFile,
                OSError,
                ValueError,
                NotImplementedError,
                RuntimeError,
                EOFError,
                zlib.error,
            ) as exc:
                # RuntimeError: an encrypted entry; zlib.error and EOFError: damaged compressed data.
                raise OfdError(f"cannot unpack {name}: {exc}") from None
            package._parts[name] = content
        if "OFD.xml" not in package._parts:
            raise OfdError("the package has no OFD.xml")
        return package

    def put(self, name: str, data: bytes) -> None:
        """Add or replace a part (replacing keeps its place in the order)."""
        if name != resolve("", "/" + name) or name.startswith("/"):
            raise OfdError(f"part name {name!r} is not a plain relative path")
        self._parts[name] = bytes(data)

    def to_bytes(self) -> bytes:
        """The package as a ZIP: deflated parts in order, fixed times and modes, so equal parts give equal bytes."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in self._parts.items():
                info = zipfile.ZipInfo(name, ZIP_TIME)
                info.create_system = _UNIX
                info.external_attr = _FILE_MODE
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data, compresslevel=6)
        return out.getvalue()

    def __getitem__(self, name: str) -> bytes:
        return self._parts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def copy(self) -> OfdPackage:
        """A package with the same parts, to change without touching this one."""
        return OfdPackage(self._parts)
