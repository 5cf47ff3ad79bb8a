"""torchvision's published ImageNet weight files, fetched without torchvision.

Each file's name carries the first hex digits of its sha256 (torchvision's convention), so the name is
also the hash to check. Files are fetched with torch.hub's own download (written to a temporary file,
hash-checked, then renamed) into torch's hub cache, `$TORCH_HOME/hub/checkpoints`: the place torchvision
itself caches them, so a file either tool downloaded is reused by the other, offline.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

from edgeseg.errors import EdgesegError, describe

# torchvision's DEFAULT ImageNet-1k weights per architecture (MobileNet_V2_Weights.IMAGENET1K_V2,
# VGG16_Weights.IMAGENET1K_V1, ResNet50_Weights.IMAGENET1K_V2).
IMAGENET_FILES = {
    "mobilenet_v2": "mobilenet_v2-7ebf99e0.pth",
    "vgg16": "vgg16-397923af.pth",
    "resnet50": "resnet50-11ad3fa6.pth",
}
# Published without a checksum (the authors share them from Google Drive, github.com/XuJiacong/PIDNet's README):
# nothing to check a download against, so they are not downloaded; a user passes the file's path instead.
AUTHORS_FILES = {
    "pidnet_s": "PIDNet_S_ImageNet.pth.tar",
    "pidnet_m": "PIDNet_M_ImageNet.pth.tar",
    "pidnet_l": "PIDNet_L_ImageNet.pth.tar",
}
AUTHORS_SOURCE = "linked from github.com/XuJiacong/PIDNet's README"
DEFAULT_BASE_URL = "https://download.pytorch.org/models/"
MIRROR_VARIABLE = "EDGESEG_WEIGHTS_URL"  # base URL of a mirror holding the same file names
TIMEOUT_S = 60.0  # a firewall that drops packets would otherwise stall the download forever
_HASH = re.compile(r"-([a-f0-9]{8,})\.")


class WeightsDownloadError(EdgesegError):
    """An ImageNet weights file that could not be fetched, or whose hash did not match."""


def hub_checkpoints() -> Path:
    """torch's hub cache for weight files: $TORCH_HOME/hub/checkpoints (default ~/.cache/torch/...)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_url(file_name: str) -> str:
    """Where `file_name` is fetched from: the mirror in $EDGESEG_WEIGHTS_URL, else download.pytorch.org."""
    base = os.environ.get(MIRROR_VARIABLE) or DEFAULT_BASE_URL
    return base.rstrip("/") + "/" + file_name


def imagenet_file(arch: str, progress: bool | None = None) -> Path:
    """The cached path of torchvision's ImageNet file for `arch`, downloading it on first use.

    arch: torchvision's architecture name (mobilenet_v2, vgg16, resnet50).
    progress: show a progress bar on stderr (default: when stderr is a terminal).
    """
    if arch in AUTHORS_FILES:
        raise WeightsDownloadError(
            f"{arch}'s ImageNet weights are published without a checksum, so edgeseg does not download them: "
            f"get {authors_file(arch)} and pass its path: --pretrained-backbone PATH/{AUTHORS_FILES[arch]}"
        )
    if arch not in IMAGENET_FILES:
        raise WeightsDownloadError(
            f"no ImageNet weights known for {arch} (known: {', '.join(IMAGENET_FILES)}); pass a .pth file instead"
        )
    file_name = IMAGENET_FILES[arch]
    cached = hub_checkpoints() / file_name
    if cached.is_file():
        return cached
    show = sys.stderr.isatty() if progress is None else progress
    _download(weights_url(file_name), cached, _hash_prefix(file_name), show)
    return cached


def authors_file(arch: str) -> str:
    """Which file of the model's authors holds `arch`'s ImageNet weights, and where it is published."""
    return f"{AUTHORS_FILES[arch]} ({AUTHORS_SOURCE})"


def _hash_prefix(file_name: str) -> str:
    match = _HASH.search(file_name)
    if match is None:
        raise WeightsDownloadError(f"{file_name} carries no sha256 prefix in its name (name-<hex>.pth)")
    return match.group(1)


def _download(url: str, destination: Path, hash_prefix: str, progress: bool) -> None:
    from torch.hub import download_url_to_file

    destination.parent.mkdir(parents=True, exist_ok=True)
    print(f"downloading {url} to {destination}", file=sys.stderr)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(TIMEOUT_S)  # torch.hub opens the URL without a timeout of its own
    try:
        download_url_to_file(url, str(destination), hash_prefix=hash_prefix, progress=progress)
    except RuntimeError as exc:
        if "invalid hash value" not in str(exc):
            raise
        # torch.hub removes its temporary file on the way out: nothing of the bad download is kept.
        raise WeightsDownloadError(
            f"{url} is not the expected file: its sha256 does not start with {hash_prefix} ({describe(exc)}); "
            f"the download was deleted. Check the mirror in ${MIRROR_VARIABLE}, or download "
            f"{DEFAULT_BASE_URL}{destination.name} yourself and pass its path to --pretrained-backbone"
        ) from exc
    except OSError as exc:  # URLError and HTTPError are OSErrors, and so are timeouts and refused connections
        raise WeightsDownloadError(
            f"cannot download {url} ({describe(exc)}). Without network: download it elsewhere and pass the "
            f"file's path to --pretrained-backbone, or put it in {destination.parent}/ (where it is looked for "
            f"first), or set ${MIRROR_VARIABLE} to a mirror that holds {destination.name}"
        ) from exc
    finally:
        socket.setdefaulttimeout(previous)
