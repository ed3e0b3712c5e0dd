//! `yungui cert`: a CA and a server certificate for the webhook, with rcgen.
//!
//! Writes `ca.crt` (the CA, whose base64 is the webhook's `caBundle`), `ca.key`, `tls.crt` (the
//! server certificate) and `tls.key` (its key, mode 0600) into `--out`, and prints the caBundle.
//! The server certificate names every `--dns` name (default: the names of the `yungui` Service in
//! namespace `yungui-system`) and is valid for server authentication only.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Args;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// Make a CA and a server certificate for `yungui serve`.
#[derive(Debug, Args)]
pub struct CertCommand {
    /// The folder to write `ca.crt`, `ca.key`, `tls.crt` and `tls.key` into (created if needed).
    #[arg(long, default_value = "certs", value_name = "DIR")]
    pub out: PathBuf,

    /// A DNS name (or IP address) the server certificate is for; repeat for several.
    #[arg(
        long = "dns",
        value_name = "NAME",
        num_args = 1..,
        default_values_t = [
            "yungui.yungui-system.svc".to_owned(),
            "yungui.yungui-system.svc.cluster.local".to_owned(),
        ]
    )]
    pub dns: Vec<String>,

    /// Days the certificates are valid.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,

    /// Overwrite files already in `--out`.
    #[arg(long)]
    pub force: bool,
}

/// The PEM texts `yungui cert` writes.
#[doc(hidden)] // Public for the integration tests (the fixtures of the HTTPS tests).
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The CA certificate.
    pub ca_cert: String,
    /// The CA's private key.
    pub ca_key: String,
    /// The server certificate.
    pub cert: String,
    /// The server's private key.
    pub key: String,
}

impl CertCommand {
    /// Runs the command.
    pub fn execute(self) -> anyhow::Result<super::Exit> {
        let bundle = generate(&self.dns, self.days)?;
        write_bundle(&self.out, &bundle, self.force)?;
        eprintln!(
            "yungui: wrote ca.crt, ca.key, tls.crt, tls.key to `{}` for {}; valid {} days",
            self.out.display(),
            self.dns.join(", "),
            self.days
        );
        eprintln!("caBundle (base64 of ca.crt, for the ValidatingWebhookConfiguration):");
        println!("{}", base64(bundle.ca_cert.as_bytes()));
        Ok(super::Exit::Ok)
    }
}

/// A new CA, and a server certificate it signs for `names`, valid `days` from today.
#[doc(hidden)] // Public for the integration tests (the fixtures of the HTTPS tests).
pub fn generate(names: &[String], days: u32) -> anyhow::Result<Bundle> {
    if names.is_empty() {
        anyhow::bail!("no `--dns` name: name the webhook Service, e.g. `yungui.yungui-system.svc`");
    }

    if let Some(bad) = names.iter().find(|n| !is_host_name(n)) {
        anyhow::bail!(
            "`{bad}` is neither a DNS name nor an IP address: pass names like `yungui.yungui-system.svc`"
        );
    }

    let ca_key = KeyPair::generate().context("cannot generate the CA key")?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = name("yungui webhook CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut ca, days)?;
    let ca_cert = ca
        .self_signed(&ca_key)
        .context("cannot sign the CA certificate")?;

    let key = KeyPair::generate().context("cannot generate the server key")?;
    let mut server = CertificateParams::new(names.to_vec()).with_context(|| {
        format!(
            "`{}` holds a name that is not a DNS name or IP address",
            names.join(" ")
        )
    })?;
    server.distinguished_name = name(names.first().map_or("yungui", String::as_str));
    server.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    set_validity(&mut server, days)?;
    let issuer = Issuer::from_params(&ca, &ca_key);
    let cert = server
        .signed_by(&key, &issuer)
        .context("cannot sign the server certificate")?;

    Ok(Bundle {
        ca_cert: ca_cert.pem(),
        ca_key: ca_key.serialize_pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// An IP address, or a DNS name: dot-separated labels of letters, digits and inner hyphens (the
/// first label may be `*`), at most 253 characters.
fn is_host_name(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let label = |(i, l): (usize, &str)| {
        (i == 0 && l == "*")
            || (!l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-'))
    };
    !name.is_empty() && name.len() <= 253 && name.split('.').enumerate().all(label)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "yungui");
    dn
}

/// Valid from yesterday (clock skew) to `days` after today, at 00:00 UTC.
fn set_validity(params: &mut CertificateParams, days: u32) -> anyhow::Result<()> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = |secs: u64| -> anyhow::Result<_> {
        let text = yungui::request::format_utc(secs);
        let field = |range: std::ops::Range<usize>| -> anyhow::Result<u32> {
            text.get(range)
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("cannot read the date `{text}`"))
        };
        let year = i32::try_from(field(0..4)?)?;
        let month = u8::try_from(field(5..7)?)?;
        let day = u8::try_from(field(8..10)?)?;
        Ok(rcgen::date_time_ymd(year, month, day))
    };
    params.not_before = day(now.saturating_sub(86_400))?;
    params.not_after = day(now.saturating_add(u64::from(days) * 86_400))?;
    Ok(())
}

/// Writes the bundle; refuses to overwrite unless `force`.
#[doc(hidden)] // Public for the integration tests (the fixtures of the HTTPS tests).
pub fn write_bundle(dir: &Path, bundle: &Bundle, force: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let files = [
        ("ca.crt", &bundle.ca_cert, false),
        ("ca.key", &bundle.ca_key, true),
        ("tls.crt", &bundle.cert, false),
        ("tls.key", &bundle.key, true),
    ];
    if !force && let Some((existing, _, _)) = files.iter().find(|(f, _, _)| dir.join(f).exists()) {
        anyhow::bail!(
            "`{}` already exists: pass `--force` to replace the certificates",
            dir.join(existing).display()
        );
    }
    for (file, text, secret) in files {
        let path = dir.join(file);
        write_file(&path, text, secret)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    Ok(())
}

fn write_file(path: &Path, text: &str, secret: bool) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(if secret { 0o600 } else { 0o644 })
            .open(path)?;
        file.write_all(text.as_bytes())
    }
    #[cfg(not(unix))]
    {
        let _ = secret;
        std::fs::write(path, text)
    }
}

/// Standard base64 with padding (RFC 4648), for `caBundle`.
#[doc(hidden)] // Public for the integration tests (the webhook configuration's `caBundle`).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sextet = |n: u32| char::from(ALPHABET.get((n & 63) as usize).copied().unwrap_or(b'='));
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sextet(n >> 18));
        out.push(sextet(n >> 12));
        out.push(if chunk.len() > 1 { sextet(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(n) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn generates_pem_and_refuses_to_overwrite() {
        let bundle = generate(&["localhost".to_owned(), "127.0.0.1".to_owned()], 2).unwrap();
        assert!(bundle.ca_cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(bundle.key.contains("PRIVATE KEY"));
        let dir = tempfile::tempdir().unwrap();
        write_bundle(dir.path(), &bundle, false).unwrap();
        assert!(
            write_bundle(dir.path(), &bundle, false)
                .unwrap_err()
                .to_string()
                .contains("--force")
        );
        write_bundle(dir.path(), &bundle, true).unwrap();
        let err = generate(&["not a name!".to_owned()], 1).unwrap_err();
        assert!(err.to_string().contains("`not a name!`"), "{err}");
        assert!(generate(&["a..b".to_owned()], 1).is_err());
        assert!(generate(&["*.yungui.svc".to_owned(), "::1".to_owned()], 1).is_ok());
        assert!(generate(&[], 1).is_err());
    }
}
