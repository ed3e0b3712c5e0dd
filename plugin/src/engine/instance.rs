//! The instance's one engine: loaded by `init` from the policy set on standard input (at build
//! time, before the instance is snapshotted), then used by every call.

use std::cell::RefCell;
use std::rc::Rc;

use yungui_policies::wire::PolicySources;

use super::Engine;
use crate::bindings::yungui::policy::types as wit;

thread_local! {
    /// The instance's engine, set by `init` (at build time, before the snapshot).
    static ENGINE: RefCell<Option<Result<Rc<Engine>, String>>> = const { RefCell::new(None) };
}

/// Loads the policy set from standard input into this instance; nothing on standard input leaves
/// it without one. Called once, by `yungui build`, before the instance is snapshotted.
pub fn init_from_stdin() {
    use std::io::Read as _;
    let mut text = String::new();
    let loaded = match std::io::stdin().read_to_string(&mut text) {
        Ok(0) => return,
        Ok(_) => serde_json::from_str::<PolicySources>(&text)
            .map_err(|err| format!("the policy set handed to `init` is not valid: {err}"))
            .and_then(|sources| {
                Engine::new(
                    (&sources.schema.name, &sources.schema.text),
                    sources
                        .policies
                        .iter()
                        .map(|f| (f.name.as_str(), f.text.as_str())),
                )
            })
            .map(Rc::new),
        Err(err) => Err(format!("cannot read the policy set: {err}")),
    };
    ENGINE.with(|cell| *cell.borrow_mut() = Some(loaded));
}

/// Runs `f` with this instance's engine.
pub fn with_engine<T>(
    f: impl FnOnce(&Engine) -> Result<T, wit::Failure>,
) -> Result<T, wit::Failure> {
    let engine = ENGINE.with(|cell| cell.borrow().clone());
    match engine {
        Some(Ok(engine)) => f(&engine),
        Some(Err(message)) => Err(wit::Failure::PluginFault(message)),
        None => Err(wit::Failure::PluginFault(
            "this is yungui's engine component, which holds no policy set: build a policy component with `yungui build`".to_owned(),
        )),
    }
}
