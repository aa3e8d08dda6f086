"""The dashboard's JSON API and its guards (token, CSRF, same origin), over HTTP against a worker
that serves it; and its config and command line."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infinitic import InfiniticWorker
from infinitic.cli import main
from infinitic.config import load_config
from infinitic.errors import ConfigError
from tests.helpers import started
from tests.web import dashboard_app as app

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[InfiniticWorker, str]]:
    with started(app.worker_config({"port": 0, "token": TOKEN})) as worker:
        assert worker.dashboard is not None
        yield worker, worker.dashboard.url


def http(url: str, token: str | None = TOKEN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, follow_redirects=False, timeout=10)


def test_the_token_is_required_by_the_api_and_the_pages(served: tuple[Any, str]) -> None:
    _, url = served
    with http(url, token=None) as anonymous:
        assert anonymous.get("/api/workflows").status_code == 401
        assert (
            anonymous.get("/api/workflows", headers={"Authorization": "Bearer no"}).status_code
            == 401
        )
        page = anonymous.get("/workflows")
        assert (page.status_code, page.headers["location"]) == (303, "/login")
        assert anonymous.post("/login", data={"token": "wrong"}).status_code == 401
        signed = anonymous.post("/login", data={"token": TOKEN})
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert anonymous.get("/workflows").status_code == 200  # with the cookie now
    with http(url) as scripted:
        assert scripted.get("/api/workflows").status_code == 200


def test_an_action_needs_the_csrf_token_from_the_same_origin(served: tuple[Any, str]) -> None:
    worker, url = served
    approval = worker.client.dispatch(worker.client.new_workflow(app.ApprovalFlow).run, "trip")
    path = f"/api/workflows/Approval/{approval.id}/signal"
    body = {"channel": "decision", "value": "granted"}
    with http(url) as api:
        csrf = api.get("/api/csrf").json()["csrf"]
        assert api.post(path, json=body).status_code == 403
        assert api.post(path, json=body, headers={"X-CSRF-Token": "guess"}).status_code == 403
        evil = {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
        assert api.post(path, json=body, headers=evil).status_code == 403
        with pytest.raises(TimeoutError):
            approval.result(timeout=0.5)  # nothing reached it
        sent = api.post(path, json=body, headers={"X-CSRF-Token": csrf, "Origin": url})
        assert sent.status_code == 200, sent.text
        assert sent.json() == {
            "outcome": f"signal: sent to Approval {approval.id} on channel decision"
        }
    assert approval.result(timeout=20) == "trip: granted"


def test_on_loopback_another_host_name_is_refused(served: tuple[Any, str]) -> None:
    _, url = served
    with http(url) as api:
        assert api.get("/api/workflows").status_code == 200
        # what a DNS-rebinding page's requests carry: its own host name
        assert api.get("/api/workflows", headers={"Host": "evil.example"}).status_code == 400


def test_bad_requests_say_what_was_wrong(served: tuple[Any, str]) -> None:
    _, url = served
    with http(url) as api:
        csrf = {"X-CSRF-Token": api.get("/api/csrf").json()["csrf"]}
        base = "/api/workflows/Approval/some-id"
        wrong = api.post(f"{base}/explode", headers=csrf)
        assert wrong.status_code == 400 and "action must be one of cancel" in wrong.json()["error"]
        bad = api.post(f"{base}/signal", content=b"{not json", headers=csrf)
        assert bad.status_code == 400 and "not JSON" in bad.json()["error"]
        nameless = api.post(f"{base}/signal", json={"value": 1}, headers=csrf)
        assert nameless.status_code == 400 and '"channel"' in nameless.json()["error"]
        status = api.get("/api/workflows", params={"status": "sleeping"})
        assert status.status_code == 400 and "status must be one of" in status.json()["error"]
        assert api.get(base).status_code == 404


def test_the_api_lists_filters_pages_and_describes(served: tuple[Any, str]) -> None:
    worker, url = served
    client = worker.client
    tag = f"batch:{time.time_ns()}"
    handles = [
        client.dispatch(client.new_workflow(app.HelloFlow, tags={tag}).run, f"n{i}")
        for i in range(3)
    ]
    assert [h.result(timeout=20) for h in handles] == ["hello n0", "hello n1", "hello n2"]
    with http(url) as api:
        first = api.get("/api/workflows", params={"tag": tag, "limit": 2}).json()
        second = api.get(
            "/api/workflows", params={"tag": tag, "cursor": first["next_cursor"]}
        ).json()
        listed = [i["id"] for i in first["items"] + second["items"]]
        assert listed == [h.id for h in reversed(handles)]  # newest first
        assert second["next_cursor"] is None
        info = api.get(f"/api/workflows/Hello/{handles[0].id}").json()
        run = info["method_runs"][0]
        assert (info["status"], info["tags"], run["args"], run["result"]) == (
            "completed",
            [tag],
            ["n0"],
            "hello n0",
        )
        assert [(c["kind"], c["target"], c["status"]) for c in run["commands"]] == [
            ("task", "Greeter.greet", "completed")
        ]
        overview = api.get("/api/overview").json()
        assert overview["counts"]["Hello"]["completed"] >= 3 and overview["pulsar"] is None
        page = api.get("/workflows", params={"tag": tag})
        assert page.headers["content-security-policy"].startswith(
            "default-src 'none'; script-src 'self'"
        )
        assert all(h.id in page.text for h in handles)


def test_a_child_links_to_its_parent_and_back(served: tuple[Any, str]) -> None:
    worker, url = served
    client = worker.client
    parent = client.dispatch(client.new_workflow(app.FamilyFlow).run, "kid")
    assert parent.result(timeout=20) == "hello kid"
    with http(url) as api:
        run = api.get(f"/api/workflows/Family/{parent.id}").json()["method_runs"][0]
        [child] = [c for c in run["commands"] if c["kind"] == "workflow"]
        assert child["target"] == "Hello.run" and child["status"] == "completed"
        parent_page = api.get(f"/workflows/Family/{parent.id}").text
        child_page = api.get(f"/workflows/Hello/{child['id']}").text
    assert f'href="/workflows/Hello/{child["id"]}"' in parent_page
    assert f'dispatched by <a href="/workflows/Family/{parent.id}">' in child_page


def test_the_dashboard_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="dashboard.port: must be at most 65535"):
        load_config({"dashboard": {"port": 70000}})
    with pytest.raises(ConfigError, match="dashboard"):
        load_config({"dashboard": {"hots": "0.0.0.0"}})
    cfg = load_config({"dashboard": {"token": TOKEN}})
    assert cfg.dashboard is not None and (cfg.dashboard.host, cfg.dashboard.port) == (
        "127.0.0.1",
        8080,
    )
    assert TOKEN not in repr(cfg)


def test_the_command_refuses_an_in_memory_transport(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "infinitic.yml"
    config.write_text("transport: inMemory\nstorage: inMemory\n")
    assert main(["dashboard", "-c", str(config)]) == 2
    assert "dashboard: {host, port}" in capsys.readouterr().err


@pytest.mark.pulsar
def test_on_pulsar_the_overview_shows_topic_backlogs_and_consumers(
    pulsar_transport: dict[str, Any],
) -> None:
    config = {**app.worker_config({"port": 0}), "transport": pulsar_transport}
    with InfiniticWorker.from_config(config) as worker:
        client = worker.client
        assert (
            client.dispatch(client.new_workflow(app.HelloFlow).run, "p").result(timeout=60)
            == "hello p"
        )
        assert worker.dashboard is not None
        with http(worker.dashboard.url, token=None) as api:
            # the task's acknowledgement reaches the broker within the client's grouping delay
            # (100 ms): its backlog drains to 0 then, maybe after the workflow's result
            deadline = time.monotonic() + 10
            while True:
                topics = {t["topic"]: t for t in api.get("/api/overview").json()["pulsar"]}
                if topics["task-executor:Greeter"]["backlog"] == 0:
                    break
                assert time.monotonic() < deadline, topics["task-executor:Greeter"]
                time.sleep(0.05)
            page = api.get("/").text
    assert topics["workflow-engine:Hello"]["consumers"] >= 1
    assert "Pulsar topics" in page and "workflow-engine:Hello" in page
