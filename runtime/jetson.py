"""Is this a Jetson, and which JetPack: read from /etc/nv_tegra_release (Jetson Linux writes it).

EDGESEG_TEGRA_RELEASE names another file to read instead (tests point it at a copy; setting it to a
path that does not exist makes a Jetson look like any other machine).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

TEGRA_RELEASE = Path("/etc/nv_tegra_release")
TEGRA_RELEASE_ENV = "EDGESEG_TEGRA_RELEASE"

# Jetson Linux (L4T) release → JetPack, its CUDA and its Python, as docs/jetson.md's table lists them: per L4T major,
# the rows from the first minor each applies to. A major that is not here (a newer Jetson Linux) is "unknown"
# rather than the last row's guess: its install hints then ask the machine (nvcc --version) instead.
_JETPACKS = {
    32: ((0, "4.x", "10.2", "3.6"),),
    34: ((0, "5.0 DP", "11.4", "3.8"),),  # JetPack 5.0 / 5.0.1 developer previews
    35: ((0, "5.0.2", "11.4", "3.8"), (2, "5.1.x", "11.4", "3.8")),
    36: ((0, "6.0", "12.2", "3.10"), (4, "6.1/6.2", "12.6", "3.10")),
    38: ((0, "7", "13.0", "3.12"),),  # Jetson Thor, Ubuntu 24.04
}


@dataclass(frozen=True)
class JetsonRelease:
    l4t: str  # "36.4.3"
    jetpack: str  # "6.1/6.2"
    cuda: str  # "12.6": the CUDA this JetPack ships
    python: str  # "3.10": the Python its TensorRT bindings are built for


def tegra_release_path() -> Path:
    return Path(os.environ.get(TEGRA_RELEASE_ENV) or TEGRA_RELEASE)


def jetson_release() -> JetsonRelease | None:
    """This Jetson's release, or None on any other machine."""
    try:
        text = tegra_release_path().read_text(errors="replace")
    except OSError:
        return None
    # e.g. "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: …"
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)(?:\.(\d+))?", text)
    if not match:
        return JetsonRelease("unknown", "unknown", "unknown", "unknown")
    major, minor, patch = int(match.group(1)), int(match.group(2)), match.group(3) or "0"
    jetpack, cuda, python = "unknown", "unknown", "unknown"
    for since, *facts in _JETPACKS.get(major, ()):
        if minor >= since:
            jetpack, cuda, python = facts
    return JetsonRelease(f"{major}.{minor}.{patch}", jetpack, cuda, python)
