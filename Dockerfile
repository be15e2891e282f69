# Paved Road's container image: `pavedroad serve` as an unprivileged user on a slim Python 3.11.
#
# Build: docker build -t pavedroad:0.1.0 .      Run: see README, "Running at scale" → "Container and Kubernetes".
# The builder stage's COPY and RUN lines are played, as written, in a clean virtual environment by
# tests/deploy/test_dockerfile.py (no Docker engine needed): change them there and here together, the test reads
# them from this file.

FROM python:3.11-slim-bookworm AS builder
ENV VIRTUAL_ENV=/opt/pavedroad
WORKDIR /src
# Only what the wheel is built from (pyproject.toml's packages and their data, and the README it names as its
# long description); .dockerignore keeps the rest of the context out.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY commands ./commands
COPY sandbox ./sandbox
RUN python -m venv "$VIRTUAL_ENV" \
 && "$VIRTUAL_ENV/bin/pip" install --no-cache-dir --disable-pip-version-check .

FROM python:3.11-slim-bookworm
# The bot's own user, 10001: numeric in USER below, so that Kubernetes' runAsNonRoot can check it is not root.
RUN groupadd --system --gid 10001 pavedroad \
 && useradd --system --uid 10001 --gid pavedroad --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin pavedroad
# The venv lives at the same path in both stages: its scripts' #! lines name /opt/pavedroad/bin/python.
COPY --from=builder /opt/pavedroad /opt/pavedroad
# PYTHONDONTWRITEBYTECODE: the root filesystem may be read-only (the Kubernetes manifests make it so).
# MPLCONFIGDIR: matplotlib (the reports' chart) wants a writable cache directory; /tmp is one (an emptyDir there).
ENV PATH=/opt/pavedroad/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    PORT=3000 \
    CATALOGUE_PATH=/etc/pavedroad/catalogue.yml \
    PAVEDROAD_DB=/var/lib/pavedroad/pavedroad.db
# SQLite's file, for one container without PAVEDROAD_DATABASE_URL: mount a volume here to keep it.
RUN mkdir -p /var/lib/pavedroad && chown 10001:10001 /var/lib/pavedroad
WORKDIR /var/lib/pavedroad
USER 10001:10001
EXPOSE 3000
# Liveness only (the process answers); Kubernetes asks /readyz for readiness, see deploy/kubernetes/.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-m", "bot.app.healthcheck"]
ENTRYPOINT ["pavedroad"]
CMD ["serve"]
