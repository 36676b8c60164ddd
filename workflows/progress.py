"""An operation's progress, as the workflow keeps it: what its `progress` query answers, and what
the Temporal UI shows as the workflow's current details."""

import dataclasses

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from lifecycle.models import Progress, Refusal, StepProgress


class ProgressBoard:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def at(self, step: str) -> None:
        """The operation is now running `step`."""
        self.progress.state = "running"
        self.progress.step = step
        self.show()

    def record(self, result: StepProgress, opened_by: str | None = None) -> None:
        """Keep a step's figures from one of its calls. A step that follows another over its
        ranges walks as many rows as the step that opened them."""
        total = result.total
        if total is None and opened_by is not None:
            total = self._entry(opened_by).total
        steps = self.progress.steps
        at = next((i for i, s in enumerate(steps) if s.step == result.step), len(steps))
        steps[at : at + 1] = [dataclasses.replace(result, total=total)]
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
