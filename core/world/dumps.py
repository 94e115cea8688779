"""Write the fixture world's submissions as the files Reddit data really comes in.

In:  a `World` (or any list of raw JSON lines).
Out: Pushshift-style dumps, one JSON object per line, as `.zst` (with the 2 GiB window that
     real dumps since 2019 use, so a reader without `max_window_size` fails on them as it would
     on the real thing), `.xz`, `.gz` and plain `.jsonl`, and Reddit API listing files
     (`{"kind": "Listing", "data": {"children": [...], "after": ...}}`), plus `world.json`,
     the machine-readable description of the world with its expected counts.
"""

from __future__ import annotations

import gzip
import json
import lzma
from pathlib import Path

import zstandard

from webtext.io import atomic_path, write_json
from webtext.world.spec import World

# Pushshift compresses with `zstd --long=31`: a 2 GiB window.
PUSHSHIFT_WINDOW_LOG = 31


def write_lines(path: Path, lines: list[bytes]) -> Path:
    """Write JSON lines in the format the suffix names (.zst, .xz, .gz, anything else: plain)."""
    data = b"".join(line + b"\n" for line in lines)
    with atomic_path(path) as tmp:
        name = path.name
        if name.endswith(".zst"):
            params = zstandard.ZstdCompressionParameters(
                window_log=PUSHSHIFT_WINDOW_LOG, enable_ldm=True, compression_level=3,
                write_content_size=False,
            )
            with open(tmp, "wb") as f, zstandard.ZstdCompressor(
                compression_params=params
            ).stream_writer(f) as w:
                w.write(data)
        elif name.endswith(".xz"):
            with lzma.open(tmp, "wb") as f:
                f.write(data)
        elif name.endswith(".gz"):
            with gzip.GzipFile(tmp, "wb", mtime=0) as f:  # mtime=0: same bytes every time
                f.write(data)
        else:
            tmp.write_bytes(data)
    return path


def write_listing(path: Path, objects: list[dict]) -> Path:
    """A saved Reddit API listing page holding `objects` as t3 children."""
    listing = {
        "kind": "Listing",
        "data": {
            "after": f"t3_{objects[-1]['id']}" if objects else None,
            "dist": len(objects),
            "children": [{"kind": "t3", "data": o} for o in objects],
            "before": None,
        },
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(listing, ensure_ascii=False), encoding="utf-8")
    return path


def write_world(world: World, out_dir: Path) -> list[Path]:
    """Write every submission once into `out_dir/dumps/`, spread over every format, and the
    world's description to `out_dir/world.json`; return the dump files.

    Lines that are not a JSON object (truncated, invalid UTF-8, ...) go to the `.jsonl` file;
    of the rest, every 7th goes to a listing and the others to the dump of their year.
    """
    out_dir = Path(out_dir)
    dump_dir = out_dir / "dumps"
    dump_dir.mkdir(parents=True, exist_ok=True)
    by_file: dict[str, list[bytes]] = {
        "RS_2018.zst": [], "RS_2019.xz": [], "RS_2020.gz": [], "RS_misc.jsonl": []
    }
    listing: list[dict] = []
    n_objects = 0
    for post in world.posts:
        try:
            obj = json.loads(post.raw)
        except (ValueError, UnicodeDecodeError):
            obj = None
        if not isinstance(obj, dict):
            by_file["RS_misc.jsonl"].append(post.raw)
            continue
        n_objects += 1
        if n_objects % 7 == 0:
            listing.append(obj)
            continue
        year = post.month[:4]
        name = {"2018": "RS_2018.zst", "2019": "RS_2019.xz"}.get(year, "RS_2020.gz")
        by_file[name].append(post.raw)
    files = [write_lines(dump_dir / name, lines) for name, lines in by_file.items()]
    files.append(write_listing(dump_dir / "listing_r_all.json", listing))
    write_json(out_dir / "world.json", world.to_json())
    return files
