"""Config of the dedup stage (exact and MinHash LSH near-duplicates, decontamination)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from webtext.configbase import StageConfig


class DedupConfig(StageConfig):
    """How documents are shingled, sketched, indexed, clustered and checked against eval data.

    Defaults: word 5-grams as in OpenWebText2 and datatrove; datasketch's MinHash (scheme
    affine32, seed 1); 13-gram decontamination as in GPT-3 and NeMo Curator; the 8-gram overlap
    rate of the GPT-2 paper (section 4).
    """

    # --- shingles and signatures -------------------------------------------------------------
    # Word n-grams over lower-cased alphanumeric words. 5 is the shingle size of OpenWebText2's
    # and datatrove's near-dedup (and of Lee et al. 2022, "Deduplicating Training Data").
    ngram: int = Field(default=5, ge=1)
    # 128 permutations: the MinHash estimate of a Jaccard J has standard error
    # sqrt(J(1-J)/num_perm), so the worst case (J = 0.5) is 0.044 at 128, within the 0.05 this
    # stage promises. OpenWebText2 used 10 permutations at threshold 0.5 (standard error 0.16:
    # it cannot tell J = 0.5 from J = 0.8) and datatrove uses 14 bands x 8 rows = 112 hashes
    # for bucketing only, with no estimate. 128 is the smallest power of two under the 0.05
    # bound and leaves room for recall-leaning band layouts (23 x 5 at the default threshold).
    num_perm: int = Field(default=128, ge=2)
    seed: int = 1  # datasketch's default MinHash seed, so signatures match a plain MinHash()
    # How one shingle becomes the 32-bit value that MinHash permutes:
    # "poly64": a polynomial hash over the shingle's words computed with numpy for a whole
    #   document at once (the fast path; datasketch gives identical signatures when handed
    #   webtext.dedup.minhash.shingle_hash32 as its hashfunc);
    # "sha1": datasketch's default sha1_hash32, identical to `MinHash(num_perm=128)` fed the
    #   same shingles, ~7x slower because every shingle is hashed in Python.
    shingle_hash: Literal["poly64", "sha1"] = "poly64"

    # --- near-duplicate index ----------------------------------------------------------------
    # Estimated Jaccard at or above which two candidates are the same document. A syndicated
    # copy with one word edited per ~50-word paragraph already sits at J 0.73-0.83 on word
    # 5-grams (each edit removes up to 5 shingles and adds 5), measured on the fixture world,
    # so 0.8 (NeMo Curator's default) misses lightly edited copies; 0.6 keeps them with a
    # 3-sigma margin at 128 permutations and stays far (7 sigma) from unrelated text (J <= 0.3).
    # OpenWebText2 used 0.5; datatrove's 14 x 8 bands put the S-curve midpoint near 0.72.
    threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    # datasketch MinHashLSH(weights=(false positive, false negative)) picks bands x rows. The
    # false-negative side weighs more because every candidate is then verified against the
    # threshold (verify=True), which removes false positives but cannot restore a missed pair:
    # at 0.6 this gives 23 bands x 5 rows, candidate probability 0.99 at J = 0.73.
    lsh_weights: list[float] = Field(default_factory=lambda: [0.2, 0.8])
    # Keep only candidate pairs whose estimated Jaccard reaches the threshold (NeMo Curator's
    # false-positive check); False unions every pair sharing a band bucket (datatrove).
    verify: bool = True
    # Which document of a cluster is kept: the first key decides, later keys break ties, and
    # input order breaks the last tie. karma: higher first (the Reddit signal WebText selects
    # on); length: more characters first; earliest: earlier in the input (shard, row) first.
    keep_rule: list[Literal["karma", "length", "earliest"]] = Field(
        default_factory=lambda: ["karma", "length", "earliest"]
    )
    # Where candidate pairs come from; both give the same clusters (tests/test_dedup_dask.py):
    # "local": the band-bucket join in this process, one band at a time: the signatures
    #   (num_perm x 4 = 512 bytes per document) plus ~0.3 KB per document for the node
    #   columns, the join and the output; all in, with the signature workers, ~780 MiB +
    #   ~830 bytes per document (1.6 KB per document at 1 M, benchmarks/dedup_bench.py), so
    #   WebText's ~8 M documents fit one 24 GB machine with room to spare (~24 M at 80%);
    # "dask": the same join sharded on a Dask cluster, whose memory per task is bounded by the
    #   partition size (beyond one machine).
    # The former default, datasketch's MinHashLSH in memory ("memory"), took 9-13 KB per
    # document at 23 bands (about 2 M documents on 24 GB) and is gone; it remains the oracle
    # the band join is tested against (tests/test_dedup_clusters.py). "numpy", the former name
    # of "local", is still read.
    backend: Literal["local", "dask"] = "local"
    dask_scheduler: str = ""  # address of a running Dask scheduler; "" = a LocalCluster
    dask_workers: int = Field(default=2, ge=1)  # LocalCluster worker processes
    partitions: int = Field(default=16, ge=1)  # band-bucket partitions of the Dask join
    workers: int = Field(default=2, ge=1)  # processes computing signatures, one docs shard each

    # --- incremental builds ------------------------------------------------------------------
    # Finished builds whose documents count as earlier snapshots (their dedup/ folder is read).
    previous: list[str] = Field(default_factory=list)
    # A snapshot of a scheduled corpus (DATA_ROOT/snapshots/<time>/, flows/serve.py) also uses
    # the finished snapshots before it (those with snapshot.json). Any other build beside this
    # one is never taken for an earlier snapshot unless named in `previous`: two builds side
    # by side (an ablation, a rebuild) may hold the same documents on purpose.
    discover_previous: bool = True

    # --- decontamination and reports ---------------------------------------------------------
    decontam_ngram: int = Field(default=13, ge=1)  # GPT-3 (appendix C) and NeMo Curator
    overlap_ngram: int = Field(default=8, ge=1)  # GPT-2 paper, section 4 (Bloom filters)
    # Thresholds of the duplicate-rate report computed from the stored signatures.
    report_thresholds: list[float] = Field(
        default_factory=lambda: [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    )

    @field_validator("backend", mode="before")
    @classmethod
    def _backend_name(cls, v: object) -> object:
        if v == "numpy":  # its name until the in-memory datasketch backend was removed
            return "local"
        if v == "memory":
            raise ValueError("backend 'memory' (datasketch MinHashLSH, 9-13 KB per document) "
                             "was removed: use 'local' (the default; the same clusters) or "
                             "'dask'")
        return v

    @field_validator("lsh_weights")
    @classmethod
    def _two_weights(cls, v: list[float]) -> list[float]:
        if len(v) != 2 or any(w < 0 or w > 1 for w in v) or abs(sum(v) - 1.0) > 1e-9:
            raise ValueError("lsh_weights is [false_positive, false_negative], summing to 1")
        return v

    @field_validator("report_thresholds")
    @classmethod
    def _thresholds(cls, v: list[float]) -> list[float]:
        if any(t <= 0 or t > 1 for t in v):
            raise ValueError("report thresholds must be in (0, 1]")
        return sorted(set(v))
