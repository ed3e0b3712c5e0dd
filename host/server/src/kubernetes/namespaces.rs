//! Who a namespace belongs to ([`Tenancy`]), and who may change the `yungui.io/*` labels of a
//! Namespace, `yungui.io/mode` above all: the label that turns enforcement on, to warnings, to
//! audit, or off ([`decide`]).

use std::collections::BTreeMap;

use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, Operation};

use super::{MODE_LABEL, Mode};

/// The labels only the label admins may change.
pub const LABEL_PREFIX: &str = "yungui.io/";

/// The control id of a refused label change, in the decision log and the answer.
pub const LABEL_GUARD: &str = "namespace-label-guard";

/// The control id of a namespace that no registry entity maps to a tenant.
pub const UNLISTED: &str = "namespace-unlisted";

/// How a namespace's tenant is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tenancy {
    /// A `Cloud::Namespace` entity's parent; a namespace the registry does not list is the tenant
    /// of the same name. Safe only where tenants cannot create namespaces of their choosing.
    #[default]
    SameName,
    /// Only a `Cloud::Namespace` entity's parent: a namespace the registry does not list is denied.
    Registry,
}

impl Tenancy {
    /// Every value, as the option spells it.
    pub const ALL: [(&'static str, Tenancy); 2] = [
        ("registry", Tenancy::Registry),
        ("same-name", Tenancy::SameName),
    ];

    /// The value an option names.
    pub fn parse(value: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, tenancy)| *tenancy)
            .ok_or_else(|| {
                format!("unknown namespace tenancy `{value}`: use `registry` or `same-name`")
            })
    }

    /// The option's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registry => "registry",
            Self::SameName => "same-name",
        }
    }
}

/// The Kubernetes front end's settings for namespaces.
#[derive(Debug, Clone)]
pub struct Namespaces {
    /// How a namespace's tenant is found.
    pub tenancy: Tenancy,
    /// Users (`userInfo.username`, e.g. `system:serviceaccount:ns:name`) who may change a
    /// namespace's `yungui.io/*` labels.
    pub label_admin_users: Vec<String>,
    /// Groups (`userInfo.groups`) whose members may change them.
    pub label_admin_groups: Vec<String>,
    /// Whether a namespace must be created with a `yungui.io/mode` label (label admins excepted).
    pub require_mode_label: bool,
}

impl Default for Namespaces {
    fn default() -> Self {
        Self {
            tenancy: Tenancy::default(),
            label_admin_users: Vec::new(),
            label_admin_groups: vec!["system:masters".to_owned()],
            require_mode_label: false,
        }
    }
}

/// What a Namespace review comes to.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing yungui guards changes, or a label admin changes it.
    Allowed,
    /// Refused: why, in English and in Chinese.
    Denied(String, String),
    /// `yungui.io/mode` set to a value of no [`Mode`].
    UnknownMode(String),
}

/// Decides a review of a Namespace: a `yungui.io/*` label added, changed or removed by anyone but
/// a label admin is denied, except `yungui.io/mode` set to `enforce` (it can only tighten); a
/// `yungui.io/mode` value of no mode is refused for everyone; with
/// [`Namespaces::require_mode_label`], a namespace created without `yungui.io/mode` is denied
/// (label admins excepted). DELETE, CONNECT and the namespaces in `exempt` are allowed.
pub fn decide(
    config: &Namespaces,
    exempt: &[String],
    request: &AdmissionRequest<DynamicObject>,
) -> Result<Verdict, String> {
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return Ok(Verdict::Allowed);
    }
    let Some(object) = &request.object else {
        return Err(format!(
            "the {:?} review of a Namespace has no `request.object`",
            request.operation
        ));
    };
    let name = object
        .metadata
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(&request.name);
    if exempt.iter().any(|e| e == name) {
        return Ok(Verdict::Allowed);
    }
    let empty = BTreeMap::new();
    let old = match (&request.operation, &request.old_object) {
        (Operation::Update, Some(old)) => old.metadata.labels.as_ref().unwrap_or(&empty),
        (Operation::Update, None) => {
            return Err("the UPDATE review of a Namespace has no `request.oldObject`".to_owned());
        }
        _ => &empty,
    };
    let new = object.metadata.labels.as_ref().unwrap_or(&empty);
    let changed: Vec<(&str, Option<&str>, Option<&str>)> = old
        .keys()
        .chain(new.keys())
        .filter(|k| k.starts_with(LABEL_PREFIX))
        .map(|k| {
            (
                k.as_str(),
                old.get(k).map(String::as_str),
                new.get(k).map(String::as_str),
            )
        })
        .filter(|(_, before, after)| before != after)
        .fold(Vec::new(), |mut out, change| {
            if !out.iter().any(|(k, _, _)| *k == change.0) {
                out.push(change);
            }
            out
        });
    if let Some((_, _, Some(value))) = changed.iter().find(|(k, _, _)| *k == MODE_LABEL)
        && Mode::parse(value).is_err()
    {
        return Ok(Verdict::UnknownMode((*value).to_owned()));
    }
    let user = request.user_info.username.as_deref().unwrap_or_default();
    let groups = request.user_info.groups.as_deref().unwrap_or_default();
    let admin = config.label_admin_users.iter().any(|u| u == user)
        || groups.iter().any(|g| config.label_admin_groups.contains(g));
    if admin {
        return Ok(Verdict::Allowed);
    }
    let enforce = Mode::Enforce.as_str();
    let admins = admins(config);
    for (key, before, after) in &changed {
        if *key == MODE_LABEL && *after == Some(enforce) {
            continue;
        }
        let what = match (before, after) {
            (None, Some(v)) => format!("set `{key}={v}` on"),
            (Some(b), Some(v)) => format!("change `{key}` from `{b}` to `{v}` on"),
            (Some(b), None) => format!("remove `{key}={b}` from"),
            (None, None) => continue,
        };
        return Ok(Verdict::Denied(
            format!(
                "`{user}` may not {what} namespace `{name}`: only {admins} may change `{LABEL_PREFIX}*` labels (anyone may set `{MODE_LABEL}={enforce}`)"
            ),
            format!(
                "只有 yungui 配置的标签管理员可更改命名空间 `{name}` 的 `{LABEL_PREFIX}*` 标签（任何人都可设置 `{MODE_LABEL}={enforce}`）"
            ),
        ));
    }
    if config.require_mode_label
        && request.operation == Operation::Create
        && !new.contains_key(MODE_LABEL)
    {
        return Ok(Verdict::Denied(
            format!(
                "namespace `{name}` must be created with the label `{MODE_LABEL}` (the webhook is run with `--require-mode-label`): add `{MODE_LABEL}={enforce}`, or ask {admins} to create it"
            ),
            format!(
                "命名空间 `{name}` 创建时须带标签 `{MODE_LABEL}`，例如 `{MODE_LABEL}={enforce}`"
            ),
        ));
    }
    Ok(Verdict::Allowed)
}

/// `users `a`, groups `system:masters``, as configured.
fn admins(config: &Namespaces) -> String {
    let list = |names: &[String]| {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (
        config.label_admin_users.is_empty(),
        config.label_admin_groups.is_empty(),
    ) {
        (true, true) => {
            "the label admins (none configured: `--label-admin-user`, `--label-admin-group`)"
                .to_owned()
        }
        (false, true) => format!("users {}", list(&config.label_admin_users)),
        (true, false) => format!("groups {}", list(&config.label_admin_groups)),
        (false, false) => format!(
            "users {} and groups {}",
            list(&config.label_admin_users),
            list(&config.label_admin_groups)
        ),
    }
}

/// Why a namespace the registry does not list is denied under [`Tenancy::Registry`], in English
/// and in Chinese.
pub fn unlisted(namespace: &str) -> (String, String) {
    (
        format!(
            "namespace `{namespace}` is not mapped to a tenant in the yungui registry (namespace tenancy `registry`): add a `Cloud::Namespace::\"{namespace}\"` entity whose parent is the `Cloud::Tenant` that owns it"
        ),
        format!(
            "命名空间 `{namespace}` 未在 yungui 登记簿中映射到租户：请添加 `Cloud::Namespace::\"{namespace}\"` 实体，其父实体为拥有它的租户"
        ),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn review(operation: &str, old: Value, new: Value, user: &str, groups: &[&str]) -> Value {
        json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u", "kind": {"group": "", "version": "v1", "kind": "Namespace"},
                "resource": {"group": "", "version": "v1", "resource": "namespaces"},
                "name": "shop", "operation": operation,
                "userInfo": {"username": user, "groups": groups},
                "object": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": new}},
                "oldObject": if old.is_null() { Value::Null } else {
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": old}})
                },
            }
        })
    }

    fn verdict(config: &Namespaces, review: &Value) -> Verdict {
        let request = super::super::parse(review.to_string().as_bytes()).unwrap();
        decide(config, &["kube-system".to_owned()], &request).unwrap()
    }

    #[test]
    fn only_admins_loosen_and_anyone_tightens() {
        let config = Namespaces::default();
        let enforce = json!({"yungui.io/mode": "enforce"});
        let audit = json!({"yungui.io/mode": "audit"});
        let tenant = |op, old: &Value, new: &Value| {
            verdict(
                &config,
                &review(op, old.clone(), new.clone(), "dev", &["devs"]),
            )
        };
        assert!(
            matches!(tenant("UPDATE", &enforce, &audit), Verdict::Denied(en, _) if en.contains("from `enforce` to `audit`") && en.contains("`system:masters`"))
        );
        assert!(
            matches!(tenant("UPDATE", &enforce, &json!({})), Verdict::Denied(en, _) if en.contains("remove `yungui.io/mode=enforce`"))
        );
        assert!(matches!(
            tenant("CREATE", &Value::Null, &audit),
            Verdict::Denied(..)
        ));
        assert_eq!(tenant("UPDATE", &audit, &enforce), Verdict::Allowed);
        assert_eq!(tenant("CREATE", &Value::Null, &enforce), Verdict::Allowed);
        // Other labels are the namespace owner's business.
        assert_eq!(
            tenant(
                "UPDATE",
                &enforce,
                &json!({"yungui.io/mode": "enforce", "team": "a"})
            ),
            Verdict::Allowed
        );
        // Any other yungui.io label is guarded too.
        assert!(matches!(
            tenant(
                "UPDATE",
                &enforce,
                &json!({"yungui.io/mode": "enforce", "yungui.io/x": "1"})
            ),
            Verdict::Denied(..)
        ));
        let admin = review(
            "UPDATE",
            enforce.clone(),
            audit.clone(),
            "root",
            &["system:masters"],
        );
        assert_eq!(verdict(&config, &admin), Verdict::Allowed);
        let unknown = review(
            "UPDATE",
            enforce,
            json!({"yungui.io/mode": "off"}),
            "root",
            &["system:masters"],
        );
        assert_eq!(
            verdict(&config, &unknown),
            Verdict::UnknownMode("off".to_owned())
        );
    }

    #[test]
    fn the_mode_label_can_be_required_on_new_namespaces() {
        let config = Namespaces {
            require_mode_label: true,
            label_admin_users: vec!["platform-bot".to_owned()],
            ..Namespaces::default()
        };
        let bare = review("CREATE", Value::Null, json!({"team": "a"}), "dev", &[]);
        assert!(
            matches!(verdict(&config, &bare), Verdict::Denied(en, _) if en.contains("--require-mode-label"))
        );
        let by_admin = review("CREATE", Value::Null, json!({}), "platform-bot", &[]);
        assert_eq!(verdict(&config, &by_admin), Verdict::Allowed);
        // An existing namespace without the label can still be updated (other labels).
        let update = review("UPDATE", json!({}), json!({"team": "a"}), "dev", &[]);
        assert_eq!(verdict(&config, &update), Verdict::Allowed);
    }

    #[test]
    fn tenancy_values_are_a_closed_vocabulary() {
        assert_eq!(Tenancy::parse("registry"), Ok(Tenancy::Registry));
        assert!(
            Tenancy::parse("name")
                .unwrap_err()
                .contains("`registry` or `same-name`")
        );
    }
}
