# The image of docker-compose.yml's worker and API services (`python -m worker`, `python -m
# api`). The embedded stack (stack/ and the servers of the `stack` extra) is not in it: in the
# production shape every store is its own service.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md worker.py ./
COPY settings settings
COPY lifecycle lifecycle
COPY stores stores
COPY adapters adapters
COPY activities activities
COPY workflows workflows
COPY engine engine
COPY wire wire
COPY security security
COPY telemetry telemetry
COPY admin admin
COPY api api
COPY client client
COPY agent agent
COPY samples samples
RUN pip install --no-cache-dir .
USER nobody
CMD ["python", "-m", "worker"]
