"""Imported once by the worker processes' fork server: what every worker needs, loaded once.

Loading trafilatura and the language model takes seconds; workers forked from a server that
has them start at once and share the model's memory (57 MB) copy-on-write. Importing this
module has that side effect on purpose.
"""

import os

# One process per core is the parallelism; BLAS threads inside each worker would only compete
# with the other workers (and spin). Set before numpy is first imported in the fork server.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from webtext.clean import extract as _extract  # noqa: E402, F401 (trafilatura, lxml)
from webtext.clean import lang as _lang  # noqa: E402

_lang.model()
