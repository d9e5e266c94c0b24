"""UPI deep links, and QR codes that are real PNGs of the link's QR matrix."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from core.shared.money import Money
from sandbox.acquirer.upi_qr import (
    PNG_SIGNATURE,
    format_amount,
    qr_matrix,
    qr_png_data_uri,
    upi_deep_link,
)

LINK = "upi://pay?pa=paygate@sim&pn=paygate&am=100.50&cu=INR&tr=pa_01jd3xk5q8r0000000000000"


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """Checks signature, chunk CRCs and header; returns width, height, raw scanlines."""
    assert data.startswith(PNG_SIGNATURE)
    pos, chunks = len(PNG_SIGNATURE), []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(tag + body) == crc, tag
        chunks.append((tag, body))
        pos += 12 + length
    tags = [tag for tag, _ in chunks]
    assert tags[0] == b"IHDR" and tags[-1] == b"IEND"
    width, height, depth, color, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    assert (depth, color, compression, filtering, interlace) == (8, 0, 0, 0, 0)
    raw = zlib.decompress(b"".join(body for tag, body in chunks if tag == b"IDAT"))
    return width, height, raw


def test_qr_is_a_png_data_uri_of_the_links_matrix() -> None:
    scale = 5
    uri = qr_png_data_uri(LINK, scale=scale)
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    png = base64.b64decode(uri.removeprefix(prefix), validate=True)
    width, height, raw = read_png(png)

    matrix = qr_matrix(LINK)
    assert width == height == len(matrix) * scale
    assert len(raw) == height * (width + 1)
    for y, row in enumerate(matrix):
        line = raw[y * scale * (width + 1) : (y * scale + 1) * (width + 1)]
        assert line[0] == 0  # filter type None
        pixels = line[1:]
        assert [pixels[x * scale] == 0 for x in range(len(row))] == row


def test_qr_matrix_has_a_quiet_zone_and_finder_patterns() -> None:
    matrix = qr_matrix(LINK)
    size = len(matrix)
    assert all(len(row) == size for row in matrix)
    assert not any(matrix[0]) and not any(matrix[-1])  # quiet zone, 4 modules by default
    # Top-left finder pattern: a 7x7 dark ring starting inside the quiet zone.
    assert all(matrix[4][4:11]) and all(matrix[10][4:11])
    assert matrix[5][4] and not any(matrix[5][5:10]) and matrix[5][10]  # its light ring
    assert all(all(row[6:9]) for row in matrix[6:9])  # its dark centre


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Money(10050, "INR"), "100.50"),
        (Money(5, "INR"), "0.05"),
        (Money(100, "INR"), "1.00"),
        (Money(500, "JPY"), "500"),
        (Money(1234, "KWD"), "1.234"),
    ],
)
def test_amounts_are_major_units_with_the_currencys_decimals(amount: Money, text: str) -> None:
    assert format_amount(amount) == text


def test_deep_link_escapes_values() -> None:
    link = upi_deep_link(
        payee_vpa="shop@okaxis",
        payee_name="Tea & Cakes",
        amount=Money(2500, "INR"),
        reference="pa_1",
        note="order #7",
    )
    assert link == (
        "upi://pay?pa=shop@okaxis&pn=Tea%20%26%20Cakes&am=25.00&cu=INR&tr=pa_1&tn=order%20%237"
    )
