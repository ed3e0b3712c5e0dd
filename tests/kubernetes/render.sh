#!/usr/bin/env bash
# Regenerates the AdmissionReview fixtures of this folder: every object is rendered by the real
# kubectl client, offline (`--dry-run=client`, `--local`), then wrapped in an AdmissionReview v1
# envelope as the API server sends it (CREATE, not a dry run; the tests change what they need).
#
#   apt-get update && apt-get install -y kubernetes-client jq
#   tests/kubernetes/render.sh
set -euo pipefail
cd "$(dirname "$0")"
export KUBECONFIG=/dev/null

# wrap NAME GROUP VERSION KIND RESOURCE < object.json > NAME.json
wrap() {
  jq --arg uid "$(printf '%s' "$1" | sha256sum | cut -c1-8)-0000-4000-8000-000000000000" \
     --arg group "$2" --arg version "$3" --arg kind "$4" --arg resource "$5" '
    {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: {
        uid: $uid,
        kind: {group: $group, version: $version, kind: $kind},
        resource: {group: $group, version: $version, resource: $resource},
        requestKind: {group: $group, version: $version, kind: $kind},
        requestResource: {group: $group, version: $version, resource: $resource},
        name: .metadata.name,
        namespace: .metadata.namespace,
        operation: "CREATE",
        userInfo: {username: "kubernetes-admin", groups: ["system:masters", "system:authenticated"]},
        object: .,
        oldObject: null,
        dryRun: false,
        options: {kind: "CreateOptions", apiVersion: "meta.k8s.io/v1"}
      }
    }' > "$1.json"
}

# wrap_update NAME GROUP VERSION KIND RESOURCE OLD.json < object.json > NAME.json: an UPDATE, with
# the object the API server holds as `oldObject`.
wrap_update() {
  wrap "$1" "$2" "$3" "$4" "$5"
  jq --slurpfile old "$6" '.request.operation = "UPDATE" | .request.oldObject = $old[0]
    | .request.options = {kind: "UpdateOptions", apiVersion: "meta.k8s.io/v1"}' "$1.json" > "$1.json.tmp"
  mv "$1.json.tmp" "$1.json"
}

# A manifest kubectl has no `create` subcommand for, rendered by `kubectl label --local`.
local_render() {
  kubectl label --local -f - -o json "$@"
}

# ---- Pods and pod templates ---------------------------------------------------------------------

# `kubectl run` needs a server even with --dry-run=client: Pods are rendered from a manifest.
local_render app=web yungui.io/purpose=website <<'YAML' | wrap pod-allow "" v1 Pod pods
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop-example}
spec:
  containers: [{name: web, image: "nginx:1.27", ports: [{containerPort: 80}]}]
YAML

local_render yungui.io/purpose=website <<'YAML' | wrap pod-privileged "" v1 Pod pods
apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: shop-example}
spec:
  hostPID: true
  containers: [{name: debug, image: busybox, securityContext: {privileged: true}}]
YAML

# The benchmark's review: a realistic Deployment (3 replicas, resources, probes, labels).
kubectl create deployment web --image=registry.example.cn/shop/web:1.4.2 --replicas=3 --port=8080 \
  -n shop-example --dry-run=client -o json \
  | kubectl patch --local -f - --type=merge -o json -p '{"spec": {"template": {
      "metadata": {"labels": {"yungui.io/purpose": "website", "tier": "frontend"}},
      "spec": {"nodeSelector": {"topology.kubernetes.io/region": "cn-north-1"},
        "containers": [{"name": "web", "image": "registry.example.cn/shop/web:1.4.2",
          "ports": [{"containerPort": 8080}],
          "env": [{"name": "LOG_LEVEL", "value": "info"}],
          "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
          "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
          "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false}}]}}}}' \
  | wrap deployment-allow apps v1 Deployment deployments

# Four controls at once: unverified tenant, no purpose, abroad, privileged with a hostPath.
kubectl create deployment agent --image=busybox -n unverified-example --dry-run=client -o json \
  | kubectl patch --local -f - --type=merge -o json -p '{"spec": {"template": {"spec": {
      "nodeSelector": {"topology.kubernetes.io/region": "eu-west-1"},
      "containers": [{"name": "agent", "image": "busybox", "securityContext": {"privileged": true}}],
      "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}}}}' \
  | wrap deployment-deny-multiple apps v1 Deployment deployments

# A namespace that is not a tenant in the registry.
kubectl create deployment web --image=nginx -n ghost-namespace --dry-run=client -o json \
  | kubectl label --local -f - -o json yungui.io/purpose=website \
  | wrap deployment-unknown-namespace apps v1 Deployment deployments

local_render yungui.io/purpose=website <<'YAML' | wrap statefulset-allow apps v1 StatefulSet statefulsets
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop-example}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "postgres:16"}]
YAML

local_render app=node-exporter <<'YAML' | wrap daemonset-host-network apps v1 DaemonSet daemonsets
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-exporter, namespace: shop-example}
spec:
  selector: {matchLabels: {app: node-exporter}}
  template:
    metadata: {labels: {app: node-exporter, yungui.io/purpose: website}}
    spec:
      hostNetwork: true
      containers: [{name: exporter, image: "prom/node-exporter"}]
YAML

local_render app=web <<'YAML' | wrap replicaset-allow apps v1 ReplicaSet replicasets
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-5d8f7, namespace: shop-example}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, yungui.io/purpose: website}}
    spec:
      containers: [{name: web, image: "nginx:1.27"}]
YAML

kubectl create job report --image=busybox -n corp-example --dry-run=client -o json -- date \
  | kubectl patch --local -f - --type=merge -o json \
      -p '{"spec": {"template": {"metadata": {"labels": {"yungui.io/purpose": "data-analytics"}}}}}' \
  | wrap job-allow batch v1 Job jobs

# No purpose label anywhere: art8-2 denies, naming the label.
kubectl create cronjob nightly --image=busybox --schedule='0 3 * * *' -n corp-example \
  --dry-run=client -o json -- date \
  | wrap cronjob-no-purpose batch v1 CronJob cronjobs

# ---- Services -----------------------------------------------------------------------------------

kubectl create service loadbalancer web --tcp=80:8080 -n shop-example --dry-run=client -o json \
  | kubectl annotate --local -f - -o json yungui.io/carrier=china-telecom \
  | wrap service-lb-allow "" v1 Service services

kubectl create service loadbalancer web --tcp=80:8080 -n shop-example --dry-run=client -o json \
  | kubectl annotate --local -f - -o json yungui.io/carrier=grey-transit \
  | wrap service-lb-unlicensed-carrier "" v1 Service services

kubectl create service clusterip web --tcp=80:8080 -n shop-example --dry-run=client -o json \
  | wrap service-clusterip "" v1 Service services

# ---- Ingress ------------------------------------------------------------------------------------

kubectl create ingress web -n shop-example --class=nginx \
  --rule='www.shop.example.cn/*=web:80' --rule='shop.example.cn/*=web:80' \
  --dry-run=client -o json \
  | wrap ingress-allow networking.k8s.io v1 Ingress ingresses

kubectl create ingress web -n shop-example --class=nginx \
  --rule='www.shop.example.cn/*=web:80' --rule='promo.unfiled.example.com/*=web:80' \
  --rule='cdn.unfiled.example.net/*=web:80' \
  --dry-run=client -o json \
  | wrap ingress-unfiled-hosts networking.k8s.io v1 Ingress ingresses

# ---- PersistentVolumeClaims ---------------------------------------------------------------------

local_render yungui.io/data-class=personal_info <<'YAML' | wrap pvc-allow "" v1 PersistentVolumeClaim persistentvolumeclaims
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: orders
  namespace: shop-example
  annotations: {yungui.io/encrypted: "true", yungui.io/backup: "true"}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: encrypted-ssd
  resources: {requests: {storage: 20Gi}}
YAML

# Personal and important data, unencrypted, without backup, abroad.
local_render yungui.io/data-class=personal_info <<'YAML' | wrap pvc-deny "" v1 PersistentVolumeClaim persistentvolumeclaims
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: users
  namespace: shop-example
  annotations: {yungui.io/data-class: "personal_info,important_data", yungui.io/region: ap-southeast-1}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 5Gi}}
YAML

# ---- Fields that change the outcome (issue 11, item 5) --------------------------------------------

# A region chosen by required node affinity instead of a node selector.
local_render yungui.io/purpose=website <<'YAML' | wrap pod-affinity-abroad "" v1 Pod pods
apiVersion: v1
kind: Pod
metadata: {name: web-eu, namespace: shop-example}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: topology.kubernetes.io/region, operator: In, values: [eu-west-1]}
  containers: [{name: web, image: "nginx:1.27"}]
YAML

# Added capabilities and a host port (art. 12).
local_render yungui.io/purpose=website <<'YAML' | wrap pod-capabilities-host-port "" v1 Pod pods
apiVersion: v1
kind: Pod
metadata: {name: net-tool, namespace: shop-example}
spec:
  containers:
  - name: tool
    image: "nginx:1.27"
    ports: [{containerPort: 80, hostPort: 80}]
    securityContext: {capabilities: {add: [NET_ADMIN, SYS_ADMIN], drop: [ALL]}}
YAML

# Public without a load balancer: a NodePort, and a ClusterIP with externalIPs (art. 6).
kubectl create service nodeport web --tcp=80:8080 -n shop-example --dry-run=client -o json \
  | kubectl annotate --local -f - -o json yungui.io/carrier=grey-transit \
  | wrap service-nodeport-unlicensed-carrier "" v1 Service services

kubectl create service clusterip web --tcp=80:8080 -n shop-example --dry-run=client -o json \
  | kubectl patch --local -f - --type=merge -o json -p '{"spec": {"externalIPs": ["203.0.113.9"]}}' \
  | kubectl annotate --local -f - -o json yungui.io/carrier=grey-transit \
  | wrap service-external-ips-unlicensed-carrier "" v1 Service services

# An Ingress rule without host: every name that resolves to it (art. 8(1)).
kubectl create ingress catch-all -n shop-example --class=nginx --rule='/*=web:80' \
  --dry-run=client -o json \
  | wrap ingress-hostless-rule networking.k8s.io v1 Ingress ingresses

# A default backend serving an unfiled TLS host.
kubectl create ingress promo -n shop-example --class=nginx --default-backend=web:80 \
  --dry-run=client -o json \
  | kubectl patch --local -f - --type=merge -o json \
      -p '{"spec": {"tls": [{"hosts": ["promo.unfiled.example.com"], "secretName": "promo-tls"}]}}' \
  | wrap ingress-default-backend-tls networking.k8s.io v1 Ingress ingresses

# ---- Lifecycle: UPDATE against oldObject --------------------------------------------------------

old=$(mktemp)
trap 'rm -f "$old"' EXIT

# The Deployment controller scales a ReplicaSet to zero: replicas down, its annotation follows.
jq .request.object replicaset-allow.json > "$old"
kubectl patch --local -f "$old" --type=merge -o json -p '{"spec": {"replicas": 0},
    "metadata": {"annotations": {"deployment.kubernetes.io/desired-replicas": "0"}}}' \
  | wrap_update replicaset-scale-to-zero apps v1 ReplicaSet replicasets "$old"

# A tenant's own finalizer holds a deleted Deployment; then it makes the pods privileged.
jq .request.object deployment-allow.json \
  | kubectl patch --local -f - --type=merge -o json -p '{"metadata": {
      "finalizers": ["shop.example.cn/hold"], "deletionTimestamp": "2026-11-30T08:00:00Z",
      "deletionGracePeriodSeconds": 0}}' > "$old"
kubectl patch --local -f "$old" --type=json -o json \
    -p '[{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/privileged", "value": true}]' \
  | wrap_update deployment-deleting-made-privileged apps v1 Deployment deployments "$old"

# A Deployment that breaks four controls, being deleted: its finalizer is removed.
jq .request.object deployment-deny-multiple.json \
  | kubectl patch --local -f - --type=merge -o json -p '{"metadata": {
      "finalizers": ["example.com/cleanup"], "deletionTimestamp": "2026-11-30T08:00:00Z",
      "deletionGracePeriodSeconds": 0}}' > "$old"
kubectl patch --local -f "$old" --type=json -o json -p '[{"op": "remove", "path": "/metadata/finalizers"}]' \
  | wrap_update deployment-deleting-finalizer-removed apps v1 Deployment deployments "$old"

# ---- A kind with no mapping ---------------------------------------------------------------------

kubectl create configmap settings -n shop-example --from-literal=mode=production \
  --dry-run=client -o json \
  | wrap configmap-unmapped "" v1 ConfigMap configmaps
