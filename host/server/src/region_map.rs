//! Maps of names to regions, as an operator writes them: one JSON object of name to
//! `Cloud::Region` id, like `{"nova-az1": "cn-north-1"}`. OpenStack's availability zones, and a
//! Kubernetes cluster's zones, nodes and storage classes, are all read here, so every map has one
//! format and the same checks.
//!
//! Every front end reads a map the same way: without a map, everything the map would name is in
//! the front end's one region; with a map, a name it lacks has an unknown region, and unknown
//! never allows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Name → region.
pub type RegionMap = BTreeMap<String, String>;

/// Why a map was refused: each names the map (`what`), its file and its option (`flag`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegionMapError {
    /// The file cannot be read.
    #[error("cannot read the {what} map `{}` ({flag})", .path.display())]
    Read {
        /// What the map maps, e.g. `availability zone`.
        what: String,
        /// The file.
        path: PathBuf,
        /// The option that named it.
        flag: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a JSON object of names to regions.
    #[error(
        "the {what} map `{}` ({flag}) is not a JSON object of {what} to region, like {{\"name\": \"cn-north-1\"}}",
        .path.display()
    )]
    Json {
        /// What the map maps.
        what: String,
        /// The file.
        path: PathBuf,
        /// The option that named it.
        flag: String,
        /// What serde found.
        #[source]
        source: serde_json::Error,
    },
    /// The map is empty.
    #[error(
        "the {what} map `{}` ({flag}) is empty: map each {what} to its region, or leave the option out for a one-region deployment",
        .path.display()
    )]
    Empty {
        /// What the map maps.
        what: String,
        /// The file.
        path: PathBuf,
        /// The option that named it.
        flag: String,
    },
    /// A name is mapped to an empty region.
    #[error("the {what} map `{}` ({flag}) maps `{name}` to an empty region", .path.display())]
    EmptyRegion {
        /// What the map maps.
        what: String,
        /// The file.
        path: PathBuf,
        /// The option that named it.
        flag: String,
        /// The name.
        name: String,
    },
}

/// Reads the map of `what` (e.g. `availability zone`) to region in the file `path`, passed with
/// the option `flag`. An unreadable file, a value that is not such an object, an empty map or an
/// empty region is an error naming the file and what is wrong.
pub fn read(path: &Path, what: &str, flag: &str) -> Result<RegionMap, RegionMapError> {
    let (what, path, flag) = (what.to_owned(), path.to_owned(), flag.to_owned());
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(source) => {
            return Err(RegionMapError::Read {
                what,
                path,
                flag,
                source,
            });
        }
    };
    let map: RegionMap = match serde_json::from_str(&text) {
        Ok(map) => map,
        Err(source) => {
            return Err(RegionMapError::Json {
                what,
                path,
                flag,
                source,
            });
        }
    };
    if map.is_empty() {
        return Err(RegionMapError::Empty { what, path, flag });
    }
    if let Some((name, _)) = map.iter().find(|(_, region)| region.trim().is_empty()) {
        return Err(RegionMapError::EmptyRegion {
            what,
            path,
            flag,
            name: name.clone(),
        });
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Chain;

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
            let err =
                Chain(&read(bad.path(), "zone", "--cluster-zone-map").unwrap_err()).to_string();
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
        assert!(
            Chain(&missing.unwrap_err())
                .to_string()
                .contains("cannot read the node map")
        );
    }
}
