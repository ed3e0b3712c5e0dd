//! The front ends of a server: each has permits of its own, and names its metrics and its lines of
//! the decision log.

/// A front end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Front {
    /// The raw decision API (`/v1/…`), for custom schedulers and scripts.
    Api,
    /// Kubernetes admission (`/validate`, `/validate/…`).
    Kubernetes,
    /// oslo.policy's `http:` check (`/openstack`, `/openstack/…`).
    OpenStack,
}

impl Front {
    /// Every front end.
    pub const ALL: [Front; 3] = [Front::Api, Front::Kubernetes, Front::OpenStack];

    /// Its name in the metrics' `front` label and in the decision log.
    pub fn name(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Kubernetes => "kubernetes",
            Self::OpenStack => "openstack",
        }
    }

    /// The front end a request path belongs to, if any (`/healthz`, `/readyz` and `/metrics`
    /// belong to none).
    pub fn of_path(path: &str) -> Option<Self> {
        if path.starts_with("/v1/") {
            Some(Self::Api)
        } else if path == "/validate" || path.starts_with("/validate/") {
            Some(Self::Kubernetes)
        } else if path == "/openstack" || path.starts_with("/openstack/") {
            Some(Self::OpenStack)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_belongs_to_its_front_end_only() {
        for (path, front) in [
            ("/v1/decide", Some(Front::Api)),
            ("/v1/decide/batch", Some(Front::Api)),
            ("/v1", None),
            ("/validate", Some(Front::Kubernetes)),
            ("/validate/warn", Some(Front::Kubernetes)),
            ("/validated", None),
            ("/openstack", Some(Front::OpenStack)),
            ("/openstack/compute", Some(Front::OpenStack)),
            ("/openstacks", None),
            ("/healthz", None),
            ("/metrics", None),
        ] {
            assert_eq!(Front::of_path(path), front, "{path}");
        }
        let names: Vec<_> = Front::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names, ["api", "kubernetes", "openstack"]);
    }
}
