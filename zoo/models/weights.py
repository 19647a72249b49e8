"""Pretrained weight files: manifest, offline-first resolution, fetch, import, verify.

The manifest (``zoo/models/weights_manifest.json``, package data, so an installed copy of the
package has it too) lists every ImageNet file the builders can use with its official
Keras URL, hash (md5, or sha256 for ConvNeXt) and size. The files themselves are never committed. ``resolve(name)``
looks, in order, in

1. the local store: ``$ZOO_WEIGHTS_DIR`` if set; else ``weights/store/`` in the project
   folder when the package runs from its source checkout (``pip install -e .``); else
   ``$XDG_CACHE_HOME/dense-zoo/weights`` (default ``~/.cache/dense-zoo/weights``) for an
   installed package;
2. the Keras cache: ``$KERAS_HOME/models`` (default ``~/.keras/models``, and
   ``/tmp/.keras/models``, where Keras goes when the home folder is read-only);
3. the official URL: downloaded into the store with a progress bar and hash check
   (skipped when ``ZOO_OFFLINE=1``).

A file is used only if its size and hash match the manifest. When nothing works,
``WeightsUnavailableError`` says which file is missing and both ways to get it.
There is no fallback to random weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

from zoo.utils.io import atomic_path

PACKAGE_DIR = Path(__file__).resolve().parent
MANIFEST_PATH = PACKAGE_DIR / "weights_manifest.json"
DOWNLOAD_TIMEOUT_S = 20.0  # per network operation (connect, each read)


class WeightsUnavailableError(RuntimeError):
    """A pretrained file is needed but is not present, not verified and not downloadable."""


@dataclasses.dataclass(frozen=True)
class WeightsFile:
    """One manifest entry: a pretrained file and how to recognise it."""

    name: str
    backbone: str
    include_top: bool
    url: str
    md5: str | None  # Keras' own hash; None where Keras publishes none (MobileNetV2) or publishes a sha256
    bytes: int | None  # None where it has not been measured here (files this machine cannot download)
    sha256: str | None = None  # where Keras publishes a sha256 instead of an md5 (ConvNeXt)

    @property
    def digest(self) -> tuple[str, str] | None:
        """(algorithm, hex digest) Keras publishes for this file, or None."""
        if self.sha256:
            return "sha256", self.sha256
        return ("md5", self.md5) if self.md5 else None


def manifest(path: Path | None = None) -> dict[str, WeightsFile]:
    """Reads the manifest: file name -> entry."""
    path = Path(path or MANIFEST_PATH)
    if not path.is_file():
        raise FileNotFoundError(
            f"weights manifest not found at {path}: this copy of the package is incomplete; "
            "reinstall it (pip install --force-reinstall dense-zoo, or pip install -e . in "
            "the source folder)"
        )
    data = json.loads(path.read_text())
    return {f["name"]: WeightsFile(**f) for f in data["files"]}


def source_checkout() -> Path | None:
    """The project folder when the package runs from its source checkout (editable install), else None."""
    project = PACKAGE_DIR.parent.parent  # zoo/models -> the checkout
    return project if (project / "pyproject.toml").is_file() and (project / "recipes").is_dir() else None


def store_dir() -> Path:
    """The local store: ``$ZOO_WEIGHTS_DIR``, ``<project>/weights/store`` in a source checkout, else
    ``$XDG_CACHE_HOME/dense-zoo/weights`` (``~/.cache/dense-zoo/weights``)."""
    env = os.environ.get("ZOO_WEIGHTS_DIR")
    if env:
        return Path(env).expanduser()
    project = source_checkout()
    if project is not None:
        return project / "weights" / "store"
    cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache).expanduser() / "dense-zoo" / "weights"


def keras_cache_dirs() -> list[Path]:
    """Folders where ``keras.utils.get_file`` keeps downloaded application weights."""
    home = os.environ.get("KERAS_HOME")
    if home:
        return [Path(home).expanduser() / "models"]
    return [Path("~/.keras/models").expanduser(), Path("/tmp/.keras/models")]


def md5sum(path: Path, chunk: int = 1 << 22, algorithm: str = "md5") -> str:
    """Hex digest (md5 unless ``algorithm`` names another hashlib algorithm) of a file, read in 4 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: Path, entry: WeightsFile) -> str | None:
    """Returns None if ``path`` is ``entry`` (its size where the manifest knows it, and its md5), else what is
    wrong. A file whose manifest entry has no md5 (Keras publishes none) is checked when it is loaded into
    the backbone, as Keras does."""
    size = path.stat().st_size
    if entry.bytes is not None and size != entry.bytes:
        return f"{path} has {size:,} bytes, expected {entry.bytes:,} (truncated or another file)"
    if size == 0:
        return f"{path} is empty"
    if entry.digest is None:
        return None
    algorithm, expected = entry.digest
    digest = md5sum(path, algorithm=algorithm)
    if digest != expected:
        return f"{path} has {algorithm} {digest}, expected {expected} (corrupted or another file)"
    return None


def _entry(name: str) -> WeightsFile:
    files = manifest()
    if name not in files:
        raise ValueError(f"unknown weights file {name!r}; the manifest lists {sorted(files)}")
    return files[name]


def locate(name: str) -> tuple[Path | None, list[str]]:
    """Finds a verified copy of manifest file ``name`` without any network access.

    Returns:
        (path or None, problems seen with copies that failed verification).
    """
    entry = _entry(name)
    problems: list[str] = []
    for folder in [store_dir(), *keras_cache_dirs()]:
        candidate = folder / name
        if candidate.is_file():
            problem = check_file(candidate, entry)
            if problem is None:
                return candidate, problems
            problems.append(problem)
    return None, problems


def _identity(entry: WeightsFile) -> str:
    """How the file is recognised, for messages."""
    size = f", {entry.bytes:,} bytes" if entry.bytes is not None else ""
    if entry.digest is None:
        return "Keras publishes no hash for this file."
    return f"Expected {entry.digest[0]} {entry.digest[1]}{size}."


def how_to_get(entry: WeightsFile) -> str:
    """The two ways to obtain a file by hand, for error messages."""
    return (
        f"To get it: (a) on a machine with internet run `python -m zoo weights fetch {entry.name}`, "
        f"or (b) download {entry.url} any way you can (browser, curl) and run "
        f"`python -m zoo weights import /path/to/{entry.name}` (or copy it into {store_dir()}/ "
        f"or {keras_cache_dirs()[0]}/). {_identity(entry)} "
        "Or build with encoder_weights=None to train from random initial weights on purpose."
    )


def fetch(name: str, timeout: float = DOWNLOAD_TIMEOUT_S, quiet: bool = False) -> Path:
    """Downloads manifest file ``name`` into the store, verifies it, returns its path.

    The download goes to a temporary file renamed into place only after the hash
    check passes. Raises WeightsUnavailableError (fast: DNS and connection errors
    surface at once, stalls after ``timeout`` seconds) when it cannot.
    """
    entry = _entry(name)
    if os.environ.get("ZOO_OFFLINE") == "1":
        raise WeightsUnavailableError(
            f"{name} is not in the local store or the Keras cache, and ZOO_OFFLINE=1 forbids "
            f"downloading it. {how_to_get(entry)}"
        )
    final = store_dir() / name
    try:
        with atomic_path(final, suffix=".part") as tmp:
            _download(entry, tmp, timeout, quiet)
            problem = check_file(tmp, entry)
            if problem is not None:
                raise WeightsUnavailableError(f"downloaded file failed verification: {problem}")
        return final
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
        raise WeightsUnavailableError(
            f"could not download {name} from {entry.url} ({err}). {how_to_get(entry)}"
        ) from err


def _download(entry, tmp: Path, timeout: float, quiet: bool) -> None:
    """Streams ``entry.url`` into ``tmp`` (with a progress bar unless ``quiet``)."""
    with open(tmp, "wb") as out, urllib.request.urlopen(entry.url, timeout=timeout) as resp:
        total = int(resp.headers.get("Content-Length") or entry.bytes or 0) or None
        done = 0
        bar = None
        if not quiet:
            from keras.utils import Progbar

            print(f"Downloading {entry.url}", file=sys.stderr)
            bar = Progbar(total, unit_name="B")
        for block in iter(lambda: resp.read(1 << 20), b""):
            out.write(block)
            done += len(block)
            if bar is not None:
                bar.update(done)


def resolve(name: str, download: bool = True) -> Path:
    """A verified local path for manifest file ``name``: store, Keras cache, then download.

    Raises:
        WeightsUnavailableError: with the file name and how to get it.
    """
    path, problems = locate(name)
    if path is not None:
        return path
    seen = (" Copies found but refused: " + "; ".join(problems) + ".") if problems else ""
    if not download:
        raise WeightsUnavailableError(
            f"{name} is not in the local store or the Keras cache.{seen} {how_to_get(_entry(name))}"
        )
    try:
        return fetch(name)
    except WeightsUnavailableError as err:
        raise WeightsUnavailableError(f"{err}{seen}") from err


def import_file(path: str | os.PathLike) -> Path:
    """Verifies a file obtained elsewhere against the manifest and copies it into the store.

    The file is recognised by its hash, md5 or sha256 as Keras publishes it (its name may
    differ). Raises ValueError if it matches no manifest entry.
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise FileNotFoundError(f"no such file: {source}")
    size = source.stat().st_size
    candidates = [e for e in manifest().values() if e.bytes in (size, None) and e.digest]
    digests = {algorithm: md5sum(source, algorithm=algorithm) for algorithm in {e.digest[0] for e in candidates}}
    for entry in candidates:
        if digests[entry.digest[0]] == entry.digest[1]:
            final = store_dir() / entry.name
            with atomic_path(final, suffix=".part") as tmp:
                shutil.copyfile(source, tmp)
            return final
    known = ", ".join(f"{e.name} ({e.digest[0]} {e.digest[1]})" for e in manifest().values() if e.digest)
    seen = ", ".join(f"{a} {d}" for a, d in sorted(digests.items())) or "not computed: no manifest file has that size"
    raise ValueError(
        f"{source} ({size:,} bytes, {seen}) "
        f"is none of the known weight files: {known}. Download one of those exact files."
    )


def status() -> list[dict]:
    """One row per manifest file: name, backbone, top, size, where it is, verified or why not."""
    rows = []
    for entry in manifest().values():
        path, problems = locate(entry.name)
        rows.append(
            {
                "name": entry.name,
                "backbone": entry.backbone,
                "include_top": entry.include_top,
                "bytes": entry.bytes,
                "path": str(path) if path else None,
                "state": "verified" if path else ("invalid: " + "; ".join(problems) if problems else "missing"),
            }
        )
    return rows
