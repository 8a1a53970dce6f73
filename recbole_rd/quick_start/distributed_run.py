"""RecBole's DDP mode for :func:`recbole_rd.quick_start.run_recbole_rd`: one process per rank, this
package's errors gathered back to the launcher."""

from recbole_rd import distributed
from recbole_rd.errors import RecBoleRDError
from recbole_rd.quick_start.quick_start import run_recbole_rd


class DistributedRunError(RecBoleRDError):
    """A process of a DDP run stopped on one of this package's errors (config, data, checkpoint);
    the message starts with ``process N:``."""


def run(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True,
        nproc=1, world_size=-1, ip="localhost", port=5678, group_offset=0, reads_command_line=True):
    """:func:`run_recbole_rd`, in RecBole's DDP mode when ``nproc > 1`` or ``world_size > 0``
    (like ``recbole.quick_start.run``): ``nproc`` processes on this node, ranks
    ``group_offset..group_offset+nproc-1`` of ``world_size``, meeting at ``ip:port``.
    Returns rank 0's result (without trainer objects or per-user values), or None on a node without rank 0.
    ``reads_command_line``: as :class:`recbole_rd.config.Config`'s (False: ``sys.argv`` is not read).

    A process stopped by one of this package's errors (bad config, data or checkpoint) is
    raised here as :class:`DistributedRunError` (``process N: ...``); any other failure of a
    process propagates as torch's ``ProcessRaisedException``, which carries its traceback.
    """
    if nproc == 1 and world_size <= 0:
        return run_recbole_rd(model, dataset, config_file_list, config_dict, saved, reads_command_line)
    import torch.multiprocessing as mp

    queue = mp.get_context("spawn").SimpleQueue()
    config_dict = {**(config_dict or {}), "nproc": nproc, "world_size": world_size if world_size > 0 else nproc,
                   "ip": ip, "port": port, "offset": group_offset}
    try:
        mp.spawn(run_rank, args=(model, dataset, config_file_list, config_dict, saved, queue, reads_command_line), nprocs=nproc)
    except mp.ProcessRaisedException as failure:
        errors = {rank: message for kind, rank, message in _drain(queue) if kind == "error"}
        if failure.error_index in errors:  # the process that stopped first stopped on our error
            raise DistributedRunError(f"process {failure.error_index}: {errors[failure.error_index]}") from None
        raise
    results = [message for kind, _, message in _drain(queue) if kind == "result"]
    return results[0] if results else None


def _drain(queue):
    while not queue.empty():
        yield queue.get()


def run_rank(local_rank, model, dataset, config_file_list, config_dict, saved, queue=None, reads_command_line=True):
    """One DDP process: :func:`run_recbole_rd` with ``local_rank`` set. Rank 0 puts
    ``('result', 0, result)`` on ``queue`` (:func:`launcher_result`); a process stopped by one of this
    package's errors puts ``('error', local_rank, message)``."""
    try:
        result = run_recbole_rd(model, dataset, config_file_list, {**config_dict, "local_rank": local_rank}, saved,
                                reads_command_line)
        if distributed.rank() == 0 and queue is not None:
            queue.put(("result", local_rank, launcher_result(result)))
        distributed.barrier()  # no rank tears its group down while another still talks to it (seen once: SIGABRT)
        return result
    except RecBoleRDError as err:  # bad config, data or checkpoint
        if queue is not None:
            queue.put(("error", local_rank, str(err)))
        raise
    finally:
        if distributed.is_distributed():
            distributed.dist.destroy_process_group()


def launcher_result(result):
    """``result`` with the ``trainer`` entries (and the teacher's) dropped, and the per-user test values
    (this rank's users only; their tensors would be shared through file descriptors that close when the
    process ends)."""
    clean = {k: v for k, v in result.items() if k not in ("trainer", "test_per_user")}
    if "teacher" in clean:
        clean["teacher"] = launcher_result(clean["teacher"])
    return clean
