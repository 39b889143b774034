# syntax=docker/dockerfile:1
# newsalert: one image, one role per container (run, poller, matcher, notifier).

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, read from pyproject alone, so editing the code reuses this layer.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib, pathlib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; pathlib.Path('requirements.txt').write_text('\n'.join(deps) + '\n')" \
 && pip install --no-cache-dir -r requirements.txt

# Then the package itself, non-editable, without touching the dependencies again.
COPY service ./service
COPY consumers ./consumers
RUN pip install --no-cache-dir --no-deps /src


FROM python:3.11-slim AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    NEWSALERT_CONFIG=/app/config/newsalert.yaml
RUN groupadd --system --gid 10001 newsalert \
 && useradd --system --uid 10001 --gid newsalert --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin newsalert \
 && mkdir -p /app/data \
 && chown newsalert:newsalert /app/data
# Same path as in the builder: the venv's scripts point at /opt/venv/bin/python.
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
