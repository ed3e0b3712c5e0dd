//! What the report shows, gathered once and rendered twice: the notice as `notice.json` has it,
//! each control's policies, actions and cases, and the few names both renderings share (a
//! control's anchor, severity and articles, a case's short name).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use yungui_policies::{Finding, Severity, Vocabularies};

/// `notice.json`: the notice, article by article, each sub-item with its controls or the duties
/// no request can show.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Notice {
    pub(super) title: String,
    pub(super) title_en: String,
    pub(super) articles: Vec<Article>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Article {
    pub(super) article: String,
    pub(super) title: String,
    pub(super) items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Item {
    pub(super) item: String,
    pub(super) zh: String,
    pub(super) en: String,
    pub(super) controls: Vec<String>,
    pub(super) undecidable: Vec<Undecidable>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Undecidable {
    pub(super) duty: String,
    pub(super) why: String,
}

/// One case as the report shows it.
#[derive(Debug)]
pub(super) struct CaseRow {
    pub(super) path: String,
    pub(super) description: String,
    pub(super) outcome: String,
    pub(super) passed: bool,
}

/// Everything the report shows, gathered once and rendered twice.
#[derive(Debug)]
pub(super) struct Model {
    pub(super) notice: Notice,
    /// Control → its policies, in file order.
    pub(super) policies: BTreeMap<String, Vec<Finding>>,
    /// Control → (cases that make it fire, cases that keep it quiet).
    pub(super) cases: BTreeMap<String, (Vec<CaseRow>, Vec<CaseRow>)>,
    /// Control → the actions its policies' scopes cover (conditions may narrow them further).
    pub(super) actions: BTreeMap<String, BTreeSet<String>>,
    /// Every action a request can name.
    pub(super) all_actions: BTreeSet<String>,
    /// The closed vocabularies of the schema.
    pub(super) vocabularies: Vocabularies,
    /// The policy folder, as shown.
    pub(super) policy_dir: String,
    pub(super) policy_count: usize,
    pub(super) case_count: usize,
    pub(super) failed: usize,
}

pub(super) fn severity(findings: &[Finding]) -> &'static str {
    if findings.iter().all(|f| f.severity == Severity::Warn) {
        "warn"
    } else {
        "deny"
    }
}

pub(super) fn articles(findings: &[Finding]) -> String {
    let set: BTreeSet<&str> = findings.iter().map(|f| f.article.as_str()).collect();
    set.into_iter().collect::<Vec<_>>().join(", ")
}

/// A case's folder and file name, `art2-licence/deny-expired-licence.json`.
pub(super) fn short(path: &str) -> &str {
    path.rmatch_indices('/')
        .nth(1)
        .and_then(|(i, _)| path.get(i + 1..))
        .unwrap_or(path)
}

pub(super) fn anchor(control: &str) -> String {
    control
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

impl Model {
    pub(super) fn item_controls<'a>(
        &'a self,
        item: &'a Item,
    ) -> impl Iterator<Item = (&'a str, &'a [Finding])> {
        item.controls
            .iter()
            .filter_map(|c| self.policies.get(c).map(|p| (c.as_str(), p.as_slice())))
    }

    /// The actions a control's policies apply to, in words.
    pub(super) fn actions_of(&self, control: &str) -> String {
        match self.actions.get(control) {
            None => "none".to_owned(),
            Some(set) if set == &self.all_actions => format!("every action ({})", set.len()),
            Some(set) => set.iter().cloned().collect::<Vec<_>>().join(", "),
        }
    }

    pub(super) fn counts(&self, control: &str) -> (usize, usize) {
        self.cases
            .get(control)
            .map_or((0, 0), |(fire, quiet)| (fire.len(), quiet.len()))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::commands::report) fn finding(control: &str) -> Finding {
        Finding {
            id: format!("{control}.x"),
            control: control.to_owned(),
            article: "2".to_owned(),
            reason: "r".to_owned(),
            reason_zh: "理由".to_owned(),
            obligations: Vec::new(),
            obligation_quote: None,
            severity: Severity::Deny,
            file: "a.cedar".to_owned(),
            line: Some(3),
        }
    }

    pub(in crate::commands::report) fn notice(controls: &[&str], undecidable: bool) -> Notice {
        Notice {
            title: "通知".to_owned(),
            title_en: "Notice".to_owned(),
            articles: vec![Article {
                article: "2".to_owned(),
                title: "Licence".to_owned(),
                items: vec![Item {
                    item: "2".to_owned(),
                    zh: "二、……".to_owned(),
                    en: "Two".to_owned(),
                    controls: controls.iter().map(|c| (*c).to_owned()).collect(),
                    undecidable: if undecidable {
                        vec![Undecidable {
                            duty: "d".to_owned(),
                            why: "w".to_owned(),
                        }]
                    } else {
                        Vec::new()
                    },
                }],
            }],
        }
    }

    /// A model with one control and one duty no request can show, no cases.
    pub(in crate::commands::report) fn model() -> Model {
        let mut policies: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
        let mut f = finding("art2-licence");
        f.reason = "<script>".to_owned();
        policies.insert("art2-licence".to_owned(), vec![f]);
        Model {
            notice: notice(&["art2-licence"], true),
            policies,
            cases: BTreeMap::new(),
            actions: [("art2-licence".to_owned(), ["a".to_owned()].into())].into(),
            all_actions: ["a".to_owned(), "b".to_owned()].into(),
            vocabularies: [(
                "Cloud::Tenant".to_owned(),
                [("status".to_owned(), vec!["active".to_owned()])].into(),
            )]
            .into(),
            policy_dir: "policies".to_owned(),
            policy_count: 1,
            case_count: 0,
            failed: 0,
        }
    }

    #[test]
    fn cases_are_named_by_folder_and_file() {
        assert_eq!(
            short("tests/cases/art2-licence/a.json"),
            "art2-licence/a.json"
        );
        assert_eq!(short("a.json"), "a.json");
    }
}
