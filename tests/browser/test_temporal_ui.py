"""The Temporal UI in a real browser: headless Chromium, driven by Playwright, against
`python -m stack` (`make run`) while a pause of 200,000 tasks runs. The page must list the
pause by its SessionId search attribute, and show on the workflow's page its step, done/total
and time left, figures that move from one load of the page to the next.

It needs a Chromium: Debian's (`apt-get install -y chromium`, /usr/bin/chromium, or the path
in $CHROMIUM); Playwright's own download does not work offline. Without one it skips. With
UI_SCREENSHOT=path it saves the workflow's page, its current details showing, there
(docs/temporal-ui-pause.png is one).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import report_figure
from tests.stack_process import StackProcess, own_servers_env

pytestmark = [pytest.mark.browser, pytest.mark.stack]

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
NO_CHROMIUM = "no Chromium: apt-get install -y chromium (see README)"
# Without these, Chromium calls Google's hosts (updates, sync, field trials), which fail here.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Wide enough for the details to be legible in the screenshot, without wrapping much.
VIEWPORT = {"width": 1400, "height": 680}

TASKS = 200_000
TOTAL = f"{TASKS:,}"
# Small batches and one range, so that the pause outlasts the test's loads of the page (done
# 6 to 11 s after it began): it took 45 s here on two cores (4,400 rows/s), 2 min with both
# busy elsewhere. The figures move after each call of 20 batches, 1,000 rows.
SLOW_PAUSE = {"TASK_BATCH_SIZE": "50", "BATCHES_PER_CALL": "20", "SWEEP_RANGES": "1"}
# Generous: two cores may be shared with other test runs, and the page loads in seconds.
PAGE_TIMEOUT = 30.0

CLI = str(Path(sys.executable).with_name("armonik-sessions"))
# What ProgressBoard.show writes (workflows/progress.py), as the UI renders its markdown; no
# named groups, which Playwright's expect (JavaScript's RegExp) does not take.
HEADER = re.compile(r"pause session (\S+): running \((tasks|queue)\)")
TASKS_LINE = re.compile(
    rf"tasks: ([\d,]+) / {TOTAL} scanned, [\d,]+ changed, [\d,]+ batches,"
    r" [\d,]+ rows/s, (about \d+ (?:s|min \d\d s|h \d\d min)) left"
)


@dataclass
class RunningStack:
    env: dict[str, str]
    ui: str


@pytest.fixture(scope="module")
def browser_page() -> Iterator:
    """A page of a fresh headless Chromium, or a skip that says how to install one."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{NO_CHROMIUM}; {CHROMIUM} is missing")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as error:
        pytest.skip(f"{NO_CHROMIUM}; playwright: {error}")
    with tempfile.TemporaryDirectory(prefix="armonik-chromium-") as profile, sync_playwright() as p:
        try:
            context = p.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport=VIEWPORT,
            )
        except Error as error:
            first_line = str(error).strip().splitlines()[0]
            pytest.skip(f"{NO_CHROMIUM}; {CHROMIUM} does not start: {first_line}")
        context.set_default_timeout(PAGE_TIMEOUT * 1000)
        try:
            yield context.new_page()
        finally:
            context.close()


@pytest.fixture(scope="module")
def running_stack(browser_page) -> Iterator[RunningStack]:
    """`python -m stack --workers 1 --agents 0` on free ports, as `make run` starts it, with no
    agent to take the seeded tasks that the pause walks."""
    with tempfile.TemporaryDirectory(prefix="armonik-browser-") as state_dir:
        # No metrics endpoints: their fixed ports may be another stack's.
        env, ports = own_servers_env(state_dir)
        env |= {"METRICS_PORT": "0"} | SLOW_PAUSE
        ui = ports["ui"]
        running = StackProcess(env, "--workers", "1", "--agents", "0")
        try:
            running.wait_for(f"Temporal UI  http://127.0.0.1:{ui}")
            running.wait_for("Ctrl-C to stop")
            yield RunningStack(env, f"http://127.0.0.1:{ui}")
        finally:
            running.close()


def test_the_temporal_ui_shows_a_running_pause_and_its_progress(
    browser_page, running_stack: RunningStack
) -> None:
    from playwright.sync_api import expect

    page, env, ui = browser_page, running_stack.env, running_stack.ui
    created = _cli(env, "session", "create", "--json")
    session_id = json.loads(created)["session_id"]
    _cli(env, "seed", session_id, "--tasks", str(TASKS), "--json")
    workflow_id = f"session-{session_id}-pause"

    began = time.monotonic()
    pause = subprocess.Popen(
        [CLI, "session", "pause", session_id, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The workflow list, filtered by the search attribute, shows the pause running (one row
        # per run: it continues as new every few seconds).
        query = f'SessionId="{session_id}"'
        rows = page.get_by_test_id("workflows-summary-configurable-table-row")
        running_row = rows.filter(
            has=page.get_by_role("link", name=workflow_id, exact=True)
        ).filter(has=page.get_by_test_id("execution-status").filter(has_text="Running"))
        _load_until(
            lambda: page.goto(f"{ui}/namespaces/default/workflows?query={quote(query)}"),
            lambda: expect(running_row.first).to_be_visible(timeout=5_000),
        )

        # Its page (the workflow id alone leads to its latest run) shows its current details.
        first = _read_details(page, ui, workflow_id)
        first_at = time.monotonic() - began
        assert first.session == session_id
        status = page.locator("header").get_by_test_id("execution-status")
        expect(status).to_have_text("Running")
        assert pause.poll() is None, "the pause ended before its page was read"
        if shot := os.environ.get("UI_SCREENSHOT"):
            page.screenshot(path=shot, full_page=True)

        # Loaded again, the page shows the pause further on.
        second = _read_details(page, ui, workflow_id, after=first.done)
        second_at = time.monotonic() - began
        assert second.done > first.done
        assert pause.poll() is None, "the pause ended before its page was read again"
    finally:
        # Only the CLI: the pause goes on server-side until the stack stops (its end is the
        # other tests' business, and would take most of this one's time).
        pause.kill()
        pause.communicate()
    report_figure(
        f"browser: the UI showed the pause of {TOTAL} tasks at step {first.step},"
        f" {first.done:,} done, {first.eta} left, {first_at:.1f} s after it began;"
        f" {second.done:,} done at {second_at:.1f} s"
    )


@dataclass
class Details:
    session: str
    step: str
    done: int
    eta: str


def _read_details(page, ui: str, workflow_id: str, after: int = -1) -> Details:
    """The pause's current details, as its page shows them once they show a running step,
    done/total and time left, with more done than `after`. The page is loaded again until
    they do: they are read once a load, and a new run (continued as new) shows them only from
    its first batch call on."""
    from playwright.sync_api import expect

    details = page.frame_locator("#user-metadata-current-details").locator("body")
    read: list[Details] = []

    def load() -> None:
        page.goto(f"{ui}/namespaces/default/workflows/{workflow_id}")
        page.get_by_role("tab", name="User Metadata").click()

    def check() -> None:
        expect(details).to_contain_text(HEADER, timeout=5_000)
        expect(details).to_contain_text(TASKS_LINE, timeout=1_000)
        text = details.inner_text()
        header, figures = HEADER.search(text), TASKS_LINE.search(text)
        assert header and figures, text
        done = int(figures[1].replace(",", ""))
        assert done > after, f"{done:,} done, no more than {after:,} before:\n{text}"
        read.append(Details(header[1], header[2], done, figures[2]))

    _load_until(load, check)
    return read[-1]


def _load_until(load: Callable[[], object], check: Callable[[], None]) -> None:
    """Load the page until `check` passes on it (for at most PAGE_TIMEOUT): what the UI shows
    comes with each load, and some of it only once the workflow has got that far."""
    deadline = time.monotonic() + PAGE_TIMEOUT
    while True:
        load()
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"armonik-sessions {' '.join(args)}: {done.stderr}"
    return done.stdout
