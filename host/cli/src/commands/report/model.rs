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
    /// The properties stating the sub-item (`properties/*.cedar`), proven by `yungui analyze`.
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "checked by `yungui analyze`; the report does not show it yet"
    )]
    pub(super) properties: Vec<String>,
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
    /// As shown: relative to the working directory when under it.
    pub(super) path: String,
    /// Absolute, for links from the report's folder.
    pub(super) file: std::path::PathBuf,
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
    /// Policy `@id` → its Cedar text, as written.
    pub(super) texts: BTreeMap<String, String>,
    /// Control → (cases that make it fire, cases that keep it quiet).
    pub(super) cases: BTreeMap<String, (Vec<CaseRow>, Vec<CaseRow>)>,
    /// Control → the actions its policies' scopes cover (conditions may narrow them further).
    pub(super) actions: BTreeMap<String, BTreeSet<String>>,
    /// Every action a request can name.
    pub(super) all_actions: BTreeSet<String>,
    /// The closed vocabularies of the schema.
    pub(super) vocabularies: Vocabularies,
    /// What the report was generated from, and when.
    pub(super) provenance: Provenance,
    pub(super) policy_count: usize,
    pub(super) case_count: usize,
    pub(super) failed: usize,
}

/// What a report was generated from, and when: its header.
#[derive(Debug)]
pub(super) struct Provenance {
    /// The generation time, UTC (`2026-12-05T08:00:00Z`).
    pub(super) generated: String,
    /// The commit of the inputs, or `unknown`.
    pub(super) commit: String,
    /// The policy set's digest (`sha256:…`, as `yungui inspect` prints it).
    pub(super) policy_digest: String,
    /// The sha256 of the component the cases ran on.
    pub(super) component_sha256: String,
}

/// Ends each header line `report --check` leaves out of the comparison (it is a comment in both
/// renderings, invisible when read).
pub(super) const PROVENANCE_MARK: &str = "<!-- provenance -->";

/// English and Chinese labels both renderings share.
pub(super) mod label {
    pub(in crate::commands::report) const TITLE: &str = "Controls of the notice: trace report";
    pub(in crate::commands::report) const TITLE_ZH: &str = "通知管控项追溯报告";
    pub(in crate::commands::report) const CONTENTS: (&str, &str) = ("Contents", "目录");
    pub(in crate::commands::report) const SUMMARY: (&str, &str) = ("Summary", "概览");
    pub(in crate::commands::report) const VOCABULARIES: (&str, &str) =
        ("Closed vocabularies", "封闭取值表");
    pub(in crate::commands::report) const GENERATED: (&str, &str) = ("Generated", "生成时间");
    pub(in crate::commands::report) const COMMIT: (&str, &str) = ("Commit", "提交");
    pub(in crate::commands::report) const DIGEST: (&str, &str) = ("Policy digest", "策略摘要");
    pub(in crate::commands::report) const COMPONENT: (&str, &str) =
        ("Component sha256", "组件 sha256");
    pub(in crate::commands::report) const UNDECIDABLE: (&str, &str) =
        ("Not decidable at request time", "请求时无法判定");
}

/// An article's number in Chinese (`12` → `十二`), as the notice numbers it; none for an article
/// not numbered 1 to 99 (the closing paragraph).
pub(super) fn article_zh(article: &Article) -> Option<String> {
    const DIGITS: [&str; 10] = ["", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    let n: usize = article
        .article
        .parse()
        .ok()
        .filter(|n| (1..100).contains(n))?;
    let (tens, ones) = (n / 10, n % 10);
    let digit = |d: usize| DIGITS.get(d).copied().unwrap_or_default();
    Some(match tens {
        0 => digit(ones).to_owned(),
        1 => format!("十{}", digit(ones)),
        _ => format!("{}十{}", digit(tens), digit(ones)),
    })
}

/// A policy's anchor in the report.
pub(super) fn policy_anchor(id: &str) -> String {
    format!("policy-{}", anchor(id))
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
                    properties: Vec::new(),
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
        f.reason = "<script> and `code`".to_owned();
        let texts = [(
            f.id.clone(),
            "@id(\"art2-licence.x\")\nforbid (principal, action, resource)\nwhen { context.a < 1 };".to_owned(),
        )]
        .into();
        policies.insert("art2-licence".to_owned(), vec![f]);
        Model {
            notice: notice(&["art2-licence"], true),
            policies,
            texts,
            cases: BTreeMap::new(),
            actions: [("art2-licence".to_owned(), ["a".to_owned()].into())].into(),
            all_actions: ["a".to_owned(), "b".to_owned()].into(),
            vocabularies: [(
                "Cloud::Tenant".to_owned(),
                [("status".to_owned(), vec!["active".to_owned()])].into(),
            )]
            .into(),
            provenance: Provenance {
                generated: "2026-12-05T08:00:00Z".to_owned(),
                commit: "0123abc".to_owned(),
                policy_digest: "sha256:d1".to_owned(),
                component_sha256: "c0ffee".to_owned(),
            },
            policy_count: 1,
            case_count: 0,
            failed: 0,
        }
    }

    #[test]
    fn articles_are_numbered_in_chinese() {
        let zh = |n: &str| {
            let mut article = notice(&[], false).articles.remove(0);
            article.article = n.to_owned();
            article_zh(&article)
        };
        assert_eq!(zh("2").as_deref(), Some("二"));
        assert_eq!(zh("10").as_deref(), Some("十"));
        assert_eq!(zh("13").as_deref(), Some("十三"));
        assert_eq!(zh("21").as_deref(), Some("二十一"));
        assert_eq!(zh("closing"), None);
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
