"""Start-up and output at scale: the CLI imports neither torch nor scipy.optimize unless a
method needs them (a greedy solve nothing heavy at all), and the summary line stays short for
any number of servers."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mecopt
from mecopt.solution import placement

from conftest import INSTANCES

PAPER0 = str(INSTANCES / "paper" / "paper-000.json")

# Each command runs in this one fresh interpreter; torch must not be imported after any.
NO_TORCH = """
import sys
from mecopt.cli.main import cli
for args in (["--help"], ["methods"], ["solve", sys.argv[1], "--method", "greedy"],
             ["solve", sys.argv[1], sys.argv[1], "--method", "local"]):
    try:
        cli(args, prog_name="mecopt")
    except SystemExit as exc:
        assert not exc.code, (args, exc.code)
    for heavy in ("torch", "scipy.optimize"):  # seconds of start-up on a busy machine
        assert heavy not in sys.modules, f"mecopt {' '.join(args)} imported {heavy}"
print("no torch")
"""


def test_cli_without_a_learned_method_imports_no_torch_or_scipy_optimize():
    res = subprocess.run([sys.executable, "-c", NO_TORCH, PAPER0], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.rstrip().endswith("no torch")
    # `mecopt methods` still says that the learned methods are available (found, not imported).
    assert "lambo      available" in res.stdout


# Run one CLI command in a fresh interpreter, then list which of the given modules it imported.
IMPORTED = """
import sys
from mecopt.cli.main import cli
args, heavy = sys.argv[1].split(), sys.argv[2].split()
try:
    cli(args, prog_name="mecopt")
except SystemExit as exc:
    assert not exc.code, (args, exc.code)
print("imported:", *[name for name in heavy if name in sys.modules])
"""

# Each costs tens of milliseconds to seconds of a greedy start that should stay under 0.3 s
# (issue #19; benchmarks/bench_startup.py measures it).
NOT_FOR_GREEDY = ("torch", "scipy", "pyomo", "highspy", "pymoo", "matplotlib", "fastapi", "dask",
                  "multiprocessing", "importlib.metadata", "mecopt.bench", "mecopt.generators",
                  "mecopt.learned")
# `mecopt methods` lists every method without importing its solver library.
NOT_FOR_METHODS = ("torch", "scipy", "pyomo", "highspy", "pymoo")


@pytest.mark.parametrize("args, heavy", [
    (f"solve {PAPER0} --method greedy -o {{out}}", NOT_FOR_GREEDY),
    ("methods", NOT_FOR_METHODS),
])
def test_a_command_imports_only_what_it_uses(args, heavy, tmp_path):
    args = args.format(out=tmp_path / "sol.json")
    res = subprocess.run([sys.executable, "-c", IMPORTED, args, " ".join(heavy)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.splitlines()[-1] == "imported:", f"mecopt {args}: {res.stdout[-300:]}"


def test_summary_is_one_short_line_at_50_servers():
    inst = mecopt.generate("hetero", n_ues=400, n_servers=50, seed=1)
    sol = mecopt.solve(inst, "latency", "greedy")
    line = sol.summary()
    assert sol.feasible and "\n" not in line and len(line) < 160, line
    counts = [sol.assignment.count(j) for j in range(51)]
    busiest = max(range(1, 51), key=lambda j: (counts[j], -j))
    assert f"local {counts[0]}, offloaded {400 - counts[0]} to " in line
    assert f"busiest server {busiest} ({counts[busiest]} UEs)" in line


def test_placement_words():
    assert placement([0, 0]) == "local 2, offloaded 0"
    assert placement([0, 2, 2, 1]) == ("local 1, offloaded 3 to 2 servers, busiest server 2 "
                                       "(2 UEs)")
    assert placement([3]) == "local 0, offloaded 1 to 1 server, busiest server 3 (1 UE)"


# HiGHS prints a banner to file descriptor 1 when the first instance of a process is made.
QUIET_HIGHS = """
import sys
from mecopt.relaxation import quiet_highs
quiet_highs()
quiet_highs()
print("pyomo imported:", "pyomo" in sys.modules)
"""


def test_quiet_highs_prints_nothing_and_imports_no_pyomo():
    # Nothing but the script's own line on stdout (where the CLI may write a solution JSON),
    # and no Pyomo: its import hook would make every later scipy import load scipy.stats.
    res = subprocess.run([sys.executable, "-c", QUIET_HIGHS], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout == "pyomo imported: False\n"


@pytest.mark.skipif(sys.platform == "win32", reason="closes file descriptor 1 (POSIX)")
def test_quiet_highs_runs_without_a_stdout():
    # A process started with descriptor 1 closed (a daemon, `cmd >&-`) has sys.stdout None.
    import os

    script = "import sys; from mecopt.relaxation import quiet_highs; quiet_highs(); " \
             "sys.stderr.write('made')"
    res = subprocess.run([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True,
                         timeout=120, preexec_fn=lambda: os.close(1))
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stderr == "made"
