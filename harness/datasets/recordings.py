"""Format ``npz-recordings``: variable-length labelled recordings concatenated in one ``.npz`` with offsets ->
:class:`RecordingDataset`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.datasets.checks import positive_int
from harness.datasets.errors import DataFormatError, ManifestError, WindowError
from harness.datasets.manifest import RecordingsManifest
from harness.datasets.samples import ClassificationData
from harness.datasets.scalers import StandardScaler
from harness.datasets.store import read_kind


def subject_key(subject: str) -> tuple[int, int | str]:
    # Subjects are often numbered: "2" before "10".
    return (0, int(subject)) if subject.isdigit() else (1, subject)


@dataclass(frozen=True, eq=False)
class RecordingDataset:
    """A loaded npz-recordings dataset: recording ``i`` is ``samples[offsets[i]:offsets[i+1]]`` [T_i, C] float32,
    of class ``y[i]`` (an index into ``class_names``), recorded from ``subject[i]``."""

    name: str
    manifest: RecordingsManifest
    samples: np.ndarray
    offsets: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    subject: np.ndarray | None
    meta: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.y)

    @property
    def channels(self) -> tuple[str, ...]:
        return self.manifest.channel_names

    @property
    def units(self) -> tuple[str, ...]:
        return self.manifest.channel_units

    @property
    def interval(self) -> pd.Timedelta | None:
        return self.manifest.interval

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def recording(self, i: int) -> np.ndarray:
        return self.samples[self.offsets[i] : self.offsets[i + 1]]

    @property
    def recordings(self) -> list[np.ndarray]:
        """Every recording as a [T_i, C] view into ``samples``."""
        return [self.recording(i) for i in range(len(self))]

    @property
    def subjects(self) -> tuple[str, ...]:
        if self.subject is None:
            return ()
        return tuple(sorted(set(self.subject.tolist()), key=subject_key))

    def class_counts(self, indices: np.ndarray | None = None) -> dict[str, int]:
        """Recordings per class (of ``indices`` if given), every class listed."""
        y = self.y if indices is None else self.y[indices]
        counts = np.bincount(y, minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts, strict=True)}

    def windows(
        self,
        indices: Sequence[int] | np.ndarray,
        window: int,
        stride: int | None = None,
        *,
        scaler: StandardScaler | None = None,
        split: str = "",
    ) -> ClassificationData:
        """Windows of ``window`` samples every ``stride`` (default: ``window``) from each recording in ``indices``,
        never across two recordings; a recording shorter than the window gives none. ``scaler`` standardises."""
        window = positive_int("window", window)
        stride = window if stride is None else positive_int("stride", stride)
        steps = np.arange(window)
        parts, recs, offsets = [], [], []
        for i in np.asarray(indices, dtype=np.int64).tolist():
            rec = self.recording(i)
            if scaler is not None:
                rec = scaler.transform(rec)
            starts = np.arange(0, len(rec) - window + 1, stride)
            parts.append(rec[starts[:, None] + steps].astype(np.float32, copy=False))
            recs.append(np.full(starts.size, i, dtype=np.int64))
            offsets.append(starts)
        n_windows = sum(p.shape[0] for p in parts)
        if n_windows == 0:
            raise WindowError(
                f"no window of {window} samples fits in the {len(parts)} recordings asked for of {self.name!r}; "
                f"the longest has {max((len(self.recording(i)) for i in indices), default=0)} samples"
            )
        case = np.concatenate(recs)
        return ClassificationData(
            X=np.concatenate(parts).reshape(n_windows, window, len(self.channels)),
            y=self.y[case],
            class_names=self.class_names,
            channels=self.channels,
            units=self.units,
            split=split,
            case=case,
            offset=np.concatenate(offsets).astype(np.int64),
            subject=None if self.subject is None else self.subject[case],
            interval=self.interval,
        )


def load_recordings(name: str) -> RecordingDataset:
    """Load npz-recordings dataset ``name``, checking the file's sha256 and its arrays against the manifest."""
    manifest = read_kind(name, RecordingsManifest, "load_recordings")
    path = manifest.data_path
    try:
        # Never allow_pickle: unpickling a data file can run arbitrary code.
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{path} is not a readable .npz file: {exc}") from exc
    with npz:
        arrays: dict[str, np.ndarray] = {}
        for role, array in [*manifest.arrays.items(), *((m, m) for m in manifest.meta)]:
            if array not in npz.files:
                raise ManifestError(
                    f"{manifest.path} [arrays] {role} = {array!r}, but {path} has arrays {sorted(npz.files)}"
                )
            try:
                arrays[role] = npz[array]
            except ValueError as exc:
                raise DataFormatError(
                    f"{path}: array {array!r} holds Python objects, which need pickle to read; save it as a plain "
                    f"numeric or string array ({exc})"
                ) from exc
    where = f"{path} (manifest {manifest.path})"
    samples, offsets, y = arrays["samples"], arrays["offsets"], arrays["label"]
    channels = manifest.channel_names
    if samples.ndim != 2 or samples.shape[1] != len(channels) or not np.issubdtype(samples.dtype, np.number):
        raise ManifestError(
            f"{where}: samples must be numbers [total samples, {len(channels)}] for [[channels]] {channels}; got "
            f"{samples.dtype} {samples.shape}"
        )
    if not np.isfinite(samples).all():
        raise DataFormatError(
            f"{where}: samples hold non-finite values; clean them in a copy and say how in the README"
        )
    if offsets.ndim != 1 or not np.issubdtype(offsets.dtype, np.integer) or offsets.size < 2:
        raise ManifestError(
            f"{where}: offsets must be 1-D integers [recordings + 1], got {offsets.dtype} {offsets.shape}"
        )
    if offsets[0] != 0 or offsets[-1] != len(samples) or (np.diff(offsets) <= 0).any():
        raise ManifestError(
            f"{where}: offsets must rise strictly from 0 to the number of samples ({len(samples)}): recording i is "
            f"samples[offsets[i]:offsets[i+1]]; got {offsets[0]}..{offsets[-1]}"
        )
    n = offsets.size - 1
    spec = manifest.files[0]
    if spec.count is not None and spec.count != n:
        raise ManifestError(f"{where}: the file has {n} recordings but the manifest declares recordings = {spec.count}")
    file_classes = tuple(str(c) for c in arrays["class_names"].tolist()) if "class_names" in arrays else None
    class_names = manifest.class_names or file_classes
    if class_names is None:
        raise ManifestError(f"{where}: name the classes with [classes] names = [...] or [arrays] class_names")
    if manifest.class_names and file_classes is not None and file_classes != manifest.class_names:
        raise ManifestError(f"{where}: [classes] names {manifest.class_names} differ from the file's {file_classes}")
    if "channel_names" in arrays:
        file_channels = tuple(str(c) for c in arrays["channel_names"].tolist())
        if file_channels != channels:
            raise ManifestError(
                f"{where}: [[channels]] {channels} differ from the file's channel names {file_channels}"
            )
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= len(class_names):
        raise ManifestError(
            f"{where}: label must be one integer class index in 0..{len(class_names) - 1} per recording ({n}); got "
            f"{y.dtype} {y.shape}"
        )
    per_recording = {k: v for k, v in arrays.items() if k == "subject" or k in manifest.meta}
    for key, value in per_recording.items():
        if value.shape != (n,):
            raise ManifestError(f"{where}: {key} must have one entry per recording ({n}), got shape {value.shape}")
    return RecordingDataset(
        name=name,
        manifest=manifest,
        samples=samples.astype(np.float32, copy=False),
        offsets=offsets.astype(np.int64),
        y=y.astype(np.int64),
        class_names=class_names,
        subject=arrays["subject"].astype(str) if "subject" in arrays else None,
        meta={m: arrays[m] for m in manifest.meta},
    )
