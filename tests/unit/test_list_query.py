"""ListSessions' arguments are refused before any query runs."""

import pytest

from lifecycle.refusals import INVALID_ARGUMENT, Refused
from stores.list_query import Condition, ListQuery


@pytest.mark.parametrize(
    "kwargs",
    [
        {"page": -1},
        {"page_size": 0},
        {"page_size": 1001},
        {"sort_field": "nope"},
        {"sort_field": "partition_ids"},
        {"filters": [[Condition("nope", "eq", 1)]]},
        {"filters": [[Condition("status", "lt", "RUNNING")]]},
        {"filters": [[Condition("status", "eq", "NOT_A_STATUS")]]},
        {"filters": [[Condition("client_submission", "eq", "yes")]]},
        {"filters": [[Condition("created_at", "gt", "not a date")]]},
        {"filters": [[Condition("options.priority", "contains", 3)]]},
    ],
)
def test_bad_list_arguments_are_refused(kwargs):
    with pytest.raises(Refused) as refused:
        ListQuery(**kwargs)
    assert refused.value.kind == INVALID_ARGUMENT


def test_good_list_arguments_pass():
    ListQuery(
        filters=[
            [Condition("status", "eq", "RUNNING"), Condition("session_id", "starts_with", "a")],
            [Condition("options.options.team", "eq", "x")],
        ],
        sort_field="options.priority",
        sort_desc=True,
        page=3,
        page_size=10,
    )
