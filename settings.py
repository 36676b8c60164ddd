"""Configuration, from environment variables. The defaults are the embedded stack of `make run`."""

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "armonik-sessions"
    # The time-skipping test server rejects custom search attributes it does not know.
    temporal_search_attributes: bool = True

    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    postgres_pool_size: int = 8

    redis_url: str = "redis://127.0.0.1:6379/0"

    s3_endpoint: str = "http://127.0.0.1:8333"
    s3_bucket: str = "armonik-results"
    s3_access_key: str = "armonik"
    s3_secret_key: str = "armonik"
    s3_region: str = "us-east-1"

    default_partition: str = "default"

    # One batch is one transaction (or one queue pipeline, or one S3 delete call): a checkpoint.
    task_batch_size: int = 5000
    result_batch_size: int = 1000
    # An activity call runs this many batches before it hands progress back to its workflow,
    # which keeps both the activity short and the workflow history small.
    batches_per_call: int = 20


@lru_cache
def get_settings() -> Settings:
    return Settings()
