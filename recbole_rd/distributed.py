"""torch.distributed helpers for RecBole's DDP mode, on CPU (gloo) as well as CUDA (nccl).

Single-process runs never initialise a process group: every helper then
behaves as if there were one rank (shard = everything, gather = identity).
"""

import torch
import torch.distributed as dist

from recbole_rd.utils import ConfigError

BACKENDS = ("gloo", "nccl")


def is_distributed():
    return dist.is_available() and dist.is_initialized()


def rank():
    return dist.get_rank() if is_distributed() else 0


def world_size():
    return dist.get_world_size() if is_distributed() else 1


def choose_backend(requested, cuda):
    """``dist_backend`` config value -> backend: ``auto``/None picks nccl on CUDA, gloo on CPU."""
    if requested in (None, "auto"):
        return "nccl" if cuda else "gloo"
    if requested not in BACKENDS:
        raise ConfigError(f"dist_backend: '{requested}' is invalid; allowed: auto, gloo, nccl")
    if requested == "nccl" and not cuda:
        raise ConfigError("dist_backend: nccl needs CUDA GPUs (check gpu_id and torch.cuda.is_available()); "
                          "use dist_backend: gloo to train on CPU")
    return requested


def init_process_group(backend, global_rank, size, ip, port):
    """Join the process group once per process (later Configs of the same run reuse it)."""
    if not is_distributed():
        dist.init_process_group(backend=backend, rank=global_rank, world_size=size,
                                init_method=f"tcp://{ip}:{port}")


def _comm_device():
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def broadcast_object(obj):
    """Rank 0's ``obj`` on every rank (e.g. one checkpoint name for all)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=_comm_device())
    return box[0]


def barrier():
    if is_distributed():
        dist.barrier()


def all_ranks_agree(flag):
    """True only when ``flag`` is true on every rank (a decision all ranks then share)."""
    if not is_distributed():
        return bool(flag)
    value = torch.tensor([int(bool(flag))], device=_comm_device())
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def shard(n):
    """``(start, stop)``: this rank's contiguous share of ``n`` rows (equal sizes, the last may be shorter)."""
    size = -(-n // world_size())
    start = min(n, rank() * size)
    return start, min(n, start + size)


def gather_shards(part, n):
    """Concatenate every rank's ``part`` (rows ``shard(n)`` of an ``[n, ...]`` tensor) on every rank."""
    if not is_distributed():
        return part
    size = -(-n // world_size())
    device = _comm_device()
    padded = torch.zeros((size, *part.shape[1:]), dtype=part.dtype, device=device)
    padded[:len(part)] = part.to(device)
    parts = [torch.empty_like(padded) for _ in range(world_size())]
    dist.all_gather(parts, padded)
    return torch.cat(parts)[:n].to(part.device)


def all_reduce_sum(tensor):
    """Sum of ``tensor`` over ranks (a new tensor; the input is left as it is)."""
    if not is_distributed():
        return tensor
    total = tensor.to(_comm_device()).clone()
    dist.all_reduce(total)
    return total.to(tensor.device)
