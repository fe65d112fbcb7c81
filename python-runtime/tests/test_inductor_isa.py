"""Inductor's CPU vector-ISA probe runs once per host: the first process records its verdict, a later
one applies it without building or loading anything, and a verdict for another host is probed again."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUNTIME = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    os.uname().machine not in ("x86_64", "AMD64"), reason="Inductor probes x86 vector ISAs only"
)

PROBE = """
import json
from torch._inductor import config, cpu_vec_isa
builds = []
real = cpu_vec_isa.VecISA.check_build
def counted(self, code):
    builds.append(str(self))
    return real(self, code)
cpu_vec_isa.VecISA.check_build = counted
from vibeserve_runtime.components.execution.inductor_isa import settle_vec_isa
verdict = settle_vec_isa()
print(json.dumps({"verdict": verdict, "builds": len(builds), "vec_isa_ok": config.cpp.vec_isa_ok}))
"""


def settle(cache: Path) -> dict:
    p = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=RUNTIME,
        timeout=300,
        env={**os.environ, "XDG_CACHE_HOME": str(cache), "TORCHINDUCTOR_VEC_ISA_OK": ""},
    )
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_probe_once_per_host(tmp_path):
    first = settle(tmp_path)
    assert first["builds"] > 0 and isinstance(first["verdict"], bool)
    recorded = json.loads((tmp_path / "vibeserve" / "inductor_vec_isa.json").read_text())
    assert recorded["all_build"] == first["verdict"] and recorded["key"]["cpu_isa"]

    later = settle(tmp_path)
    assert later["builds"] == 0 and later["verdict"] == first["verdict"]
    assert later["vec_isa_ok"] == (True if first["verdict"] else None)

    recorded["key"]["torch"] = "0.0.0"  # another torch: the verdict is not this host's any more
    (tmp_path / "vibeserve" / "inductor_vec_isa.json").write_text(json.dumps(recorded))
    assert settle(tmp_path)["builds"] > 0
