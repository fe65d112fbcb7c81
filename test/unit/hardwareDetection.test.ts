import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../lib/paths.js';
import { detectHardware, gpuKind, parseQueryCsv, parseQueryXml } from '../../workers/hardwareDetection.js';
import { planRuntimeQueues } from '../../workers/runtimeWorker.js';

const fixture = (f: string) => readFileSync(path.join(projectRoot, 'test', 'fixtures', 'gpu', f), 'utf8');

describe('hardware detection from nvidia-smi', () => {
  it('parses the real H100 query output (with header and units)', () => {
    const [gpu, ...rest] = parseQueryCsv(fixture('h100-nvidia-smi-query.csv'));
    expect(rest).toHaveLength(0);
    expect(gpu).toMatchObject({
      index: 0,
      name: 'NVIDIA H100 80GB HBM3',
      kind: 'h100',
      memoryMiB: 81559,
      computeCapability: 9,
      driverVersion: '580.159.04',
    });
  });

  it('parses the noheader,nounits form VibeServe asks for', () => {
    const text = 'NVIDIA H100 80GB HBM3, 81559, 9.0, 580.159.04, 2\nNVIDIA H100 80GB HBM3, 81559, 9.0, 580.159.04, 2\n';
    const gpus = parseQueryCsv(text);
    expect(gpus.map((g) => [g.index, g.kind, g.memoryMiB, g.computeCapability])).toEqual([
      [0, 'h100', 81559, 9],
      [1, 'h100', 81559, 9],
    ]);
  });

  it('parses the real H100 XML report', () => {
    const [gpu] = parseQueryXml(fixture('h100-nvidia-smi-q.xml'));
    expect(gpu).toMatchObject({
      index: 0,
      kind: 'h100',
      memoryMiB: 81559,
      computeCapability: 9,
      driverVersion: '580.159.04',
      uuid: 'GPU-00000000-1111-2222-3333-444444444444',
    });
  });

  it('derives short kinds from product names', () => {
    expect(gpuKind('NVIDIA H200')).toBe('h200');
    expect(gpuKind('NVIDIA A100-SXM4-80GB')).toBe('a100-sxm4-80gb');
    expect(gpuKind('NVIDIA GeForce RTX 4090')).toBe('rtx-4090');
    expect(gpuKind('NVIDIA L4')).toBe('l4');
  });

  it('falls back to the XML report, then to the CPU queue', () => {
    const xmlOnly = detectHardware((args) =>
      args[0] === '-q' ? { status: 0, stdout: fixture('h100-nvidia-smi-q.xml') } : { status: 6, stdout: '' },
    );
    expect(xmlOnly.source).toBe('nvidia-smi-xml');
    const none = detectHardware(() => ({
      status: null,
      stdout: '',
      error: Object.assign(new Error('spawn nvidia-smi ENOENT'), { code: 'ENOENT' }),
    }));
    expect(none).toMatchObject({ device: 'cpu', gpus: [], source: 'none' });
  });

  it('plans one slot per GPU, pinned by index, on the queue of the GPU kind', () => {
    const report = detectHardware(() => ({
      status: 0,
      stdout: 'NVIDIA H100 80GB HBM3, 81559, 9.0, 580.159.04, 2\nNVIDIA H100 80GB HBM3, 81559, 9.0, 580.159.04, 2\n',
    }));
    const [plan, ...rest] = planRuntimeQueues(report, {});
    expect(plan.queue).toBe('vibeserve-runtime-h100');
    expect(plan.devicesPerActivity).toBe(1);
    expect(plan.slots.size).toBe(2);
    expect(plan.slots.envFor(['1'])).toEqual({ CUDA_VISIBLE_DEVICES: '1' });
    // the 2-GPU host also advertises itself for two-device (tensor-parallel) candidates, on the same slots
    expect(rest.map((p) => [p.queue, p.devicesPerActivity])).toEqual([['vibeserve-runtime-h100-x2', 2]]);
    expect(rest[0].slots).toBe(plan.slots);
    expect(plan.slots.envFor(['0', '1'])).toEqual({ CUDA_VISIBLE_DEVICES: '0,1' });
    const one = planRuntimeQueues(
      detectHardware(() => ({ status: 0, stdout: 'NVIDIA H100 80GB HBM3, 81559, 9.0, 580.159.04, 1\n' })),
      {},
    );
    expect(one.map((p) => p.queue)).toEqual(['vibeserve-runtime-h100']);
    const cpu = planRuntimeQueues(
      { device: 'cpu', gpus: [], source: 'none' },
      { VIBESERVE_CPU_SLOTS: '2', VIBESERVE_RUNTIME_QUEUE: 'q-test' },
    );
    expect(cpu.map((p) => p.queue)).toEqual(['q-test', 'q-test-x2']);
    expect(cpu[0].slots.size).toBe(2);
    expect(cpu[0].slots.envFor(['cpu0'])).toEqual({});
    // checks may share a GPU two at a time by default; on CPU each check has its slot alone
    expect(plan.slots.maxShare).toBe(2);
    expect(plan.slots.capacity).toBe(4);
    expect(cpu[0].slots.maxShare).toBe(1);
    expect(planRuntimeQueues(report, { VIBESERVE_CHECKS_PER_DEVICE: '1' })[0].slots.capacity).toBe(2);
    expect(() => planRuntimeQueues(report, { VIBESERVE_CHECKS_PER_DEVICE: 'two' })).toThrow(
      /VIBESERVE_CHECKS_PER_DEVICE must be an integer from 1 to 8, got 'two'/,
    );
  });
});
