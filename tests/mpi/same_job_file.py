# Two job files of the same streams hold the same data: every dataset equal
# (floats to 1e-12 of the dataset's largest value: merges of partial
# statistics group differently, and a std of constant values is rounding noise),
# the same attributes on the root. Used to show that a reduce in time windows, or
# at another number of ranks, writes the same job file.
#   python3 same_job_file.py A.h5 B.h5
import sys

import h5py
import numpy as np

a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
names = []
a.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
other = []
b.visititems(lambda name, obj: other.append(name) if isinstance(obj, h5py.Dataset) else None)
assert sorted(names) == sorted(other), set(names) ^ set(other)
for name in names:
    x, y = a[name][()], b[name][()]
    assert x.shape == y.shape, (name, x.shape, y.shape)
    if x.dtype.kind == "f":
        scale = np.nanmax(np.abs(y)) if np.isfinite(y).any() else 0.0
        assert np.allclose(x, y, rtol=1e-12, atol=1e-12 * scale, equal_nan=True), name
    else:
        assert np.array_equal(x, y), name
for key, value in a.attrs.items():
    assert np.array_equal(value, b.attrs[key]), key
print(f"ok: {len(names)} datasets equal")
