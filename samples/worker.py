"""Your first workload: an ArmoniK worker written with the official SDK only, as ArmoniK's
Python samples are; it reads its endpoints from the ComputePlane__* environment variables that
its agent (or an ArmoniK compute pod) sets.

The payload is text; the task writes a transform of it to its one expected output:
- "sleep:<seconds>:<text>"  waits, then answers as for <text>;
- "fail:<message>"          ends with an error output (ERROR, no retry);
- "sub:<text>"              hands its output on to a subtask, whose payload is <text>;
- "<text>"                  writes <text> upper-cased.

python -m samples.worker
"""

import os
import time

from armonik.common import Output, TaskDefinition
from armonik.common.channel import create_channel
from armonik.worker import ArmoniKWorker, TaskHandler
from armonik.worker.seqlogger import ClefLogger


def process(task: TaskHandler) -> Output:
    text = task.payload.decode()
    if text.startswith("sleep:"):
        _, seconds, text = text.split(":", 2)
        time.sleep(float(seconds))
    if text.startswith("fail:"):
        return Output(text[len("fail:") :])
    if text.startswith("sub:"):
        payload = task.create_results({"payload": text[len("sub:") :].encode()})["payload"]
        child = TaskDefinition(
            payload_id=payload.result_id, expected_output_ids=task.expected_results
        )
        task.submit_tasks([child])
        return Output()
    task.send_results({task.expected_results[0]: text.upper().encode()})
    return Output()


def endpoint(channel: str) -> str:
    kind = os.environ.get(f"ComputePlane__{channel}__SocketType", "unixdomainsocket")
    address = os.environ.get(f"ComputePlane__{channel}__Address", "/cache/armonik_worker.sock")
    return ("unix://" if kind == "unixdomainsocket" else "http://") + address


def main() -> None:
    logger = ClefLogger.getLogger("ArmoniKWorker")
    with create_channel(
        endpoint("AgentChannel"), options=(("grpc.default_authority", "localhost"),)
    ) as channel:
        ArmoniKWorker(channel, process, logger=logger).start(endpoint("WorkerChannel"))


if __name__ == "__main__":
    main()
