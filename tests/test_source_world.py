"""The source stage on the generated fixture world: exact counts, by intention."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from webtext.cli import main
from webtext.records import URLS_SCHEMA, SourceDrop


@pytest.mark.parametrize("mode", ["max", "sum"])
def test_world_counts_exact(tmp_path, world, world_dir, mode):
    out = tmp_path / "build"
    code = main(["source", "--dumps", str(world_dir / "dumps"), "--out", str(out),
                 "--set", f"source.karma_mode={mode}"])
    assert code == 0
    stats = json.loads((out / "source_stats.json").read_text())
    expected = world.expected()
    assert stats["read"] == expected["submissions"]
    want = dict(expected["source"][mode])
    assert stats["kept"] == want.pop("kept")
    got = {k: v for k, v in stats["dropped"].items() if v}
    assert got == want
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values())
    table = pq.read_table(out / "urls.parquet")
    assert table.schema.equals(URLS_SCHEMA)
    kept_urls = {p.url for p in world.posts if (p.expect if mode == "max" else p.expect_sum)
                 == "kept"}
    assert set(table.column("url").to_pylist()) == kept_urls
    assert table.num_rows == expected["urls"][mode]


def test_world_multi_post_url(tmp_path, world, world_dir):
    out = tmp_path / "b"
    assert main(["source", "--dumps", str(world_dir / "dumps"), "--out", str(out)]) == 0
    rows = pq.read_table(out / "urls.parquet").to_pylist()
    counts = {}
    for p in world.posts:
        if p.expect == "kept":
            counts[p.url] = counts.get(p.url, 0) + 1
    assert {r["url"]: r["n_submissions"] for r in rows} == counts
    multi = max(rows, key=lambda r: r["n_submissions"])
    assert len(multi["subreddits"]) >= 3 and multi["karma"] < multi["karma_sum"]


def test_rejects_logged_with_file_and_line(tmp_path, world_dir):
    out = tmp_path / "b"
    main(["source", "--dumps", str(world_dir / "dumps" / "*"), "--out", str(out)])
    lines = (out / "logs" / "source_rejects.tsv").read_text().splitlines()[1:]
    malformed = [ln.split("\t") for ln in lines if "\tmalformed_json\t" in ln]
    assert len(malformed) == 3
    for file, line, _, _ in malformed:
        assert file.endswith("RS_misc.jsonl") and int(line) >= 1


def test_output_is_deterministic_and_config_written(tmp_path, world_dir):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["source", "--dumps", str(world_dir / "dumps"), "--out", str(out)]) == 0
    assert (a / "urls.parquet").read_bytes() == (b / "urls.parquet").read_bytes()
    assert "min_karma = 3" in (a / "configs" / "source.toml").read_text()


def test_unreadable_file_fails_and_writes_nothing(tmp_path, world_dir, capsys):
    bad = tmp_path / "RS_bad.xz"
    bad.write_bytes(b"this is not xz")
    out = tmp_path / "b"
    code = main(["source", "--dumps", str(world_dir / "dumps"), str(bad), "--out", str(out)])
    assert code == 2
    captured = capsys.readouterr()
    assert f"could not read 1 of 6 dump files to the end: {bad}: LZMAError" in captured.err
    assert "unreadable files" in captured.out  # the funnel of what was read is still shown
    assert not (out / "urls.parquet").exists() and not (out / "source_stats.json").exists()


def test_no_dumps_is_a_clear_error(tmp_path, capsys):
    assert main(["source", "--out", str(tmp_path / "b")]) == 2
    assert "no dump files" in capsys.readouterr().err


def test_drop_reason_enum_matches_world(world):
    reasons = {p.expect for p in world.posts} - {"kept"}
    assert reasons <= {r.value for r in SourceDrop}
