"""Where a store's bytes live: a local folder or an object store (``s3://bucket/prefix``).

Every read, write, list and delete of a store's own files (ledger records and tombstones,
checkpoints, the marker, data files, profiles, results, alert logs, the lease) goes through one
`Storage`: `LocalStorage` is the store as it always was (hard-link publication, renames,
``fsync``), `ObjectStorage` the same contract on S3-compatible object storage, where no rename,
hard link or lock exists:

- a **create-if-absent** put (``If-None-Match: *``) replaces the hard link: the first writer of
  a ledger record, a results run or an alert claim wins, a 412 means "someone else did";
- data files are uploaded under their final, attempt-tagged names *before* the record that
  names them, so readers (which read only recorded files) never see a partial batch;
- the grace period of `doctor --repair` is measured on an object's ``LastModified``.

The object store is reached through `obstore <https://developmentseed.org/obstore>`_, the
Python binding of the Rust ``object_store`` crate that polars itself uses for cloud reads: one
implementation of the credentials chain, the conditional put (``PutMode.Create``) and the
``storage_options`` keys for both evalctl's writes and polars' scans, and a compiled client
instead of a second HTTP stack (boto3). It is the optional extra ``evalctl[s3]``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalctl import temporaries
from evalctl.errors import InputError, StoreError
from evalctl.lake.durable import StagingArea, fsync_tree, staging_area, write_exclusive
from evalctl.temporaries import temporary

OBJECT_SCHEMES = ("s3://", "s3a://")
SECRET_WORDS = ("secret", "token", "password", "key_id")
# Environment variables read into the one `storage_options` mapping of a command (the standard
# AWS chain; the config's `storage_options:` override them).
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
    "AWS_REGION": "aws_region",
    "AWS_DEFAULT_REGION": "aws_default_region",
    "AWS_ENDPOINT_URL": "aws_endpoint_url",
    "AWS_ENDPOINT_URL_S3": "aws_endpoint_url",
    "AWS_ALLOW_HTTP": "aws_allow_http",
}
# Keys of the HTTP client (object_store's ClientConfigKey), given with or without `aws_`.
_CLIENT_KEYS = {"allow_http", "allow_invalid_certificates", "connect_timeout", "timeout",
                "pool_idle_timeout", "proxy_url", "user_agent", "http1_only", "http2_only"}
_ENDPOINT_KEYS = ("aws_endpoint_url", "endpoint_url", "aws_endpoint", "endpoint")
# Bounded waits: an unreachable endpoint fails within ~10 s, not after minutes of retries.
DEFAULT_CLIENT = {"connect_timeout": "2s", "timeout": "60s"}
RETRIES = 2
RETRY_TIMEOUT_SECONDS = 6


def is_object_url(location: str | Path) -> bool:
    """Whether a store location names an object store (``s3://…``) rather than a folder."""
    return isinstance(location, str) and location.lower().startswith(OBJECT_SCHEMES)


def mask(options: Mapping[str, str]) -> dict[str, str]:
    """``options`` fit to print: values of keys naming a secret shown as ``***``."""
    return {k: ("***" if any(w in k.lower() for w in SECRET_WORDS) else v)
            for k, v in options.items()}


def storage_options(configured: Mapping[str, str] | None = None,
                    environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The one mapping of a command: the standard AWS environment, then the config's
    ``storage_options:`` (which win). Keys are lower-case object_store keys."""
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for name, key in AWS_ENV.items():
        value = env.get(name)
        if value:
            out.setdefault(key, value)
    out.update({str(k).lower(): str(v) for k, v in (configured or {}).items()})
    profile = env.get("AWS_PROFILE")
    if profile and "aws_access_key_id" not in out and environ is None:
        out = {**_profile_credentials(profile), **out}
    if "aws_region" not in out and "aws_default_region" in out:
        out["aws_region"] = out["aws_default_region"]
    out.pop("aws_default_region", None)
    return out


@dataclass(frozen=True)
class ObjectInfo:
    """One stored file: its path relative to the store, size and last modification."""

    path: str
    size: int
    modified: datetime


class Storage:
    """The interface both kinds of store implement (paths are relative, with ``/``)."""

    location: str  # the folder or URL, fit to print (never a secret)
    is_local: bool
    options: dict[str, str]  # the `storage_options` polars scans with (empty for a folder)
    # listings a command reuses (object storage), invalidated by the writers that change them
    cache: dict[str, Any]

    def export_options(self, configured: Mapping[str, str] | None = None) -> dict[str, str]:
        """The `storage_options` ``s3://`` input exports are read with: ``configured`` (a
        command's: the config's ``storage_options:``) over the AWS environment, else the
        store's own (a local store's: the environment alone). A local store's exports live
        in buckets the config describes, so a command passes the config's. They are an
        argument of each ingest, not state of the shared store: concurrent ingests of one
        `Storage` (threads of a notebook or a service) each read with their own."""
        if configured is not None:
            return storage_options(configured)
        return dict(self.options) if not self.is_local else storage_options()

    def url(self, relative: str) -> str:
        """What polars reads: a local path or an ``s3://`` URL."""
        raise NotImplementedError

    def read_bytes(self, relative: str) -> bytes:
        """A file's bytes; FileNotFoundError when it does not exist."""
        raise NotImplementedError

    def head(self, relative: str) -> ObjectInfo | None:
        raise NotImplementedError

    def put_exclusive(self, relative: str, data: bytes) -> bool:
        """Create ``relative`` only if absent (first writer wins); False when it exists."""
        raise NotImplementedError

    def put(self, relative: str, data: bytes) -> None:
        """Write (or replace) a whole file atomically."""
        raise NotImplementedError

    def publish(self, files: list[tuple[Path, str]]) -> None:
        """Bring finished local files (staged by this process) to their final names."""
        raise NotImplementedError

    def list(self, prefix: str, suffix: str = "", recursive: bool = True) -> list[ObjectInfo]:
        """Files below ``prefix`` (a folder) ending in ``suffix``, sorted by path."""
        raise NotImplementedError

    def delete(self, relative: str) -> None:
        """Remove a file; a missing one is not an error."""
        raise NotImplementedError

    def staging(self, name: str) -> contextlib.AbstractContextManager[StagingArea]:
        """A writer's private staging folder for the block (see `durable.staging_area`)."""
        raise NotImplementedError

    def discard(self, area: StagingArea) -> None:
        """Remove the files a writer brought into place but did not commit."""
        temporaries.take_back(area.moved)
        for relative in area.uploaded:
            self.delete(relative)

    def fail(self, exc: BaseException, doing: str) -> StoreError:
        """The StoreError for a failed operation (one line, no secret)."""
        return StoreError(f"{self.location}: cannot {doing}: {exc}")

    def explain(self, exc: BaseException) -> str:
        """A one-line reason for a failure, without secrets."""
        return _reason(exc, self.options)


class LocalStorage(Storage):
    """A store in a local folder: today's protocol, byte for byte."""

    is_local = True

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)
        self.options = {}
        self.cache = {}

    def url(self, relative: str) -> str:
        return str(self.root / relative)

    def read_bytes(self, relative: str) -> bytes:
        return (self.root / relative).read_bytes()

    def head(self, relative: str) -> ObjectInfo | None:
        try:
            stat = (self.root / relative).stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(relative, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def put_exclusive(self, relative: str, data: bytes) -> bool:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return write_exclusive(target, data)

    def put(self, relative: str, data: bytes) -> None:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temp.write_bytes(data)
        os.replace(temp, target)

    def publish(self, files: list[tuple[Path, str]]) -> None:
        moved = []
        for source, relative in files:
            target = self.root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(source, target)
            moved.append(target)
        fsync_tree(self.root, moved)

    def list(self, prefix: str, suffix: str = "", recursive: bool = True) -> list[ObjectInfo]:
        base = self.root / prefix
        if not base.is_dir() or base.is_symlink():
            return []
        found = base.rglob(f"*{suffix}") if recursive else base.glob(f"*{suffix}")
        out = []
        for path in found:
            try:
                stat = path.lstat()
            except FileNotFoundError:
                continue
            if path.is_file():
                out.append(ObjectInfo(path.relative_to(self.root).as_posix(), stat.st_size,
                                      datetime.fromtimestamp(stat.st_mtime, UTC)))
        return sorted(out, key=lambda o: o.path)

    def delete(self, relative: str) -> None:
        (self.root / relative).unlink(missing_ok=True)

    def staging(self, name: str) -> contextlib.AbstractContextManager[StagingArea]:
        return staging_area(self.root, name)


class ObjectStorage(Storage):
    """A store under ``s3://bucket/prefix`` (obstore; README "Object storage")."""

    is_local = False

    def __init__(self, url: str, options: Mapping[str, str] | None = None, *,
                 store: Any = None) -> None:
        """``store``: an obstore store to use instead of one built from ``url`` (tests give
        a ``MemoryStore``)."""
        try:
            import obstore.store  # imported on use: the optional extra evalctl[s3]
        except ImportError:
            raise InputError(f"{_strip(url)}: an s3:// store needs the optional extra: "
                             "pip install 'evalctl[s3]' (obstore)") from None
        self.url_base = _strip(url)
        self.location = self.url_base
        self.options = dict(options or {})
        self.cache = {}
        config, client = _split_options(self.options)
        retry: Any = {"max_retries": RETRIES, "retry_timeout": _seconds(RETRY_TIMEOUT_SECONDS),
                      "backoff": {"init_backoff": _seconds(0.1), "max_backoff": _seconds(2),
                                  "base": 2}}
        try:
            self.store = store if store is not None else obstore.store.from_url(  # type: ignore[call-overload]
                self.url_base, config=config, client_options={**DEFAULT_CLIENT, **client},
                retry_config=retry)
        except Exception as exc:  # obstore raises its own classes and ValueError for bad keys
            raise InputError(f"{self.location}: storage_options: {_reason(exc, self.options)}"
                             ) from None
        self.bucket = self.url_base.split("://", 1)[1].split("/", 1)[0]
        self.endpoint = next((v for k, v in self.options.items() if k in _ENDPOINT_KEYS),
                             "of AWS S3")

    def url(self, relative: str) -> str:
        return f"{self.url_base}/{relative}"

    def fail(self, exc: BaseException, doing: str) -> StoreError:
        return StoreError(f"{self.location}: cannot {doing}: {self.explain(exc)}",
                          hint="check the bucket, the endpoint and the credentials "
                               "(README: Object storage)")

    def explain(self, exc: BaseException) -> str:
        """A one-line reason for an object-store failure, without secrets."""
        import obstore.exceptions as oe  # imported on use: the optional extra evalctl[s3]

        text = str(exc)
        if "NoSuchBucket" in text or "bucket does not exist" in text.lower():
            return f"the bucket {self.bucket!r} does not exist"
        if isinstance(exc, oe.UnauthenticatedError | oe.PermissionDeniedError) or any(
                w in text for w in ("InvalidAccessKeyId", "SignatureDoesNotMatch",
                                    "AccessDenied", "403 Forbidden", "ExpiredToken")):
            return ("access denied: the credentials were refused (AWS_ACCESS_KEY_ID / "
                    "AWS_SECRET_ACCESS_KEY / AWS_PROFILE, or storage_options)")
        if isinstance(exc, oe.NotSupportedError) or "NotImplemented" in text:
            return ("the backend refuses conditional writes (If-None-Match: *), which "
                    "evalctl's commit protocol needs")
        if any(w in text.lower() for w in ("connect", "timed out", "timeout", "dns",
                                           "error sending request")):
            return f"the endpoint {self.endpoint} cannot be reached"
        return _reason(exc, self.options)

    def _not_found(self, exc: BaseException) -> bool:
        import obstore.exceptions as oe  # imported on use: the optional extra evalctl[s3]

        return isinstance(exc, oe.NotFoundError | FileNotFoundError) and \
            "NoSuchBucket" not in str(exc)

    def read_bytes(self, relative: str) -> bytes:
        import obstore  # imported on use: the optional extra evalctl[s3]

        try:
            return bytes(obstore.get(self.store, relative).bytes())
        except Exception as exc:
            if self._not_found(exc):
                raise FileNotFoundError(self.url(relative)) from None
            raise self.fail(exc, f"read {relative}") from None

    def head(self, relative: str) -> ObjectInfo | None:
        import obstore  # imported on use: the optional extra evalctl[s3]

        try:
            meta = obstore.head(self.store, relative)
        except Exception as exc:
            if self._not_found(exc):
                return None
            raise self.fail(exc, f"read {relative}") from None
        return _info(meta)

    def put_exclusive(self, relative: str, data: bytes) -> bool:
        import obstore  # imported on use: the optional extra evalctl[s3]
        import obstore.exceptions as oe

        try:
            obstore.put(self.store, relative, data, mode="create")
        except (oe.AlreadyExistsError, oe.PreconditionError):
            return False
        except Exception as exc:
            raise self.fail(exc, f"write {relative}") from None
        return True

    def put(self, relative: str, data: bytes) -> None:
        import obstore  # imported on use: the optional extra evalctl[s3]

        try:
            obstore.put(self.store, relative, data)
        except Exception as exc:
            raise self.fail(exc, f"write {relative}") from None

    def publish(self, files: list[tuple[Path, str]]) -> None:
        import obstore  # imported on use: the optional extra evalctl[s3]

        for source, relative in files:
            try:
                obstore.put(self.store, relative, source)
            except Exception as exc:
                raise self.fail(exc, f"upload {relative}") from None

    def list(self, prefix: str, suffix: str = "", recursive: bool = True) -> list[ObjectInfo]:
        import obstore  # imported on use: the optional extra evalctl[s3]

        folder = prefix.rstrip("/") + "/" if prefix else None
        out = []
        try:
            if recursive:
                for chunk in obstore.list(self.store, folder, chunk_size=1000):
                    out += [_info(m) for m in chunk if str(m["path"]).endswith(suffix)]
            else:
                listed = obstore.list_with_delimiter(self.store, folder)
                out = [_info(m) for m in listed["objects"] if str(m["path"]).endswith(suffix)]
        except Exception as exc:
            if self._not_found(exc):
                return []
            raise self.fail(exc, f"list {prefix or '/'}") from None
        return sorted(out, key=lambda o: o.path)

    def delete(self, relative: str) -> None:
        import obstore  # imported on use: the optional extra evalctl[s3]

        try:
            obstore.delete(self.store, relative)
        except Exception as exc:
            if self._not_found(exc):
                return
            raise self.fail(exc, f"delete {relative}") from None


    @contextmanager
    def staging(self, name: str) -> Iterator[StagingArea]:
        """A local temporary folder (``$TMPDIR``) to write files in before they are uploaded.
        No lock is taken (object storage has none; see `evalctl.lake.lease`); if the block
        fails, the files it uploaded are deleted again: no committed record names them."""
        folder = Path(tempfile.mkdtemp(prefix=f"evalctl-{name[:40]}-"))
        area = StagingArea(folder / "staging")
        with temporary(folder):
            try:
                yield area
            except BaseException:
                for relative in area.uploaded:
                    try:
                        self.delete(relative)
                    except StoreError:
                        pass  # unreachable now: the leftover is `doctor`'s to list
                raise
            finally:
                shutil.rmtree(folder, ignore_errors=True)


def _profile_credentials(profile: str) -> dict[str, str]:
    """The keys (and region) of an ``AWS_PROFILE``, through boto3 (which reads the AWS config
    and credentials files, SSO and assume-role included): object_store and polars read only
    the environment and instance metadata. Resolved once per command into the one mapping, so
    polars' reads and evalctl's writes use the same credentials. Empty when boto3 is not
    installed or the profile yields none."""
    try:
        import boto3  # type: ignore[import-untyped]  # optional, only for AWS_PROFILE
    except ImportError:
        return {}
    try:
        session = boto3.Session(profile_name=profile)
        found = session.get_credentials()
    except Exception as exc:  # botocore raises its own classes (ProfileNotFound...)
        raise StoreError(f"AWS_PROFILE={profile}: cannot read the profile's credentials "
                         f"({type(exc).__name__})") from None
    if found is None:
        return {}
    frozen = found.get_frozen_credentials()
    out = {"aws_access_key_id": frozen.access_key, "aws_secret_access_key": frozen.secret_key}
    if frozen.token:
        out["aws_session_token"] = frozen.token
    if session.region_name:
        out["aws_region"] = session.region_name
    return out


def open_storage(location: str | Path, options: Mapping[str, str] | None = None) -> Storage:
    """The storage of a store location: an ``s3://`` URL or a local folder."""
    if is_object_url(location):
        return ObjectStorage(str(location), storage_options(options))
    return LocalStorage(Path(location))


def _strip(url: str) -> str:
    """``s3://bucket/prefix`` without a trailing slash (``s3a://`` read as ``s3://``)."""
    scheme, _, rest = url.partition("://")
    scheme = "s3" if scheme.lower() in ("s3", "s3a") else scheme.lower()
    return f"{scheme}://{rest.strip('/')}"


def _seconds(value: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=value)


def _split_options(options: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """object_store's store keys and its HTTP client keys (obstore takes them apart)."""
    config, client = {}, {}
    for key, value in options.items():
        bare = key[4:] if key.startswith("aws_") else key
        if bare in _CLIENT_KEYS:
            client[bare] = value
        else:
            config[key] = value
    return config, client


def _info(meta: Any) -> ObjectInfo:
    modified = meta["last_modified"]
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    return ObjectInfo(str(meta["path"]), int(meta["size"]), modified)


def _reason(exc: BaseException, options: Mapping[str, str]) -> str:
    """The first line of an error, with every configured secret value blanked out."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()),
                type(exc).__name__)
    for key, value in options.items():
        if value and any(w in key.lower() for w in SECRET_WORDS):
            text = text.replace(value, "***")
    text = re.sub(r"(?i)(signature|credential)=[^,&\s]+", r"\1=***", text)
    return text[:300]



def as_storage(where: Path | Storage) -> Storage:
    """A store's storage from a local root folder (the older signature) or a Storage."""
    return where if isinstance(where, Storage) else LocalStorage(Path(where))


@contextmanager
def fetched_inputs(paths: Sequence[Path | str], options: Mapping[str, str]
                   ) -> Iterator[tuple[list[Path], dict[str, str]]]:
    """Input exports as local files: ``s3://`` URLs are downloaded (one GET each) into a
    temporary folder, kept for the block, under their own file names (so the format is told
    by the extension as for a local file). Yields the local paths and, for each download, its
    URL by local path; an error raised in the block names the URL, not the download."""
    if not any(is_object_url(str(p)) for p in paths):
        yield [Path(p) for p in paths], {}
        return
    from evalctl.errors import EvalctlError

    folder = Path(tempfile.mkdtemp(prefix="evalctl-inputs-"))
    origins: dict[str, str] = {}
    local: list[Path] = []
    with temporary(folder):
        try:
            for n, raw in enumerate(paths):
                text = str(raw)
                if not is_object_url(text):
                    local.append(Path(raw))
                    continue
                url = _strip(text)
                bucket, _, key = url.split("://", 1)[1].partition("/")
                target = folder / str(n) / (key.rsplit("/", 1)[-1] or "export")
                target.parent.mkdir(parents=True)
                source = ObjectStorage(f"s3://{bucket}", storage_options(options))
                try:
                    target.write_bytes(source.read_bytes(key))
                except FileNotFoundError:
                    raise InputError(f"{text}: no such file", file=text) from None
                origins[str(target)] = text
                local.append(target)
            try:
                yield local, origins
            except EvalctlError as exc:
                _name_urls(exc, origins)
                raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _name_urls(exc: BaseException, origins: Mapping[str, str]) -> None:
    """Replace downloaded copies' paths by their URLs in an error's message and file."""
    message = str(exc)
    for path, url in origins.items():
        message = message.replace(path, url)
    exc.args = (message, *exc.args[1:])
    file = getattr(exc, "file", None)
    if isinstance(file, str) and file in origins:
        exc.file = origins[file]  # type: ignore[attr-defined]
