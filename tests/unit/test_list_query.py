"""The list compiler: arguments refused before any query runs, and SQL whose values are all bound
parameters."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.postgres.list_queries import compile_query
from lifecycle.refusals import INVALID_ARGUMENT, Refused
from stores.queries import MAX_PAGE_SIZE, Condition, ListQuery, PartitionsQuery


@pytest.mark.parametrize(
    "kwargs",
    [
        {"page": -1},
        {"page": 2**31},
        {"page": True},
        {"page_size": -1},
        {"page_size": MAX_PAGE_SIZE + 1},
        {"page_size": 1.5},
        {"sort_field": "nope"},
        {"sort_field": "options.options."},
        {"filters": [[Condition("nope", "eq", 1)]]},
        {"filters": [Condition("status", "eq", "RUNNING")]},
        {"filters": [["not a condition"]]},
        {"filters": [[Condition("status", "lt", "RUNNING")]]},
        {"filters": [[Condition("status", "eq", "NOT_A_STATUS")]]},
        {"filters": [[Condition("status", "eq", 42)]]},
        {"filters": [[Condition("status", "eq", True)]]},
        {"filters": [[Condition("client_submission", "eq", "yes")]]},
        {"filters": [[Condition("created_at", "gt", "not a date")]]},
        {"filters": [[Condition("created_at", "gt", None)]]},
        {"filters": [[Condition("options.priority", "contains", 3)]]},
        {"filters": [[Condition("options.priority", "eq", 2**63)]]},
        {"filters": [[Condition("options.priority", "eq", 1.5)]]},
        {"filters": [[Condition("options.max_duration", "lt", float("nan"))]]},
        {"filters": [[Condition("options.max_duration", "lt", 10**20)]]},
        {"filters": [[Condition("session_id", "eq", 3)]]},
        {"filters": [[Condition("session_id", "eq", "a\x00b")]]},
        {"filters": [[Condition("session_id", "eq", "\ud800")]]},
        {"filters": [[Condition("options.options.\x00", "eq", "x")]]},
        {"filters": [[Condition("partition_ids", "eq", "a")]]},
    ],
)
def test_bad_list_arguments_are_refused(kwargs):
    with pytest.raises(Refused) as refused:
        ListQuery(**kwargs)
    assert refused.value.kind == INVALID_ARGUMENT


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sort_field": "session_id"},
        {"sort_field": "status"},
        {"filters": [[Condition("status", "eq", "RUNNING")]]},
        {"filters": [[Condition("options.priority", "ge", 2)]]},
    ],
)
def test_partition_queries_know_only_partition_fields(kwargs):
    with pytest.raises(Refused) as refused:
        PartitionsQuery(**kwargs)
    assert refused.value.kind == INVALID_ARGUMENT


def test_good_list_arguments_pass():
    ListQuery(
        filters=[
            [Condition("status", "eq", "RUNNING"), Condition("session_id", "starts_with", "a")],
            [Condition("options.options.team", "eq", "x")],
            [],
        ],
        sort_field="options.priority",
        sort_desc=True,
        page=3,
        page_size=0,
    )
    PartitionsQuery([[Condition("parent_partition_ids", "contains", "p")]], "priority", True)


def test_values_are_bound_parameters_never_sql_text():
    marker = "x'); DROP TABLE sessions; --"
    query = ListQuery(
        [
            [
                Condition("session_id", "contains", marker),
                Condition(f"options.options.{marker}", "ne", marker),
                Condition("partition_ids", "not_contains", marker),
            ]
        ],
        sort_field=f"options.options.{marker}",
    )

    compiled = compile_query(query)

    sql, args = compiled.page("*", total=10)
    assert marker not in sql
    # The option key (filter and sort), the compared value, the array element.
    assert args.count(marker) == 4
    assert f"%{marker}%" in args


def test_like_patterns_escape_their_wildcards():
    compiled = compile_query(ListQuery([[Condition("session_id", "starts_with", "a_%\\")]]))
    assert compiled.params == ["a\\_\\%\\\\%"]
    assert "ESCAPE" in compiled.where


@pytest.mark.parametrize(
    ("condition", "sql"),
    [
        # A null field differs from every value and contains no string.
        (Condition("closed_at", "ne", datetime(2024, 1, 1, tzinfo=UTC)), "IS DISTINCT FROM"),
        (Condition("options.options.k", "not_contains", "v"), "IS NOT TRUE"),
        (Condition("closed_at", "eq", None), "(closed_at IS NULL)"),
        (Condition("closed_at", "ne", None), "(closed_at IS NOT NULL)"),
        # A NOT NULL column keeps the plain operator.
        (Condition("status", "ne", "RUNNING"), "(status <> $1)"),
        (Condition("partition_ids", "contains", "p"), "(partition_ids @> ARRAY[$1::text])"),
    ],
)
def test_null_semantics_in_sql(condition, sql):
    assert sql in compile_query(ListQuery([[condition]])).where


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (timedelta(minutes=1, microseconds=5), Decimal("60.000005")),
        (Decimal("1.000000001"), Decimal("1.000000001")),
        (0.1, Decimal("0.1")),
        (7, Decimal(7)),
    ],
)
def test_durations_compare_as_exact_seconds(value, seconds):
    compiled = compile_query(ListQuery([[Condition("duration", "lt", value)]]))
    assert compiled.params == [seconds]


def test_sort_puts_null_first_ascending_and_last_descending():
    ascending = compile_query(ListQuery(sort_field="closed_at")).order_by
    descending = compile_query(ListQuery(sort_field="closed_at", sort_desc=True)).order_by
    assert ascending == "closed_at ASC NULLS FIRST, session_id ASC"
    assert descending == "closed_at DESC NULLS LAST, session_id DESC"
    # Not said on a NOT NULL column, so that its index can serve the sort.
    assert compile_query(ListQuery()).order_by == "created_at ASC, session_id ASC"


def test_page_is_bound_and_page_size_zero_counts_only():
    compiled = compile_query(ListQuery(page=2**31 - 1, page_size=MAX_PAGE_SIZE))
    sql, args = compiled.page("*", total=2**62)
    assert "LIMIT $1 OFFSET $2" in sql
    assert args == [MAX_PAGE_SIZE, (2**31 - 1) * MAX_PAGE_SIZE]
    assert compile_query(ListQuery(page=5, page_size=0)).limit == 0


@pytest.mark.parametrize(
    ("page", "total", "limit", "offset", "reversed_"),
    [
        (0, 10, 3, 0, False),
        (1, 10, 3, 3, False),  # 3 is not past the middle (5)
        (2, 10, 3, 1, True),  # rows 6-8 of 0-9 are rows 1-3 of 9-0
        (3, 10, 1, 0, True),  # row 9, the last, alone
        (3, 11, 2, 0, True),  # rows 9-10
    ],
)
def test_pages_past_the_middle_are_walked_from_the_end(page, total, limit, offset, reversed_):
    compiled = compile_query(ListQuery(sort_field="closed_at", page=page, page_size=3))
    sql, args = compiled.page("*", total)
    assert args[-2:] == [limit, offset]
    inner = "closed_at DESC NULLS LAST, session_id DESC LIMIT"
    assert (inner in sql) == reversed_
    # The rows come back in the asked order, whichever way they were found.
    assert sql.endswith("ORDER BY closed_at ASC NULLS FIRST, session_id ASC")
