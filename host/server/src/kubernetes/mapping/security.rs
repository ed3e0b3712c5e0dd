//! Pod security: the Pod Security Standards' baseline, read from a pod spec and its annotations
//! ([`baseline`]), is what the policies see as a workload's `privileged` (a control that lifts a
//! container's confinement) and `host_access` (one that opens the host).

use kube_core::DynamicObject;
use serde_json::Value;

use super::{Kind, is_true};

/// The Pod Security Standards, whose baseline profile is yungui's host security for pods
/// (art. 12: 主机安全): <https://kubernetes.io/docs/concepts/security/pod-security-standards/>,
/// as published for Kubernetes v1.35: every control of the "Baseline" table, with its allowed
/// values (`container_engine_t` among the SELinux types since v1.31; the `appArmorProfile` field
/// beside the annotation; the sysctls of the newer kernels' safe set).
pub const BASELINE: &str = "Pod Security Standards baseline (v1.35)";

/// The capabilities a container may add and still meet the baseline ("Capabilities"); any other
/// (`SYS_ADMIN`, `NET_ADMIN`, `ALL`...) reaches the host.
pub const BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The sysctls a pod may set and still meet the baseline ("Sysctls"): namespaced, and isolated
/// from the other pods of the node.
pub const BASELINE_SYSCTLS: [&str; 10] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// The SELinux types a pod or container may set and still meet the baseline ("SELinux"); the
/// empty type is the runtime's.
pub const BASELINE_SELINUX_TYPES: [&str; 5] = [
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// One baseline control a pod spec breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The control, as the standard names it (`Seccomp`, `Host Namespaces`...).
    pub control: &'static str,
    /// Where, and the value: `container `debug`: securityContext.seccompProfile.type `Unconfined``.
    pub field: String,
    /// Whether it opens the host itself (its namespaces, paths, ports, or a HostProcess
    /// container): the workload's `host_access`. Every other control lifts the container's
    /// confinement: its `privileged`.
    pub host: bool,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.control, self.field)
    }
}

/// The pod spec's containers, init containers and ephemeral containers, each with what it is
/// called in a violation.
fn containers(spec: &Value) -> impl Iterator<Item = (String, &Value)> {
    [
        ("containers", "container"),
        ("initContainers", "init container"),
        ("ephemeralContainers", "ephemeral container"),
    ]
    .into_iter()
    .filter_map(|(list, what)| Some((what, spec.get(list).and_then(Value::as_array)?)))
    .flat_map(|(what, list)| {
        list.iter().map(move |c| {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            (format!("{what} `{name}`"), c)
        })
    })
}

/// A value as the violation shows it.
fn shown(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// Every baseline control a pod spec (and its pod's `annotations`, for AppArmor and the old
/// seccomp annotations) breaks, for the pod and each of its containers, init containers and
/// ephemeral containers. Values the standard does not list as allowed break it, whatever they
/// are: unknown never allows.
pub fn baseline<'a>(
    spec: &Value,
    annotations: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<Violation> {
    let mut out: Vec<Violation> = Vec::new();
    let mut add = |control: &'static str, field: String, host: bool| {
        out.push(Violation {
            control,
            field,
            host,
        });
    };
    // The security context of the pod, then of each container: the fields both have.
    let pod = ("pod".to_owned(), spec.get("securityContext"));
    let contexts = std::iter::once(pod)
        .chain(containers(spec).map(|(name, c)| (name, c.get("securityContext"))));
    for (who, context) in contexts {
        let Some(context) = context.filter(|c| !c.is_null()) else {
            continue;
        };
        if is_true(context.pointer("/windowsOptions/hostProcess")) {
            add(
                "HostProcess",
                format!("{who}: securityContext.windowsOptions.hostProcess `true`"),
                true,
            );
        }
        if let Some(kind) = context.pointer("/appArmorProfile/type")
            && !matches!(kind.as_str(), Some("RuntimeDefault" | "Localhost"))
        {
            add(
                "AppArmor",
                format!(
                    "{who}: securityContext.appArmorProfile.type `{}`",
                    shown(kind)
                ),
                false,
            );
        }
        if let Some(options) = context.get("seLinuxOptions").filter(|o| !o.is_null()) {
            let text = |key: &str| options.get(key).map(shown).unwrap_or_default();
            let kind = text("type");
            if !BASELINE_SELINUX_TYPES.contains(&kind.as_str()) {
                add(
                    "SELinux",
                    format!("{who}: securityContext.seLinuxOptions.type `{kind}`"),
                    false,
                );
            }
            for key in ["user", "role"] {
                let value = text(key);
                if !value.is_empty() {
                    add(
                        "SELinux",
                        format!("{who}: securityContext.seLinuxOptions.{key} `{value}`"),
                        false,
                    );
                }
            }
        }
        if let Some(kind) = context.pointer("/seccompProfile/type")
            && !matches!(kind.as_str(), Some("RuntimeDefault" | "Localhost"))
        {
            add(
                "Seccomp",
                format!(
                    "{who}: securityContext.seccompProfile.type `{}`",
                    shown(kind)
                ),
                false,
            );
        }
    }
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if is_true(spec.get(key)) {
            add("Host Namespaces", format!("pod: {key} `true`"), true);
        }
    }
    for volume in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("hostPath").is_some_and(|h| !h.is_null()))
    {
        let name = volume
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        add(
            "HostPath Volumes",
            format!("volume `{name}`: hostPath"),
            true,
        );
    }
    for sysctl in spec
        .pointer("/securityContext/sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = sysctl.get("name").map(shown).unwrap_or_default();
        if !BASELINE_SYSCTLS.contains(&name.as_str()) {
            add(
                "Sysctls",
                format!("pod: securityContext.sysctls `{name}`"),
                false,
            );
        }
    }
    for (who, container) in containers(spec) {
        if is_true(container.pointer("/securityContext/privileged")) {
            add(
                "Privileged Containers",
                format!("{who}: securityContext.privileged `true`"),
                false,
            );
        }
        for cap in container
            .pointer("/securityContext/capabilities/add")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = shown(cap).to_ascii_uppercase();
            if !BASELINE_CAPABILITIES.contains(&name.strip_prefix("CAP_").unwrap_or(&name)) {
                add(
                    "Capabilities",
                    format!("{who}: securityContext.capabilities.add `{}`", shown(cap)),
                    false,
                );
            }
        }
        if let Some(mount) = container.pointer("/securityContext/procMount")
            && mount.as_str() != Some("Default")
            && !mount.is_null()
        {
            add(
                "/proc Mount Type",
                format!("{who}: securityContext.procMount `{}`", shown(mount)),
                false,
            );
        }
        for port in container
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("hostPort"))
            .filter(|h| !h.is_null() && h.as_i64() != Some(0))
        {
            add(
                "Host Ports",
                format!("{who}: ports hostPort `{port}`"),
                true,
            );
        }
    }
    for (key, value) in annotations {
        if let Some(container) = key.strip_prefix("container.apparmor.security.beta.kubernetes.io/")
            && value != "runtime/default"
            && !value.starts_with("localhost/")
        {
            add(
                "AppArmor",
                format!("container `{container}`: annotation `{key}` `{value}`"),
                false,
            );
        }
        let seccomp = key == "seccomp.security.alpha.kubernetes.io/pod"
            || key.starts_with("container.seccomp.security.alpha.kubernetes.io/");
        if seccomp
            && !matches!(value, "runtime/default" | "docker/default")
            && !value.starts_with("localhost/")
        {
            add("Seccomp", format!("annotation `{key}` `{value}`"), false);
        }
    }
    out
}

/// The annotations of a pod template (`template.metadata.annotations`), as pairs.
fn template_annotations(template: Option<&Value>) -> Vec<(&str, &str)> {
    template
        .and_then(|t| t.pointer("/metadata/annotations"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("(not a string)")))
        .collect()
}

/// The baseline controls a Pod or the pod template of a kind breaks; none for other kinds.
pub fn baseline_of(kind: Kind, object: &DynamicObject) -> Vec<Violation> {
    match kind {
        Kind::Pod => baseline(
            object.data.get("spec").unwrap_or(&Value::Null),
            object
                .metadata
                .annotations
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ),
        Kind::Template(pointer) => {
            let template = object.data.pointer(pointer);
            baseline(
                template.and_then(|t| t.get("spec")).unwrap_or(&Value::Null),
                template_annotations(template),
            )
        }
        _ => Vec::new(),
    }
}

/// A baseline control that lifts a container's confinement is broken (every control but those
/// of [`host_access`]), annotations aside.
pub fn privileged(spec: &Value) -> bool {
    baseline(spec, []).iter().any(|v| !v.host)
}

/// A baseline control that opens the host is broken: hostNetwork, hostPID, hostIPC, a hostPath
/// volume, a container port bound on the host (`hostPort`), or a HostProcess container.
pub fn host_access(spec: &Value) -> bool {
    baseline(spec, []).iter().any(|v| v.host)
}
