// Names and labels every object shares; the selector is the part that never changes.
export const NAME = 'toa';
export const CONFIG_NAME = 'toa-config';
export const VERSION = '0.1.0';

export const SELECTOR = { 'app.kubernetes.io/name': 'toa', 'app.kubernetes.io/component': 'agent' };

export const labels = () => ({
  ...SELECTOR,
  'app.kubernetes.io/version': VERSION,
  'app.kubernetes.io/managed-by': 'toa-k8s-manifest',
});
