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
    }
    # A pod named by its controller (`generateName`) has no name yet: the API server leaves it out.
    | if .request.name == null then del(.request.name) else . end' > "$1.json"
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

# ---- Placement by other keys (issue 17, item 2) ---------------------------------------------------

# The deprecated region label, naming a region abroad.
local_render yungui.io/purpose=website <<'YAML' | wrap pod-deprecated-region-abroad "" v1 Pod pods
apiVersion: v1
kind: Pod
metadata: {name: web-eu, namespace: shop-example}
spec:
  nodeSelector: {failure-domain.beta.kubernetes.io/region: eu-west-1}
  containers: [{name: web, image: "nginx:1.27"}]
YAML

# A pod as the DaemonSet controller creates it: pinned to one node by `matchFields`.
local_render app=node-agent yungui.io/purpose=website controller-revision-hash=6d4b8c9f7 pod-template-generation=1 <<'YAML' | wrap pod-daemonset-pinned "" v1 Pod pods
apiVersion: v1
kind: Pod
metadata:
  generateName: node-agent-
  namespace: shop-example
  ownerReferences:
  - {apiVersion: apps/v1, kind: DaemonSet, name: node-agent, uid: 0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d, controller: true, blockOwnerDeletion: true}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchFields:
          - {key: metadata.name, operator: In, values: [cn-node-1]}
  tolerations:
  - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute}
  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute}
  containers: [{name: agent, image: "registry.example.cn/shop/agent:2.0"}]
YAML

# Pinned by node name and by zone.
local_render yungui.io/purpose=website <<'YAML' | wrap pod-node-name "" v1 Pod pods
apiVersion: v1
kind: Pod
metadata: {name: web-pinned, namespace: shop-example}
spec:
  nodeName: eu-node-1
  containers: [{name: web, image: "nginx:1.27"}]
YAML

kubectl create deployment web --image=nginx:1.27 -n shop-example --dry-run=client -o json \
  | kubectl patch --local -f - --type=merge -o json -p '{"spec": {"template": {
      "metadata": {"labels": {"yungui.io/purpose": "website"}},
      "spec": {"nodeSelector": {"topology.kubernetes.io/zone": "eu-west-1a"}}}}}' \
  | wrap deployment-zone apps v1 Deployment deployments

# ---- Host security: the Pod Security Standards baseline (issue 17, item 4) -------------------------

# Only allowed values: seccomp and AppArmor RuntimeDefault, an allowed capability, a safe sysctl,
# the container SELinux type.
local_render yungui.io/purpose=website <<'YAML' | wrap pod-baseline-allowed "" v1 Pod pods
apiVersion: v1
kind: Pod
metadata: {name: web-hardened, namespace: shop-example}
spec:
  securityContext:
    seccompProfile: {type: RuntimeDefault}
    appArmorProfile: {type: RuntimeDefault}
    seLinuxOptions: {type: container_t, level: "s0:c123,c456"}
    sysctls: [{name: net.ipv4.tcp_keepalive_time, value: "600"}]
  containers:
  - name: web
    image: "nginx:1.27"
    ports: [{containerPort: 80}]
    securityContext:
      capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}
      procMount: Default
YAML

# Confinement lifted without `privileged`: seccomp and AppArmor unconfined, spc_t, an unmasked
# /proc, a host-wide sysctl.
kubectl create deployment escape --image=busybox -n shop-example --dry-run=client -o json \
  | kubectl patch --local -f - --type=merge -o json -p '{"spec": {"template": {
      "metadata": {"labels": {"yungui.io/purpose": "website"},
        "annotations": {"container.apparmor.security.beta.kubernetes.io/busybox": "unconfined"}},
      "spec": {"securityContext": {"seccompProfile": {"type": "Unconfined"},
          "sysctls": [{"name": "kernel.msgmax", "value": "65536"}]},
        "containers": [{"name": "busybox", "image": "busybox",
          "securityContext": {"seLinuxOptions": {"type": "spc_t"}, "procMount": "Unmasked"}}]}}}}' \
  | wrap deployment-baseline-unconfined apps v1 Deployment deployments
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

# ---- Gateway API (gateway.networking.k8s.io) ------------------------------------------------------
# The Gateway API's published examples (examples/standard), in this project's namespaces and names,
# with the defaults the API server's CRD schemas fill in before admission (listeners'
# `allowedRoutes`, `parentRefs`' group and kind, a rule's default `PathPrefix /` match,
# `backendRefs`' group, kind and weight). kubectl renders them without the CRDs (`--local`).

local_render app=web <<'YAML' | wrap gateway-allow gateway.networking.k8s.io v1 Gateway gateways
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
  namespace: shop-example
  annotations: {yungui.io/carrier: china-telecom}
spec:
  gatewayClassName: example
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    hostname: www.shop.example.cn
    allowedRoutes: {namespaces: {from: Same}}
  - name: https
    port: 443
    protocol: HTTPS
    hostname: "*.shop.example.cn"
    tls:
      mode: Terminate
      certificateRefs: [{group: "", kind: Secret, name: shop-example-cn}]
    allowedRoutes: {namespaces: {from: Same}}
  - name: postgres
    port: 5432
    protocol: TCP
    allowedRoutes: {namespaces: {from: Same}}
YAML

# examples/standard/simple-http-https/gateway.yaml plus a listener without hostname: every name
# (`*`), unfiled names, and an unlicensed carrier.
local_render app=web <<'YAML' | wrap gateway-unfiled-hosts gateway.networking.k8s.io v1 Gateway gateways
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: example-gateway
  namespace: shop-example
  annotations: {yungui.io/carrier: grey-transit}
spec:
  gatewayClassName: prod
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    hostname: "*.example.com"
    allowedRoutes: {namespaces: {from: Same}}
  - name: https-default-tls-mode
    port: 8443
    protocol: HTTPS
    hostname: "*.foo.com"
    tls:
      mode: Terminate
      certificateRefs: [{group: "", kind: Secret, name: foo-com}]
    allowedRoutes: {namespaces: {from: Same}}
  - name: any-name
    port: 8080
    protocol: HTTP
    allowedRoutes: {namespaces: {from: Same}}
YAML

local_render app=web <<'YAML' | wrap httproute-allow gateway.networking.k8s.io v1 HTTPRoute httproutes
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop-example}
spec:
  parentRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web}]
  hostnames: [www.shop.example.cn, "shop.example.cn"]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{group: "", kind: Service, name: web, port: 8080, weight: 1}]
YAML

# examples/standard/http-route-attachment/httproute.yaml: no hostnames, so every name the listener
# allows (`*`, as an Ingress rule without host).
local_render app=web <<'YAML' | wrap httproute-hostless gateway.networking.k8s.io v1 HTTPRoute httproutes
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: my-route, namespace: shop-example}
spec:
  parentRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{group: "", kind: Service, name: web, port: 8080, weight: 1}]
YAML

# examples/standard/grpc-routing/foo-grpcroute.yaml.
local_render app=web <<'YAML' | wrap grpcroute-unfiled gateway.networking.k8s.io v1 GRPCRoute grpcroutes
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: foo-route, namespace: shop-example}
spec:
  parentRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: example-gateway}]
  hostnames: ["foo.example.com"]
  rules:
  - matches: [{method: {type: Exact, service: com.example, method: Login}}]
    backendRefs: [{group: "", kind: Service, name: foo-svc, port: 50051, weight: 1}]
YAML

# examples/standard/tls-routing/tls-route.yaml, as served at v1alpha2 (the version older
# installations serve).
local_render app=web <<'YAML' | wrap tlsroute-unfiled gateway.networking.k8s.io v1alpha2 TLSRoute tlsroutes
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: foo-route, namespace: shop-example}
spec:
  parentRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: example-gateway, sectionName: tls}]
  hostnames: ["foo.example.com"]
  rules:
  - backendRefs: [{group: "", kind: Service, name: foo-svc, port: 443, weight: 1}]
YAML

# examples/standard/listenerset/listenerset.yaml: listeners added to a Gateway.
local_render app=web <<'YAML' | wrap listenerset-unfiled gateway.networking.k8s.io v1 ListenerSet listenersets
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: first-workload-listeners, namespace: shop-example}
spec:
  parentRef: {group: gateway.networking.k8s.io, kind: Gateway, name: web}
  listeners:
  - name: first
    hostname: first.foo.com
    protocol: HTTPS
    port: 443
    tls:
      mode: Terminate
      certificateRefs: [{group: "", kind: Secret, name: first-workload-cert}]
    allowedRoutes: {namespaces: {from: Same}}
YAML

# ---- Hosts named by annotations -----------------------------------------------------------------

# ingress-nginx serves the Ingress under the `server-alias` names too.
kubectl create ingress web -n shop-example --class=nginx --rule='www.shop.example.cn/*=web:80' \
  --annotation='nginx.ingress.kubernetes.io/server-alias=shop.example.cn, promo.unfiled.example.com' \
  --dry-run=client -o json \
  | wrap ingress-server-alias networking.k8s.io v1 Ingress ingresses

# external-dns publishes the load balancer's address under the `hostname` names.
kubectl create service loadbalancer web --tcp=80:8080 -n shop-example --dry-run=client -o json \
  | kubectl annotate --local -f - -o json yungui.io/carrier=china-telecom \
      external-dns.alpha.kubernetes.io/hostname=www.shop.example.cn,cdn.unfiled.example.net \
  | wrap service-external-dns-unfiled "" v1 Service services

# ---- Namespaces ---------------------------------------------------------------------------------

# A namespace opted into enforcement; the tests relabel it as tenants and admins would.
kubectl create namespace shop-example --dry-run=client -o json \
  | kubectl label --local -f - -o json yungui.io/mode=enforce \
  | wrap namespace-enforce "" v1 Namespace namespaces
# A cluster-scoped object: the API server sends no namespace for a CREATE.
jq 'del(.request.namespace)' namespace-enforce.json > namespace-enforce.json.tmp
mv namespace-enforce.json.tmp namespace-enforce.json

# ---- Placing a pod on a node: pods/binding ------------------------------------------------------

# A tenant's user binds its pod to a node itself (the scheduler would have honoured the pod's node
# constraints), as the API server sends the `pods/binding` subresource.
local_render app=web <<'YAML' | wrap pod-binding "" v1 Binding pods
apiVersion: v1
kind: Binding
metadata: {name: web, namespace: shop-example}
target: {apiVersion: v1, kind: Node, name: eu-node-1}
YAML
# (`kubectl label --local` needs a label to render; a Binding carries none.)
jq '.request.subResource = "binding" | .request.requestSubResource = "binding"
  | del(.request.object.metadata.labels)
  | .request.kind = {group: "", version: "v1", kind: "Binding"}
  | .request.requestKind = .request.kind
  | .request.userInfo = {username: "system:serviceaccount:shop-example:deployer",
      groups: ["system:serviceaccounts", "system:serviceaccounts:shop-example", "system:authenticated"]}' \
  pod-binding.json > pod-binding.json.tmp
mv pod-binding.json.tmp pod-binding.json
