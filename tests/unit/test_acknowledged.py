"""A step whose unit of commit is one call: calls cut to cover their span without a gap, and
acknowledgements in any order that move the cursor only over what is done from its start."""

from activities.object_storage import cut_into_calls
from stores.keyset import acknowledge, is_acked


def rows(n: int, every: int = 1) -> list[tuple[str, str | None]]:
    """Results r001..rNNN, every `every`-th with an object."""
    return [(f"r{i:03}", f"s/r{i:03}" if i % every == 0 else None) for i in range(1, n + 1)]


def test_calls_cover_the_span_without_gap_and_carry_at_most_their_keys():
    calls = cut_into_calls(rows(10, every=2), [], "", "r010", per_call=2)

    assert [(c.after, c.last, c.rows, len(c.keys)) for c in calls] == [
        ("", "r004", 4, 2),
        ("r004", "r008", 4, 2),
        ("r008", "r010", 2, 1),
    ]


def test_rows_without_objects_after_the_last_call_end_the_span_without_a_call():
    calls = cut_into_calls(rows(5, every=2), [], "", "r005", per_call=2)

    assert [(c.after, c.last, c.rows, c.keys) for c in calls] == [
        ("", "r004", 4, ["s/r002", "s/r004"]),
        ("r004", "r005", 1, []),
    ]


def test_rows_acknowledged_before_are_left_out():
    acked = [("r002", "r004")]
    span = rows(6)[1:]  # the span (r001, r006]
    calls = cut_into_calls(span, acked, "r001", "r006", per_call=10)

    (call,) = calls
    assert (call.after, call.last, call.rows) == ("r001", "r006", 3)
    assert call.keys == ["s/r002", "s/r005", "s/r006"]


def test_acknowledgements_in_any_order_move_the_cursor_over_what_is_done():
    cursor, acked = "", []
    cursor, acked = acknowledge(cursor, acked, "r004", "r008")
    cursor, acked = acknowledge(cursor, acked, "r008", "r010")
    assert (cursor, acked) == ("", [("r004", "r010")])
    assert is_acked("r005", acked) and not is_acked("r004", acked)

    cursor, acked = acknowledge(cursor, acked, "", "r004")
    assert (cursor, acked) == ("r010", [])


def test_a_span_acknowledged_twice_changes_nothing():
    once = acknowledge("r002", [("r005", "r007")], "r005", "r007")
    assert once == ("r002", [("r005", "r007")])
