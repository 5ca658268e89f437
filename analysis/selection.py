"""Exact order statistics of many groups at once, without sorting them: two passes over the values.

The nearest-rank percentile of a group is the value at one rank of its sorted values. To find it for
every cell of a timeline (a time bin of an operation or persona) a sort of all the values is not
needed: a float64's bit pattern, read as an unsigned integer, orders non-negative numbers as the
numbers do, so its top bits cut the values into buckets in value order.

1. Count each cell's values per bucket (one ``bincount``).
2. From the cumulative counts, find the bucket that holds each wanted rank and the rank within it.
3. Gather only the values of those (cell, bucket) pairs — a small share of the values — and sort
   those to read each wanted value.

Each answer is exactly the value a sort would put at that rank (the known-answer test compares
them). Both passes go over the values a slice of :data:`CHUNK` rows at a time, so the temporaries
stay a few tens of megabytes whatever the number of samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
from numpy.typing import NDArray

CHUNK = 1 << 21  # rows per slice of each pass
_MAX_CELLS_X_BUCKETS = 1 << 23  # the count table's size (int64): 64 MiB at most
_FINEST_SHIFT = 45  # 11 exponent bits and 7 mantissa bits: 128 buckets per power of two


def _bucket_bits(values: NDArray[np.float64], shift: int) -> NDArray[np.uint64]:
    # + 0.0 turns -0.0 into 0.0, whose bits order it with the other non-negative values
    bits: NDArray[np.uint64] = (values + 0.0).view(np.uint64) >> np.uint64(shift)
    return bits


Parts = Callable[[], Iterable[tuple[NDArray[np.integer], NDArray[np.float64]]]]


def grouped_percentiles(
    cells: NDArray[np.integer], values: NDArray[np.float64], n_cells: int, ps: tuple[float, ...]
) -> dict[str, NDArray[np.float64]]:
    """Nearest-rank percentiles ``ps`` of ``values`` within each cell (``cells[i]`` in
    ``[0, n_cells)`` is the cell of ``values[i]``, non-negative and not NaN): ``"p50"`` … → one value
    per cell, NaN for a cell without values."""

    def parts() -> Iterator[tuple[NDArray[np.integer], NDArray[np.float64]]]:
        for a in range(0, len(values), CHUNK):
            yield cells[a : a + CHUNK], values[a : a + CHUNK]

    return percentiles_of_parts(parts, n_cells, ps)


def percentiles_of_parts(
    parts: Parts, n_cells: int, ps: tuple[float, ...], bounds: tuple[float, float] | None = None
) -> dict[str, NDArray[np.float64]]:
    """:func:`grouped_percentiles` of values given in parts: ``parts()`` yields the same (cells,
    values) slices each time it is called (twice, three times without ``bounds``: range, counts,
    gathering), so that the caller makes them a slice at a time and no whole-length temporary
    exists. ``bounds``: (at most the smallest, at least the largest) value, when known."""
    out = {f"p{p:g}": np.full(n_cells, np.nan) for p in ps}
    lo_bits, hi_bits = None, None
    for _, v in parts() if bounds is None else [(None, np.asarray(bounds, dtype=np.float64))]:
        if len(v):
            lo = int(_bucket_bits(np.asarray([np.min(v)]), 0)[0])
            hi = int(_bucket_bits(np.asarray([np.max(v)]), 0)[0])
            lo_bits = lo if lo_bits is None else min(lo_bits, lo)
            hi_bits = hi if hi_bits is None else max(hi_bits, hi)
    if lo_bits is None or hi_bits is None or n_cells == 0:
        return out
    shift = _FINEST_SHIFT
    while ((hi_bits >> shift) - (lo_bits >> shift) + 1) * n_cells > _MAX_CELLS_X_BUCKETS and shift < 63:
        shift += 1  # coarser buckets for many cells or a wide range: more values gathered in pass 2
    base = lo_bits >> shift
    n_buckets = (hi_bits >> shift) - base + 1

    def keys(c: NDArray[np.integer], v: NDArray[np.float64]) -> NDArray[np.int64]:
        k = (_bucket_bits(v, shift) - np.uint64(base)).astype(np.int64)
        k += c.astype(np.int64) * n_buckets
        return k

    # pass 1: each cell's count per bucket
    counts = np.zeros(n_cells * n_buckets, dtype=np.int64)
    for c, v in parts():
        counts += np.bincount(keys(c, v), minlength=n_cells * n_buckets)
    cumulative = np.cumsum(counts.reshape(n_cells, n_buckets), axis=1)
    del counts
    sizes = cumulative[:, -1]
    present = np.flatnonzero(sizes)
    # the wanted ranks: for each percentile and cell, its bucket and its rank within the bucket
    wanted: list[tuple[float, NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]] = []
    for p in ps:
        rank = np.maximum(1, np.ceil(p / 100.0 * sizes[present] - 1e-9)).astype(np.int64)
        rank = np.minimum(rank, sizes[present])
        bucket = (cumulative[present] < rank[:, None]).sum(axis=1)  # the first bucket reaching the rank
        before = np.where(bucket > 0, cumulative[present, np.maximum(bucket - 1, 0)], 0)
        wanted.append((p, present * n_buckets + bucket, rank - before, present))
    target = np.zeros(n_cells * n_buckets, dtype=bool)
    for _, key, _, _ in wanted:
        target[key] = True
    # pass 2: the values of the wanted buckets only, sorted by (bucket key, value)
    got_keys: list[NDArray[np.int64]] = []
    got_values: list[NDArray[np.float64]] = []
    for c, v in parts():
        k = keys(c, v)
        hit = target[k]
        got_keys.append(k[hit])
        got_values.append(v[hit])
    gk, gv = np.concatenate(got_keys), np.concatenate(got_values)
    order = np.lexsort((gv, gk))
    gk, gv = gk[order], gv[order]
    for p, key, within, cells_of in wanted:
        start = np.searchsorted(gk, key, side="left")
        out[f"p{p:g}"][cells_of] = gv[start + within - 1]
    return out
