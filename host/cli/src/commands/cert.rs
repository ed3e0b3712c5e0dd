//! `yungui cert`: a CA and a server certificate for the webhook, with rcgen.
//!
//! Writes `ca.crt` (the CA, whose base64 is the webhook's `caBundle`), `ca.key`, `tls.crt` (the
//! server certificate) and `tls.key` (its key, mode 0600) into `--out`, and prints the caBundle.
//! The server certificate names every `--dns` name (default: the names of the `yungui` Service in
//! namespace `yungui-system`) and is valid for server authentication only. The CA lives
//! `--ca-days`, the server certificate `--days`: `--ca-cert`/`--ca-key` renew the server
//! certificate under an existing CA (whose files are read, never written), so the webhook's
//! `caBundle` stays as it is.
//!
//! `--kustomize DIR` also writes a kustomize Component into `DIR`: `secret.yaml` (Secret
//! `yungui-tls` in `yungui-system`: `tls.crt`, `tls.key`, `ca.crt`) and a `kustomization.yaml`
//! that adds it and copies its `ca.crt` into the `caBundle` of every entry of the
//! ValidatingWebhookConfiguration `yungui`, so the bundle always verifies the Secret's
//! certificate (`components: [DIR]` in an overlay).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Args;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData as _,
};

/// Make a CA and a server certificate for `yungui serve`.
#[derive(Debug, Args)]
pub struct CertCommand {
    /// The folder to write `ca.crt`, `ca.key`, `tls.crt` and `tls.key` into (created if needed;
    /// with `--ca-cert`, only `tls.crt` and `tls.key`).
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

    /// Days the server certificate is valid.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,

    /// Days a new CA is valid (at least `--days`).
    #[arg(
        long,
        default_value_t = 3650,
        value_parser = clap::value_parser!(u32).range(1..=36500),
        conflicts_with = "ca_cert"
    )]
    pub ca_days: u32,

    /// An existing CA certificate (PEM) to sign the server certificate with, instead of a new
    /// CA: renews the server certificate and keeps the webhook's `caBundle`. Needs `--ca-key`.
    #[arg(long, value_name = "FILE", requires = "ca_key")]
    pub ca_cert: Option<PathBuf>,

    /// The private key (PEM) of `--ca-cert`.
    #[arg(long, value_name = "FILE", requires = "ca_cert")]
    pub ca_key: Option<PathBuf>,

    /// Also write a kustomize Component into DIR: `secret.yaml` (Secret `yungui-tls`) and a
    /// `kustomization.yaml` that copies its `ca.crt` into every webhook entry's `caBundle`.
    #[arg(long, value_name = "DIR")]
    pub kustomize: Option<PathBuf>,

    /// Overwrite files already in `--out` (and `--kustomize`).
    #[arg(long)]
    pub force: bool,
}

/// Where the CA comes from.
#[derive(Debug, Clone)]
pub enum CaSource {
    /// A new CA, valid for this many days.
    New {
        /// Days the CA is valid.
        days: u32,
    },
    /// An existing CA.
    Existing {
        /// Its certificate (PEM).
        cert: String,
        /// Its private key (PEM).
        key: String,
    },
}

/// The PEM texts `yungui cert` writes.
#[doc(hidden)] // Public for the integration tests (the fixtures of the HTTPS tests).
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The CA certificate.
    pub ca_cert: String,
    /// The CA's private key: `None` when an existing CA signed (its files stay as they are).
    pub ca_key: Option<String>,
    /// The server certificate.
    pub cert: String,
    /// The server's private key.
    pub key: String,
}

impl CertCommand {
    /// Runs the command.
    pub fn execute(self) -> anyhow::Result<super::Exit> {
        let ca = match (&self.ca_cert, &self.ca_key) {
            (Some(cert), Some(key)) => CaSource::Existing {
                cert: std::fs::read_to_string(cert).with_context(|| {
                    format!("cannot read the CA certificate `{}`", cert.display())
                })?,
                key: std::fs::read_to_string(key)
                    .with_context(|| format!("cannot read the CA key `{}`", key.display()))?,
            },
            _ => CaSource::New { days: self.ca_days },
        };
        let bundle = issue(&self.dns, self.days, &ca)?;
        write_bundle(&self.out, &bundle, self.force)?;
        let written = if bundle.ca_key.is_some() {
            "ca.crt, ca.key, tls.crt, tls.key"
        } else {
            "tls.crt, tls.key"
        };
        eprintln!(
            "yungui: wrote {written} to `{}` for {}; the server certificate is valid {} days{}",
            self.out.display(),
            self.dns.join(", "),
            self.days,
            match (&ca, &self.ca_cert) {
                (CaSource::New { days }, _) => format!(", the CA {days} days"),
                (CaSource::Existing { .. }, Some(path)) =>
                    format!(", signed by `{}`", path.display()),
                (CaSource::Existing { .. }, None) => String::new(),
            }
        );
        if let Some(dir) = &self.kustomize {
            write_kustomize(dir, &bundle, self.force)?;
            eprintln!(
                "yungui: wrote the kustomize Component `{}` (secret.yaml, kustomization.yaml): add it to an overlay's `components:`",
                dir.display()
            );
        }
        eprintln!("caBundle (base64 of ca.crt, for the ValidatingWebhookConfiguration):");
        println!("{}", base64(bundle.ca_cert.as_bytes()));
        Ok(super::Exit::Ok)
    }
}

/// A new CA, and a server certificate it signs for `names`, both valid `days` from today.
pub fn generate(names: &[String], days: u32) -> anyhow::Result<Bundle> {
    issue(names, days, &CaSource::New { days })
}

/// A server certificate for `names`, valid `days` from today, signed by `ca`.
pub fn issue(names: &[String], days: u32, ca: &CaSource) -> anyhow::Result<Bundle> {
    if names.is_empty() {
        anyhow::bail!("no `--dns` name: name the webhook Service, e.g. `yungui.yungui-system.svc`");
    }

    if let Some(bad) = names.iter().find(|n| !is_host_name(n)) {
        anyhow::bail!(
            "`{bad}` is neither a DNS name nor an IP address: pass names like `yungui.yungui-system.svc`"
        );
    }

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
    let server_until = set_validity(&mut server, days)?;

    let (ca_cert, ca_key, cert) = match ca {
        CaSource::New { days: ca_days } => {
            if *ca_days < days {
                anyhow::bail!(
                    "the CA would expire before the server certificate: `--ca-days` ({ca_days}) is less than `--days` ({days})"
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
            set_validity(&mut ca, *ca_days)?;
            let ca_cert = ca
                .self_signed(&ca_key)
                .context("cannot sign the CA certificate")?;
            let issuer = Issuer::from_params(&ca, &ca_key);
            let cert = server
                .signed_by(&key, &issuer)
                .context("cannot sign the server certificate")?;
            (ca_cert.pem(), Some(ca_key.serialize_pem()), cert)
        }
        CaSource::Existing { cert, key: ca_key } => {
            let ca_key = KeyPair::from_pem(ca_key)
                .map_err(|e| anyhow::anyhow!("the CA key is not a PEM private key: {e}"))?;
            check_ca(cert, &ca_key, server_until)?;
            let issuer = Issuer::from_ca_cert_pem(cert, &ca_key)
                .map_err(|e| anyhow::anyhow!("cannot read the CA certificate: {e}"))?;
            let signed = server
                .signed_by(&key, &issuer)
                .context("cannot sign the server certificate")?;
            (cert.clone(), None, signed)
        }
    };

    Ok(Bundle {
        ca_cert,
        ca_key,
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// An existing CA signs only if it is a CA, its key is the given one, and it outlives the
/// server certificate (`until`, Unix seconds).
fn check_ca(pem: &str, key: &KeyPair, until: i64) -> anyhow::Result<()> {
    let (_, der) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("the CA certificate is not PEM: {e}"))?;
    let ca = der
        .parse_x509()
        .map_err(|e| anyhow::anyhow!("the CA certificate is not an X.509 certificate: {e}"))?;
    if !ca.is_ca() {
        anyhow::bail!(
            "the CA certificate (subject `{}`) is not a CA (no basicConstraints CA:TRUE)",
            ca.subject()
        );
    }
    if ca.public_key().raw != key.subject_public_key_info().as_slice() {
        anyhow::bail!(
            "the CA key is not the key of the CA certificate (subject `{}`)",
            ca.subject()
        );
    }
    let ca_until = ca.validity().not_after;
    if ca_until.timestamp() < until {
        anyhow::bail!(
            "the CA (subject `{}`) expires {ca_until}, before the server certificate would ({}): make a new CA (without `--ca-cert`) or pass a smaller `--days`",
            ca.subject(),
            yungui::request::format_utc(u64::try_from(until).unwrap_or(0)),
        );
    }
    Ok(())
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

/// Valid from yesterday (clock skew) to `days` after today, at 00:00 UTC; returns the end (Unix
/// seconds).
fn set_validity(params: &mut CertificateParams, days: u32) -> anyhow::Result<i64> {
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
    Ok(params.not_after.unix_timestamp())
}

/// Writes the bundle; refuses to overwrite unless `force`.
#[doc(hidden)] // Public for the integration tests (the fixtures of the HTTPS tests).
pub fn write_bundle(dir: &Path, bundle: &Bundle, force: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let mut files = vec![
        ("tls.crt", &bundle.cert, false),
        ("tls.key", &bundle.key, true),
    ];
    if let Some(ca_key) = &bundle.ca_key {
        files.extend([("ca.crt", &bundle.ca_cert, false), ("ca.key", ca_key, true)]);
    }
    write_files(dir, &files, force)
}

/// Writes the kustomize Component: `secret.yaml` and its `kustomization.yaml`.
pub fn write_kustomize(dir: &Path, bundle: &Bundle, force: bool) -> anyhow::Result<()> {
    let secret = format!(
        "# Written by `yungui cert --kustomize`: the webhook's serving certificate and key, and the CA\n\
         # that signed it (its `ca.crt` becomes the webhook's caBundle). It holds a private key: keep\n\
         # it out of version control, or seal it.\n\
         apiVersion: v1\n\
         kind: Secret\n\
         metadata:\n  name: yungui-tls\n  namespace: yungui-system\n  labels:\n    app.kubernetes.io/name: yungui\n\
         type: kubernetes.io/tls\n\
         data:\n  tls.crt: {}\n  tls.key: {}\n  ca.crt: {}\n",
        base64(bundle.cert.as_bytes()),
        base64(bundle.key.as_bytes()),
        base64(bundle.ca_cert.as_bytes()),
    );
    let kustomization = "# Written by `yungui cert --kustomize`: add this folder to an overlay's `components:`. It adds\n\
         # the Secret `yungui-tls` and copies its `ca.crt` into the caBundle of every entry of the\n\
         # ValidatingWebhookConfiguration `yungui`, so the bundle is always the CA of the Secret.\n\
         apiVersion: kustomize.config.k8s.io/v1alpha1\n\
         kind: Component\n\
         resources:\n  - secret.yaml\n\
         replacements:\n  - source:\n      kind: Secret\n      name: yungui-tls\n      fieldPath: data.[ca.crt]\n\
         \x20   targets:\n      - select: {kind: ValidatingWebhookConfiguration, name: yungui}\n\
         \x20       fieldPaths: ['webhooks.*.clientConfig.caBundle']\n        options: {create: true}\n"
        .to_owned();
    write_files(
        dir,
        &[
            ("secret.yaml", &secret, true),
            ("kustomization.yaml", &kustomization, false),
        ],
        force,
    )
}

/// Writes files into `dir` (created if needed); refuses to overwrite unless `force`.
fn write_files(dir: &Path, files: &[(&str, &String, bool)], force: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    if !force && let Some((existing, _, _)) = files.iter().find(|(f, _, _)| dir.join(f).exists()) {
        anyhow::bail!(
            "`{}` already exists: pass `--force` to replace the certificates",
            dir.join(existing).display()
        );
    }
    for &(file, text, secret) in files {
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

    /// The first certificate of a PEM text, parsed.
    fn parsed(pem: &str) -> x509_parser::pem::Pem {
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap().1
    }

    #[test]
    fn ca_and_server_have_their_own_validity() {
        let bundle = issue(&["localhost".to_owned()], 30, &CaSource::New { days: 400 }).unwrap();
        let ca = parsed(&bundle.ca_cert);
        let server = parsed(&bundle.cert);
        let days = |p: &x509_parser::pem::Pem| {
            let validity = p.parse_x509().unwrap().validity().clone();
            (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400
        };
        // From yesterday to `days` after today.
        assert_eq!(days(&ca), 401);
        assert_eq!(days(&server), 31);
        let err = issue(&["localhost".to_owned()], 30, &CaSource::New { days: 10 }).unwrap_err();
        assert!(err.to_string().contains("`--ca-days` (10)"), "{err}");
    }

    #[test]
    fn an_existing_ca_signs_a_renewed_server_certificate() {
        let first = issue(&["localhost".to_owned()], 30, &CaSource::New { days: 400 }).unwrap();
        let existing = CaSource::Existing {
            cert: first.ca_cert.clone(),
            key: first.ca_key.clone().unwrap(),
        };
        let renewed = issue(&["localhost".to_owned()], 60, &existing).unwrap();
        assert_eq!(renewed.ca_cert, first.ca_cert, "the CA is kept");
        assert!(renewed.ca_key.is_none(), "the CA key is not written again");
        assert_ne!(renewed.key, first.key, "a new server key");
        let ca = parsed(&first.ca_cert);
        let ca = ca.parse_x509().unwrap();
        let server = parsed(&renewed.cert);
        let server = server.parse_x509().unwrap();
        assert_eq!(server.issuer(), ca.subject());
        server.verify_signature(Some(ca.public_key())).unwrap();

        // The CA's files stay as they are: only tls.crt and tls.key are written.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), "kept").unwrap();
        write_bundle(dir.path(), &renewed, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("ca.crt")).unwrap(),
            "kept"
        );
        assert!(!dir.path().join("ca.key").exists());

        // Refused: a server certificate that would outlive the CA, another CA's key, a leaf.
        let err = issue(&["localhost".to_owned()], 500, &existing).unwrap_err();
        assert!(
            err.to_string().contains("before the server certificate"),
            "{err}"
        );
        let other = issue(&["localhost".to_owned()], 30, &CaSource::New { days: 30 }).unwrap();
        let wrong_key = CaSource::Existing {
            cert: first.ca_cert.clone(),
            key: other.ca_key.clone().unwrap(),
        };
        let err = issue(&["localhost".to_owned()], 30, &wrong_key).unwrap_err();
        assert!(err.to_string().contains("not the key of the CA"), "{err}");
        let leaf = CaSource::Existing {
            cert: first.cert.clone(),
            key: first.key.clone(),
        };
        let err = issue(&["localhost".to_owned()], 1, &leaf).unwrap_err();
        assert!(err.to_string().contains("is not a CA"), "{err}");
        let garbage = CaSource::Existing {
            cert: "not pem".to_owned(),
            key: first.ca_key.unwrap(),
        };
        assert!(issue(&["localhost".to_owned()], 1, &garbage).is_err());
    }
}
