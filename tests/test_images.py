"""Image preparation: aspect ratio and padding, one decode with JPEG draft, shards, and read_images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from unix.data import images as I
from unix.data.shards import shard_names


def xray_like(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth grayscale image with some texture (JPEG-compressible, not flat)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 128 + 80 * np.sin(xx / width * 6) * np.cos(yy / height * 4)
    arr = np.clip(base + rng.normal(0, 8, size=base.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "L")


def write_jpeg(path: Path, width: int, height: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    xray_like(width, height, seed).save(path, "JPEG", quality=92)
    return path


@pytest.mark.parametrize("w,h,size,expected", [(2500, 3000, 512, (427, 512)), (3000, 2500, 256, (256, 213)),
                                               (100, 100, 384, (384, 384)), (1, 900, 256, (1, 256))])
def test_fit_size_keeps_aspect(w, h, size, expected):
    assert I.fit_size(w, h, size) == expected


def test_resize_pad_centres_on_black():
    src = Image.new("L", (200, 400), 255)
    out = I.resize_pad(src, 100)
    assert out.size == (100, 100) and out.mode == "L"
    arr = np.asarray(out)
    cols = np.where(arr.max(axis=0) > 0)[0]
    assert (cols.min(), cols.max()) == (25, 74)  # a 50 px wide image centred in 100
    assert arr[:, :25].max() == 0 and arr[:, 75:].max() == 0
    assert arr[:, 26:74].min() == 255


def test_decode_uses_draft(tmp_path):
    path = write_jpeg(tmp_path / "big.jpg", 1000, 1200)
    drafted = I.decode(path, 256)
    assert drafted.size == (250, 300)  # 1/4 DCT scale: the smallest that still covers 213 x 256
    assert I.decode(path, 512).size == (500, 600)
    assert I.decode(path, 256, use_draft=False).size == (1000, 1200)
    assert drafted.mode == "L"


def test_prepare_image_decodes_once(tmp_path, monkeypatch):
    path = write_jpeg(tmp_path / "big.jpg", 800, 1000)
    calls = []
    real_open = Image.open
    monkeypatch.setattr(I.Image, "open", lambda *a, **k: calls.append(a) or real_open(*a, **k))
    out = I.prepare_image(path, (384, 256, 512))
    assert len(calls) == 1
    assert {s: im.size for s, im in out.items()} == {384: (384, 384), 256: (256, 256), 512: (512, 512)}


def test_prepared_images_match_a_full_resolution_lanczos_resize(tmp_path):
    """Pillow's full decode + Lanczos resize is the oracle; draft decoding must stay close to it."""
    path = write_jpeg(tmp_path / "big.jpg", 2000, 2400, seed=3)
    ours = I.prepare_image(path, (384, 256, 512))
    with Image.open(path) as full:
        full.load()
        for size, img in ours.items():
            w, h = I.fit_size(*full.size, size)
            ref = Image.new("L", (size, size), 0)
            ref.paste(full.resize((w, h), Image.Resampling.LANCZOS), ((size - w) // 2, (size - h) // 2))
            diff = np.abs(np.asarray(img, dtype=float) - np.asarray(ref, dtype=float))
            assert diff.mean() < 1.5, (size, diff.mean())
            assert np.asarray(img)[:, : (size - w) // 2].max() == 0  # padding untouched


def test_shard_assignment_is_stable_and_complete():
    ids = [f"{i:08x}-dicom" for i in range(500)]
    shards = I.assign_shards(ids, 7)
    assert set(shards) == set(range(7))
    # Independent of the order and of the other ids.
    assert I.assign_shards(ids[::-1], 7).tolist() == shards[::-1].tolist()
    assert I.assign_shards(ids[100:120], 7).tolist() == shards[100:120].tolist()
    assert I.shard_index(ids[0], 7) == shards[0]
    counts = np.bincount(shards)
    assert counts.min() > 40  # roughly balanced
    assert shard_names(3) == ["000", "001", "002"]
    assert shard_names(1001)[-1] == "1000"


def split_tables(tmp_path: Path, n: int = 12) -> tuple[list[Path], Path]:
    root = tmp_path / "mimic"
    rows = []
    for i in range(n):
        rel = f"files/p10/p1000000{i % 3}/s5000000{i}/d{i:02d}.jpg"
        write_jpeg(root / rel, 60 + 7 * i, 80, seed=i)
        rows.append({"dicom_id": f"d{i:02d}", "image_path": rel})
    df = pd.DataFrame(rows)
    a, b = tmp_path / "u.parquet", tmp_path / "g.parquet"
    df.iloc[: max(1, n - 2)].to_parquet(a)  # overlapping tables: the union is prepared, each image once
    df.iloc[min(4, n - 1):].to_parquet(b)
    return [a, b], root


def test_prepare_shard_writes_every_image_once_at_every_size(tmp_path):
    tables, root = split_tables(tmp_path)
    opts = I.ImageOptions(sizes=(32, 16), shards=3)
    out = tmp_path / "images"
    seen = []
    for shard in shard_names(3):
        counts = I.prepare_shard(tables, root, shard, {s: out / str(s) / f"{shard}.parquet" for s in opts.sizes}, opts)
        ids = pd.read_parquet(out / "32" / f"{shard}.parquet")["dicom_id"].tolist()
        assert counts["n_images"] == len(ids)
        assert all(I.shard_index(d, 3) == int(shard) for d in ids)
        seen += ids
    assert sorted(seen) == [f"d{i:02d}" for i in range(12)]
    for size in opts.sizes:
        imgs = I.read_images(out / str(size), size=size)
        assert sorted(imgs) == sorted(seen)
        assert all(im.size == (size, size) and im.mode == "L" for im in imgs.values())
    raw = pd.read_parquet(out / "32" / "000.parquet")
    assert raw["image"].map(lambda b: bytes(b[:8]) == b"\x89PNG\r\n\x1a\n").all()
    with pytest.raises(ValueError, match="expected 16x16"):
        I.read_images(out / "32", size=16)
    assert sorted(I.read_images([out / "16"], dicom_ids=["d03"])) == ["d03"]


def test_empty_shard_is_a_valid_empty_table(tmp_path):
    tables, root = split_tables(tmp_path, n=1)
    opts = I.ImageOptions(sizes=(16,), shards=50)
    empty = next(s for s in shard_names(50) if I.shard_index("d00", 50) != int(s))
    I.prepare_shard(tables, root, empty, {16: tmp_path / "e.parquet"}, opts)
    assert len(pd.read_parquet(tmp_path / "e.parquet")) == 0


def test_undecodable_kept_image_stops_with_its_path(tmp_path):
    tables, root = split_tables(tmp_path, n=1)
    (root / "files/p10/p10000000/s50000000/d00.jpg").write_bytes(b"not a jpeg")
    opts = I.ImageOptions(sizes=(16,), shards=1)
    with pytest.raises(ValueError, match=r"d00\.jpg.*image_check: decode"):
        I.prepare_shard(tables, root, "000", {16: tmp_path / "x.parquet"}, opts)


def test_bad_options_name_the_config_key(tmp_path):
    with pytest.raises(ValueError, match="data.images.sizes"):
        I.ImageOptions(sizes=(256, 256))
    with pytest.raises(ValueError, match="data.images.shards"):
        I.ImageOptions(shards=0)
    tables, root = split_tables(tmp_path, n=1)
    with pytest.raises(ValueError, match="not one of 000..001"):
        I.prepare_shard(tables, root, "007", {384: "a", 256: "b", 512: "c"}, I.ImageOptions(shards=2))


def test_png_roundtrip_is_lossless():
    img = xray_like(40, 30)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(I.encode_png(img)))), np.asarray(img))
