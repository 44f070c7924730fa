"""The Python-floor phase's pieces: wrk's report parsed, and its script posting numbered bodies for real."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from bench.floor import FloorError, _record, asyncpg_dsn, parse_wrk, run_wrk, wrk_script

WRK_OUTPUT = """\
Running 20s test @ http://127.0.0.1:8001
  1 threads and 128 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    58.93ms   11.20ms 204.51ms   88.72%
    Req/Sec     2.18k   230.11     2.60k    71.50%
  43390 requests in 20.01s, 9.31MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   2168.77
Transfer/sec:    476.51KB
"""


def test_the_rate_non_2xx_answers_and_socket_errors_are_read_from_wrk() -> None:
    assert parse_wrk(WRK_OUTPUT) == (2168.77, 7, 5)


def test_a_clean_run_has_no_errors_and_a_report_without_a_rate_is_refused() -> None:
    clean = "\n".join(line for line in WRK_OUTPUT.splitlines() if "errors" not in line and "Non-2xx" not in line)
    assert parse_wrk(clean) == (2168.77, 0, 0)
    with pytest.raises(FloorError, match="no 'Requests/sec'"):
        parse_wrk("unable to connect to 127.0.0.1:8001 Connection refused")


def test_bench_records_have_the_asked_size_and_spread_over_the_leads() -> None:
    keys = set()
    for n in range(20):
        key, value = _record("r1", n, leads=5, size=400)
        assert len(value) == 400
        keys.add(key)
    assert len(keys) == 5


def test_the_services_database_url_is_turned_into_asyncpg_s() -> None:
    assert asyncpg_dsn("postgresql+asyncpg://u:p@127.0.0.1:5/db") == "postgresql://u:p@127.0.0.1:5/db"


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    seen: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, self.headers.get("X-API-Key", ""), body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[ThreadingHTTPServer]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_wrk_posts_a_numbered_body_per_request_with_the_headers(recorder: ThreadingHTTPServer) -> None:
    # Given a script whose body carries @N@ twice (as the form's email and event id do)
    script = wrk_script("/v1/events/form", '{"email":"a@N@@x.example","event_id":"e-@N@"}', {"X-API-Key": "k1"})
    ticks = iter(range(100))
    # When wrk drives a local server for a second
    figures = run_wrk(
        f"http://127.0.0.1:{recorder.server_port}", script, seconds=1, connections=2,
        cpu=lambda: {"app": float(next(ticks))},
    )  # fmt: skip
    # Then every request reached the path with the key, each body numbered apart, and the rate was read
    seen = _Recorder.seen
    assert figures.requests_per_s > 0
    assert figures.non_2xx == 0
    assert figures.cpu_s == {"app": 1.0}
    assert {(path, key) for path, key, _ in seen} == {("/v1/events/form", "k1")}
    bodies = [body for _, _, body in seen]
    assert len(set(bodies)) == len(bodies) > 1
    numbered = [re.fullmatch(rb'\{"email":"a(\d+)@x.example","event_id":"e-(\d+)"\}', body) for body in bodies]
    assert all(m is not None and m[1] == m[2] for m in numbered), bodies[:3]
