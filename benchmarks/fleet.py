"""Worker processes for the multi-process homes (`sqlite-transport`): `infinitic worker` on a
config file, their CPU read from /proc, and how much of it they burn while idle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class WorkerFleet:
    """`count` worker processes on `config`, started and ready when the constructor returns."""

    def __init__(self, config: dict[str, Any], count: int, folder: Path | None = None) -> None:
        self.folder = folder or Path(tempfile.mkdtemp(prefix="infinitic-fleet-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        config_file = self.folder / "worker.yml"
        config_file.write_text(yaml.safe_dump(config))
        self.procs: list[subprocess.Popen[bytes]] = []
        for n in range(count):
            log = self.folder / f"worker-{n}.log"
            with log.open("wb") as out:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "infinitic", "worker", "-c", str(config_file)],
                        cwd=ROOT,
                        env={**os.environ, "PYTHONPATH": str(ROOT)},
                        stdout=subprocess.DEVNULL,
                        stderr=out,
                    )
                )
            deadline = time.monotonic() + 120
            while b"started" not in log.read_bytes():
                if self.procs[-1].poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    tail = log.read_bytes()[-2000:].decode(errors="replace")
                    raise RuntimeError(f"worker process {n} did not start:\n{tail}")
                time.sleep(0.05)

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def idle_cpu(self, seconds: float) -> dict[str, Any]:
        """CPU % of this process (the client) and of each worker over `seconds` of nothing."""
        own0 = time.process_time()
        workers0 = [cpu_seconds(p.pid) for p in self.procs]
        time.sleep(seconds)
        own = time.process_time() - own0
        workers = [cpu_seconds(p.pid) - c for p, c in zip(self.procs, workers0, strict=True)]
        return {
            "idle_seconds": seconds,
            "idle_cpu_pct_client": round(100 * own / seconds, 2),
            "idle_cpu_pct_workers": [round(100 * c / seconds, 2) for c in workers],
        }

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
