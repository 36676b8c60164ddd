import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SessionOperationRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class SessionOperationResponse(_message.Message):
    __slots__ = ("session", "superseded")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_FIELD_NUMBER: _ClassVar[int]
    session: bytes
    superseded: bool
    def __init__(self, session: _Optional[bytes] = ..., superseded: _Optional[bool] = ...) -> None: ...

class ListRequestsRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class AuditedRequest(_message.Message):
    __slots__ = ("at", "requested_by", "rpc", "code", "detail")
    AT_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    RPC_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    requested_by: str
    rpc: str
    code: str
    detail: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requested_by: _Optional[str] = ..., rpc: _Optional[str] = ..., code: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class ListRequestsResponse(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[AuditedRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[AuditedRequest, _Mapping]]] = ...) -> None: ...

class WatchOperationRequest(_message.Message):
    __slots__ = ("session_id", "operation")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    operation: str
    def __init__(self, session_id: _Optional[str] = ..., operation: _Optional[str] = ...) -> None: ...

class StepProgress(_message.Message):
    __slots__ = ("step", "scanned", "total", "changed", "done", "batches_started", "batches_committed", "rate", "eta_seconds")
    STEP_FIELD_NUMBER: _ClassVar[int]
    SCANNED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    BATCHES_STARTED_FIELD_NUMBER: _ClassVar[int]
    BATCHES_COMMITTED_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    step: str
    scanned: int
    total: int
    changed: int
    done: bool
    batches_started: int
    batches_committed: int
    rate: float
    eta_seconds: float
    def __init__(self, step: _Optional[str] = ..., scanned: _Optional[int] = ..., total: _Optional[int] = ..., changed: _Optional[int] = ..., done: _Optional[bool] = ..., batches_started: _Optional[int] = ..., batches_committed: _Optional[int] = ..., rate: _Optional[float] = ..., eta_seconds: _Optional[float] = ...) -> None: ...

class Retrying(_message.Message):
    __slots__ = ("activity", "attempt", "last_failure")
    ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    LAST_FAILURE_FIELD_NUMBER: _ClassVar[int]
    activity: str
    attempt: int
    last_failure: str
    def __init__(self, activity: _Optional[str] = ..., attempt: _Optional[int] = ..., last_failure: _Optional[str] = ...) -> None: ...

class Failing(_message.Message):
    __slots__ = ("step", "activity", "last_failure", "seconds", "calls", "stalled")
    STEP_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    LAST_FAILURE_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    STALLED_FIELD_NUMBER: _ClassVar[int]
    step: str
    activity: str
    last_failure: str
    seconds: float
    calls: int
    stalled: bool
    def __init__(self, step: _Optional[str] = ..., activity: _Optional[str] = ..., last_failure: _Optional[str] = ..., seconds: _Optional[float] = ..., calls: _Optional[int] = ..., stalled: _Optional[bool] = ...) -> None: ...

class OperationProgress(_message.Message):
    __slots__ = ("session_id", "operation", "state", "step", "steps", "retrying", "ended", "failing", "stalled")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    RETRYING_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    FAILING_FIELD_NUMBER: _ClassVar[int]
    STALLED_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    operation: str
    state: str
    step: str
    steps: _containers.RepeatedCompositeFieldContainer[StepProgress]
    retrying: _containers.RepeatedCompositeFieldContainer[Retrying]
    ended: bool
    failing: _containers.RepeatedCompositeFieldContainer[Failing]
    stalled: bool
    def __init__(self, session_id: _Optional[str] = ..., operation: _Optional[str] = ..., state: _Optional[str] = ..., step: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[StepProgress, _Mapping]]] = ..., retrying: _Optional[_Iterable[_Union[Retrying, _Mapping]]] = ..., ended: _Optional[bool] = ..., failing: _Optional[_Iterable[_Union[Failing, _Mapping]]] = ..., stalled: _Optional[bool] = ...) -> None: ...
