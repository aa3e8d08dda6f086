"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright): a worker
serves it while workflows complete, fail and wait on a signal; the tests steer them from the page.

INFINITIC_SCREENSHOTS=1 also writes docs/images/dashboard-*.png.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import started
from tests.web import dashboard_app as app

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(
        "Debian's chromium is not installed (scripts/install-deps)", allow_module_level=True
    )

WAIT_MS = 20_000
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SCRIPT = "<script>alert('pwned')</script>"


def eventually(read: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ok(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


@pytest.fixture(scope="module")
def deployment() -> Iterator[dict[str, Any]]:
    app.BROKEN["payments"] = True
    with started(app.worker_config({"port": 0})) as worker:
        client = worker.client
        try:
            hello = client.dispatch(
                client.new_workflow(app.HelloFlow, tags={"team:web"}).run, SCRIPT
            )
            payment = client.dispatch(client.new_workflow(app.PaymentFlow).run, 42)
            approval = client.dispatch(client.new_workflow(app.ApprovalFlow).run, "leave")
            hello.result(timeout=20)
            for name, ident, status in (
                ("Payment", payment.id, "failed"),
                ("Approval", approval.id, "running"),
            ):
                info = eventually(
                    lambda name=name, ident=ident: client.describe_workflow(name, ident),
                    lambda i, status=status: (
                        i is not None and i.status == status and i.method_runs[0].commands
                    ),
                )
                assert info is not None and info.status == status
            assert worker.dashboard is not None
            yield {
                "url": worker.dashboard.url,
                "hello": hello.id,
                "payment": payment.id,
                "approval": approval.id,
                "client": client,
            }
        finally:
            app.BROKEN["payments"] = True


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.dialogs = []  # type: ignore[attr-defined]

    def on_dialog(dialog: Any) -> None:
        tab.dialogs.append((dialog.type, dialog.message))
        dialog.accept()

    tab.on("dialog", on_dialog)
    yield tab
    context.close()


def shoot(page: Any, name: str) -> None:
    if os.environ.get("INFINITIC_SCREENSHOTS") == "1":
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / f"dashboard-{name}.png"), full_page=True)


def expect(locator: Any) -> Any:
    return playwright_api.expect(locator)


def test_the_list_shows_each_instance_with_its_status(
    deployment: dict[str, Any], page: Any
) -> None:
    page.goto(deployment["url"] + "/workflows")
    for key, status in (("hello", "completed"), ("payment", "failed"), ("approval", "running")):
        row = page.locator(f'tr[data-id="{deployment[key]}"]')
        expect(row.locator(".badge")).to_have_text(status, timeout=WAIT_MS)
    page.select_option("select[name=status]", "failed")
    page.click("form.filters button")
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    page.click(f'a[href$="{deployment["payment"]}"]')
    expect(page.locator("h1")).to_contain_text("Payment")


def test_the_overview_counts_and_lists_the_failure(deployment: dict[str, Any], page: Any) -> None:
    page.goto(deployment["url"] + "/")
    failures = page.locator(".failures li")
    expect(failures.first).to_contain_text("bank unreachable while charging 42")
    expect(page.locator("svg.chart rect.ko")).not_to_have_count(0)
    shoot(page, "overview")


def test_a_failed_instance_shows_its_error_chain_and_completes_once_retried(
    deployment: dict[str, Any], page: Any
) -> None:
    page.goto(f"{deployment['url']}/workflows/Payment/{deployment['payment']}")
    chain = page.locator(".run .error-chain").last
    expect(chain.locator(".error-name")).to_have_text(
        ["infinitic.errors.TaskFailedError", "ConnectionError"]
    )
    expect(chain).to_contain_text("bank unreachable while charging 42")
    expect(page.locator(".command.task .badge")).to_have_text("failed")
    shoot(page, "workflow")
    page.evaluate("window.notReloaded = true")
    app.BROKEN["payments"] = False  # the fix is deployed
    page.click("button[data-action=retry-tasks]")
    expect(page.locator(".outcome")).to_have_text(
        f"retry-tasks: sent to Payment {deployment['payment']}"
    )
    assert page.dialogs == [("confirm", "Run its failed tasks again?")]
    # the page follows by itself, without a reload
    expect(page.locator("h1 .badge")).to_have_text("completed", timeout=WAIT_MS)
    expect(page.locator(".run > details.json").last).to_contain_text('"charged 42"')
    assert page.evaluate("window.notReloaded") is True


def test_a_signal_sent_from_the_page_completes_the_waiting_instance(
    deployment: dict[str, Any], page: Any
) -> None:
    page.goto(f"{deployment['url']}/workflows/Approval/{deployment['approval']}")
    expect(page.locator(".command.receive .badge")).to_have_text("ongoing")
    page.fill("form.signal input[name=channel]", "decision")
    page.fill("form.signal textarea[name=value]", '"approved"')
    page.click("form.signal button")
    expect(page.locator(".outcome")).to_contain_text("signal: sent to Approval")
    expect(page.locator("h1 .badge")).to_have_text("completed", timeout=WAIT_MS)
    expect(page.locator(".run > details.json").last).to_contain_text('"leave: approved"')
    result = deployment["client"].describe_workflow("Approval", deployment["approval"])
    assert result.method_runs[0].result == "leave: approved"


def test_an_argument_holding_a_script_is_shown_as_text(
    deployment: dict[str, Any], page: Any
) -> None:
    page.goto(f"{deployment['url']}/workflows/Hello/{deployment['hello']}")
    arguments = page.locator(".run > details.json").first
    arguments.locator("summary").click()
    expect(arguments.locator("pre")).to_contain_text(SCRIPT)
    expect(page.locator(".command.task details.json pre").last).to_contain_text(f"hello {SCRIPT}")
    assert page.locator("main script").count() == 0
    page.wait_for_timeout(0)
    assert page.dialogs == []  # the script never ran
