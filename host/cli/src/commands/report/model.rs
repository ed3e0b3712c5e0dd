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

/// A property of the notice as the report shows it (`properties/*.cedar`).
#[derive(Debug)]
pub(super) struct PropertyRow {
    /// `safety` or `liveness`.
    pub(super) kind: String,
    pub(super) reason_en: String,
    pub(super) reason_zh: String,
    /// The file it is written in, within the policy folder.
    pub(super) file: String,
    pub(super) proof: Proof,
}

/// Whether this report proved a property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Proof {
    /// The report was generated without `--prove`: `yungui analyze` proves it (in CI).
    NotProven,
    /// Proven for every request of every environment it speaks of, in this time.
    Proven { millis: u64, environments: usize },
    /// Not proven: the solver found a request where it fails.
    Failed {
        environment: String,
        description: String,
    },
}

/// The proofs run for this report (`--prove`).
#[derive(Debug, Clone)]
pub(super) struct ProofRun {
    /// Wall-clock time of all the proofs.
    pub(super) millis: u64,
    /// The request environments proven in.
    pub(super) environments: usize,
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
    /// Property `@id` → the property (none when the policy folder has no property files, as the
    /// shipped set built into yungui).
    pub(super) properties: BTreeMap<String, PropertyRow>,
    /// The proofs run for the report, when asked (`--prove`).
    pub(super) proofs: Option<ProofRun>,
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
    pub(in crate::commands::report) const PROPERTIES: (&str, &str) = ("Properties", "性质");
    pub(in crate::commands::report) const NOT_PROVEN: &str = "not proven in this report";
}

/// A proof's state in words, the same in both renderings (its time is shown apart, as a
/// provenance line: it changes from run to run while the proof does not).
pub(super) fn proof_state(proof: &Proof) -> String {
    match proof {
        Proof::NotProven => label::NOT_PROVEN.to_owned(),
        Proof::Proven { .. } => "proven".to_owned(),
        Proof::Failed {
            environment,
            description,
        } => format!("NOT PROVEN: in {environment}, {description}"),
    }
}

/// A proof's time in words, when it was proven.
pub(super) fn proof_time(proof: &Proof) -> Option<String> {
    match proof {
        Proof::Proven {
            millis,
            environments,
        } => Some(format!(
            "proof time {:.1} s over {environments} request environment{}",
            *millis as f64 / 1000.0,
            if *environments == 1 { "" } else { "s" }
        )),
        _ => None,
    }
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

    /// How many properties the notice states and how many this report proved, in words.
    pub(super) fn proofs_summary(&self) -> String {
        let stated: Vec<&String> = self
            .notice
            .articles
            .iter()
            .flat_map(|a| &a.items)
            .flat_map(|i| &i.properties)
            .collect();
        let state = |id: &String| self.properties.get(id).map(|p| &p.proof);
        let proven = stated
            .iter()
            .filter(|id| matches!(state(id), Some(Proof::Proven { .. })))
            .count();
        let failed = stated
            .iter()
            .filter(|id| matches!(state(id), Some(Proof::Failed { .. })))
            .count();
        let unproven = stated.len() - proven - failed;
        if self.proofs.is_none() {
            return format!(
                "{} stated, {} (`yungui analyze` proves them for every request; `yungui report --prove` proves them and says so here)",
                stated.len(),
                label::NOT_PROVEN
            );
        }
        let mut out = format!("{} stated: {proven} proven", stated.len());
        if failed > 0 {
            out.push_str(&format!(", {failed} not proven (a counterexample below)"));
        }
        if unproven > 0 {
            out.push_str(&format!(", {unproven} {}", label::NOT_PROVEN));
        }
        out
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
                    properties: vec![
                        "p-proven".to_owned(),
                        "p-failed".to_owned(),
                        "p-unknown".to_owned(),
                    ],
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
            properties: [
                (
                    "p-proven".to_owned(),
                    PropertyRow {
                        kind: "safety".to_owned(),
                        reason_en: "only <licensed> operators".to_owned(),
                        reason_zh: "仅限持证".to_owned(),
                        file: "properties/a.cedar".to_owned(),
                        proof: Proof::Proven {
                            millis: 1234,
                            environments: 3,
                        },
                    },
                ),
                (
                    "p-failed".to_owned(),
                    PropertyRow {
                        kind: "liveness".to_owned(),
                        reason_en: "wind-down".to_owned(),
                        reason_zh: "退出".to_owned(),
                        file: "properties/a.cedar".to_owned(),
                        proof: Proof::Failed {
                            environment: "Tenant export_data Dataset".to_owned(),
                            description: "denied".to_owned(),
                        },
                    },
                ),
            ]
            .into(),
            proofs: Some(ProofRun {
                millis: 2500,
                environments: 30,
            }),
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
