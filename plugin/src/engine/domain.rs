//! Domain names as DNS and ICP filing treat them: the engine computes `Domain.suffixes` from
//! `Domain.name` itself, so no caller can forge the list that art. 8(1)'s filing check reads.

/// The longest name DNS carries, without the trailing dot.
const MAX_NAME: usize = 253;
/// The longest label.
const MAX_LABEL: usize = 63;

/// `name` normalised: internationalised labels to punycode (UTS #46, which also lower-cases),
/// one trailing dot removed. A leading `*` label (a wildcard host) is kept, and so is `*` alone:
/// every name (an Ingress rule without a host), which no filing covers. Anything that is not a
/// host name is an error saying why.
pub fn normalise(name: &str) -> Result<String, String> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed == "*" {
        return Ok(trimmed.to_owned());
    }
    if trimmed.is_empty() {
        return Err(format!("`{name}` is not a domain name: it is empty"));
    }
    let (wildcard, rest) = match trimmed.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let ascii = idna::domain_to_ascii(rest).map_err(|_| {
        format!("`{name}` is not a domain name: its labels do not convert to punycode (IDNA)")
    })?;
    for label in ascii.split('.') {
        if label.is_empty() {
            return Err(format!(
                "`{name}` is not a domain name: it has an empty label"
            ));
        }
        if label.len() > MAX_LABEL {
            return Err(format!(
                "`{name}` is not a domain name: label `{label}` is longer than {MAX_LABEL} characters"
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "`{name}` is not a domain name: `{bad}` is not allowed in a host name"
            ));
        }
    }
    let normalised = if wildcard {
        format!("*.{ascii}")
    } else {
        ascii
    };
    if normalised.len() > MAX_NAME {
        return Err(format!(
            "`{name}` is not a domain name: it is longer than {MAX_NAME} characters"
        ));
    }
    Ok(normalised)
}

/// Every dot-boundary suffix of a normalised name, the name included: `www.shop.example.cn` →
/// `www.shop.example.cn`, `shop.example.cn`, `example.cn`, `cn`.
pub fn suffixes(name: &str) -> Vec<String> {
    let mut out = vec![name.to_owned()];
    let mut rest = name;
    while let Some((_, tail)) = rest.split_once('.') {
        out.push(tail.to_owned());
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_trailing_dot_do_not_matter() {
        assert_eq!(
            normalise("WWW.Shop.Example.CN.").unwrap(),
            "www.shop.example.cn"
        );
    }

    #[test]
    fn internationalised_names_become_punycode() {
        assert_eq!(normalise("www.商店.cn").unwrap(), "www.xn--czrs0t.cn");
        assert_eq!(normalise("www.xn--czrs0t.cn").unwrap(), "www.xn--czrs0t.cn");
        assert_eq!(normalise("例子.中国").unwrap(), "xn--fsqu00a.xn--fiqs8s");
    }

    #[test]
    fn wildcards_are_kept() {
        assert_eq!(normalise("*.A.cn").unwrap(), "*.a.cn");
        assert_eq!(suffixes("*.a.cn"), ["*.a.cn", "a.cn", "cn"]);
        // Every name: its only suffix is itself, which no filed domain equals.
        assert_eq!(normalise("*").unwrap(), "*");
        assert_eq!(suffixes("*"), ["*"]);
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in [
            "",
            ".",
            "a..cn",
            "a b.cn",
            "a/b.cn",
            "**",
            "a.*.cn",
            &"a".repeat(64),
        ] {
            assert!(normalise(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn suffixes_stop_at_every_dot() {
        assert_eq!(
            suffixes("www.shop.example.cn"),
            ["www.shop.example.cn", "shop.example.cn", "example.cn", "cn"]
        );
        assert_eq!(suffixes("localhost"), ["localhost"]);
    }
}
