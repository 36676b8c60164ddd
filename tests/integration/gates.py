"""Gates on a real worker's activities, so that a test can run another operation at an exact
point of one in flight: between the two arrows over a range, say.

The gate sits in front of the real activity and holds its first attempt until the test lets it
go; meanwhile it heartbeats, so that Temporal does not take the held attempt for a dead worker
and retry it elsewhere.
"""

from collections import Counter
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.heartbeat import heartbeating
from tests.workflows.faults import Gate

WITHIN = 60.0  # seconds: the real stack's gates are reached in seconds, even on a busy machine


class ActivityGates(Interceptor):
    def __init__(self) -> None:
        self._gates: dict[tuple[str, str, int], Gate] = {}
        self._calls: Counter[tuple[str, str]] = Counter()

    def hold(self, workflow_id: str, activity_type: str, call: int) -> Gate:
        """Hold the `call`-th call (counted from 1) of that activity by that workflow."""
        gate = self._gates[(workflow_id, activity_type, call)] = Gate()
        return gate

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Gated(next, self)

    async def _pass(self) -> None:
        info = activity.info()
        if info.attempt != 1:
            return
        key = (info.workflow_id or "", info.activity_type)
        self._calls[key] += 1
        gate = self._gates.get((*key, self._calls[key]))
        if gate is None:
            return
        gate.entered.set()
        async with heartbeating():
            await gate.released.wait()


class _Gated(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, gates: ActivityGates) -> None:
        super().__init__(next)
        self.gates = gates

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        await self.gates._pass()
        return await self.next.execute_activity(input)
