"""Keep pyarrow from importing pandas in a process that never hands it pandas objects.

pyarrow imports pandas the first time it converts any Python or NumPy value
(``pa.array``, ``pa.scalar``, a Python number given to a compute function), only
to learn whether the value is a pandas object. On the developers' 2-core machine
that import costs about a second: more than everything else `petrostream replay`
loads, and a sixth of a replay of the whole real 3W set. `skip_pandas_probe` lets
that first probe find no pandas, so pyarrow treats values as the plain Python and
NumPy values they are. pandas stays importable, and pyarrow's explicit pandas
calls (``to_pandas``, ``Table.from_pandas``) import it when asked and work as
usual (tests/unit/test_arrow_startup.py).
"""

from __future__ import annotations

import sys


def skip_pandas_probe() -> bool:
    """Answer pyarrow's "is pandas installed?" with no, once; True if it was asked now.

    Call it before the first conversion, in a process that does not pass pandas
    objects to ``pa.array`` (a pandas Series would then be read as a plain
    sequence). Does nothing when pandas is already imported.
    """
    if "pandas" in sys.modules:
        return False
    import pyarrow as pa

    sys.meta_path.insert(0, _NoPandas())
    try:
        pa.scalar(0)  # pyarrow's first conversion: it tries pandas once and remembers
    finally:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _NoPandas)]
    return True


class _NoPandas:
    """An import hook (a meta path finder) under which ``import pandas`` fails, for the probe.

    Not a subclass of ``importlib.abc.MetaPathFinder``: importing that module alone
    costs ~50 ms, and the import system needs only ``find_spec``.
    """

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(f"{fullname} is hidden from pyarrow's probe", name=fullname)
