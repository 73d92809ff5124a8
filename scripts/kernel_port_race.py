"""Show the port race of papermill #511 directly, and that the notebook tasks' kernels cannot lose it.

jupyter_client picks a kernel's five TCP ports by binding port 0 and closing the socket; the kernel
binds them seconds later. On a busy machine other processes take ephemeral ports all the time; one
that takes a picked port in between kills the kernel ("Address already in use"). Here another
process plays the busy machine (it keeps taking and releasing ephemeral ports on 127.0.0.1, as
clients, servers and other kernels do) while ROUNDS rounds of KERNELS kernels start side by side,
first with jupyter_client's own manager (TCP), then with `lab2prod_ploomber.kernels.
IPCKernelManager` (Unix sockets in a private folder), which `pipeline.yaml`'s executor uses.

    .venv/bin/python scripts/kernel_port_race.py [--rounds 10] [--kernels 2] [--held 3000]

Prints the failures of each manager, their first error, and the load average (timings depend on
the machine's load; the counts are the point). Exit 0 always: a script that prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import multiprocessing
import os
import socket
import time

from jupyter_client.manager import AsyncKernelManager

from lab2prod_ploomber.kernels import IPCKernelManager


def _busy_machine(held: int, stop) -> None:
    """Keep taking ephemeral ports on 127.0.0.1 and giving them back, like a busy machine's processes."""
    sockets: collections.deque[socket.socket] = collections.deque()
    while not stop.is_set():
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
        except OSError:
            s.close()
            continue
        sockets.append(s)
        if len(sockets) > held:
            sockets.popleft().close()
    for s in sockets:
        s.close()


async def _start(manager: type[AsyncKernelManager]) -> str | None:
    """Start one kernel, wait until it answers, shut it down; return the error, or None."""
    km = manager(kernel_name="python3")
    try:
        await km.start_kernel()
        client = km.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=120)
        finally:
            client.stop_channels()
        return None
    except Exception as exc:  # noqa: BLE001 -- every way a start fails is counted and shown
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    finally:
        try:
            await km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001 -- a dead kernel may not shut down cleanly
            pass


async def _rounds(manager: type[AsyncKernelManager], rounds: int, kernels: int) -> list[str | None]:
    results: list[str | None] = []
    for _ in range(rounds):
        results += await asyncio.gather(*(_start(manager) for _ in range(kernels)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="rounds of kernels (default 10)")
    parser.add_argument("--kernels", type=int, default=2, help="kernels started side by side (2)")
    parser.add_argument(
        "--held", type=int, default=3000, help="ports the busy process holds at a time (3000)"
    )
    args = parser.parse_args()
    stop = multiprocessing.Event()
    busy = multiprocessing.Process(target=_busy_machine, args=(args.held, stop), daemon=True)
    busy.start()
    time.sleep(1)
    try:
        for name, manager in (
            ("tcp (jupyter_client)", AsyncKernelManager),
            ("ipc (lab2prod)", IPCKernelManager),
        ):
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            start = time.perf_counter()
            results = asyncio.run(_rounds(manager, args.rounds, args.kernels))
            errors = [r for r in results if r]
            print(
                f"{name}: {len(errors)} of {len(results)} kernel starts failed "
                f"({time.perf_counter() - start:.0f} s, load average {load} on {os.cpu_count()} cores)"
            )
            for error, count in collections.Counter(errors).most_common(3):
                print(f"    {count}x {error}")
    finally:
        stop.set()
        busy.join(timeout=10)


if __name__ == "__main__":
    main()
