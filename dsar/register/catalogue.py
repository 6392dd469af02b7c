"""The register catalogue: which controllers this installation serves, and each one's register.

The one lookup of processing registers every channel shares (CLI, intake, engine). Registers
are read from ``DSAR_REGISTER`` (one file) and ``DSAR_REGISTERS_DIR`` (a folder, falling back
to the shipped ones), parsed once and cached until their file changes — a submission reads the
YAML zero times, not twice.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from dsar.errors import InputError
from dsar.register.model import Register
from dsar.register.parse import discover_registers, load_register
from dsar.settings import get_settings

#: Where the shipped registers live when ``DSAR_REGISTERS_DIR`` points nowhere else.
SHIPPED_REGISTERS = Path(__file__).resolve().parent.parent.parent / "deployments" / "registers"


def registers_dir() -> Path:
    """The configured folder of registers, falling back to the shipped ones."""
    configured = get_settings().registers_dir
    return configured if configured.is_dir() else SHIPPED_REGISTERS


@lru_cache(maxsize=32)
def _load_cached(path: str, mtime: float) -> Register:
    return load_register(path)


def _load(path: Path) -> Register:
    return _load_cached(str(path), path.stat().st_mtime) if path.is_file() else load_register(path)


def _discover(directory: Path) -> dict[str, Path]:
    """The folder's registers by controller key, re-read only when a file changed."""
    files = sorted(directory.glob("*.y*ml")) if directory.is_dir() else []
    signature = tuple((str(f), f.stat().st_mtime_ns) for f in files)
    return dict(_discover_cached(str(directory), signature))


@lru_cache(maxsize=8)
def _discover_cached(
    directory: str, signature: tuple[tuple[str, int], ...]
) -> tuple[tuple[str, Path], ...]:
    return tuple(discover_registers(Path(directory)).items())


def _candidates() -> dict[str, Path]:
    explicit = get_settings().register_path
    candidates: dict[str, Path] = {}
    if explicit is not None:
        path = Path(explicit)
        candidates[_load(path).controller.key] = path
    candidates.update({k: v for k, v in _discover(registers_dir()).items() if k not in candidates})
    return candidates


def explicit_register() -> Register | None:
    """The register ``DSAR_REGISTER`` names, if one is set."""
    explicit = get_settings().register_path
    return None if explicit is None else _load(Path(explicit))


def served_controllers() -> dict[str, str]:
    """The registers this installation serves: controller key → the controller's name."""
    return {key: _load(path).controller.name for key, path in _candidates().items()}


def register_for(controller: str) -> Register:
    """The processing register of ``controller`` (its key, e.g. ``lunexxa``)."""
    candidates = _candidates()
    if controller not in candidates:
        known = ", ".join(sorted(candidates)) or "none"
        raise InputError(f"unknown controller {controller!r}; registers found for: {known}")
    return _load(candidates[controller])
