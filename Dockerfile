# syntax=docker/dockerfile:1.7
# One image for the four LeadFlow services, the migration Job and the Slack/e-mail stand-in. Its one entrypoint,
# leadflow-service, takes the service's name; docker-compose.yml and deploy/k8s/ both run it:
#   docker run leadflow:local scoring               serve scoring on :8002 (PORT=… to change, uvicorn options follow)
#   docker run leadflow:local migrate               bring every service's schema to head, then exit
#   docker run leadflow:local uvicorn services.router.app:app --port 9000    any other command runs as given
# Build: docker build -t leadflow:local .   (BuildKit, the default builder since Docker 23)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: the project and its pinned dependencies, installed into a virtualenv that is copied whole
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, in their own layer: a code change then rebuilds in seconds. pyproject.toml pins every one;
# the project itself is installed without them in the next step.
COPY pyproject.toml README.md ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        >/tmp/requirements.txt \
    && pip install --requirement /tmp/requirements.txt
# Only what the services need: tests, .venv and .cache stay out of the image (see .dockerignore if you add one).
COPY shared ./shared
COPY services ./services
COPY leadflow ./leadflow
RUN pip install --no-deps . \
    # Compile once here, as root: the runtime user cannot write .pyc next to read-only site-packages.
    && python -m compileall -q /opt/venv/lib

# ---- runtime: the virtualenv, the default models and the entrypoint, run as an unprivileged user
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LEADFLOW_CONFIG_DIR=/app/config
# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can verify it and runAsUser: 10001 matches.
RUN groupadd --system --gid 10001 leadflow \
    && useradd --system --uid 10001 --gid leadflow --no-create-home --home-dir /app --shell /usr/sbin/nologin leadflow
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The shipped models; Kubernetes mounts its ConfigMap and compose the host's config/ over this folder.
COPY config ./config

COPY --chmod=0755 <<'EOF' /usr/local/bin/leadflow-service
#!/bin/sh
# leadflow-service NAME [uvicorn options]: the image's one entrypoint.
#   ingest | scoring | router | notifier   serve that service under uvicorn on its port (PORT overrides it)
#   migrate                                bring every service's schema to head (the Kubernetes migration Job)
#   standins [options]                     the local Slack Web API stand-in and SMTP sink (development only)
#   anything else                          run as given: uvicorn …, python …, leadflow …
set -eu

usage() {
  sed -n '2,6s/^# \{0,1\}//p' "$0"
}

name="${1:-}"
case "${name}" in
  ingest) port=8001 ;;
  scoring) port=8002 ;;
  router) port=8003 ;;
  notifier) port=8004 ;;
  migrate)
    shift
    exec python /opt/leadflow/migrate.py "$@"
    ;;
  standins)
    shift
    exec python -m leadflow.standins --host 0.0.0.0 "$@"
    ;;
  "" | -h | --help | help)
    usage
    [ -n "${name}" ] || exit 2
    exit 0
    ;;
  *)
    exec "$@"
    ;;
esac
shift
# Keep-alive 75 s (uvicorn's default is 5 s): longer than a load balancer's usual idle timeout (60 s), so the
# balancer, never the service, closes an idle connection; the other way round, a request it forwards into the
# service's close comes back as a 502.
# exec: uvicorn replaces this shell as PID 1 and gets SIGTERM itself, so the lifespan's orderly shutdown
# (finish the batch in hand, flush the producer) runs. Options given after the name win: uvicorn keeps the last.
exec uvicorn "services.${name}.app:app" \
  --host "${HOST:-0.0.0.0}" \
  --port "${PORT:-${port}}" \
  --no-access-log \
  --timeout-graceful-shutdown "${GRACEFUL_SHUTDOWN_S:-10}" \
  --timeout-keep-alive "${KEEP_ALIVE_S:-75}" \
  --loop uvloop --http httptools \
  "$@"
EOF

COPY <<'EOF' /opt/leadflow/migrate.py
"""Bring every service's schema to head, then exit: the Kubernetes migration Job (``leadflow-service migrate``).

It takes the same PostgreSQL advisory lock per schema as a service migrating on start, so the two never race.
"""

import asyncio
import importlib
import sys
from pathlib import Path

from shared.db import create_engine, migrate
from shared.settings import BaseServiceSettings

SERVICES = ("ingest", "scoring", "router", "notifier")


async def main() -> int:
    """Migrate each service that owns a schema, in pipeline order."""
    settings = BaseServiceSettings()
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        for name in SERVICES:
            app = importlib.import_module(f"services.{name}.app")
            migrations, schema = getattr(app, "MIGRATIONS", None), getattr(app, "SCHEMA", None)
            if migrations is None or schema is None or not Path(migrations).is_dir():
                continue  # a service without a database has nothing to migrate
            await migrate(engine, Path(migrations), schema)
            print(f"migrated {name}: schema {schema} at head", flush=True)
    finally:
        await engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
EOF

USER 10001:10001
EXPOSE 8001 8002 8003 8004 8090
ENTRYPOINT ["leadflow-service"]
CMD ["--help"]
