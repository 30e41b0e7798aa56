"""`make models` is the recipe of the shipped style and texture networks: the last command that
writes each models/NAME.pt has the steps, step size, width, painting and loss (weights, layers) the file
records, and the first one names the network the file says it started from."""
import shlex
import shutil
import subprocess

import pytest

from stylekit.base.paths import MODELS, ROOT
from stylekit.nets import johnson as ff
from stylekit.settings import TrainSettings

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def recipe_commands() -> dict[str, list[dict]]:
    """The train-fast / train-texture commands of `make -n models`, by the file each writes."""
    made = subprocess.run(["make", "-n", "-s", "--warn-undefined-variables", "models"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    assert "undefined variable" not in made.stderr, made.stderr   # a lost flag set would train another network
    text = made.stdout
    by_out: dict[str, list[dict]] = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if "train-fast" not in words and "train-texture" not in words:
            continue
        preset = "fast" if "train-fast" in words else "texture"
        flags = {}
        for i, word in enumerate(words):
            if word.startswith("--"):
                nxt = words[i + 1] if i + 1 < len(words) else None
                flags[word[2:]] = nxt if nxt is not None and not nxt.startswith("--") else True
        by_out.setdefault(flags["out"], []).append({"preset": preset, **flags})
    return by_out


SHIPPED = sorted(p.name for p in MODELS.glob("*.pt") if p.stem in ("starry_night", "great_wave", "composition_viii",
                                                                     "starry_night_texture"))


def test_every_shipped_network_has_a_recipe():
    assert len(SHIPPED) == 4
    assert {f"models/{name}" for name in SHIPPED} <= set(recipe_commands())


@pytest.mark.parametrize("name", SHIPPED)
def test_recipe_matches_what_the_file_records(name):
    commands = recipe_commands()[f"models/{name}"]
    _, settings = ff.load_model(MODELS / name)
    last, first = commands[-1], commands[0]
    preset = TrainSettings.preset(last["preset"])
    assert int(last["steps"]) == settings["trained_steps"]
    lr = settings["sittings"][-1]["lr"] if settings.get("sittings") else settings["lr"]
    assert float(last.get("lr", preset.lr)) == lr
    assert float(last.get("width", preset.width)) == settings["width"]
    assert float(last.get("tv-weight", preset.tv_weight)) == settings["weights"]["tv"]
    assert float(last.get("style-weight", preset.style_weight)) == settings["weights"]["style"]
    assert float(last.get("content-weight", preset.content_weight)) == settings["weights"].get("content", 0.0)
    if settings["kind"] == "style":
        layers = [part.split(":") for part in last["style-layers"].split(",")] if "style-layers" in last else None
        assert ([n for n, *_ in layers] if layers else preset.style_layers) == settings["style_layers"]
        assert ({n: float(w[0]) for n, *w in layers if w} if layers else preset.style_layer_weights) == \
            settings["style_layer_weights"]
        assert [last.get("content-layer", preset.content_layer)] == settings["content_layers"]
    assert last["style"] == settings["style_image"]
    recorded = settings.get("init")
    assert first.get("init") == (recorded.split(" ")[0] if recorded else None)
    assert all("resume" in c for c in commands[1:])   # one run, continued: its sittings are the file's


def test_the_wct_lite_recipe_matches_its_files():
    """WCT lite's encoder and decoders: the recipe's commands for each file are the sittings it
    records (where each ended, at which step size), the first one with the decoder it started
    from, which the recipe makes before, the last one with its widths, batch and feature loss;
    the decoders name the encoder the recipe made."""
    from stylekit.base.files import file_sha256
    from stylekit.nets.adain import infer, shipped, student
    made = subprocess.run(["make", "-n", "-s", "models"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    commands: dict[str, list[dict]] = {}
    for line in made.splitlines():
        words = shlex.split(line)
        if "train-student" in words or ("train-wct" in words and "--encoder" in words):
            flags = {w[2:]: words[i + 1] if i + 1 < len(words) else True for i, w in enumerate(words) if w.startswith("--")}
            flags["preset"] = "student" if "train-student" in words else "wct"
            commands.setdefault(flags.get("out", "models/wct_lite_encoder.pt"), []).append(flags)
    shipped_files = {"models/wct_lite_encoder.pt", *(f"models/{p.name}" for p in shipped.default_decoders("wct-lite"))}
    assert {out for out in commands if out.startswith("models/")} == shipped_files
    made_before = list(commands)   # each file's first command, in the recipe's order

    def sittings_of(flag_sets: list[dict]) -> list[tuple[int, float]]:
        return [(int(f["steps"]), float(f.get("lr", TrainSettings.preset(f["preset"]).lr))) for f in flag_sets]

    def recorded(settings: dict) -> list[tuple[int, float]]:
        return [(s["steps"][1], s["lr"]) for s in settings["sittings"]]

    _, made_with = student.load_student(shipped.LITE_ENCODER)
    assert sittings_of(commands["models/wct_lite_encoder.pt"]) == recorded(made_with)
    for path in shipped.default_decoders("wct-lite"):
        flag_sets, (decoder, settings) = commands[f"models/{path.name}"], infer.load_decoder(path)
        assert sittings_of(flag_sets) == recorded(settings)
        assert all("resume" in f for f in flag_sets[1:])   # one run, continued
        last = flag_sets[-1]
        assert last["encoder"] == "models/wct_lite_encoder.pt" and int(last["level"]) == decoder.level
        assert (float(last["width"]), int(last["batch"])) == (decoder.arch["width"], settings["batch"])
        assert float(last.get("full-size-width", last["width"])) == decoder.arch.get("full_size_width", decoder.arch["width"])
        assert last.get("feature-loss", "encoder") == settings.get("feature_loss", "encoder")
        assert settings["encoder_sha256"] == file_sha256(shipped.LITE_ENCODER)
        start = flag_sets[0].get("init")
        assert start == settings["init"]
        while start is not None:   # a chain of the recipe's own files, each made before the one it starts
            assert made_before.index(start) < made_before.index(f"models/{path.name}")
            start = commands[start][0].get("init")
