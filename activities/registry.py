"""Every activity the worker runs, bound to its stores."""

from collections.abc import Callable

from activities.batches import BatchRunner
from activities.object_storage import ObjectStorageActivities
from activities.queue import QueueActivities
from activities.ranges import RangesActivities
from activities.results import ResultsActivities
from activities.sessions import SessionsActivities
from activities.tasks import TasksActivities
from settings import Settings
from stores.protocols import StoreSet


def activities(stores: StoreSet, settings: Settings) -> list[Callable]:
    runner = BatchRunner(
        stores.db,
        stores.sessions,
        stores.operations,
        settings.batches_per_call,
        settings.call_seconds,
    )
    ranges = RangesActivities(
        stores.db, {"tasks": stores.tasks, "results": stores.results}, stores.operations
    )
    sessions = SessionsActivities(
        stores.db,
        stores.partitions,
        stores.sessions,
        stores.operations,
        settings.default_partition,
    )
    tasks = TasksActivities(stores.tasks, runner, settings.task_batch_size)
    queue = QueueActivities(stores.tasks, stores.queue, runner, settings.task_batch_size)
    results = ResultsActivities(stores.results, runner, settings.result_batch_size)
    objects = ObjectStorageActivities(
        stores.results,
        stores.objects,
        runner,
        settings.object_batch_size,
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
