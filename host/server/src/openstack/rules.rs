//! The rule map: which oslo.policy rule is which action, and how its resource is built from the
//! target oslo.policy sends, with the defaults for what OpenStack cannot carry.
//!
//! The shipped map is `rules.json` beside this file, built in; operators read it as
//! `deploy/openstack/rules.json` (documented in `deploy/openstack/README.md`), a copy a test keeps
//! identical. `--openstack-rules FILE` replaces it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use yungui::bindings::types;
use yungui::vocabulary;

/// The shipped rule map.
pub const SHIPPED: &str = include_str!("rules.json");

/// Link kinds the data contract knows.
const LINK_KINDS: [&str; 4] = ["vpn", "dedicated_line", "peering", "gateway"];

/// Data classes the data contract knows.
const DATA_CLASSES: [&str; 3] = ["personal_info", "important_data", "network_data"];

/// The rule map file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleMap {
    /// Values for the attributes OpenStack does not send.
    pub defaults: Defaults,
    /// External network id → carrier id (a floating IP or router gateway on that network).
    #[serde(default)]
    pub network_carriers: BTreeMap<String, String>,
    /// Cinder volume types that encrypt (a target naming one is `encrypted`).
    #[serde(default)]
    pub encrypted_volume_types: BTreeSet<String>,
    /// oslo.policy rule name → how it is decided.
    pub rules: BTreeMap<String, Rule>,
}

/// One mapped rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The Cedar action, e.g. `provision_workload`.
    pub action: String,
    /// How the resource is built from the target.
    pub resource: ResourceKind,
    /// Defaults for this rule only, over the file's `defaults`.
    #[serde(default)]
    pub defaults: Overrides,
}

/// The resources an OpenStack rule can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// `Cloud::Workload` (a Nova server).
    Workload,
    /// `Cloud::PublicIp` (a floating IP, a router's external gateway).
    PublicIp,
    /// `Cloud::NetworkLink` (a VPN service, an IPsec site connection).
    NetworkLink,
    /// `Cloud::Dataset` (a Cinder volume, a Glance image).
    Dataset,
    /// `Cloud::Backup` with its `Cloud::Dataset` (a Cinder backup).
    Backup,
}

/// What OpenStack cannot carry, every value required so the file documents itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// `Workload.purpose` (Nova carries none).
    pub purpose: String,
    /// `PublicIp.carrier` when `network_carriers` does not name the external network.
    pub carrier: String,
    /// `NetworkLink.kind`.
    pub link_kind: String,
    /// `NetworkLink.remote_in_territory` (where `peer_address` is cannot be known).
    pub remote_in_territory: bool,
    /// `Dataset.classes`.
    pub data_classes: BTreeSet<String>,
    /// `Dataset.subjects_domestic`.
    pub subjects_domestic: bool,
    /// `Dataset.encrypted` when the target says nothing.
    pub encrypted: bool,
    /// `Dataset.backup_enabled`.
    pub backup_enabled: bool,
    /// `Dataset.public` when the target has no `visibility`.
    pub public: bool,
    /// `Dataset.review_hold`.
    pub review_hold: bool,
    /// `Dataset.retention_hold`.
    pub retention_hold: bool,
    /// `Backup.last_copy`.
    pub last_copy: bool,
}

/// The same values for one rule, each optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(
    missing_docs,
    reason = "each field is the one of `Defaults` with the same name"
)]
pub struct Overrides {
    pub purpose: Option<String>,
    pub carrier: Option<String>,
    pub link_kind: Option<String>,
    pub remote_in_territory: Option<bool>,
    pub data_classes: Option<BTreeSet<String>>,
    pub subjects_domestic: Option<bool>,
    pub encrypted: Option<bool>,
    pub backup_enabled: Option<bool>,
    pub public: Option<bool>,
    pub review_hold: Option<bool>,
    pub retention_hold: Option<bool>,
    pub last_copy: Option<bool>,
}

impl Defaults {
    fn with(&self, o: &Overrides) -> Self {
        Self {
            purpose: o.purpose.clone().unwrap_or_else(|| self.purpose.clone()),
            carrier: o.carrier.clone().unwrap_or_else(|| self.carrier.clone()),
            link_kind: o
                .link_kind
                .clone()
                .unwrap_or_else(|| self.link_kind.clone()),
            remote_in_territory: o.remote_in_territory.unwrap_or(self.remote_in_territory),
            data_classes: o
                .data_classes
                .clone()
                .unwrap_or_else(|| self.data_classes.clone()),
            subjects_domestic: o.subjects_domestic.unwrap_or(self.subjects_domestic),
            encrypted: o.encrypted.unwrap_or(self.encrypted),
            backup_enabled: o.backup_enabled.unwrap_or(self.backup_enabled),
            public: o.public.unwrap_or(self.public),
            review_hold: o.review_hold.unwrap_or(self.review_hold),
            retention_hold: o.retention_hold.unwrap_or(self.retention_hold),
            last_copy: o.last_copy.unwrap_or(self.last_copy),
        }
    }

    /// `at` names the map and the rule (or its `defaults`) in the error.
    fn check(&self, at: &str) -> Result<(), RuleMapError> {
        let bad = |problem: BadDefault| RuleMapError::Default {
            at: at.to_owned(),
            problem,
        };
        if self.purpose.is_empty() {
            return Err(bad(BadDefault::NoPurpose));
        }
        if self.carrier.is_empty() {
            return Err(bad(BadDefault::NoCarrier));
        }
        if !LINK_KINDS.contains(&self.link_kind.as_str()) {
            return Err(bad(BadDefault::LinkKind(self.link_kind.clone())));
        }
        if let Some(class) = self
            .data_classes
            .iter()
            .find(|c| !DATA_CLASSES.contains(&c.as_str()))
        {
            return Err(bad(BadDefault::DataClass(class.clone())));
        }
        Ok(())
    }
}

/// Why a rule map cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleMapError {
    /// The file cannot be read.
    #[error("cannot read the OpenStack rule map `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not JSON, or not a rule map: an unknown field, a missing one, a value of the wrong type.
    #[error("the OpenStack rule map {map} is not valid")]
    Invalid {
        /// The map, as errors name it (its file, or the shipped map).
        map: String,
        /// Where, and what.
        #[source]
        source: serde_json::Error,
    },
    /// A rule whose action is empty.
    #[error("the OpenStack rule map {map}: rule `{rule}` has an empty action")]
    EmptyAction {
        /// The map, as errors name it.
        map: String,
        /// The rule.
        rule: String,
    },
    /// A default (of the map, or of one rule) that is empty or outside the data contract.
    #[error("{at}")]
    Default {
        /// The map and the rule, or the map's `defaults`.
        at: String,
        /// What is wrong with it.
        #[source]
        problem: BadDefault,
    },
}

/// What is wrong with a default.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadDefault {
    /// `purpose` is empty.
    #[error("`purpose` is empty: name the purpose Nova servers are for")]
    NoPurpose,
    /// `carrier` is empty.
    #[error("`carrier` is empty: name the carrier of public addresses")]
    NoCarrier,
    /// `link_kind` is none of [`LINK_KINDS`].
    #[error("`link_kind` is `{0}`: use one of {kinds}", kinds = LINK_KINDS.join(", "))]
    LinkKind(String),
    /// A data class outside [`DATA_CLASSES`].
    #[error("data class `{0}` is unknown: use {classes}", classes = DATA_CLASSES.join(", "))]
    DataClass(String),
}

/// Why a check was answered `False` without asking the policies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The rule is not in the map.
    #[error(
        "rule `{0}` is not in the OpenStack rule map: add it to the file of `--openstack-rules` or drop the `http:` check from it"
    )]
    UnknownRule(String),
    /// Neither the credentials nor the target name a project.
    #[error("neither `credentials.project_id` nor `target.project_id` names a project")]
    NoProject,
    /// A project id that is not a string, or is empty.
    #[error("`{0}` is `{1}`, not a project id string")]
    BadProject(&'static str, String),
    /// The target's availability zone is not in the zone map.
    #[error(
        "availability zone `{0}` is not in the zone map: its region is unknown; add it to the file of `--openstack-zone-map`"
    )]
    UnknownZone(String),
}

/// A request built for one check.
#[derive(Debug, Clone)]
pub struct Built {
    /// The request for the component.
    pub request: types::Request,
    /// The tenant (the project id).
    pub tenant: String,
    /// The Cedar action.
    pub action: String,
}

impl RuleMap {
    /// The shipped map.
    pub fn shipped() -> Result<Self, RuleMapError> {
        Self::parse(SHIPPED, "the shipped `deploy/openstack/rules.json`")
    }

    /// A map from its file.
    pub fn from_file(path: &Path) -> Result<Self, RuleMapError> {
        let text = std::fs::read_to_string(path).map_err(|source| RuleMapError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &format!("`{}`", path.display()))
    }

    /// A map from its text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, RuleMapError> {
        let map: Self = serde_json::from_str(text).map_err(|err| RuleMapError::Invalid {
            map: source.to_owned(),
            source: err,
        })?;
        map.defaults
            .check(&format!("the OpenStack rule map {source}: `defaults`"))?;
        for (name, rule) in &map.rules {
            if rule.action.is_empty() {
                return Err(RuleMapError::EmptyAction {
                    map: source.to_owned(),
                    rule: name.clone(),
                });
            }
            map.defaults
                .with(&rule.defaults)
                .check(&format!("the OpenStack rule map {source}: rule `{name}`"))?;
        }
        Ok(map)
    }

    /// The request that decides `rule` for this target and these credentials.
    pub fn build(
        &self,
        rule: &str,
        target: &Map<String, Value>,
        credentials: &Map<String, Value>,
        region_of: &dyn Fn(Option<&str>) -> Result<String, Refusal>,
        now: &str,
    ) -> Result<Built, Refusal> {
        let mapped = self
            .rules
            .get(rule)
            .ok_or_else(|| Refusal::UnknownRule(rule.to_owned()))?;
        for (map, key, name) in [
            (credentials, "project_id", "credentials.project_id"),
            (target, "project_id", "target.project_id"),
            (target, "tenant_id", "target.tenant_id"),
        ] {
            // Not a string, or an empty one: no project, and not a reason to take another field's.
            if let Some(value) = map
                .get(key)
                .filter(|v| !v.is_null() && v.as_str().is_none_or(str::is_empty))
            {
                return Err(Refusal::BadProject(name, value.to_string()));
            }
        }
        let tenant = text(credentials, "project_id")
            .or_else(|| text(target, "project_id"))
            .or_else(|| text(target, "tenant_id"))
            .ok_or(Refusal::NoProject)?
            .to_owned();
        let d = self.defaults.with(&mapped.defaults);
        let region = region_of(zone(target))?;
        let id = text(target, "id").unwrap_or("unnamed").to_owned();
        let mut entities = Vec::new();
        let resource = match mapped.resource {
            ResourceKind::Workload => vocabulary::Workload {
                region: &region,
                purpose: Some(&d.purpose),
                owner: &tenant,
                privileged: false,
                host_access: false,
            }
            .entity(&id),
            ResourceKind::PublicIp => {
                let network = text(target, "floating_network_id").or_else(|| {
                    target
                        .get("external_gateway_info")
                        .and_then(Value::as_object)
                        .and_then(|info| text(info, "network_id"))
                });
                let carrier = network
                    .and_then(|n| self.network_carriers.get(n))
                    .unwrap_or(&d.carrier);
                vocabulary::PublicIp {
                    carrier: Some(carrier),
                    region: &region,
                }
                .entity(&id)
            }
            ResourceKind::NetworkLink => vocabulary::NetworkLink {
                kind: &d.link_kind,
                remote_in_territory: Some(d.remote_in_territory),
            }
            .entity(&id),
            ResourceKind::Dataset => self.dataset(target, &d, &region, &tenant).entity(&id),
            ResourceKind::Backup => {
                let volume = text(target, "volume_id").unwrap_or("unnamed");
                entities.push(self.dataset(target, &d, &region, &tenant).entity(volume));
                vocabulary::Backup {
                    dataset: volume,
                    last_copy: d.last_copy,
                }
                .entity(&id)
            }
        };
        let mut request = vocabulary::request(&tenant, &mapped.action, resource, now);
        request.entities = entities;
        Ok(Built {
            request,
            tenant,
            action: mapped.action.clone(),
        })
    }

    /// The `Cloud::Dataset` of a volume, an image or a backed-up volume.
    fn dataset<'a>(
        &self,
        target: &Map<String, Value>,
        d: &Defaults,
        region: &'a str,
        owner: &'a str,
    ) -> vocabulary::Dataset<'a> {
        let volume_type = text(target, "volume_type").or_else(|| text(target, "volume_type_id"));
        let encrypted = target
            .get("encrypted")
            .and_then(Value::as_bool)
            .or_else(|| {
                volume_type
                    .filter(|t| self.encrypted_volume_types.contains(*t))
                    .map(|_| true)
            })
            .unwrap_or(d.encrypted);
        let public = text(target, "visibility").map_or(d.public, |v| v == "public");
        vocabulary::Dataset {
            region,
            owner,
            classes: Some(d.data_classes.iter().cloned().collect()),
            subjects_domestic: Some(d.subjects_domestic),
            encrypted,
            backup_enabled: d.backup_enabled,
            public,
            review_hold: Some(d.review_hold),
            retention_hold: Some(d.retention_hold),
        }
    }
}

/// The availability zone a target names: `availability_zone`, else the first of
/// `availability_zone_hints` (Neutron routers).
fn zone(target: &Map<String, Value>) -> Option<&str> {
    text(target, "availability_zone").or_else(|| {
        target
            .get("availability_zone_hints")
            .and_then(Value::as_array)
            .and_then(|hints| hints.iter().find_map(Value::as_str))
            .filter(|z| !z.is_empty())
    })
}

/// A non-empty string field.
fn text<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deployment_copy_is_the_shipped_map() {
        let deployed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy/openstack/rules.json");
        assert_eq!(
            std::fs::read_to_string(&deployed).unwrap(),
            SHIPPED,
            "{} differs from host/server/src/openstack/rules.json: copy it over",
            deployed.display()
        );
    }

    #[test]
    fn the_shipped_map_is_valid_and_covers_the_issue() {
        let map = RuleMap::shipped().unwrap();
        for rule in [
            "os_compute_api:servers:create",
            "os_compute_api:servers:rebuild",
            "os_compute_api:servers:resize",
            "create_floatingip",
            "create_router:external_gateway_info",
            "create_vpnservice",
            "create_ipsec_site_connection",
            "volume:create",
            "backup:delete",
            "add_image",
            "upload_image",
        ] {
            assert!(map.rules.contains_key(rule), "{rule}");
        }
    }

    /// The error and its sources, as the command prints them.
    fn chain(err: RuleMapError) -> String {
        crate::error::Chain(&err).to_string()
    }

    #[test]
    fn unknown_fields_and_bad_values_are_named() {
        let text = SHIPPED.replacen("\"purpose\"", "\"porpose\"", 1);
        let err = chain(RuleMap::parse(&text, "`x`").unwrap_err());
        assert!(err.contains("porpose"), "{err}");
        let text = SHIPPED.replacen("\"link_kind\": \"vpn\"", "\"link_kind\": \"tunnel\"", 1);
        let typed = RuleMap::parse(&text, "`x`").unwrap_err();
        assert!(
            matches!(&typed, RuleMapError::Default { problem: BadDefault::LinkKind(kind), .. } if kind == "tunnel"),
            "{typed:?}"
        );
        let err = chain(typed);
        assert!(
            err.contains(
                ": `link_kind` is `tunnel`: use one of vpn, dedicated_line, peering, gateway"
            ),
            "{err}"
        );
        let text = SHIPPED.replacen("\"resource\": \"workload\"", "\"resource\": \"vm\"", 1);
        let err = chain(RuleMap::parse(&text, "`x`").unwrap_err());
        assert!(err.contains("vm"), "{err}");
    }

    #[test]
    fn tenant_falls_back_to_the_target_and_zone_maps_the_region() {
        let map = RuleMap::shipped().unwrap();
        let target: Map<String, Value> =
            serde_json::from_str(r#"{"project_id": "shop-example", "availability_zone": "az-1"}"#)
                .unwrap();
        let region = |z: Option<&str>| match z {
            Some("az-1") => Ok("cn-east-2".to_owned()),
            Some(other) => Err(Refusal::UnknownZone(other.to_owned())),
            None => Ok("cn-north-1".to_owned()),
        };
        let creds = serde_json::from_str(r#"{"project_id": null}"#).unwrap();
        let built = map
            .build(
                "os_compute_api:servers:create",
                &target,
                &creds,
                &region,
                "2026-11-30T08:00:00Z",
            )
            .unwrap();
        assert_eq!(built.tenant, "shop-example");
        assert_eq!(built.action, "provision_workload");
        assert!(
            built
                .request
                .resource
                .attrs
                .iter()
                .any(|a| a.name == "region"
                    && matches!(&a.value, types::Value::Entity(u) if u.id == "cn-east-2"))
        );
        assert_eq!(
            map.build("nope", &target, &creds, &region, "x")
                .unwrap_err(),
            Refusal::UnknownRule("nope".to_owned())
        );
        assert_eq!(
            map.build("volume:create", &Map::new(), &Map::new(), &region, "x")
                .unwrap_err(),
            Refusal::NoProject
        );
        // A zone the map lacks is refused, not put in the default region.
        let abroad: Map<String, Value> = serde_json::from_str(
            r#"{"project_id": "shop-example", "availability_zone": "az-abroad"}"#,
        )
        .unwrap();
        assert_eq!(
            map.build(
                "os_compute_api:servers:create",
                &abroad,
                &creds,
                &region,
                "x"
            )
            .unwrap_err(),
            Refusal::UnknownZone("az-abroad".to_owned())
        );
        // A project id that is not a string, or is empty, is refused, not skipped for the
        // target's.
        for bad in [
            r#"{"project_id": ""}"#,
            r#"{"project_id": 7}"#,
            r#"{"project_id": ["shop-example"]}"#,
            r#"{"project_id": {"id": "x"}}"#,
        ] {
            let creds: Map<String, Value> = serde_json::from_str(bad).unwrap();
            let err = map
                .build(
                    "os_compute_api:servers:create",
                    &target,
                    &creds,
                    &region,
                    "x",
                )
                .unwrap_err();
            assert!(
                matches!(err, Refusal::BadProject("credentials.project_id", _)),
                "{bad}: {err}"
            );
        }
    }
}
