"""User-facing errors: the CLI prints their message as one line and exits non-zero."""

from __future__ import annotations

import importlib
import re
from types import ModuleType


class EdgesegError(Exception):
    """A problem with the user's input or environment, with a message that says what to do."""


class MissingDependencyError(EdgesegError):
    """An optional dependency is not installed."""


def describe(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message.

    torch.load(weights_only=True) puts the useful part of its refusal on a later line; that is kept.
    """
    # "Unsupported global: GLOBAL x" (torch 2.4–2.5) or "unsupported GLOBAL x whose module … is blocked" (later).
    refusal = re.search(r"[Uu]nsupported (?:global: )?GLOBAL (\S+)", str(exc))
    if refusal:
        return f"it holds a pickled {refusal.group(1)}, which weights_only loading refuses: it could run code"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def require(module: str, extra: str) -> ModuleType:
    """Import an optional heavy dependency, or say which edgeseg extra installs it (DESIGN.md rule 5)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise MissingDependencyError(
            f"{top} is not installed ({exc}); install it with: pip install 'edgeseg[{extra}]'"
        ) from exc
