"""Block tables kept on the device between steps, updated by their new entries only (vLLM v1's
persistent block table).

Building every sequence's whole table on the host each step is most of a large decode batch's
batch-building time (256 sequences × 72 blocks is 18k integers to list, pad and copy). Here each
sequence owns a row of a device tensor; a step sends the rows it uses and the entries added since
a row was last written (a decoding sequence gains one every block_size tokens), and the device
writes them and gathers the batch's rows.

A row stays right only for a cache whose tables grow in place until freed and are new lists after
allocate() or free() (KVCacheBase.stable_block_tables): a row whose list changed is rewritten whole.
Columns past a row's own blocks may hold another sequence's block ids; attention masks them by
context length, as it does the scratch entries of host-built tables.
"""

from __future__ import annotations

import torch

from .sequence import SeqStatus


class _Row:
    __slots__ = ("index", "table", "written")

    def __init__(self, index: int, table: list):
        self.index, self.table, self.written = index, table, 0


class DeviceBlockTables:
    def __init__(self, kv, num_rows: int, device):
        self.width = kv.max_blocks_per_seq
        self.scratch_block = kv.scratch_block
        self.device = device
        self.table = self._new_rows(num_rows)
        self._free = list(range(num_rows - 1, -1, -1))
        self._rows: dict = {}  # sequence -> its _Row

    def _new_rows(self, n: int, *keep: torch.Tensor) -> torch.Tensor:
        """`keep` rows first, then n scratch rows. A normal tensor even when the engine is built or stepped
        under inference_mode: it is updated in place by steps run inside and outside it."""
        with torch.inference_mode(False):
            new = torch.full((n, self.width), self.scratch_block, dtype=torch.long, device=self.device)
            return torch.cat([*keep, new]) if keep else new

    def plan(self, seqs) -> list[list[int]]:
        """Host side, per step: [the sequences' rows, then the new entries as rows, columns, block ids],
        to travel in the step's one host-to-device copy."""
        rows, up_rows, up_cols, up_blocks = [], [], [], []
        for seq in seqs:
            row = self._rows.get(seq)
            table = seq.block_table
            if row is None or row.table is not table:
                row = self._assign(seq, row)
            n = len(table)
            if row.written < n:
                up_rows += [row.index] * (n - row.written)
                up_cols += range(row.written, n)
                up_blocks += table[row.written :]
                row.written = n
            rows.append(row.index)
        return [rows, up_rows, up_cols, up_blocks]

    def gather(
        self, rows: torch.Tensor, up_rows: torch.Tensor, up_cols: torch.Tensor, up_blocks: torch.Tensor, width: int
    ) -> torch.Tensor:
        """Device side: writes the new entries, returns the batch's tables [len(rows), width]."""
        if up_rows.numel():
            self.table[up_rows, up_cols] = up_blocks
        return self.table[:, :width].index_select(0, rows)

    def _assign(self, seq, row: _Row | None) -> _Row:
        """A row for the sequence's current table: its own row rewritten, else a free one."""
        if row is None:
            if not self._free:
                self._reclaim()
            row = _Row(self._free.pop(), seq.block_table)
            self._rows[seq] = row
        row.table, row.written = seq.block_table, 0
        return row

    def _reclaim(self) -> None:
        """Frees the rows of sequences that ended or gave their blocks back; grows the table if none did."""
        stale = [
            seq
            for seq, row in self._rows.items()
            if seq.status is SeqStatus.FINISHED or row.table is not seq.block_table
        ]
        for seq in stale:
            self._free.append(self._rows.pop(seq).index)
        if not self._free:
            n = self.table.shape[0]
            self.table = self._new_rows(n, self.table)
            self._free = list(range(2 * n - 1, n - 1, -1))
