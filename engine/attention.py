"""Attention over the paged KV cache.

The cache of one layer is a pair of tensors [num_blocks * block_size, kv_heads, head_dim] (K and
V); a sequence's position p lives in slot `block_table[p // block_size] * block_size + p %
block_size`. Each forward builds one `AttentionMetadata` shared by every layer: where to write
the new K/V, and for each sequence which slots to read and which of them each query may see.

Decode steps (one new token per sequence) are batched. On CPU with fp32 activations one call
of our kernel (engine/csrc/decode_attention.cpp) covers the whole batch, reading K/V rows in
place from an fp32, fp16, bf16 or int8 cache (engine/kv_format.py says what a slot holds).
Elsewhere every sequence's K/V is gathered into a padded [B, L] block and one
scaled_dot_product_attention call covers the batch, with a mask for the padding. Prefill
chunks are attended one sequence at a time (they are few, and each is already a large matrix
product), except short chunks on CPU, which the decode kernel takes one query token at a time
(a follow-up turn after a long cached prefix costs a few decode steps), and so do short prompts
(runs_as_decodes). When every chunk of a CPU step runs so, one kernel call covers every token of
the step (`KernelRows`), which is also what lets the fused decode step (engine/fused_decode.py)
run it. A chunk that starts the sequence uses SDPA's own causal mask, whose kernel skips the
blocks above the diagonal. On an AMX CPU a prefill over a bf16 or int8 cache computes in bf16
(see prefill_dtype). In decode, grouped-query attention folds the query heads that share a KV
head into the query-length axis; prefill uses SDPA's own GQA. Either way K/V are never repeated.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from engine import kv_format
from engine.cpu_isa import cpu_isa
from engine.kernels import kernels_for

Window = int | None  # a sliding window in tokens, or None for full attention
KERNEL_CACHE_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int8)  # what the CPU kernel reads
# Which prefill chunks run through the decode kernel on CPU (see _prefill_as_decodes): the short
# ones whatever their prefix, and any whose query rows x positions are few (a short prompt from
# position 0: the kernel and the fused step beat SDPA and the Python layers up to ~128 tokens).
SHORT_PREFILL = 32
SMALL_PREFILL_WORK = 96 * 96


def runs_as_decodes(count: int, span: int) -> bool:
    """Whether a chunk of `count` new tokens, `span` positions with them, runs as decode queries."""
    return count <= SHORT_PREFILL or count * span <= SMALL_PREFILL_WORK


@dataclass(slots=True)
class DecodeGroup:
    rows: torch.Tensor | None              # [B] token rows in the flat batch; None: rows 0..B-1
    gather: torch.Tensor                   # [B, L] cache slots of positions 0..L-1 (padding reads slot 0)
    lengths: torch.Tensor                  # [B] positions each sequence attends, its new token included
    masks: dict[Window, torch.Tensor]      # [B, 1, 1, L], True where the query may attend


@dataclass(slots=True)
class PrefillChunk:
    begin: int                             # token rows [begin, end) in the flat batch
    end: int
    gather: torch.Tensor                   # [L] cache slots of positions 0..L-1
    masks: dict[Window, torch.Tensor]      # [end - begin, L]


@dataclass(slots=True)
class KernelRows:
    """Every token of a step as a query of the CPU decode kernel: token t attends the cache
    slots gather[t, :lengths[t]] (a decode token: its sequence so far; a prefill token: the
    positions up to its own)."""
    gather: torch.Tensor                   # [T, L]
    lengths: torch.Tensor                  # [T]


@dataclass(slots=True)
class AttentionMetadata:
    slot_mapping: torch.Tensor             # [T] cache slot of each new token
    positions: torch.Tensor                # [T] position of each new token
    last_rows: torch.Tensor                # [num_seqs] row of each sequence's last token
    decode: DecodeGroup | None = None
    prefills: list[PrefillChunk] = field(default_factory=list)
    kernel_rows: KernelRows | None = None  # CPU, every chunk runs_as_decodes: all rows at once

    @property
    def pure_decode(self) -> bool:
        """Every sequence decodes one token and row i is sequence i (no prefill in the batch)."""
        return self.decode is not None and not self.prefills and self.decode.rows is None


def build_metadata(token_counts: list[int], starts: list[int], block_tables: list[list[int]],
                   block_size: int, windows: set[Window], device: torch.device) -> AttentionMetadata:
    """Index tensors for one forward over sequences with `token_counts[i]` new tokens each."""
    positions = torch.cat([torch.arange(s, s + n) for s, n in zip(starts, token_counts)])
    seq_of_token = torch.repeat_interleave(torch.arange(len(token_counts)), torch.tensor(token_counts))
    tables = _padded_tables(block_tables)
    slots = tables[seq_of_token, positions // block_size] * block_size + positions % block_size
    last_rows = torch.tensor(token_counts).cumsum(0) - 1
    meta = AttentionMetadata(slots.to(device), positions.to(device), last_rows.to(device))
    decode_ids = [i for i, n in enumerate(token_counts) if n == 1]
    if decode_ids:
        meta.decode = _decode_group(decode_ids, last_rows, starts, tables, block_size, windows, device)
    begin = 0
    for i, n in enumerate(token_counts):
        if n > 1:
            meta.prefills.append(_prefill_chunk(begin, n, starts[i], tables[i], block_size, windows, device))
        begin += n
    if device.type == "cpu" and all(runs_as_decodes(c.end - c.begin, c.gather.shape[0]) for c in meta.prefills):
        meta.kernel_rows = _kernel_rows(meta, begin)
    return meta


def _kernel_rows(meta: AttentionMetadata, tokens: int) -> KernelRows:
    decode = meta.decode
    if meta.pure_decode:
        return KernelRows(decode.gather, decode.lengths)
    spans = [chunk.gather.shape[0] for chunk in meta.prefills] + ([decode.gather.shape[1]] if decode else [])
    gather = torch.zeros(tokens, max(spans), dtype=torch.long)     # padding reads slot 0, past each length
    lengths = torch.empty(tokens, dtype=torch.long)
    if decode is not None:
        rows = decode.rows if decode.rows is not None else torch.arange(decode.gather.shape[0])
        gather[rows, :decode.gather.shape[1]] = decode.gather
        lengths[rows] = decode.lengths
    for chunk in meta.prefills:
        span, count = chunk.gather.shape[0], chunk.end - chunk.begin
        gather[chunk.begin:chunk.end, :span] = chunk.gather
        lengths[chunk.begin:chunk.end] = torch.arange(span - count + 1, span + 1)
    return KernelRows(gather, lengths)


def _padded_tables(block_tables: list[list[int]]) -> torch.Tensor:
    width = max(1, max(len(t) for t in block_tables))
    return torch.tensor([t + [0] * (width - len(t)) for t in block_tables], dtype=torch.long)


def _window_mask(key_pos: torch.Tensor, query_pos: torch.Tensor, window: Window) -> torch.Tensor:
    """True where a query at `query_pos` may see the key at `key_pos` (causal, optional window)."""
    mask = key_pos <= query_pos
    if window is not None:
        mask &= key_pos > query_pos - window
    return mask


def _decode_group(ids: list[int], last_rows: torch.Tensor, starts: list[int], tables: torch.Tensor,
                  block_size: int, windows: set[Window], device: torch.device) -> DecodeGroup:
    idx = torch.tensor(ids)
    query_pos = torch.tensor([starts[i] for i in ids])          # the single new token's position
    length = int(query_pos.max()) + 1
    key_pos = torch.arange(length)
    gather = tables[idx][:, key_pos // block_size] * block_size + key_pos % block_size
    masks = {w: _window_mask(key_pos[None, :], query_pos[:, None], w)[:, None, None, :].to(device)
             for w in windows}
    rows = None if ids == list(range(len(ids))) else last_rows[idx].to(device)
    return DecodeGroup(rows, gather.to(device), (query_pos + 1).to(device), masks)


def _prefill_chunk(begin: int, count: int, start: int, table: torch.Tensor, block_size: int,
                   windows: set[Window], device: torch.device) -> PrefillChunk:
    key_pos = torch.arange(start + count)
    gather = table[key_pos // block_size] * block_size + key_pos % block_size
    query_pos = torch.arange(start, start + count)
    masks = {w: _window_mask(key_pos[None, :], query_pos[:, None], w).to(device) for w in windows}
    return PrefillChunk(begin, begin + count, gather.to(device), masks)


def paged_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_cache: torch.Tensor,
                    v_cache: torch.Tensor, meta: AttentionMetadata, window: Window,
                    scale: float) -> torch.Tensor:
    """q: [T, heads, d]; k, v: [T, kv_heads, d] (new tokens). Writes k/v, returns [T, heads * d]."""
    kv_format.store(k_cache, meta.slot_mapping, k)
    kv_format.store(v_cache, meta.slot_mapping, v)
    tokens, heads, dim = q.shape
    group = heads // k.shape[1]
    kernels = _cpu_kernels(q, k_cache)
    if meta.kernel_rows is not None and kernels is not None:   # one call, reading K/V in place
        rows = meta.kernel_rows
        return kernels.decode_attention(q, k_cache, v_cache, rows.gather, rows.lengths, scale,
                                        window or 0).reshape(tokens, heads * dim)
    if meta.pure_decode:
        return _decode(q, k_cache, v_cache, meta.decode, window, scale, group).reshape(tokens, heads * dim)
    out = q.new_empty(tokens, heads, dim)
    if meta.decode is not None:
        rows = meta.decode.rows if meta.decode.rows is not None else slice(0, meta.decode.gather.shape[0])
        out[rows] = _decode(q[rows], k_cache, v_cache, meta.decode, window, scale, group)
    for chunk in meta.prefills:
        out[chunk.begin:chunk.end] = _prefill(q[chunk.begin:chunk.end], k_cache, v_cache, chunk,
                                              window, scale, group)
    return out.view(tokens, heads * dim)


def _decode(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, group_meta: DecodeGroup,
            window: Window, scale: float, group: int) -> torch.Tensor:
    kernels = _cpu_kernels(q, k_cache)
    if kernels is not None:  # reads K/V in place, no gather
        return kernels.decode_attention(q, k_cache, v_cache, group_meta.gather, group_meta.lengths, scale,
                                        window or 0)
    return decode_gathered(q, k_cache, v_cache, group_meta, window, scale, group)


def decode_gathered(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, group_meta: DecodeGroup,
                    window: Window, scale: float, group: int) -> torch.Tensor:
    """The torch path: gather K/V into a padded batch, then one SDPA call."""
    batch, heads, dim = q.shape
    keys = _gather(k_cache, group_meta.gather, q.dtype).transpose(1, 2)   # [B, kv_heads, L, d]
    values = _gather(v_cache, group_meta.gather, q.dtype).transpose(1, 2)
    queries = q.view(batch, heads // group, group, dim)                   # [B, kv_heads, group, d]
    out = F.scaled_dot_product_attention(queries, keys, values, attn_mask=group_meta.masks[window],
                                         scale=scale)
    return out.reshape(batch, heads, dim)


def _prefill(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, chunk: PrefillChunk,
             window: Window, scale: float, group: int) -> torch.Tensor:
    """One sequence's chunk; 4-D inputs, which the fused CPU kernel needs (3-D falls back to math)."""
    if runs_as_decodes(q.shape[0], chunk.gather.shape[0]):
        kernels = _cpu_kernels(q, k_cache)
        if kernels is not None:
            return _prefill_as_decodes(kernels, q, k_cache, v_cache, chunk, window, scale)
    dtype = prefill_dtype(q, k_cache)
    keys = _gather(k_cache, chunk.gather, dtype).transpose(0, 1).unsqueeze(0)     # [1, kv_heads, L, d]
    values = _gather(v_cache, chunk.gather, dtype).transpose(0, 1).unsqueeze(0)
    queries = q.to(dtype).transpose(0, 1).unsqueeze(0)                            # [1, heads, count, d]
    count, span = q.shape[0], chunk.gather.shape[0]
    if span == count and (window is None or window >= count):   # from position 0, the window never binds
        mask = {"is_causal": True}
    else:
        mask = {"attn_mask": chunk.masks[window][None, None]}
    out = F.scaled_dot_product_attention(queries, keys, values, scale=scale, enable_gqa=group > 1, **mask)
    return out[0].transpose(0, 1).to(q.dtype)


def prefill_dtype(q: torch.Tensor, cache: torch.Tensor) -> torch.dtype:
    """What a prefill's attention computes in: bf16 on an AMX CPU when the activations are fp32
    and the cache holds bf16 or int8 rows, q's own dtype otherwise.

    Such K/V hold no more than bf16's 8 significant bits already (an int8 row: 7 bits and a
    sign, times its scale), so only Q and the probabilities are rounded, as at every bf16
    linear layer's input; SDPA accumulates in fp32 and runs on AMX tiles, ~2.7x fp32's speed.
    On SmolLM2 this moved bf16's next-token distributions from fp32's by KL 0.00052 against
    0.00051 (int8: 0.0170 against 0.0167). An fp32 or fp16 cache keeps fp32 attention."""
    if q.dtype == torch.float32 and cache.device.type == "cpu" and cache.dtype in (torch.bfloat16, torch.int8) \
            and cpu_isa().has_amx:
        return torch.bfloat16
    return q.dtype


def _prefill_as_decodes(kernels, q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                        chunk: PrefillChunk, window: Window, scale: float) -> torch.Tensor:
    """A short chunk after a long cached prefix (a follow-up turn): each new token attends like a
    decode query over positions up to its own, read in place by the decode kernel; no gather of
    the whole prefix into a padded copy and no [count, L] mask."""
    count, span = q.shape[0], chunk.gather.shape[0]
    slots = chunk.gather.expand(count, span)
    lengths = torch.arange(span - count + 1, span + 1, device=q.device)
    return kernels.decode_attention(q, k_cache, v_cache, slots, lengths, scale, window or 0)


def _cpu_kernels(q: torch.Tensor, cache: torch.Tensor):
    """The CPU kernels where they read this cache, else None."""
    return kernels_for(q) if cache.device.type == "cpu" and cache.dtype in KERNEL_CACHE_DTYPES else None


def _gather(cache: torch.Tensor, slots: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """cache rows at `slots` (any shape), as [*slots.shape, kv_heads, d]; index_select beats fancy indexing."""
    rows = cache.index_select(0, slots.reshape(-1))
    return kv_format.decode(rows, dtype).view(*slots.shape, cache.shape[1], -1)
