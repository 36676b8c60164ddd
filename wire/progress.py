"""An operation's progress on the wire (the Operations service's OperationProgress), both ways:
the API sends it from the workflow's progress, the CLI reads it back."""

import time

from lifecycle.progress import Failing, Progress, Retrying, StepProgress
from lifecycle.statuses import Operation
from wire.protos import operations_pb2 as pb


def progress_message(progress: Progress, *, ended: bool) -> pb.OperationProgress:
    return pb.OperationProgress(
        session_id=progress.session_id,
        operation=progress.operation.value,
        state=progress.state,
        step=progress.step,
        steps=[
            pb.StepProgress(
                step=s.step,
                scanned=s.scanned,
                total=s.total,
                changed=s.changed,
                done=s.done,
                batches_started=s.batches_started,
                batches_committed=s.batches_committed,
                rate=s.rate,
                eta_seconds=s.eta_seconds,
            )
            for s in progress.steps
        ],
        retrying=[
            pb.Retrying(activity=r.activity, attempt=r.attempt, last_failure=r.last_failure)
            for r in progress.retrying
        ],
        ended=ended,
        failing=[
            pb.Failing(
                step=f.step,
                activity=f.activity,
                last_failure=f.last_failure,
                seconds=max(0.0, time.time() - f.since),
                calls=f.calls,
                stalled=f.stalled,
            )
            for f in progress.failing
        ],
        stalled=progress.stalled,
    )


def progress_from_message(message: pb.OperationProgress, operation: Operation) -> Progress:
    return Progress(
        operation=operation,
        session_id=message.session_id,
        state=message.state,
        step=message.step,
        steps=[
            StepProgress(
                step=s.step,
                scanned=s.scanned,
                total=s.total if s.HasField("total") else None,
                changed=s.changed,
                done=s.done,
                batches_started=s.batches_started,
                batches_committed=s.batches_committed,
                rate=s.rate if s.HasField("rate") else None,
                eta_seconds=s.eta_seconds if s.HasField("eta_seconds") else None,
            )
            for s in message.steps
        ],
        retrying=[Retrying(r.activity, r.attempt, r.last_failure) for r in message.retrying],
        failing=[
            Failing(
                f.step,
                f.activity,
                f.last_failure,
                since=time.time() - f.seconds,
                calls=f.calls,
                stalled=f.stalled,
            )
            for f in message.failing
        ],
    )
