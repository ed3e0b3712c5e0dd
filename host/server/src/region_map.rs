//! Maps of names to regions, as an operator writes them: one JSON object of name to
//! `Cloud::Region` id, like `{"nova-az1": "cn-north-1"}`. OpenStack's availability zones, and a
//! Kubernetes cluster's zones, nodes and storage classes, are all read here, so every map has one
//! format and the same checks.
//!
//! Every front end reads a map the same way: without a map, everything the map would name is in
//! the front end's one region; with a map, a name it lacks has an unknown region, and unknown
//! never allows.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;

/// Name → region.
pub type RegionMap = BTreeMap<String, String>;

/// Reads the map of `what` (e.g. `availability zone`) to region in the file `path`, passed with
/// the option `flag`. An unreadable file, a value that is not such an object, an empty map or an
/// empty region is an error naming the file and what is wrong.
pub fn read(path: &Path, what: &str, flag: &str) -> anyhow::Result<RegionMap> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} map `{}` ({flag})", path.display()))?;
    let map: RegionMap = serde_json::from_str(&text).with_context(|| {
        format!(
            "the {what} map `{}` ({flag}) is not a JSON object of {what} to region, like {{\"name\": \"cn-north-1\"}}",
            path.display()
        )
    })?;
    if map.is_empty() {
        anyhow::bail!(
            "the {what} map `{}` ({flag}) is empty: map each {what} to its region, or leave the option out for a one-region deployment",
            path.display()
        );
    }
    if let Some((name, _)) = map.iter().find(|(_, region)| region.trim().is_empty()) {
        anyhow::bail!(
            "the {what} map `{}` ({flag}) maps `{name}` to an empty region",
            path.display()
        );
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn reads_a_map_and_names_what_is_wrong() {
        let ok = file(r#"{"az-1": "cn-north-1", "az-2": "eu-west-1"}"#);
        let map = read(ok.path(), "zone", "--cluster-zone-map").unwrap();
        assert_eq!(map["az-2"], "eu-west-1");
        for (text, wrong) in [
            ("[]", "not a JSON object of zone to region"),
            ("{}", "is empty"),
            (r#"{"az-1": " "}"#, "maps `az-1` to an empty region"),
            (r#"{"az-1": 3}"#, "not a JSON object"),
        ] {
            let bad = file(text);
            let err = format!(
                "{:#}",
                read(bad.path(), "zone", "--cluster-zone-map").unwrap_err()
            );
            assert!(
                err.contains(wrong) && err.contains("--cluster-zone-map"),
                "{text}: {err}"
            );
        }
        let missing = read(
            Path::new("/nonexistent/map.json"),
            "node",
            "--cluster-node-map",
        );
        assert!(format!("{:#}", missing.unwrap_err()).contains("cannot read the node map"));
    }
}
