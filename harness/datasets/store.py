"""Where datasets are found (``HIL_DATASETS_PATH``, then the repository's ``datasets/``) and the sha256 check every
load passes through.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from harness.datasets.errors import DatasetIntegrityError, DatasetKindError, DatasetNotFoundError, ManifestError
from harness.datasets.manifest import BaseManifest, ManifestT, read_manifest
from harness.defaults import REPO_ROOT

ENV_VAR = "HIL_DATASETS_PATH"
MANIFEST = "manifest.toml"
REPO_DATASETS = REPO_ROOT / "datasets"


# The function that loads each format, named in errors that point a caller at the right one.
_LOADERS = {"csv": "load", "sktime-ts": "load_cases", "npz-recordings": "load_recordings"}


def search_path() -> list[Path]:
    """Directories searched for datasets, in order: ``HIL_DATASETS_PATH`` entries, then the repository's."""
    extra = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    return [*extra, REPO_DATASETS]


def available() -> list[str]:
    """Names of every dataset found in the search path, sorted; a name found twice is listed once."""
    names = {m.parent.name for root in search_path() if root.is_dir() for m in root.glob(f"*/{MANIFEST}")}
    return sorted(names)


def find_manifest(name: str) -> Path:
    if not name or Path(name).name != name or name in (".", ".."):
        raise DatasetNotFoundError(f"{name!r} is not a dataset name; use a folder name such as one of: {_listing()}")
    for root in search_path():
        candidate = root / name / MANIFEST
        if candidate.is_file():
            return candidate
    searched = ", ".join(f"{root}{'' if root.is_dir() else ' (missing)'}" for root in search_path())
    raise DatasetNotFoundError(
        f"no dataset {name!r}; available: {_listing()}. Searched {searched}. To add one, make a folder {name}/ with "
        f"the data file and a {MANIFEST} (see datasets/README.md) under datasets/ or a directory listed in {ENV_VAR}."
    )


def _listing() -> str:
    return ", ".join(available()) or "(none)"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_files(manifest: BaseManifest) -> None:
    """Every declared file exists and has the declared sha256."""
    for spec in manifest.files:
        data_path = manifest.path_of(spec)
        if not data_path.is_file():
            raise ManifestError(f"{manifest.path} names file {spec.path!r} but {data_path} does not exist")
        actual = sha256_of(data_path)
        if spec.sha256 is None:
            table = (
                "[file]" if len(manifest.files) == 1 and "file" in manifest.raw else f"the [[files]] entry {spec.path}"
            )
            raise ManifestError(
                f"{manifest.path} has no sha256 under {table}. The file's sha256 is {actual}; once you have checked "
                f'the file is the one you mean, add sha256 = "{actual}" there.'
            )
        if actual != spec.sha256.lower():
            raise DatasetIntegrityError(
                f"{data_path} has sha256 {actual} but {manifest.path} expects {spec.sha256}. The file changed after "
                "the manifest was written: restore the original file, or, if the change is intended, put the new "
                "sha256 (and count) in the manifest and say how the data was changed in datasets/README.md."
            )


def read_kind(name: str, kind: type[ManifestT], loader: str) -> ManifestT:
    manifest = read_manifest(find_manifest(name))
    if not isinstance(manifest, kind):
        raise DatasetKindError(
            f"dataset {name!r} has format {manifest.format!r}, which {loader}() does not read; load it with "
            f"{_LOADERS[manifest.format]}({name!r}) (or load_any({name!r}))"
        )
    _verify_files(manifest)
    return manifest
