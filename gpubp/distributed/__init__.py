"""Data-parallel training over MPI: N processes (one GPU each, or a share of the CPU), one model.

Every process holds a part of the rows and the same network. Each epoch all
processes draw the same permutation of all the rows; every global batch (the
``batch_size`` one process would use) is cut into the parts the processes
hold; each process runs forward and backward on its part, and the weighted
gradients are summed across processes in one flat buffer per step -- the seam
between backward and update in :func:`gpubp.step.train_step`. Every process
then applies the identical update, so the optimizer state never travels. The
epoch's statistics (training loss, validation sums, divergence) are combined
the same way on every process, so all stop at the same epoch. The result is the
model one process would train on all the rows, up to the order of additions.

In a script run with ``mpiexec -n N python script.py`` (mpi4py installed:
``pip install 'gpubp[mpi]'``)::

    from gpubp import MLPClassifier
    from gpubp.distributed import data_parallel

    with data_parallel() as group:  # MPI.COMM_WORLD, or data_parallel(comm)
        X_part, y_part = my_rows(group.rank, group.size)  # the data set is the parts in rank order
        est = MLPClassifier(hidden_layer_sizes=(256,), batch_size=512, random_state=0).fit(X_part, y_part)
        metrics = est.evaluate(X_test_part, y_test_part)  # the whole test set's metrics, on every process

The communicator is not a setting: ``get_params`` stays picklable and a
fitted estimator pickles as any other. ``predict`` stays local (each process
predicts its own rows). The command does all of this by itself under
``mpiexec -n N gpubp train ...`` (:func:`launched`).

Faults: a bad input on any process fails ``fit`` on every process with its
message (:func:`agreed`); divergence is decided from the combined
statistics. An exception that escapes on one process alone leaves the others
waiting in a collective: run scripts with ``python -m mpi4py script.py``
(which aborts every process on an uncaught exception), as the command does.
"""

from __future__ import annotations

from .faults import ProcessFailed, agreed, alike, is_agreed, mark_agreed
from .group import REDUCE_MODES, MPIGroup, current, data_parallel, launched, launcher_rank, launcher_size, wants_mpi

__all__ = [
    "REDUCE_MODES",
    "MPIGroup",
    "ProcessFailed",
    "agreed",
    "alike",
    "current",
    "data_parallel",
    "is_agreed",
    "launched",
    "launcher_rank",
    "launcher_size",
    "wants_mpi",
    "mark_agreed",
]
