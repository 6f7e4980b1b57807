"""docs/extending.md's worked examples, run as a newcomer would run them.

The page marks each example file with a `File: path` line before its code block. The method
example is built as a package and installed into a temporary virtual environment, where the
`mecopt` command must list it and benchmark it; the other examples are imported here and
exercised in-process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import site
import subprocess
import sys
import sysconfig
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pytest

import mecopt
from mecopt import registry

from conftest import INSTANCES, ROOT

PAGE = ROOT / "docs" / "extending.md"
FILE_BLOCK = re.compile(r"^File: `([^`]+)`\n\n```[\w-]*\n(.*?)^```", re.S | re.M)
PLUGIN = "mecopt-cheapest-fit"


def example_files() -> dict[str, str]:
    """Every `File:` block of the page: relative path -> text."""
    files = {m[1]: m[2] for m in FILE_BLOCK.finditer(PAGE.read_text())}
    assert files, f"{PAGE}: no `File:` code blocks found"
    return files


def write_examples(root: Path) -> dict[str, Path]:
    out = {}
    for rel, text in example_files().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        out[rel] = path
    return out


def load_module(path: Path):
    """Import one example file as a module of its own name."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> dict[str, Path]:
    return write_examples(tmp_path_factory.mktemp("extending"))


def test_page_has_every_example(examples):
    assert {f"{PLUGIN}/pyproject.toml", f"{PLUGIN}/mecopt_cheapest_fit.py", "crowd_family.py",
            "small_server_scenario.py", "max_latency_objective.py",
            "tiny_policy.py"} <= set(examples)


# ------------------------------------------------------------------------- a method
def _child_venv(where: Path) -> Path:
    """A venv whose interpreter also sees this environment's site-packages (mecopt, its
    dependencies, pip and setuptools), so nothing is downloaded. `--system-site-packages`
    would only reach the base interpreter's packages when this one is itself a venv, so a
    .pth file adds this environment's site directories (and runs their .pth files, which is
    where an editable mecopt lives)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    dirs = list(dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"]]))
    Path(purelib, "_mecopt_parent.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({d!r})" for d in dirs) + "\n")
    return python


def _setuptools_builds_offline() -> bool:
    """setuptools >= 70.1 builds wheels (and editable wheels) without the `wheel` package."""
    try:
        major, minor = (int(x) for x in version("setuptools").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def test_plugin_package_is_listed_and_benchmarked(examples, tmp_path):
    """The guide's plugin, pip-installed (editable, offline) into a fresh venv: `mecopt
    methods` lists it and `mecopt bench` runs it."""
    assert _setuptools_builds_offline(), (
        "building the example plugin offline needs setuptools >= 70.1 (or the wheel package) "
        "in the test environment: pip install -U setuptools")
    python = _child_venv(tmp_path / "venv")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PIP_NO_INPUT": "1", "PIP_CONFIG_FILE": os.devnull, "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    pip = subprocess.run([str(python), "-m", "pip", "install", "--no-deps",
                          "--no-build-isolation", "-e", str(examples[f"{PLUGIN}/pyproject.toml"]
                                                            .parent)],
                         env=env, capture_output=True, text=True, cwd=tmp_path)
    assert pip.returncode == 0, pip.stdout + pip.stderr

    # What the `mecopt` console script runs (the child venv has no script of its own).
    mecopt_cli = [str(python), "-c", "from mecopt.cli.main import main; main()"]
    listed = subprocess.run([*mecopt_cli, "methods"], env=env, capture_output=True, text=True,
                            cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    line = next((x for x in listed.stdout.splitlines() if x.startswith("cheapest_fit")), "")
    assert "available" in line and "unavailable" not in line, listed.stdout

    out = tmp_path / "bench"
    bench = subprocess.run([*mecopt_cli, "bench", str(INSTANCES / "tiny" / "tiny-000.json"),
                            str(INSTANCES / "tiny" / "tiny-008.json"),
                            "--methods", "cheapest_fit,roomy=cheapest_fit:headroom=0.1",
                            "--out", str(out)],
                           env=env, capture_output=True, text=True, cwd=tmp_path)
    assert bench.returncode == 0, bench.stderr
    rows = json.loads((out / "results.json").read_text())
    rows = rows["rows"] if isinstance(rows, dict) else rows
    got = {(r["method"], r["instance"], r["objective"]): r["status"] for r in rows}
    assert len(got) == 8
    for label in ("cheapest_fit", "roomy"):
        for obj in ("latency", "energy"):
            assert got[(label, "tiny-000", obj)] == "feasible"
            assert got[(label, "tiny-008", obj)] == "infeasible"  # the certificate's word


def test_method_class_in_process(examples, monkeypatch):
    """The same class as a Method subclass, and as a solvers/ file registered by name."""
    module = load_module(examples[f"{PLUGIN}/mecopt_cheapest_fit.py"])
    cls = module.CheapestFitMethod
    statuses = {}
    for path in sorted((INSTANCES / "tiny").glob("tiny-*.json")):
        inst = mecopt.Instance.load(path)
        sol = mecopt.solve(inst, "energy", cls)
        statuses[inst.name] = sol.status
        if sol.feasible:
            assert mecopt.evaluate(inst, sol.assignment).feasible
    counts = {s: list(statuses.values()).count(s) for s in set(statuses.values())}
    assert counts == {"feasible": 7, "no_solution": 2, "infeasible": 1}, statuses  # as the page
    assert statuses["tiny-008"] == "infeasible"

    # A file in solvers/ is one line in registry.BUILTIN; here the module is on sys.path.
    monkeypatch.setitem(registry.BUILTIN, "cheapest_fit", "mecopt_cheapest_fit:CheapestFitMethod")
    assert "cheapest_fit" in mecopt.method_names()
    paper = mecopt.Instance.load(INSTANCES / "paper" / "paper-000.json")
    sol = mecopt.solve(paper, "latency", "cheapest_fit", headroom=0.1)
    assert sol.status == "feasible"
    a = np.array(sol.assignment)
    load = [paper.f_min[a == j, j - 1].sum() for j in range(1, paper.n_servers + 1)]
    assert np.all(np.array(load) <= 0.9 * paper.capacity_hz)  # the headroom was kept
    with pytest.raises(mecopt.InputError, match="option headroom"):
        mecopt.solve(paper, "latency", "cheapest_fit", headroom="lots")
    with pytest.raises(mecopt.InputError, match=r"option headroom: must be in \[0, 1\), got 1.0"):
        mecopt.solve(paper, "latency", "cheapest_fit", headroom=1.0)


# ------------------------------------------------------------------------- a family
def test_family_example(examples, monkeypatch):
    from mecopt import generators

    # Loading the example adds its row to the family table: undo that after the test.
    monkeypatch.setattr(generators, "FAMILY_TABLE", dict(generators.FAMILY_TABLE))
    load_module(examples["crowd_family.py"])
    a, b = mecopt.generate("crowd", seed=3), mecopt.generate("crowd", seed=3)
    assert a.to_json() == b.to_json()  # same seed, same bytes
    assert (a.n_ues, a.n_servers) == (150, 4) and a.meta["params"]["family"] == "crowd"
    assert 0.3 < (~a.local_ok).mean() < 0.7  # "about half the UEs must offload"
    assert mecopt.solve(a, "energy", "greedy").feasible
    small = mecopt.generate("crowd", 20, 2, seed=0)
    assert (small.n_ues, small.n_servers) == (20, 2)


# ----------------------------------------------------------------------- a scenario
def test_scenario_example(examples, monkeypatch):
    from mecopt.learned import scenarios

    module = load_module(examples["small_server_scenario.py"])
    scenario = module.SMALL_SERVER_DROP
    monkeypatch.setitem(scenarios.SCENARIOS, scenario.name, scenario)  # as if in the tuple
    assert scenarios.get_scenario("small-server-drop") is scenario
    steps = scenarios.scenario_instances("small-server-drop", 0, scenarios.DRIFT_STEP + 1,
                                         n_ues=10)
    before, after = steps[-2].capacity_hz, steps[-1].capacity_hz
    assert after[0] == pytest.approx(0.25 * before[0]) and np.array_equal(after[1:], before[1:])


# ----------------------------------------------------------------------- an objective
def test_objective_example(examples):
    module = load_module(examples["max_latency_objective.py"])
    inst = mecopt.generate("paper", n_ues=5, n_servers=2, seed=1)
    worst, a_worst = module.best(inst, module.max_latency)
    mean, a_mean = module.best(inst, lambda ev: ev.mean_latency_s)
    assert a_worst != a_mean  # a different problem, as the page says
    assert worst == pytest.approx(mecopt.evaluate(inst, np.array(a_worst)).latency_s.max())


# The files that branch on the objective, by the page's own rule.
BRANCHES = re.compile(r"Objective\.(LATENCY|ENERGY)|in Objective\b|[\"'](latency|energy)[\"']")


def test_objective_list_names_every_place():
    section = PAGE.read_text().split("## An objective", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`((?:mecopt|solvers|learned|cli)/[\w/]+\.py)`", section))
    found = {str(p.relative_to(ROOT)) for folder in ("mecopt", "solvers", "learned", "cli")
             for p in sorted((ROOT / folder).rglob("*.py")) if BRANCHES.search(p.read_text())}
    assert not found - listed, f"docs/extending.md, 'An objective': add {sorted(found - listed)}"
    missing = sorted(p for p in listed if not (ROOT / p).is_file())
    assert not missing, f"docs/extending.md, 'An objective', lists missing files: {missing}"


# ------------------------------------------------------------------- a learned policy
def test_learned_policy_example(examples, tmp_path):
    import torch  # a dependency of mecopt; imported here so collection stays fast

    module = load_module(examples["tiny_policy.py"])
    train_set = [mecopt.generate("paper", n_ues=8, seed=100)]
    ckpt = module.train(module.TinyConfig(samples=8), train_set, steps=2)
    path = tmp_path / "tiny.pt"
    torch.save(ckpt, path)
    inst = mecopt.generate("paper", n_ues=12, seed=1)
    sol = mecopt.solve(inst, "energy", module.TinyPolicyMethod, checkpoint=str(path),
                       samples=8, seed=0)
    assert sol.status == "feasible" and mecopt.evaluate(inst, sol.assignment).feasible
    again = mecopt.solve(inst, "energy", module.TinyPolicyMethod, checkpoint=str(path),
                         samples=8, seed=0)
    assert again.assignment == sol.assignment  # seeded
