"""A local Redis Cluster for tests: six ``redis-server`` processes on loopback (3 masters, 3 replicas).

::

    cluster = LocalCluster.start(tmp_dir)      # redis-cli --cluster create ... --cluster-replicas 1
    other = LocalCluster.start(tmp_dir, replicas=0)   # three masters only (cheaper, no failover)
    url = cluster.url                          # redis+cluster://127.0.0.1:<first port>
    port = cluster.kill_master()               # SIGKILL one master; its replica takes over
    cluster.stop()                             # every process, also after a failed start

Nodes listen on 127.0.0.1 only, keep nothing on disk between sessions (no RDB, no AOF; replicas
sync diskless), and time out a silent node after ``NODE_TIMEOUT_MS`` so that a failover takes a
few seconds; a replica may take over however long its link was down (validity factor 0).
"""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MASTERS = 3
NODE_TIMEOUT_MS = 2000
_READY_TIMEOUT = 60.0


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """``count`` consecutive ports whose cluster-bus ports (+10000) are free too."""
    for _ in range(200):
        base = random.randrange(20_000, 30_000)
        ports = list(range(base, base + count))
        if all(_port_free(p) and _port_free(p + 10_000) for p in ports):
            return ports
    raise RuntimeError("no free ports for a local Redis Cluster")


def _cli(port: int, *args: str, timeout: float = 10.0) -> str:
    done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                          capture_output=True, text=True, timeout=timeout, check=False)
    return done.stdout


@dataclass
class LocalCluster:
    """Cluster nodes on loopback (3 masters, ``replicas`` each); :meth:`stop` ends every process it started."""

    ports: list[int]
    directory: Path
    replicas: int = 1
    """Replicas per master."""
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL seeded by the first live node."""
        live = [p for p in self.ports if self.processes[p].poll() is None]
        return f"redis+cluster://127.0.0.1:{live[0]}"

    @classmethod
    def start(cls, directory: Path, replicas: int = 1) -> LocalCluster:
        cluster = cls(_free_ports(MASTERS * (1 + replicas)), directory, replicas)
        try:
            for port in cluster.ports:
                cluster._spawn(port)
            for port in cluster.ports:
                cluster._wait_for(lambda p=port: _cli(p, "PING").strip() == "PONG", f"node {port} to answer")
            create = subprocess.run(
                ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in cluster.ports),
                 "--cluster-replicas", str(cluster.replicas), "--cluster-yes"],
                capture_output=True, text=True, timeout=60, check=False)
            if create.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed: {create.stdout[-2000:]}{create.stderr}")
            cluster.wait_healthy()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _spawn(self, port: int) -> None:
        self.processes[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
             "--dir", str(self.directory), "--save", "", "--appendonly", "no", "--protected-mode", "yes",
             "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
             "--cluster-replica-validity-factor", "0",
             "--logfile", str(self.directory / f"redis-{port}.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _wait_for(self, ready: Callable[[], bool], what: str, timeout: float = _READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"gave up waiting for {what} after {timeout:g}s")

    def masters(self) -> list[int]:
        """The ports of the live masters (as the live nodes see them)."""
        live = [p for p in self.ports if self.processes[p].poll() is None]
        found: list[int] = []
        for line in _cli(live[0], "CLUSTER", "NODES").splitlines():
            parts = line.split()
            if len(parts) > 2 and "master" in parts[2] and "fail" not in parts[2]:
                found.append(int(parts[1].split("@")[0].rsplit(":", 1)[1]))
        return sorted(found)

    def wait_healthy(self, timeout: float = _READY_TIMEOUT) -> None:
        """Until every live node says ``cluster_state:ok``, :data:`MASTERS` masters serve the slots and every
        live replica's link to its master is up (synchronised, so it can take over)."""

        def healthy() -> bool:
            live = [p for p in self.ports if self.processes[p].poll() is None]
            if not all("cluster_state:ok" in _cli(p, "CLUSTER", "INFO") for p in live):
                return False
            masters = self.masters()
            replicas = [p for p in live if p not in masters]
            if not all("master_link_status:up" in _cli(p, "INFO", "replication") for p in replicas):
                return False
            return len(masters) == MASTERS

        self._wait_for(healthy, "the cluster to be healthy", timeout)

    def kill_master(self, port: int | None = None) -> int:
        """SIGKILL a master (the first one unless ``port``); its replica is promoted."""
        victim = port if port is not None else self.masters()[0]
        process = self.processes[victim]
        process.kill()
        process.wait(timeout=10)
        return victim

    def stop(self) -> None:
        """End every node process this cluster started."""
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


__all__ = ["LocalCluster"]
