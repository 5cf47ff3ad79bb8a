"""Option parsing shared by several commands."""

from __future__ import annotations

from edgeseg.schema import Field, check_value


def parse_size(text: str, option: str = "--size", low: int = 1) -> tuple[int, int]:
    """'512' → (512, 512); '384x640' → (384, 640) as height × width; else an OptionError naming `option`."""
    height, width = check_value("size", Field("size", low=low, option=option), text)
    return (height, width)
