# newsalert: one image, one role per container (run, poller, matcher, notifier).
#
# PYTHON_IMAGE is the base of both stages: the official python:3.11-slim by default, or any
# image with python3 (>= 3.11) and its venv module, such as the Debian bookworm base that
# scripts/base-image makes where no registry is reachable. Plain Dockerfile syntax, so the
# legacy builder (DOCKER_BUILDKIT=0) builds it as well as BuildKit.
ARG PYTHON_IMAGE=python:3.11-slim

# The dependency list, read from pyproject alone. Only this file goes on to the builder, so an
# edit elsewhere in pyproject (tool settings, version) still reuses the installed dependencies.
FROM ${PYTHON_IMAGE} AS requirements
WORKDIR /src
COPY pyproject.toml ./
RUN python3 -c "import tomllib, pathlib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; pathlib.Path('requirements.txt').write_text('\n'.join(deps) + '\n')"


FROM ${PYTHON_IMAGE} AS builder
# Optional, for builds that must use another package index or trust a proxy's CA (pip reads
# them from the environment); unset by default.
ARG PIP_INDEX_URL
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
# python3, not python: bookworm's interpreter is /usr/bin/python3 and has no `python`.
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, so editing the code (or the README) reuses this layer.
COPY --from=requirements /src/requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# Then the package itself, non-editable, without touching the dependencies again (the README
# is the package's long description, so the build needs it).
COPY pyproject.toml README.md ./
COPY service ./service
COPY consumers ./consumers
RUN pip install --no-cache-dir --no-deps /src


FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    NEWSALERT_CONFIG=/app/config/newsalert.yaml
RUN groupadd --system --gid 10001 newsalert \
 && useradd --system --uid 10001 --gid newsalert --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin newsalert \
 && mkdir -p /app/data \
 && chown newsalert:newsalert /app/data
# Same path and same base as in the builder: the venv's python links to the base's python3.
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY config ./config
# The embedded store (state_dir ./data) lives here; Kafka mode keeps its state in Kafka.
VOLUME ["/app/data"]
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["newsalert", "health"]
ENTRYPOINT ["newsalert"]
CMD ["run"]
