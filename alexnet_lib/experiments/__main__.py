"""``python -m alexnet_lib.experiments list | run NAME... [--size full|live] | verify [NAME...] | summarise [NAME...] | claims``."""

from __future__ import annotations

import argparse
import sys
import time

import torch

from ..config import display_path
from ..errors import AlexNetError, OneLineParser
from . import __doc__ as PACKAGE_DOC
from .claims import PAGE, write_page
from .record import load_result, result_path
from .registry import experiment, registry
from .runner import resummarise, run, verify
from .show import report


def _list() -> None:
    print(f"{'result':<11}{'section':<8}{'size':<6}{'data':<34}{'device':<34}{'wall':>8}  commit")
    total = 0.0
    for name, e in registry().items():
        if not result_path(name).exists():
            print(f"{name:<11}{e.section:<8}(none: python -m alexnet_lib.experiments run {name})")
            continue
        try:
            r = load_result(name)
        except AlexNetError as err:
            print(f"{name:<11}{e.section:<8}{err}")
            continue
        p, d = r["provenance"], r["data"]
        total += p["wall_s"]
        data = f"{d['name'].removeprefix('real ').split(' (')[0]}, {d['train_images']:,}+{d['test_images']:,}"
        device = p["cpu"].split(" (")[0] + ", 1 thread" * ("1 thread" in p["device"]) if p["device"].startswith("CPU") \
            else p["device"]
        print(f"{name:<11}{e.section:<8}{r['size']:<6}{data:<34}{device[:33]:<34}{p['wall_s'] / 60:>6.1f} m  "
              f"{p['commit']}{' (+changes)' if p['dirty'] else ''}")
    print(f"{'total':<93}{total / 60:>6.1f} m")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m alexnet_lib.experiments", description=PACKAGE_DOC,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="each stored result: size, data, device, wall time, commit")
    p_run = commands.add_parser("run", help="run experiments and store results/NAME.json")
    p_run.add_argument("names", nargs="*", metavar="NAME", help=f"default: all ({', '.join(registry())})")
    p_run.add_argument("--size", default="full", choices=("live", "full"),
                       help="full (default): store results/NAME.json; live: what the chapter runs, shown, not stored")
    p_verify = commands.add_parser("verify", help="re-run the first epoch of each stored result and compare")
    p_verify.add_argument("names", nargs="*", metavar="NAME", help="default: every stored result")
    p_sum = commands.add_parser("summarise", help="recompute stored results' metrics from their stored runs "
                                "(after a change to the statistics) and seal them again")
    p_sum.add_argument("names", nargs="*", metavar="NAME", help="default: every stored result")
    commands.add_parser("claims", help="write book/claims.md, the claims page, from the stored results")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            _list()
            return 0
        if args.command == "claims":
            write_page()
            print(f"claims: wrote {display_path(PAGE)}")
            return 0
        names = args.names or [n for n in registry() if args.command == "run" or result_path(n).exists()]
        for name in names:
            experiment(name)  # an unknown name: the list of known ones
        if args.command == "run":
            start = time.perf_counter()
            for name in names:
                result = run(name, args.size, save=args.size == "full")
                if args.size != "full":
                    report(result)
            print(f"run: {len(names)} experiment(s) in {(time.perf_counter() - start) / 60:.1f} min")
            return 0
        if args.command == "summarise":
            for name in names:
                print(f"summarise {name}: {'sealed again' if resummarise(name) else 'already up to date'}")
            return 0
        if not names:
            print("verify: no stored results in results/ (python -m alexnet_lib.experiments run)")
            return 0
        torch.set_num_threads(1)  # the stored runs had one thread; and one is the same on any machine
        failed = 0
        for name in names:
            start = time.perf_counter()
            problems, compared = verify(name)
            failed += bool(problems)
            status = "ok" if not problems else "FAILED"
            print(f"verify {name}: {status}: {compared['numbers']} numbers of the first epoch compared, largest "
                  f"difference {compared['largest']:.4f} (tolerance {compared['tolerance']}); "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            for line in problems:
                print(f"  {line}")
        return 1 if failed else 0
    except AlexNetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
