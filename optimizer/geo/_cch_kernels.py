"""Compiled kernels of the CCH matrices (numba): the hierarchy, its weights, the row sweeps.

Everything here is in *rank space*: node ``r`` is the node of rank ``r`` of the node order
(least important first). `optimizer.geo.cch` translates and documents the method; these are
its loops, compiled once (``cache=True`` keeps the machine code on disk beside this file).
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

_INF = np.inf


@nb.njit(cache=True)
def topology(n: int, tail: np.ndarray, head: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The chordal supergraph of the graph under its node order (the elimination game).

    Returns ``up_first`` (n + 1), ``up_head`` (the upward neighbours of each node, sorted by
    rank, ``up_head[up_first[v]:up_first[v + 1]]``) and ``parent`` (the elimination tree: the
    lowest upward neighbour, -1 for a root).
    """
    first = np.zeros(n + 1, dtype=np.int64)
    for i in range(tail.shape[0]):
        a, b = tail[i], head[i]
        if a != b:
            first[min(a, b) + 1] += 1
    for v in range(n):
        first[v + 1] += first[v]
    fill = first[:-1].copy()
    orig = np.empty(first[n], dtype=np.int64)
    for i in range(tail.shape[0]):
        a, b = tail[i], head[i]
        if a != b:
            lo, hi = min(a, b), max(a, b)
            orig[fill[lo]] = hi
            fill[lo] += 1
    first_child = np.empty(n, dtype=np.int64)
    next_sibling = np.empty(n, dtype=np.int64)
    parent = np.empty(n, dtype=np.int64)
    mark = np.empty(n, dtype=np.int64)
    for v in range(n):
        first_child[v] = next_sibling[v] = parent[v] = mark[v] = -1
    buf = np.empty(n, dtype=np.int64)
    up_first = np.zeros(n + 1, dtype=np.int64)
    up_head = np.empty(2 * orig.shape[0] + 16, dtype=np.int64)
    m = 0
    for v in range(n):
        count = 0
        for i in range(first[v], first[v + 1]):
            w = orig[i]
            if mark[w] != v:
                mark[w] = v
                buf[count] = w
                count += 1
        c = first_child[v]
        while c != -1:  # a child's upward neighbours (all above v) are v's too
            for i in range(up_first[c], up_first[c + 1]):
                w = up_head[i]
                if w != v and mark[w] != v:
                    mark[w] = v
                    buf[count] = w
                    count += 1
            c = next_sibling[c]
        if m + count > up_head.shape[0]:
            grown = np.empty(2 * up_head.shape[0] + count, dtype=np.int64)
            for i in range(m):
                grown[i] = up_head[i]
            up_head = grown
        _insertion_sort(buf, count)
        for i in range(count):
            up_head[m + i] = buf[i]
        m += count
        up_first[v + 1] = m
        if count:
            p = up_head[up_first[v]]
            parent[v] = p
            next_sibling[v] = first_child[p]
            first_child[p] = v
    return up_first, up_head[:m].copy(), parent


# Numba compiles numpy's own np.full, np.sort and slice assignments slowly (seconds each on the
# first call after an install): the kernels use plain loops for them.


@nb.njit(cache=True)
def _filled(n: int, value: float) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        out[i] = value
    return out


@nb.njit(inline="always")
def _clear(d_t: np.ndarray, d_l: np.ndarray, p: int) -> None:
    for j in range(d_t.shape[1]):
        d_t[p, j] = _INF
        d_l[p, j] = _INF


@nb.njit(cache=True)
def _insertion_sort(a: np.ndarray, count: int) -> None:
    """Sort ``a[:count]`` in place (a node's upper neighbours: a few, or a separator's)."""
    for i in range(1, count):
        x = a[i]
        j = i - 1
        while j >= 0 and a[j] > x:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


@nb.njit(cache=True)
def _arc(up_first: np.ndarray, up_head: np.ndarray, lo: int, hi: int) -> int:
    """The index of the hierarchy arc ``lo -> hi`` (binary search in lo's sorted neighbours)."""
    a, b = up_first[lo], up_first[lo + 1]
    while a < b:
        mid = (a + b) // 2
        if up_head[mid] < hi:
            a = mid + 1
        else:
            b = mid
    return a


@nb.njit(inline="always")
def _better(t: float, length: float, t_old: float, length_old: float) -> bool:
    # the faster path; of two equally fast ones, the shorter
    return t < t_old or (t == t_old and length < length_old)


@nb.njit(cache=True)
def customise(up_first: np.ndarray, up_head: np.ndarray, tail: np.ndarray, head: np.ndarray,
              time_s: np.ndarray, length_m: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Times and lengths of every hierarchy arc, up (``v -> w``) and down (``w -> v``).

    Basic customisation: each arc first takes the graph's arc (the best of parallel ones), then,
    lowest node first, every lower triangle ``x <- v -> y`` offers the path through ``v``.
    """
    m = up_head.shape[0]
    up_t = _filled(m, _INF)
    up_l = _filled(m, _INF)
    dn_t = _filled(m, _INF)
    dn_l = _filled(m, _INF)
    for i in range(tail.shape[0]):
        a, b = tail[i], head[i]
        if a == b:
            continue
        lo, hi = min(a, b), max(a, b)
        k = _arc(up_first, up_head, lo, hi)
        if a < b:
            if _better(time_s[i], length_m[i], up_t[k], up_l[k]):
                up_t[k] = time_s[i]
                up_l[k] = length_m[i]
        elif _better(time_s[i], length_m[i], dn_t[k], dn_l[k]):
            dn_t[k] = time_s[i]
            dn_l[k] = length_m[i]
    n = up_first.shape[0] - 1
    for v in range(n):
        end = up_first[v + 1]
        for i in range(up_first[v], end):
            x = up_head[i]
            p = up_first[x]
            for j in range(i + 1, end):
                y = up_head[j]
                while up_head[p] != y:  # v's neighbours above x are x's too (chordal)
                    p += 1
                t = dn_t[i] + up_t[j]  # x -> v -> y
                length = dn_l[i] + up_l[j]
                if _better(t, length, up_t[p], up_l[p]):
                    up_t[p] = t
                    up_l[p] = length
                t = dn_t[j] + up_t[i]  # y -> v -> x
                length = dn_l[j] + up_l[i]
                if _better(t, length, dn_t[p], dn_l[p]):
                    dn_t[p] = t
                    dn_l[p] = length
    return up_t, up_l, dn_t, dn_l


@nb.njit(cache=True)
def sweep_graph(up_first: np.ndarray, up_head: np.ndarray, parent: np.ndarray,
                dn_t: np.ndarray, dn_l: np.ndarray, pinned: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The part of the hierarchy the rows sweep: the ancestors of the `pinned` nodes.

    Returns ``pos`` (each node's position in the sweep, highest rank first; -1 outside),
    and the sweep's arcs in CSR form by position: ``first``, the position of the upper end,
    its time and length downwards.
    """
    n = parent.shape[0]
    marked = np.zeros(n, dtype=np.bool_)
    for s in pinned:
        v = s
        while v != -1 and not marked[v]:
            marked[v] = True
            v = parent[v]
    pos = np.empty(n, dtype=np.int64)
    count = 0
    for v in range(n - 1, -1, -1):
        pos[v] = -1
        if marked[v]:
            pos[v] = count
            count += 1
    first = np.zeros(count + 1, dtype=np.int64)
    nodes = np.empty(count, dtype=np.int64)
    for v in range(n):
        if pos[v] >= 0:
            nodes[pos[v]] = v
    for p in range(count):
        v = nodes[p]
        first[p + 1] = first[p] + up_first[v + 1] - up_first[v]
    upper = np.empty(first[count], dtype=np.int64)
    w_t = np.empty(first[count])
    w_l = np.empty(first[count])
    for p in range(count):
        v = nodes[p]
        e = first[p]
        for a in range(up_first[v], up_first[v + 1]):
            upper[e] = pos[up_head[a]]
            w_t[e] = dn_t[a]
            w_l[e] = dn_l[a]
            e += 1
    return pos, first, upper, w_t, w_l


@nb.njit(parallel=True, cache=True)
def fill_rows(up_first: np.ndarray, up_head: np.ndarray, parent: np.ndarray,
              up_t: np.ndarray, up_l: np.ndarray, pos: np.ndarray, first: np.ndarray,
              upper: np.ndarray, w_t: np.ndarray, w_l: np.ndarray, sources: np.ndarray,
              row_first: np.ndarray, row_loc: np.ndarray, col_pos: np.ndarray,
              add_s: np.ndarray, add_m: np.ndarray, duration: np.ndarray,
              distance: np.ndarray, d_t: np.ndarray, d_l: np.ndarray, stamp: np.ndarray,
              serial: int) -> None:
    """Fill the matrix rows of `sources` in place.

    Source ``i`` is the node of the locations ``row_loc[row_first[i]:row_first[i + 1]]``;
    column ``c`` is a location whose node sits at sweep position ``col_pos[c]``. Row ``r``
    gets, in column ``c``, the time (length) of the fastest path plus ``add_s[r] + add_s[c]``
    (``add_m``), ``inf`` where unreachable.

    A batch of ``d_t.shape[2]`` sources shares one sweep: each climbs its elimination-tree
    path (the upward search), then one pass over the sweep graph, highest node first, carries
    all of them down at once. Batches run on numba's threads, each with its own buffers
    ``d_t[thread], d_l[thread]`` (positions x batch); a buffer row counts as cleared only if
    its ``stamp`` is the batch's number (``serial`` + batch), so no pass clears the buffers.
    """
    n_pos = first.shape[0] - 1
    batch = d_t.shape[2]
    n_batches = (sources.shape[0] + batch - 1) // batch
    for b in nb.prange(n_batches):
        me = nb.get_thread_id()
        dt = d_t[me]
        dl = d_l[me]
        st = stamp[me]
        now = serial + b
        lo = b * batch
        k = min(batch, sources.shape[0] - lo)
        for j in range(k):
            s = sources[lo + j]
            ps = pos[s]
            if st[ps] != now:
                _clear(dt, dl, ps)
                st[ps] = now
            dt[ps, j] = 0.0
            dl[ps, j] = 0.0
            v = s
            while v != -1:
                pv = pos[v]
                if st[pv] == now and dt[pv, j] < _INF:
                    tv = dt[pv, j]
                    lv = dl[pv, j]
                    for a in range(up_first[v], up_first[v + 1]):
                        pw = pos[up_head[a]]
                        if st[pw] != now:
                            _clear(dt, dl, pw)
                            st[pw] = now
                        t = tv + up_t[a]
                        length = lv + up_l[a]
                        if _better(t, length, dt[pw, j], dl[pw, j]):
                            dt[pw, j] = t
                            dl[pw, j] = length
                v = parent[v]
        for p in range(n_pos):
            if st[p] != now:
                _clear(dt, dl, p)
                st[p] = now
            for e in range(first[p], first[p + 1]):
                q = upper[e]
                et = w_t[e]
                el = w_l[e]
                for j in range(batch):
                    t = dt[q, j] + et
                    length = dl[q, j] + el
                    if _better(t, length, dt[p, j], dl[p, j]):
                        dt[p, j] = t
                        dl[p, j] = length
        for c in range(col_pos.shape[0]):
            p = col_pos[c]
            for j in range(k):
                for i in range(row_first[lo + j], row_first[lo + j + 1]):
                    r = row_loc[i]
                    duration[r, c] = dt[p, j] + add_s[r] + add_s[c]
                    distance[r, c] = dl[p, j] + add_m[r] + add_m[c]


def fill_rows_threaded(*args: Any, threads: int) -> None:
    """`fill_rows` on `threads` threads of numba's pool, its settings restored afterwards.

    Threads take one batch at a time (chunk size 1) rather than an equal share up front: on a
    shared machine one thread may get less of its core, and the other then takes more batches.
    """
    before = nb.get_num_threads()
    # numba's pool has NUMBA_NUM_THREADS threads (the cores, or the environment variable)
    most = nb.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]  # set at run time
    nb.set_num_threads(max(1, min(threads, most)))
    try:
        with nb.parallel_chunksize(1):
            fill_rows(*args)
    finally:
        nb.set_num_threads(before)
