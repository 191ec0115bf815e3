"""MNIST-format IDX reading (gzip and raw), and the errors a researcher sees when files are missing or broken."""

import gzip
import urllib.request

import numpy as np
import pytest

from helpers import make_idx_dataset
from inpaintlab.data.mnist import MNISTImages, download_mnist, read_idx, write_idx
from inpaintlab.errors import DatasetNotFoundError, InpaintlabError


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip_and_dataset(tmp_path, gz):
    root = make_idx_dataset(tmp_path, n_train=5, n_test=3, gz=gz)
    ds = MNISTImages(root, "train", variant="fashion_mnist")
    raw = read_idx(root / ("train-images-idx3-ubyte" + (".gz" if gz else "")))
    assert len(ds) == 5 and raw.shape == (5, 28, 28)
    item = ds[2]["image"]
    assert item.shape == (1, 28, 28)
    np.testing.assert_allclose(item[0].numpy(), raw[2] / 127.5 - 1, atol=1e-6)  # [0,255] → [-1,1]
    assert ds.get_batch([2, 0])["image"].shape == (2, 1, 28, 28)
    assert len(MNISTImages(root, "test", variant="fashion_mnist")) == 3


def test_idx_header_values(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", a)
    with gzip.open(tmp_path / "x.gz") as f:
        head = f.read(16)
    assert head[:4] == bytes([0, 0, 8, 3]) and int.from_bytes(head[4:8], "big") == 2
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), a)


def test_truncated_and_foreign_files_are_named(tmp_path):
    write_idx(tmp_path / "t", np.zeros((4, 28, 28), np.uint8))
    data = (tmp_path / "t").read_bytes()
    (tmp_path / "t").write_bytes(data[:-10])
    with pytest.raises(InpaintlabError, match=r"truncated or corrupt.*\(4, 28, 28\)"):
        read_idx(tmp_path / "t")
    (tmp_path / "png").write_bytes(b"\x89PNG\r\n\x1a\n....")
    with pytest.raises(InpaintlabError, match="not an IDX file"):
        read_idx(tmp_path / "png")


def test_missing_files_name_what_is_expected(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        MNISTImages(tmp_path / "nowhere", "train", variant="fashion_mnist")
    msg = str(e.value)
    assert "train-images-idx3-ubyte" in msg and "t10k-labels-idx1-ubyte" in msg and "does not exist" in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    with pytest.raises(InpaintlabError, match="split must be one of"):
        MNISTImages(tmp_path, "validation")


def test_download_failure_is_a_clear_error_without_network(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetNotFoundError, match=r"(?s)could not download train-images-idx3-ubyte\.gz.*unreachable"):
        download_mnist(tmp_path / "mnist", "mnist")
    assert not list((tmp_path / "mnist").glob("*.part"))  # nothing half-written left behind


def test_download_writes_verified_files(tmp_path, monkeypatch):
    src = make_idx_dataset(tmp_path / "src", n_train=2, n_test=2)

    def fake(url, timeout=None):
        return open(src / url.rsplit("/", 1)[1], "rb")

    monkeypatch.setattr(urllib.request, "urlopen", fake)
    ds = MNISTImages(tmp_path / "dl", "train", variant="mnist", download=True)
    assert len(ds) == 2 and sorted(p.name for p in (tmp_path / "dl").iterdir())[0] == "t10k-images-idx3-ubyte.gz"


def test_pad_to_32_with_background(tmp_path):
    root = make_idx_dataset(tmp_path, n_train=4, n_test=2)
    plain, padded = MNISTImages(root, "train"), MNISTImages(root, "train", pad=2)
    x, y = plain[1]["image"], padded[1]["image"]
    assert y.shape == (1, 32, 32)
    assert (y[:, 2:30, 2:30] == x).all() and (y[:, :2] == -1).all() and (y[:, :, -2:] == -1).all()
    assert padded.get_batch([0, 1])["image"].shape == (2, 1, 32, 32)
    with pytest.raises(InpaintlabError, match="pad"):
        MNISTImages(root, "train", pad=-1)


def test_image_size_and_channels(tmp_path):
    """image_size resamples (bilinear) as the images are read, an upscale only when allowed; channels=3 repeats
    the grey image as RGB."""
    import torch

    root = make_idx_dataset(tmp_path, n_train=4, n_test=2)
    plain = MNISTImages(root, "test")
    with pytest.raises(InpaintlabError, match="28×28, smaller than image_size=56.*allow_upscale=true"):
        MNISTImages(root, "test", image_size=56)
    big = MNISTImages(root, "test", image_size=56, channels=3, allow_upscale=True)
    x, y = plain.get_batch([0, 1])["image"], big.get_batch([0, 1])["image"]
    assert y.shape == (2, 3, 56, 56) and big[1]["image"].shape == (3, 56, 56)
    assert torch.equal(big[1]["image"], y[1]) and torch.equal(y[:, 0], y[:, 2])
    expected = torch.nn.functional.interpolate(x, size=(56, 56), mode="bilinear", align_corners=False)
    assert torch.allclose(y[:, :1], expected.clamp(-1, 1))
    assert big.images.shape[-1] == 28  # kept in memory at the stored size
    with pytest.raises(InpaintlabError, match="channels"):
        MNISTImages(root, "test", channels=2)
    with pytest.raises(InpaintlabError, match="image_size"):
        MNISTImages(root, "test", image_size=0)
