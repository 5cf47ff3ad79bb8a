"""Option parsing shared by several commands."""

from __future__ import annotations

import typer


def parse_size(text: str) -> tuple[int, int]:
    """'512' → (512, 512); '384x640' → (384, 640) as height × width."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        dims = []
    if len(dims) not in (1, 2) or min(dims) < 1:
        raise typer.BadParameter(f"size must be S or HxW with positive integers, got {text!r}")
    return (dims[0], dims[-1])
