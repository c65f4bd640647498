"""Exit 0 when every requirement in the given files (with the files they include by -r, and the packages
their extras add) is installed at a version it accepts; else 1, naming what is missing.

CI then skips pip when nothing is to be installed: pip's own check of the same files takes over a minute
on two busy cores, this one a fraction of a second.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:  # a bare machine: let pip do it all
    sys.exit(1)


def requirements(path: Path):
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            yield from requirements(path.parent / line[2:].strip())
        elif line:
            yield Requirement(line)


def unmet(req: Requirement, extra: str = "") -> list[str]:
    if req.marker and not req.marker.evaluate({"extra": extra}):
        return []
    try:
        installed = version(req.name)
    except PackageNotFoundError:
        return [f"{req} (not installed)"]
    if not req.specifier.contains(installed, prereleases=True):
        return [f"{req} ({installed} installed)"]
    missing = []
    for wanted in req.extras:
        for dep in requires(req.name) or []:
            dep = Requirement(dep)
            if dep.marker and dep.marker.evaluate({"extra": wanted}):
                missing += unmet(dep, wanted)
    return missing


if __name__ == "__main__":
    missing = [m for path in sys.argv[1:] for req in requirements(Path(path)) for m in unmet(req)]
    for m in missing:
        print(f"not met: {m}", file=sys.stderr)
    sys.exit(1 if missing else 0)
