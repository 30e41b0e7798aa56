"""`python -m stylekit serve`: prints its address, serves, and stops cleanly on Ctrl-C or SIGTERM,
cancelling the optimization it was running; bad ports are one `error:` line."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from conftest import ROOT
from serve_helpers import files, painting_png, photo_png


def start(*args, env=None):
    proc = subprocess.Popen([sys.executable, "-m", "stylekit", "serve", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    line = proc.stdout.readline()
    match = re.match(r"serving on (http://\S+/)", line)
    if not match:
        proc.kill()
        raise AssertionError(f"no address printed: {line!r} {proc.stderr.read()}")
    proc.address_line = line
    return proc, match.group(1)


def stop(proc, sig, timeout=60):
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the server did not stop within {timeout} s of {sig!r}")
    return proc.returncode, out, err


def test_serves_then_ctrl_c_stops_it_and_cancels_the_running_optimization():
    proc, url = start("--port", "0")
    try:
        assert url.startswith("http://127.0.0.1:")
        models = httpx.get(url + "api/models", timeout=30).json()
        assert "starry_night" in {m["name"] for m in models["fast"]}
        job = httpx.post(url + "api/jobs", data={"method": "optimize", "size": "128", "steps": "2000"},
                         files=files(photo_png(), painting_png()), timeout=30).json()["id"]
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}api/jobs/{job}", timeout=30).json()["step"] < 2:
            assert time.monotonic() < deadline, "the optimization did not start"
            time.sleep(0.1)
    except BaseException:
        proc.kill()
        raise
    started = time.monotonic()
    code, out, err = stop(proc, signal.SIGINT)
    assert code == 0 and out.strip().endswith("stopped"), (code, out, err)
    assert time.monotonic() - started < 20, "stopping waited for the 2000-step optimization"
    assert "Traceback" not in err, err


def test_every_network_gets_a_warning_line_and_sigterm_stops_it():
    proc, url = start("--host", "0.0.0.0", env={"PORT": "0"})
    try:
        assert httpx.get(url + "api/images", timeout=30).status_code == 200
    except BaseException:
        proc.kill()
        raise
    code, out, err = stop(proc, signal.SIGTERM)
    assert code == 0, (code, out, err)
    assert "and on every address of this machine" in proc.address_line
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "--host 0.0.0.0" in warnings[0] and "no login" in warnings[0], err


@pytest.mark.parametrize("args, env, words", [
    ([], {"PORT": "http"}, "error: $PORT: not a port number (0 to 65535): 'http'"),
    (["--port", "70000"], {}, "error: argument --port: not a port number (0 to 65535): 70000"),
    (["--port", "TAKEN"], {}, "error: cannot listen on 127.0.0.1:TAKEN: "),
    (["--host="], {}, "error: argument --host: empty: give an address, 127.0.0.1 (this machine only) or 0.0.0.0"),
])
def test_a_bad_port_is_one_error_line(args, env, words):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        args = [a.replace("TAKEN", port) for a in args]
        done = subprocess.run([sys.executable, "-m", "stylekit", "serve", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env={**os.environ, **env})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith(words.replace("TAKEN", port)), lines[0]


@pytest.mark.parametrize("request_bytes", [
    b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
    b"NOT HTTP AT ALL\r\n\r\n",
])
def test_a_request_that_is_not_http_gets_a_json_400(request_bytes):
    proc, url = start("--port", "0")
    try:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(request_bytes)
            answer = b""
            while chunk := sock.recv(4096):   # the server closes the connection after its answer
                answer += chunk
    finally:
        stop(proc, signal.SIGTERM)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"content-type: application/json" in head.lower(), answer
    assert json.loads(body) == {"error": "the request is not valid HTTP/1.1 (its request line or headers cannot be read)"}


def test_a_client_that_goes_away_mid_upload_leaves_no_traceback():
    """Every upload a browser cancelled wrote a traceback of some 190 lines to the server's
    stderr (starlette's ClientDisconnect)."""
    proc, url = start("--port", "0")
    try:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        body = (b"--b\r\nContent-Disposition: form-data; name=\"content\"; filename=\"a.png\"\r\n"
                b"Content-Type: image/png\r\n\r\n" + b"x" * 5000)
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
                             b"Content-Type: multipart/form-data; boundary=b\r\n\r\n" + body)
                time.sleep(0.2)
        assert httpx.get(url + "api/options", timeout=30).status_code == 200   # still serving
    finally:
        code, _, err = stop(proc, signal.SIGTERM)
    assert code == 0 and "Traceback" not in err and "ClientDisconnect" not in err, err


def test_a_stop_during_uploads_answers_each_in_json(tmp_path):
    """SIGTERM while uploads waited for their turn to be decoded: once the grace period ran out,
    uvicorn cancelled them, and each got a plain-text 500 and wrote a traceback."""
    import numpy as np
    from PIL import Image
    scan = tmp_path / "scan.png"   # 88 megapixels of 16-bit grey: about a second to decode
    Image.fromarray(np.zeros((9400, 9400), np.uint16)).save(scan)
    proc, url = start("--port", "0")
    answers = []

    def post():
        with open(scan, "rb") as f:
            answers.append(httpx.post(url + "api/jobs", data={"method": "fast", "model": "starry_night", "size": "64"},
                                      files={"content": ("scan.png", f, "image/png")}, timeout=60))
    try:
        posts = [threading.Thread(target=post) for _ in range(12)]
        for t in posts:
            t.start()
        time.sleep(1.0)
    finally:
        code, _, err = stop(proc, signal.SIGTERM)
    for t in posts:
        t.join(60)
    assert code == 0 and "Traceback" not in err, err
    assert len(answers) == 12 and {a.status_code for a in answers} <= {202, 503}
    assert all(a.json() == {"error": "the server is shutting down: the job was not queued"}
               for a in answers if a.status_code == 503) and any(a.status_code == 503 for a in answers)


SPIN_AT_TORCH_IMPORT = """
import builtins, os, sys
seen, plain_import = {}, builtins.__import__
def watch(name, *args, **kwargs):
    if name.split('.')[0] == 'torch' and 'torch' not in sys.modules and 'policy' not in seen:
        seen['policy'] = (os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))
    return plain_import(name, *args, **kwargs)
builtins.__import__ = watch
import stylekit.cli.serve
print(*seen['policy'])
"""


@pytest.mark.parametrize("env, want", [({}, "ACTIVE 300000"), ({"OMP_WAIT_POLICY": "PASSIVE"}, "PASSIVE None"),
                                       ({"GOMP_SPINCOUNT": "10"}, "None 10")])
def test_the_server_keeps_openmps_spin_in_its_worker_threads_set_before_torch_loads(env, want):
    """OpenMP reads these once, when torch loads; a user's own setting of either is left alone."""
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    done = subprocess.run([sys.executable, "-c", SPIN_AT_TORCH_IMPORT], cwd=ROOT, capture_output=True, text=True,
                          env={**base, **env}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == want.split()


def test_the_server_sets_up_its_heap_before_the_app_starts_its_threads(monkeypatch):
    from stylekit.cli import main as toolkit, serve as serve_cli
    calls = []
    monkeypatch.setattr(serve_cli.heap, "one_heap", lambda: calls.append("one_heap"))
    monkeypatch.setattr(serve_cli.heap, "keep_freed_buffers", lambda: calls.append("keep"))
    monkeypatch.setattr(serve_cli, "_listen", lambda host, port: calls.append("listen") or (_ for _ in ()).throw(SystemExit(7)))
    with pytest.raises(SystemExit):
        toolkit.main(["serve", "--port", "0"])
    assert calls == ["one_heap", "keep", "listen"]
