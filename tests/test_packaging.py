import subprocess
import sys

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
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3
