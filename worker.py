"""The worker: runs every session workflow and activity against the configured stores.

python -m worker      (configuration from environment variables, see settings/)
"""

import asyncio

from adapters.connect import Stores
from engine.operations import connect_temporal
from engine.workers import build_worker, prepare, run_until_signalled
from settings import Settings
from telemetry.samplers import Samplers


async def run(settings: Settings, stop: asyncio.Event) -> None:
    stores = await Stores.connect(settings)
    try:
        await prepare(stores, settings)
        client = await connect_temporal(settings)
        async with build_worker(client, stores, settings):
            sampling = None
            if settings.metrics_address:
                samplers = Samplers(stores.queue, client, settings.temporal_task_queue)
                sampling = asyncio.create_task(samplers.run(settings.metrics_sample_seconds))
            print("worker ready", flush=True)
            try:
                await stop.wait()
            finally:
                if sampling is not None:
                    sampling.cancel()
    finally:
        await stores.close()


def main() -> None:
    run_until_signalled(run)


if __name__ == "__main__":
    main()
