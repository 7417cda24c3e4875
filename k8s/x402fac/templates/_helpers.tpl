{{- define "x402fac.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "x402fac.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: x402fac
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "x402fac.labels" -}}
{{ include "x402fac.commonLabels" . }}
app.kubernetes.io/name: x402fac
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "gateway"). */}}
{{- define "x402fac.selector" -}}
app.kubernetes.io/name: x402fac
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "x402fac.componentLabels" -}}
{{ include "x402fac.commonLabels" .root }}
{{ include "x402fac.selector" . }}
{{- end -}}

{{- define "x402fac.image" -}}
{{- printf "%s%s:%s" .root.Values.image.prefix .component (.root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{/* The bundled NATS pods' app.kubernetes.io/name and client Service: the nats chart's own rules. */}}
{{- define "x402fac.natsName" -}}
{{- .Values.nats.nameOverride | default "nats" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "x402fac.natsService" -}}
{{- $name := include "x402fac.natsName" . -}}
{{- $full := ternary .Release.Name (printf "%s-%s" .Release.Name $name) (contains $name .Release.Name) -}}
{{- .Values.nats.fullnameOverride | default $full | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The NATS URL list every service connects to. */}}
{{- define "x402fac.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "%s://%s:4222" (ternary "tls" "nats" .Values.natsTls.enabled) (include "x402fac.natsService" .) -}}
{{- else -}}
{{- required "externalNats.urls is required when nats.enabled is false" (join "," .Values.externalNats.urls) -}}
{{- end -}}
{{- end -}}

{{/* How long a pod may take to drain after SIGTERM before it is killed. A gateway answers its settles
in flight within gateway.settleTimeout (+5 s to write them), a worker finishes them by the same
deadline, then each drains its NATS connection (at most 5 s); a ledger's requests are short (its
in-flight wait is 10 s at most). Measured drains and the margins: docs/operations.md. */}}
{{- define "x402fac.drainSeconds" -}}
{{- if eq .component "ledger" -}}
30
{{- else if eq .component "gateway" -}}
{{- add (int (ceil .root.Values.gateway.settleTimeout)) 15 (int .root.Values.gateway.preStopSeconds) -}}
{{- else -}}
{{- add (int (ceil .root.Values.gateway.settleTimeout)) 15 -}}
{{- end -}}
{{- end -}}

{{/* Where a service finds the CA of the NATS servers' certificates (natsTls). */}}
{{- define "x402fac.natsTlsDir" -}}/etc/x402fac/nats-tls{{- end -}}

{{/* A service's own NATS user (its bus role) and password, and the CA it trusts: (dict "root" $ "role" r). */}}
{{- define "x402fac.natsEnv" -}}
- name: X402FAC_NATS_USER
  value: {{ .role | quote }}
- name: X402FAC_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "natsAuth.existingSecret is required: NATS refuses anonymous clients" .root.Values.natsAuth.existingSecret }}
      key: {{ .role }}
{{- if .root.Values.natsTls.enabled }}
- name: X402FAC_NATS_TLS_CA
  value: {{ include "x402fac.natsTlsDir" . }}/ca.crt
{{- end }}
{{- end -}}

{{/* With the bundled NATS, its values must name the same Secrets as natsAuth and natsTls. */}}
{{- define "x402fac.natsSecretsAgree" -}}
{{- if .Values.nats.enabled -}}
{{- range $var, $env := .Values.nats.container.env -}}
{{- if ne $env.valueFrom.secretKeyRef.name $.Values.natsAuth.existingSecret -}}
{{- fail (printf "nats.container.env.%s takes its password from %s, natsAuth.existingSecret is %s" $var $env.valueFrom.secretKeyRef.name $.Values.natsAuth.existingSecret) -}}
{{- end -}}
{{- end -}}
{{- if .Values.natsTls.enabled -}}
{{- $tls := list .Values.nats.config.nats.tls.secretName .Values.nats.config.cluster.tls.secretName .Values.nats.tlsCA.secretName -}}
{{- if or (has false (list .Values.nats.config.nats.tls.enabled .Values.nats.config.cluster.tls.enabled .Values.nats.tlsCA.enabled)) (ne (len (uniq (append $tls .Values.natsTls.secretName))) 1) -}}
{{- fail "with natsTls.enabled, nats.config.nats.tls, nats.config.cluster.tls and nats.tlsCA must be enabled with natsTls.secretName" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Pod-level scheduling and security shared by every Deployment: (dict "root" $ "component" c "spec" values). */}}
{{- define "x402fac.podSpec" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- if .root.Values.topologySpread.enabled }}
topologySpreadConstraints:
  {{- range $key := list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
  - maxSkew: {{ $.root.Values.topologySpread.maxSkew }}
    topologyKey: {{ $key }}
    whenUnsatisfiable: {{ $.root.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "x402fac.selector" $ | nindent 8 }}
  {{- end }}
{{- end }}
{{- with .spec.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
terminationGracePeriodSeconds: {{ include "x402fac.drainSeconds" . }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
  {{- if .root.Values.natsTls.enabled }}
  - name: nats-tls
    secret:
      secretName: {{ .root.Values.natsTls.secretName }}
      items:
        - key: ca.crt
          path: ca.crt
  {{- end }}
{{- end -}}

{{/* The container fields every service shares: (dict "root" $ "component" c "spec" values). */}}
{{- define "x402fac.container" -}}
image: {{ include "x402fac.image" . }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
securityContext:
  {{- toYaml .root.Values.containerSecurityContext | nindent 2 }}
envFrom:
  - configMapRef:
      name: {{ include "x402fac.fullname" .root }}-common
  {{- range .secrets }}
  - secretRef:
      name: {{ . }}
  {{- end }}
resources:
  {{- toYaml .spec.resources | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- if .root.Values.natsTls.enabled }}
  - name: nats-tls
    mountPath: {{ include "x402fac.natsTlsDir" . }}
    readOnly: true
  {{- end }}
ports:
  - name: metrics
    containerPort: {{ .root.Values.metrics.port }}
    protocol: TCP
{{- end -}}

{{/* Probes: liveness on the metrics port, readiness by the service's own check. */}}
{{- define "x402fac.probes" -}}
livenessProbe:
  httpGet:
    path: /metrics
    port: metrics
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  exec:
    command: ["x402fac", "check", {{ .check | quote }}]
  initialDelaySeconds: 5
  periodSeconds: 15
  timeoutSeconds: 10
  failureThreshold: 3
{{- end -}}

{{/* HPA for one component: (dict "root" $ "component" c "spec" values "inflight" bool). */}}
{{- define "x402fac.hpa" -}}
{{- $a := .spec.autoscaling -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "x402fac.fullname" .root }}-{{ .component }}
  labels:
    {{- include "x402fac.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "x402fac.fullname" .root }}-{{ .component }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
    {{- if and .inflight $a.inflight $a.inflight.enabled }}
    - type: Pods
      pods:
        metric:
          name: x402fac_worker_inflight
        target:
          type: AverageValue
          averageValue: {{ $a.inflight.averageValue | quote }}
    {{- end }}
{{- end -}}

{{- define "x402fac.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "x402fac.fullname" .root }}-{{ .component }}
  labels:
    {{- include "x402fac.componentLabels" . | nindent 4 }}
spec:
  {{- if hasKey .spec.pdb "minAvailable" }}
  minAvailable: {{ .spec.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .spec.pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "x402fac.selector" . | nindent 6 }}
{{- end -}}

{{/* A headless Service exposing the metrics port, for the ServiceMonitor. */}}
{{- define "x402fac.metricsService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "x402fac.fullname" .root }}-{{ .component }}-metrics
  labels:
    {{- include "x402fac.componentLabels" . | nindent 4 }}
    x402fac.io/metrics: "true"
spec:
  clusterIP: None
  selector:
    {{- include "x402fac.selector" . | nindent 4 }}
  ports:
    - name: metrics
      port: {{ .root.Values.metrics.port }}
      targetPort: metrics
{{- end -}}
