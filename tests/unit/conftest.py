"""Fixtures the unit tests share: the vendored datasets, loaded once, and a test's own dataset folders."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from harness import datasets


@pytest.fixture(autouse=True)
def _no_user_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own HIL_DATASETS_PATH could shadow the vendored data; a test sets it only if it needs it."""
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)


@pytest.fixture(scope="session")
def vendored() -> Callable[[str], datasets.Dataset | datasets.CaseDataset | datasets.RecordingDataset]:
    """``vendored(name)``: the dataset shipped in datasets/<name>/, loaded by its format's loader once per session,
    with HIL_DATASETS_PATH ignored."""
    loaded: dict[str, datasets.Dataset | datasets.CaseDataset | datasets.RecordingDataset] = {}

    def load(name: str) -> datasets.Dataset | datasets.CaseDataset | datasets.RecordingDataset:
        if name not in loaded:
            with pytest.MonkeyPatch.context() as mp:
                mp.delenv(datasets.ENV_VAR, raising=False)
                loaded[name] = datasets.load_any(name)
        return loaded[name]

    return load


@pytest.fixture(scope="session")
def vendored_sha256() -> Callable[[str], dict[str, tuple[str, str]]]:
    """``vendored_sha256(name)``: ``{file path: (sha256 the manifest records, sha256 of the file)}`` for every file
    of datasets/<name>/, read with tomllib and hashlib rather than through the harness."""

    def shas(name: str) -> dict[str, tuple[str, str]]:
        folder = datasets.REPO_DATASETS / name
        manifest = tomllib.loads((folder / "manifest.toml").read_text(encoding="utf-8"))
        files = [manifest["file"]] if "file" in manifest else manifest["files"]
        return {f["path"]: (f["sha256"], hashlib.sha256((folder / f["path"]).read_bytes()).hexdigest()) for f in files}

    return shas


@pytest.fixture
def user_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary directory set as HIL_DATASETS_PATH, for the dataset folders a test writes or copies there."""
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    return tmp_path


@pytest.fixture
def make_dataset(user_datasets: Path) -> Callable[..., Path]:
    """``make_dataset(name, manifest, files, root=user_datasets)``: writes ``root/name/`` with each of ``files``
    (name -> text or bytes) and a manifest.toml from ``manifest``, in which every ``{sha256:<file name>}`` becomes
    that file's sha256; returns the folder."""

    def make(name: str, manifest: str, files: Mapping[str, str | bytes], *, root: Path | None = None) -> Path:
        folder = (user_datasets if root is None else root) / name
        folder.mkdir(parents=True)
        for file_name, content in files.items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            (folder / file_name).write_bytes(data)
            manifest = manifest.replace(f"{{sha256:{file_name}}}", hashlib.sha256(data).hexdigest())
        (folder / "manifest.toml").write_text(manifest, encoding="utf-8")
        return folder

    return make
