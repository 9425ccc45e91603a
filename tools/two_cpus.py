#!/usr/bin/env python3
"""Run checks with this CPU's kernels and with the kernels of an older CPU, side by side.

    .venv/bin/python tools/two_cpus.py "CHECK" ["CHECK" ...]     # each CHECK a shell command line

The same float32 code gives other last digits on a CPU with other vector units: oneDNN, ATen and
MKL pick their kernels by what the CPU can do, and the kernels add in other orders. A stored output
or a test that holds only on the machine that wrote it is caught here, on that machine: each check
runs twice, once as it is and once with the kernels of an older CPU, set through the libraries' own
switches (AVX2 on an AVX-512 machine, SSE4.1 on an AVX2 one). Every run has one thread (so the runs
share the cores, and a thread count other than the default is checked too), its own temporary
folder and its own run folder (`ALEXNET_RUNS`): no run reads what another wrote. Runs go two at a
time (more on a bigger machine), slowest first. Exits 0 only if every run does; a failure names
the kernel set and the line that reproduces it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
OLDER_KERNELS = {  # by the best vector unit this CPU has: the kernel set one generation below it
    "avx512f": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "avx2": {"ONEDNN_MAX_CPU_ISA": "SSE41", "ATEN_CPU_CAPABILITY": "default",
             "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
}


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def kernel_sets() -> dict[str, dict[str, str]]:
    """Name -> environment: an older CPU's kernels (on x86-64 with AVX2 or better), and this CPU's."""
    flags = cpu_flags()
    best = next((flag for flag in OLDER_KERNELS if flag in flags), None)
    sets = {}
    if best is not None:  # first: these kernels are the slower ones
        older = OLDER_KERNELS[best]
        sets[f"an older CPU's kernels ({older['ONEDNN_MAX_CPU_ISA']})"] = older
    sets["this CPU's kernels"] = {}
    return sets


def run(check: str, variables: dict[str, str], folder: Path) -> tuple[int, float, str]:
    """``check`` in a shell with ``variables`` and its own TMPDIR and ALEXNET_RUNS: exit code, seconds, output.

    The output also goes to ``folder``/output.log as it comes, to follow a long run.
    """
    (folder / "runs").mkdir(parents=True)
    env = {**os.environ, **ONE_THREAD, **variables, "TMPDIR": str(folder), "ALEXNET_RUNS": str(folder / "runs")}
    start = time.perf_counter()
    with open(folder / "output.log", "w+", errors="replace") as log:
        code = subprocess.run(check, shell=True, env=env, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL).returncode
        log.seek(0)
        return code, time.perf_counter() - start, log.read()


def main(argv=None) -> int:
    checks = list(sys.argv[1:] if argv is None else argv)
    if not checks:
        raise SystemExit(__doc__.split("\n\n")[1])
    sets = kernel_sets()
    if len(sets) == 1:
        print("two_cpus: no AVX2 on this CPU (or not x86-64): one kernel set, this CPU's", flush=True)
    jobs = [(check, name) for check in checks for name in sets]
    workers = max(2, min(len(jobs), os.cpu_count() or 2))
    print(f"two_cpus: {len(jobs)} runs, {workers} at a time, one thread each: "
          + "; ".join(f"{name}: {assignments(v) or 'as it is'}" for name, v in sets.items()), flush=True)
    with tempfile.TemporaryDirectory(prefix="two-cpus-") as tmp, ThreadPoolExecutor(workers) as pool:
        print(f"two_cpus: each run's output, as it comes: {tmp}/<run>/output.log", flush=True)
        futures = {job: pool.submit(run, job[0], sets[job[1]], Path(tmp) / str(i)) for i, job in enumerate(jobs)}
        results = {}
        for (check, name), future in futures.items():
            results[check, name] = future.result()
            code, seconds, _ = results[check, name]
            print(f"two_cpus: {'passed' if code == 0 else f'FAILED (exit {code})'} in {seconds:.0f} s with "
                  f"{name}: {check}", flush=True)
    for (check, name), (code, seconds, output) in results.items():
        print(f"\n----- {check}\n----- with {name} -----", flush=True)
        sys.stdout.write(output)
    failed = [(check, name) for (check, name), (code, _, _) in results.items() if code != 0]
    print()
    for check, name in failed:
        print(f"two_cpus: FAILED with {name}; reproduce with\n    "
              f"{assignments({**ONE_THREAD, **sets[name]})} {check}")
    if not failed:
        print(f"two_cpus: all {len(jobs)} runs passed, with {' and with '.join(sets)}")
    return 1 if failed else 0


def assignments(variables: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in variables.items())


if __name__ == "__main__":
    sys.exit(main())
