# syntax=docker/dockerfile:1
# One image for the four LeadFlow services and the Slack/e-mail stand-in; docker-compose.yml picks the command.

# ---- build: install the project and its pinned dependencies into a virtualenv
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Only what `pip install .` needs; tests, .venv and .cache stay out of the image.
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY leadflow ./leadflow
RUN pip install .

# ---- runtime: the virtualenv and the config, run as an unprivileged user
FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LEADFLOW_CONFIG_DIR=/app/config
RUN groupadd --system --gid 10001 leadflow \
    && useradd --system --uid 10001 --gid leadflow --no-create-home --home-dir /app leadflow
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY config ./config
USER leadflow
EXPOSE 8001 8002 8003 8004 8090
CMD ["uvicorn", "services.ingest.app:app", "--host", "0.0.0.0", "--port", "8001"]
