"""Exit 0 when every requirement in the given requirements file (following `-r` includes) is installed at a
version its range allows, together with the dependencies of those packages and of their extras; exit 1
naming the first one that is not. tests/run.sh runs it so that `pip install` (a few seconds of resolving
even when nothing changes) only runs when something is missing or out of range.

Usage: python tests/requirements_met.py requirements-test.txt
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

try:
    from packaging.markers import default_environment
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # a fresh venv: no `packaging` yet, so nothing can be installed either
    print("requirements: packaging is not installed")
    sys.exit(1)


def requirement_lines(path: Path) -> list[str]:
    """The requirement strings of a pip requirements file, with `-r other.txt` followed (comments dropped)."""
    out: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            out += requirement_lines(path.parent / line.split(maxsplit=1)[1])
        elif line.startswith("-"):
            raise ValueError(f"{path}: option {line!r} is not understood by this check")
        else:
            out.append(line)
    return out


def describe(req: Requirement) -> str:
    """`name[extras]specifier`, without the environment marker that selected it."""
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}{req.specifier}"


def unmet(requirements: list[Requirement]) -> str | None:
    """The first requirement (or dependency of one, extras included) not satisfied, as a message."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(req, "requirements file") for req in requirements]
    while todo:
        req, wanted_by = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            return f"{describe(req)} (wanted by {wanted_by}) is not installed"
        if req.specifier and not req.specifier.contains(dist.version, prereleases=True):
            return f"{describe(req)} (wanted by {wanted_by}): {dist.version} is installed"
        for text in dist.requires or []:
            try:
                dep = Requirement(text)
            except InvalidRequirement:
                continue
            # a dependency counts when its marker holds here without an extra or with one we asked for
            extras = [""] + sorted(req.extras)
            if dep.marker is None or any(
                dep.marker.evaluate({**default_environment(), "extra": e}) for e in extras
            ):
                todo.append((dep, f"{dist.metadata['Name']} {dist.version}"))
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1])
        return 2
    requirements = [Requirement(line) for line in requirement_lines(Path(argv[1]))]
    requirements = [r for r in requirements if r.marker is None or r.marker.evaluate()]
    problem = unmet(requirements)
    if problem:
        print(f"requirements: {problem}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
