//! The report's lint: `notice.json` and the policies' controls agree both ways, and every
//! sub-item of the notice is decided by a control or says why none can decide it.

use std::collections::{BTreeMap, BTreeSet};

use yungui_policies::Finding;

use super::NOTICE_FILE;
use super::model::Notice;

/// Every control of the policies is under some sub-item, every control a sub-item names exists,
/// and every sub-item has a control or says why none can decide it.
pub(super) fn check_mapping(
    notice: &Notice,
    policies: &BTreeMap<String, Vec<Finding>>,
) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let mut named = BTreeSet::new();
    for article in &notice.articles {
        for item in &article.items {
            if item.controls.is_empty() && item.undecidable.is_empty() {
                problems.push(format!(
                    "`{}` has neither a control nor a duty that cannot be decided at request time",
                    item.item
                ));
            }
            for control in &item.controls {
                named.insert(control.as_str());
                if !policies.contains_key(control) {
                    problems.push(format!(
                        "`{}` names control `{control}`, which no policy has",
                        item.item
                    ));
                }
            }
        }
    }
    for control in policies.keys() {
        if !named.contains(control.as_str()) {
            problems.push(format!(
                "control `{control}` is under no sub-item of `{NOTICE_FILE}`: add it where the notice asks for it"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "`{NOTICE_FILE}` and the policies disagree:\n{}",
            problems.join("\n")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::{finding, notice};
    use super::*;

    #[test]
    fn mapping_must_cover_every_control_both_ways() {
        let policies: BTreeMap<String, Vec<Finding>> =
            [("art2-licence".to_owned(), vec![finding("art2-licence")])].into();
        assert!(check_mapping(&notice(&["art2-licence"], false), &policies).is_ok());
        let err = check_mapping(&notice(&[], true), &policies).unwrap_err();
        assert!(err.to_string().contains("under no sub-item"), "{err}");
        let err = check_mapping(&notice(&["art2-licence", "ghost"], false), &policies).unwrap_err();
        assert!(err.to_string().contains("`ghost`"), "{err}");
        let err = check_mapping(&notice(&[], false), &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("neither a control"), "{err}");
    }
}
