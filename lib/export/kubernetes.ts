// Kubernetes manifests for an exported stack: a Deployment (GPU request when the stack runs on
// CUDA, probes on /health) and a ClusterIP Service on port 8000.
import YAML from 'yaml';

export interface KubernetesOptions {
  name: string;
  image: string;
  device: string;
  gpus?: number;
  labels?: Record<string, string>;
}

export const SERVER_PORT = 8000;

/** Kubernetes object names: lowercase RFC 1123 labels of at most 63 characters. */
export function k8sName(raw: string): string {
  const name = raw
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return name || 'vibeserve-stack';
}

export function renderKubernetes(opts: KubernetesOptions): string {
  const name = k8sName(opts.name);
  const labels = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'vibeserve', ...opts.labels };
  const cuda = opts.device === 'cuda';
  const gpus = Math.max(1, opts.gpus ?? 1);
  const resources = cuda
    ? { requests: { cpu: '2', memory: '8Gi', 'nvidia.com/gpu': gpus }, limits: { 'nvidia.com/gpu': gpus } }
    : { requests: { cpu: '2', memory: '4Gi' } };
  const probe = (initialDelaySeconds: number, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path: '/health', port: 'http' },
    initialDelaySeconds,
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold,
  });
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': name } },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: 'server',
              image: opts.image,
              args: ['--port', String(SERVER_PORT)],
              // The server requires this Bearer key when it is set; the Secret is optional.
              env: [
                {
                  name: 'VIBESERVE_API_KEY',
                  valueFrom: { secretKeyRef: { name: `${name}-api-key`, key: 'api-key', optional: true } },
                },
              ],
              ports: [{ name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' }],
              resources,
              // Model load (and CUDA graph capture) can take minutes: the startup probe holds the
              // liveness probe off until the server first answers.
              startupProbe: probe(10, 10, 60),
              readinessProbe: probe(5, 10, 3),
              livenessProbe: probe(30, 20, 3),
            },
          ],
          ...(cuda ? { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] } : {}),
        },
      },
    },
  };
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, labels },
    spec: {
      type: 'ClusterIP',
      selector: { 'app.kubernetes.io/name': name },
      ports: [{ name: 'http', port: SERVER_PORT, targetPort: 'http', protocol: 'TCP' }],
    },
  };
  return [deployment, service].map((doc) => YAML.stringify(doc, { aliasDuplicateObjects: false })).join('---\n');
}
