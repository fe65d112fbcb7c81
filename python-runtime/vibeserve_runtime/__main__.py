"""`python -m vibeserve_runtime <verb>`: see cli/main.py and docs/boundary.md."""

import atexit
import os
import sys

from vibeserve_runtime.cli.main import main

# Verbs whose every output is written and flushed when main() returns: they skip the interpreter's
# teardown (freeing torch's and CUDA's modules and objects one by one), about half a second to a
# second per process, and a candidate runs four of them. The exit handlers still run, so a
# tensor-parallel engine's ranks and a server's engine process are stopped as before.
QUICK_EXIT_VERBS = ("check", "bench", "_candidate")

if __name__ == "__main__":
    code = main()
    if len(sys.argv) > 1 and sys.argv[1] in QUICK_EXIT_VERBS:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)
