'use strict';
// The Helm chart (helm/kvsgate), offline: it lints, renders with default values
// and with every feature on (values-all.yaml), and every rendered manifest is
// one Kubernetes 1.31 serves, with the right types and no unknown fields. The
// Deployment runs restricted (non-root, read-only root, no privilege
// escalation, no capabilities, RuntimeDefault seccomp) and outlives its
// shutdown delay + drain. Every setting of service/config.c's table is
// reachable from values.yaml with config.c's defaults, and values.schema.json
// refuses what config.c refuses. The checkers are tested on broken input too,
// so they cannot pass by accident.
const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const YAML = require('yaml');
const Ajv = require('ajv');
const env = require('../lib/env');
const k8s = require('./k8s');

const chartDir = path.join(env.sourceDir, 'helm', 'kvsgate');
const valuesAllPath = path.join(__dirname, 'values-all.yaml');
const helmBin = process.env.KVSGATE_HELM || path.join(env.sourceDir, '.tools', 'bin', 'helm');
const KUBE_VERSION = '1.31.0';

// Helm writes caches and config under $HOME by default; keep it hermetic and
// offline (KUBECONFIG=/dev/null: nothing may dial a cluster).
const helmHome = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsgate-helm-'));
const helmEnv = {
  ...process.env,
  KUBECONFIG: '/dev/null',
  HELM_CACHE_HOME: path.join(helmHome, 'cache'),
  HELM_CONFIG_HOME: path.join(helmHome, 'config'),
  HELM_DATA_HOME: path.join(helmHome, 'data'),
};
process.on('exit', () => fs.rmSync(helmHome, { recursive: true, force: true }));

function helm(args) {
  const r = spawnSync(helmBin, args, { encoding: 'utf8', env: helmEnv, timeout: 60000 });
  if (r.error) throw r.error;
  return r;
}

// helm template with extra args; returns the parsed documents.
function render(extra = []) {
  const r = helm(['template', 'kg', chartDir, '--namespace', 'video', '--kube-version', KUBE_VERSION, ...extra]);
  assert.equal(r.status, 0, `helm template ${extra.join(' ')} failed:\n${r.stderr}`);
  return YAML.parseAllDocuments(r.stdout).map((d) => d.toJS()).filter((d) => d);
}

function writeValues(obj) {
  const file = path.join(helmHome, `values-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(file, YAML.stringify(obj));
  return file;
}

const find = (docs, kind, name) => docs.filter((d) => d.kind === kind && (!name || d.metadata.name === name));
const one = (docs, kind, name) => {
  const found = find(docs, kind, name);
  assert.equal(found.length, 1, `expected one ${kind}${name ? ' ' + name : ''}, found ${found.length}`);
  return found[0];
};

// --- service/config.c: the settings table ------------------------------------------
function parseSettingsTable(src) {
  const start = src.indexOf('static const struct setting settings[] = {');
  assert.ok(start >= 0, 'settings table not found in service/config.c');
  const body = src.slice(start, src.indexOf('\n};', start));
  const re = /\{\s*"([A-Z0-9_]+)",\s*SET_(STRING|INT|BOOL|LIST),\s*(NULL|"(?:[^"\\]|\\.)*"),\s*(-?\d+),\s*(-?\d+),\s*([01]),\s*(\w+),/g;
  const rows = [];
  for (const m of body.matchAll(re)) {
    rows.push({
      name: m[1],
      type: m[2],
      def: m[3] === 'NULL' ? null : JSON.parse(m[3]),
      min: Number(m[4]),
      max: Number(m[5]),
      secret: m[6] === '1',
      check: m[7] === 'NULL' ? null : m[7],
    });
  }
  const opened = (body.match(/\{\s*"[A-Z]/g) || []).length;
  assert.equal(rows.length, opened, 'a row of the settings table did not parse; update parseSettingsTable');
  return rows;
}

const configSrc = fs.readFileSync(path.join(env.sourceDir, 'service', 'config.c'), 'utf8');
const settings = parseSettingsTable(configSrc);
const byName = new Map(settings.map((s) => [s.name, s]));

// Settings the chart sets itself (paths of what it mounts, the listen port the
// probes use); everything else lives under values.config by its own name.
const CHART_MANAGED = {
  KVSGATE_LISTEN: 'listenHost + containerPort',
  KVSGATE_TLS_CERT_FILE: 'serverTls.existingSecret',
  KVSGATE_TLS_KEY_FILE: 'serverTls.existingSecret',
  KVSGATE_JWT_HS256_SECRET: 'jwtHs256Secret (mounted, as KVSGATE_JWT_HS256_SECRET_FILE)',
  KVSGATE_ASSUME_ROLE_EXTERNAL_ID: 'assumeRoleExternalId (mounted, as KVSGATE_ASSUME_ROLE_EXTERNAL_ID_FILE)',
  KVSGATE_JWT_PUBLIC_KEY_FILE: 'jwtPublicKeys',
  KVSGATE_AWS_CA_FILE: 'awsCaBundle',
  KVSGATE_POLICY_FILE: 'authPolicy (its own test: it excludes the issuer settings values-all.yaml sets)',
  KVSGATE_REDIS_URL: 'redis.url (the chart refuses rediss:// and a user or password in it)',
  KVSGATE_REDIS_USERNAME: 'redis.username',
  KVSGATE_REDIS_PASSWORD: 'redis.password (mounted, as KVSGATE_REDIS_PASSWORD_FILE)',
  KVSGATE_REDIS_KEY: 'redis.key (mounted, as KVSGATE_REDIS_KEY_FILE)',
};
// Chart defaults that differ from config.c's on purpose.
const CHART_DEFAULTS = {
  KVSGATE_SHUTDOWN_DELAY_S: 10, // endpoints and load balancers need time to drop a terminating pod
};

// Sample values per config.c check function: the schema must accept `good`
// and refuse `bad`, as config.c does.
const CHECKS = {
  check_url: { good: ['https://idp.example.com/jwks.json', 'http://127.0.0.1:4566', 'https://[::1]:8443/k?x=1'], bad: ['ftp://x', 'idp.example.com', 'HTTPS//x', 'http://127.0.0.1:x@idp.example/jwks', 'https://user@idp.example.com/', 'https://idp.example.com/a b'] },
  check_owner_policy: { good: ['owner', 'any'], bad: ['OWNER', 'none', ''] },
  check_cidr: { good: [['10.0.0.0/8'], ['127.0.0.1', 'fd00::/8']], bad: [['10.0.0.0/33x'], ['host.example'], ['10.0.0.0/8/8']] },
  check_proxy: { good: ['http://proxy.internal:3128', 'https://user:pw@proxy.example.com'], bad: ['proxy:3128', 'socks5://p', 'http://', 'http://a b'] },
  check_log_level: { good: ['debug', 'info', 'warn', 'error', 'off'], bad: ['verbose', 'INFO', 'warning', ''] },
  check_region: { good: ['us-west-2', 'cn-north-1', 'us-gov-west-1'], bad: ['uswest2', 'US-WEST-2', 'us_west_2', 'a-', 'x'.repeat(31) + '-ab'] },
  check_fallback: { good: ['stun-only', 'fail'], bad: ['STUN-ONLY', 'stun', ''] },
  check_claim: { good: ['kvs', 'https://example.com/kvs', 'x'.repeat(256)], bad: ['', 'x'.repeat(257)] },
  check_redis_prefix: { good: ['kvsgate:', 'video-prod:', '{tenant-1}:', 'x'.repeat(64)], bad: ['a b', 'x'.repeat(65), 'tab\there', 'caf\u00e9:', 'line\n'] },
  check_origin: { good: [['*'], ['https://app.example.com'], ['http://localhost:3000', 'https://a.example']], bad: [['https://app.example.com/'], ['app.example.com'], ['https://a.example/path'], ['ftp://a']] },
};

// --- fixtures ------------------------------------------------------------------------
let models; // k8s validators
const values = YAML.parse(fs.readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
const valuesAll = YAML.parse(fs.readFileSync(valuesAllPath, 'utf8'));
const schema = JSON.parse(fs.readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8'));
let docsDefault;
let docsAll;

before(async () => {
  assert.ok(fs.existsSync(helmBin), `helm not found at ${helmBin}: run tools/bootstrap test`);
  models = await k8s.load();
  docsDefault = render();
  docsAll = render(['-f', valuesAllPath]);
});

// --- the settings table and values.yaml ----------------------------------------------
test('service/config.c settings table parses', () => {
  assert.ok(settings.length >= 30, `only ${settings.length} settings parsed`);
  for (const name of ['KVSGATE_LISTEN', 'KVSGATE_JWT_HS256_SECRET', 'AWS_REGION', 'KVSGATE_DRAIN_TIMEOUT_S']) {
    assert.ok(byName.has(name), `${name} missing from the parsed table`);
  }
  for (const name of Object.keys(CHART_MANAGED)) assert.ok(byName.has(name), `CHART_MANAGED lists ${name}, which config.c no longer has`);
  for (const s of settings.filter((x) => x.secret)) {
    assert.ok(CHART_MANAGED[s.name], `secret ${s.name} must be chart-managed (mounted from a Secret, never in the ConfigMap)`);
  }
});

test('values.yaml and values.schema.json hold every plain setting of config.c, and nothing else', () => {
  const expected = settings.map((s) => s.name).filter((n) => !CHART_MANAGED[n]).sort();
  assert.deepEqual(Object.keys(values.config).sort(), expected, 'values.yaml config keys');
  assert.deepEqual(Object.keys(schema.properties.config.properties).sort(), expected, 'values.schema.json config properties');
  assert.equal(schema.properties.config.additionalProperties, false, 'misspelled config keys must be refused');
  assert.equal(schema.additionalProperties, false, 'unknown top-level keys must be refused');
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
});

test('values.yaml defaults equal config.c defaults (deliberate differences listed)', () => {
  for (const [name, v] of Object.entries(values.config)) {
    const s = byName.get(name);
    if (name in CHART_DEFAULTS) {
      assert.equal(v, CHART_DEFAULTS[name], name);
      assert.notEqual(String(v), s.def, `${name}: no longer differs from config.c; drop it from CHART_DEFAULTS`);
      continue;
    }
    const want = { INT: s.def === null ? null : Number(s.def), BOOL: s.def === 'true', STRING: s.def ?? '', LIST: s.def ? s.def.split(',') : [] }[s.type];
    assert.deepEqual(v, want, `${name}: values.yaml has ${JSON.stringify(v)}, config.c ${JSON.stringify(s.def)}`);
  }
});

test('values.schema.json refuses what config.c refuses (types, bounds, enums, checks)', (t) => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(schema);
  // A JWKS URL needs an issuer (a rule across settings, tested on its own below).
  const issuer = (config) => (config.KVSGATE_JWKS_URL ? { KVSGATE_JWT_ISSUER: 'https://idp.example.com/' } : {});
  const accepts = (config) => validate({ ...values, config: { ...values.config, ...issuer(config), ...config } });
  let cases = 0;
  for (const s of settings.filter((x) => !CHART_MANAGED[x.name])) {
    const ok = (v) => { cases++; assert.ok(accepts({ [s.name]: v }), `${s.name}=${JSON.stringify(v)} refused: ${ajv.errorsText(validate.errors)}`); };
    const bad = (v) => { cases++; assert.ok(!accepts({ [s.name]: v }), `${s.name}=${JSON.stringify(v)} accepted`); };
    const prop = schema.properties.config.properties[s.name];
    if (s.type === 'INT') {
      assert.equal(prop.type, 'integer', s.name);
      assert.equal(prop.minimum, s.min, `${s.name} minimum`);
      assert.equal(prop.maximum, s.max, `${s.name} maximum`);
      ok(s.min); ok(s.max); bad(s.min - 1); bad(s.max + 1); bad(String(s.min)); bad(s.min + 0.5); bad(true);
    } else if (s.type === 'BOOL') {
      ok(true); ok(false); bad('true'); bad('yes'); bad(1);
    } else if (s.type === 'LIST') {
      ok([]); bad('https://a.example'); bad([1]);
    } else {
      bad(42); bad(['x']);
      if (s.def === null) ok(''); // unset
    }
    if (s.check) {
      const samples = CHECKS[s.check];
      assert.ok(samples, `no samples for ${s.check} (${s.name}): add them to CHECKS`);
      samples.good.forEach(ok);
      samples.bad.forEach(bad);
    }
  }
  // config.c reads log levels from kg_log_level_parse: its error lists them.
  const levels = /must be one of ([a-z, ]+)"/.exec(configSrc)[1].split(/,\s*/);
  assert.deepEqual(schema.properties.config.properties.KVSGATE_LOG_LEVEL.enum, levels);
  // The HS256 secret: config.c wants at least 32 bytes.
  const secretOk = (value) => validate({ ...values, jwtHs256Secret: { ...values.jwtHs256Secret, value } });
  assert.ok(secretOk('x'.repeat(32)) && secretOk(''));
  assert.ok(!secretOk('x'.repeat(31)));
  assert.ok(validate(values), `values.yaml itself: ${ajv.errorsText(validate.errors)}`);
  assert.ok(validate(valuesAll), `values-all.yaml: ${ajv.errorsText(validate.errors)}`);
  assert.ok(!validate({ ...values, replicas: 3 }), 'unknown top-level key accepted');
  assert.ok(cases > 150, `${cases} cases`);
  t.diagnostic(`${cases} schema cases over ${settings.length} settings`);
});

test('Chart.yaml appVersion is the project version from CMakeLists.txt', () => {
  const chart = YAML.parse(fs.readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8'));
  const cmake = fs.readFileSync(path.join(env.sourceDir, 'CMakeLists.txt'), 'utf8');
  const version = /project\(kvsgate VERSION ([0-9.]+)/.exec(cmake)[1];
  assert.equal(chart.appVersion, version);
  assert.equal(chart.apiVersion, 'v2');
});

// --- helm lint and render --------------------------------------------------------------
for (const [label, extra] of [['default values', []], ['every feature on (values-all.yaml)', ['-f', valuesAllPath]]]) {
  test(`helm lint --strict --kube-version ${KUBE_VERSION}: ${label}`, () => {
    const r = helm(['lint', '--strict', '--kube-version', KUBE_VERSION, chartDir, ...extra]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/);
  });
}

test('default values render the core objects only; values-all adds every optional one', () => {
  const kinds = (docs) => docs.map((d) => d.kind).sort();
  assert.deepEqual(kinds(docsDefault), ['ConfigMap', 'Deployment', 'Pod', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
  assert.deepEqual(kinds(docsAll), ['ConfigMap', 'ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress',
    'NetworkPolicy', 'Pod', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount', 'ServiceMonitor']);
});

for (const [label, get] of [['default values', () => docsDefault], ['values-all.yaml', () => docsAll]]) {
  test(`every rendered manifest is served by Kubernetes ${KUBE_VERSION} and valid (${label})`, () => {
    const docs = get();
    for (const doc of docs) {
      const errors = k8s.validate(models, doc);
      assert.deepEqual(errors, [], `${doc.kind}/${doc.metadata && doc.metadata.name}`);
    }
    assert.ok(docs.length >= 6);
  });

  test(`Deployment runs restricted (${label})`, () => {
    const docs = get();
    const dep = one(docs, 'Deployment');
    assert.deepEqual(k8s.restrictedViolations(dep.spec.template.spec), []);
    assert.equal(dep.spec.template.spec.automountServiceAccountToken, false);
    const pod = one(docs, 'Pod');
    assert.deepEqual(k8s.restrictedViolations(pod.spec), [], 'helm test pod');
  });

  test(`terminationGracePeriodSeconds exceeds shutdown delay + drain timeout (${label})`, () => {
    const docs = get();
    const cm = one(docs, 'ConfigMap', 'kg-kvsgate');
    const delay = Number(cm.data.KVSGATE_SHUTDOWN_DELAY_S);
    const drain = Number(cm.data.KVSGATE_DRAIN_TIMEOUT_S);
    const grace = one(docs, 'Deployment').spec.template.spec.terminationGracePeriodSeconds;
    assert.ok(Number.isInteger(grace) && grace > delay + drain, `grace ${grace} <= ${delay} + ${drain}`);
    // no preStop: the shutdown delay does its job inside kvsgate
    assert.equal(one(docs, 'Deployment').spec.template.spec.containers[0].lifecycle, undefined);
  });

  test(`probes: /healthz liveness, /readyz readiness on the listen port (${label})`, () => {
    const docs = get();
    const c = one(docs, 'Deployment').spec.template.spec.containers[0];
    const cm = one(docs, 'ConfigMap', 'kg-kvsgate');
    const port = c.ports.find((p) => p.name === 'http');
    assert.equal(cm.data.KVSGATE_LISTEN.split(':').pop(), String(port.containerPort));
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    const tls = Boolean(cm.data.KVSGATE_TLS_CERT_FILE);
    for (const p of [c.livenessProbe, c.readinessProbe]) {
      assert.equal(p.httpGet.port, 'http');
      assert.equal(p.httpGet.scheme, tls ? 'HTTPS' : 'HTTP');
    }
    assert.equal(c.envFrom[0].configMapRef.name, cm.metadata.name);
    const svc = one(docs, 'Service');
    assert.equal(svc.spec.ports[0].targetPort, 'http');
    // the helm test pod curls both through the Service, and is not selected by it
    const pod = one(docs, 'Pod');
    assert.equal(pod.metadata.annotations['helm.sh/hook'], 'test');
    const script = pod.spec.containers[0].args.join(' ');
    const base = `${tls ? 'https' : 'http'}://${svc.metadata.name}.video.svc:${svc.spec.ports[0].port}`;
    assert.ok(script.includes(`${base}/healthz`) && script.includes(`${base}/readyz`), script);
    const selects = (sel, labels) => Object.entries(sel).every(([k, v]) => labels[k] === v);
    assert.ok(!selects(svc.spec.selector, pod.metadata.labels), 'the Service selects the helm test pod');
    assert.ok(selects(svc.spec.selector, one(docs, 'Deployment').spec.template.metadata.labels));
  });
}

// --- every setting reachable -------------------------------------------------------------
test('every config.c setting is reachable from values (values-all.yaml renders each, non-default)', () => {
  const cm = one(docsAll, 'ConfigMap', 'kg-kvsgate');
  const dep = one(docsAll, 'Deployment');
  const c = dep.spec.template.spec.containers[0];
  const envVars = Object.fromEntries((c.env || []).map((e) => [e.name, e.value]));
  const mounts = c.volumeMounts.map((m) => m.mountPath);
  const mounted = (file) => mounts.some((m) => file.startsWith(m + '/'));
  const rendered = {};
  for (const s of settings) {
    if (s.name === 'KVSGATE_POLICY_FILE') continue; // 'a policy file is mounted and owns the issuer settings'
    let value = cm.data[s.name] ?? envVars[s.name];
    if (s.secret) {
      const file = cm.data[`${s.name}_FILE`];
      assert.ok(file, `${s.name}: neither ${s.name} nor ${s.name}_FILE rendered`);
      assert.ok(mounted(file), `${s.name}_FILE=${file} is not under a volume mount`);
      assert.equal(cm.data[s.name], undefined, `secret ${s.name} in the ConfigMap`);
      value = file;
    }
    assert.ok(value !== undefined && value !== '', `${s.name} not rendered (values-all.yaml must set it)`);
    assert.notEqual(value, s.def, `${s.name}: values-all.yaml leaves the default ${s.def}; set another value`);
    if (/_FILE$/.test(s.name)) value.split(',').forEach((f) => assert.ok(mounted(f), `${s.name}: ${f} not under a volume mount`));
    rendered[s.name] = value;
  }
  // plain settings: exactly the string kvsgate parses, from values-all.yaml
  for (const [name, v] of Object.entries(valuesAll.config)) {
    const want = Array.isArray(v) ? v.join(',') : String(v);
    assert.equal(rendered[name], want, name);
  }
  assert.equal(rendered.KVSGATE_UPSTREAM_QUEUE, '1000000', 'large integers must not render as 1e+06');
  // AWS_REGION in the container env, where the EKS webhook cannot override it
  assert.equal(envVars.AWS_REGION, valuesAll.config.AWS_REGION);
  assert.equal(cm.data.AWS_REGION, undefined);
  assert.equal(rendered.KVSGATE_LISTEN, `[::]:${valuesAll.containerPort}`);
  // the chart-made Secret holds the inline JWT secret under the mounted key
  const secret = one(docsAll, 'Secret');
  const key = values.jwtHs256Secret.key;
  assert.equal(Buffer.from(secret.data[key], 'base64').toString(), valuesAll.jwtHs256Secret.value);
  const sources = dep.spec.template.spec.volumes.find((v) => v.name === 'secrets').projected.sources;
  assert.deepEqual(sources.map((s) => [s.secret.name, s.secret.items[0].key, s.secret.items[0].path]), [
    [secret.metadata.name, key, 'jwt-hs256-secret'],
    [valuesAll.assumeRoleExternalId.existingSecret, valuesAll.assumeRoleExternalId.key, 'assume-role-external-id'],
    [valuesAll.redis.password.existingSecret, valuesAll.redis.password.key, 'redis-password'],
    [secret.metadata.name, valuesAll.redis.key.key, 'redis-key'],
  ]);
  assert.equal(Buffer.from(secret.data[valuesAll.redis.key.key], 'base64').toString(), valuesAll.redis.key.value);
  assert.deepEqual(Object.keys(secret.data).sort(), [key, valuesAll.redis.key.key].sort(), 'the chart\'s Secret holds the inline values only');
  assert.equal(rendered.KVSGATE_REDIS_URL, valuesAll.redis.url);
  assert.equal(rendered.KVSGATE_REDIS_USERNAME, valuesAll.redis.username);
  // the public keys ConfigMap holds the PEMs, each listed in KVSGATE_JWT_PUBLIC_KEY_FILE
  const keys = one(docsAll, 'ConfigMap', 'kg-kvsgate-jwt-keys');
  assert.deepEqual(Object.keys(keys.data).sort(), Object.keys(valuesAll.jwtPublicKeys.pems).sort());
  assert.deepEqual(rendered.KVSGATE_JWT_PUBLIC_KEY_FILE.split(',').map((f) => path.basename(f)).sort(), Object.keys(keys.data).sort());
});

// --- the policy file -----------------------------------------------------------------
const examplePolicy = YAML.parse(fs.readFileSync(path.join(env.sourceDir, 'docs', 'policy-example.yaml'), 'utf8'));

test('a policy file is mounted as a directory, owns the issuer settings, and reloads without a restart', () => {
  const secretName = 'idp-secrets';
  const docs = render(['-f', writeValues({ authPolicy: { policy: examplePolicy, existingSecret: secretName }, jwtPublicKeys: { pems: { 'partner.pem': '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n' } } })]);
  for (const d of docs) assert.deepEqual(k8s.validate(models, d), [], `${d.kind} ${d.metadata.name}`);
  const cm = one(docs, 'ConfigMap', 'kg-kvsgate');
  assert.equal(cm.data.KVSGATE_POLICY_FILE, '/etc/kvsgate/policy/policy.yaml');
  for (const owned of ['KVSGATE_JWKS_URL', 'KVSGATE_JWT_ISSUER', 'KVSGATE_JWT_ANY_ISSUER', 'KVSGATE_JWT_AUDIENCE', 'KVSGATE_JWT_GRANTS_CLAIM', 'KVSGATE_JWT_PUBLIC_KEY_FILE', 'KVSGATE_JWT_HS256_SECRET_FILE'])
    assert.equal(cm.data[owned], undefined, `${owned} rendered next to the policy (kvsgate refuses both)`);
  const policyCm = one(docs, 'ConfigMap', 'kg-kvsgate-policy');
  assert.deepEqual(YAML.parse(policyCm.data['policy.yaml']), examplePolicy);
  const pod = one(docs, 'Deployment').spec.template.spec;
  const c = pod.containers[0];
  const mount = (name) => c.volumeMounts.find((m) => m.name === name);
  assert.equal(mount('policy').mountPath, '/etc/kvsgate/policy');
  assert.equal(mount('policy').subPath, undefined, 'a subPath mount never sees ConfigMap updates');
  assert.equal(mount('policy-secrets').mountPath, '/etc/kvsgate/policy-secrets');
  assert.equal(mount('jwt-keys').mountPath, '/etc/kvsgate/jwt-keys', 'PEMs the policy names');
  const vol = (name) => pod.volumes.find((v) => v.name === name);
  assert.deepEqual(vol('policy').configMap.items, [{ key: 'policy.yaml', path: 'policy.yaml' }]);
  assert.equal(vol('policy-secrets').secret.secretName, secretName);
  // an edit of the policy alone does not roll the pods: they reload it
  const edited = structuredClone(examplePolicy);
  edited.issuers[0].rules[0].equals = 'kvs-admins';
  const again = render(['-f', writeValues({ authPolicy: { policy: edited, existingSecret: secretName }, jwtPublicKeys: { pems: { 'partner.pem': '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n' } } })]);
  const ann = (d) => one(d, 'Deployment').spec.template.metadata.annotations;
  assert.deepEqual(ann(again), ann(docs));
  assert.notDeepEqual(one(again, 'ConfigMap', 'kg-kvsgate-policy').data, policyCm.data);
  // a policy ConfigMap of your own, under its key
  const own = render(['--set', 'authPolicy.existingConfigMap=idp-policy', '--set', 'authPolicy.key=kvsgate.yaml']);
  assert.equal(find(own, 'ConfigMap', 'kg-kvsgate-policy').length, 0);
  const ownVol = one(own, 'Deployment').spec.template.spec.volumes.find((v) => v.name === 'policy');
  assert.equal(ownVol.configMap.name, 'idp-policy');
  assert.deepEqual(ownVol.configMap.items, [{ key: 'kvsgate.yaml', path: 'policy.yaml' }]);
  assert.equal(one(own, 'ConfigMap', 'kg-kvsgate').data.KVSGATE_POLICY_FILE, '/etc/kvsgate/policy/policy.yaml');
});

test('values.schema.json checks the policy\'s shape', () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(schema);
  const withPolicy = (policy) => validate({ ...values, authPolicy: { ...values.authPolicy, policy } });
  assert.ok(withPolicy(examplePolicy), ajv.errorsText(validate.errors));
  assert.ok(withPolicy({}));
  const broken = (mutate) => { const p = structuredClone(examplePolicy); mutate(p); return withPolicy(p); };
  assert.ok(!broken((p) => { p.issuers[0].audiance = p.issuers[0].audience; delete p.issuers[0].audience; }), 'a misspelt member');
  assert.ok(!broken((p) => { delete p.issuers[1].audience; }), 'no audience');
  assert.ok(!broken((p) => { p.version = 2; }));
  assert.ok(!broken((p) => { p.issuers[0].name = 'Cognito'; }));
  assert.ok(!broken((p) => { p.issuers[0].tokenUse = 'refresh'; }));
  assert.ok(!broken((p) => { p.issuers[2].jwksUrl = 'http://sso.example.com/certs'; }), 'plain http off loopback');
  assert.ok(!broken((p) => { p.issuers[0].rules[0].grant.owner = true; }));
  assert.ok(!broken((p) => { p.issuers[0].rules[0].claim = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']; }));
});

test('secrets never reach the ConfigMap or the pod spec in clear', () => {
  const text = JSON.stringify(docsAll.filter((d) => d.kind !== 'Secret'));
  assert.ok(!text.includes(valuesAll.jwtHs256Secret.value));
  assert.ok(!text.includes(valuesAll.redis.key.value));
  const pw = 'redis-password-in-clear';
  const redisDocs = render(['--set', 'redis.url=redis://r:6379', '--set', `redis.password.value=${pw}`, '--set', `redis.key.value=${'k'.repeat(32)}`]);
  const redisText = JSON.stringify(redisDocs.filter((d) => d.kind !== 'Secret'));
  assert.ok(!redisText.includes(pw) && !redisText.includes('k'.repeat(32)));
  // default values: no Secret at all, and no *_FILE pointing at nothing
  assert.equal(find(docsDefault, 'Secret').length, 0);
  const cm = one(docsDefault, 'ConfigMap', 'kg-kvsgate');
  assert.deepEqual(Object.keys(cm.data).filter((k) => k.endsWith('_FILE')), []);
});

test('an existing Secret for the JWT secret is mounted, and the chart makes none', () => {
  const docs = render(['--set', 'jwtHs256Secret.existingSecret=my-jwt', '--set', 'jwtHs256Secret.key=hs256']);
  assert.equal(find(docs, 'Secret').length, 0);
  const vol = one(docs, 'Deployment').spec.template.spec.volumes.find((v) => v.name === 'secrets');
  assert.deepEqual(vol.projected.sources, [{ secret: { name: 'my-jwt', items: [{ key: 'hs256', path: 'jwt-hs256-secret' }] } }]);
  assert.equal(one(docs, 'ConfigMap').data.KVSGATE_JWT_HS256_SECRET_FILE, '/etc/kvsgate/secrets/jwt-hs256-secret');
});

// --- Redis (redis.*) ---------------------------------------------------------------------
const redisKey = 'redis-value-key-for-tests-0123456789';
const redisEnv = (docs) => one(docs, 'ConfigMap', 'kg-kvsgate').data;
const redisSources = (docs) => {
  const vol = (one(docs, 'Deployment').spec.template.spec.volumes || []).find((v) => v.name === 'secrets');
  return vol ? vol.projected.sources.map((s) => s.secret) : [];
};

test('Redis: url, username, password and key render the variables and file mounts (inline and existing Secrets)', () => {
  // password inline (the chart's Secret), key from a Secret of yours
  const a = render(['--set', 'redis.url=redis://master.kvsgate.abc123.usw2.cache.amazonaws.com:6379/0', '--set', 'redis.username=kvsgate',
    '--set', 'redis.password.value=auth-token-1234567890', '--set', 'redis.key.existingSecret=kvsgate-redis', '--set', 'redis.key.key=value-key']);
  for (const d of a) assert.deepEqual(k8s.validate(models, d), [], `${d.kind} ${d.metadata.name}`);
  const envA = redisEnv(a);
  assert.equal(envA.KVSGATE_REDIS_URL, 'redis://master.kvsgate.abc123.usw2.cache.amazonaws.com:6379/0');
  assert.equal(envA.KVSGATE_REDIS_USERNAME, 'kvsgate');
  assert.equal(envA.KVSGATE_REDIS_PASSWORD_FILE, '/etc/kvsgate/secrets/redis-password');
  assert.equal(envA.KVSGATE_REDIS_KEY_FILE, '/etc/kvsgate/secrets/redis-key');
  for (const secret of ['KVSGATE_REDIS_PASSWORD', 'KVSGATE_REDIS_KEY']) assert.equal(envA[secret], undefined, `${secret} in the ConfigMap`);
  assert.equal(envA.KVSGATE_REDIS_PREFIX, 'kvsgate:');
  assert.equal(envA.KVSGATE_REDIS_TIMEOUT_MS, '100');
  assert.equal(envA.KVSGATE_RATE_LIMIT_SYNC_MS, '250');
  assert.deepEqual(redisSources(a), [
    { name: 'kg-kvsgate', items: [{ key: 'redis-password', path: 'redis-password' }] },
    { name: 'kvsgate-redis', items: [{ key: 'value-key', path: 'redis-key' }] },
  ]);
  const c = one(a, 'Deployment').spec.template.spec.containers[0];
  assert.deepEqual(c.volumeMounts.find((m) => m.name === 'secrets'), { name: 'secrets', mountPath: '/etc/kvsgate/secrets', readOnly: true });
  assert.deepEqual(one(a, 'Secret').data, { 'redis-password': Buffer.from('auth-token-1234567890').toString('base64') });
  // the other way round: password from a Secret of yours, key inline; no username
  const b = render(['--set', 'redis.url=redis://10.0.3.15', '--set', 'redis.password.existingSecret=elasticache-auth', '--set', 'redis.password.key=token',
    '--set', `redis.key.value=${redisKey}`]);
  const envB = redisEnv(b);
  assert.equal(envB.KVSGATE_REDIS_URL, 'redis://10.0.3.15');
  assert.equal(envB.KVSGATE_REDIS_USERNAME, undefined);
  assert.equal(envB.KVSGATE_REDIS_PASSWORD_FILE, '/etc/kvsgate/secrets/redis-password');
  assert.equal(envB.KVSGATE_REDIS_KEY_FILE, '/etc/kvsgate/secrets/redis-key');
  assert.deepEqual(redisSources(b), [
    { name: 'elasticache-auth', items: [{ key: 'token', path: 'redis-password' }] },
    { name: 'kg-kvsgate', items: [{ key: 'redis-key', path: 'redis-key' }] },
  ]);
  assert.deepEqual(one(b, 'Secret').data, { 'redis-key': Buffer.from(redisKey).toString('base64') });
  // no password: no AUTH, no file
  const nopw = redisEnv(render(['--set', 'redis.url=redis://r', '--set', 'redis.key.existingSecret=k']));
  assert.equal(nopw.KVSGATE_REDIS_PASSWORD_FILE, undefined);
  assert.equal(nopw.KVSGATE_REDIS_KEY_FILE, '/etc/kvsgate/secrets/redis-key');
  // default values: no Redis at all (the plain Redis settings are inert without a URL)
  const d = redisEnv(docsDefault);
  for (const name of ['KVSGATE_REDIS_URL', 'KVSGATE_REDIS_USERNAME', 'KVSGATE_REDIS_PASSWORD_FILE', 'KVSGATE_REDIS_KEY_FILE']) assert.equal(d[name], undefined, name);
  assert.deepEqual(redisSources(docsDefault), []);
});

test('Redis: the NetworkPolicy allows egress to the Redis port and peers only when redis.url is set', () => {
  const np = (extra) => one(render(['--set', 'networkPolicy.enabled=true', ...extra]), 'NetworkPolicy');
  const redisRules = (policy, port) => policy.spec.egress.filter((r) => r.ports.some((p) => p.port === port));
  // no url: no rule, even with egress peers given
  const off = np(['--set', 'redis.egress.cidrs={10.0.3.0/24}']);
  assert.deepEqual(redisRules(off, 6379), []);
  assert.ok(!JSON.stringify(off).includes('10.0.3.0/24'));
  // url + CIDRs: one rule, TCP to the port, to exactly those blocks
  const on = np(['--set', 'redis.url=redis://10.0.3.15:6379', '--set', 'redis.key.existingSecret=k', '--set', 'redis.egress.cidrs={10.0.3.0/24,10.0.4.0/24}']);
  assert.deepEqual(redisRules(on, 6379), [{
    to: [{ ipBlock: { cidr: '10.0.3.0/24' } }, { ipBlock: { cidr: '10.0.4.0/24' } }],
    ports: [{ port: 6379, protocol: 'TCP' }],
  }]);
  assert.deepEqual(k8s.validate(models, on), []);
  // url + a Redis in the cluster, on another port: one peer with both selectors
  const sel = np(['--set', 'redis.url=redis://redis-master.redis.svc:6380', '--set', 'redis.key.existingSecret=k', '--set', 'redis.egress.port=6380',
    '--set', 'redis.egress.namespaceSelector.matchLabels.team=data', '--set', 'redis.egress.podSelector.matchLabels.app=redis']);
  assert.deepEqual(redisRules(sel, 6380), [{
    to: [{ namespaceSelector: { matchLabels: { team: 'data' } }, podSelector: { matchLabels: { app: 'redis' } } }],
    ports: [{ port: 6380, protocol: 'TCP' }],
  }]);
  assert.deepEqual(redisRules(sel, 6379), []);
  assert.deepEqual(k8s.validate(models, sel), []);
  // values-all.yaml: its CIDRs and its selector peer, on its port
  const all = redisRules(one(docsAll, 'NetworkPolicy'), valuesAll.redis.egress.port);
  assert.equal(all.length, 1);
  assert.deepEqual(all[0].to, [
    ...valuesAll.redis.egress.cidrs.map((cidr) => ({ ipBlock: { cidr } })),
    { namespaceSelector: valuesAll.redis.egress.namespaceSelector, podSelector: valuesAll.redis.egress.podSelector },
  ]);
  // and none without networkPolicy.enabled
  assert.equal(find(render(['--set', 'redis.url=redis://r', '--set', 'redis.key.existingSecret=k']), 'NetworkPolicy').length, 0);
});

test('Redis: values.schema.json checks the redis block', () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(schema);
  const withRedis = (redis) => validate({ ...values, redis: { ...values.redis, ...redis } });
  assert.equal(schema.properties.redis.additionalProperties, false);
  assert.equal(schema.properties.redis.properties.egress.additionalProperties, false);
  for (const url of ['', 'redis://r', 'redis://10.0.3.15:6380/2', 'redis://[fd00::15]:6379', 'rediss://tls-passes-the-schema-for-a-clear-message']) {
    assert.ok(withRedis({ url }), `${url}: ${ajv.errorsText(validate.errors)}`);
  }
  for (const url of ['http://r:6379', 'redis:/r', 'redis://', 'redis://a b', 'r:6379', 'unix:///tmp/redis.sock']) assert.ok(!withRedis({ url }), `${url} accepted`);
  assert.ok(withRedis({ password: { value: 'short', existingSecret: '', key: 'redis-password' } }), 'a password of any length');
  assert.ok(!withRedis({ key: { value: 'x'.repeat(31), existingSecret: '', key: 'redis-key' } }), 'a value key under 32 bytes');
  assert.ok(withRedis({ key: { value: 'x'.repeat(32), existingSecret: '', key: 'redis-key' } }));
  assert.ok(!withRedis({ username: 'a b' }));
  // unknown keys, at every level
  assert.ok(!withRedis({ tls: true }), 'unknown key under redis');
  assert.ok(!withRedis({ caBundle: { existingConfigMap: 'ca' } }), 'no CA bundle: the binary has no TLS');
  assert.ok(!withRedis({ password: { value: '', existingSecret: '', key: 'k', file: '/x' } }), 'unknown key under redis.password');
  assert.ok(!withRedis({ egress: { ...values.redis.egress, ports: [6379] } }), 'unknown key under redis.egress');
  assert.ok(!withRedis({ egress: { ...values.redis.egress, port: 0 } }));
  assert.ok(!withRedis({ egress: { ...values.redis.egress, cidrs: ['10.0.3.0'] } }));
});

test('changing a setting or the secret rolls the pods (checksum annotations)', () => {
  const ann = (docs) => one(docs, 'Deployment').spec.template.metadata.annotations;
  const base = ann(docsDefault);
  const level = ann(render(['--set', 'config.KVSGATE_LOG_LEVEL=warn']));
  assert.notEqual(level['checksum/config'], base['checksum/config']);
  assert.equal(level['checksum/secret'], base['checksum/secret']);
  const s1 = ann(render(['--set', `jwtHs256Secret.value=${'a'.repeat(32)}`]));
  const s2 = ann(render(['--set', `jwtHs256Secret.value=${'b'.repeat(32)}`]));
  assert.notEqual(s1['checksum/secret'], s2['checksum/secret']);
  const redis = (pw, url = 'redis://r') => ann(render(['--set', `redis.url=${url}`, '--set', `redis.key.value=${redisKey}`, '--set', `redis.password.value=${pw}`]));
  assert.notEqual(redis('pw-1')['checksum/secret'], redis('pw-2')['checksum/secret']);
  assert.notEqual(redis('pw-1')['checksum/config'], redis('pw-1', 'redis://r2')['checksum/config']);
});

test('IRSA annotation, autoscaling, disruption budget, network policy, ServiceMonitor', () => {
  const sa = one(docsAll, 'ServiceAccount');
  assert.equal(sa.metadata.annotations['eks.amazonaws.com/role-arn'], valuesAll.serviceAccount.irsaRoleArn);
  assert.equal(one(docsAll, 'Deployment').spec.template.spec.serviceAccountName, sa.metadata.name);
  assert.equal(one(docsDefault, 'ServiceAccount').metadata.annotations, undefined);
  // HPA owns the replica count
  assert.equal(one(docsAll, 'Deployment').spec.replicas, undefined);
  assert.equal(one(docsDefault, 'Deployment').spec.replicas, 2);
  const hpa = one(docsAll, 'HorizontalPodAutoscaler');
  assert.equal(hpa.spec.scaleTargetRef.name, one(docsAll, 'Deployment').metadata.name);
  assert.equal(one(docsDefault, 'PodDisruptionBudget').spec.maxUnavailable, 1);
  assert.equal(one(docsAll, 'PodDisruptionBudget').spec.minAvailable, '50%');
  // NetworkPolicy: the HTTP port in; DNS, HTTPS, the Pod Identity agent out; the test pod admitted
  const np = one(docsAll, 'NetworkPolicy');
  assert.deepEqual(np.spec.policyTypes, ['Ingress', 'Egress']);
  assert.deepEqual(np.spec.ingress[0].ports, [{ port: 'http', protocol: 'TCP' }]);
  const pod = one(docsAll, 'Pod');
  assert.ok(np.spec.ingress[0].from.some((peer) => peer.podSelector && Object.entries(peer.podSelector.matchLabels).every(([k, v]) => pod.metadata.labels[k] === v)), 'helm test pod not admitted');
  const egressPorts = np.spec.egress.flatMap((r) => r.ports.map((p) => `${p.protocol}/${p.port}`));
  for (const p of ['UDP/53', 'TCP/53', 'TCP/443', 'TCP/80']) assert.ok(egressPorts.includes(p), p);
  assert.ok(np.spec.egress.some((r) => r.to.some((t) => t.ipBlock && t.ipBlock.cidr === '169.254.170.23/32')));
  const sm = one(docsAll, 'ServiceMonitor');
  assert.equal(sm.spec.endpoints[0].path, '/metrics');
  // Ingress routes the API, never the operational endpoints
  const paths = one(docsAll, 'Ingress').spec.rules.flatMap((r) => r.http.paths.map((p) => p.path));
  for (const p of paths) assert.ok(!['/', '/metrics', '/healthz', '/readyz'].includes(p), p);
});

// NOTES.txt: helm template does not print it and helm install needs a cluster;
// render it from a copy of the chart through tpl.
function renderNotes(extra = []) {
  const copy = fs.mkdtempSync(path.join(helmHome, 'notes-'));
  fs.cpSync(chartDir, copy, { recursive: true });
  fs.copyFileSync(path.join(chartDir, 'templates', 'NOTES.txt'), path.join(copy, 'notes.txt'));
  fs.writeFileSync(path.join(copy, 'templates', 'zz-notes.yaml'),
    'apiVersion: v1\nkind: Notes\ntext: {{ tpl (.Files.Get "notes.txt") . | quote }}\n');
  const r = helm(['template', 'kg', copy, '--namespace', 'video', '--show-only', 'templates/zz-notes.yaml', ...extra]);
  assert.equal(r.status, 0, r.stderr);
  return YAML.parse(r.stdout).text;
}

test('NOTES.txt tells the operator what to do next', () => {
  const d = renderNotes();
  for (const want of [/WARNING: no JWT key/, /docs\/iam-policy\.json/, /serviceAccount\.irsaRoleArn/,
    /create-pod-identity-association/, /system:serviceaccount:video:kg-kvsgate/, /rollout status deployment\/kg-kvsgate/,
    /helm test kg -n video/, /kvsgate token --sub/, /\/v1\/channels\/demo-1\/viewer/, /GET \/metrics/]) {
    assert.match(d, want);
  }
  const a = renderNotes(['-f', valuesAllPath]);
  assert.doesNotMatch(a, /WARNING/);
  assert.match(a, /assumes\s+arn:aws:iam::123456789012:role\/kvsgate/);
  assert.match(a, /https:\/\/kvsgate\.example\.com\/v1/);
  assert.match(a, /"https:\/\/example\.com\/kvs" claim/);
  assert.match(a, /curl -sk https:\/\/127\.0\.0\.1:8080\/readyz/);
  assert.match(a, /ServiceMonitor kg-kvsgate/);
});

// --- the schema and the templates refuse bad values ------------------------------------------
const BAD = [
  ['wrong type (string for an integer)', ['--set-string', 'config.KVSGATE_MAX_CONNECTIONS=many'], /KVSGATE_MAX_CONNECTIONS/],
  ['wrong type (string for a boolean)', ['--set-string', 'config.KVSGATE_ACCESS_LOG=yes'], /KVSGATE_ACCESS_LOG/],
  ['wrong type (list for a string)', { config: { KVSGATE_JWT_ISSUER: ['a'] } }, /KVSGATE_JWT_ISSUER/],
  ['out of range (above max)', ['--set', 'config.KVSGATE_PRESIGN_EXPIRES_S=300'], /KVSGATE_PRESIGN_EXPIRES_S/],
  ['out of range (below min)', ['--set', 'config.KVSGATE_MAX_HEADER_BYTES=8191'], /KVSGATE_MAX_HEADER_BYTES/],
  ['out of range (negative)', ['--set', 'config.KVSGATE_DRAIN_TIMEOUT_S=-1'], /KVSGATE_DRAIN_TIMEOUT_S/],
  ['bad enum (log level)', ['--set', 'config.KVSGATE_LOG_LEVEL=verbose'], /KVSGATE_LOG_LEVEL/],
  ['bad URL', ['--set', 'config.KVSGATE_JWKS_URL=ftp://idp.example.com/jwks'], /KVSGATE_JWKS_URL/],
  ['JWKS URL with userinfo', ['--set', 'config.KVSGATE_JWKS_URL=http://127.0.0.1:x@idp.example/jwks', '--set', 'config.KVSGATE_JWT_ISSUER=https://idp.example/'], /KVSGATE_JWKS_URL/],
  ['JWKS URL without an issuer', ['--set', 'config.KVSGATE_JWKS_URL=https://idp.example.com/jwks'], /KVSGATE_JWT_ISSUER|anyOf|must match/],
  ['bad region', ['--set', 'config.AWS_REGION=US_WEST_2'], /AWS_REGION/],
  ['bad CORS origin (with a path)', { config: { KVSGATE_CORS_ORIGINS: ['https://app.example.com/login'] } }, /KVSGATE_CORS_ORIGINS/],
  ['unknown top-level key', ['--set', 'replicas=3'], /replicas/],
  ['misspelled config key', ['--set', 'config.KVSGATE_LOG_LEVL=info'], /KVSGATE_LOG_LEVL/],
  ['unknown nested key', ['--set', 'serviceAccount.roleArn=arn:aws:iam::123456789012:role/x'], /roleArn/],
  ['HS256 secret under 32 bytes', ['--set', 'jwtHs256Secret.value=short'], /jwtHs256Secret/],
  ['bad pull policy', ['--set', 'image.pullPolicy=Sometimes'], /pullPolicy/],
  ['port out of range', ['--set', 'containerPort=70000'], /containerPort/],
  // Contradictions between values: the templates `fail` (helm lint reports
  // those as INFO only, so only template/install refuse them).
  ['secret both inline and existing', ['--set', `jwtHs256Secret.value=${'x'.repeat(32)}`, '--set', 'jwtHs256Secret.existingSecret=s'], /not both/, 'template'],
  ['PDB with both minAvailable and maxUnavailable', ['--set', 'podDisruptionBudget.minAvailable=1'], /not both/, 'template'],
  ['external id without a role', ['--set', 'assumeRoleExternalId.existingSecret=ext'], /KVSGATE_ASSUME_ROLE_ARN/, 'template'],
  ['public keys ConfigMap without files', ['--set', 'jwtPublicKeys.existingConfigMap=keys'], /jwtPublicKeys.files/, 'template'],
  ['policy both inline and existing', { authPolicy: { policy: examplePolicy, existingConfigMap: 'p' } }, /not both/, 'template'],
  ['policy with the issuer settings', { authPolicy: { existingConfigMap: 'p' }, config: { KVSGATE_JWT_AUDIENCE: 'x' } }, /leave config.KVSGATE_JWKS_URL/, 'template'],
  ['policy with the HS256 secret', { authPolicy: { existingConfigMap: 'p' }, jwtHs256Secret: { existingSecret: 's' } }, /jwtHs256Secret at their defaults/, 'template'],
  ['policy secrets without a policy', ['--set', 'authPolicy.existingSecret=s'], /only with a policy/, 'template'],
  ['policy with a misspelt member', { authPolicy: { policy: { version: 1, issuers: [{ name: 'a', issuer: 'https://a', discovery: true, audiance: 'any' }] } } }, /authPolicy/],
  ['autoscaling without a target', ['--set', 'autoscaling.enabled=true', '--set', 'autoscaling.targetCPUUtilizationPercentage=0'], /targetCPUUtilizationPercentage/, 'template'],
  ['Redis key under 32 bytes', ['--set', 'redis.key.value=short'], /redis\.key\.value/],
  ['Redis URL of another scheme', ['--set', 'redis.url=http://r:6379'], /redis\.url/],
  ['unknown key under redis', ['--set', 'redis.caBundle=ca'], /caBundle/],
  ['unknown key under redis.egress', ['--set', 'redis.egress.ports={6379}'], /ports/],
  ['Redis URL without a key', ['--set', 'redis.url=redis://r:6379', '--set', 'redis.password.value=p'], /redis\.url needs redis\.key .*at least 32 bytes/, 'template'],
  ['Redis over TLS (rediss://)', ['--set', 'redis.url=rediss://r:6379', '--set', `redis.key.value=${'k'.repeat(32)}`], /rediss:\/\/ \(TLS\) is not supported.*hiredis 0\.14.*TLS proxy sidecar.*docs\/deploy-eks\.md/, 'template'],
  ['Redis URL with a password in it', ['--set', 'redis.url=redis://kvsgate:secret@r:6379', '--set', 'redis.key.existingSecret=k'], /set redis\.username and redis\.password/, 'template'],
  ['Redis secrets without a URL', ['--set', 'redis.key.existingSecret=k'], /need redis\.url/, 'template'],
  ['Redis key both inline and existing', ['--set', 'redis.url=redis://r', '--set', `redis.key.value=${'k'.repeat(32)}`, '--set', 'redis.key.existingSecret=s'], /redis\.key: set value or existingSecret, not both/, 'template'],
  ['two inline secrets under one key', ['--set', 'redis.url=redis://r', '--set', `redis.key.value=${'k'.repeat(32)}`, '--set', 'redis.password.value=p', '--set', 'redis.password.key=redis-key'], /redis\.password and redis\.key/, 'template'],
  ['NetworkPolicy with Redis but no egress peer', ['--set', 'networkPolicy.enabled=true', '--set', 'redis.url=redis://r', '--set', 'redis.key.existingSecret=k'], /redis\.egress\.cidrs/, 'template'],
  ['autoscaling min above max', ['--set', 'autoscaling.enabled=true', '--set', 'autoscaling.minReplicas=5', '--set', 'autoscaling.maxReplicas=3'], /minReplicas/, 'template'],
];

for (const [label, input, pattern, only] of BAD) {
  test(`refused: ${label}`, () => {
    const extra = Array.isArray(input) ? input : ['-f', writeValues(input)];
    const t = helm(['template', 'kg', chartDir, '--kube-version', KUBE_VERSION, ...extra]);
    assert.notEqual(t.status, 0, `helm template accepted ${label}`);
    assert.match(t.stderr, pattern);
    if (only === 'template') return;
    assert.match(t.stderr, /values don't meet the specifications of the schema/);
    const l = helm(['lint', '--strict', '--kube-version', KUBE_VERSION, chartDir, ...extra]);
    assert.notEqual(l.status, 0, `helm lint accepted ${label}`);
    assert.match(l.stdout + l.stderr, pattern);
  });
}

// --- the checkers themselves catch breakage ----------------------------------------------------
test('the manifest checker catches unknown fields, wrong types, missing fields and removed APIs', () => {
  const dep = structuredClone(one(docsDefault, 'Deployment'));
  const broken = (mutate) => { const d = structuredClone(dep); mutate(d); return k8s.validate(models, d); };
  const c = (d) => d.spec.template.spec.containers[0];
  assert.match(broken((d) => { c(d).resourcez = c(d).resources; }).join('\n'), /resourcez/);
  assert.match(broken((d) => { c(d).ports[0].protocl = 'TCP'; }).join('\n'), /protocl/);
  assert.match(broken((d) => { delete d.spec.selector; }).join('\n'), /selector/);
  assert.match(broken((d) => { d.spec.replicas = 'two'; }).join('\n'), /replicas/);
  assert.match(broken((d) => { c(d).securityContext.readOnlyRootFilesystem = 'yes'; }).join('\n'), /readOnlyRootFilesystem/);
  assert.match(broken((d) => { d.apiVersion = 'extensions/v1beta1'; }).join('\n'), /not served/);
  const pdb = structuredClone(one(docsDefault, 'PodDisruptionBudget'));
  pdb.apiVersion = 'policy/v1beta1';
  assert.match(k8s.validate(models, pdb).join('\n'), /not served/);
  const sm = structuredClone(one(docsAll, 'ServiceMonitor'));
  sm.spec.endpoints[0].paht = '/metrics';
  delete sm.spec.selector;
  const smErrors = k8s.validate(models, sm).join('\n');
  assert.match(smErrors, /paht/);
  assert.match(smErrors, /selector/);
});

test('the restricted checker catches each weakened setting', () => {
  const spec = one(docsDefault, 'Deployment').spec.template.spec;
  const weaken = [
    ['readOnlyRootFilesystem', (s) => { delete s.containers[0].securityContext.readOnlyRootFilesystem; }],
    ['allowPrivilegeEscalation', (s) => { s.containers[0].securityContext.allowPrivilegeEscalation = true; }],
    ['capabilities', (s) => { s.containers[0].securityContext.capabilities = { drop: ['NET_RAW'] }; }],
    ['capabilities', (s) => { s.containers[0].securityContext.capabilities.add = ['NET_BIND_SERVICE']; }],
    ['runAsNonRoot', (s) => { delete s.securityContext.runAsNonRoot; delete s.containers[0].securityContext.runAsNonRoot; }],
    ['runAsUser', (s) => { s.containers[0].securityContext.runAsUser = 0; }],
    ['seccomp', (s) => { delete s.securityContext.seccompProfile; delete s.containers[0].securityContext.seccompProfile; }],
    ['privileged', (s) => { s.containers[0].securityContext.privileged = true; }],
  ];
  for (const [what, mutate] of weaken) {
    const s = structuredClone(spec);
    mutate(s);
    assert.match(k8s.restrictedViolations(s).join('\n'), new RegExp(what), what);
  }
  // and through values: a chart user turning it off is reported
  const docs = render(['--set', 'securityContext.readOnlyRootFilesystem=false']);
  assert.match(k8s.restrictedViolations(one(docs, 'Deployment').spec.template.spec).join('\n'), /readOnlyRootFilesystem/);
});

test('yamllint passes on the chart values and the rendered manifests', () => {
  const config = '{extends: default, rules: {line-length: {max: 140}, document-start: disable, comments: {min-spaces-from-content: 1}, truthy: {check-keys: false}, indentation: {indent-sequences: whatever}, braces: {max-spaces-inside: 1}, brackets: {max-spaces-inside: 1}}}';
  const files = [path.join(chartDir, 'values.yaml'), path.join(chartDir, 'Chart.yaml'), valuesAllPath];
  const rendered = path.join(helmHome, 'rendered.yaml');
  fs.writeFileSync(rendered, helm(['template', 'kg', chartDir, '-f', valuesAllPath]).stdout);
  const r = spawnSync('yamllint', ['-s', '-d', config, ...files, rendered], { encoding: 'utf8' });
  assert.ok(!r.error, 'yamllint missing: tools/bootstrap test installs it');
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
