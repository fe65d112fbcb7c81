"""A served comparison killed mid-run (SIGTERM, as `timeout` sends) stops the servers it started:
each runs in a process group of its own and would otherwise keep the GPU for whatever runs next."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

DRIVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {scenarios!r})
    from served_engines import EngineServer, free_port
    port = free_port()
    srv = EngineServer("dummy", "http", [sys.executable, "-m", "http.server", str(port)], Path({log!r}), port)
    srv.start()
    print(srv.proc.pid, flush=True)
    try:
        time.sleep(120)
    finally:
        print("finally ran", flush=True)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie left for its (dead) parent's reaper counts as gone
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_comparison_killed_with_sigterm_stops_its_servers(tmp_path):
    code = DRIVER.format(scenarios=str(REPO / "bench" / "scenarios"), log=str(tmp_path / "server.log"))
    driver = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    server_pid = int(driver.stdout.readline())
    assert _alive(server_pid)
    driver.send_signal(signal.SIGTERM)
    assert driver.wait(timeout=30) == 128 + signal.SIGTERM
    assert "finally ran" in driver.stdout.read()
    deadline = time.monotonic() + 10
    while _alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(server_pid), "the server outlived the comparison that started it"
