"""`python -m stylekit serve`: the local web app (`stylekit.serve`) on uvicorn.

It listens on 127.0.0.1 unless told otherwise, prints its address, and stops cleanly on Ctrl-C
(or SIGTERM), cancelling the jobs that run or wait."""
from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys

# The web app runs its jobs on worker threads, and each thread that computes with torch keeps
# an OpenMP team. With more of those threads than cores, OpenMP (GNU's, which torch uses)
# stops spinning between parallel regions, and a one-pass job ran far slower than the same
# pass in a command. These keep the spin a command has; they must be set before torch loads,
# which the imports below do. A user's own setting of either wins. Figures: BENCHMARKS.md,
# "The web app's threads".
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ.update(OMP_WAIT_POLICY="ACTIVE", GOMP_SPINCOUNT="300000")

from stylekit.base import heap  # noqa: E402 (after the environment above)
from stylekit.base.errors import InputError, reason  # noqa: E402
from stylekit.settings.common import DEVICES  # noqa: E402
from stylekit.cli import options
from stylekit.cli.common import positive_int, side
from stylekit.serve.forms import Limits

DEFAULT_PORT = 8000
DEFAULT_HOST = "127.0.0.1"


def port_number(text) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"not a port number (0 to 65535): {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0 to 65535): {value}")
    return value


def host_address(text: str) -> str:
    """An address to listen on. An empty one (an unset variable in a start script) would have
    listened on every network."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"empty: give an address, {DEFAULT_HOST} (this machine only) or 0.0.0.0 "
                                         "(every network)")
    return text.strip()


def register(commands) -> None:
    d = Limits()
    p = commands.add_parser("serve", help="the local web app: every method in one page, and an HTTP API",
                            description="Serve the web app: pick a photo and a painting, watch the picture "
                                        "form, download it. Listens on 127.0.0.1 unless --host says otherwise.")
    p.add_argument("--port", type=port_number, help=f"default $PORT, or {DEFAULT_PORT}; 0: any free port")
    p.add_argument("--host", type=host_address, default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0: every network)")
    p.add_argument("--max-size", type=side, default=d.max_size,
                   help=f"largest output side a job may ask for, px (default {d.max_size})")
    p.add_argument("--max-steps", type=positive_int, default=d.max_steps,
                   help=f"most loss evaluations an optimization may ask for (default {d.max_steps})")
    p.add_argument("--queue", type=positive_int, default=8, help="jobs that may wait at once (default 8; more: 429)")
    p.add_argument("--keep", type=positive_int, default=50,
                   help="finished results kept (default 50), each for at most --keep-minutes")
    p.add_argument("--keep-minutes", type=positive_int, default=60, help="default 60")
    p.add_argument("--device", choices=DEVICES, default="auto", help="auto, cpu or cuda")
    options.add_max_pixels(p)
    p.set_defaults(run=serve)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound now, so that a taken port is one error line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {reason(exc)}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)  # connections wait in the backlog until uvicorn takes them
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {reason(exc)}") from None
    return sock


def serve(args) -> int:
    import uvicorn

    from stylekit.serve.app import LOCAL_HOSTS, create_app
    from stylekit.serve.protocol import JSONErrorsH11

    port = args.port
    if port is None:
        try:
            port = port_number(os.environ.get("PORT") or DEFAULT_PORT)
        except argparse.ArgumentTypeError as exc:
            raise InputError(f"$PORT: {exc}") from None
    local = _is_loopback(args.host)
    limits = Limits(max_pixels=args.max_pixels, max_size=args.max_size, max_steps=args.max_steps)
    # before any worker thread allocates: one heap, freed buffers kept for the next layer (and
    # handed back after each job, `Runner.__call__`)
    heap.one_heap()
    heap.keep_freed_buffers()
    sock = _listen(args.host, port)
    try:
        app = create_app(limits=limits, device=args.device, warm=True, max_queued=args.queue, keep=args.keep,
                         ttl=args.keep_minutes * 60.0, allowed_hosts=LOCAL_HOSTS if local else None)
    except BaseException:
        sock.close()
        raise
    port = sock.getsockname()[1]
    shown = f"[{args.host.strip('[]')}]" if ":" in args.host else args.host
    also = ""
    if not local:
        print(f"warning: --host {args.host} serves this app to every machine that can reach this one, "
              "and it has no login", file=sys.stderr, flush=True)
        if args.host in ("0.0.0.0", "::", "[::]"):
            shown, also = ("127.0.0.1" if args.host == "0.0.0.0" else "[::1]"), " and on every address of this machine"
    print(f"serving on http://{shown}:{port}/{also}  (Ctrl-C stops)", flush=True)
    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            app.state.closing.set()   # posts waiting to be decoded are answered 503 at once
            super().handle_exit(sig, frame)

    server = Server(uvicorn.Config(app, http=JSONErrorsH11, log_level="warning", access_log=False,
                                   lifespan="on", timeout_graceful_shutdown=10))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn stopped on the signal and passes it on; the queue was closed on its way out
    finally:
        sock.close()
    print("stopped", flush=True)
    return 0
