"""`mecopt serve` (mecopt.serve): the real server on a free port, called with httpx."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("fastapi")  # a guard only: the README's install has the serve extra
httpx = pytest.importorskip("httpx")

import mecopt  # noqa: E402
from mecopt.errors import InputError  # noqa: E402

from conftest import INSTANCES, ROOT  # noqa: E402

PAPER = sorted((INSTANCES / "paper").glob("paper-*.json"))
PAPER0 = PAPER[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client():
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mecopt.cli", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        start = time.monotonic()
        while True:  # torch's import and the model's warm-up come first
            if proc.poll() is not None:
                pytest.fail(f"mecopt serve exited: {proc.stdout.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() - start > 180:
                pytest.fail("mecopt serve did not answer /health within 180 s")
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=120) as c:
            yield c
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def instance_json(path=PAPER0) -> dict:
    return json.loads(path.read_text())


def cli_solution(path, method: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "mecopt.cli", "solve", str(path), "--method",
                          method], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def check_feasible(path, sol: dict) -> None:
    assert sol["status"] in ("optimal", "feasible"), sol["message"]
    ev = mecopt.evaluate(mecopt.Instance.load(path), np.array(sol["assignment"]),
                         np.array(sol["allocation_hz"]))
    assert ev.feasible
    assert ev.value(sol["objective"]) == pytest.approx(sol["objective_value"], rel=1e-9)


@pytest.mark.parametrize("method", ["greedy", "lambo"])
def test_solve_is_feasible_and_equals_the_cli(client, method):
    r = client.post("/solve", json={"instance": instance_json(), "method": method})
    assert r.status_code == 200, r.text
    sol = r.json()
    check_feasible(PAPER0, sol)
    cli = cli_solution(PAPER0, method)
    assert sol["assignment"] == cli["assignment"]
    assert sol["objective_value"] == pytest.approx(cli["objective_value"], rel=1e-12)
    assert set(sol) == set(cli)  # the same solution JSON as `mecopt solve` writes


def test_prompt_and_options(client):
    r = client.post("/solve", json={"instance": instance_json(), "prompt": "Minimum energy",
                                    "method": "lambo", "options": {"samples": 4}, "seed": 3})
    assert r.status_code == 200, r.text
    sol = r.json()
    assert sol["objective"] == "energy" and sol["extra"]["decoding"] == "best of 4"
    check_feasible(PAPER0, sol)


def test_deadline_returns_the_best_decision_so_far(client):
    r = client.post("/solve", json={"instance": instance_json(), "method": "greedy",
                                    "options": {"lns": 1}, "deadline_ms": 50})
    assert r.status_code == 200, r.text
    check_feasible(PAPER0, r.json())


def test_solve_many_keeps_input_order(client):
    paths = PAPER[:4]
    body = {"instances": [instance_json(p) for p in paths[:2]] + [7]
            + [instance_json(p) for p in paths[2:]], "method": "lambo"}
    r = client.post("/solve_many", json=body)
    assert r.status_code == 200, r.text
    sols = r.json()
    assert [s["instance"] for s in sols] == ["paper-000", "paper-001", "instance 2",
                                             "paper-002", "paper-003"]
    assert sols[2]["status"] == "error" and "\n" not in sols[2]["message"]
    for path, sol in zip(paths, sols[:2] + sols[3:], strict=True):
        check_feasible(path, sol)
        alone = client.post("/solve", json={"instance": instance_json(path),
                                            "method": "lambo"}).json()
        assert sol["assignment"] == alone["assignment"]


def test_methods_and_health(client):
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    listing = {m["name"]: m for m in client.get("/methods").json()}
    assert set(listing) == set(mecopt.method_names())
    assert listing["lambo"]["available"] and "samples" in listing["lambo"]["options"]
    assert listing["greedy"]["description"]


def test_malformed_instance_gets_the_clis_one_line_error(client):
    bad = instance_json()
    bad["ues"]["cycles"] = bad["ues"]["cycles"][:3]
    with pytest.raises(InputError) as expected:
        mecopt.Instance.from_dict(bad)
    r = client.post("/solve", json={"instance": bad, "method": "greedy"})
    assert 400 <= r.status_code < 500
    error = r.json()["error"]
    assert "\n" not in error and "cycles" in error
    assert error.endswith(str(expected.value))


@pytest.mark.parametrize("body, field", [
    ({"method": "nope"}, "method"),
    ({"method": "lambo", "options": {"nope": 1}}, "option nope"),
    ({"method": "lambo", "options": {"samples": 0}}, "option samples"),
    ({"time_limit": -1}, "time_limit"),
    ({"deadline_ms": "soon"}, "deadline_ms"),
    ({"objective": "fastest"}, "objective"),
    ({"colour": "red"}, "colour"),
])
def test_bad_request_is_a_4xx_naming_the_field(client, body, field):
    r = client.post("/solve", json={"instance": instance_json(), **body})
    assert 400 <= r.status_code < 500, r.text
    error = r.json()["error"]
    assert error.startswith(field) and "\n" not in error


@pytest.mark.parametrize("content", [b'{"instance": ', b"[1, 2]", b"\xff\xfe"])
def test_malformed_json_is_a_4xx(client, content):
    r = client.post("/solve", content=content)
    assert 400 <= r.status_code < 500
    assert "\n" not in r.json()["error"]


def test_concurrent_requests_are_all_answered(client):
    jobs = [(PAPER[k % len(PAPER)], "lambo" if k % 4 else "greedy") for k in range(16)]

    def call(job):
        path, method = job
        return client.post("/solve", json={"instance": instance_json(path), "method": method})

    before = client.get("/health").json()["batched"]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, jobs))
    after = client.get("/health").json()["batched"]
    # By default (no window) every lambo request still goes through the batcher.
    assert after["requests"] - before["requests"] == sum(m == "lambo" for _, m in jobs)
    for (path, method), r in zip(jobs, answers, strict=True):
        assert r.status_code == 200, r.text
        sol = r.json()
        assert sol["method"] == method and sol["instance"] == path.stem
        check_feasible(path, sol)
        # Batched or not, each instance gets the decision it gets alone.
        alone = mecopt.solve(mecopt.Instance.load(path), "latency", method)
        assert sol["assignment"] == alone.assignment


def test_core_does_not_import_fastapi():
    code = ("import sys, mecopt, mecopt.cli.main; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_serve_without_the_extra_says_how_to_install_it(monkeypatch):
    import importlib.util

    from click.testing import CliRunner

    from mecopt.cli.main import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "fastapi" else real(name, *a))
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and 'pip install "mecopt[serve]"' in result.output


def test_batcher_sends_a_lone_request_at_once_and_batches_under_load():
    """With window 0 a request that finds nothing running goes at once (a batch of one);
    requests that arrive while a batch runs form the next batch."""
    import asyncio
    import threading

    from mecopt.serve import Batcher, parse_call

    sizes: list[int] = []
    release = threading.Event()

    class SlowBatches:
        name = "fake"

        def solve_batch(self, instances, objective, **kwargs):
            sizes.append(len(instances))
            release.wait(5)
            return list(instances)

    async def scenario():
        batcher = Batcher(ThreadPoolExecutor(2), window=0.0)
        call = parse_call({}, {"method"}, time.perf_counter())
        key = ("fake",)
        first = asyncio.ensure_future(batcher.solve(SlowBatches(), "a", call, key))
        while not sizes:  # the first is running on its own, not waiting for company
            await asyncio.sleep(0.001)
        rest = [asyncio.ensure_future(batcher.solve(SlowBatches(), x, call, key))
                for x in "bcd"]
        await asyncio.sleep(0.05)
        release.set()
        return await first, await asyncio.gather(*rest)

    first, rest = asyncio.run(scenario())
    assert first == "a" and rest == ["b", "c", "d"]
    assert sizes == [1, 3]
