"""README.md's one-pass library example runs as printed and makes the command's picture."""
import os
import re
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import ROOT


def test_the_readmes_one_pass_example_gives_the_commands_picture(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    example = next(b for b in blocks if "infer.stylize(" in b)
    (tmp_path / "images").symlink_to(ROOT / "images")   # its paths are the repository's, run elsewhere
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", example], cwd=tmp_path, env=env, check=True, timeout=300)
    made = np.asarray(Image.open(tmp_path / re.search(r'"([^"/]+\.png)"', example).group(1)), float)
    # The command's picture at the example's settings and at the default sharpening: the command runs
    # the ONNX copies where it can (an 8-bit encoder), so "the same" is a few levels of 255 apart.
    commands = {}
    for sharpen in ("2", "0"):
        out = tmp_path / f"command_{sharpen}.png"
        subprocess.run([sys.executable, "-m", "stylekit", "adain", "--content", "images/content/chelsea.jpg",
                        "--style", "images/style/great_wave.jpg", "--sharpen", sharpen, "--out", str(out)],
                       cwd=ROOT, env=env, check=True, timeout=300, capture_output=True)
        commands[sharpen] = np.asarray(Image.open(out), float)
    assert made.shape == commands["0"].shape == (341, 512, 3)
    same, other = np.abs(made - commands["0"]).mean(), np.abs(made - commands["2"]).mean()
    assert same < 5 and other > same + 2, (same, other)
