"""Every workflow, by the operation it runs."""

from lifecycle.statuses import Operation
from workflows.cancel import CancelSession
from workflows.close import CloseSession
from workflows.create import CreateSession
from workflows.delete import DeleteSession
from workflows.pause import PauseSession
from workflows.purge import PurgeSession
from workflows.resume import ResumeSession
from workflows.stop_submission import StopSubmission

WORKFLOWS = {
    Operation.CREATE: CreateSession,
    Operation.CANCEL: CancelSession,
    Operation.PAUSE: PauseSession,
    Operation.RESUME: ResumeSession,
    Operation.CLOSE: CloseSession,
    Operation.PURGE: PurgeSession,
    Operation.DELETE: DeleteSession,
    Operation.STOP_SUBMISSION: StopSubmission,
}
