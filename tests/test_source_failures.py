"""`webtext source` on broken input: a truncated `.zst`, a mistyped path, empty and non-dump
files. Each fails with one line naming the file (exit 2) and leaves the outputs of the last
good run as they were; `source.allow_empty` accepts an empty result on purpose."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from webtext.cli import main
from webtext.world.dumps import write_lines

OUTPUTS = ("urls.parquet", "source_stats.json", "configs/source.toml",
           "logs/source_rejects.tsv")


def submissions(world, n: int) -> list[bytes]:
    """`n` distinct dump lines made from the world's kept submissions (new ids and paths)."""
    kept = [json.loads(p.raw) for p in world.posts if p.expect == "kept"]
    lines = []
    for i in range(n):
        obj = dict(kept[i % len(kept)])
        obj["id"] = f"{obj['id']}x{i}"
        obj["url"] = f"{obj['url'].rstrip('/')}/copy-{i}"
        lines.append(json.dumps(obj, ensure_ascii=False).encode("utf-8"))
    return lines


def truncate(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def source(out: Path, *dumps: Path | str, extra: list[str] = ()) -> int:
    return main(["source", "--dumps", *map(str, dumps), "--out", str(out), *extra])


def snapshot(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in OUTPUTS}


@pytest.fixture
def good_build(tmp_path, world_dir) -> Path:
    """A build whose source stage succeeded on the world's dumps."""
    out = tmp_path / "build"
    assert source(out, world_dir / "dumps") == 0
    return out


# ------------------------------------------------------------------ truncated .zst (item 2)

@pytest.mark.parametrize("fraction", [0.5, 0.6, 0.99])
def test_truncated_zst_fails_naming_the_file(tmp_path, world, capsys, fraction):
    dump = write_lines(tmp_path / "RS_2019-06.zst", submissions(world, 20_000))
    assert source(tmp_path / "full", dump) == 0
    truncate(dump, fraction)
    capsys.readouterr()
    assert source(tmp_path / "b", dump) == 2
    err = capsys.readouterr().err
    assert f"{dump}: EOFError: truncated .zst file" in err
    assert "middle of a zstd frame" in err
    assert not (tmp_path / "b" / "urls.parquet").exists()


def test_half_of_the_world_zst_fails(tmp_path, world_dir, capsys):
    """Half of a small dump decompresses to nothing at all: it must not read as empty."""
    dump = tmp_path / "RS_2018.zst"
    dump.write_bytes((world_dir / "dumps" / "RS_2018.zst").read_bytes())
    truncate(dump, 0.5)
    assert source(tmp_path / "b", dump) == 2
    assert f"{dump}: EOFError: truncated .zst file" in capsys.readouterr().err


# ------------------------------------------------------------------ failed runs keep outputs (3)

def _mistyped(tmp_path: Path, world, world_dir: Path) -> list[Path]:
    return [world_dir / "dumps" / "RS_2019.xzz"]


def _truncated(tmp_path: Path, world, world_dir: Path) -> list[Path]:
    dump = write_lines(tmp_path / "RS_big.zst", submissions(world, 2_000))
    return [world_dir / "dumps", truncate(dump, 0.7)]


def _empty(tmp_path: Path, world, world_dir: Path) -> list[Path]:
    return [write_lines(tmp_path / "RS_empty.jsonl", [])]


def _no_url_kept(tmp_path: Path, world, world_dir: Path) -> list[Path]:
    return [write_lines(tmp_path / "RS_self.jsonl", [
        json.dumps({"id": f"s{i}", "url": "https://www.reddit.com/r/x/comments/s/",
                    "is_self": True, "score": 50}).encode() for i in range(5)])]


FAILED_RUNS = {"mistyped_path": _mistyped, "truncated_zst": _truncated, "empty": _empty,
               "no_url_kept": _no_url_kept}


@pytest.mark.parametrize("kind", FAILED_RUNS)
def test_failed_run_keeps_the_last_good_outputs(tmp_path, world, world_dir, good_build, kind,
                                                capsys):
    from webtext.crawl.stage import plan_shards
    from webtext.layout import BuildLayout

    assert plan_shards(BuildLayout(good_build), 1) == 1
    before = snapshot(good_build)
    dumps = FAILED_RUNS[kind](tmp_path, world, world_dir)
    capsys.readouterr()
    assert source(good_build, *dumps) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("webtext source: ") and err.endswith("nothing was written")
    assert len(err.splitlines()) == 1
    assert snapshot(good_build) == before
    assert not list(good_build.rglob(".tmp-*"))
    # The crawl planned on the good urls.parquet still accepts the build.
    assert plan_shards(BuildLayout(good_build), 1) == 1


def test_mistyped_path_fails_before_reading(tmp_path, world_dir, capsys):
    missing = world_dir / "dumps" / "RS_2019.xzz"
    assert source(tmp_path / "b", world_dir / "dumps", missing) == 2
    err = capsys.readouterr().err
    assert f"{missing}: no such file" in err
    assert not (tmp_path / "b" / "urls.parquet").exists()


# ------------------------------------------------------------------ empty and non-dump input (4)

def test_empty_jsonl_is_an_error(tmp_path, capsys):
    dump = write_lines(tmp_path / "RS_empty.jsonl", [])
    assert source(tmp_path / "b", dump) == 2
    err = capsys.readouterr().err
    assert "no submission read" in err and str(dump) in err and "source.allow_empty" in err
    assert not (tmp_path / "b" / "urls.parquet").exists()


def test_random_bytes_are_an_error(tmp_path, capsys):
    dump = tmp_path / "RS_noise.jsonl"
    dump.write_bytes(random.Random(0).randbytes(20_000))
    assert source(tmp_path / "b", dump) == 2
    err = capsys.readouterr().err
    assert "no submission read" in err and str(dump) in err
    assert "is a Reddit submission" in err
    assert not (tmp_path / "b" / "urls.parquet").exists()


def test_no_url_kept_is_an_error(tmp_path, world_dir, capsys):
    assert source(tmp_path / "b", world_dir / "dumps",
                  extra=["--set", "source.min_karma=1000000"]) == 2
    err = capsys.readouterr().err
    assert "no URL kept" in err and "low_karma" in err


@pytest.mark.parametrize("content", [b"", b"not json\n" * 10])
def test_allow_empty_accepts_an_empty_result(tmp_path, content):
    dump = tmp_path / "RS_empty.jsonl"
    dump.write_bytes(content)
    out = tmp_path / "b"
    assert source(out, dump, extra=["--set", "source.allow_empty=true"]) == 0
    assert pq.read_table(out / "urls.parquet").num_rows == 0
    stats = json.loads((out / "source_stats.json").read_text())
    assert stats["valid"] == 0 and stats["urls_kept"] == 0
    assert "allow_empty = true" in (out / "configs" / "source.toml").read_text()


def test_mostly_non_json_file_is_reported_not_fatal(tmp_path, world, world_dir, caplog):
    noise = write_lines(tmp_path / "RS_noise.jsonl",
                        [b"<html>not a dump</html>"] * 30 + submissions(world, 2))
    out = tmp_path / "b"
    assert source(out, world_dir / "dumps", noise) == 0
    stats = json.loads((out / "source_stats.json").read_text())
    assert stats["files"]["records"][str(noise)] == {"read": 32, "not_submissions": 30}
    assert any(str(noise) in r.getMessage() and "30 of 32 lines are not Reddit submissions"
               in r.getMessage() for r in caplog.records)
    # A file with only a few bad lines (the world's own dumps) is not flagged.
    flagged = {r.getMessage().split(":")[0] for r in caplog.records
               if "are not Reddit submissions" in r.getMessage()}
    assert str(world_dir / "dumps" / "RS_2018.zst") not in flagged
