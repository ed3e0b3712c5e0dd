//! The instance's one engine: loaded by `init` from the policy set on standard input (at build
//! time, before the instance is snapshotted), then used by every call.

use std::cell::RefCell;
use std::rc::Rc;

use yungui_policies::wire::PolicySources;

use super::{Engine, LoadError};
use crate::bindings::yungui::policy::types as wit;

thread_local! {
    /// The instance's engine, set by `init` (at build time, before the snapshot).
    static ENGINE: RefCell<Option<Result<Rc<Engine>, LoadError>>> = const { RefCell::new(None) };
}

/// Loads the policy set from standard input into this instance; nothing on standard input leaves
/// it without one. Called once, by `yungui build`, before the instance is snapshotted.
pub fn init_from_stdin() {
    use std::io::Read as _;
    let mut text = String::new();
    let loaded = match std::io::stdin().read_to_string(&mut text) {
        Ok(0) => return,
        Ok(_) => load(&text).map(Rc::new),
        Err(err) => Err(LoadError::Read(err)),
    };
    ENGINE.with(|cell| *cell.borrow_mut() = Some(loaded));
}

/// An engine over a policy set in the wire form.
fn load(text: &str) -> Result<Engine, LoadError> {
    let sources: PolicySources = serde_json::from_str(text).map_err(LoadError::Invalid)?;
    Engine::new(
        (&sources.schema.name, &sources.schema.text),
        sources
            .policies
            .iter()
            .map(|f| (f.name.as_str(), f.text.as_str())),
    )
}

/// Runs `f` with this instance's engine.
pub fn with_engine<T>(
    f: impl FnOnce(&Engine) -> Result<T, wit::Failure>,
) -> Result<T, wit::Failure> {
    let engine = ENGINE.with(|cell| match &*cell.borrow() {
        Some(Ok(engine)) => Ok(Rc::clone(engine)),
        Some(Err(err)) => Err(wit::Failure::PluginFault(err.to_string())),
        None => Err(wit::Failure::PluginFault(
            "this is yungui's engine component, which holds no policy set: build a policy component with `yungui build`".to_owned(),
        )),
    })?;
    f(&engine)
}

#[cfg(test)]
mod tests {
    use yungui_policies::Sources;

    use super::*;

    fn wire(sources: &Sources) -> String {
        serde_json::to_string(&PolicySources::from(sources)).unwrap()
    }

    #[test]
    fn the_policy_set_loads_from_the_wire_form_or_says_why_not() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let mut sources = Sources::read_dir(&dir).unwrap();
        let engine = load(&wire(&sources)).unwrap();
        assert!(engine.controls().len() > 20);

        let err = load(r#"{"schema": {"name": "s", "text": ""}}"#).unwrap_err();
        assert!(matches!(err, LoadError::Invalid(_)), "{err:?}");
        assert!(
            err.to_string().starts_with(
                "the policy set handed to `init` is not valid: missing field `policies`"
            ),
            "{err}"
        );

        sources.policies[0]
            .text
            .push_str("\nforbid (principal, action, resource) when { nope };");
        let err = load(&wire(&sources)).unwrap_err();
        assert!(matches!(err, LoadError::Compile(_)), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with("the policy set does not load: "),
            "{message}"
        );
        assert!(message.contains(&sources.policies[0].name), "{message}");
    }
}
