// What accelerators this host has, read from nvidia-smi (CSV query, with the XML report as a
// fallback). The runtime worker serves one queue per GPU kind, e.g. vibeserve-runtime-h100.
import { spawnSync } from 'node:child_process';

export interface GpuInfo {
  index: number;
  name: string;
  /** Short kind used in queue names: "h100", "h200", "a100", "rtx-4090". */
  kind: string;
  memoryMiB: number;
  computeCapability: number | null;
  driverVersion: string | null;
  uuid?: string;
}

export interface HardwareReport {
  device: 'cpu' | 'cuda';
  gpus: GpuInfo[];
  /** Where the answer came from, for `vibeserve up` to print. */
  source: 'nvidia-smi-query' | 'nvidia-smi-xml' | 'none';
  note?: string;
}

/** The fields VibeServe asks nvidia-smi for, in order. */
export const QUERY_FIELDS = ['name', 'memory.total', 'compute_cap', 'driver_version', 'count'] as const;
export const QUERY_ARGS = [`--query-gpu=${QUERY_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];

export function gpuKind(name: string): string {
  const tokens = name
    .replace(/^NVIDIA\s+/i, '')
    .split(/\s+/)
    .filter((t) => t && !/^(GeForce|Tesla|Quadro)$/i.test(t));
  const firstWithDigit = tokens.findIndex((t) => /\d/.test(t));
  const kept = firstWithDigit === -1 ? tokens.slice(0, 1) : tokens.slice(0, firstWithDigit + 1);
  const kind = kept
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '');
  return kind || 'gpu';
}

function stripUnit(v: string): string {
  return v.replace(/\s*(MiB|%|MHz|W)\s*$/i, '').trim();
}

function parseNumber(v: string | undefined): number | null {
  if (v === undefined) return null;
  const n = Number.parseFloat(stripUnit(v));
  return Number.isFinite(n) ? n : null;
}

/** Parses `nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]`. With a header line the
 * columns are found by name, so any field order works; without one, `fields` gives the order. */
export function parseQueryCsv(text: string, fields: readonly string[] = QUERY_FIELDS): GpuInfo[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  if (lines.length === 0) return [];
  let columns = [...fields];
  if (/(^|,\s*)(name|index|memory\.total)(\s*\[|\s*,|\s*$)/.test(lines[0]) && !/\d/.test(lines[0].split(',')[0])) {
    columns = lines
      .shift()!
      .split(',')
      .map((h) => h.replace(/\[.*\]/, '').trim());
  }
  const col = (row: string[], name: string) => {
    const i = columns.indexOf(name);
    return i === -1 ? undefined : row[i]?.trim();
  };
  return lines.map((line, i) => {
    const row = line.split(',').map((c) => c.trim());
    const name = col(row, 'name') ?? 'unknown';
    const index = parseNumber(col(row, 'index'));
    return {
      index: index ?? i,
      name,
      kind: gpuKind(name),
      memoryMiB: parseNumber(col(row, 'memory.total')) ?? 0,
      computeCapability: parseNumber(col(row, 'compute_cap')),
      driverVersion: col(row, 'driver_version') ?? null,
      uuid: col(row, 'uuid'),
    };
  });
}

/** Compute capability by architecture, for the XML report (which does not state it). */
const ARCH_COMPUTE_CAPABILITY: Record<string, number> = {
  Volta: 7.0,
  Turing: 7.5,
  Ampere: 8.0,
  'Ada Lovelace': 8.9,
  Hopper: 9.0,
  Blackwell: 10.0,
};

function tag(xml: string, name: string): string | undefined {
  const m = xml.match(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`));
  return m ? m[1].trim() : undefined;
}

/** Parses `nvidia-smi -q -x`. */
export function parseQueryXml(xml: string): GpuInfo[] {
  const driverVersion = tag(xml, 'driver_version') ?? null;
  const blocks = [...xml.matchAll(/<gpu id="[^"]*">([\s\S]*?)<\/gpu>/g)].map((m) => m[1]);
  return blocks.map((block, i) => {
    const name = tag(block, 'product_name') ?? 'unknown';
    const fb = tag(block, 'fb_memory_usage') ?? '';
    const arch = tag(block, 'product_architecture');
    const minor = parseNumber(tag(block, 'minor_number'));
    return {
      index: minor ?? i,
      name,
      kind: gpuKind(name),
      memoryMiB: parseNumber(tag(fb, 'total')) ?? 0,
      computeCapability: arch ? (ARCH_COMPUTE_CAPABILITY[arch] ?? null) : null,
      driverVersion,
      uuid: tag(block, 'uuid'),
    };
  });
}

type Runner = (args: string[]) => { status: number | null; stdout: string; error?: Error };

const runNvidiaSmi: Runner = (args) => {
  const r = spawnSync('nvidia-smi', args, { encoding: 'utf8', timeout: 15_000 });
  return { status: r.status, stdout: r.stdout ?? '', error: r.error };
};

export function detectHardware(run: Runner = runNvidiaSmi): HardwareReport {
  const q = run(QUERY_ARGS);
  if (q.error && (q.error as NodeJS.ErrnoException).code === 'ENOENT') {
    return { device: 'cpu', gpus: [], source: 'none', note: 'nvidia-smi not found: serving the CPU queue' };
  }
  if (q.status === 0) {
    const gpus = parseQueryCsv(q.stdout);
    if (gpus.length > 0) return { device: 'cuda', gpus, source: 'nvidia-smi-query' };
  }
  const x = run(['-q', '-x']);
  if (x.status === 0) {
    const gpus = parseQueryXml(x.stdout);
    if (gpus.length > 0) return { device: 'cuda', gpus, source: 'nvidia-smi-xml' };
  }
  return { device: 'cpu', gpus: [], source: 'none', note: 'nvidia-smi found no usable GPU: serving the CPU queue' };
}

/** GPUs grouped by kind: each kind is one runtime queue with one slot per GPU. */
export function gpusByKind(report: HardwareReport): Map<string, GpuInfo[]> {
  const groups = new Map<string, GpuInfo[]>();
  for (const g of report.gpus) groups.set(g.kind, [...(groups.get(g.kind) ?? []), g]);
  return groups;
}
