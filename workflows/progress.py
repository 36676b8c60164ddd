"""An operation's progress, as the workflow keeps it: what its `progress` query answers, and what
the Temporal UI shows as the workflow's current details."""

import dataclasses

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from lifecycle.eta import format_eta
    from lifecycle.progress import Failing, Progress, StepProgress, range_step, step_of
    from lifecycle.requests import Refusal


class ProgressBoard:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def at(self, step: str) -> None:
        """The operation is now running `step`."""
        self.progress.state = "running"
        self.progress.step = step
        self.show()

    def planned(self, steps: list[str], total: int, ranges: int) -> None:
        """A sweep's steps each walk `total` rows, in `ranges` ranges, from now on."""
        self.progress.ranges = [r for r in self.progress.ranges if step_of(r.step) not in steps]
        now = workflow.now().timestamp()
        for step in steps:
            self._put(StepProgress(step, total=total, started_at=now))
            if ranges > 1:
                self.progress.ranges += [
                    StepProgress(range_step(step, i, ranges)) for i in range(ranges)
                ]
        self.show()

    def record(self, result: StepProgress) -> None:
        """Keep the figures one call of a step (or of one range of it) answered."""
        step = step_of(result.step)
        entry = self._entry(step)
        if step == result.step:
            self._put(
                _timed(dataclasses.replace(result, total=entry.total, started_at=entry.started_at))
            )
        else:
            ranges = self.progress.ranges
            at = next(i for i, r in enumerate(ranges) if r.step == result.step)
            ranges[at] = result
            parts = [r for r in ranges if step_of(r.step) == step]
            self._put(
                _timed(
                    StepProgress(
                        step,
                        scanned=sum(p.scanned for p in parts),
                        total=entry.total,
                        changed=sum(p.changed for p in parts),
                        done=all(p.done for p in parts),
                        batches_started=sum(p.batches_started for p in parts),
                        batches_committed=sum(p.batches_committed for p in parts),
                        superseded=any(p.superseded for p in parts),
                        started_at=entry.started_at,
                    )
                )
            )
        self.show()

    def failed(
        self,
        name: str,
        activity: str,
        failure: str,
        committed: StepProgress | None,
        stall_seconds: float,
    ) -> bool:
        """A call of the range (or step) `name` failed, after committing `committed` (the
        step's figures then, if it said); whether the operation is stalled now."""
        now = workflow.now().timestamp()
        known = self._range(name)
        moved = committed is not None and committed.scanned > known.scanned
        if moved:
            self.record(dataclasses.replace(committed, done=False))
        entry = next((f for f in self.progress.failing if f.step == name), None)
        if entry is None or moved:
            entry = Failing(name, activity, failure, since=now, calls=0)
            self.progress.failing = [f for f in self.progress.failing if f.step != name]
            self.progress.failing.append(entry)
        entry.calls += 1
        entry.activity, entry.last_failure = activity, failure
        entry.stalled = now - entry.since >= stall_seconds
        self.show()
        return self.progress.stalled

    def recovered(self, name: str) -> bool:
        """A call of `name` succeeded; whether the operation is still stalled elsewhere."""
        self.progress.failing = [f for f in self.progress.failing if f.step != name]
        return self.progress.stalled

    def range_done(self, name: str) -> None:
        """The range `name` of a step (or the step, in one range) has nothing left to walk."""
        entry = self._range(name)
        if not entry.done:
            self.record(dataclasses.replace(entry, done=True))

    def end(self, state: str, refusal: Refusal | None = None) -> Progress:
        self.progress.state = state
        self.show(refusal)
        return self.progress

    def show(self, refusal: Refusal | None = None) -> None:
        p = self.progress
        lines = [f"**{p.operation.value}** session `{p.session_id}`: {p.state} ({p.step})"]
        if refusal is not None:
            lines.append(f"refused, {refusal.kind}: {refusal.message}")
        now = workflow.now().timestamp()
        for f in p.failing:
            state = "**stalled**" if f.stalled else "retrying"
            lines.append(
                f"{state} {f.step}: nothing committed for {format_eta(now - f.since)},"
                f" {f.calls} failed call(s) of {f.activity}, the last: {f.last_failure}"
            )
        # Markdown: a list begins after a blank line.
        lines.append("")
        for s in p.steps:
            total = f" / {s.total:,}" if s.total is not None else ""
            speed = f", {s.rate:,.0f} rows/s" if s.rate else ""
            left = f", {format_eta(s.eta_seconds)} left" if s.eta_seconds and not s.done else ""
            lines.append(
                f"- {s.step}: {s.scanned:,}{total} scanned, {s.changed:,} changed,"
                f" {s.batches_committed:,} batches{speed}{left}{' (done)' if s.done else ''}"
            )
        workflow.set_current_details("\n".join(lines))

    def _range(self, name: str) -> StepProgress:
        """The figures of a range (or of a step in one range)."""
        found = next((r for r in self.progress.ranges if r.step == name), None)
        return found or self._entry(name)

    def _entry(self, step: str) -> StepProgress:
        found = next((s for s in self.progress.steps if s.step == step), None)
        return found or StepProgress(step)

    def _put(self, entry: StepProgress) -> None:
        steps = self.progress.steps
        at = next((i for i, s in enumerate(steps) if s.step == entry.step), len(steps))
        steps[at : at + 1] = [entry]


def _timed(entry: StepProgress) -> StepProgress:
    """The entry with its rate since the step began, and the time left at that rate."""
    if entry.started_at is None:
        return entry
    elapsed = workflow.now().timestamp() - entry.started_at
    if elapsed <= 0 or entry.scanned == 0:
        return dataclasses.replace(entry, rate=None, eta_seconds=None)
    rate = entry.scanned / elapsed
    left = None
    if entry.done:
        left = 0.0
    elif entry.total is not None:
        left = max(0.0, (entry.total - entry.scanned) / rate)
    return dataclasses.replace(entry, rate=rate, eta_seconds=left)
