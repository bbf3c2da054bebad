# syntax=docker/dockerfile:1
# The web image: gunicorn serving Django, static files collected at build time and served by
# WhiteNoise. Entry point and commands: deploy/entrypoint.sh. Build: docker build -t exnaton .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the virtual environment and the collected static files -------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

# Dependencies in a layer of their own: it is rebuilt only when requirements.txt changes.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

WORKDIR /app
COPY . .
# Settings need a secret key to load at all; this one exists only for this command.
RUN DJANGO_SECRET_KEY=collectstatic-only-not-a-secret \
    python manage.py collectstatic --noinput --verbosity 0 \
    && python -m compileall -q exnaton meters analysis deploy

# --- runtime: no compilers, no pip cache, a user without privileges --------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=exnaton.settings \
    MPLCONFIGDIR=/tmp/matplotlib \
    PORT=8000

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent app

COPY --from=build /opt/venv /opt/venv
# Owned by root and only readable by the app user: the code cannot be changed at run time.
COPY --from=build /app /app
WORKDIR /app

USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/deploy/healthcheck.py"]

ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
