"""Every activity the worker runs, bound to its stores."""

from collections.abc import Callable

from activities.batches import BatchRunner
from activities.object_storage import ObjectStorageActivities
from activities.queue import QueueActivities
from activities.ranges import RangesActivities
from activities.results import ResultsActivities
from activities.sessions import SessionsActivities
from activities.tasks import TasksActivities
from lifecycle.transitions import RESULTS, TASKS
from settings import Settings
from stores.adaptive import batch_size
from stores.store_set import StoreSet
from telemetry.metrics import store_limit_gauge


def activities(stores: StoreSet, settings: Settings) -> list[Callable]:
    runner = BatchRunner(
        stores.db,
        stores.sessions,
        stores.operations,
        settings.batches_per_call,
        settings.call_seconds,
        slow_batch_seconds=settings.store_timeout / 2,
    )
    # One size per table for the whole process: every step, range and session walking the table
    # learns from the same store.
    task_batches = batch_size(
        settings.task_batch_size, store_limit_gauge("postgres", "tasks_per_batch")
    )
    result_batches = batch_size(
        settings.result_batch_size, store_limit_gauge("postgres", "results_per_batch")
    )
    ranges = RangesActivities(
        stores.db, {TASKS: stores.tasks, RESULTS: stores.results}, stores.operations
    )
    sessions = SessionsActivities(
        stores.db,
        stores.partitions,
        stores.sessions,
        stores.operations,
        settings.default_partition,
    )
    tasks = TasksActivities(stores.tasks, runner, task_batches)
    queue = QueueActivities(stores.tasks, stores.queue, runner, task_batches)
    results = ResultsActivities(stores.results, runner, result_batches)
    objects = ObjectStorageActivities(
        stores.db,
        stores.sessions,
        stores.operations,
        stores.results,
        stores.objects,
        settings.object_batch_size,
        settings.batches_per_call,
        settings.call_seconds,
    )
    return [
        sessions.check_partitions,
        sessions.insert_session,
        sessions.admit,
        sessions.finish,
        sessions.get_session,
        sessions.delete_session,
        ranges.plan_sweep,
        tasks.update_tasks,
        tasks.delete_tasks,
        queue.enqueue_tasks,
        queue.dequeue_tasks,
        results.update_results,
        results.delete_results,
        objects.delete_objects,
    ]
