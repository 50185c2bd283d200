"""Test hosts in network namespaces: Redis on one, workers on others, links a test can cut or degrade.

``async with Lab.start(tmp_path, workers=("a", "b")) as lab:`` makes, under names unique to this
run, a namespace ``<run>r`` holding a bridge (``10.231.N.1/24``, a private /24 used only between
these namespaces) and one namespace per worker linked to it by a veth pair (worker side
``eth0`` at ``.2``, ``.3`` ...; Redis side ``p<worker>``, a port of the bridge). A
``redis-server`` (no persistence) runs in the Redis namespace on that address and on a unix
socket in ``tmp_path``: the test process itself talks to Redis through the socket, which no
link cut touches. With ``cluster=True`` a Redis Cluster runs there instead: three masters
(ports :data:`CLUSTER_PORTS`, no replicas: the tests cut workers, not nodes) on that address,
and the test process reaches them over a link of its own (a veth from the root namespace to the
bridge, ``.254``), which no cut touches either. :meth:`Lab.spawn` runs ``orchestrator worker``
inside a worker's namespace (``ip netns exec``), its log in a file.

Per link: :meth:`Lab.cut` sets the bridge's port down (the worker's packets go nowhere, as with a
pulled cable; its TCP connections stay open and retransmit), :meth:`Lab.heal` sets it up again;
:meth:`Lab.degrade` adds delay and loss in both directions: ``tc netem`` where the kernel has it,
otherwise (these CI kernels are built without ``sch_netem``) an HTB class shaped so a 1 KB
packet takes the delay on the wire, plus a classic-BPF filter sending a random share of packets
to a zero-length FIFO (the loss). :meth:`Lab.restore` removes them.

Everything (processes, qdiscs, veths, bridge, namespaces) is removed when the block ends, also
after a failure. :func:`unavailable` says why this machine cannot build the lab (not root, no
``ip``, no ``redis-server``), so the tests skip with that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REDIS_PORT = 6390
CLUSTER_PORTS = (7000, 7001, 7002)
COMMAND_TIMEOUT = 15.0
"""Seconds any one ``ip``/``tc`` command may take."""


def unavailable() -> str | None:
    """Why network namespaces cannot be made here, or ``None`` if they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "tc", "redis-server"):
        if shutil.which(tool) is None:
            return f"no `{tool}` on this machine"
    return None


class NetnsError(RuntimeError):
    """An ``ip``/``tc`` command failed."""


async def sh(*argv: str, check: bool = True) -> str:
    """Run one command (bounded by :data:`COMMAND_TIMEOUT`); its stdout, or :class:`NetnsError`."""
    proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise NetnsError(f"{' '.join(argv)}: still running after {COMMAND_TIMEOUT:g}s") from None
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: exit {proc.returncode}: {err.decode().strip()}")
    return out.decode()


@dataclass
class WorkerProcess:
    """An ``orchestrator worker`` running in a worker namespace, logging (JSON lines) to ``log``."""

    host: str
    name: str
    proc: asyncio.subprocess.Process
    log: Path

    def count(self, *events: str) -> int:
        """How many log lines of this worker have one of ``events`` as their event."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return sum(f'"event": "{event}"' in line for line in text.splitlines() for event in events)

    def lines(self, event: str, *having: str) -> int:
        """How many log lines of this worker have ``event`` as their event and contain each of ``having``."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return sum(f'"event": "{event}"' in line and all(h in line for h in having) for line in text.splitlines())

    async def stop(self, within: float = 20.0) -> int:
        """SIGTERM, then wait (SIGKILL after ``within`` s); the exit code."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), within)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        assert self.proc.returncode is not None
        return self.proc.returncode


@dataclass
class Lab:
    """Redis and workers on their own network namespaces (see the module docstring)."""

    run: str
    subnet: str
    workdir: Path
    hosts: dict[str, str] = field(default_factory=dict)
    """Worker host -> its address."""
    namespaces: list[str] = field(default_factory=list)
    cluster: bool = False
    redis: asyncio.subprocess.Process | None = None
    nodes: list[asyncio.subprocess.Process] = field(default_factory=list)
    """The cluster's redis-server processes (``cluster=True``)."""
    workers: list[WorkerProcess] = field(default_factory=list)
    degraded: dict[str, str] = field(default_factory=dict)
    """Worker host -> how its link is degraded (``netem`` or ``htb+bpf``)."""

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, workdir: Path, workers: Sequence[str] = ("a", "b"), *,
                    cluster: bool = False) -> AsyncIterator[Lab]:
        lab = cls(run=f"slmq{secrets.token_hex(3)}", subnet=f"10.231.{secrets.randbelow(250) + 1}", workdir=workdir,
                  cluster=cluster)
        try:
            await lab._build(workers)
            if cluster:
                await lab._link_test_host()
                await lab._start_cluster()
            else:
                await lab._start_redis()
            yield lab
        finally:
            await lab._teardown()

    # -- names ---------------------------------------------------------------

    @property
    def redis_ns(self) -> str:
        return f"{self.run}r"

    def ns(self, host: str) -> str:
        return f"{self.run}{host}"

    @property
    def redis_address(self) -> str:
        return f"{self.subnet}.1"

    @property
    def redis_url(self) -> str:
        """How workers reach Redis: over their link (the test process too, on a cluster: over its own)."""
        if self.cluster:
            return f"redis+cluster://{self.redis_address}:{CLUSTER_PORTS[0]}"
        return f"redis://{self.redis_address}:{REDIS_PORT}/0"

    @property
    def socket(self) -> Path:
        """How the test reaches Redis: a unix socket, outside every link."""
        return self.workdir / "redis.sock"

    # -- links ---------------------------------------------------------------

    async def cut(self, host: str) -> None:
        """Partition ``host`` from Redis: its port on the bridge goes down."""
        await sh("ip", "-n", self.redis_ns, "link", "set", f"p{host}", "down")

    async def heal(self, host: str) -> None:
        await sh("ip", "-n", self.redis_ns, "link", "set", f"p{host}", "up")

    async def degrade(self, host: str, delay_ms: int, loss: float) -> str:
        """Delay and lose packets both ways on ``host``'s link; how (``netem`` or ``htb+bpf``)."""
        how = ""
        for ns, dev in self._link_ends(host):
            how = await _degrade(ns, dev, delay_ms, loss)
        self.degraded[host] = how
        return how

    async def restore(self, host: str) -> None:
        """Remove ``host``'s delay and loss."""
        for ns, dev in self._link_ends(host):
            await sh("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root", check=False)
        self.degraded.pop(host, None)

    def _link_ends(self, host: str) -> list[tuple[str, str]]:
        return [(self.ns(host), "eth0"), (self.redis_ns, f"p{host}")]

    async def stats(self, host: str) -> str:
        """``tc -s qdisc`` of both ends of ``host``'s link (packets sent and dropped)."""
        return "".join([await sh("ip", "netns", "exec", ns, "tc", "-s", "qdisc", "show", "dev", dev)
                        for ns, dev in self._link_ends(host)])

    # -- processes -----------------------------------------------------------

    async def spawn(self, host: str, name: str, app: str, env: Mapping[str, str]) -> WorkerProcess:
        """``orchestrator worker --app <app> --name <name>`` in ``host``'s namespace, on :attr:`redis_url`."""
        log = self.workdir / f"worker-{name}.log"
        environment = {**os.environ, **env, "REDIS_URL": self.redis_url, "PYTHONPATH": str(ROOT)}
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", self.ns(host), sys.executable, "-m", "orchestrator", "worker",
                "--app", app, "--name", name, cwd=ROOT, env=environment,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(host, name, proc, log)
        self.workers.append(worker)
        return worker

    # -- building and tearing down ---------------------------------------------

    async def _build(self, workers: Sequence[str]) -> None:
        r = self.redis_ns
        await self._add_namespace(r)
        await sh("ip", "-n", r, "link", "add", "br0", "type", "bridge")
        await sh("ip", "-n", r, "addr", "add", f"{self.redis_address}/24", "dev", "br0")
        for ns_dev in (("lo",), ("br0",)):
            await sh("ip", "-n", r, "link", "set", *ns_dev, "up")
        for number, host in enumerate(workers, start=2):
            ns = self.ns(host)
            await self._add_namespace(ns)
            await sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"p{host}", "netns", r)
            await sh("ip", "-n", r, "link", "set", f"p{host}", "master", "br0")
            await sh("ip", "-n", ns, "addr", "add", f"{self.subnet}.{number}/24", "dev", "eth0")
            for ns_name, dev in ((ns, "lo"), (ns, "eth0"), (r, f"p{host}")):
                await sh("ip", "-n", ns_name, "link", "set", dev, "up")
            self.hosts[host] = f"{self.subnet}.{number}"

    async def _add_namespace(self, name: str) -> None:
        await sh("ip", "netns", "add", name)
        self.namespaces.append(name)

    async def _start_redis(self) -> None:
        self.redis = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", self.redis_ns, "redis-server", "--bind", self.redis_address,
            "--port", str(REDIS_PORT), "--unixsocket", str(self.socket), "--unixsocketperm", "700",
            "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", str(self.workdir),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.redis.returncode is not None or time.monotonic() > deadline:
                raise NetnsError(f"redis-server did not start in {self.redis_ns}")
            await asyncio.sleep(0.05)

    async def _link_test_host(self) -> None:
        """A link from the root namespace (the test process) to the bridge, at ``.254``."""
        r, mine = self.redis_ns, f"{self.run}t"
        await sh("ip", "link", "add", mine, "type", "veth", "peer", "name", "ptest", "netns", r)
        await sh("ip", "-n", r, "link", "set", "ptest", "master", "br0")
        await sh("ip", "addr", "add", f"{self.subnet}.254/24", "dev", mine)
        await sh("ip", "link", "set", mine, "up")
        await sh("ip", "-n", r, "link", "set", "ptest", "up")

    async def _start_cluster(self) -> None:
        addresses = [f"{self.redis_address}:{port}" for port in CLUSTER_PORTS]
        for port in CLUSTER_PORTS:
            self.nodes.append(await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", self.redis_ns, "redis-server", "--bind", self.redis_address,
                "--port", str(port), "--cluster-enabled", "yes", "--cluster-node-timeout", "2000",
                "--cluster-config-file", str(self.workdir / f"nodes-{port}.conf"), "--save", "", "--appendonly", "no",
                "--protected-mode", "no", "--dir", str(self.workdir),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
        await self._until_nodes("PONG", "ping")
        await sh("redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes")
        await self._until_nodes("cluster_state:ok", "cluster", "info")

    async def _until_nodes(self, answer: str, *command: str) -> None:
        """Until every cluster node answers ``command`` with ``answer`` in its reply (bounded)."""
        deadline = time.monotonic() + 30
        for port in CLUSTER_PORTS:
            while answer not in await sh("redis-cli", "-h", self.redis_address, "-p", str(port), *command,
                                         check=False):
                if time.monotonic() > deadline or any(n.returncode is not None for n in self.nodes):
                    raise NetnsError(f"the cluster in {self.redis_ns} did not answer {answer!r}")
                await asyncio.sleep(0.1)

    async def _teardown(self) -> None:
        """Every process, then every namespace (their veths, bridge and qdiscs go with them)."""
        for worker in self.workers:
            with contextlib.suppress(ProcessLookupError):
                await worker.stop(within=10)
        for server in [self.redis, *self.nodes]:
            if server is not None and server.returncode is None:
                server.kill()
                await server.wait()
        for ns in reversed(self.namespaces):
            for pid in (await sh("ip", "netns", "pids", ns, check=False)).split():  # started in our namespace
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            await sh("ip", "netns", "del", ns, check=False)


async def _degrade(ns: str, dev: str, delay_ms: int, loss: float) -> str:
    """Delay and loss on the egress of ``dev`` in ``ns``: ``netem`` if the kernel has it, else HTB+BPF."""
    tc = ("ip", "netns", "exec", ns, "tc")
    await sh(*tc, "qdisc", "del", "dev", dev, "root", check=False)
    try:
        await sh(*tc, "qdisc", "add", "dev", dev, "root", "netem", "delay", f"{delay_ms}ms", "loss", f"{loss * 100:g}%")
        return "netem"
    except NetnsError as exc:
        if "unknown" not in str(exc).lower():
            raise
    rate = f"{max(8, 8 * 1024 // max(1, delay_ms))}kbit"  # a 1 KB packet spends ``delay_ms`` on the wire
    threshold = int(loss * 2**32)
    # classic BPF: load a random u32; below the threshold -> match (the flow id: the dropping class)
    program = f"4,32 0 0 4294963256,53 0 1 {threshold},6 0 0 0,6 0 0 4294967295"
    await sh(*tc, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10", "r2q", "1")
    for cls in ("1:10", "1:20"):
        await sh(*tc, "class", "add", "dev", dev, "parent", "1:", "classid", cls, "htb", "rate", rate)
    await sh(*tc, "qdisc", "add", "dev", dev, "parent", "1:20", "handle", "20:", "pfifo", "limit", "0")
    await sh(*tc, "filter", "add", "dev", dev, "parent", "1:", "protocol", "all", "prio", "1", "bpf",
             "bytecode", program, "flowid", "1:20")
    return "htb+bpf"


__all__ = ["Lab", "NetnsError", "WorkerProcess", "sh", "unavailable"]
