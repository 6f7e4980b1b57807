"""The learned side's configs (learned/configs.py) and the click options built from them."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import click
import numpy as np
from click.testing import CliRunner

from mecopt.cli.config_options import config_option, config_values
from mecopt.cli.main import command_line
from mecopt.learned.configs import TRAIN_FAMILIES, TrainConfig, option


def test_configs_and_the_cli_help_need_no_torch():
    # A finder that refuses torch, as if it were not installed (sys.modules['torch'] = None
    # would trip scipy, which probes sys.modules for torch arrays).
    code = ("import sys\n"
            "class NoTorch:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ImportError('torch is not installed')\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "import mecopt.learned.configs as c\n"
            "from click.testing import CliRunner\n"
            "from mecopt.cli.main import cli\n"
            "for cmd in ('train', 'finetune', 'train-baseline', 'model-info'):\n"
            "    out = CliRunner().invoke(cli, [cmd, '--help'])\n"
            "    assert out.exit_code == 0, (cmd, out.output)\n"
            "c.TrainConfig(steps=1).check()\n"
            "c.ALEFConfig(scenario='density').check()\n"
            "c.DROOConfig(frames=1, output='x.pt').check()\n"
            "c.AREConfig(steps=1, output='x.pt').check()\n"
            "assert 'torch' not in sys.modules\n"
            "print(sorted(c.PRESETS), sorted(c.NET_PRESETS))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "['lambo-l', 'lambo-m', 'lambo-s'] ['paper', 'small']" in out.stdout


def test_old_homes_still_export_the_configs():
    from mecopt.learned import alef, are, baseline_nets, configs, droo, model, train

    assert train.TrainConfig is configs.TrainConfig and alef.ALEFConfig is configs.ALEFConfig
    assert droo.DROOConfig is configs.DROOConfig and are.AREConfig is configs.AREConfig
    assert model.PRESETS is configs.PRESETS and model.LamboConfig is configs.LamboConfig
    assert baseline_nets.PRESETS is configs.NET_PRESETS
    assert baseline_nets.NetConfig is configs.NetConfig


@dataclass
class Demo:
    name: str = option(help="required, as it has no default")
    rate: float = option(0.5, "a rate")
    sizes: tuple[str, ...] = option(("a", "b"), "a list")
    limit: int | None = option(None, "an optional limit")
    on: bool = option(True, "on unless --no-on")
    loud: bool = option(False, "a flag")
    kind: str = option("x", "one of two", choices=("x", "y"))
    hidden: int = 3  # not an option


@click.command()
@config_option(Demo, "name")
@config_option(Demo, "rate")
@config_option(Demo, "sizes")
@config_option(Demo, "limit")
@config_option(Demo, "on")
@config_option(Demo, "loud")
@config_option(Demo, "kind")
def demo(**params):
    click.echo(repr(Demo(**config_values(Demo, params))))
    click.echo(command_line(click.get_current_context()))


def test_options_take_type_default_and_help_from_the_fields():
    out = CliRunner().invoke(demo, ["--name", "n"])
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[0] == repr(Demo(name="n"))
    out = CliRunner().invoke(demo, ["--name", "n", "--rate", "2", "--sizes", "c, d",
                                    "--limit", "4", "--no-on", "--loud", "--kind", "y"])
    assert out.output.splitlines() == [
        repr(Demo("n", 2.0, ("c", "d"), 4, False, True, "y")),
        "mecopt demo --name n --rate 2.0 --sizes c,d --limit 4 --loud --kind y"]
    assert CliRunner().invoke(demo, []).exit_code == 2  # --name is required
    assert CliRunner().invoke(demo, ["--name", "n", "--kind", "z"]).exit_code == 2
    text = CliRunner().invoke(demo, ["--help"]).output
    for line in ("--rate FLOAT", "a rate  [default: 0.5]", "[default: a,b]",
                 "--on / --no-on", "[default: on]", "--kind [x|y]", "--limit INTEGER"):
        assert line in text, line
    assert "hidden" not in text


def test_training_families_are_rows_of_a_table():
    rng = np.random.default_rng(0)
    sizes = [TRAIN_FAMILIES["paper"].draw_sizes(rng, 100) for _ in range(200)]
    assert all(30 <= n <= 80 and 2 <= m <= 8 for n, m in sizes)
    assert 0.4 < np.mean([m == 4 for _, m in sizes]) < 0.7  # the case study's M, often
    assert max(TRAIN_FAMILIES["hetero"].draw_sizes(rng, 25)[0] for _ in range(50)) == 25
    assert TrainConfig(families=tuple(TRAIN_FAMILIES), steps=1).families == tuple(
        TRAIN_FAMILIES)
    assert TrainConfig(steps=1).families == ("paper", "hetero")  # the default is unchanged
