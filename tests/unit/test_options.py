"""Create's validation (SPEC §2): partitions and default task options."""

import pytest

from lifecycle.domain import TaskOptions
from lifecycle.options import resolve_create
from lifecycle.refusals import INVALID_ARGUMENT, Refused

GOOD = TaskOptions(max_duration=60, max_retries=1, priority=1)


def test_no_partition_means_the_default_one():
    partitions, options = resolve_create([], GOOD, "default")
    assert partitions == ["default"] and options.partition_id == "default"


def test_no_partition_means_the_options_partition_if_named():
    partitions, options = resolve_create(
        [], TaskOptions(max_duration=60, partition_id="gpu"), "default"
    )
    assert partitions == ["gpu"] and options.partition_id == "gpu"


def test_empty_partition_id_means_the_first_of_the_sessions():
    partitions, options = resolve_create(["a", "b", "a"], GOOD, "default")
    assert partitions == ["a", "b"] and options.partition_id == "a"


@pytest.mark.parametrize(
    "options",
    [
        TaskOptions(max_duration=60, max_retries=0),
        TaskOptions(max_duration=60, priority=0),
        TaskOptions(max_duration=60, priority=100),
        TaskOptions(max_duration=None),
        TaskOptions(max_duration=0),
        TaskOptions(max_duration=60, partition_id="elsewhere"),
    ],
)
def test_invalid_options_are_refused(options):
    with pytest.raises(Refused) as refused:
        resolve_create(["a"], options, "default")
    assert refused.value.kind == INVALID_ARGUMENT


def test_an_empty_partition_id_in_the_list_is_refused():
    with pytest.raises(Refused):
        resolve_create(["a", ""], GOOD, "default")
