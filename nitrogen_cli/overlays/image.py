"""PNG atlases in and out as straight-alpha RGBA uint8, whatever the PNG's colour type.

cv2 reads most PNGs right with IMREAD_UNCHANGED (palette images with tRNS come back as
BGRA), but a grey image with a tRNS colour loses its transparency, a palette or RGB image
without tRNS has no alpha channel, and 16-bit images come back as uint16. The PNG header
is read here to put those right, so an atlas keeps exactly the transparency it was drawn
with. Pillow is not a dependency.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageError(ValueError):
    """An atlas that is not a readable PNG."""


def _png_header(data: bytes) -> tuple[int, int, bytes | None]:
    """(bit depth, colour type, tRNS payload or None) from the PNG's chunks."""
    if not data.startswith(PNG_SIGNATURE):
        raise ImageError("not a PNG file")
    pos = len(PNG_SIGNATURE)
    depth = colour = -1
    trns = None
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            depth, colour = body[8], body[9]
        elif kind == b"tRNS":
            trns = body
        elif kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    if depth < 0:
        raise ImageError("PNG without an IHDR chunk")
    return depth, colour, trns


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> (H, W, 4) uint8 RGBA with straight (not premultiplied) alpha."""
    depth, colour, trns = _png_header(data)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageError("PNG could not be decoded")
    if img.ndim == 2:
        img = img[:, :, None]
    channels = img.shape[2]
    # Grey with a tRNS grey level: cv2 drops the transparency; put it back.
    key = None
    if colour == 0 and trns is not None and len(trns) >= 2:
        (level,) = struct.unpack(">H", trns[:2])
        if img.dtype == np.uint16:
            key = img[:, :, 0] == level
        else:  # cv2 scales 1, 2 and 4-bit grey up to 8 bits
            key = img[:, :, 0] == level * (255 // ((1 << min(depth, 8)) - 1))
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ImageError(f"unsupported PNG sample type {img.dtype}")
    if channels == 1:
        rgba = np.concatenate([np.repeat(img, 3, axis=2), np.full_like(img, 255)], axis=2)
    elif channels == 2:  # grey + alpha (cv2 usually expands this itself)
        rgba = np.concatenate([np.repeat(img[:, :, :1], 3, axis=2), img[:, :, 1:]], axis=2)
    elif channels == 3:
        rgba = np.concatenate([img[:, :, ::-1], np.full_like(img[:, :, :1], 255)], axis=2)
    else:
        rgba = img[:, :, [2, 1, 0, 3]]
    if key is not None:
        rgba[key, 3] = 0
    return np.ascontiguousarray(rgba)


def read_png(path: str | Path) -> np.ndarray:
    return decode_png(Path(path).read_bytes())


def encode_png(rgba: np.ndarray) -> bytes:
    """(H, W, 4) or (H, W, 3) uint8 RGB(A) -> PNG bytes (lossless, deterministic)."""
    rgba = np.asarray(rgba)
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] not in (3, 4):
        raise ImageError(f"expected (H, W, 3|4) uint8, got {rgba.shape} {rgba.dtype}")
    order = [2, 1, 0, 3] if rgba.shape[2] == 4 else [2, 1, 0]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgba[:, :, order]))
    if not ok:
        raise ImageError("PNG encoding failed")
    return buf.tobytes()


def write_png(path: str | Path, rgba: np.ndarray) -> None:
    Path(path).write_bytes(encode_png(rgba))
