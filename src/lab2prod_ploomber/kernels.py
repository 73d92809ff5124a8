"""A Jupyter kernel manager for the notebook tasks that never races another process for a TCP port.

jupyter_client picks a kernel's five ZMQ ports by binding port 0, reading the
number the system gave and closing the socket; the kernel binds them again
only once it has started, seconds later on a loaded machine. Whatever binds
one of those ports in between (a kernel started at the same moment by the
other grid cell, another build, any client of the machine) makes the kernel
die with "ZMQError: Address already in use" and the task, so the build,
fails (papermill #511, ipykernel #412; their retries cover only part of it).

This manager gives each kernel a private folder and talks to it over Unix
domain sockets there (ZMQ's `ipc` transport): no port is picked, so there is
nothing to race for. The folder goes away with the kernel. In a build it is
made inside the build's own socket folder (``LAB2PROD_KERNEL_DIR``, set by
scratch.build_tmpdir: short, in the system's temporary folder, while TMPDIR
points into the project); otherwise in the temporary folder. When the path
would be too long for a Unix socket (a deep TMPDIR) the kernel takes
jupyter_client's TCP ports.

The kernel's stderr (its own warnings and, when it dies, the reason) goes to
the build log when the executor names one (`executors.Parallel`, `log:`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from traitlets import default

from lab2prod_ploomber.scratch import KERNEL_DIR_ENV

# sun_path holds 108 bytes on Linux (104 on macOS); the kernel appends "-ipc-<n>"
_MAX_SOCKET_PATH = 100
# the executor names the build log here for the processes it starts (they inherit it)
LOG_ENV = "LAB2PROD_BUILD_LOG"


class IPCKernelManager(AsyncKernelManager):
    """`AsyncKernelManager` whose kernel listens on Unix sockets in a private folder, not on TCP ports."""

    @default("connection_file")
    def _private_connection_file(self) -> str:
        self._private_folder = tempfile.mkdtemp(
            prefix="l2p-kernel-", dir=os.environ.get(KERNEL_DIR_ENV) or None
        )
        return os.path.join(self._private_folder, "kernel.json")

    @default("transport")
    def _ipc_transport(self) -> str:
        folder = os.path.dirname(self.connection_file)
        return "ipc" if len(os.path.join(folder, "kernel-ipc-99")) <= _MAX_SOCKET_PATH else "tcp"

    @default("ip")
    def _socket_prefix(self) -> str:
        if self.transport == "ipc":
            return os.path.join(os.path.dirname(self.connection_file), "kernel-ipc")
        return "127.0.0.1"

    async def _launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        log = os.environ.get(LOG_ENV)
        if log and "stderr" not in kw:
            with open(log, "ab") as stream:  # the child keeps its own copy of the descriptor
                kw["stderr"] = stream
                return await super()._launch_kernel(kernel_cmd, **kw)
        return await super()._launch_kernel(kernel_cmd, **kw)

    async def cleanup_resources(self, restart: bool = False) -> None:
        """Remove the connection file and sockets, then (unless restarting) the kernel's private folder."""
        await super().cleanup_resources(restart=restart)
        folder = getattr(self, "_private_folder", None)
        if folder and not restart:
            shutil.rmtree(folder, ignore_errors=True)
