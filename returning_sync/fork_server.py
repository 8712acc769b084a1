"""A fan-out's children, forked from one process that has imported what they need (Linux).

`sync --all-communities` runs each community in a process of its own. Started as fresh interpreters,
eight children import dlt, pyarrow and duckdb eight times: about 2 CPU-seconds and 70 MB of private
memory each. `ForkServer` starts one server process that imports the command's modules once, freezes
the garbage collector (so the children's collections do not write to, and copy, the pages they
share), and then forks one child per request. A child runs `returning-sync <argv>` exactly as the
command line would, with its stdout and stderr in files of the caller's, and exits with the
command's code. The server reports each child's exit code; it reaps its children, so their CPU time
is charged to it, and it is waited for when the fan-out ends.

Forked children still run one community each: their own dlt pipeline, state, lock, logging and exit
code, and their memory goes back to the system when they end. A child exits with `os._exit` after
flushing its output and logging: a forked child must not run the server's exit handlers.

Protocol, one JSON object per line: the caller writes `{"id", "argv", "out", "err"}` on the
server's stdin; the server writes `{"ready": true}` once its imports are done, then
`{"id", "exit"}` as each child ends. When its stdin closes, the server waits for its children
and exits.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Sequence
from concurrent.futures import Future
from typing import IO, Any


class ForkServerError(RuntimeError):
    """The server could not start, or ended before answering."""


class ForkServer:
    """The caller's side: `run(argv, out, err)` from any thread, blocking until that child ends."""

    def __init__(self, preload: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.preload = list(preload)
        self.env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending: dict[int, Future[int]] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._reader: threading.Thread | None = None
        self._ready: Future[None] = Future()

    def __enter__(self) -> ForkServer:
        self._proc = subprocess.Popen([sys.executable, "-m", "returning_sync.fork_server", *self.preload],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env)
        self._reader = threading.Thread(target=self._read, name="returning-fork-server", daemon=True)
        self._reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()  # the server waits for its children, then exits
        proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)

    def run(self, argv: Sequence[str], out: str, err: str) -> int:
        """Fork a child that runs `returning-sync <argv>` (stdout to `out`, stderr to `err`); its exit code."""
        self._ready.result()  # the server's imports, once: an import error is raised here
        with self._lock:
            self._next += 1
            ident = self._next
            done: Future[int] = Future()
            self._pending[ident] = done
            line = json.dumps({"id": ident, "argv": list(argv), "out": out, "err": err}) + "\n"
            try:
                assert self._proc is not None and self._proc.stdin is not None
                self._proc.stdin.write(line.encode())
                self._proc.stdin.flush()
            except OSError as exc:
                del self._pending[ident]
                raise ForkServerError(f"the fork server is gone ({exc})") from exc
        return done.result()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            message = json.loads(raw)
            if message.get("ready"):
                self._ready.set_result(None)
                continue
            with self._lock:
                waiting = self._pending.pop(message["id"], None)
            if waiting is not None:
                waiting.set_result(int(message["exit"]))
        code = self._proc.wait()
        gone = ForkServerError(f"the fork server ended (exit {code}) before answering; its error is above")
        if not self._ready.done():
            self._ready.set_exception(gone)
        with self._lock:
            for waiting in self._pending.values():
                waiting.set_exception(gone)
            self._pending.clear()


def serve(preload: Sequence[str], requests: IO[bytes], replies: IO[bytes]) -> int:
    """The server: import `preload`, freeze the collector, then fork a child per request line."""
    for name in preload:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()  # objects from the imports stay put: a child's collections never touch their pages
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select() through the wakeup fd
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the children; the server drains them
    _reply(replies, {"ready": True})
    fd = requests.fileno()
    running: dict[int, int] = {}  # pid -> request id
    pending = b""
    open_input = True
    while open_input or running:
        readable, _, _ = select.select([fd, wake_r] if open_input else [wake_r], [], [])
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(wake_r, 4096):
                    pass
        if fd in readable:
            chunk = os.read(fd, 65536)
            open_input = bool(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in filter(None, lines):
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request, (wake_r, wake_w, fd))  # never returns
                running[pid] = request["id"]
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            ident = running.pop(pid, None)
            if ident is not None:
                _reply(replies, {"id": ident, "exit": os.waitstatus_to_exitcode(status)})
    return 0


def _reply(replies: IO[bytes], message: dict[str, Any]) -> None:
    replies.write(json.dumps(message).encode() + b"\n")
    replies.flush()


def _child(request: dict[str, Any], server_fds: tuple[int, ...]) -> None:
    """In the forked child: the command, its output in the request's files, then its exit code."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in server_fds:
            os.close(fd)
        for target, path, flags in ((0, os.devnull, os.O_RDONLY),
                                    (1, request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                    (2, request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
            opened = os.open(path, flags, 0o600)
            if opened != target:  # fd 0 is free here (the server's requests): the open may land on it
                os.dup2(opened, target)
                os.close(opened)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - the process's own streams
        sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
        from returning_sync.cli import main

        code = main(list(request["argv"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child's last word, then its exit code
        with contextlib.suppress(Exception):
            traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            import logging

            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:], sys.stdin.buffer, sys.stdout.buffer))
