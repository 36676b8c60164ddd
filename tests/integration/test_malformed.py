"""A request malformed in itself is refused with INVALID_ARGUMENT before any workflow starts, so
that it leaves no execution behind (not even a refused one)."""

import pytest
from temporalio.service import RPCError

from lifecycle.domain import TaskOptions
from lifecycle.refusals import INVALID_ARGUMENT, Refused
from lifecycle.statuses import Operation
from workflows.identity import workflow_id

MALFORMED_IDS = ["", "x" * 257, "a/b", "tab\there", "nul\x00"]


async def _started(temporal, wid: str) -> bool:
    try:
        await temporal.get_workflow_handle(wid).describe()
    except RPCError:
        return False
    return True


@pytest.mark.parametrize("session_id", MALFORMED_IDS)
@pytest.mark.parametrize("operation", [Operation.PAUSE, Operation.DELETE])
async def test_a_malformed_session_id_is_refused_before_anything_starts(
    client, temporal, operation, session_id
):
    with pytest.raises(Refused) as refused:
        await client.start(operation, session_id)
    assert refused.value.kind == INVALID_ARGUMENT
    assert not await _started(temporal, workflow_id(operation, session_id))


@pytest.mark.parametrize("session_id", MALFORMED_IDS)
async def test_a_malformed_session_id_is_refused_on_read_and_create(client, session_id):
    with pytest.raises(Refused) as refused:
        await client.get(session_id)
    assert refused.value.kind == INVALID_ARGUMENT
    with pytest.raises(Refused) as refused:
        await client.start_create([], TaskOptions(max_duration=60), session_id=session_id or "/")
    assert refused.value.kind == INVALID_ARGUMENT
