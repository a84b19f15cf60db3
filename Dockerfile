# ringcast: one image for every role (`ringcast serve`, `ringcast worker`, `ringcast db upgrade`).
# See README, "Containers". Build from the checkout: docker build -t ringcast .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RINGCAST_HOST=0.0.0.0 \
    RINGCAST_PORT=8000 \
    RINGCAST_DATA_DIR=/var/lib/ringcast/data \
    XDG_DATA_HOME=/var/lib/ringcast

# Installed as root into the image's Python, then run as a user that cannot change it.
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && rm -rf /build

RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/ringcast ringcast \
    && mkdir -p /var/lib/ringcast/data && chown -R ringcast:ringcast /var/lib/ringcast
USER ringcast
# Without RINGCAST_DATABASE_URL the embedded SQLite default lands here (XDG_DATA_HOME above:
# /var/lib/ringcast/ringcast/ringcast.db): mount a volume on it.
WORKDIR /var/lib/ringcast

EXPOSE 8000
# The slim image has no curl: ask Python. Workers serve no HTTP (compose turns this off).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('RINGCAST_PORT', '8000'), timeout=4)"

CMD ["ringcast", "serve"]
