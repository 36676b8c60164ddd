"""CreateSession: the partitions are checked, then the session inserted."""

from lifecycle.requests import CreateRequest
from lifecycle.statuses import Operation, SessionStatus
from tests.workflows.scenario import DEFAULT_PARTITION, Scenario, options
from tests.workflows.support import execute


async def test_create_checks_partitions_then_inserts_the_checked_request(env):
    store = Scenario(status=None, partitions=(DEFAULT_PARTITION, "gpu"))
    request = CreateRequest(store.session_id, ["gpu", DEFAULT_PARTITION], options())

    outcome = await execute(env, store, Operation.CREATE, request)

    assert store.trace() == [("check_partitions",), ("insert_session",)]
    checked = store.of("check_partitions")[0].result
    # What gets inserted is the request as the check resolved it (partition_id filled in).
    assert store.of("insert_session")[0].arg.request == checked
    assert checked.options.partition_id == "gpu"
    assert outcome.session.status == SessionStatus.RUNNING
    assert outcome.session.partition_ids == ["gpu", DEFAULT_PARTITION]
    assert outcome.session.client_submission and outcome.session.worker_submission
    assert not outcome.superseded
