"""Start, health-check and stop the whole local stack as plain processes: no Docker engine needed.

Kafka (KRaft, single node, jars from Maven Central) and PostgreSQL (Debian's server binaries) run from folders
under ``.cache/``; the four services run under uvicorn. Every step is idempotent: ``up`` reuses what already
answers and returns only once every service answers ``/readyz``; ``down`` stops what this script started.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
KAFKA_LIBS = CACHE / "kafka" / "libs"  # shared by every layout: fetched once
PG_PASSWORD = "leadflow"  # noqa: S105 - the local development cluster only; listens on 127.0.0.1
DEV_SLACK_TOKEN = "xoxb-leadflow-local"  # noqa: S105 - the local Slack stand-in's token
SERVICE_NAMES = ("ingest", "scoring", "router", "notifier")


class StackError(RuntimeError):
    """A component could not be started; the message says which, why, and where its log is."""


@dataclass(frozen=True)
class ServiceSpec:
    """One process of a service. Instance 1 is the stack's own; more instances (same consumer group, their
    own port) show that scaling out is just more members of the group."""

    name: str
    port: int
    instance: int = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def process(self) -> str:
        return self.name if self.instance == 1 else f"{self.name}-{self.instance}"


@dataclass(frozen=True)
class Layout:
    """One independent stack: its own ports, data folder and config, so tests never touch the demo's state."""

    name: str
    home: Path
    kafka_port: int
    pg_port: int
    service_port_base: int
    standin_http_port: int
    standin_smtp_port: int
    config_dir: Path
    env: tuple[tuple[str, str], ...] = ()  # defaults for this layout's services, under the caller's environment

    @property
    def services(self) -> tuple[ServiceSpec, ...]:
        return tuple(ServiceSpec(n, self.service_port_base + i + 1) for i, n in enumerate(SERVICE_NAMES))

    def service(self, name: str, instance: int = 1) -> ServiceSpec:
        """Instance N of a service listens on its base port + 10 * (N - 1)."""
        base = next(s for s in self.services if s.name == name)
        return ServiceSpec(name, base.port + 10 * (instance - 1), instance)

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def kafka_home(self) -> Path:
        return self.home / "kafka"

    @property
    def standin_url(self) -> str:
        return f"http://127.0.0.1:{self.standin_http_port}"


DEV = Layout("dev", CACHE / "dev", 9092, 55432, 8000, 8090, 1025, ROOT / "config")


def layout_for_tests(slot: int | None = None) -> Layout:
    """The test stack. LEADFLOW_TEST_SLOT=N (0-9) shifts its ports and data folder, so several test runs
    (parallel developers, CI jobs on one host) never share a broker or a database."""
    n = int(os.environ.get("LEADFLOW_TEST_SLOT", "0")) if slot is None else slot
    if not 0 <= n <= 9:
        raise StackError(f"LEADFLOW_TEST_SLOT must be 0-9, not {n}")
    shift = n * 100
    return Layout(
        "test" if n == 0 else f"test{n}",
        CACHE / ("test" if n == 0 else f"test{n}"),
        19092 + shift,
        55433 + shift,
        18000 + shift,
        18090 + shift,
        11025 + shift,
        ROOT / "tests" / "fixtures" / "config",
        env=(
            ("ENVIRONMENT", "test"),
            ("INGEST_API_KEYS", "lf-test-key-1,lf-test-key-2"),
            ("WEBHOOK_SECRET", "lf-test-webhook-secret"),
        ),
    )


TEST = layout_for_tests(0)
LAYOUTS = {"dev": DEV, "test": TEST}


def layout_from_env() -> Layout:
    """LEADFLOW_STACK=dev (default) or test."""
    name = os.environ.get("LEADFLOW_STACK", "dev")
    if name == "test":
        return layout_for_tests()
    if name not in LAYOUTS:
        raise StackError(f"LEADFLOW_STACK must be one of {sorted(LAYOUTS)}, not {name!r}")
    return LAYOUTS[name]


def say(message: str) -> None:
    print(f"▸ {message}", flush=True)


# ---------------------------------------------------------------- processes


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


# Children started by this process: kept so they are reaped (an exited child stays a zombie, which
# os.kill(pid, 0) still finds) and so no Popen is garbage-collected while its process runs.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(lay: Layout, name: str) -> int | None:
    try:
        pid = int((lay.run / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _spawn(lay: Layout, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> int:
    lay.run.mkdir(parents=True, exist_ok=True)
    lay.logs.mkdir(parents=True, exist_ok=True)
    # A new session: the process outlives this script and Ctrl-C in the caller's terminal does not reach it.
    with (lay.logs / f"{name}.log").open("ab") as log_file:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=dict(env) if env is not None else None,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    (lay.run / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def stop_process(lay: Layout, name: str, timeout_s: float = 20.0, sig: int = signal.SIGTERM) -> bool:
    """Stop a process this script started (SIGTERM, then SIGKILL after the timeout)."""
    pid = _read_pid(lay, name)
    if pid is None:
        (lay.run / f"{name}.pid").unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    _CHILDREN.pop(pid, None)
    (lay.run / f"{name}.pid").unlink(missing_ok=True)
    return True


def _wait(
    what: str,
    check: Callable[[], bool],
    timeout_s: float,
    log: Path | None,
    alive: Callable[[], bool] | None = None,
) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if check():
            return time.monotonic() - started
        if alive is not None and not alive():
            raise StackError(f"{what} exited during start-up; see {log}:\n{_tail(log)}")
        time.sleep(0.2)
    raise StackError(f"{what} did not become ready within {timeout_s:.0f}s; see {log}:\n{_tail(log)}")


def _tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# ---------------------------------------------------------------- kafka


def kafka_bootstrap(lay: Layout) -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or f"127.0.0.1:{lay.kafka_port}"


def fetch_kafka_jars() -> None:
    """Copy Apache Kafka's jars from Maven Central into .cache/kafka/libs (once)."""
    if list(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        return
    if shutil.which("mvn") is None:
        raise StackError("Maven (mvn) is needed to fetch Kafka's jars: apt-get install maven")
    say("Kafka: fetching the broker jars from Maven Central (once)…")
    result = subprocess.run(
        ["mvn", "-B", "-q", "-f", str(ROOT / "deploy/kafka/pom.xml"), "dependency:copy-dependencies"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not list(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        raise StackError(f"Maven could not fetch the Kafka jars:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def _write_kafka_config(lay: Layout) -> Path:
    home = lay.kafka_home
    home.mkdir(parents=True, exist_ok=True)
    controller = lay.kafka_port + 1
    config = home / "server.properties"
    config.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller}",
                f"listeners=PLAINTEXT://127.0.0.1:{lay.kafka_port},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{lay.kafka_port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={home / 'data'}",
                "num.partitions=6",
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=6",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "log.retention.hours=168",
                "",
            ]
        )
    )
    (home / "log4j2.properties").write_text(
        "\n".join(
            [
                "status = warn",
                "appender.out.type = Console",
                "appender.out.name = STDOUT",
                "appender.out.layout.type = PatternLayout",
                "appender.out.layout.pattern = [%d] %p %m (%c)%n",
                "rootLogger.level = WARN",
                "rootLogger.appenderRef.out.ref = STDOUT",
                "logger.raft.name = kafka.server.KafkaRaftServer",
                "logger.raft.level = INFO",
                "",
            ]
        )
    )
    return config


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError("Java 17+ is needed to run Kafka: apt-get install openjdk-17-jre-headless")
    return java


def _cluster_id() -> str:
    """A random KRaft cluster id. Like Kafka's own ``Uuid.randomUuid()``, never one starting with "-": the
    storage tool reads ``-t -abc…`` as an unknown option and refuses to format (1 start in 64 failed so)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def start_kafka(lay: Layout) -> None:
    """Run a single-node KRaft broker (formatting its storage the first time)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        say(f"Kafka: using {os.environ['KAFKA_BOOTSTRAP_SERVERS']} (KAFKA_BOOTSTRAP_SERVERS is set)")
        return
    if _port_open(lay.kafka_port):
        say(f"Kafka: already answering on 127.0.0.1:{lay.kafka_port}")
        return
    fetch_kafka_jars()
    config = _write_kafka_config(lay)
    classpath = f"{KAFKA_LIBS}/*"
    if not (lay.kafka_home / "data" / "meta.properties").exists():
        cluster_id = _cluster_id()
        subprocess.run(
            [
                _java(),
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(config),
            ],
            check=True,
            capture_output=True,
        )
    heap = os.environ.get("LEADFLOW_KAFKA_HEAP", "512m")
    argv = [
        _java(), f"-Xmx{heap}", "-Xms128m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        f"-Dlog4j2.configurationFile={lay.kafka_home / 'log4j2.properties'}",
        "-cp", classpath, "kafka.Kafka", str(config),
    ]  # fmt: skip
    log = lay.logs / "kafka.log"
    say(f"Kafka: starting a KRaft broker on 127.0.0.1:{lay.kafka_port} (log: {log})")
    _spawn(lay, "kafka", argv)
    took = _wait("Kafka", lambda: _port_open(lay.kafka_port), 90, log, lambda: _read_pid(lay, "kafka") is not None)
    say(f"Kafka: ready in {took:.1f}s")


def create_topics(lay: Layout, partitions: int = 6) -> None:
    """Create LeadFlow's topics with explicit partition counts (no auto-creation)."""
    from shared.kafka import ensure_topics

    deadline = time.monotonic() + 60
    while True:
        try:
            created = asyncio.run(ensure_topics(kafka_bootstrap(lay), partitions=partitions))
            break
        except Exception as exc:  # the controller may still be electing itself right after start
            if time.monotonic() > deadline:
                raise StackError(f"could not create topics on {kafka_bootstrap(lay)}: {exc}") from exc
            time.sleep(1)
    say(f"Kafka: topics ready ({len(created)} created, {partitions} partitions each)")


# ---------------------------------------------------------------- postgres


def _pg_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise StackError("PostgreSQL's server binaries are missing: apt-get install postgresql")


def _pg_home(lay: Layout) -> Path:
    # The server refuses to run as root, so as root it runs as 'postgres', which must reach its data folder.
    preferred = lay.home / "postgres"
    if os.geteuid() != 0:
        return preferred
    CACHE.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(CACHE)], check=False)
    if probe.returncode == 0:
        return preferred
    # Not a temp file: a persistent data folder the postgres user can reach when the checkout is private.
    return Path("/var/tmp") / f"leadflow-postgres-{lay.name}-{zlib.crc32(str(ROOT).encode())}"  # noqa: S108


def _as_pg_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def database_url(lay: Layout) -> str:
    return (
        os.environ.get("DATABASE_URL")
        or f"postgresql+asyncpg://leadflow:{PG_PASSWORD}@127.0.0.1:{lay.pg_port}/leadflow"
    )


def _pg_answers(lay: Layout) -> bool:
    if not _port_open(lay.pg_port):
        return False
    result = subprocess.run(
        [str(_pg_bindir() / "pg_isready"), "-h", "127.0.0.1", "-p", str(lay.pg_port)],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def start_postgres(lay: Layout) -> None:
    """Run a private PostgreSQL cluster with database 'leadflow' (unless DATABASE_URL is set)."""
    if os.environ.get("DATABASE_URL"):
        say("PostgreSQL: using DATABASE_URL")
        return
    if _pg_answers(lay):
        say(f"PostgreSQL: already answering on 127.0.0.1:{lay.pg_port}")
        return
    bindir = _pg_bindir()
    home = _pg_home(lay)
    data, sockets = home / "data", home / "run"
    lay.logs.mkdir(parents=True, exist_ok=True)
    log = lay.logs / "postgres.log"
    if not (data / "PG_VERSION").exists():
        say(f"PostgreSQL: creating a local cluster in {data}")
        sockets.mkdir(parents=True, exist_ok=True)
        pwfile = home / "pwfile"
        pwfile.write_text(PG_PASSWORD + "\n")
        if os.geteuid() == 0:
            for path in (home, sockets, pwfile):
                shutil.chown(path, "postgres", "postgres")
        subprocess.run(
            _as_pg_user([
                str(bindir / "initdb"), "-D", str(data), "-U", "leadflow", "--auth-local=trust",
                "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8",
            ]),
            check=True,
            capture_output=True,
        )  # fmt: skip
    log.touch()
    if os.geteuid() == 0:
        shutil.chown(log, "postgres", "postgres")
    say(f"PostgreSQL: starting on 127.0.0.1:{lay.pg_port} (log: {log})")
    options = (
        f"-p {lay.pg_port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={sockets} "
        "-c max_connections=200 -c shared_buffers=128MB"
    )
    result = subprocess.run(
        _as_pg_user(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"PostgreSQL did not start: {result.stderr or result.stdout}\n{_tail(log)}")
    lay.run.mkdir(parents=True, exist_ok=True)
    (lay.run / "postgres.home").write_text(str(home))
    took = _wait("PostgreSQL", lambda: _pg_answers(lay), 60, log)
    psql = [
        str(bindir / "psql"),
        "-h",
        str(sockets),
        "-p",
        str(lay.pg_port),
        "-U",
        "leadflow",
        "-d",
        "postgres",
        "-tAc",
    ]
    exists = subprocess.run([*psql, "SELECT 1 FROM pg_database WHERE datname='leadflow'"],
                            capture_output=True, text=True, check=False)  # fmt: skip
    if exists.stdout.strip() != "1":
        subprocess.run([*psql, "CREATE DATABASE leadflow"], check=True, capture_output=True)
    say(f"PostgreSQL: ready in {took:.1f}s")


def stop_postgres(lay: Layout) -> None:
    home_file = lay.run / "postgres.home"
    if not home_file.exists():
        return
    home = Path(home_file.read_text().strip())
    subprocess.run(
        _as_pg_user([str(_pg_bindir() / "pg_ctl"), "-D", str(home / "data"), "-m", "fast", "-w", "stop"]),
        capture_output=True,
        check=False,
    )
    home_file.unlink(missing_ok=True)
    say("PostgreSQL: stopped")


# ---------------------------------------------------------------- services


def uses_standins() -> bool:
    """Without SLACK_API_URL / SMTP_HOST the stack brings its own Slack stand-in and SMTP sink."""
    return not (os.environ.get("SLACK_API_URL") and os.environ.get("SMTP_HOST"))


def service_env(lay: Layout) -> dict[str, str]:
    """The environment the services run with: the caller's, plus this layout's defaults for what it leaves unset."""
    env = dict(os.environ)
    for key, value in lay.env:
        env.setdefault(key, value)
    env.setdefault("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap(lay))
    env.setdefault("DATABASE_URL", database_url(lay))
    env.setdefault("LEADFLOW_CONFIG_DIR", str(lay.config_dir))
    # The console (served by the router) reads scoring and the notifier over their APIs.
    env.setdefault("CONSOLE_SCORING_URL", lay.service("scoring").url)
    env.setdefault("CONSOLE_NOTIFIER_URL", lay.service("notifier").url)
    env.setdefault("CONSOLE_ROUTER_URL", lay.service("router").url)
    env.setdefault("SLACK_BOT_TOKEN", DEV_SLACK_TOKEN)
    if not os.environ.get("SLACK_API_URL"):
        env["SLACK_API_URL"] = f"{lay.standin_url}/api"
    if not os.environ.get("SMTP_HOST"):
        env["SMTP_HOST"] = "127.0.0.1"
        env["SMTP_PORT"] = str(lay.standin_smtp_port)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def start_standins(lay: Layout) -> None:
    """A local Slack Web API stand-in and SMTP sink, unless the caller points the stack at real ones."""
    if not uses_standins():
        return
    if _port_open(lay.standin_http_port):
        say(f"Stand-ins: already answering on {lay.standin_url}/")
        return
    argv = [
        sys.executable, "-m", "leadflow.standins",
        "--http-port", str(lay.standin_http_port), "--smtp-port", str(lay.standin_smtp_port),
        "--token", os.environ.get("SLACK_BOT_TOKEN", DEV_SLACK_TOKEN),
    ]  # fmt: skip
    say(f"Stand-ins: Slack Web API and SMTP sink on :{lay.standin_http_port} / :{lay.standin_smtp_port}")
    _spawn(lay, "standins", argv, env=service_env(lay))
    _wait("Stand-ins", lambda: _port_open(lay.standin_http_port) and _port_open(lay.standin_smtp_port), 30,
          lay.logs / "standins.log", lambda: _read_pid(lay, "standins") is not None)  # fmt: skip


def service_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def uvicorn_argv(app: str, port: int) -> list[str]:
    """How the stack runs an ASGI app: the services' uvicorn options, as in the image (Dockerfile)."""
    return [
        sys.executable, "-m", "uvicorn", app,
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--timeout-graceful-shutdown", "10",
        "--timeout-keep-alive", "75",  # as in the image (Dockerfile): idle connections are the client's to close
        "--loop", "uvloop", "--http", "httptools",  # explicit: fail loudly rather than fall back to the slow ones
    ]  # fmt: skip


def start_app(lay: Layout, process: str, app: str, port: int, env: Mapping[str, str]) -> None:
    """Start an ASGI app under the services' uvicorn options, its pid and log kept as ``process``'s."""
    _spawn(lay, process, uvicorn_argv(app, port), env=env)


def start_service(lay: Layout, spec: ServiceSpec, extra_env: Mapping[str, str] | None = None) -> bool:
    """Start one service process under uvicorn unless it already runs; returns whether it was started."""
    if _read_pid(lay, spec.process) is not None or _port_open(spec.port):
        return False
    start_app(lay, spec.process, f"services.{spec.name}.app:app", spec.port, {**service_env(lay), **(extra_env or {})})
    return True


def wait_service(lay: Layout, spec: ServiceSpec, timeout_s: float = 90) -> float:
    """Block until the service answers /readyz."""
    return _wait(
        f"service {spec.process}",
        lambda: service_ready(spec.url),
        timeout_s,
        lay.logs / f"{spec.process}.log",
        lambda: _read_pid(lay, spec.process) is not None or _port_open(spec.port),
    )


def stop_service(lay: Layout, spec: ServiceSpec, *, kill: bool = False) -> bool:
    """Stop one service process: gracefully, or with SIGKILL (a crash) when ``kill``."""
    return stop_process(lay, spec.process, sig=signal.SIGKILL if kill else signal.SIGTERM)


def start_services(lay: Layout) -> None:
    """Start the four services and wait until each answers /readyz."""
    started = []
    for spec in lay.services:
        if start_service(lay, spec):
            started.append(spec)
        else:
            say(f"{spec.name}: already running on :{spec.port}")
    for spec in started:
        took = wait_service(lay, spec)
        say(f"{spec.name}: ready on {spec.url} in {took:.1f}s")


def up(lay: Layout | None = None) -> Layout:
    """Bring up everything, idempotently; returns once every service answers /readyz."""
    lay = lay or layout_from_env()
    started = time.monotonic()
    say(f"Starting the '{lay.name}' stack (data in {lay.home})")
    start_postgres(lay)
    start_kafka(lay)
    create_topics(lay)
    start_standins(lay)
    start_services(lay)
    where = f" Alerts: {lay.standin_url}/" if uses_standins() else ""
    say(f"LeadFlow is up in {time.monotonic() - started:.1f}s.{where}")
    return lay


def down(lay: Layout | None = None) -> None:
    """Stop the services, stand-ins, Kafka and PostgreSQL started by ``up``."""
    lay = lay or layout_from_env()
    extra = sorted(p.stem for p in lay.run.glob("*-[0-9]*.pid")) if lay.run.exists() else []
    for name in extra + [s.name for s in reversed(lay.services)]:
        if stop_process(lay, name):
            say(f"{name}: stopped")
    if stop_process(lay, "standins"):
        say("Stand-ins: stopped")
    if stop_process(lay, "kafka", timeout_s=30):
        say("Kafka: stopped")
    stop_postgres(lay)


def status(lay: Layout | None = None) -> int:
    """Print what answers; exit code 0 when everything is ready."""
    lay = lay or layout_from_env()
    rows = [
        ("PostgreSQL", bool(os.environ.get("DATABASE_URL")) or _pg_answers(lay)),
        ("Kafka", bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")) or _port_open(lay.kafka_port)),
    ]
    rows += [(f"{s.name} {s.url}", service_ready(s.url)) for s in lay.services]
    for name, good in rows:
        print(f"  {'✔' if good else '✘'} {name}")
    return 0 if all(good for _, good in rows) else 1


def reset(lay: Layout | None = None) -> None:
    """Stop everything and delete this layout's local data (Kafka log, database, service logs)."""
    lay = lay or layout_from_env()
    home_file = lay.run / "postgres.home"
    pg_home = Path(home_file.read_text().strip()) if home_file.exists() else _pg_home(lay)
    down(lay)
    shutil.rmtree(lay.home, ignore_errors=True)
    shutil.rmtree(pg_home, ignore_errors=True)
    say(f"'{lay.name}' stack data removed")
