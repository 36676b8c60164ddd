# The image of docker-compose.yml's worker and API services (`python -m worker`, `python -m
# api`). The embedded stack's servers are not needed here: in the production shape every store
# is its own service.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY settings.py worker.py ./
COPY lifecycle lifecycle
COPY stores stores
COPY activities activities
COPY workflows workflows
COPY client client
COPY admin admin
COPY api api
COPY stack stack
COPY security security
COPY telemetry telemetry
RUN pip install --no-cache-dir .
USER nobody
CMD ["python", "-m", "worker"]
