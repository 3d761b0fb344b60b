"""BLAS on one thread for the engine's small and tall-skinny matrices (lme4 runs single-threaded too)."""

from __future__ import annotations

import contextlib

__all__ = ["one_blas_thread"]


_BLAS_CONTROLLER = []  # the threadpoolctl controller, made on first use (after numpy and scipy have loaded their BLAS)


def one_blas_thread():
    """A context in which BLAS/LAPACK run on one thread.

    A fit's matrices are tall and skinny (n × p with p small: the QR of X, the
    cross-products of one pass over the data) or tiny (p × p, q × q): for
    them OpenBLAS's threads cost more in start-up and, on a busy machine, in
    waiting for a free core, than they save (measured: the slopes-as-outcomes
    fit of the HSB data ran 2.7× slower with two threads on a loaded 2-core
    machine).  R's lme4 runs single-threaded too.
    """
    try:
        if not _BLAS_CONTROLLER:
            from threadpoolctl import ThreadpoolController

            _BLAS_CONTROLLER.append(ThreadpoolController())
        return _BLAS_CONTROLLER[0].limit(limits=1, user_api="blas")
    except Exception:  # no threadpoolctl, or a BLAS it does not know: run as configured
        return contextlib.nullcontext()
