"""An operation's progress, as the workflow keeps it: what its `progress` query answers, and what
the Temporal UI shows as the workflow's current details."""

import dataclasses

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from lifecycle.models import Progress, Refusal, StepProgress


RANGE_MARK = "#"


class ProgressBoard:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def at(self, step: str) -> None:
        """The operation is now running `step`."""
        self.progress.state = "running"
        self.progress.step = step
        self.show()

    def planned(self, steps: list[str], total: int, ranges: int) -> None:
        """A sweep's steps each walk `total` rows, in `ranges` ranges."""
        self.progress.ranges = [r for r in self.progress.ranges if _step_of(r) not in steps]
        for step in steps:
            self._put(StepProgress(step, total=total))
            if ranges > 1:
                self.progress.ranges += [
                    StepProgress(range_step(step, i, ranges)) for i in range(ranges)
                ]
        self.show()

    def record(self, result: StepProgress) -> None:
        """Keep the figures one call of a step (or of one range of it) answered."""
        step = _step_of(result)
        entry = self._entry(step)
        if step == result.step:
            self._put(dataclasses.replace(result, total=entry.total))
        else:
            ranges = self.progress.ranges
            at = next(i for i, r in enumerate(ranges) if r.step == result.step)
            ranges[at] = result
            parts = [r for r in ranges if _step_of(r) == step]
            self._put(
                StepProgress(
                    step,
                    scanned=sum(p.scanned for p in parts),
                    total=entry.total,
                    changed=sum(p.changed for p in parts),
                    done=all(p.done for p in parts),
                    batches_started=sum(p.batches_started for p in parts),
                    batches_committed=sum(p.batches_committed for p in parts),
                    superseded=any(p.superseded for p in parts),
                )
            )
        self.show()

    def end(self, state: str, refusal: Refusal | None = None) -> Progress:
        self.progress.state = state
        self.show(refusal)
        return self.progress

    def show(self, refusal: Refusal | None = None) -> None:
        p = self.progress
        lines = [f"**{p.operation.value}** session `{p.session_id}`: {p.state} ({p.step})"]
        if refusal is not None:
            lines.append(f"refused, {refusal.kind}: {refusal.message}")
        for s in p.steps:
            total = f" / {s.total:,}" if s.total is not None else ""
            lines.append(
                f"- {s.step}: {s.scanned:,}{total} scanned, {s.changed:,} changed,"
                f" {s.batches_committed:,} batches{' (done)' if s.done else ''}"
            )
        workflow.set_current_details("\n".join(lines))

    def _entry(self, step: str) -> StepProgress:
        found = next((s for s in self.progress.steps if s.step == step), None)
        return found or StepProgress(step)

    def _put(self, entry: StepProgress) -> None:
        steps = self.progress.steps
        at = next((i for i, s in enumerate(steps) if s.step == entry.step), len(steps))
        steps[at : at + 1] = [entry]


def range_step(step: str, index: int, ranges: int) -> str:
    """The name of a range's own checkpoint and figures: the step's, when it runs in one range
    ("tasks"), else the step's and the range's number ("tasks#2")."""
    return f"{step}{RANGE_MARK}{index + 1}" if ranges > 1 else step


def _step_of(progress: StepProgress) -> str:
    """The step a range's figures belong to ("tasks#2": "tasks")."""
    return progress.step.split(RANGE_MARK, 1)[0]
