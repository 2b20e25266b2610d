"""Where model files live, and how they are read back safely.

A stored model is a folder `<root>/<name>/<version>/` holding `model.cbm` (CatBoost's own
format), `features.csv` (the ordered feature names the model expects, header `feature`)
and `metadata.json`. The folder is written whole into a temporary sibling and renamed into
place, so a reader never sees half a model, and an existing version is never overwritten:
a registry row that points at a version keeps pointing at the same bytes.

Every reader goes through a `ModelStore`: a registry row holds either a store key
(`name/version`, what training and the bootstrap register) or the absolute path of a file
registered by path (the legacy model, a hand-registered file), and
`ModelStore.load_registered` reads either; `load_model_file` is the file reader under it.
Loading is cached per process, keyed by the files' paths, sizes and modification times, so
scoring many courses loads a model once while a replaced file is still picked up. CatBoost
is imported where a model file is read or written, so registry commands that touch no file
start fast.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from catboost import CatBoostClassifier

MODEL_FILE = "model.cbm"
FEATURES_FILE = "features.csv"
METADATA_FILE = "metadata.json"
FEATURES_HEADER = "feature"
# Names and versions become folder names and registry keys: keep them portable and short.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
MAX_NAME_LENGTH = 128
MAX_VERSION_LENGTH = 64


class ModelStoreError(Exception):
    """A model or its feature list cannot be stored or read (the message says which)."""


@dataclass(frozen=True)
class StoredModel:
    """Where `save` put a model. `key` is what a registry row holds; the paths are the
    local store's files (None in a store without files)."""

    name: str
    version: str
    directory: Path | None = None
    model_path: Path | None = None
    features_csv_path: Path | None = None
    metadata_path: Path | None = None

    @property
    def key(self) -> str:
        return store_key(self.name, self.version)


@dataclass(frozen=True)
class LoadedModel:
    """A fitted model with its ordered feature list and metadata.

    The CatBoost object is shared by every caller of the cache: use it, do not modify it.
    `features` and `metadata` are the caller's own copies.
    """

    model: CatBoostClassifier
    features: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)


def check_name(value: str, what: str, max_length: int) -> str:
    """`value` if it is a usable model name/version (a folder name and a registry key)."""
    if not isinstance(value, str) or not value.strip():
        raise ModelStoreError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > max_length:
        raise ModelStoreError(f"{what} {value!r} is longer than {max_length} characters")
    if not NAME_PATTERN.match(value):
        raise ModelStoreError(
            f"{what} {value!r} may only hold letters, digits, '.', '_' and '-' and must start "
            "with a letter or digit"
        )
    return value


KEY_SEPARATOR = "/"


def store_key(name: str, version: str) -> str:
    """The registry's reference to a stored version: `name/version`."""
    check_name(name, "model name", MAX_NAME_LENGTH)
    check_name(version, "model version", MAX_VERSION_LENGTH)
    return f"{name}{KEY_SEPARATOR}{version}"


def parse_store_key(reference: str) -> tuple[str, str] | None:
    """(name, version) when `reference` is a store key, None when it is a file path."""
    name, separator, version = reference.partition(KEY_SEPARATOR)
    if not separator or KEY_SEPARATOR in version:
        return None
    if not (NAME_PATTERN.match(name) and NAME_PATTERN.match(version)):
        return None
    return name, version


def model_feature_names(model: CatBoostClassifier) -> list[str]:
    """The feature names a fitted model was trained with, in order."""
    names = getattr(model, "feature_names_", None)
    if not names:
        raise ModelStoreError("the model has no feature names: is it fitted?")
    return [str(name) for name in names]


def check_features_match(features: list[str], model_features: list[str], where: str) -> None:
    """Fail unless `features` is exactly the model's feature list, order included: scoring
    builds the matrix in this order, so a reordered list would silently swap columns."""
    if list(features) == list(model_features):
        return
    missing = [name for name in model_features if name not in features]
    extra = [name for name in features if name not in model_features]
    if missing or extra:
        details = []
        if missing:
            details.append(f"missing {missing}")
        if extra:
            details.append(f"not in the model {extra}")
        problem = "; ".join(details)
    else:
        problem = f"same names in another order: {list(features)} vs the model's {model_features}"
    raise ModelStoreError(f"{where} disagrees with the model's feature names: {problem}")


def features_csv_text(features: list[str]) -> str:
    """features.csv content: the header `feature`, then one name per line, in order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([FEATURES_HEADER])
    for name in features:
        writer.writerow([name])
    return buffer.getvalue()


def read_features_csv(path: Path) -> list[str]:
    """The ordered feature names of a features.csv (the header `feature` is optional, for
    hand-written legacy lists)."""
    if not path.is_file():
        raise ModelStoreError(f"feature list {path} not found")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ModelStoreError(f"cannot read feature list {path}: {error}") from error
    if rows and [cell.strip() for cell in rows[0]] == [FEATURES_HEADER]:
        rows = rows[1:]
    wide = [row for row in rows if len(row) != 1]
    if wide:
        raise ModelStoreError(
            f"feature list {path} must hold one feature name per line (header "
            f"'{FEATURES_HEADER}'), found a line with {len(wide[0])} columns: {wide[0]}"
        )
    features = [row[0].strip() for row in rows]
    if not features:
        raise ModelStoreError(f"feature list {path} is empty")
    duplicates = sorted({name for name in features if features.count(name) > 1})
    if duplicates:
        raise ModelStoreError(f"feature list {path} names {duplicates} more than once")
    return features


def _read_metadata(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelStoreError(f"cannot read model metadata {path}: {error}") from error
    if not isinstance(data, dict):
        raise ModelStoreError(f"model metadata {path} must hold a JSON object")
    return data


def _read_catboost(path: Path) -> CatBoostClassifier:
    from catboost import CatBoostClassifier, CatBoostError

    if not path.is_file():
        raise ModelStoreError(f"model file {path} not found")
    model = CatBoostClassifier()
    try:
        model.load_model(str(path))
    except (CatBoostError, OSError) as error:
        raise ModelStoreError(f"cannot read CatBoost model {path}: {error}") from error
    return model


_CacheKey = tuple[str, int, int, str | None, int, int]
_CACHE: dict[_CacheKey, tuple[CatBoostClassifier, list[str], dict[str, Any]]] = {}
_CACHE_LOCK = threading.Lock()


def _stat_key(path: Path | None) -> tuple[str | None, int, int]:
    if path is None:
        return None, 0, 0
    try:
        stat = path.stat()
    except OSError:
        return str(path), -1, -1
    return str(path), stat.st_mtime_ns, stat.st_size


def clear_model_cache() -> None:
    """Forget every loaded model (tests; a long-lived process that wants memory back)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def load_model_file(
    model_path: str | os.PathLike[str], features_csv_path: str | os.PathLike[str] | None = None
) -> LoadedModel:
    """A CatBoost model and its feature list, checked against each other, cached.

    `features_csv_path` None means the model's own feature names (a registry row without a
    feature list). A `metadata.json` next to the model is read when present.
    """
    model_file = Path(model_path).expanduser().resolve()
    features_file = (
        Path(features_csv_path).expanduser().resolve() if features_csv_path is not None else None
    )
    model_key = _stat_key(model_file)
    features_key = _stat_key(features_file)
    key = (str(model_file), model_key[1], model_key[2], *features_key)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is None:
        model = _read_catboost(model_file)
        model_features = model_feature_names(model)
        if features_file is not None:
            features = read_features_csv(features_file)
            check_features_match(features, model_features, f"feature list {features_file}")
        else:
            features = model_features
        metadata = _read_metadata(model_file.parent / METADATA_FILE)
        cached = (model, features, metadata)
        with _CACHE_LOCK:
            # A replaced file gets a new key: drop the stale entries of the same paths.
            for stale in [k for k in _CACHE if k[0] == key[0] and k[3] == key[3]]:
                del _CACHE[stale]
            _CACHE[key] = cached
    model, features, metadata = cached
    return LoadedModel(model, list(features), copy.deepcopy(metadata))


class ModelStore(ABC):
    """Model files by (name, version): the only way the registry, scoring and training read
    or write a model. The local folder is one implementation; an object store implements
    `save`, `load` and `exists` and nothing else changes."""

    @abstractmethod
    def save(
        self,
        name: str,
        version: str,
        model: CatBoostClassifier,
        features: list[str],
        metadata: dict[str, Any],
    ) -> StoredModel:
        """Store a new version; never overwrites an existing one."""

    @abstractmethod
    def load(self, name: str, version: str) -> LoadedModel:
        """The stored version, checked and cached."""

    @abstractmethod
    def exists(self, name: str, version: str) -> bool:
        """Whether the version is stored."""

    def key(self, name: str, version: str) -> str:
        return store_key(name, version)

    def load_registered(self, model_path: str, features_csv_path: str | None) -> LoadedModel:
        """The model a registry row points at: a store key from this store, an absolute
        path (a file registered by path) from the file system."""
        key = parse_store_key(str(model_path))
        if key is not None and not Path(model_path).is_absolute():
            return self.load(*key)
        return load_model_file(model_path, features_csv_path)


def default_model_store() -> ModelStore:
    """The local store under `DROPOUT_MODELS_DIR` (else the project's models/ folder): what
    library callers get when they name no store."""
    from dropout_pipelines.settings import models_dir_from_env

    return LocalModelStore(models_dir_from_env())


class LocalModelStore(ModelStore):
    """`<root>/<name>/<version>/{model.cbm, features.csv, metadata.json}` on a filesystem."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalModelStore({str(self.root)!r})"

    def version_dir(self, name: str, version: str) -> Path:
        check_name(name, "model name", MAX_NAME_LENGTH)
        check_name(version, "model version", MAX_VERSION_LENGTH)
        return self.root / name / version

    def model_path(self, name: str, version: str) -> Path:
        return self.version_dir(name, version) / MODEL_FILE

    def features_csv_path(self, name: str, version: str) -> Path:
        return self.version_dir(name, version) / FEATURES_FILE

    def metadata_path(self, name: str, version: str) -> Path:
        return self.version_dir(name, version) / METADATA_FILE

    def exists(self, name: str, version: str) -> bool:
        return self.version_dir(name, version).exists()

    def stored(self, name: str, version: str) -> StoredModel:
        directory = self.version_dir(name, version)
        return StoredModel(
            name,
            version,
            directory,
            directory / MODEL_FILE,
            directory / FEATURES_FILE,
            directory / METADATA_FILE,
        )

    def save(
        self,
        name: str,
        version: str,
        model: CatBoostClassifier,
        features: list[str],
        metadata: dict[str, Any],
    ) -> StoredModel:
        """Write the three files into a temporary folder, then rename it into place.

        Everything that can be wrong (names, an unfitted model, a feature list that differs
        from the model's, metadata that is not JSON, an existing version) is refused before
        anything appears under `<root>/<name>/<version>`.
        """
        from catboost import CatBoostError

        target = self.version_dir(name, version)
        features = [str(feature) for feature in features]
        check_features_match(features, model_feature_names(model), "the feature list")
        try:
            metadata_text = json.dumps(metadata, indent=2, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ModelStoreError(f"metadata of {name} {version} is not JSON: {error}") from error
        if target.exists():
            raise ModelStoreError(
                f"model {name} version {version} already exists in {self.root}: versions are "
                "immutable, save under a new version"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(
            tempfile.mkdtemp(prefix=f".{version}.tmp-{uuid.uuid4().hex[:8]}-", dir=target.parent)
        )
        try:
            try:
                model.save_model(str(staging / MODEL_FILE))
            except CatBoostError as error:
                raise ModelStoreError(f"cannot write model {name} {version}: {error}") from error
            (staging / FEATURES_FILE).write_text(features_csv_text(features), encoding="utf-8")
            (staging / METADATA_FILE).write_text(metadata_text + "\n", encoding="utf-8")
            try:
                # The check above gives the friendly message early; this one narrows the
                # race, and POSIX rename refuses a non-empty target, so a concurrent save of
                # the same version fails instead of overwriting it.
                if target.exists():
                    raise FileExistsError(target)
                os.rename(staging, target)
            except OSError as error:
                raise ModelStoreError(
                    f"model {name} version {version} already exists in {self.root}: versions "
                    "are immutable, save under a new version"
                ) from error
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return self.stored(name, version)

    def load(self, name: str, version: str) -> LoadedModel:
        path = self.model_path(name, version)
        if not path.is_file():
            raise ModelStoreError(
                f"model {name} version {version} is not in the store {self.root} (expected {path})"
            )
        return load_model_file(path, self.features_csv_path(name, version))
