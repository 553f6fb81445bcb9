"""Hugging Face Hub route: config.json (cached by huggingface_hub) and safetensors headers by HTTP range requests.

``HfApi().get_safetensors_metadata(repo_id)`` reads only each shard's header (huggingface_hub docs,
https://huggingface.co/docs/huggingface_hub/package_reference/hf_api#huggingface_hub.HfApi.get_safetensors_metadata).
The result is written to a small JSON cache so that a later offline run can answer from it. Offline with no cached
answer → ``OfflineError`` whose sentence names the local-directory route.
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from gpuplan.errors import InvalidInputError, MalformedFileError, OfflineError, UnknownNameError
from gpuplan.i18n import t
from gpuplan.importers.config import read_config_file
from gpuplan.importers.model import CheckpointInfo, TensorInfo, build_info
from gpuplan.importers.safetensors_header import tensor_from_entry
from gpuplan.units import MIB

#: Repo ids as the Hub accepts them (huggingface_hub ``validate_repo_id``): ``org/name``, each part of letters,
#: digits, ``-``, ``_``, ``.``, at most 96 characters, not starting or ending with ``-`` or ``.``.
REPO_ID_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?/[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$")
CACHE_FOLDER = "gpuplan-checkpoints"
MAX_CACHE_BYTES = 256 * MIB
_TRUE = {"1", "ON", "YES", "TRUE"}
PREFLIGHT_TIMEOUT_S = 5.0


def looks_like_repo_id(ref: str) -> bool:
    """``org/name`` with Hub-legal characters and no ``--`` or ``..`` (both refused by the Hub)."""
    return bool(REPO_ID_RE.match(ref)) and "--" not in ref and ".." not in ref


def hub_offline_from_env() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE as huggingface_hub reads them (``constants.py``: 1/ON/YES/TRUE)."""
    return any((os.environ.get(name) or "").upper() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def import_hub(repo_id: str, *, offline: bool = False, cache_dir: Path | None = None) -> CheckpointInfo:
    """Config + exact tensor bytes of a Hub repo; answers from the gpuplan cache when offline."""
    cache_file = _cache_file(repo_id, cache_dir)
    if offline or hub_offline_from_env():
        cached = _read_cache(cache_file)
        if cached is not None:
            return cached
        raise OfflineError("importers.hub_offline", repo=repo_id)
    info = _fetch(repo_id, cache_dir)
    _write_cache(cache_file, info)
    return info


def check_reachable(endpoint: str, repo_id: str, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> None:
    """One TCP connect to the Hub endpoint (``HF_ENDPOINT`` mirrors included; the proxy when one is configured)
    before any request: huggingface_hub retries a failed request five times with back-off (24 s measured here
    without DNS), so an unreachable Hub is told in seconds instead."""
    url = urlsplit(endpoint)
    proxy = getproxies().get(url.scheme) or getproxies().get("all")
    if proxy and not proxy_bypass(url.hostname or ""):
        url = urlsplit(proxy if "://" in proxy else "http://" + proxy)  # behind a proxy, the proxy must answer
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except (OSError, ValueError):
        raise OfflineError("importers.hub_offline", repo=repo_id) from None


def _fetch(repo_id: str, cache_dir: Path | None) -> CheckpointInfo:
    import huggingface_hub as hfh
    from huggingface_hub import constants
    from huggingface_hub import errors as hfe

    check_reachable(constants.ENDPOINT, repo_id)
    notes: list[str] = []
    config = None
    try:
        try:
            config_path = hfh.hf_hub_download(repo_id, "config.json", cache_dir=cache_dir)
            config, config_notes = read_config_file(Path(config_path))
            notes.extend(config_notes)
        except hfe.EntryNotFoundError as exc:
            if isinstance(exc, hfe.LocalEntryNotFoundError):  # no connection and not cached
                raise
            notes.append(t("importers.note_hub_no_config", repo=repo_id))
        try:
            meta = hfh.HfApi().get_safetensors_metadata(repo_id)
        except hfe.NotASafetensorsRepoError:
            notes.append(t("importers.note_hub_no_safetensors", repo=repo_id))
            return build_info(source="hub", ref=repo_id, config=config, tensors=(), notes=notes)
    except hfe.GatedRepoError:
        raise InvalidInputError("importers.hub_gated", repo=repo_id) from None
    except (hfe.RepositoryNotFoundError, hfe.RevisionNotFoundError):
        raise UnknownNameError("importers.hub_not_found", repo=repo_id) from None
    except hfe.SafetensorsParsingError as exc:
        raise MalformedFileError("importers.hub_bad_header", repo=repo_id, reason=str(exc)[:160]) from None
    except (hfe.OfflineModeIsEnabled, hfe.LocalEntryNotFoundError):
        raise OfflineError("importers.hub_offline", repo=repo_id) from None
    except hfe.HfHubHTTPError as exc:
        raise OfflineError("importers.hub_error", repo=repo_id, reason=str(exc).splitlines()[0][:160]) from None
    except (OSError, TimeoutError) as exc:  # connection refused, DNS, timeouts (httpx errors subclass none of these)
        raise OfflineError("importers.hub_offline", repo=repo_id) from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("httpx", "httpcore", "requests", "urllib3")):
            raise OfflineError("importers.hub_offline", repo=repo_id) from None
        raise
    return build_info(source="hub", ref=repo_id, config=config, tensors=_tensors_from_metadata(repo_id, meta),
                      notes=notes)


def _tensors_from_metadata(repo_id: str, meta) -> list[TensorInfo]:
    """Every tensor of every shard, checked like a local header (known dtype, offsets span = elements × bits / 8)."""
    out: list[TensorInfo] = []
    seen: set[str] = set()
    for filename in sorted(meta.files_metadata):
        where = f"{repo_id}/{filename}"
        for name, info in meta.files_metadata[filename].tensors.items():
            if name in seen:
                raise MalformedFileError("importers.duplicate_tensor", tensor=name, file=where, other=repo_id)
            seen.add(name)
            tensor, _, _ = tensor_from_entry(name, info.dtype, list(info.shape), list(info.data_offsets), None, where)
            out.append(tensor)
    return out


def _cache_file(repo_id: str, cache_dir: Path | None) -> Path:
    """``<cache>/gpuplan-checkpoints/<org>--<name>.json``; the default cache is huggingface_hub's (HF_HUB_CACHE)."""
    if cache_dir is None:
        from huggingface_hub import constants

        cache_dir = Path(constants.HF_HUB_CACHE)
    return Path(cache_dir).expanduser() / CACHE_FOLDER / (repo_id.replace("/", "--") + ".json")


def _read_cache(path: Path) -> CheckpointInfo | None:
    """The cached answer, or None when absent, too big or damaged (a damaged cache is ignored, never trusted)."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_CACHE_BYTES:
            return None
        info = CheckpointInfo.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    if info.source != "hub":
        return None
    return build_info(source="hub", ref=info.ref, config=info.config, tensors=info.tensors, file_bytes=info.file_bytes,
                      notes=(*info.notes, t("importers.note_hub_cached", file=str(path))))


def _write_cache(path: Path, info: CheckpointInfo) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(info.to_dict(), separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a cache that cannot be written only costs a later offline answer
