"""Input fuzz: what the user can get wrong, against the promise of one line, never a traceback.

    python benchmarks/fuzz_inputs.py [--count 300] [--seed 0]
        [--parts files,options,api,extreme] [--methods greedy,lambo,de,highs]

Each part draws `--count` cases from `--seed` and prints every fault, then a tally:
- `files`: a valid 12 x 3 instance and its solution, one to three fields mutated (deleted,
  truncated, extended, nested deeper, or replaced by null, a string, NaN, inf, 0, -1,
  1e308, 1e-320, a boolean, an empty list, an object, an integer of 400 digits) or the
  whole file replaced (cut short, empty, binary, another JSON type), then `mecopt solve`
  with one of `--methods`, or `evaluate`, `export` or `pareto`, in-process. A fault: an
  uncaught exception, a traceback, or a failing command whose error is not one line.
- `options`: `mecopt solve` with random `--option KEY=VALUE` (the method's own keys,
  unknown ones, solve's own `time_limit` and `seed`; values such as nan, maybe, 1e400, an
  empty one), `--time-limit`, `--seed`, `--objective` and `--prompt`. Faults as above.
- `api`: `mecopt.solve` with Python values of every kind as options, time limit, seed and
  objective. A fault: an exception other than InputError, an InputError of more than one
  line, or an `error` status.
- `extreme`: valid instances with one to three fields scaled by 10^k, |k| from 30 to 300,
  through `mecopt.solve` for both prompts. A fault: an exception, or an `error` status
  (but from `scip`, whose infinity is 1e20).

docs/notes/2026-12-07-input-fuzz-and-short-limits.md has what it found and what changed.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import tempfile
import traceback
import warnings
from pathlib import Path

import numpy as np
from click.testing import CliRunner

import mecopt
from mecopt.cli.main import cli

VALUES = [None, "abc", math.nan, math.inf, -1, 0, 1e308, 1e-320, True, [], {}, [[]],
          "NaN", 10**400]
OPTION_KEYS = {"greedy": ["orders", "relocate", "lns"], "lambo": ["samples", "polish", "guard"],
               "de": ["pop_size", "generations", "cr"], "highs": ["gap", "threads"],
               "pg": ["iterations", "lr"], "random": ["tries"], "local": []}
OPTION_VALUES = ["0", "1", "-1", "1e9", "nan", "inf", "true", "maybe", "", "3.5", "1e400",
                 "all", "/nonexistent.pt"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", default="files,options,api,extreme")
    parser.add_argument("--methods", default="greedy,lambo,de,highs")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    total = 0
    for part in args.parts.split(","):
        faults = PARTS[part](args.count, args.seed, methods)
        for fault in faults:
            print(f"[{part}] {fault}")
        print(f"{part}: {len(faults)} faults in {args.count} cases", flush=True)
        total += len(faults)
    print(f"{total} faults")


def fuzz_files(count: int, seed: int, methods: list[str]) -> list[str]:
    """The `files` part: faults as one-line strings."""
    rng = random.Random(seed)
    inst = mecopt.generate("paper", 12, 3, seed=1)
    base = json.loads(inst.to_json())
    solution = json.loads(mecopt.solve(inst, "latency", "greedy").to_json())
    faults: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in range(count):
            ip, sp = Path(tmp) / f"i{case}.json", Path(tmp) / f"s{case}.json"
            ip.write_text(json.dumps(base))
            sp.write_text(json.dumps(solution))
            kind = rng.choice(["instance", "instance", "solution", "raw"])
            if kind == "instance":
                ip.write_text(_dump(_mutate(base, rng)))
            elif kind == "solution":
                sp.write_text(_dump(_mutate(solution, rng)))
            else:
                text = json.dumps(base)
                ip.write_text(rng.choice([text[:rng.randrange(len(text))], "", "\x00\xff",
                                          "[1, 2]", "null", text + "}"]))
            command = rng.choice(
                [["solve", str(ip), "-m", m, "--time-limit", "2"] for m in methods]
                + [["evaluate", str(ip), str(sp)],
                   ["export", str(ip), "-o", str(Path(tmp) / f"e{case}.lp"), "--force"],
                   ["pareto", str(ip), "-o", str(Path(tmp) / f"p{case}"), "--generations",
                    "2", "--pop-size", "8"]])
            fault = _cli_fault(command, evaluate=command[0] == "evaluate")
            if fault:
                faults.append(f"case {case} ({kind}): {fault}")
    return faults


def fuzz_options(count: int, seed: int, methods: list[str]) -> list[str]:
    """The `options` part."""
    rng = random.Random(seed)
    faults: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "i.json"
        mecopt.generate("paper", 10, 3, seed=2).save(path)
        for case in range(count):
            method = rng.choice(methods + ["pg", "random", "local"])
            command = ["solve", str(path), "-m", method, "--time-limit",
                       rng.choice(["2", "0", "-1", "nan", "inf", "abc", "1e-9"])]
            for _ in range(rng.choice([1, 2, 3])):
                key = rng.choice(OPTION_KEYS.get(method, []) + ["bogus", "time_limit", "seed"])
                command += ["--option", f"{key}={rng.choice(OPTION_VALUES)}"]
            if rng.random() < 0.3:
                command += ["--seed", rng.choice(["-1", "0", "99999999999999999999", "x"])]
            if rng.random() < 0.2:
                command += ["--prompt", rng.choice(["Minimum energy", "maximum fun", ""])]
            fault = _cli_fault(command)
            if fault:
                faults.append(f"case {case}: {' '.join(command[3:])}: {fault}")
    return faults


def fuzz_api(count: int, seed: int, methods: list[str]) -> list[str]:
    """The `api` part."""
    rng = random.Random(seed)
    inst = mecopt.generate("paper", 8, 2, seed=4)
    values = [*VALUES[:13], np.int64(3), np.float32(1.5), 2**70, "3", 2.5]
    faults: list[str] = []
    for case in range(count):
        method = rng.choice(methods + ["pg", "random", "local"])
        options = {rng.choice(OPTION_KEYS[method]): rng.choice(values)
                   for _ in range(rng.choice([0, 1, 2])) if OPTION_KEYS.get(method)}
        objective = rng.choice(["latency", "energy", "Minimum energy", "bogus", None, 3])
        time_limit = rng.choice(values) if rng.random() < 0.4 else 2
        seed_value = rng.choice(values) if rng.random() < 0.4 else 0
        where = (f"case {case}: {method} {objective!r} time_limit={time_limit!r} "
                 f"seed={seed_value!r} {options}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sol = mecopt.solve(inst, objective, method, time_limit=time_limit,
                                   seed=seed_value, **options)
            if sol.status == "error":
                faults.append(f"{where}: error status: {sol.message[:120]}")
        except mecopt.InputError as exc:
            if "\n" in str(exc):
                faults.append(f"{where}: an InputError of several lines")
        except Exception as exc:  # the fault this part looks for
            faults.append(f"{where}: {type(exc).__name__}: {str(exc)[:120]}")
    return faults


def fuzz_extreme(count: int, seed: int, methods: list[str]) -> list[str]:
    """The `extreme` part."""
    rng = np.random.default_rng(seed)
    fields = [("ues", "data_bits"), ("ues", "cycles"), ("ues", "local_hz"),
              ("ues", "tx_power_w"), ("ues", "local_power_w"), ("ues", "deadline_s"),
              ("servers", "capacity_hz"), (None, "rate_bps")]
    faults: list[str] = []
    for case in range(count):
        data = json.loads(mecopt.generate("paper", int(rng.integers(3, 12)),
                                          int(rng.integers(1, 4)),
                                          seed=int(rng.integers(1000))).to_json())
        scaled = []
        for _ in range(int(rng.integers(1, 4))):
            section, key = fields[int(rng.integers(len(fields)))]
            k = int(rng.choice([-300, -200, -100, -30, 30, 100, 200, 300]))
            target = data[section] if section else data
            with np.errstate(all="ignore"):
                target[key] = (np.asarray(target[key]) * 10.0 ** k).tolist()
            scaled.append(f"{key} x 1e{k}")
        try:
            inst = mecopt.Instance.from_dict(data)
        except mecopt.InputError:
            continue  # refused with one line: fine
        for method in methods:
            for objective in ("latency", "energy"):
                where = f"case {case} ({', '.join(scaled)}): {method} {objective}"
                try:
                    with warnings.catch_warnings(), np.errstate(all="ignore"):
                        warnings.simplefilter("ignore")
                        sol = mecopt.solve(inst, objective, method, time_limit=3)
                    if sol.status == "error" and method != "scip":
                        faults.append(f"{where}: error status: {sol.message[:120]}")
                except Exception as exc:  # the fault this part looks for
                    faults.append(f"{where}: {type(exc).__name__}: {str(exc)[:120]}")
    return faults


PARTS = {"files": fuzz_files, "options": fuzz_options, "api": fuzz_api,
         "extreme": fuzz_extreme}


def _mutate(data: dict, rng: random.Random) -> dict:
    """`data` with one to three values deleted, cut, grown, nested or replaced."""
    data = copy.deepcopy(data)
    for _ in range(rng.choice([1, 1, 2, 3])):
        path = rng.choice(_paths(data, rng))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        key, op = path[-1], rng.random()
        if op < 0.15 and isinstance(parent, dict):
            del parent[key]
        elif op < 0.25 and isinstance(parent[key], list) and parent[key]:
            parent[key] = parent[key][:-1]
        elif op < 0.3 and isinstance(parent[key], list) and parent[key]:
            parent[key] = parent[key] + parent[key][-1:]
        elif op < 0.35 and isinstance(parent[key], list):
            parent[key] = [parent[key]]
        else:
            parent[key] = rng.choice(VALUES)
    return data


def _paths(data, rng: random.Random, prefix: tuple = ()) -> list[tuple]:
    """Paths to values in `data`: every key of its objects, one random item of its lists."""
    out: list[tuple] = []
    if isinstance(data, dict):
        for key, value in data.items():
            out.append((*prefix, key))
            out += _paths(value, rng, (*prefix, key))
    elif isinstance(data, list) and data:
        k = rng.randrange(len(data))
        out.append((*prefix, k))
        out += _paths(data[k], rng, (*prefix, k))
    return out


def _dump(data: dict) -> str:
    return json.dumps(data, allow_nan=True)


def _cli_fault(command: list[str], evaluate: bool = False) -> str | None:
    """What is wrong with running `command`, or None: an exception, a traceback, or a
    failure whose message is not one line (`evaluate` prints several lines by design)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = CliRunner().invoke(cli, command)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(result.exception))
        return trace.strip().splitlines()[-1][:200]  # "TypeError: ..."
    if "Traceback" in result.output:
        return "a traceback in the output"
    lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    if result.exit_code == 2 and len(lines) != 1 and not evaluate:
        return f"exit 2 with {len(lines)} error lines"
    return None


if __name__ == "__main__":
    main()
