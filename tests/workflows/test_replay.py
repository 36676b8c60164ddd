"""An upgrade does not break the operations in flight: a history recorded by the code before a
change of the workflows' commands replays on today's code without a non-determinism error.

histories/*_in_turn.json were recorded before the arrows of a range overlapped, when each
range ran its stages one after another (workflows/sweep.py, OVERLAPPED): a Pause and a Purge
of 10 rows in one range, in calls of 4.
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.registry import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
RECORDED = {path: path.read_text() for path in HISTORIES}


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_history_of_the_code_before_replays_on_todays(path: Path):
    history = WorkflowHistory.from_json("recorded", RECORDED[path])
    replayer = Replayer(workflows=list(WORKFLOWS.values()))

    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)

    assert result.replay_failure is None, result.replay_failure


def test_the_recorded_histories_are_there():
    assert [p.stem for p in HISTORIES] == ["pause_in_turn", "purge_in_turn"]
