{{/* Names, labels and the computed values every template shares. */}}

{{- define "kvsgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kvsgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kvsgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kvsgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kvsgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kvsgate.labels" -}}
helm.sh/chart: {{ include "kvsgate.chart" . }}
{{ include "kvsgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kvsgate
{{- end -}}

{{- define "kvsgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kvsgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kvsgate.image" -}}
{{- $img := .image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default .appVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The helm test pod's labels: deliberately not the selector labels (the Service,
PodDisruptionBudget and NetworkPolicy must not select it); the NetworkPolicy
admits it by the two labels of kvsgate.testPeerLabels.
*/}}
{{- define "kvsgate.testPeerLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: helm-test
{{- end -}}

{{- define "kvsgate.testLabels" -}}
helm.sh/chart: {{ include "kvsgate.chart" . }}
app.kubernetes.io/name: {{ include "kvsgate.name" . }}-test
{{ include "kvsgate.testPeerLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* http or https: kvsgate serves HTTPS when serverTls.existingSecret is set. */}}
{{- define "kvsgate.scheme" -}}
{{- if .Values.serverTls.existingSecret -}}https{{- else -}}http{{- end -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds: the pod must outlive the shutdown delay (unready
but serving) plus the drain, or the kubelet kills requests in flight.
*/}}
{{- define "kvsgate.terminationGracePeriodSeconds" -}}
{{- $c := .Values.config -}}
{{- add (int64 $c.KVSGATE_SHUTDOWN_DELAY_S) (int64 $c.KVSGATE_DRAIN_TIMEOUT_S) (int64 .Values.terminationGraceMarginSeconds) -}}
{{- end -}}

{{/* Renders one config value as the string kvsgate parses; "" when unset. */}}
{{- define "kvsgate.configValue" -}}
{{- $v := . -}}
{{- if kindIs "slice" $v -}}
{{- join "," $v -}}
{{- else if kindIs "bool" $v -}}
{{- ternary "true" "false" $v -}}
{{- else if kindIs "string" $v -}}
{{- $v -}}
{{- else if kindIs "invalid" $v -}}
{{- else -}}
{{- int64 $v -}}
{{- end -}}
{{- end -}}

{{/*
The secrets mounted as files in /etc/kvsgate/secrets (fileSecret: `value`, in
the chart's Secret, or existingSecret + key), as a JSON list: the values' name,
the values, the file name and the variable that names the file for kvsgate.
Read with: include "kvsgate.fileSecrets" . | fromJsonArray
*/}}
{{- define "kvsgate.fileSecrets" -}}
{{- $v := .Values -}}
{{- toJson (list
  (dict "name" "jwtHs256Secret" "s" $v.jwtHs256Secret "file" "jwt-hs256-secret" "env" "KVSGATE_JWT_HS256_SECRET_FILE")
  (dict "name" "assumeRoleExternalId" "s" $v.assumeRoleExternalId "file" "assume-role-external-id" "env" "KVSGATE_ASSUME_ROLE_EXTERNAL_ID_FILE")
  (dict "name" "redis.password" "s" $v.redis.password "file" "redis-password" "env" "KVSGATE_REDIS_PASSWORD_FILE")
  (dict "name" "redis.key" "s" $v.redis.key "file" "redis-key" "env" "KVSGATE_REDIS_KEY_FILE")) -}}
{{- end -}}

{{/* Refuses values that contradict each other (the schema checks each alone). */}}
{{- define "kvsgate.validate" -}}
{{- $inlineKeys := dict -}}
{{- range $f := include "kvsgate.fileSecrets" . | fromJsonArray -}}
{{- if and $f.s.value $f.s.existingSecret -}}
{{- fail (printf "%s: set value or existingSecret, not both" $f.name) -}}
{{- end -}}
{{- if $f.s.value -}}
{{- with index $inlineKeys $f.s.key -}}
{{- fail (printf "%s and %s: both values would go under the key %q of the chart's Secret; give one another key" . $f.name $f.s.key) -}}
{{- end -}}
{{- $_ := set $inlineKeys $f.s.key $f.name -}}
{{- end -}}
{{- end -}}
{{- $r := .Values.redis -}}
{{- if $r.url -}}
{{- if hasPrefix "rediss://" $r.url -}}
{{- fail "redis.url: rediss:// (TLS) is not supported: Debian bookworm's hiredis 0.14, which kvsgate uses, has no TLS. Use redis:// to a TLS proxy sidecar (such as stunnel) that listens on 127.0.0.1:6379 and connects to the TLS endpoint, redis.url=redis://127.0.0.1:6379; see docs/deploy-eks.md, \"Redis (ElastiCache) for several replicas\"" -}}
{{- end -}}
{{- if contains "@" $r.url -}}
{{- fail "redis.url: no user or password in the URL (it would land in the ConfigMap): set redis.username and redis.password" -}}
{{- end -}}
{{- if not (or $r.key.value $r.key.existingSecret) -}}
{{- fail "redis.url needs redis.key (value or existingSecret): at least 32 bytes, the same on every replica; kvsgate encrypts and authenticates what it stores in Redis with keys derived from it" -}}
{{- end -}}
{{- if and .Values.networkPolicy.enabled (not (or $r.egress.cidrs $r.egress.namespaceSelector $r.egress.podSelector)) -}}
{{- fail "networkPolicy.enabled with redis.url: allow the egress to Redis with redis.egress.cidrs (ElastiCache: its subnets' CIDRs) or redis.egress.namespaceSelector / podSelector (a Redis in the cluster)" -}}
{{- end -}}
{{- else if or $r.username $r.password.value $r.password.existingSecret $r.key.value $r.key.existingSecret -}}
{{- fail "redis.username, redis.password and redis.key need redis.url" -}}
{{- end -}}
{{- if and .Values.jwtPublicKeys.pems .Values.jwtPublicKeys.existingConfigMap -}}
{{- fail "jwtPublicKeys: set pems or existingConfigMap (with files), not both" -}}
{{- end -}}
{{- $policy := or .Values.authPolicy.policy .Values.authPolicy.existingConfigMap -}}
{{- if and .Values.authPolicy.policy .Values.authPolicy.existingConfigMap -}}
{{- fail "authPolicy: set policy or existingConfigMap, not both" -}}
{{- end -}}
{{- if and .Values.authPolicy.existingSecret (not $policy) -}}
{{- fail "authPolicy.existingSecret: only with a policy (authPolicy.policy or existingConfigMap)" -}}
{{- end -}}
{{- if $policy -}}
{{- $c := .Values.config -}}
{{- if or $c.KVSGATE_JWKS_URL $c.KVSGATE_JWT_ISSUER $c.KVSGATE_JWT_AUDIENCE $c.KVSGATE_JWT_ANY_ISSUER (ne (toString $c.KVSGATE_JWT_GRANTS_CLAIM) "kvs") .Values.jwtHs256Secret.value .Values.jwtHs256Secret.existingSecret -}}
{{- fail "authPolicy: the policy names the issuers, keys and audiences; leave config.KVSGATE_JWKS_URL, KVSGATE_JWT_ISSUER, KVSGATE_JWT_AUDIENCE, KVSGATE_JWT_ANY_ISSUER, KVSGATE_JWT_GRANTS_CLAIM and jwtHs256Secret at their defaults" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.jwtPublicKeys.existingConfigMap (not .Values.jwtPublicKeys.files) (not $policy) -}}
{{- fail "jwtPublicKeys.existingConfigMap: list the PEM keys to use in jwtPublicKeys.files" -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (ne (toString .Values.podDisruptionBudget.maxUnavailable) "") (ne (toString .Values.podDisruptionBudget.minAvailable) "") -}}
{{- fail "podDisruptionBudget: set maxUnavailable or minAvailable, not both" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int64 .Values.autoscaling.minReplicas) (int64 .Values.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling: minReplicas is above maxReplicas" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (not (or .Values.autoscaling.targetCPUUtilizationPercentage .Values.autoscaling.targetMemoryUtilizationPercentage)) -}}
{{- fail "autoscaling: set targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" -}}
{{- end -}}
{{- if and (or .Values.assumeRoleExternalId.value .Values.assumeRoleExternalId.existingSecret) (not .Values.config.KVSGATE_ASSUME_ROLE_ARN) -}}
{{- fail "assumeRoleExternalId needs config.KVSGATE_ASSUME_ROLE_ARN" -}}
{{- end -}}
{{- end -}}
