"""Bad input to the web app: each gets a 4xx with one JSON error line in the CLI's words, the
server stays up, and no request reaches a file it was not meant to (names, paths, traversal)."""
import io
import os
from pathlib import Path

import pytest
from PIL import Image

import run as run_py
from conftest import ROOT
from serve_helpers import client, decode, files, painting_png, photo_png, png, wait
from stylekit.base.errors import InputError
from stylekit.serve.forms import Limits


@pytest.fixture(scope="module")
def c():
    with client(limits=Limits(max_size=512, max_steps=500)) as c:
        yield c


def refused(c, data, upload=(), code=400):
    r = c.post("/api/jobs", data=data, files=list(upload))
    assert r.status_code == code, r.text
    body = r.json()
    assert set(body) == {"error"} and "\n" not in body["error"], body
    return body["error"]


OPT = {"method": "optimize", "size": "64", "steps": "4"}
BOTH = files(photo_png(), painting_png())


@pytest.mark.parametrize("data, upload, words", [
    # not an image, empty, damaged, too small for the layers
    (OPT, files(b"just some words", painting_png(), content_name="notes.txt"),
     "cannot read upload:notes.txt as an image: unknown or unsupported format"),
    (OPT, files(b"", painting_png(), content_name="empty.png"), "upload:empty.png is empty (0 bytes)"),
    (OPT, files(photo_png()[:60], painting_png(), content_name="cut.png"),
     "cannot read upload:cut.png as an image (damaged or truncated?)"),
    (OPT, files(png(Image.new("RGB", (8, 8))), painting_png(), content_name="tiny.png"),
     "upload:tiny.png is 8x8 px, too small: layer relu5_1 needs at least 16 px on each side"),
    ({**OPT, "size": "8"}, BOTH, "upload:photo.png is 64x48 px, 8x6 at --size 8: too small, layer relu5_1 needs at least 16 px"),
    ({**OPT, "size": "512", "multiscale": "on"}, files(png(Image.new("RGB", (400, 20))), painting_png()),
     "the content image is 128x6 px, too small for layer relu5_1"),
    ({"method": "fast", "model": "great_wave"}, files(png(Image.new("RGB", (3, 3)))),
     "upload:photo.png is 3x3 px, too small for the style network: it needs at least 5 px on each side"),
    ({"method": "fast", "model": "great_wave"}, files(png(Image.new("RGB", (2, 1000)))),
     "upload:photo.png is 2x1000 px, too small for the style network"),   # its own size, not the shrunk one
    ({"method": "fast", "model": "great_wave"}, files(png(Image.new("RGB", (10000, 3)))),
     "upload:photo.png is 10000x3 px, too small for the style network"),   # not the copy kept, 2048x1
    ({"method": "fast", "model": "great_wave"}, files(png(Image.new("RGB", (6, 1000)))),
     "upload:photo.png shrunk to this server's 512 px is 3x512 px, too small for the style network"),
    ({"method": "texture", "size": "2"}, [], "a texture of --size 2 is 2x2 px, too small for the texture network"),
    # options out of range or of the wrong kind
    ({**OPT, "size": "0"}, BOTH, "argument --size: must be at least 1, not 0"),
    ({**OPT, "size": "4096"}, BOTH, "argument --size: must be at most 512 on this server, not 4096"),
    ({**OPT, "steps": "abc"}, BOTH, "argument --steps: not a whole number: 'abc'"),
    ({**OPT, "steps": "100000"}, BOTH, "argument --steps: must be at most 500 on this server, not 100000"),
    ({**OPT, "style_weight": "-1"}, BOTH, "argument --style-weight: must be a finite number >= 0, not -1"),
    ({**OPT, "style_weight": "inf"}, BOTH, "argument --style-weight: must be a finite number >= 0, not inf"),
    ({**OPT, "preserve_color": "sepia"}, BOTH, "argument --preserve-color: invalid choice: 'sepia'"),
    ({**OPT, "part": "4"}, BOTH, "argument --part: invalid choice: 4 (choose from 1, 2, 3)"),
    ({**OPT, "seed": str(2 ** 70)}, BOTH, "64 bits"),
    ({**OPT, "style_layers": "relu9_9"}, BOTH, "relu9_9"),
    ({**OPT, "style_blend": "0.5,0.5"}, BOTH, "--style-blend has 2 weights for 1 style image"),
    ({**OPT, "style_normalize": "maybe"}, BOTH, "argument --style-normalize: expected true or false, not 'maybe'"),
    ({"method": "adain", "alpha": "1.5"}, BOTH, "alpha must be between 0 (content) and 1 (full style), not 1.5"),
    ({"method": "adain", "alpha": "half"}, BOTH, "argument --alpha: not a number: 'half'"),
    ({"method": "adain", "sharpen": "11"}, BOTH, "--sharpen must be a number from 0 to 10, not 11.0"),
    ({"method": "adain", "margin": "65"}, BOTH, "--margin must be a whole number of px from 0 to 64, not 65"),
    ({"method": "adain", "style_blend": "1"}, BOTH, "--style-blend does not apply to one style image: it blends several"),
    ({"method": "adain", "style_blend": "1,1"}, BOTH, "--style-blend does not apply to one style image: it blends several"),
    ({"method": "adain", "ridge": "nan"}, BOTH, "--ridge must be a number from 0 to 100, not nan"),
    ({"method": "adain", "max_move": "-1"}, BOTH, "--max-move must be a positive number, not -1.0"),
    ({"method": "adain", "model": "adain_decoder", "sharpen": "1"}, BOTH,
     "--sharpen applies to wct and wct-lite, not adain (0 is accepted)"),
    # a "--" reached the option as an empty list: a 500 (size, alpha), or a run that went on with []
    ({"method": "adain", "size": "--"}, BOTH, "argument --size: expected a value, not '--'"),
    ({**OPT, "part": "--"}, BOTH, "argument --part: expected a value, not '--'"),
    ({"method": "adain", "precision": "--"}, BOTH, "argument --precision: expected a value, not '--'"),
    ({"method": "texture", "size": "-3"}, [], "argument --size: must be at least 1, not -3"),
    ({"method": "texture", "seed": "-1"}, [], "argument --seed: "),
    # the painting worked beyond the output limit: refused before anything is loaded (it was a
    # 500 from an allocation that overflowed, or an optimization that failed after its 202)
    ({"method": "adain", "size": "64", "style_scale": "99999999"}, BOTH,
     "argument --style-scale: the style image would be worked at 6,399,999,936 px, more than this server's 512"),
    ({"method": "adain", "size": "64", "style_scale": "1e38"}, BOTH, "more than this server's 512"),
    ({**OPT, "style_scale": "99999999"}, BOTH, "argument --style-scale: the style image would be worked at"),
    ({"method": "adain", "style_scale": "1.5"}, BOTH, "worked at 768 px, more than this server's 512"),
    ({"method": "adain", "size": "64"}, files(png(Image.new("RGB", (1, 1))), painting_png()),
     "upload:photo.png is 1x1 px, too small: layer relu4_1 needs at least 8 px on each side"),
    # a photo that would be a line at the form's size (it came back as a 128x1 picture)
    ({"method": "adain", "size": "128"}, files(png(Image.new("RGB", (10000, 8))), painting_png()),
     "upload:photo.png is 10000x8 px, 128x1 at --size 128: too small, layer relu4_1 needs at least 8 px on each "
     "side; raise --size"),
    # a painting too thin for relu4_1 once brought to its side: refused here, not by the job (on
    # torch's path it failed after its 202; the ONNX copies ran it)
    ({"method": "adain", "size": "64"}, files(photo_png(), png(Image.new("RGB", (2000, 20)))),
     "upload:painting0.png at 64x1 px is too small: relu4_1 needs at least 8 px on each side; raise --size or "
     "--style-scale"),
    ({"method": "adain", "size": "64", "style_scale": "1e-9", "content": "chelsea.jpg",
      "style": "starry_night.jpg"}, [], "images/style/starry_night.jpg at 8x6 px is too small"),
    # flags that read files or pick devices are not the form's
    ({**OPT, "weights": "/etc/passwd"}, BOTH, "--weights does not apply to method optimize"),
    ({**OPT, "out": "/tmp/x.png"}, BOTH, "--out does not apply to method optimize"),
    ({**OPT, "device": "cuda"}, BOTH, "--device does not apply to method optimize"),
    ({**OPT, "max_pixels": "999999999999"}, BOTH, "--max-pixels does not apply to method optimize"),
    ({"method": "adain", "decoder": "/etc/passwd"}, BOTH, "--decoder does not apply to method adain"),
    ({"method": "fast", "alpha": "0.5", "model": "great_wave"}, files(photo_png()),
     "--alpha does not apply to method fast"),
    ({**OPT, "size": ["64", "128"]}, BOTH, "--size is given twice"),
    # models by name only
    ({"method": "fast", "model": "nope"}, files(photo_png()), "--model: no shipped fast model 'nope'; there are"),
    ({"method": "fast", "model": "../models/great_wave.pt"}, files(photo_png()), "no shipped fast model"),
    ({"method": "fast", "model": "/work/main/models/great_wave"}, files(photo_png()), "no shipped fast model"),
    ({"method": "fast", "model": "starry_night_texture"}, files(photo_png()), "no shipped fast model"),
    ({"method": "texture", "model": "adain_decoder"}, [], "no shipped texture model"),
    ({"method": "fast"}, files(photo_png()), "--model: choose a shipped fast model"),
    # what a method needs, and what it does not take
    ({"method": "nope"}, [], "method must be one of optimize, fast, adain, texture, not 'nope'"),
    ({"size": "64"}, [], "method must be one of optimize, fast, adain, texture, not None"),
    ({}, [("method", ("m.txt", b"fast", "text/plain"))], "method takes a value, not a file"),
    ({"method": "texture", "": "3"}, [], "a form field has no name"),
    ({"method": "adain"}, files(None, painting_png()), "AdaIN needs --content"),
    ({"method": "adain"}, files(photo_png()), "AdaIN needs at least one --style image"),
    (OPT, files(photo_png()), "part 3 needs at least one style image"),
    # a field the part would not use, as the command line refuses the flag
    ({**OPT, "part": "2", "preserve_color": "luminance"}, files(None, painting_png()),
     "--preserve-color does not apply to method optimize, part 2: it needs a content and a style image"),
    ({**OPT, "part": "2"}, BOTH, "--content does not apply to method optimize, part 2: it takes no content image"),
    ({**OPT, "part": "1"}, BOTH, "--style does not apply to method optimize, part 1: it takes no style image"),
    ({**OPT, "part": "1", "style_weight": "0"}, files(photo_png()),
     "--style-weight does not apply to method optimize, part 1: it takes no style image"),
    ({**OPT, "seed": "3"}, BOTH, "--seed does not apply to method optimize, part 3: the seed is the noise image's"),
    ({"method": "texture", "model": "starry_night_texture"}, files(photo_png()),
     "--content does not apply to method texture"),
    ({"method": "fast", "model": "great_wave"}, BOTH, "--style does not apply to method fast"),
    ({"method": "adain"}, files(photo_png(), *[painting_png()] * 9), "--style takes at most 8 images here, got 9"),
    ({**OPT, "content": "../../etc/passwd"}, files(None, painting_png()),
     "no bundled content image '../../etc/passwd'; there are astronaut.jpg"),
    ({**OPT, "style": "../content/chelsea.jpg", "content": "chelsea.jpg"}, [], "no bundled style image"),
    ({**OPT, "content": "/etc/passwd", "style": "starry_night.jpg"}, [], "no bundled content image '/etc/passwd'"),
])
def test_bad_input_gets_one_error_line_and_the_server_stays_up(c, data, upload, words):
    assert words in refused(c, data, upload)
    assert c.get("/api/models").status_code == 200


@pytest.mark.parametrize("headers, body, words", [
    ({"Content-Type": "application/json"}, b'{"method": "texture"}', "not as application/json"),
    ({"Content-Type": "text/plain"}, b"method=texture", "not as text/plain"),
    ({}, b"", "not as a body without a Content-Type"),
])
def test_a_job_that_is_not_a_form_gets_415_saying_so(c, headers, body, words):
    """A JSON or plain body was read as an empty form: 'method must be one of ..., not None'."""
    r = c.post("/api/jobs", content=body, headers=headers)
    assert r.status_code == 415 and r.json() == {"error": f"a job is posted as a form (multipart/form-data), {words}"}


def test_an_option_sent_as_a_file_is_refused(c):
    error = refused(c, OPT, [*BOTH, ("steps", ("steps.txt", b"4", "text/plain"))])
    assert error == "--steps takes a value, not a file"


@pytest.mark.parametrize("argv", [["--size=0"], ["--steps=abc"], ["--style-weight=-1"], ["--preserve-color=sepia"],
                                  ["--part=4"], ["--lr=0"], ["--init=photo"], ["--optimizer=sgd"]])
def test_option_errors_are_the_command_lines_words(c, argv):
    """The same value gives the same `error:` line from run.py as from the form."""
    with pytest.raises(InputError) as cli:
        run_py.settle(run_py.build_parser().parse_args(argv))
    flag, value = argv[0][2:].split("=")
    assert refused(c, {**OPT, flag.replace("-", "_"): value}, BOTH) == str(cli.value)


def test_too_many_pixels_is_refused_with_the_servers_words():
    with client(limits=Limits(max_pixels=1000)) as c:
        error = refused(c, OPT, files(photo_png(64, 48), painting_png(), content_name="big.png"))
    assert error == ("upload:big.png has 64x48 = 3,072 pixels, more than the limit of 1,000; "
                     "this server was started with --max-pixels")


def test_form_fields_as_flags_and_a_method_twice(c):
    assert refused(c, {"method": ["optimize", "fast"]}, BOTH) == "--method is given twice"
    assert refused(c, {"method": "optimize", "--size": "0"}, BOTH) == "argument --size: must be at least 1, not 0"
    assert refused(c, {**OPT, "--size": "32"}, BOTH) == "--size is given twice"
    job = c.post("/api/jobs", data={"method": "fast", "model": "great_wave", "--size": "32"}, files=files(photo_png()))
    assert job.status_code == 202, job.text


def test_uploads_over_20_mb_get_413_and_the_server_stays_up(c):
    big = os.urandom(21 * 2 ** 20)
    assert "larger than the limit of 20 MB" in refused(c, OPT, files(big, painting_png()), code=413)
    # without a Content-Length (chunked), the count of bytes received still stops it
    body = (b"--b\r\nContent-Disposition: form-data; name=\"content\"; filename=\"x.png\"\r\n\r\n" + big +
            b"\r\n--b--\r\n")
    r = c.post("/api/jobs", content=iter([body[i:i + 2 ** 20] for i in range(0, len(body), 2 ** 20)]),
               headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413, r.text
    job = c.post("/api/jobs", data={"method": "texture", "size": "32"}).json()["id"]
    assert wait(c, job)["status"] == "done"


def test_a_file_name_too_long_for_the_form_parser_is_named_as_the_reason(c):
    words = refused(c, OPT, files(photo_png(), painting_png(), content_name="a" * 10_000 + ".png"))
    assert words.startswith("the form is not valid multipart data") and "header line over 4224 bytes" in words
    job = c.post("/api/jobs", data=OPT, files=files(photo_png(), painting_png(), content_name="a" * 4_000 + ".png"))
    assert job.status_code == 202, job.text


def test_an_uploaded_file_name_never_becomes_a_path(c, tmp_path):
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"keep me")
    upload_dir = Path(c.app_state.upload_dir)
    names = [str(victim), os.path.relpath(victim, upload_dir), "../../../../tmp/evil.png", "..\\..\\evil.png",
             "/etc/passwd", "a\x00b\n.png", "." * 300]
    for name in names:
        job_id = c.post("/api/jobs", data={"method": "adain", "size": "32"},
                        files=files(photo_png(), painting_png(), content_name=name)).json()["id"]
        assert wait(c, job_id)["status"] == "done"
        shown = c.get(f"/api/jobs/{job_id}/sidecar").json()["content"]
        assert shown.startswith("upload") and "/" not in shown and "\\" not in shown and "\n" not in shown, shown
    assert victim.read_bytes() == b"keep me"
    assert not Path("/tmp/evil.png").exists() and not (ROOT / "evil.png").exists()
    # the server's own upload folder keeps no file between requests
    assert upload_dir.is_dir() and not any(upload_dir.iterdir())


@pytest.mark.parametrize("path", [
    "/api/images/content/..%2F..%2Fstylekit%2Fserve%2Fapp.py",
    "/api/images/content/../../stylekit/serve/app.py",
    "/api/images/..%2Fmodels/great_wave.pt",
    "/api/images/content/%2Fetc%2Fpasswd",
    "/api/images/content/%2e%2e",
    "/api/images/%2e%2e/run.py",
    "/api/images/%2e%2e/README.md",
    "/api/images/%2E%2E/utils.py?thumb=true",
    "/static/..%2Fapp.py",
    "/static/../app.py",
    "/static/%2e%2e/%2e%2e/%2e%2e/run.py",
    "/api/jobs/..%2F..%2Fetc%2Fpasswd",
    "/api/jobs/../../etc/passwd/image",
    "/models/great_wave.pt",
    "/images/content/chelsea.jpg",
    "/../run.py",
])
def test_no_path_reaches_a_file_outside_the_lists(c, path):
    r = c.get(path)
    assert r.status_code in (400, 404), (path, r.status_code)
    assert b"import" not in r.content and b"root:" not in r.content and not r.content.startswith(b"PK")


def test_a_bundled_image_is_served_by_its_name_only(c):
    r = c.get("/api/images/content/chelsea.jpg")
    assert r.status_code == 200 and decode(r.content).size == (512, 341)
    assert c.get("/api/images/models/great_wave.pt").status_code == 404


def test_other_sites_and_other_host_names_are_refused(c):
    r = c.post("/api/jobs", data={"method": "texture", "size": "32"}, headers={"origin": "http://evil.example"})
    assert r.status_code == 403 and "evil.example" in r.json()["error"]
    assert c.delete("/api/jobs/x", headers={"origin": "http://evil.example"}).status_code == 403
    for broken in ("http://[::1", "http://["):   # urlsplit raises: a 500 and a traceback before
        r = c.post("/api/jobs", data={"method": "texture", "size": "32"}, headers={"origin": broken})
        assert r.status_code == 403 and f"requests from {broken} are refused" in r.json()["error"]
        assert c.delete("/api/jobs/x", headers={"origin": broken}).status_code == 403
    rebound = c.get("/api/models", headers={"host": "evil.example"})   # DNS rebinding
    assert rebound.status_code == 400 and "host 'evil.example' is not served" in rebound.json()["error"]
    assert "Content-Security-Policy" in rebound.headers   # a refusal is served as strictly as a page
    assert c.get("/api/models", headers={"host": "[::1]:8000"}).status_code == 200
    assert c.get("/api/models", headers={"host": "[::1"}).status_code == 400
    ok = c.post("/api/jobs", data={"method": "texture", "size": "32"}, headers={"origin": "http://127.0.0.1"})
    assert ok.status_code == 202 and wait(c, ok.json()["id"])["status"] == "done"


def test_a_message_never_repeats_all_a_client_sent(c):
    """A 60 KB name came back whole in the refusal (145 KB bodies)."""
    long = "x" * 60_000
    r = c.post("/api/jobs", data={**OPT, "content": long, "style": "starry_night.jpg"})
    assert r.status_code == 400 and f"no bundled content image '{'x' * 60}...'" in r.json()["error"]
    assert len(r.content) < 2000
    r = c.post("/api/jobs", data={"method": "adain", long: "1"})
    assert r.status_code == 400 and "does not apply to method adain" in r.json()["error"] and len(r.content) < 2000
    r = c.get(f"/api/images/content/{long[:20_000]}")
    assert r.status_code == 404 and len(r.content) < 2000


def test_a_query_parameter_of_the_wrong_type_is_one_json_error(c):
    r = c.get("/api/images/content/chelsea.jpg?thumb=abc")
    assert r.status_code == 400 and set(r.json()) == {"error"} and "thumb" in r.json()["error"]


@pytest.mark.parametrize("data, upload, side", [({"method": "adain"}, BOTH, 96), ({"method": "texture"}, [], 96),
                                                ({"method": "optimize", "steps": "2"}, BOTH, 96)])
def test_the_servers_size_limit_holds_for_the_methods_default_sizes(data, upload, side):
    """--max-size bounded only a size the form asked for: a one-pass job without one came out at
    512 px from a server started with --max-size 128."""
    with client(limits=Limits(max_size=side, max_steps=500)) as c:
        r = c.post("/api/jobs", data=data, files=list(upload))
        assert r.status_code == 202, r.text
        assert wait(c, r.json()["id"])["status"] == "done"
        assert max(decode(c.get(f"/api/jobs/{r.json()['id']}/image").content).size) == side


def test_a_corrupt_image_never_reaches_the_queue(c):
    jobs = sum(c.app_state.queue.counts().values())
    data = io.BytesIO()
    Image.new("RGB", (64, 48)).save(data, "JPEG")
    refused(c, OPT, files(data.getvalue()[:-400], painting_png(), content_name="cut.jpg"))
    assert sum(c.app_state.queue.counts().values()) == jobs


def test_a_large_painting_is_shrunk_before_its_float_copy(monkeypatch):
    """A 9000 px painting of 258 KB was decoded into a gigabyte of floats before being cut to
    KEEP_SIDE, and three such requests at once took the server from 1.5 to 9.3 GB."""
    from stylekit.serve import forms
    converted = []
    real = forms.pil_to_tensor
    monkeypatch.setattr(forms, "pil_to_tensor", lambda img, *a: converted.append(img.size) or real(img, *a))
    reader = forms.FormReader({"content": {}, "style": {}}, {}, Limits(max_size=64))
    big = png(Image.new("RGB", (2 * forms.KEEP_SIDE + 2, forms.KEEP_SIDE + 1), (200, 40, 10)))
    spec = reader.read([("method", "optimize"), ("size", "64"), ("steps", "2"),
                        ("content", forms.Upload("c.png", photo_png())), ("style", forms.Upload("s.png", big))])
    assert max(converted[-1]) == forms.KEEP_SIDE and all(max(size) <= forms.KEEP_SIDE for size in converted)
    assert tuple(spec.styles[0].pixels.shape[-2:]) == (forms.KEEP_SIDE // 2, forms.KEEP_SIDE)
    assert spec.styles[0].pixels[0, :, 100, 100].tolist() == [200, 40, 10]


def test_an_upload_that_stalls_is_dropped_with_408():
    """A client that sent part of its body and then nothing held its connection for good (fifty
    of them stayed open past 40 s)."""
    import time

    def slow_body():
        yield b"--b\r\nContent-Disposition: form-data; name=\"method\"\r\n\r\nfast\r\n"
        time.sleep(1.0)
        yield b"--b--\r\n"
    with client(upload_idle=0.3) as c:
        r = c.post("/api/jobs", content=slow_body(), headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert r.status_code == 408 and r.json() == {"error": "the upload stalled: nothing came for 0.3 s"}
        assert c.get("/api/options").status_code == 200
