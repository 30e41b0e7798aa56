"""nets.crops: image folders for training, and reproducible random crops."""
import pytest
import torch

from nets_helpers import photo_folder
from stylekit.base.errors import InputError
from stylekit.base.images import image_files
from stylekit.nets.crops import RandomCrops


def test_crops_are_reproducible_by_index(tmp_path):
    files = image_files(photo_folder(tmp_path))
    assert [p.name for p in files] == ["p0.png", "p1.png", "p2.png", "p3.png"]
    crops, again = RandomCrops(files, 32, length=10, seed=1), RandomCrops(files, 32, length=10, seed=1)
    assert len(crops) == 10 and crops[3].shape == (3, 32, 32)
    assert torch.equal(crops[3], again[3]) and not torch.equal(crops[3], crops[4])
    assert not torch.equal(crops[3], RandomCrops(files, 32, length=10, seed=2)[3])


def test_missing_or_empty_folders_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="training photos not found"):
        image_files(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        image_files(tmp_path / "empty")
