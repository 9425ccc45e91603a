#!/usr/bin/env python3
"""Run a check twice at once: with this CPU's kernels, and with the kernels of another CPU.

    .venv/bin/python tools/two_cpus.py .venv/bin/pytest -q tests

The same float32 code gives other last digits on a CPU with other vector units: oneDNN, ATen and
MKL pick their kernels by what the CPU can do, and the kernels add in other orders. A stored output
or a test that holds only on the machine that wrote it is caught here, on that machine: the second
run gets the kernels of an older CPU through the libraries' own switches (AVX2 on an AVX-512
machine, SSE4.1 on an AVX2 one). Both runs use one thread each, so together they keep two cores
busy (and a thread count other than the default is checked too); each has its own temporary folder
and run folder (`ALEXNET_RUNS`), so neither reads what the other wrote. Exits 0 only if both
commands do; a failure names the kernel set and the line that reproduces it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
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
    """Name -> environment: this CPU's own kernels, and (on x86-64) an older CPU's."""
    flags = cpu_flags()
    sets = {"this CPU's kernels": {}}
    best = next((flag for flag in OLDER_KERNELS if flag in flags), None)
    if best is not None:
        older = OLDER_KERNELS[best]
        sets[f"an older CPU's kernels ({older['ONEDNN_MAX_CPU_ISA']})"] = older
    return sets


def main(argv=None) -> int:
    command = list(sys.argv[1:] if argv is None else argv)
    if not command:
        raise SystemExit(__doc__.split("\n\n")[1])
    sets = kernel_sets()
    if len(sets) == 1:
        print("two_cpus: no AVX2 on this CPU (or not x86-64): one run, with this CPU's kernels", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="two-cpus-"))
    runs = {}
    for i, (name, variables) in enumerate(sets.items()):
        tmp = folder / str(i)
        (tmp / "runs").mkdir(parents=True)
        env = {**os.environ, **ONE_THREAD, **variables, "TMPDIR": str(tmp), "ALEXNET_RUNS": str(tmp / "runs")}
        log = open(folder / f"{i}.log", "w+")
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        runs[name] = (process, log, {**ONE_THREAD, **variables})
        print(f"two_cpus: started with {name}: {_line(variables, command)}", flush=True)
    start = time.perf_counter()
    codes = {}
    for name, (process, log, _) in runs.items():
        codes[name] = process.wait()
        print(f"two_cpus: {name}: exit {codes[name]} after {time.perf_counter() - start:.0f} s", flush=True)
    for name, (process, log, variables) in runs.items():
        log.seek(0)
        print(f"\n----- {name} -----", flush=True)
        sys.stdout.write(log.read())
        log.close()
    failed = [name for name, code in codes.items() if code != 0]
    print()
    for name in failed:
        print(f"two_cpus: FAILED with {name}; reproduce with\n    {_line(runs[name][2], command)}")
    if not failed:
        print(f"two_cpus: passed with {' and with '.join(sets)}")
    subprocess.run(["rm", "-rf", str(folder)], check=False)
    return 1 if failed else 0


def _line(variables: dict[str, str], command: list[str]) -> str:
    return " ".join([*(f"{k}={v}" for k, v in variables.items()), *map(shlex.quote, command)])


if __name__ == "__main__":
    sys.exit(main())
