"""The user docs (README.md and docs/*.md) read as user docs and agree with the CLI.

Dated run logs, hashes and development-machine paths belong in docs/notes/ (dated lab notes,
not checked here) or in git; the user pages say what each part does, how to use it and what
it achieves now. Every `mecopt ...` command line in the user pages must use commands,
options, choices and method options that exist (`mecopt COMMAND --help`).
"""

from __future__ import annotations

import re
import shlex

import click
import pytest

from mecopt.cli.main import cli
from mecopt.registry import get_method, method_names

from conftest import ROOT

USER_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Every command, by name (the CLI loads its command modules on demand).
COMMANDS = {name: cli.get_command(click.Context(cli), name)
            for name in cli.list_commands(click.Context(cli))}

_HOUR = r"(?:[01]?\d|2[0-3]):[0-5]\d"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
# What a dated run log leaves behind. Each rule is narrow enough for legit content: ratios
# like 1:2:4, method specs like lambo:samples=64 and seeds like 3000000+k pass.
RULES = {
    "a UTC time stamp": re.compile(rf"\b{_HOUR}(?::[0-5]\d)?\s*UTC\b"),
    "a time-of-day range": re.compile(rf"\b{_HOUR}\s*-\s*{_HOUR}\b"),
    "a time of day": re.compile(rf"(?:\b(?:at|since|from|until|shipped|run)\s+|\(){_HOUR}\b"
                                rf"(?![:\d])"),
    # A link to a dated note (docs/notes/2026-11-28-topic.md) is fine.
    "an ISO date": re.compile(r"(?<!notes/)\b20\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b"),
    "a day and month": re.compile(rf"\b(?:[1-9]|[12]\d|3[01])\s+{_MONTH}(?=[\s,;:)]|$)"),
    "a development-machine path": re.compile(r"(?<![\w.~-])/(?:work|tmp)/"),
    "a sha256": re.compile(r"\bsha-?256\b", re.I),
    "a hash": re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{12,64}\b"),
    "a commit id": re.compile(r"\bcommit\s+`?[0-9a-f]{7,40}\b"),
}


def offences(text: str) -> list[str]:
    """`line N: <rule>: <match>` for each rule that matches, line by line."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for rule, pattern in RULES.items():
            for m in pattern.finditer(line):
                found.append(f"line {number}: {rule}: {m.group(0)!r}")
    return found


@pytest.mark.parametrize("line", [
    "And again at 14:14 UTC the same run gave", "shipped 28 Nov 19:15", "(22:29, idle machine",
    "one core each, 17:53-19:14, with", "measured on 2026-11-28 in the evening",
    "stage 1 is `/work/runs/s4/scratch-row/lambo-s.pt`", "written to /tmp/x.json",
    "(sha256 `7b45e2a0de43ddfe...`)", "the previous code (commit `54ea327`)",
    "the model 7b45e2a0de43ddfe", "Measured once, 28 Nov, on a lent machine",
    "On 3 December the bench", "since 16:50 this is",
])
def test_rules_catch_run_logs(line):
    assert offences(line), line


@pytest.mark.parametrize("line", [
    "capacities mixed 1:2:4:8 (times U(0.8, 1.25))", "--methods greedy,lambo_s=lambo:samples=64",
    "generator seeds 3000000+k", "mecopt solve instances/paper/paper-000.json --method lambo",
    "a decode of 1 row takes 9.1 ms; 20,000 rows/s at 2,000", "tiny-008 is infeasible",
    "seeds 90,000,000+, both prompts", "| paper | 24.0 | 7.7 | 0.3 |", "runs/case-study/paper",
    "torch.load(weights_only=True)", "5 Mbit at 10 MHz", "the 4 best distinct of 8 decodes",
    "a 1 ms time limit gives `feasible`", "hetero-012 from 0.09% to 0.02%", "see docs/notes/",
    "mecopt-cheapest-fit/pyproject.toml", "`~/tmp/` is yours",
    "docs/notes/2026-11-28-lambo-training.md records how",
])
def test_rules_pass_legit_content(line):
    assert not offences(line), offences(line)


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_user_page_has_no_run_log(page):
    found = offences(page.read_text())
    assert not found, (f"{page.relative_to(ROOT)} reads like a lab notebook; move these to "
                       "docs/notes/YYYY-MM-DD-topic.md or drop them:\n" + "\n".join(found))


def test_notes_are_dated():
    for note in (ROOT / "docs" / "notes").glob("*.md"):
        assert note.name == "README.md" or re.match(r"20\d\d-\d\d-\d\d-[\w-]+\.md$", note.name), \
            f"docs/notes/{note.name}: name notes YYYY-MM-DD-topic.md"


# ------------------------------------------------------------ docs agree with --help
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_INLINE = re.compile(r"`(mecopt [^`]+)`")
# Methods that docs/extending.md's reader installs as examples.
PLUGIN_EXAMPLES = {"cheapest_fit"}


def command_lines(text: str) -> list[tuple[str, bool]]:
    """(`mecopt ...` command, from a code block?) for every command in a page."""
    found = []
    for block in _FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            for part in line.split(" #", 1)[0].split("&&"):
                if part.strip().startswith("mecopt "):
                    found.append((part.strip(), True))
    prose = _FENCE.sub("", text)
    found += [(m.replace("\\|", "|"), False) for m in _INLINE.findall(prose)]
    return found


def _options(command: click.Command) -> dict[str, click.Parameter]:
    return {name: p for p in command.params for name in (*p.opts, *p.secondary_opts)
            if name.startswith("-")}


def _literal(value: str) -> bool:
    """A concrete value, not a placeholder such as FILE, X, [ROOT] or a|b."""
    return not re.search(r"[A-Z\[\]<>]|\.\.\.", value)


def check_command(line: str, strict: bool) -> list[str]:
    """What in one `mecopt ...` line does not exist in the CLI."""
    try:
        tokens = shlex.split(line)
    except ValueError:
        tokens = line.split()
    tokens = [t.strip("[]") for t in tokens[1:]]
    if not tokens or tokens[0] in ("--version", "--help", "-h", "COMMAND"):
        return []
    if tokens[0] not in COMMANDS:
        return [f"no command {tokens[0]!r}"]
    command, problems = COMMANDS[tokens[0]], []
    options = _options(command)
    method, options_given = None, []
    for k, token in enumerate(tokens[1:], 1):
        if not token.startswith("-") or re.match(r"-\d", token) or token in ("-", "--"):
            continue
        name, _, inline = token.partition("=")
        if name not in options:
            problems.append(f"{tokens[0]}: no option {name}")
            continue
        param = options[name]
        value = inline or (tokens[k + 1] if k + 1 < len(tokens) else "")
        if isinstance(param, click.Option) and param.is_flag or not value:
            continue
        if isinstance(param.type, click.Choice):
            for v in value.split("|"):
                if _literal(v) and v not in param.type.choices:
                    problems.append(f"{tokens[0]} {name}: {v!r} is not one of "
                                    f"{list(param.type.choices)}")
        if strict and name in ("--method", "-m") and tokens[0] == "solve" and _literal(value):
            method = value
        if strict and name in ("--methods",) and _literal(value):
            problems += _check_specs(value)
        if strict and name == "--option" and "=" in value:
            options_given.append(value.split("=", 1)[0])
    if method is not None:
        problems += _check_method(method, options_given, "solve --option")
    return problems


def _check_method(name: str, keys: list[str], where: str) -> list[str]:
    """A method name and option keys against the registry."""
    if name not in method_names():
        return [] if name in PLUGIN_EXAMPLES else [f"{where}: no method {name!r}"]
    options = get_method(name).options
    return [f"{where}: method {name!r} has no option {key!r}" for key in keys
            if key not in options]


def _check_specs(specs: str) -> list[str]:
    """`--methods [LABEL=]NAME[:KEY=VALUE...],...` against the registry."""
    problems = []
    for spec in specs.split(","):
        head, *opts = spec.split(":")
        problems += _check_method(head.split("=", 1)[-1], [o.split("=", 1)[0] for o in opts],
                                  f"bench --methods {spec}")
    return problems


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_command_lines_match_help(page):
    lines = command_lines(page.read_text())
    problems = [f"{line}\n    -> {p}" for line, strict in lines
                for p in check_command(line, strict)]
    assert not problems, f"{page.relative_to(ROOT)}: " + "\n".join(problems)


def test_readme_lists_every_command():
    text = (ROOT / "README.md").read_text()
    missing = [name for name in COMMANDS if f"`mecopt {name}" not in text]
    assert not missing, f"README.md's command table misses {missing}"


def test_command_check_catches_mistakes():
    assert check_command("mecopt solve X --methd greedy", True)
    assert check_command("mecopt generate --family papr", True)
    assert check_command("mecopt bench X --methods greedy,lambo:sampels=4 --out D", True)
    assert check_command("mecopt solve X --method lambo --option sampels=4", True)
    assert check_command("mecopt frobnicate", True)
    assert not check_command("mecopt generate --family paper|hetero|tight|sparse --seed S",
                             False)
    assert not check_command("mecopt bench X --methods lambo_s=lambo:samples=64 --out D", True)


def test_every_user_page_is_linked_from_the_readme():
    text = (ROOT / "README.md").read_text()
    for page in USER_PAGES[1:]:
        assert f"docs/{page.name}" in text, f"README.md's Documentation list misses {page.name}"


# ------------------------------------------------------------ result tables are rendered
def test_result_tables_match_the_benchmarks(monkeypatch, capsys):
    """docs/results.md, lambo.md and alef.md hold the tables benchmarks/render_results.py
    renders from docs/figures/ (the benchmarks' JSON, CSV and summaries)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import render_results

    assert render_results.main(["--check"]) == 0, (
        capsys.readouterr().err + "run python benchmarks/render_results.py")
