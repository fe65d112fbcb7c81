"""`python -m vibeserve_runtime <verb>`: see cli/main.py and docs/boundary.md."""

from vibeserve_runtime.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
