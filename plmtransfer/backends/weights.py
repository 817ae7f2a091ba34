"""Weights on disk and on the network, shared by every backend.

Downloads happen only when a model's files are not cached and ``PLMTRANSFER_OFFLINE`` is not
set; every failure is one sentence saying which file to put where. Checkpoints are read with
``torch.load(..., weights_only=True)`` and a one-class allow-list, never by unpickling.
"""

from __future__ import annotations

import argparse
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import torch

from plmtransfer.errors import UserError
from plmtransfer.io import atomic_path

OFFLINE_ENV = "PLMTRANSFER_OFFLINE"
DOWNLOAD_TIMEOUT_SECONDS = 30


def is_offline() -> bool:
    """True when the user asked never to touch the network (``PLMTRANSFER_OFFLINE=1``)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes"}


def download_file(url: str, destination: Path) -> None:
    """Download ``url`` to ``destination`` atomically (raises ``OSError`` on network failure)."""
    with atomic_path(destination) as temporary:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response, \
                open(temporary, "wb") as handle:
            shutil.copyfileobj(response, handle)


def fetch_to_cache(url: str, destination: Path, what: str, local_advice: str) -> Path:
    """Return ``destination``, downloading ``url`` there first if it is not cached.

    Fails with one sentence that says where to put the file when offline or unreachable;
    ``local_advice`` ends it with the backend's own alternative (e.g. a local file).
    """
    if destination.is_file():
        return destination
    advice = f"download {url} on a machine with network access and put it at {destination}, {local_advice}"
    if is_offline():
        raise UserError(f"{what} is not in {destination.parent} and {OFFLINE_ENV} is set: {advice}")
    try:
        download_file(url, destination)
    except (OSError, urllib.error.URLError) as error:
        reason = getattr(error, "reason", error)
        raise UserError(f"{what} is not in {destination.parent} and could not be downloaded "
                        f"({reason}): {advice}") from None
    return destination


def safe_torch_load(path: str | os.PathLike):
    """``torch.load`` with ``weights_only=True``, allowing only ``argparse.Namespace``."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path}: cannot be read as a safe torch checkpoint ({first_line})") from None
