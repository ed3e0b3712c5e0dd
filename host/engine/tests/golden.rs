//! Every golden case under `tests/cases` as its own test, run twice: against the shipped policy
//! set built as `yungui build` builds it (pre-initialised), and against the same sources run
//! unbuilt as `yungui test --policies` runs them — the same files `yungui test` runs, and the
//! proof that both paths decide alike.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test binary with its own harness: a setup failure should stop it loudly"
)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Failed, Trial};
use yungui::builder::shipped_sources;
use yungui::cases::{Runner, discover};
use yungui::{Engine, EngineConfig, Registry};

/// One compile cache for the whole test binary, under the target directory and kept between runs
/// (a temporary directory held in a static is never removed: each run left its components in
/// /tmp).
fn config() -> EngineConfig {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    EngineConfig::default().with_cache_dir(Some(
        DIR.get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("yungui-cache-golden");
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            dir
        })
        .clone(),
    ))
}

fn built() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::from_sources(&shipped_sources(), Registry::empty(), config()).unwrap()
    })
}

fn unbuilt() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::from_sources_unbuilt(&shipped_sources(), Registry::empty(), config()).unwrap()
    })
}

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases");
    let files = discover(std::slice::from_ref(&root)).unwrap();
    assert!(!files.is_empty(), "no cases under {}", root.display());
    let mut trials = Vec::new();
    for (kind, engine) in [
        ("built", built as fn() -> &'static Engine),
        ("unbuilt", unbuilt),
    ] {
        let runner = Arc::new(OnceLock::<Runner<'static>>::new());
        for file in &files {
            let name = file
                .strip_prefix(&root)
                .unwrap_or(file)
                .with_extension("")
                .display()
                .to_string();
            let runner = runner.clone();
            let file: PathBuf = file.clone();
            trials.push(Trial::test(format!("{kind}/{name}"), move || {
                let runner = runner.get_or_init(|| Runner::new(engine()));
                match runner.run(&file).failure {
                    None => Ok(()),
                    Some(why) => Err(Failed::from(why)),
                }
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
