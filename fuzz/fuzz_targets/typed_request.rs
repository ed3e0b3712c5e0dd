//! The component's typed request path: requests built from arbitrary data over the schema's
//! vocabulary (and outside it), never a panic; an allow always has no denials.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use yungui_fuzz::bindings::yungui::policy::types as wit;
use yungui_fuzz::{ENGINE, registry};

const TYPES: &[&str] = &[
    "Cloud::Tenant",
    "Cloud::Operator",
    "Cloud::Region",
    "Cloud::Workload",
    "Cloud::Domain",
    "Cloud::Dataset",
    "Cloud::PublicIp",
    "Cloud::Carrier",
    "Cloud::Staff",
    "Cloud::Partner",
    "Cloud::Backup",
    "Cloud::Offering",
    "Other::Thing",
    "",
];
const IDS: &[&str] = &[
    "shop-example",
    "unverified-example",
    "cn-north-1",
    "eu-west-1",
    "acme-cloud",
    "x",
];
const ACTIONS: &[&str] = &[
    "provision_workload",
    "bind_domain",
    "place_data",
    "allocate_public_ip",
    "share_data",
    "Cloud::Action::\"provision_workload\"",
    "Other::Action::\"provision_workload\"",
    "nope",
];
const NAMES: &[&str] = &[
    "region",
    "purpose",
    "owner",
    "privileged",
    "host_access",
    "now",
    "name",
    "suffixes",
    "classes",
    "encrypted",
    "public",
    "carrier",
    "kind",
    "x",
];

fn pick<'a>(u: &mut Unstructured<'_>, from: &[&'a str]) -> arbitrary::Result<String> {
    if u.ratio(1, 8)? {
        return String::arbitrary(u);
    }
    Ok((*u.choose(from)?).to_owned())
}

fn uid(u: &mut Unstructured<'_>) -> arbitrary::Result<wit::EntityUid> {
    Ok(wit::EntityUid {
        type_name: pick(u, TYPES)?,
        id: pick(u, IDS)?,
    })
}

fn value(u: &mut Unstructured<'_>) -> arbitrary::Result<wit::Value> {
    Ok(match u.int_in_range(0..=7)? {
        0 => wit::Value::Boolean(bool::arbitrary(u)?),
        1 => wit::Value::Long(i64::arbitrary(u)?),
        2 => wit::Value::String(pick(u, IDS)?),
        3 => wit::Value::Entity(uid(u)?),
        4 => wit::Value::Datetime(pick(u, &["2026-11-30T08:00:00Z", "2026-11-30", "soon"])?),
        5 => wit::Value::StringSet(Vec::<String>::arbitrary(u)?),
        6 => {
            let n = u.int_in_range(0..=4)?;
            wit::Value::EntitySet((0..n).map(|_| uid(u)).collect::<Result<_, _>>()?)
        }
        _ => wit::Value::Json(String::arbitrary(u)?),
    })
}

fn attrs(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<wit::Attribute>> {
    let n = u.int_in_range(0..=8)?;
    (0..n)
        .map(|_| {
            Ok(wit::Attribute {
                name: pick(u, NAMES)?,
                value: value(u)?,
            })
        })
        .collect()
}

fn entity(u: &mut Unstructured<'_>) -> arbitrary::Result<wit::Entity> {
    let parents = u.int_in_range(0..=2)?;
    Ok(wit::Entity {
        uid: uid(u)?,
        attrs: attrs(u)?,
        parents: (0..parents).map(|_| uid(u)).collect::<Result<_, _>>()?,
    })
}

fn request(u: &mut Unstructured<'_>) -> arbitrary::Result<wit::Request> {
    let extra = u.int_in_range(0..=2)?;
    Ok(wit::Request {
        principal: uid(u)?,
        action: pick(u, ACTIONS)?,
        resource: entity(u)?,
        context: attrs(u)?,
        entities: (0..extra).map(|_| entity(u)).collect::<Result<_, _>>()?,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(request) = request(&mut u) else {
        return;
    };
    if let Ok(decision) = ENGINE.with(|engine| engine.decide(request, registry())) {
        assert_eq!(decision.allowed, decision.denials.is_empty());
    }
});
