"""`python -m bench.child SUITE OUT.json`: run one suite in this process and write its results.

The parent (`python -m bench`) runs every suite in a child of its own, with the environment
(database, sandbox mode) that suite needs, so no measurement carries another's memory, caches
or settings. A suite that raises becomes an ERROR row, not a missing one.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path

from bench import env
from bench.harness import Result


def main(argv: list[str]) -> int:
    suite, out = argv
    env.setup_django()
    module = importlib.import_module(f"bench.{suite}")
    try:
        results = module.run()
    except Exception as error:  # noqa: BLE001 - any breakage is reported as a result
        traceback.print_exc()
        results = [
            Result(
                figure=getattr(module, "FIGURE", suite),
                value=None,
                error=f"{suite}: {type(error).__name__}: {error}",
            )
        ]
    Path(out).write_text(json.dumps([result.to_dict() for result in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
