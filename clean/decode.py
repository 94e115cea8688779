"""From the bytes of an HTTP body to a Unicode string, or to the reason it is not text.

In:  the body bytes and the Content-Type header of a response.
Out: `sniff_binary()` -> True for bytes that are not text; `decode_html()` -> `Decoded` (the
     text, the codec used, where it came from, and how many bytes had to be replaced).

Rules implemented:
- Binary or text: WHATWG MIME Sniffing, section 7.2 ("rules for distinguishing if a resource
  is text or binary"): a resource whose first 1445 bytes hold a "binary data byte" is binary,
  unless it starts with a UTF-8 or UTF-16 byte order mark.
- Charset, in the order of the HTML standard's encoding sniffing: byte order mark, then the
  charset of the Content-Type header, then a <meta> charset in the first 1024 bytes, then
  detection. A declared charset is used when it decodes the body without error, except that
  non-ASCII bytes forming valid UTF-8 are read as UTF-8 whatever the label (a legacy charset
  almost never produces valid UTF-8). When no declaration fits (a wrong one, or corrupt
  bytes), detection decides: a body that is mostly valid
  UTF-8 is corrupt UTF-8 (decoded with replacement characters, `replaced` > 0); anything else
  goes to charset_normalizer. Labels map as the WHATWG Encoding standard says browsers do:
  "iso-8859-1", "latin1" and "ascii" mean windows-1252.
charset_normalizer is imported here only.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# WHATWG MIME Sniffing 7.2: 0x00-0x08, 0x0B, 0x0E-0x1A, 0x1C-0x1F.
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_SNIFF_BYTES = 1445
_META_PRESCAN_BYTES = 1024  # HTML standard, "prescan a byte stream to determine its encoding"
_META_CHARSET = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE
)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
# WHATWG Encoding: these labels all name windows-1252.
_WINDOWS_1252_LABELS = {
    "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "ascii", "us-ascii",
    "cp819", "ibm819", "iso-ir-100", "csisolatin1", "x-cp1252", "windows-1252", "cp1252",
}


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    encoding: str  # Python codec name actually used
    source: str  # "bom", "header", "meta", "ascii", "detected", or "replaced" (lossy)
    replaced: int  # undecodable bytes replaced by U+FFFD (0 for a clean decoding)


def sniff_binary(body: bytes) -> bool:
    """True if the body is binary by WHATWG MIME sniffing (a PNG or PDF labelled HTML)."""
    if body.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    return _BINARY_BYTES.search(body, 0, _SNIFF_BYTES) is not None


def _codec(label: str | None) -> str | None:
    """Python codec name for a charset label, or None if unknown."""
    if not label:
        return None
    label = label.strip().lower()
    if label in _WINDOWS_1252_LABELS:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except UnicodeDecodeError:
        return None


def declared_charsets(body: bytes, content_type: str | None) -> list[tuple[str, str]]:
    """(codec, source) pairs the response declares, in the order they are trusted."""
    out = []
    match = _HEADER_CHARSET.search(content_type or "")
    if match and (codec := _codec(match.group(1))):
        out.append((codec, "header"))
    match = _META_CHARSET.search(body, 0, _META_PRESCAN_BYTES)
    if match and (codec := _codec(match.group(1).decode("ascii", "replace"))):
        out.append((codec, "meta"))
    return out


def decode_html(body: bytes, content_type: str | None) -> Decoded:
    """Decode a body by BOM, header charset, <meta> charset, then detection; never raises."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            text = body[len(bom):].decode(codec, errors="replace")
            return Decoded(text, codec, "bom", text.count("\ufffd"))
    if body.isascii():
        return Decoded(body.decode("ascii"), "ascii", "ascii", 0)
    declared = declared_charsets(body, content_type)
    # Non-ASCII bytes that form valid UTF-8 are UTF-8 whatever the label says: text in a
    # legacy charset almost never does (an accented letter would need continuation bytes
    # after it), while UTF-8 pages labelled with a server's latin-1 default are common. For
    # the same reason a body that is mostly valid UTF-8 is corrupt UTF-8, even where a
    # single-byte label would decode it "without error" into mojibake.
    text = body.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd")
    if replaced == 0:
        source = next((src for codec, src in declared if codec == "utf-8"), "detected")
        return Decoded(text, "utf-8", source, 0)
    if sum(1 for ch in text if ord(ch) > 0x7F) - replaced > replaced:
        return Decoded(text, "utf-8", "replaced", replaced)
    for codec, source in declared:
        if (text := _strict(body, codec)) is not None:
            return Decoded(text, codec, source, 0)
    # Nothing declared, or no declaration fits the bytes: a legacy charset, detected.
    from charset_normalizer import from_bytes

    matches = from_bytes(body)
    best = matches.best()
    codec = _codec(best.encoding) if best is not None else None
    # On a tie, windows-1252: the HTML standard's fallback for unlabelled legacy pages.
    if best is not None and any(
        m.encoding == "cp1252" and (m.chaos, m.coherence) == (best.chaos, best.coherence)
        for m in matches
    ):
        codec = "cp1252"
    if codec is not None and (text := _strict(body, codec)) is not None:
        return Decoded(text, codec, "detected", 0)
    text = body.decode("cp1252", errors="replace")  # the web's default legacy charset
    return Decoded(text, "cp1252", "replaced", text.count("\ufffd"))
