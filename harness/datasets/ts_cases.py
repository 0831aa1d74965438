"""Format ``sktime-ts``: sktime's ``.ts`` text files of equal-length labelled cases, one file per split ->
:class:`CaseDataset`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.datasets.checks import check_split
from harness.datasets.errors import DataFormatError, ManifestError, WindowError
from harness.datasets.manifest import CasesManifest
from harness.datasets.samples import ClassificationData
from harness.datasets.store import read_kind


@dataclass(frozen=True, eq=False)
class TsFile:
    """The content of one sktime ``.ts`` file: header values, ``X`` float64 [N, T, C] and each case's label text."""

    path: Path
    header: dict[str, str]
    class_labels: tuple[str, ...]
    X: np.ndarray
    labels: tuple[str, ...]

    @property
    def problem(self) -> str:
        return self.header.get("problemname", "")


# Headers whose value makes the file something this reader does not handle (and would misread if it ignored them).
_TS_UNSUPPORTED = {
    "timestamps": ("true", "time-stamped values"),
    "equallength": ("false", "cases of unequal length"),
    "targetlabel": ("true", "regression targets"),
}


def read_ts(path: Path) -> TsFile:
    """Parse an sktime ``.ts`` file of equal-length, labelled, multichannel cases.

    Header lines ``@key value`` (``@problemName``, ``@dimensions``, ``@seriesLength``, ``@classLabel true A B ...``)
    come before ``@data``; each line after it is one case, ``channel:channel:...:label``, every channel a
    comma-separated list of values. ``#`` lines are comments.
    """
    header: dict[str, str] = {}
    class_labels: tuple[str, ...] | None = None
    cases: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    with path.open(encoding="utf-8") as fh:
        for lineno, text in enumerate(fh, 1):
            line = text.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{path}:{lineno}"
            if not in_data:
                if not line.startswith("@"):
                    raise DataFormatError(f"{where}: expected a @key header line or @data, got {line[:40]!r}")
                key, _, value = line[1:].partition(" ")
                key, value = key.lower(), value.strip()
                if key == "data":
                    in_data = True
                    if class_labels is None:
                        raise DataFormatError(
                            f"{where}: no @classLabel true <names> line before @data; a classification file "
                            "names its classes"
                        )
                    continue
                bad, what = _TS_UNSUPPORTED.get(key, (None, ""))
                if bad is not None and value.split()[:1] == [bad]:
                    raise DataFormatError(f"{where}: @{key} {value} — this reader handles no {what}")
                if key == "classlabel":
                    flag, *names = value.split()
                    if flag.lower() != "true" or not names:
                        raise DataFormatError(f"{where}: @classLabel {value!r}: the cases must carry class labels")
                    class_labels = tuple(names)
                header[key] = value
                continue
            *channel_texts, label = line.split(":")
            if not channel_texts:
                raise DataFormatError(f"{where}: a case is channel:channel:...:label, got no ':' in {line[:40]!r}")
            if label not in (class_labels or ()):
                raise DataFormatError(f"{where}: label {label!r} is not one of @classLabel {class_labels}")
            try:
                channels = [np.array(c.split(","), dtype=np.float64) for c in channel_texts]
            except ValueError as exc:
                raise DataFormatError(
                    f"{where}: {exc}; values must be numbers (missing values '?' are not supported: fill them in a "
                    "copy of the file and record how in datasets/README.md)"
                ) from exc
            lengths = {c.size for c in channels}
            if len(lengths) != 1:
                raise DataFormatError(f"{where}: channels have different lengths {sorted(lengths)}")
            if cases and (len(channels), channels[0].size) != cases[0].shape[::-1]:
                raise DataFormatError(
                    f"{where}: case has {len(channels)} channels x {channels[0].size} steps, the first case "
                    f"{cases[0].shape[1]} x {cases[0].shape[0]}"
                )
            cases.append(np.stack(channels, axis=-1))
            labels.append(label)
    if not cases:
        raise DataFormatError(f"{path}: no cases{'' if in_data else ' and no @data line'}")
    X = np.stack(cases)
    for key, actual in (("dimensions", X.shape[2]), ("serieslength", X.shape[1])):
        if key in header and header[key] != str(actual):
            raise DataFormatError(f"{path}: @{key} says {header[key]} but the cases have {actual}")
    return TsFile(path, header, class_labels or (), X, tuple(labels))


@dataclass(frozen=True, eq=False)
class CaseDataset:
    """A loaded sktime-ts dataset: one :class:`ClassificationData` per split, as the files divide them."""

    name: str
    manifest: CasesManifest
    splits: dict[str, ClassificationData]

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.splits["train"].class_names

    @property
    def channels(self) -> tuple[str, ...]:
        return self.manifest.channel_names

    @property
    def units(self) -> tuple[str, ...]:
        return self.manifest.channel_units

    def split(self, name: str) -> ClassificationData:
        if check_split(name) not in self.splits:
            raise WindowError(f"dataset {self.name!r} has no {name!r} split; it has {', '.join(self.splits)}")
        return self.splits[name]

    @property
    def train(self) -> ClassificationData:
        return self.split("train")

    @property
    def test(self) -> ClassificationData:
        return self.split("test")


def load_cases(name: str) -> CaseDataset:
    """Load sktime-ts dataset ``name``: every file's sha256 checked, one split per file."""
    manifest = read_kind(name, CasesManifest, "load_cases")
    parsed = [(spec, read_ts(manifest.path_of(spec))) for spec in manifest.files]
    file_classes = parsed[0][1].class_labels
    class_names = manifest.class_names or file_classes
    channels = manifest.channel_names
    splits = {}
    for spec, ts in parsed:
        where = f"{manifest.path} ({spec.path})"
        if set(ts.class_labels) != set(class_names):
            raise ManifestError(
                f"{where}: the file's @classLabel names {list(ts.class_labels)} differ from "
                f"{'[classes] names' if manifest.class_names else parsed[0][0].path + ' ones'} {list(class_names)}"
            )
        if spec.count is not None and spec.count != len(ts.X):
            raise ManifestError(
                f"{where}: the file has {len(ts.X)} cases but the manifest declares cases = {spec.count}"
            )
        if ts.X.shape[2] != len(channels):
            raise ManifestError(
                f"{where}: the file has {ts.X.shape[2]} channels but [[channels]] declares {len(channels)}: {channels}"
            )
        if manifest.length is not None and ts.X.shape[1] != manifest.length:
            raise ManifestError(f"{where}: cases have {ts.X.shape[1]} steps but [series] length = {manifest.length}")
        n = len(ts.X)
        splits[str(spec.split)] = ClassificationData(
            X=ts.X.astype(np.float32),
            y=np.array([class_names.index(label) for label in ts.labels], dtype=np.int64),
            class_names=class_names,
            channels=channels,
            units=manifest.channel_units,
            split=str(spec.split),
            case=np.arange(n, dtype=np.int64),
            offset=np.zeros(n, dtype=np.int64),
            interval=manifest.interval,
        )
    return CaseDataset(name=name, manifest=manifest, splits=splits)
