"""bench/peers/install_vllm.sh on a small stand-in bundle: each transfer parks its part, the last one
joins, checks and unpacks them, and a package the host already has at the same or a newer version
is dropped from the bundle so that it cannot shadow the host's copy (PYTHONPATH puts the bundle first)."""

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _bundle(tmp: Path) -> bytes:
    """A site tree with stand-ins for the modules the import check names, and an old typing_extensions."""
    files = {f"{m}/__init__.py": f"__version__ = '0.0-{m}'\n" for m in ("vllm", "fastapi", "uvicorn", "pydantic")}
    files["typing_extensions.py"] = "raise ImportError('the bundle shadowed the host')\n"
    files["typing_extensions-4.0.0.dist-info/METADATA"] = (
        "Metadata-Version: 2.1\nName: typing_extensions\nVersion: 4.0.0\n"
    )
    files["typing_extensions-4.0.0.dist-info/RECORD"] = (
        "typing_extensions.py,,\ntyping_extensions-4.0.0.dist-info/METADATA,,\n"
        "typing_extensions-4.0.0.dist-info/RECORD,,\n"
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as t:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _layout(tmp: Path) -> Path:
    root = tmp / "repo"
    (root / "bench" / "peers").mkdir(parents=True)
    for f in ("install_vllm.sh", "env.sh"):
        shutil.copy(REPO / "bench" / "peers" / f, root / "bench" / "peers" / f)
    whole = _bundle(tmp)
    half = len(whole) // 2
    parts = {"b.tar.xz.part-01": whole[:half], "b.tar.xz.part-02": whole[half:]}
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    manifest = f"# test bundle\nwhole {sha(whole)} {len(whole)} b.tar.xz\n" + "".join(
        f"part {sha(b)} {len(b)} {n}\n" for n, b in parts.items()
    )
    for k, (name, data) in enumerate(parts.items(), 1):
        d = tmp / "transfers" / f"vllm-{k}"
        d.mkdir(parents=True)
        (d / name).write_bytes(data)
        (d / "manifest.txt").write_text(manifest)
    return root


def _transfer(root: Path, tmp: Path, k: int) -> subprocess.CompletedProcess:
    """One device call: the tree arrives carrying .carry/peers/vllm-k only."""
    carry = root / ".carry" / "peers"
    shutil.rmtree(carry, ignore_errors=True)
    carry.mkdir(parents=True)
    shutil.copytree(tmp / "transfers" / f"vllm-{k}", carry / f"vllm-{k}")
    env = {
        **os.environ,
        "VIBESERVE_PEERS": str(tmp / "peers"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        ["bash", str(root / "bench" / "peers" / "install_vllm.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_parts_park_then_unpack_and_the_hosts_newer_package_wins(tmp_path):
    root = _layout(tmp_path)
    first = _transfer(root, tmp_path, 1)
    assert first.returncode == 0, first.stderr
    assert "parked b.tar.xz.part-01" in first.stdout and "waiting for parts: b.tar.xz.part-02" in first.stdout
    second = _transfer(root, tmp_path, 2)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "dropped the bundle's typing_extensions 4.0.0" in second.stdout
    assert "import check ok: vllm 0.0-vllm" in second.stdout
    site = tmp_path / "peers" / "site"
    assert not (site / "typing_extensions.py").exists() and not (site / "typing_extensions-4.0.0.dist-info").exists()
    assert (site / "vllm" / "__init__.py").exists() and not list((tmp_path / "peers" / "parts").iterdir())
    again = _transfer(root, tmp_path, 2)
    assert again.returncode == 0 and "import check ok" in again.stdout
