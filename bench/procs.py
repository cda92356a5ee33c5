"""CPU and memory of processes from /proc (Linux), and a description of the machine.

No psutil: /proc/<pid>/stat gives user+system CPU time (all threads), /proc/<pid>/status
the resident set (VmRSS) and its high-water mark (VmHWM), /proc/stat the whole machine's
busy time — enough to see who used the two cores during a run.
"""

import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB (0, 0 if the process is gone)."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return rss, hwm


def machine_seconds() -> dict[str, float]:
    """CPU seconds of the whole machine (all cores) since boot: processes (user, nice,
    system), interrupts (irq, softirq: loopback networking lands here), steal (the
    hypervisor running other guests)."""
    with open("/proc/stat", encoding="ascii") as f:
        v = [int(x) for x in f.readline().split()[1:]] + [0] * 8
    return {
        "processes": (v[0] + v[1] + v[2]) / CLOCK_TICKS,
        "interrupts": (v[5] + v[6]) / CLOCK_TICKS,
        "steal": v[7] / CLOCK_TICKS,
    }


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores), since boot."""
    return sum(machine_seconds().values())


def pids_named(*names: str) -> list[int]:
    """Processes whose command name is one of `names` (e.g. the PostgreSQL backends)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", encoding="utf-8", errors="replace") as f:
                if f.read().strip() in names:
                    found.append(int(entry))
        except OSError:
            continue
    return found


@dataclass
class CpuWindow:
    """CPU used by groups of processes (and the whole machine) between start() and stop()."""

    groups: dict[str, list[int]]
    # group -> a function listing its processes now (e.g. the database's backends)
    dynamic: dict[str, Callable[[], list[int]]] = field(default_factory=dict)
    before: dict[str, dict[int, float]] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)
    machine: float = 0.0
    wall: float = 0.0

    def _snapshot(self) -> dict[str, dict[int, float]]:
        snap = {name: {pid: cpu_seconds(pid) for pid in pids} for name, pids in self.groups.items()}
        for name, list_pids in self.dynamic.items():
            snap[name] = {pid: cpu_seconds(pid) for pid in list_pids()}
        return snap

    def start(self) -> None:
        self.before = self._snapshot()
        self._machine0 = machine_seconds()
        self._t0 = time.monotonic()

    def stop(self) -> None:
        after = self._snapshot()
        self.wall = time.monotonic() - self._t0
        machine = {k: v - self._machine0[k] for k, v in machine_seconds().items()}
        self.machine = sum(machine.values())
        for name, now in after.items():
            was = self.before.get(name, {})
            # A process born inside the window counts from zero.
            self.used[name] = sum(max(0.0, cpu - was.get(pid, 0.0)) for pid, cpu in now.items())
        # "other": processes that are not ours (other work on the machine, our driver).
        self.used["other"] = max(0.0, machine["processes"] - sum(self.used.values()))
        self.used["interrupts"] = machine["interrupts"]
        self.used["steal"] = machine["steal"]


def describe_machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = 0
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    try:
        loadavg = open("/proc/loadavg", encoding="ascii").read().split()[:3]  # noqa: SIM115
    except OSError:
        loadavg = []
    try:
        system = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        system = ""
    return {
        "cpu": model or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "os": system or platform.system(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": _version(["psql", "--version"], r"(\d+\.\d+)"),
        "redis": _version(["redis-server", "--version"], r"v=(\S+)"),
        "load_average_at_start": loadavg,
        "executable": sys.executable,
    }


def describe_code(root) -> dict:
    """The commit under test and whether the working tree differs from it (outside bench/:
    the instrument's own files do not change what it measures)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    # Porcelain lines are "XY path": the status columns may start with a space.
    changed = [
        line[3:]
        for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
        if not line[3:].startswith("bench/")
    ]
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "dirty": bool(changed),
        "uncommitted_files": changed,
    }


def _version(command: list[str], pattern: str) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    match = re.search(pattern, out)
    return match.group(1) if match else ""


def wait_until_quiet(max_busy_cores: float, max_wait: float, sample: float = 2.0) -> float:
    """Wait (at most `max_wait` s) for the machine's busy CPU to fall below
    `max_busy_cores`, averaged over `sample` s; returns the last measured load in cores.

    Other work on a shared machine (test suites, browsers) competes for the same cores;
    starting a measurement while it runs mostly measures that work.
    """
    deadline = time.monotonic() + max_wait
    while True:
        before = machine_busy_seconds()
        time.sleep(sample)
        busy = (machine_busy_seconds() - before) / sample
        if busy <= max_busy_cores or time.monotonic() >= deadline:
            return busy
