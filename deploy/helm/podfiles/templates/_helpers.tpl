{{/* <fullname>: the release name, or release-chart when the release name does not contain the chart's */}}
{{- define "podfiles.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 57 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 57 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 57 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "podfiles.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* the agent's objects: DaemonSet, ServiceAccount, ClusterRole, ClusterRoleBinding */}}
{{- define "podfiles.agentName" -}}
{{- printf "%s-agent" (include "podfiles.fullname" .) -}}
{{- end -}}

{{- define "podfiles.serviceAccountName" -}}
{{- default (include "podfiles.agentName" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* selector labels: the same as deploy/ (kustomize), so either can take over from the other */}}
{{- define "podfiles.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podfiles.name" . }}
app.kubernetes.io/component: agent
{{- end -}}

{{- define "podfiles.labels" -}}
{{ include "podfiles.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "podfiles.agentArgs" -}}
- agent
- --port={{ .Values.agent.port }}
- --host={{ .Values.agent.host }}
- --auth={{ .Values.auth.mode }}
- --proc-root={{ .Values.agent.procRoot }}
{{- range .Values.auth.tokenAudiences }}
- --token-audience={{ . }}
{{- end }}
{{- if .Values.auth.jwt.secretName }}
{{- range .Values.auth.jwt.keys }}
- --jwt-key=/etc/podfiles/jwt/{{ . }}
{{- end }}
{{- if .Values.auth.jwt.clientsFile }}
- --auth-clients=/etc/podfiles/jwt/{{ .Values.auth.jwt.clientsFile }}
{{- end }}
{{- end }}
{{- if .Values.tls.secretName }}
- --tls-cert=/etc/podfiles/tls/tls.crt
- --tls-key=/etc/podfiles/tls/tls.key
{{- if .Values.tls.allowCleartext }}
- --allow-cleartext
{{- end }}
{{- end }}
{{- if not .Values.clientCertificates.enabled }}
- --client-ca-file=none
{{- end }}
{{- if .Values.nameOverride }}
- --agent-selector=app.kubernetes.io/name={{ include "podfiles.name" . }},app.kubernetes.io/component=agent
{{- end }}
{{- if .Values.execFallback.enabled }}
- --exec-fallback
{{- if .Values.execFallback.readsViaKubelet }}
- --exec-reads-via-kubelet
{{- end }}
{{- end }}
{{- range .Values.agent.extraArgs }}
- {{ . }}
{{- end }}
{{- end -}}
