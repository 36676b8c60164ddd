"""One Java time-skipping test server for the whole test session: no download, no real stack.

Timers and activity retry backoffs are skipped while a test awaits a workflow's result, so the
retry policy of workflows/operation.py costs no wall time here.
"""

import shutil
import sys
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment


def _test_server() -> str:
    return shutil.which("temporal-test-server") or str(
        Path(sys.executable).parent / "temporal-test-server"
    )


@pytest.fixture(scope="session")
async def env():
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_test_server()
    ) as env:
        yield env
