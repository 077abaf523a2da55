import subprocess
import sys

import click
import pytest
from click.testing import CliRunner


def test_importing_cgan_infer_leaves_torch_out():
    code = "import sys, cgan.infer; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("module", ["cgan.train.cli", "cgan.export.cli", "cgan.infer.cli"])
def test_every_command_has_help(module):
    main = __import__(module, fromlist=["main"]).main
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert result.output.startswith("Usage: ") and " ".join(main.help.split()[:3]) in result.output
    for option in (p for p in main.params if isinstance(p, click.Option)):
        assert option.help, f"{option.opts[0]} has no help text"
        assert option.opts[-1] in result.output and option.help.split()[0] in result.output
