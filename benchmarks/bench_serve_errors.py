"""The solver service (`mecopt serve`) under malformed requests, with valid ones between them.

    python benchmarks/bench_serve_errors.py [--bad 1000] [--every 10] [--seed 0]
                                            [--json out.json]

Starts `mecopt serve` on a free port (the real server, in its own process), then sends
`--bad` malformed POST /solve requests, drawn in turn from the kinds below with a seeded
generator, and after every `--every` of them one valid request (a shipped paper instance,
greedy or lambo in turn). Checks:
- every malformed request gets a 4xx whose body is {"error": "<one line>"} (no newline, no
  traceback), and the line names what is wrong (the kind's field);
- every valid request gets a 200 with a solution whose decision `mecopt.evaluate` finds
  feasible with the value it claims;
- the service is up at the end (GET /health, and its process has not exited).
Kinds: truncated JSON, not an object, NaN and negative values in the instance, arrays of
the wrong length, a missing instance field, a huge N (a body over the service's 64 MiB
limit, a few of them), an unknown method, an unknown option, an option out of its domain,
an unknown field, a bad time limit and a bad objective. Prints the counts per kind and
exits non-zero if any check fails.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from bench_serve import Checker, free_port, start_server

HUGE_UES = 1_300_000  # a body of about 70 MB: over the service's 64 MiB limit


def kinds(body: dict) -> dict[str, tuple[str, bytes]]:
    """Per kind: (a word the error line must contain, the raw request body)."""
    inst = body["instance"]

    def with_instance(change) -> bytes:
        bad = copy.deepcopy(inst)
        change(bad)
        return json.dumps({**body, "instance": bad}).encode()  # NaN is written as NaN

    def nan(x):
        x["ues"]["cycles"][3] = float("nan")

    def negative(x):
        x["ues"]["data_bits"][0] = -1.0

    def short(x):
        x["ues"]["deadline_s"] = x["ues"]["deadline_s"][:-1]

    def missing(x):
        del x["servers"]["capacity_hz"]

    raw = json.dumps(body).encode()
    return {
        "truncated JSON": ("malformed JSON", raw[: len(raw) // 2]),
        "not an object": ("object", b"[1, 2, 3]"),
        "NaN": ("cycles", with_instance(nan)),
        "negative size": ("data_bits", with_instance(negative)),
        "wrong shape": ("deadline_s", with_instance(short)),
        "missing field": ("capacity_hz", with_instance(missing)),
        "unknown method": ("method", json.dumps({**body, "method": "simplex"}).encode()),
        "unknown option": ("option", json.dumps({**body, "options": {"tabu": 3}}).encode()),
        "option out of domain": ("samples", json.dumps({**body, "method": "lambo",
                                                        "options": {"samples": 0}}).encode()),
        "unknown field": ("unknown field", json.dumps({**body, "budget": 3}).encode()),
        "bad time limit": ("time_limit", json.dumps({**body, "time_limit": -1}).encode()),
        "bad objective": ("objective", json.dumps({**body, "objective": "cost"}).encode()),
    }


def huge_body(body: dict) -> bytes:
    """A request for an instance of HUGE_UES UEs (valid in form, too large to accept)."""
    inst = copy.deepcopy(body["instance"])
    for key, values in inst["ues"].items():
        inst["ues"][key] = [values[0]] * HUGE_UES
    inst["rate_bps"] = [inst["rate_bps"][0]] * HUGE_UES
    return json.dumps({**body, "instance": inst}).encode()


def check_bad(word: str, r: httpx.Response) -> str:
    if not 400 <= r.status_code < 500:
        return f"HTTP {r.status_code} (expected a 4xx): {r.text[:200]}"
    try:
        line = r.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"body is not {{'error': ...}}: {r.text[:200]}"
    if "\n" in line or "Traceback" in line:
        return f"not one line: {line[:200]!r}"
    if word.lower() not in line.lower():
        return f"does not name {word!r}: {line}"
    return ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bad", type=int, default=1000, help="malformed requests")
    ap.add_argument("--every", type=int, default=10, help="one valid request after this many")
    ap.add_argument("--huge", type=int, default=3, help="of the malformed: bodies over 64 MiB")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the counts here")
    args = ap.parse_args()

    checker = Checker()  # the valid answers, checked as bench_serve.py checks them
    bodies = [{"instance": b, "method": "greedy"} for b in checker.bodies]
    rng = np.random.default_rng(args.seed)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_args = argparse.Namespace(threads=2, batch_window=0.0, no_batching=False)
    proc = start_server(port, server_args)
    sent, failed = Counter(), Counter()
    first_failure: dict[str, str] = {}
    valid = 0
    huge_at = set(rng.choice(args.bad, size=min(args.huge, args.bad), replace=False).tolist())
    start = time.perf_counter()
    try:
        with httpx.Client(base_url=base, timeout=120,
                          headers={"content-type": "application/json"}) as c:
            for i in range(args.bad):
                k = int(rng.integers(len(bodies)))
                if i in huge_at:
                    kind, (word, raw) = "huge N", ("bytes", huge_body(bodies[k]))
                else:
                    table = kinds(bodies[k])
                    kind = list(table)[i % len(table)]
                    word, raw = table[kind]
                why = check_bad(word, c.post("/solve", content=raw))
                sent[kind] += 1
                if why:
                    failed[kind] += 1
                    first_failure.setdefault(kind, why)
                if (i + 1) % args.every == 0:
                    method = ("greedy", "lambo")[(i // args.every) % 2]
                    checker.check(k, c.post("/solve", json={**bodies[k], "method": method}))
                    valid += 1
            health = c.get("/health").status_code
    finally:
        up = proc.poll() is None
        proc.terminate()
        proc.wait(timeout=30)
    wall = time.perf_counter() - start
    valid_failed = len(checker.errors)
    if checker.errors:
        first_failure["valid"] = checker.errors[0]
    print(f"{sum(sent.values())} malformed requests and {valid} valid ones in {wall:.1f} s")
    print(f"{'kind':22s} {'sent':>5s} {'wrong answer':>13s}")
    for kind in sorted(sent):
        print(f"{kind:22s} {sent[kind]:5d} {failed[kind]:13d}")
    print(f"valid requests: {valid}, failed {valid_failed}; service up at the end: "
          f"{up and health == 200}")
    for kind, why in first_failure.items():
        print(f"  first failure, {kind}: {why}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"malformed": dict(sent), "wrong_answers": dict(failed), "valid": valid,
             "valid_failed": valid_failed, "up": bool(up and health == 200),
             "wall_s": wall}, indent=1) + "\n")
    ok = not failed and not valid_failed and up and health == 200
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
