"""`mecopt serve`: the solvers behind HTTP, for an online controller (docs/serve.md).

`create_app()` builds a FastAPI app (the optional `serve` extra; the core never imports
this module). Endpoints:

- POST /solve: {"instance": {...}, "objective" or "prompt", "method", "options",
  "time_limit", "seed", "bound", "deadline_ms"} -> the solution JSON, exactly as
  `mecopt solve` writes it.
- POST /solve_many: the same with "instances": [...] -> a list of solutions, in order
  (mecopt.solve_many; a bad instance gets an error record, the others are solved).
- GET /methods: every method, its availability, description and options.
- GET /health: {"status": "ok", "version": ...}.

Each (method, options) is built once and kept, so LAMBO's model loads once (and is loaded
at start-up). Solves run in a thread pool, so concurrent requests are served; /solve
requests for a batching method (LAMBO with greedy decoding) with the same method, options,
objective, seed and time limit are solved together in one `Method.solve_batch` call, which
gives each instance the decision it gets alone: a request that finds no batch of its kind
running goes at once (after `batch_window_ms`, 0 by default), and the requests that arrive
while a batch runs form the next one.

Malformed input is a 4xx whose body is {"error": "<one line>"}, the line the CLI prints;
a method that fails gives a solution whose status says so (a 200), never a 500.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

import mecopt
from mecopt.batch import Unreadable, from_data
from mecopt.errors import InputError, json_kind
from mecopt.instance import Instance
from mecopt.method import Method, failure
from mecopt.objective import Objective
from mecopt.registry import get_method
from mecopt.solution import Solution
from mecopt.status import Status

MAX_BODY_BYTES = 64 << 20  # a request larger than this is refused (413)
MAX_BATCH = 256  # /solve requests merged into one solve_batch call at most

SOLVE_FIELDS = {"instance", "objective", "prompt", "method", "options", "time_limit", "seed",
                "bound", "deadline_ms"}
MANY_FIELDS = (SOLVE_FIELDS - {"instance"}) | {"instances"}


class RequestError(Exception):
    """A request the service refuses: an HTTP status and a one-line message."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Call:
    """What a solve request asks for, checked."""

    objective: Objective
    method: str
    options: dict[str, Any]
    time_limit: float | None
    seed: int
    bound: bool
    deadline: float | None  # perf_counter time by which the answer is due
    instances: list[Any] = field(default_factory=list)


# ------------------------------------------------------------------------------ parsing
def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body, or a RequestError (400) saying what is wrong."""
    if len(raw) > MAX_BODY_BYTES:
        raise RequestError(f"request: body of {len(raw)} bytes, at most {MAX_BODY_BYTES}", 413)
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise RequestError("request: body is not UTF-8 text", 400) from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"request: malformed JSON at line {exc.lineno} column {exc.colno}: "
                           f"{exc.msg}", 400) from None
    if not isinstance(data, dict):
        raise RequestError(f"request: expected a JSON object, got {json_kind(data)}", 400)
    return data


def parse_call(data: dict[str, Any], fields: set[str], received: float) -> Call:
    """Check the common fields of /solve and /solve_many (InputError names the field)."""
    unknown = sorted(set(data) - fields)
    if unknown:
        raise InputError(f"{unknown[0]}: unknown field; valid: {', '.join(sorted(fields))}")
    objective, prompt = data.get("objective"), data.get("prompt")
    if objective is not None and prompt is not None:
        raise InputError("objective: give objective or prompt, not both")
    try:
        obj = Objective.parse(prompt if prompt is not None else objective or "latency")
    except InputError as exc:
        raise InputError(str(exc).replace("objective:", "prompt:", 1) if prompt is not None
                         else str(exc)) from None
    method = data.get("method", "greedy")
    if not isinstance(method, str):
        raise InputError(f"method: expected a name, got {json_kind(method)}")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise InputError(f"options: expected an object, got {json_kind(options)}")
    for key, value in options.items():
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            raise InputError(f"option {key}: expected a number, text or true/false, "
                             f"got {json_kind(value)}")
    time_limit = _positive(data.get("time_limit"), "time_limit")
    deadline_ms = _positive(data.get("deadline_ms"), "deadline_ms")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InputError(f"seed: expected an integer in [0, 2^63), got {seed!r}")
    bound = data.get("bound", False)
    if not isinstance(bound, bool):
        raise InputError(f"bound: expected true or false, got {bound!r}")
    deadline = None if deadline_ms is None else received + deadline_ms / 1000
    return Call(obj, method, dict(options), time_limit, seed, bound, deadline)


def _positive(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name}: expected a number, got {json_kind(value)}")
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{name}: must be positive and finite, got {value}")
    return float(value)


def time_limit_now(call: Call) -> float | None:
    """The time limit a solve starting now gets: the request's, cut to what is left of its
    deadline (at least 1 ms, so that the method still returns its first decision)."""
    if call.deadline is None:
        return call.time_limit
    left = max(call.deadline - time.perf_counter(), 1e-3)
    return left if call.time_limit is None else min(call.time_limit, left)


# ------------------------------------------------------------------------------ solvers
class Solvers:
    """One Method object per (method, options), built once and shared by the threads."""

    def __init__(self) -> None:
        self._built: dict[tuple, Method] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(method: str, options: dict[str, Any]) -> tuple:
        """What identifies a built method: its name and options."""
        return method, tuple(sorted((k, repr(v)) for k, v in options.items()))

    def built(self, method: str, options: dict[str, Any]) -> Method | None:
        """The method if it is built already (a lookup, cheap enough for the event loop)."""
        with self._lock:
            return self._built.get(self.key(method, options))

    def get(self, method: str, options: dict[str, Any]) -> Method:
        """The method, built on first use (which may load a model: run it in a thread)."""
        key = self.key(method, options)
        with self._lock:
            solver = self._built.get(key)
        if solver is None:
            solver = get_method(method)(**options)  # InputError: a one-line message
            solver.require_available()
            with self._lock:
                solver = self._built.setdefault(key, solver)
        return solver


def solve_one(solver: Method, instance: Instance, call: Call) -> Solution:
    """`solver.solve`, with a failure outside the method's own guard as an ERROR solution."""
    try:
        return solver.solve(instance, call.objective, time_limit=time_limit_now(call),
                            seed=call.seed, bound=call.bound)
    except InputError:
        raise
    except Exception as exc:  # never a 500 with a traceback
        return _failed(instance, call, solver.name, exc)


def _failed(instance: Instance, call: Call, method: str, exc: Exception) -> Solution:
    return Solution(instance=instance.name, objective=call.objective.value, method=method,
                    status=Status.ERROR, message=failure(exc).message)


@dataclass
class Pending:
    """/solve requests waiting to be solved in one batch."""

    solver: Method
    call: Call
    items: list[tuple[Instance, asyncio.Future, Call]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class Batcher:
    """Collects /solve requests for a batching method and solves them in one `solve_batch`
    call in the thread pool: a group is sent `window` seconds after its first request (at
    once with window 0; or at MAX_BATCH requests), and while a group of the same key is being
    solved the next one keeps collecting until it is done, so that batches grow with the load
    and a lone request waits for nothing."""

    def __init__(self, pool: ThreadPoolExecutor, window: float) -> None:
        self.pool, self.window = pool, window
        self.pending: dict[tuple, Pending] = {}
        self.running: set[tuple] = set()
        self.due: set[tuple] = set()  # window over, waiting for the running group
        self.batches = self.requests = 0

    async def solve(self, solver: Method, instance: Instance, call: Call, key: tuple) -> Solution:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        group = self.pending.get(key)
        if group is None:
            group = self.pending[key] = Pending(solver, call)
            if self.window > 0:
                group.timer = loop.call_later(self.window, self._due, key)
            else:  # after the requests already read in this turn of the event loop
                loop.call_soon(self._due, key)
        group.items.append((instance, future, call))
        if len(group.items) >= MAX_BATCH:
            if group.timer is not None:
                group.timer.cancel()
            self._due(key)
        return await future

    def _due(self, key: tuple) -> None:
        if key in self.running:
            self.due.add(key)
        else:
            self._flush(key)

    def _flush(self, key: tuple) -> None:
        self.due.discard(key)
        group = self.pending.pop(key, None)
        if group is None:
            return
        if group.timer is not None:
            group.timer.cancel()
        self.running.add(key)
        self.batches += 1
        self.requests += len(group.items)
        loop = asyncio.get_running_loop()
        task = loop.run_in_executor(self.pool, self._run, group)
        task.add_done_callback(lambda t: self._done(key, group, t))

    def _done(self, key: tuple, group: Pending, task: asyncio.Future) -> None:
        self.running.discard(key)
        self._deliver(group, task)
        if key in self.due:
            self._flush(key)

    @staticmethod
    def _run(group: Pending) -> list[Solution | Exception]:
        solver, call = group.solver, group.call
        instances = [inst for inst, _, _ in group.items]
        limits = [time_limit_now(c) for _, _, c in group.items]
        # One limit for the batch: the tightest (None when no request set one).
        given = [x for x in limits if x is not None]
        limit = min(given) if given else None
        try:
            return list(solver.solve_batch(instances, call.objective, time_limit=limit,
                                           seed=call.seed, bound=call.bound))
        except Exception:
            pass
        out: list[Solution | Exception] = []  # one at a time: only the one at fault fails
        for inst, _, c in group.items:
            try:
                out.append(solve_one(solver, inst, c))
            except InputError as exc:
                out.append(exc)
        return out

    @staticmethod
    def _deliver(group: Pending, task: asyncio.Future) -> None:
        try:
            results = task.result()
        except Exception as exc:
            results = [exc] * len(group.items)
        for (inst, future, call), result in zip(group.items, results, strict=True):
            if future.done():
                continue
            if isinstance(result, InputError):
                future.set_exception(result)
            elif isinstance(result, Exception):
                future.set_result(_failed(inst, call, group.solver.name, result))
            else:
                future.set_result(result)


# ------------------------------------------------------------------------------ the app
def methods_listing() -> list[dict[str, Any]]:
    """What `mecopt methods --options` prints, as JSON."""
    out = []
    for name, (ok, why, description) in mecopt.availability().items():
        entry: dict[str, Any] = {"name": name, "available": ok, "description": description,
                                 "reason": "" if ok else why, "options": {}}
        if ok:
            for key, opt in get_method(name).options.items():
                entry["options"][key] = {"type": opt.type.__name__, "default": opt.default,
                                         "domain": opt.domain, "help": opt.help}
        out.append(entry)
    return out


class Service:
    """What the endpoints share: the built methods, the solve threads and the batcher."""

    def __init__(self, threads: int, batch_window_ms: float, batching: bool = True) -> None:
        if threads < 1:
            raise InputError(f"threads: must be >= 1, got {threads}")
        if not (math.isfinite(batch_window_ms) and batch_window_ms >= 0):
            raise InputError(f"batch_window_ms: must be >= 0, got {batch_window_ms}")
        self.solvers = Solvers()
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mecopt-solve")
        self.batcher = Batcher(self.pool, batch_window_ms / 1000)
        self.batching = batching

    def warm_up(self, preload: Sequence[str]) -> None:
        """Build the `preload` methods and solve one instance with each (LAMBO: load and
        warm up its model), so that the first request does not pay for it."""
        probe = mecopt.generate("paper", seed=0)
        for name in preload:
            ok, _, _ = mecopt.availability().get(name, (False, "", ""))
            if ok:
                self.solvers.get(name, {}).solve(probe, "latency")

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` in a solve thread."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def guarded(self, request: Request,
                      handle: Callable[[dict, float], Any]) -> Response:
        """`handle(body, arrival time)`, its errors turned into one-line 4xx/500 answers."""
        received = time.perf_counter()
        try:
            return await handle(parse_body(await request.body()), received)
        except RequestError as exc:
            return error_response(str(exc), exc.status)
        except InputError as exc:
            return error_response(str(exc), 422)
        except Exception as exc:  # a bug of the service itself: still one line, no traceback
            return error_response(f"internal error: {failure(exc).message}", 500)

    async def solve(self, data: dict, received: float) -> Response:
        """POST /solve: one instance, its solution JSON."""
        call = parse_call(data, SOLVE_FIELDS, received)
        if "instance" not in data:
            raise InputError("instance: missing (the instance JSON, as `mecopt generate` "
                             "writes it)")
        item = from_data(data["instance"], "instance")
        if isinstance(item, Unreadable):
            raise InputError(item.message)
        # Built once; only the first request of a (method, options) waits for a thread.
        solver = (self.solvers.built(call.method, call.options)
                  or await self.run(self.solvers.get, call.method, call.options))
        if self.batching and solver.batches:
            key = (*Solvers.key(call.method, call.options), call.objective, call.seed,
                   call.time_limit, call.bound)
            sol = await self.batcher.solve(solver, item, call, key)
        else:
            sol = await self.run(solve_one, solver, item, call)
        return Response(sol.to_json(), media_type="application/json")

    async def solve_many(self, data: dict, received: float) -> Response:
        """POST /solve_many: solutions in input order, an error record per bad item."""
        call = parse_call(data, MANY_FIELDS, received)
        instances = data.get("instances")
        if not isinstance(instances, list):
            raise InputError(f"instances: expected a list of instance objects, got "
                             f"{json_kind(instances)}")
        await self.run(self.solvers.get, call.method, call.options)  # a bad method: 4xx now

        # Parsed here, never read as a path; a bad item gets an error record, as in a file.
        items = [from_data(x, f"instance {k}") if isinstance(x, dict) else
                 Unreadable(f"instance {k}", f"instance {k}: expected an object, got "
                            f"{json_kind(x)}") for k, x in enumerate(instances)]

        def many() -> list[Solution]:
            return mecopt.solve_many(items, call.objective, call.method,
                                     time_limit=time_limit_now(call), seed=call.seed,
                                     bound=call.bound, **call.options)

        sols = await self.run(many)
        body = "[" + ",\n".join(s.to_json().rstrip("\n") for s in sols) + "]\n"
        return Response(body, media_type="application/json")


def create_app(*, threads: int = 2, batch_window_ms: float = 0.0, batching: bool = True,
               preload: Sequence[str] = ("lambo",)) -> FastAPI:
    """The service. `threads`: solves running at once (2 by default: a solve holds the
    interpreter for most of its time and native solvers take one process-wide lock, so more
    threads only contend; measured in docs/serve.md); `batching`: /solve requests of a
    batching method share batched passes (see Batcher); `batch_window_ms`: how long such a
    request that finds no batch of its kind running waits for others (0: it goes at once);
    `preload`: methods built (LAMBO: its model loaded and warmed up) at start-up."""
    service = Service(threads, batch_window_ms, batching)

    async def lifespan(app: FastAPI):
        await service.run(service.warm_up, tuple(preload))
        yield
        service.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="mecopt", version=mecopt.__version__, lifespan=lifespan)

    @app.post("/solve")
    async def solve(request: Request) -> Response:
        return await service.guarded(request, service.solve)

    @app.post("/solve_many")
    async def solve_many(request: Request) -> Response:
        return await service.guarded(request, service.solve_many)

    @app.get("/methods")
    async def methods() -> list[dict[str, Any]]:
        return await service.run(methods_listing)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": mecopt.__version__,
                "batched": {"batches": service.batcher.batches,
                            "requests": service.batcher.requests}}

    return app


def error_response(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split("\n"))}, status_code=status)
