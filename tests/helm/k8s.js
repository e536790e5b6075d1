'use strict';
// Offline checks of rendered Kubernetes manifests (no API server can run here):
//   - the apiVersion/kind is one Kubernetes 1.31 serves (a fixed list of the
//     kinds this chart may emit; removed betas such as policy/v1beta1 fail);
//   - types, required fields and enums: kubernetes-models' precompiled validators;
//   - unknown or misspelled fields: walked against the attributeTypeMap of
//     @kubernetes/client-node's generated models;
//   - ServiceMonitor (a Prometheus Operator CRD, in neither package): by hand;
//   - the Pod Security Standard "restricted" profile, plus a read-only root.
const path = require('node:path');
const env = require('../lib/env');

// What Kubernetes 1.31 serves, for every kind the chart renders.
const SERVED_1_31 = {
  v1: ['ConfigMap', 'Secret', 'Service', 'ServiceAccount', 'Pod'],
  'apps/v1': ['Deployment'],
  'autoscaling/v2': ['HorizontalPodAutoscaler'],
  'policy/v1': ['PodDisruptionBudget'],
  'networking.k8s.io/v1': ['Ingress', 'NetworkPolicy'],
};

async function load() {
  const modelsPath = path.join(env.sourceDir, 'node_modules', '@kubernetes', 'client-node', 'dist', 'gen', 'models', 'all.js');
  const clientModels = await import(modelsPath);
  const validators = {};
  for (const [apiVersion, kinds] of Object.entries(SERVED_1_31)) {
    for (const kind of kinds) {
      const mod = await import(`kubernetes-models/${apiVersion}/${kind}`);
      validators[`${apiVersion}/${kind}`] = mod[kind];
      if (!clientModels[modelName(apiVersion, kind)]) throw new Error(`no client-node model ${modelName(apiVersion, kind)}`);
    }
  }
  return { clientModels, validators };
}

function modelName(apiVersion, kind) {
  const version = apiVersion.split('/').pop();
  return version[0].toUpperCase() + version.slice(1) + kind;
}

const PRIMITIVES = {
  string: (v) => typeof v === 'string',
  number: (v) => typeof v === 'number',
  boolean: (v) => typeof v === 'boolean',
  Date: (v) => typeof v === 'string',
  IntOrString: (v) => typeof v === 'string' || Number.isInteger(v),
  any: () => true,
  object: () => true,
};

// Unknown fields (and gross type mismatches) against client-node's models.
function unknownFields(models, value, type, where, errors) {
  if (value === null || value === undefined) return;
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (!Array.isArray(value)) errors.push(`${where}: expected a list (${type})`);
    else value.forEach((v, i) => unknownFields(models, v, m[1], `${where}[${i}]`, errors));
    return;
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    if (typeof value !== 'object' || Array.isArray(value)) errors.push(`${where}: expected a map (${type})`);
    else for (const [k, v] of Object.entries(value)) unknownFields(models, v, m[1], `${where}.${k}`, errors);
    return;
  }
  if (PRIMITIVES[type]) {
    if (!PRIMITIVES[type](value)) errors.push(`${where}: expected ${type}, got ${JSON.stringify(value)}`);
    return;
  }
  const cls = models[type];
  if (!cls) {
    errors.push(`${where}: unknown model ${type}`);
    return;
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    errors.push(`${where}: expected an object (${type})`);
    return;
  }
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!attrs.has(k)) errors.push(`${where}.${k}: unknown field of ${type}`);
    else unknownFields(models, v, attrs.get(k), `${where}.${k}`, errors);
  }
}

// --- ServiceMonitor (monitoring.coreos.com/v1) ------------------------------------------
const SM_SPEC = ['selector', 'namespaceSelector', 'endpoints', 'jobLabel', 'targetLabels', 'podTargetLabels',
  'sampleLimit', 'targetLimit', 'labelLimit', 'attachMetadata', 'scrapeProtocols', 'bodySizeLimit'];
const SM_ENDPOINT = ['port', 'targetPort', 'path', 'scheme', 'params', 'interval', 'scrapeTimeout', 'tlsConfig',
  'bearerTokenFile', 'bearerTokenSecret', 'authorization', 'honorLabels', 'honorTimestamps', 'basicAuth',
  'oauth2', 'metricRelabelings', 'relabelings', 'proxyUrl', 'followRedirects', 'enableHttp2', 'filterRunning',
  'trackTimestampsStaleness'];
const SM_TLS = ['ca', 'cert', 'keySecret', 'serverName', 'insecureSkipVerify', 'caFile', 'certFile', 'keyFile'];
const DURATION = /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/;

function serviceMonitor(doc, models, errors) {
  const only = (obj, keys, where) => {
    for (const k of Object.keys(obj || {})) if (!keys.includes(k)) errors.push(`${where}.${k}: unknown field`);
  };
  only(doc, ['apiVersion', 'kind', 'metadata', 'spec'], 'ServiceMonitor');
  unknownFields(models, doc.metadata, 'V1ObjectMeta', 'metadata', errors);
  if (!doc.metadata || !doc.metadata.name) errors.push('metadata.name: required');
  const spec = doc.spec || {};
  only(spec, SM_SPEC, 'spec');
  if (!spec.selector || typeof spec.selector !== 'object') errors.push('spec.selector: required');
  else unknownFields(models, spec.selector, 'V1LabelSelector', 'spec.selector', errors);
  if (spec.namespaceSelector) only(spec.namespaceSelector, ['any', 'matchNames'], 'spec.namespaceSelector');
  if (!Array.isArray(spec.endpoints) || !spec.endpoints.length) errors.push('spec.endpoints: required, a non-empty list');
  (spec.endpoints || []).forEach((e, i) => {
    const where = `spec.endpoints[${i}]`;
    only(e, SM_ENDPOINT, where);
    if (!e.port && e.targetPort === undefined) errors.push(`${where}: port or targetPort required`);
    if (e.port !== undefined && typeof e.port !== 'string') errors.push(`${where}.port: a port name (string)`);
    if (e.path !== undefined && !/^\//.test(e.path)) errors.push(`${where}.path: must start with /`);
    if (e.scheme !== undefined && !['http', 'https'].includes(e.scheme)) errors.push(`${where}.scheme: http or https`);
    for (const k of ['interval', 'scrapeTimeout']) {
      if (e[k] !== undefined && !(typeof e[k] === 'string' && DURATION.test(e[k]))) errors.push(`${where}.${k}: not a duration`);
    }
    if (e.tlsConfig) only(e.tlsConfig, SM_TLS, `${where}.tlsConfig`);
  });
}

// All problems of one manifest, as strings; [] when it is fine.
function validate({ clientModels, validators }, doc) {
  const errors = [];
  if (!doc || typeof doc !== 'object') return ['not an object'];
  if (doc.apiVersion === 'monitoring.coreos.com/v1' && doc.kind === 'ServiceMonitor') {
    serviceMonitor(doc, clientModels, errors);
    return errors;
  }
  const Model = validators[`${doc.apiVersion}/${doc.kind}`];
  if (!Model) return [`${doc.apiVersion} ${doc.kind}: not served by Kubernetes 1.31 (or not a kind this chart renders)`];
  try {
    new Model(doc).validate();
  } catch (e) {
    errors.push(`kubernetes-models: ${e.message}`);
  }
  unknownFields(clientModels, doc, modelName(doc.apiVersion, doc.kind), doc.kind, errors);
  return errors;
}

// Pod Security Standard "restricted", plus what kvsgate adds: a read-only root
// filesystem and no added capabilities at all.
function restrictedViolations(podSpec) {
  const v = [];
  const pod = podSpec.securityContext || {};
  for (const k of ['hostNetwork', 'hostPID', 'hostIPC']) if (podSpec[k]) v.push(`${k} is set`);
  for (const vol of podSpec.volumes || []) if (vol.hostPath) v.push(`volume ${vol.name}: hostPath`);
  if (pod.runAsUser === 0) v.push('pod runAsUser is 0');
  const containers = [...(podSpec.initContainers || []), ...(podSpec.containers || [])];
  if (!containers.length) v.push('no containers');
  for (const c of containers) {
    const sc = c.securityContext || {};
    const name = `container ${c.name}`;
    const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
    if (nonRoot !== true) v.push(`${name}: runAsNonRoot is not true`);
    const uid = sc.runAsUser ?? pod.runAsUser;
    if (uid === 0) v.push(`${name}: runAsUser is 0`);
    const seccomp = (sc.seccompProfile || pod.seccompProfile || {}).type;
    if (!['RuntimeDefault', 'Localhost'].includes(seccomp)) v.push(`${name}: seccompProfile is ${seccomp} (want RuntimeDefault)`);
    if (sc.allowPrivilegeEscalation !== false) v.push(`${name}: allowPrivilegeEscalation is not false`);
    if (sc.privileged) v.push(`${name}: privileged`);
    const caps = sc.capabilities || {};
    if (!(caps.drop || []).includes('ALL')) v.push(`${name}: capabilities do not drop ALL`);
    if ((caps.add || []).length) v.push(`${name}: capabilities add ${caps.add.join(',')}`);
    if (sc.readOnlyRootFilesystem !== true) v.push(`${name}: readOnlyRootFilesystem is not true`);
  }
  return v;
}

module.exports = { load, validate, restrictedViolations, SERVED_1_31 };
