//! Checks the policy set in strict mode against the schema and builds it into the component.
//! An invalid policy fails the build with the same messages `yungui validate` prints.

use std::fmt::Write as _;
use std::path::PathBuf;

use yungui_policies::{Sources, Validate, compile};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    // `YUNGUI_POLICIES` builds the component over another policy folder.
    println!("cargo::rerun-if-env-changed=YUNGUI_POLICIES");
    let dir = std::env::var_os("YUNGUI_POLICIES")
        .map_or_else(|| manifest.join("../policies"), PathBuf::from);
    println!("cargo::rerun-if-changed={}", dir.display());
    println!("cargo::rerun-if-changed=../wit");

    let sources = match Sources::read_dir(&dir) {
        Ok(sources) => sources,
        Err(err) => fail(&format!("error: {err}")),
    };
    let files = sources
        .policies
        .iter()
        .map(|f| (f.name.as_str(), f.text.as_str()));
    if let Err(problems) = compile(
        (&sources.schema.name, &sources.schema.text),
        files,
        Validate::Strict,
    ) {
        fail(&format!(
            "error: the policies in {} are invalid:\n{problems}",
            dir.display()
        ));
    }

    let mut out = String::new();
    let entry = |name: &str| {
        let path = dir
            .join(name)
            .canonicalize()
            .unwrap_or_else(|_| dir.join(name));
        format!("({name:?}, include_str!({:?}))", path.display().to_string())
    };
    let _ = writeln!(
        out,
        "pub const SCHEMA: (&str, &str) = {};",
        entry(&sources.schema.name)
    );
    let _ = writeln!(out, "pub const POLICIES: &[(&str, &str)] = &[");
    for file in &sources.policies {
        let _ = writeln!(out, "    {},", entry(&file.name));
    }
    let _ = writeln!(out, "];");
    let target = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("policies.rs");
    if let Err(err) = std::fs::write(&target, out) {
        fail(&format!(
            "error: cannot write `{}`: {err}",
            target.display()
        ));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}
