"""The exception types of the data store: one base, DatasetError, and a subclass per way a dataset can be wrong."""

from __future__ import annotations


class DatasetError(Exception):
    """Base class of every error raised by this module."""


class DatasetNotFoundError(DatasetError, LookupError):
    """No folder with that name and a manifest.toml in the search path."""


class DatasetIntegrityError(DatasetError):
    """The data file's sha256 differs from the one its manifest records."""


class ManifestError(DatasetError):
    """A manifest is malformed, or the file does not look the way the manifest says."""


class DataFormatError(DatasetError):
    """A data file cannot be read in the format its manifest declares (a malformed .ts line, a pickled .npz)."""


class DatasetKindError(DatasetError, TypeError):
    """The dataset exists but has another format than the loader asked for; the message names the right loader."""


class UnknownColumnError(DatasetError, LookupError):
    """A column name that the dataset does not have (or not of the kind asked for)."""


class WindowError(DatasetError, ValueError):
    """Windowing parameters that cannot be met by the split."""


class TaskError(DatasetError, ValueError):
    """Task parameters the dataset cannot meet: an unknown class or subject, overlapping subject sets."""
