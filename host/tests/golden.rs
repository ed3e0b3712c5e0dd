//! Every golden case under `tests/cases` as its own test, run against the built component —
//! the same files `yungui test` runs.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test binary with its own harness: a setup failure should stop it loudly"
)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Failed, Trial};
use yungui::cases::{Runner, discover};
use yungui::{Engine, EngineConfig, Registry};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::load(
            Path::new(env!("YUNGUI_PLUGIN_WASM")),
            Registry::empty(),
            EngineConfig::default(),
        )
        .unwrap()
    })
}

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cases");
    let files = discover(std::slice::from_ref(&root)).unwrap();
    assert!(!files.is_empty(), "no cases under {}", root.display());
    let runner = Arc::new(OnceLock::<Runner<'static>>::new());
    let trials = files
        .into_iter()
        .map(|file: PathBuf| {
            let name = file
                .strip_prefix(&root)
                .unwrap_or(&file)
                .with_extension("")
                .display()
                .to_string();
            let runner = runner.clone();
            Trial::test(name, move || {
                let runner = runner.get_or_init(|| Runner::new(engine()));
                match runner.run(&file).failure {
                    None => Ok(()),
                    Some(why) => Err(Failed::from(why)),
                }
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
