# rollguard worker / simulator image: `docker build -t rollguard .`, entry point `rollguard`.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY detectors ./detectors
COPY topics ./topics
COPY dashboards ./dashboards
COPY examples ./examples
# /keys: where the compose stack keeps its generated signing keys (a volume takes this owner)
RUN pip install . && useradd --system --uid 10001 rollguard && mkdir -p /keys && chown rollguard /keys
USER rollguard

EXPOSE 8080
ENTRYPOINT ["rollguard"]
CMD ["--help"]
