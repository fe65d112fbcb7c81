"""Prints every file (relative to site-packages) of the installed distributions a requirements file
needs, with their dependencies.

Used to assemble a small local base image from packages already installed on the host, because no
image registry is reachable where the tests run. Usage: python python_closure.py requirements.txt [extra ...]
"""

import importlib.metadata as md
import re
import sys

from packaging.requirements import Requirement


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wanted(path: str) -> list[str]:
    names = []
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(re.match(r"[A-Za-z0-9_.\-]+", line).group(0))
    return names


def closure(roots: list[str]) -> dict[str, md.Distribution]:
    seen: dict[str, md.Distribution] = {}
    stack = list(roots)
    while stack:
        name = norm(stack.pop())
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            sys.exit(f"{name} is not installed in {sys.prefix}: install it there first")
        seen[name] = dist
        for spec in dist.requires or []:
            req = Requirement(spec)
            # Skip optional extras and other platforms/Python versions, as a plain `pip install` does.
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            stack.append(req.name)
    return seen


if __name__ == "__main__":
    dists = closure(wanted(sys.argv[1]) + sys.argv[2:])
    for dist in dists.values():
        for f in dist.files or []:
            # Console scripts live outside site-packages ("../../bin/..."): not needed in the image.
            if "__pycache__" not in str(f) and not str(f).startswith("..") and dist.locate_file(f).is_file():
                print(f)
