"""The solver service (`mecopt serve`) under load: latency with one client, throughput with
many.

    python benchmarks/bench_serve.py [--methods lambo,greedy,highs] [--requests 200]
                                     [--clients 16] [--seconds 10] [--batch-window 0]
                                     [--threads 2] [--json out.json]

Starts `mecopt serve` on a free port (the real server, in its own process), then for each
method on the shipped paper instances (4 servers x 50 UEs, minimum latency):
- one client: `--requests` sequential POST /solve calls; p50 and p99 of the wall time per
  request, as the client sees it (HTTP and JSON included);
- `--clients` concurrent clients (threads, one HTTP connection each) for `--seconds`:
  solves per second, and p50/p99 latency under that load.
Every answer is checked: status 200, the instance's name, and the decision feasible by
mecopt.evaluate with the value it claims. The issue's targets (lambo): p50 <= 20 ms and
p99 <= 60 ms with one client, >= 300 solves/s at 16 clients. The machine's load averages
are printed beside the figures: on a shared machine every figure depends on them.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from processes import load_line

import mecopt

ROOT = Path(__file__).resolve().parents[1]
PAPER = sorted((ROOT / "instances" / "paper").glob("paper-*.json"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, args: argparse.Namespace) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "mecopt.cli", "serve", "--port", str(port),
                             "--threads", str(args.threads), "--batch-window",
                             str(args.batch_window)] + ["--no-batching"] * args.no_batching,
                            cwd=ROOT)
    start = time.monotonic()
    while time.monotonic() - start < 300:
        if proc.poll() is not None:
            raise SystemExit("mecopt serve exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("mecopt serve did not start within 300 s")


class Checker:
    """Checks every answer against its instance; counts what fails."""

    def __init__(self) -> None:
        self.instances = [mecopt.Instance.load(p) for p in PAPER]
        self.bodies = [json.loads(p.read_text()) for p in PAPER]
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def check(self, k: int, r: httpx.Response) -> None:
        inst = self.instances[k]
        why = ""
        if r.status_code != 200:
            why = f"HTTP {r.status_code}: {r.text[:200]}"
        else:
            sol = r.json()
            if sol["instance"] != inst.name:
                why = f"answer for {sol['instance']}, asked {inst.name}"
            elif sol["status"] not in ("optimal", "feasible"):
                why = f"{inst.name}: status {sol['status']}: {sol['message']}"
            else:
                ev = mecopt.evaluate(inst, np.array(sol["assignment"]),
                                     np.array(sol["allocation_hz"]))
                if not ev.feasible or not np.isclose(ev.value("latency"),
                                                     sol["objective_value"], rtol=1e-9):
                    why = f"{inst.name}: the decision does not check"
        if why:
            with self.lock:
                self.errors.append(why)


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, q)) if xs else float("nan")


def one_client(base: str, method: str, n: int, checker: Checker) -> dict:
    times = []
    with httpx.Client(base_url=base, timeout=120) as c:
        for i in range(n + 5):
            k = i % len(PAPER)
            start = time.perf_counter()
            r = c.post("/solve", json={"instance": checker.bodies[k], "method": method})
            elapsed = time.perf_counter() - start
            checker.check(k, r)  # outside the timed call
            if i >= 5:  # the first few warm the connection and the method up
                times.append(elapsed)
    return {"requests": n, "p50_ms": pct(times, 50), "p99_ms": pct(times, 99)}


def many_clients(base: str, method: str, clients: int, seconds: float,
                 checker: Checker) -> dict:
    times: list[float] = []
    answers: list[tuple[int, httpx.Response]] = []  # checked after the timed phase
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(j: int) -> None:
        mine, got = [], []
        with httpx.Client(base_url=base, timeout=120) as c:
            i = j
            while time.perf_counter() < stop:
                k = i % len(PAPER)
                start = time.perf_counter()
                r = c.post("/solve", json={"instance": checker.bodies[k], "method": method})
                mine.append(time.perf_counter() - start)
                got.append((k, r))
                i += clients
        with lock:
            times.extend(mine)
            answers.extend(got)

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(j,)) for j in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    for k, r in answers:
        checker.check(k, r)
    return {"clients": clients, "solves": len(times), "wall_s": wall,
            "solves_per_s": len(times) / wall, "p50_ms": pct(times, 50), "p99_ms": pct(times, 99)}


def table(data: dict) -> str:
    """The markdown table of a `--json` file (docs/serve.md)."""
    out = ["| method | 1 client p50 | 1 client p99 | 16 clients | mean batch | errors |",
           "| --- | --- | --- | --- | --- | --- |"]
    for method, r in data["results"].items():
        one, many = r["one_client"], r["many_clients"]
        batch = "-" if many.get("mean_batch") is None else f"{many['mean_batch']:.1f}"
        out.append(f"| {method} | {one['p50_ms']:.1f} ms | {one['p99_ms']:.1f} ms | "
                   f"{many['solves_per_s']:.0f} solves/s | {batch} | {r['errors']} |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="lambo,greedy,highs")
    ap.add_argument("--requests", type=int, default=200, help="one-client requests per method")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0, help="concurrent phase per method")
    ap.add_argument("--batch-window", type=float, default=0.0, help="ms (mecopt serve's)")
    ap.add_argument("--no-batching", action="store_true", help="mecopt serve --no-batching")
    ap.add_argument("--threads", type=int, default=2, help="mecopt serve's solve threads")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    load_before = load_line()
    print(f"before: {load_before}", flush=True)
    proc = start_server(port, args)
    results = {}
    try:
        for method in args.methods.split(","):
            checker = Checker()
            single = one_client(base, method, args.requests, checker)
            before = httpx.get(f"{base}/health").json()["batched"]
            many = many_clients(base, method, args.clients, args.seconds, checker)
            after = httpx.get(f"{base}/health").json()["batched"]
            n_batches = after["batches"] - before["batches"]
            many["mean_batch"] = ((after["requests"] - before["requests"]) / n_batches
                                  if n_batches else None)
            results[method] = {"one_client": single, "many_clients": many,
                               "errors": len(checker.errors)}
            print(f"{method:7s} 1 client: p50 {single['p50_ms']:.1f} ms, p99 "
                  f"{single['p99_ms']:.1f} ms ({single['requests']} requests) | "
                  f"{many['clients']} clients: {many['solves_per_s']:.1f} solves/s, p50 "
                  f"{many['p50_ms']:.1f} ms, p99 {many['p99_ms']:.1f} ms ({many['solves']} "
                  f"solves in {many['wall_s']:.1f} s"
                  + (f", mean batch {many['mean_batch']:.1f}" if many["mean_batch"] else "")
                  + f") | errors {len(checker.errors)}"
                  + (f": {checker.errors[0]}" if checker.errors else ""), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"after: {load_line()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"load_before": load_before, "load": load_line(),
                                               "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
