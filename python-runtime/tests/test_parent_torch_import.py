"""A verb's parent process does not import torch before its child starts: the device check asks the
CUDA driver directly, and torch (needed only to read the child's observations) is imported while the
child runs."""

import subprocess
import sys
from pathlib import Path

import pytest

RUNTIME = Path(__file__).resolve().parents[1]


def run_py(code: str) -> str:
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=RUNTIME, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout.strip()


def test_device_check_does_not_import_torch():
    out = run_py(
        "import sys\n"
        "from vibeserve_runtime.cli import bench_cmd  # noqa: F401 (check_cmd needs torch for its reference)\n"
        "from vibeserve_runtime.models.presets import vocab_size_of  # what bench's setup reads\n"
        "assert vocab_size_of({'arch': 'llama', 'preset': 'tiny-llama'}) > 0\n"
        "from vibeserve_runtime.cli.engine_loader import cuda_device_count, require_device\n"
        "require_device('cpu')\n"
        "n = cuda_device_count()\n"
        "try:\n"
        "    require_device('cuda')\n"
        "    verdict = 'ok'\n"
        "except Exception as e:\n"
        "    verdict = getattr(e, 'reason', type(e).__name__)\n"
        "print(n, verdict, 'torch' in sys.modules)\n"
    )
    n, verdict, torch_loaded = out.split()
    assert verdict == ("ok" if int(n) > 0 else "device_unavailable")
    assert torch_loaded == "False"


def test_driver_count_matches_torch():
    torch = pytest.importorskip("torch")
    from vibeserve_runtime.cli.engine_loader import cuda_device_count

    assert cuda_device_count() == torch.cuda.device_count()


def test_torch_is_imported_while_the_child_runs():
    out = run_py(
        "import sys\n"
        "from vibeserve_runtime.cli import candidate_process as cp\n"
        "before = 'torch' in sys.modules\n"
        "cp.import_torch_meanwhile()\n"
        "started = cp._torch_import\n"
        "cp.import_torch_meanwhile()  # once per process\n"
        "assert cp._torch_import is started\n"
        "import torch  # waits for the background import\n"
        "print(before, started is not None, torch.zeros(2).sum().item())\n"
    )
    assert out == "False True 0.0"


def test_check_imports_torch_only_once_the_stack_is_started():
    """check keys its reference cache without torch (versions read from the installed files), so a
    cached check starts the stack before it imports torch."""
    out = run_py(
        "import sys\n"
        "from vibeserve_runtime.cli import check_cmd  # noqa: F401\n"
        "from vibeserve_runtime.checker import reference_cache\n"
        "v = reference_cache._torch_version()\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
        "import torch\n"
        "print(v == torch.__version__)\n"
    )
    assert out.split() == ["False", "False", "True"]
