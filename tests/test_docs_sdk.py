"""docs/sdk.md's Python examples run as a plain script, outside the portal and its test
settings: in a fresh interpreter with no DJANGO_SETTINGS_MODULE, as a library user would."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings

PAGE = Path(settings.BASE_DIR) / "docs" / "sdk.md"


def test_the_pages_python_examples_run_as_a_script_on_the_embedded_sandbox(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.DOTALL)
    script = tmp_path / "example.py"
    script.write_text("\n".join(blocks))
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "VENICE_", "DATABASE_URL", "REDIS_URL"))
    }
    env["VENICE_SANDBOX_STATE_FILE"] = ""  # memory only: leave var/sandbox.json alone

    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert len(blocks) == 2
    names = ast.literal_eval(result.stdout)  # the key names the example printed
    assert "Portal admin" in names and len(names) > 10
