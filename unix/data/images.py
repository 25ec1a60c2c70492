"""Image preparation: every kept image resized once per target size and stored in sharded parquet files.

Layout: `results/data/images/{size}/{shard}.parquet`, columns dicom_id (string) and image (PNG bytes,
8-bit grayscale, size x size). An image keeps its aspect ratio: its longer side becomes `size` and the
shorter side is centred on a black (0) background.

Speed: one job per shard (never per image). Each source JPEG is decoded once for all sizes, with
Pillow's JPEG `draft()` so libjpeg decodes the DCT at a reduced scale (1/2, 1/4 or 1/8) that is still
at least as large as the largest target; the remaining reduction uses Lanczos resampling (with
`reducing_gap`, i.e. `Image.reduce()` first when the ratio is large). A 2500 x 3000 MIMIC JPEG is
decoded at 1/4 scale (625 x 750) for a 512 target instead of at full size.

Shard assignment is a stable hash of the dicom_id (crc32 mod the shard count): it does not depend on
which other images are selected, so adding images moves no existing one.
"""

from __future__ import annotations

import io
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from unix.data.shards import shard_names

log = logging.getLogger(__name__)

PAD_VALUE = 0
RESAMPLE = Image.Resampling.LANCZOS
# Pillow's reducing_gap: reduce() by an integer factor first only while the rest of the ratio stays
# >= 3, which its documentation describes as indistinguishable from a plain Lanczos resize.
REDUCING_GAP = 3.0
ROW_GROUP = 256


@dataclass(frozen=True)
class ImageOptions:
    """How images are prepared (config `data.images`)."""

    sizes: tuple[int, ...] = (384, 256, 512)
    """Square output sizes in pixels: 384 for understanding, 256 and 512 for generation."""
    shards: int = 4
    """Number of shards (jobs) per size."""
    png_compress_level: int = 1
    """zlib level of the PNG bytes (0-9): 1 writes about twice as fast as Pillow's default 6 (the PNG
    step of a MIMIC image), for files about a third larger."""
    use_draft: bool = True
    """Decode JPEGs at a reduced DCT scale (Pillow `draft`) when the largest size allows it."""

    def __post_init__(self) -> None:
        if not self.sizes or any(s < 8 for s in self.sizes) or len(set(self.sizes)) != len(self.sizes):
            raise ValueError(f"config data.images.sizes={list(self.sizes)}: give distinct sizes of at least 8 px")
        if self.shards < 1:
            raise ValueError(f"config data.images.shards={self.shards}: use 1 or more")
        if not 0 <= self.png_compress_level <= 9:
            raise ValueError(f"config data.images.png_compress_level={self.png_compress_level}: use 0..9")

    @classmethod
    def from_config(cls, images: dict[str, Any]) -> "ImageOptions":
        """From config section `data.images`."""
        return cls(tuple(int(s) for s in images["sizes"]), int(images["shards"]),
                   int(images["png_compress_level"]), bool(images["use_draft"]))


def shard_index(dicom_id: str, n_shards: int) -> int:
    """The shard of one image: crc32 of its dicom_id modulo the shard count."""
    return zlib.crc32(dicom_id.encode("utf-8")) % n_shards


def assign_shards(dicom_ids: Iterable[str], n_shards: int) -> np.ndarray:
    """`shard_index` of each id."""
    return np.fromiter((shard_index(d, n_shards) for d in dicom_ids), dtype=np.int64)


def fit_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) of an image scaled so its longer side is `size`, aspect ratio kept."""
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_pad(img: Image.Image, size: int) -> Image.Image:
    """Resize `img` (mode L) so its longer side is `size` and centre it on a size x size black square."""
    w, h = fit_size(img.width, img.height, size)
    if (w, h) != img.size:
        img = img.resize((w, h), RESAMPLE, reducing_gap=REDUCING_GAP)
    if (w, h) == (size, size):
        return img
    canvas = Image.new("L", (size, size), PAD_VALUE)
    canvas.paste(img, ((size - w) // 2, (size - h) // 2))
    return canvas


def decode(path: str | Path, largest: int, use_draft: bool = True) -> Image.Image:
    """Decode a JPEG as 8-bit grayscale, at the smallest DCT scale that still covers `largest` pixels."""
    with Image.open(path) as img:
        if use_draft and img.format == "JPEG":
            img.draft("L", fit_size(img.width, img.height, largest))
        img.load()
        return img.convert("L") if img.mode != "L" else img.copy()


def prepare_image(path: str | Path, sizes: Sequence[int], use_draft: bool = True) -> dict[int, Image.Image]:
    """All sizes of one image from a single decode."""
    src = decode(path, max(sizes), use_draft)
    return {s: resize_pad(src, s) for s in sizes}


def encode_png(img: Image.Image, compress_level: int = 1) -> bytes:
    """PNG bytes of an image."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def images_to_prepare(tables: Sequence[str | Path]) -> pd.DataFrame:
    """dicom_id, image_path of the union of the kept images of the split tables, sorted by dicom_id."""
    frames = [pd.read_parquet(t, columns=["dicom_id", "image_path"]) for t in tables]
    df = pd.concat(frames, ignore_index=True)
    conflict = df.drop_duplicates().duplicated("dicom_id", keep=False)
    if conflict.any():
        raise ValueError(f"dicom_id {df.loc[conflict, 'dicom_id'].iloc[0]!r} has different image paths in "
                         f"{[str(t) for t in tables]}; rebuild the split tables from the same MIMIC-CXR root")
    return df.drop_duplicates("dicom_id").sort_values("dicom_id", kind="stable").reset_index(drop=True)


def _schema():
    import pyarrow as pa

    return pa.schema([("dicom_id", pa.string()), ("image", pa.binary())])


def prepare_shard(tables: Sequence[str | Path], images_root: str | Path, shard: str,
                  outputs: dict[int, str | Path], options: ImageOptions) -> dict[str, Any]:
    """Write the images of one shard at every size; returns counts for the provenance record.

    `outputs` maps each size to its parquet path. A kept image that cannot be decoded stops the job
    with its path: the split selection should have excluded it (see config data.checks.image_check).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = shard_names(options.shards, "data.images.shards")
    if shard not in names:
        raise ValueError(f"shard {shard!r} is not one of {names[0]}..{names[-1]} (config data.images.shards="
                         f"{options.shards})")
    if sorted(outputs) != sorted(options.sizes):
        raise ValueError(f"outputs for sizes {sorted(outputs)} but config data.images.sizes={list(options.sizes)}")
    todo = images_to_prepare(tables)
    todo = todo[assign_shards(todo["dicom_id"], options.shards) == names.index(shard)]
    root = Path(images_root)
    writers = {}
    for size, out in outputs.items():
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        writers[size] = pq.ParquetWriter(str(out), _schema())
    try:
        for start in range(0, len(todo), ROW_GROUP):
            chunk = todo.iloc[start:start + ROW_GROUP]
            encoded: dict[int, list[bytes]] = {s: [] for s in options.sizes}
            for dicom_id, rel in zip(chunk["dicom_id"], chunk["image_path"]):
                try:
                    prepared = prepare_image(root / rel, options.sizes, options.use_draft)
                except Exception as err:
                    raise ValueError(
                        f"image {root / rel} (dicom_id {dicom_id}) cannot be decoded: {err}. It was kept by the "
                        f"split selection; set config data.checks.image_check: decode so that it is excluded "
                        f"(reason corrupt_image), or replace the file") from err
                for s, img in prepared.items():
                    encoded[s].append(encode_png(img, options.png_compress_level))
            for s, w in writers.items():
                w.write_table(pa.table({"dicom_id": list(chunk["dicom_id"]), "image": encoded[s]},
                                       schema=_schema()))
        for w in writers.values():
            if len(todo) == 0:
                w.write_table(_schema().empty_table())
    finally:
        for w in writers.values():
            w.close()
    log.info("shard %s: %d images at sizes %s", shard, len(todo), list(options.sizes))
    return {"shard": shard, "n_images": int(len(todo)), "sizes": list(options.sizes)}


def _parquet_files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.glob("*.parquet")) if p.is_dir() else [p])
    return files


def read_images(paths: str | Path | Iterable[str | Path], size: int | None = None,
                dicom_ids: Iterable[str] | None = None) -> dict[str, Image.Image]:
    """Load prepared images: {dicom_id: PIL image (mode L)}.

    `paths`: shard parquet files and/or directories of them (e.g. results/data/images/512).
    `size`: when given, every image must be size x size (ValueError naming the file otherwise).
    `dicom_ids`: when given, only these are decoded.
    """
    import pyarrow.parquet as pq

    wanted = set(dicom_ids) if dicom_ids is not None else None
    out: dict[str, Image.Image] = {}
    for f in _parquet_files(paths):
        table = pq.read_table(f, columns=["dicom_id", "image"])
        for dicom_id, data in zip(table.column("dicom_id").to_pylist(), table.column("image").to_pylist()):
            if wanted is not None and dicom_id not in wanted:
                continue
            img = Image.open(io.BytesIO(data))
            img.load()
            if size is not None and img.size != (size, size):
                raise ValueError(f"{f}: image {dicom_id} is {img.size[0]}x{img.size[1]}, expected {size}x{size}; "
                                 f"read the results/data/images/{size}/ shards")
            out[dicom_id] = img
    return out

