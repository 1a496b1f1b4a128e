"""Multi-worker training on one machine, for tests and demos: N `python -m tfft.train` processes on 127.0.0.1
ports, each told its place by TF_CONFIG, training one model with MultiWorkerMirroredStrategy. On a real cluster
each machine sets TF_CONFIG itself (BUILD.md 'Several machines').

The launcher watches the workers: when one dies, the others are stopped (a collective would otherwise wait for the
dead one forever) and the job ends with one line naming the worker; the chief's last complete checkpoint stays, so
the same command with --resume continues. SIGTERM / SIGINT to the launcher reach every worker: they agree on a
step, checkpoint and exit (tfft.training.loop.any_worker).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence

# How long stopped workers get to exit after SIGTERM before SIGKILL (one blocked in a collective never does).
GRACE_SECONDS = 10.0


def is_chief(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process is the one that writes the run directory: the only process without TF_CONFIG, the
    'chief' task, or worker 0 of a cluster without a chief (MultiWorkerMirroredStrategy's rule)."""
    if not environ.get("TF_CONFIG"):
        return True
    config = json.loads(environ["TF_CONFIG"])
    task = config.get("task", {})
    if "chief" in config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0


def free_ports(count: int) -> list[int]:
    """`count` TCP ports free on 127.0.0.1 now (the OS picks them; held open together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: Sequence[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
                       "task": {"type": "worker", "index": index}})


def _relay(stream, prefix: str) -> None:
    for line in iter(stream.readline, ""):
        sys.stderr.write(prefix + line)
    stream.close()


def was_interrupted(code: int) -> bool:
    """The exit code of a worker that a signal stopped after checkpointing (tfft.train: 128 + SIGINT or SIGTERM)."""
    return code - 128 in (signal.SIGINT, signal.SIGTERM)


def _describe(code: int) -> str:
    return f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"


def launch(workers: int, train_args: Sequence[str], *, grace: float = GRACE_SECONDS) -> tuple[int, str]:
    """Runs `python -m tfft.train TRAIN_ARGS --distribute=multi_worker` as `workers` local processes until all end;
    returns (exit code, what happened in one line). Each worker's output is relayed with a '[worker i] ' prefix."""
    ports = free_ports(workers)
    command = [sys.executable, "-m", "tfft.train", *train_args, "--distribute=multi_worker"]
    processes = []
    for index in range(workers):
        env = {**os.environ, "TF_CONFIG": tf_config(ports, index)}
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=_relay, args=(process.stdout, f"[worker {index}] "), daemon=True).start()
        processes.append(process)

    def forward(signum, frame):
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            codes = [process.poll() for process in processes]
            failed = next((i for i, code in enumerate(codes) if code not in (None, 0) and not was_interrupted(code)),
                          None)
            if failed is not None:
                _stop(processes, grace)
                code = codes[failed]
                return (code if code in (2, 3) else 1,  # bad input / divergence: every worker says the same
                        f"worker {failed} {_describe(code)}; the job stopped; the chief's last complete checkpoint "
                        "stays: run the same command with --resume to continue from it")
            if all(code == 0 for code in codes):
                return 0, f"{workers} workers finished"
            if all(code is not None for code in codes):  # a signal stopped them, each after checkpointing
                return max(codes), (f"{workers} workers interrupted at one step and checkpointed; run the same "
                                    "command with --resume to continue")
            time.sleep(0.2)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop(processes: Sequence[subprocess.Popen], grace: float) -> None:
    """SIGTERM to every live worker, then SIGKILL to those still running after `grace` seconds."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
