"""UPI payment links and their QR codes.

The QR matrix comes from the qrcode library; the PNG around it is written here with zlib
(an 8-bit grayscale image, a few hundred bytes compressed), so neither Pillow nor PyPNG is
needed at run time.
"""

from __future__ import annotations

import base64
import struct
import zlib
from urllib.parse import quote

import qrcode  # type: ignore[import-untyped]
import qrcode.constants  # type: ignore[import-untyped]

from core.shared.money import Money, exponent

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def format_amount(amount: Money) -> str:
    """Major units with the currency's exponent of decimals: 10050 INR -> '100.50'."""
    exp = exponent(amount.currency)
    units, minor = divmod(amount.amount, 10**exp)
    return f"{units}.{minor:0{exp}d}" if exp else str(units)


def upi_deep_link(
    *, payee_vpa: str, payee_name: str, amount: Money, reference: str, note: str = ""
) -> str:
    """A `upi://pay` link (NPCI linking spec): pa payee, pn name, am, cu, tr reference."""
    params = [
        ("pa", payee_vpa),
        ("pn", payee_name),
        ("am", format_amount(amount)),
        ("cu", amount.currency),
        ("tr", reference),
    ]
    if note:
        params.append(("tn", note[:80]))
    # %20 rather than '+' for spaces: UPI apps read the query with plain percent-decoding.
    return "upi://pay?" + "&".join(f"{key}={quote(value, safe='@')}" for key, value in params)


def qr_matrix(text: str, *, border: int = 4) -> list[list[bool]]:
    """The QR code's modules, quiet zone included; True is dark."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    qr.add_data(text)
    qr.make(fit=True)
    return [[bool(module) for module in row] for row in qr.get_matrix()]


def png_from_matrix(matrix: list[list[bool]], *, scale: int = 6) -> bytes:
    size = len(matrix) * scale
    raw = bytearray()
    for row in matrix:
        line = bytearray((0,))  # filter type 0 (None) for every scanline
        for dark in row:
            line.extend((0 if dark else 255,) * scale)
        raw.extend(bytes(line) * scale)
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + _chunk(b"IEND", b"")
    )


def qr_png_data_uri(text: str, *, scale: int = 6) -> str:
    png = png_from_matrix(qr_matrix(text), scale=scale)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
