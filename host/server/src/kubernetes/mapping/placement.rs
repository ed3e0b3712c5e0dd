//! Where a pod may run and where a claim's data may be: the node labels and fields that name a
//! region, a zone or a node ([`regions`]), the storage class ([`claim_regions`]), resolved through
//! the operator's [`Topology`]. A region that cannot be named is [`ANY_REGION`] or an
//! [`unknown_region`]: no registry holds it, so unknown never allows.

use std::collections::BTreeMap;

use kube_core::DynamicObject;
use serde_json::Value;

use super::{Context, REGION, annotation};

/// Node label: the node's region.
pub const NODE_REGION: &str = "topology.kubernetes.io/region";
/// Node label: the node's region, by its deprecated name (still set by some providers, and still
/// matched by the scheduler).
pub const DEPRECATED_REGION: &str = "failure-domain.beta.kubernetes.io/region";
/// Node label: the node's zone.
pub const NODE_ZONE: &str = "topology.kubernetes.io/zone";
/// Node label: the node's zone, by its deprecated name.
pub const DEPRECATED_ZONE: &str = "failure-domain.beta.kubernetes.io/zone";
/// Node label: the node's host name (the node's name, unless the kubelet was told otherwise).
pub const NODE_HOSTNAME: &str = "kubernetes.io/hostname";
/// The node field a `matchFields` requirement may name (the only one the API server accepts).
pub const NODE_NAME_FIELD: &str = "metadata.name";

/// A region that cannot be named: a node affinity term that allows regions by exclusion or
/// existence (`NotIn`, `Exists`...). No registry holds it, so the request is denied
/// (`registry-missing`), naming it.
pub const ANY_REGION: &str = "*";

/// How a region the operator's maps cannot resolve begins: `unknown:zone/eu-1a`,
/// `unknown:node/worker-7`, `unknown:storage class/standard`. No registry holds such a region, so
/// the request is denied (`registry-missing`) naming what has no known region: unknown never
/// allows.
pub const UNKNOWN_REGION: &str = "unknown:";

/// A region no map resolves: `unknown:{what}/{name}` (see [`UNKNOWN_REGION`]).
pub fn unknown_region(what: &str, name: &str) -> String {
    format!("{UNKNOWN_REGION}{what}/{name}")
}

/// What the cluster spans, as the operator says (`--cluster-zone-map`, `--cluster-node-map`,
/// `--storage-class-map`; each a [`crate::region_map`] file). Every map follows one rule:
/// without it, what it would name can be anywhere the cluster is ([`Topology::regions`]); with it,
/// a name it lacks is unknown ([`unknown_region`]) and denied.
///
/// Empty (the default), the cluster is in one region, `--cluster-region`: zones and nodes do not
/// change where a pod runs, and every storage class keeps its data there. Only a node label that
/// names a region (`topology.kubernetes.io/region` and its deprecated twin) places a pod
/// elsewhere.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Zone (`topology.kubernetes.io/zone`, `failure-domain.beta.kubernetes.io/zone`) → region.
    pub zones: BTreeMap<String, String>,
    /// Node (`spec.nodeName`, `kubernetes.io/hostname`, `matchFields` on `metadata.name`) → region.
    pub nodes: BTreeMap<String, String>,
    /// Storage class (a claim's `storageClassName`) → the region its volumes are in.
    pub storage_classes: BTreeMap<String, String>,
}

impl Topology {
    /// The maps in these files; each left out is empty. A file that cannot be read or is not a
    /// map of names to regions is an error naming the file and the option.
    pub fn load(
        zones: Option<&std::path::Path>,
        nodes: Option<&std::path::Path>,
        storage_classes: Option<&std::path::Path>,
    ) -> Result<Self, crate::RegionMapError> {
        use crate::region_map::read;
        let map = |path: Option<&std::path::Path>, what: &str, flag: &str| {
            path.map_or_else(|| Ok(BTreeMap::new()), |p| read(p, what, flag))
        };
        Ok(Self {
            zones: map(zones, "zone", "--cluster-zone-map")?,
            nodes: map(nodes, "node", "--cluster-node-map")?,
            storage_classes: map(storage_classes, "storage class", "--storage-class-map")?,
        })
    }

    /// Whether the cluster's nodes span regions: a zone or node map is given.
    pub fn spans_regions(&self) -> bool {
        !self.zones.is_empty() || !self.nodes.is_empty()
    }

    /// Every region a pod of the cluster may run in: the regions of the zone and node maps, in
    /// order, each once; `cluster_region` alone in a one-region cluster.
    pub fn regions(&self, cluster_region: &str) -> Vec<String> {
        if !self.spans_regions() {
            return vec![cluster_region.to_owned()];
        }
        let mut out: Vec<String> = Vec::new();
        for region in self.zones.values().chain(self.nodes.values()) {
            if !out.contains(region) {
                out.push(region.clone());
            }
        }
        out
    }

    /// The region of a name in `map`: the map's, or unknown when the map lacks it; `None` (no
    /// constraint: anywhere the cluster is) without a map.
    fn resolve(map: &BTreeMap<String, String>, what: &str, name: &str) -> Option<String> {
        if map.is_empty() {
            return None;
        }
        Some(
            map.get(name)
                .cloned()
                .unwrap_or_else(|| unknown_region(what, name)),
        )
    }
}

/// The regions a node requirement allows: `None` when it does not constrain the region, else
/// the list (which may hold [`ANY_REGION`] or unknown regions, see [`vague`]).
type Allowed = Option<Vec<String>>;

/// A region that stands for regions that cannot be named: [`ANY_REGION`] or an unknown one.
fn vague(region: &str) -> bool {
    region == ANY_REGION || region.starts_with(UNKNOWN_REGION)
}

/// Both requirements hold: the regions both allow. A vague region may be any region, so it
/// meets every named region of the other side; two vague sides keep their vague regions (they
/// are denied, naming them).
fn meet(a: Allowed, b: Allowed) -> Allowed {
    let (a, b) = match (a, b) {
        (None, other) | (other, None) => return other,
        (Some(a), Some(b)) => (a, b),
    };
    let a_vague = a.iter().any(|r| vague(r));
    let b_vague = b.iter().any(|r| vague(r));
    let mut out: Vec<String> = Vec::new();
    let mut add = |region: &String| {
        if !out.contains(region) {
            out.push(region.clone());
        }
    };
    for region in a.iter().filter(|r| !vague(r)) {
        if b_vague || b.contains(region) {
            add(region);
        }
    }
    for region in b.iter().filter(|r| !vague(r)) {
        if a_vague {
            add(region);
        }
    }
    if a_vague && b_vague {
        a.iter().chain(&b).filter(|r| vague(r)).for_each(&mut add);
    }
    Some(out)
}

/// The regions one requirement on a node label or field allows (`key` `operator` `values`):
/// region labels name them, zone labels and node names are resolved through the operator's maps.
/// `None` when `key` says nothing about the region, or names zones or nodes without a map for
/// them (they are anywhere the cluster is).
fn requirement(key: &str, operator: Option<&str>, values: &[&str], topology: &Topology) -> Allowed {
    let (map, what) = match key {
        NODE_REGION | DEPRECATED_REGION => {
            return Some(match operator {
                Some("In") => values.iter().map(|v| (*v).to_owned()).collect(),
                _ => vec![ANY_REGION.to_owned()],
            });
        }
        NODE_ZONE | DEPRECATED_ZONE => (&topology.zones, "zone"),
        NODE_HOSTNAME | NODE_NAME_FIELD => (&topology.nodes, "node"),
        _ => return None,
    };
    if map.is_empty() {
        return None;
    }
    Some(match operator {
        Some("In") => values
            .iter()
            .filter_map(|v| Topology::resolve(map, what, v))
            .collect(),
        _ => vec![ANY_REGION.to_owned()],
    })
}

/// The requirements of one node selector term, all of which hold: its `matchExpressions` (node
/// labels) and `matchFields` (`metadata.name`).
fn term_regions(term: &Value, topology: &Topology) -> Allowed {
    let mut allowed: Allowed = None;
    for list in ["matchExpressions", "matchFields"] {
        for expression in term
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(key) = expression.get("key").and_then(Value::as_str) else {
                continue;
            };
            // A label named `metadata.name` is a label, not the node's name.
            if (list == "matchFields") != (key == NODE_NAME_FIELD) {
                continue;
            }
            let values: Vec<&str> = expression
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let operator = expression.get("operator").and_then(Value::as_str);
            allowed = meet(allowed, requirement(key, operator, &values, topology));
        }
    }
    allowed
}

/// The regions a pod may be scheduled in. What its node must match, all at once: its
/// `nodeSelector` (region, zone and host name labels, by current and deprecated names), its
/// `spec.nodeName`, and one of its required node affinity terms (each term is one way to
/// schedule; `matchExpressions` on those labels and `matchFields` on `metadata.name`). `In` names
/// regions, zones or nodes, any other operator on those keys allows [`ANY_REGION`]. Zones and
/// nodes are resolved through the operator's [`Topology`] (a name it lacks is an unknown region);
/// in a one-region cluster they do not constrain the region.
///
/// A way to schedule that does not constrain the region is every region of the cluster
/// ([`Topology::regions`]: the cluster's region, in a one-region cluster). The regions its
/// preferred terms name (within the node selector) are places the pod may go too.
/// `topologySpreadConstraints` and pod (anti-)affinity only choose among the nodes these allow,
/// so they add no region. Never none: a pod whose requirements allow no region is decided in
/// every region of the cluster.
pub fn regions(spec: &Value, cluster_region: &str, topology: &Topology) -> Vec<String> {
    let mut base: Allowed = None;
    if let Some(selector) = spec.get("nodeSelector").and_then(Value::as_object) {
        // Labels only: a label named `metadata.name` is not the node's name.
        for (key, value) in selector.iter().filter(|(k, _)| *k != NODE_NAME_FIELD) {
            let value = value.as_str().unwrap_or_default();
            base = meet(base, requirement(key, Some("In"), &[value], topology));
        }
    }
    if let Some(node) = spec
        .get("nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        base = meet(
            base,
            requirement(NODE_NAME_FIELD, Some("In"), &[node], topology),
        );
    }
    let affinity = spec.pointer("/affinity/nodeAffinity");
    let terms = |pointer: &str| {
        affinity
            .and_then(|a| a.pointer(pointer))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let everywhere = topology.regions(cluster_region);
    let mut out: Vec<String> = Vec::new();
    let mut add = |regions: &[String]| {
        for region in regions {
            if !out.contains(region) {
                out.push(region.clone());
            }
        }
    };
    let required = terms("/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms");
    let ways: Vec<Allowed> = if required.is_empty() {
        vec![base.clone()]
    } else {
        required
            .iter()
            .map(|term| meet(base.clone(), term_regions(term, topology)))
            .collect()
    };
    for way in ways {
        match way {
            None => add(&everywhere),
            Some(regions) => add(&regions),
        }
    }
    for preferred in terms("/preferredDuringSchedulingIgnoredDuringExecution") {
        let preference = preferred
            .get("preference")
            .and_then(|p| term_regions(p, topology));
        if preference.is_some()
            && let Some(regions) = meet(base.clone(), preference)
        {
            add(&regions);
        }
    }
    // No way can be met (requirements that exclude one another): the pod can run nowhere, yet it
    // is decided, everywhere, so that no other control is skipped. Without a region there would
    // be no request, and the pod would be allowed unseen.
    if out.is_empty() {
        return everywhere;
    }
    out
}

/// The regions a PersistentVolumeClaim's data may be in. The operator's storage class map
/// decides (`--storage-class-map`): the claim's `storageClassName` there, or unknown when the
/// map lacks it (or the claim names no class); without a map, every region of the cluster
/// (the cluster's region, in a one-region cluster). A `volumeName` binds only a volume of the
/// claim's class, so the class decides for it too.
///
/// The tenant's `yungui.io/region` annotation is the tenant's word, not the operator's: it never
/// replaces the class's region (a tenant could name a domestic region for a class whose volumes
/// are abroad). A region it names is decided as well: a tenant that says its data is there is
/// held to it.
pub fn claim_regions(object: &DynamicObject, cx: &Context<'_>) -> Vec<String> {
    let class = object
        .data
        .pointer("/spec/storageClassName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let classes = &cx.topology.storage_classes;
    let mut out = if classes.is_empty() {
        cx.topology.regions(cx.cluster_region)
    } else if class.is_empty() {
        vec![unknown_region("storage class", "(none)")]
    } else {
        vec![
            Topology::resolve(classes, "storage class", class)
                .unwrap_or_else(|| unknown_region("storage class", class)),
        ]
    };
    if let Some(region) = annotation(object, REGION)
        && !out.iter().any(|r| r == region)
    {
        out.push(region.to_owned());
    }
    out
}

/// What an item is about, when its object makes several or its region is unknown.
pub(super) fn region_subject(region: &str, several: bool) -> Option<String> {
    if let Some(what) = region.strip_prefix(UNKNOWN_REGION) {
        let (what, name) = what.split_once('/').unwrap_or((what, ""));
        return Some(format!(
            "region unknown ({what} `{name}` is in no region of the operator's {what} map)"
        ));
    }
    several.then(|| format!("region `{region}`"))
}
