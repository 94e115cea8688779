"""webtext.clean: WARC responses -> docs/*.parquet, every page annotated, none dropped.

Extraction (trafilatura, clean/extract.py), charset decoding (clean/decode.py), language ID
(py3langid, clean/lang.py), quality signals and rules (Gopher, C4, FineWeb: clean/quality.py),
reason codes (clean/reasons.py). Entry points for the CLI and the flows: clean/stage.py
(`run`, and the shard-level `plan_resume`, `clean_shard`, `write_stats`) and clean/cli.py;
`webtext inspect` is clean/inspect.py.
"""
