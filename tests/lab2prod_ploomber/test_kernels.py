"""The notebook tasks' kernel manager: a real kernel over Unix sockets in a private folder, no TCP port."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from lab2prod_ploomber.kernels import IPCKernelManager


def test_a_kernel_runs_over_unix_sockets_and_its_folder_goes_with_it():
    async def run():
        km = IPCKernelManager(kernel_name="python3")
        await km.start_kernel()
        folder = os.path.dirname(km.connection_file)
        try:
            assert km.transport == "ipc" and km.ip.startswith(folder)
            client = km.client()
            client.start_channels()
            await client.wait_for_ready(timeout=120)
            assert os.path.exists(f"{km.ip}-{km.shell_port}")  # the socket file, not a TCP port
            reply = await client.execute_interactive("print(6 * 7)", timeout=60)
            assert reply["content"]["status"] == "ok"
            client.stop_channels()
        finally:
            await km.shutdown_kernel(now=True)
        return folder

    # in a thread of its own: the browser tests' Playwright keeps an event loop running in the
    # main thread for the whole session, and asyncio.run refuses to start inside it
    with ThreadPoolExecutor(1) as thread:
        folder = thread.submit(asyncio.run, run()).result()
    assert not os.path.exists(folder)


def test_a_socket_path_too_long_falls_back_to_tcp(tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(deep))
    km = IPCKernelManager(kernel_name="python3")
    assert km.transport == "tcp" and km.ip == "127.0.0.1"
