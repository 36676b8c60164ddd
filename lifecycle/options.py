"""Validation of requests that are malformed in themselves, whatever the sessions hold: a new
session's partitions and options, and session ids. They are refused before anything starts."""

from lifecycle.domain import TASK_OPTION_TEXTS, TaskOptions
from lifecycle.refusals import INVALID_ARGUMENT, NOT_FOUND, Refused

MIN_PRIORITY, MAX_PRIORITY = 1, 99
MAX_ID_LENGTH = 256
# Bounds on what one session stores: generous for real use, and they keep a malformed request
# from storing megabytes.
MAX_PARTITIONS = 100
MAX_TEXT_LENGTH = 1024
MAX_OPTIONS = 256


def check_session_id(session_id: str) -> None:
    """A session id names a row, a queue entry ("<session>/<task>") and an object prefix
    ("<session>/"): it must be non-empty, of reasonable length, without "/" or control
    characters."""
    check_id("session", session_id)


def check_id(what: str, value: str) -> None:
    """A session, task or result id, by the rules of a session id (a task's and a result's are
    parts of queue entries and object keys too)."""
    if not value:
        raise Refused(INVALID_ARGUMENT, f"the {what} id is empty")
    if len(value) > MAX_ID_LENGTH:
        raise Refused(
            INVALID_ARGUMENT,
            f"a {what} id has at most {MAX_ID_LENGTH} characters, not {len(value)}",
        )
    if "/" in value or any(not c.isprintable() for c in value):
        raise Refused(INVALID_ARGUMENT, f"{what} id {value!r} holds '/' or a control character")


def check_create(
    partition_ids: list[str], options: TaskOptions, default_partition: str
) -> tuple[list[str], TaskOptions]:
    """The session's partitions and options as they would be stored, or a refusal of what is
    malformed in itself. Whether they fit each other (`check_fit`) is asked only once the
    partitions are known to exist: an unknown partition is NOT_FOUND before it is a misfit."""
    check_task_options(options)
    if any(not p for p in partition_ids):
        raise Refused(INVALID_ARGUMENT, "partition ids must not be empty")
    _check_partitions(partition_ids)
    partitions = list(dict.fromkeys(partition_ids)) or [options.partition_id or default_partition]
    partition_id = options.partition_id or partitions[0]
    resolved = TaskOptions(**{**options.__dict__, "partition_id": partition_id})
    return partitions, resolved


def named_partitions(partitions: list[str], options: TaskOptions) -> list[str]:
    """Every partition a new session names, the one of its default options included: each must
    exist."""
    return list(dict.fromkeys([*partitions, options.partition_id]))


def unknown_partitions(missing: list[str]) -> Refused:
    return Refused(NOT_FOUND, f"unknown partition(s): {', '.join(missing)}")


def check_fit(partitions: list[str], options: TaskOptions) -> None:
    """The default options' partition must be one of the session's."""
    if options.partition_id not in partitions:
        raise Refused(
            INVALID_ARGUMENT,
            f"partition_id {options.partition_id!r} is not among the session's partitions"
            f" {partitions}",
        )


def resolve_create(
    partition_ids: list[str], options: TaskOptions, default_partition: str
) -> tuple[list[str], TaskOptions]:
    """The session's partitions and options as they will be stored, or a refusal; for callers
    that know the partitions exist."""
    partitions, resolved = check_create(partition_ids, options, default_partition)
    check_fit(partitions, resolved)
    return partitions, resolved


def check_task_options(options: TaskOptions) -> None:
    """Options a task can run with: a session's defaults, or a task's merged over them."""
    if options.max_retries < 1:
        raise Refused(INVALID_ARGUMENT, "max_retries must be at least 1")
    if not MIN_PRIORITY <= options.priority <= MAX_PRIORITY:
        raise Refused(
            INVALID_ARGUMENT, f"priority must be between {MIN_PRIORITY} and {MAX_PRIORITY}"
        )
    if options.max_duration is None or options.max_duration <= 0:
        raise Refused(INVALID_ARGUMENT, "max_duration is required and must be positive")
    _check_option_sizes(options)


def check_partition_id(partition_id: str) -> None:
    """A partition id names a row and a queue key: of reasonable length, without control
    characters (an empty one names no partition: that is for the lookup to say)."""
    if len(partition_id) > MAX_ID_LENGTH:
        raise Refused(INVALID_ARGUMENT, f"a partition id has at most {MAX_ID_LENGTH} characters")
    if any(not c.isprintable() for c in partition_id):
        raise Refused(INVALID_ARGUMENT, f"partition id {partition_id!r} holds a control character")


def _check_partitions(partition_ids: list[str]) -> None:
    if len(partition_ids) > MAX_PARTITIONS:
        raise Refused(INVALID_ARGUMENT, f"a session has at most {MAX_PARTITIONS} partitions")
    for partition_id in partition_ids:
        check_partition_id(partition_id)


def _check_option_sizes(options: TaskOptions) -> None:
    if len(options.options) > MAX_OPTIONS:
        raise Refused(INVALID_ARGUMENT, f"a session has at most {MAX_OPTIONS} options")
    texts = {
        **{name: getattr(options, name) for name in TASK_OPTION_TEXTS},
        **{f"options[{k[:40]!r}]": v for k, v in options.options.items()},
        **{f"an option key ({k[:40]!r}...)": k for k in options.options},
    }
    for name, text in texts.items():
        if len(text) > MAX_TEXT_LENGTH:
            raise Refused(INVALID_ARGUMENT, f"{name} has at most {MAX_TEXT_LENGTH} characters")
        if "\x00" in text:
            raise Refused(INVALID_ARGUMENT, f"{name} holds a NUL character")
