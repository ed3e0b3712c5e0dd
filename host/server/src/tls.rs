//! The server's TLS configuration: certificate and key from PEM files, optional client
//! certificate verification, and reload when the files change (certificates rotate without a
//! restart).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::Chain;

/// How often the certificate files are checked for changes.
const WATCH_EVERY: Duration = Duration::from_secs(10);

/// Why a certificate, its key or a client CA cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file cannot be read as PEM certificates.
    #[error("cannot read certificates from `{}`", .path.display())]
    Certificates {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("`{}` holds no PEM certificate", .0.display())]
    NoCertificate(PathBuf),
    /// The serving certificate is not an X.509 certificate.
    #[error("`{}` is not an X.509 certificate: {why}", .path.display())]
    NotX509 {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        why: String,
    },
    /// The key file cannot be read as a PEM private key.
    #[error("cannot read a private key from `{}`", .path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: pem::Error,
    },
    /// The client CA file cannot be read.
    #[error("cannot read `{}`", .path.display())]
    ClientCaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: pem::Error,
    },
    /// A certificate of the client CA file cannot be read.
    #[error("`{}`", .path.display())]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: pem::Error,
    },
    /// rustls refuses the certificates, the key or the CA.
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
    /// The client certificate verifier cannot be built.
    #[error(transparent)]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// A TLS configuration that follows its files.
#[derive(Debug, Clone)]
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
    config: RustlsConfig,
}

impl Tls {
    /// Reads the files and builds the configuration.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, TlsError> {
        let server = server_config(cert, key, client_ca)?;
        Ok(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            client_ca: client_ca.map(Path::to_owned),
            config: RustlsConfig::from_config(Arc::new(server)),
        })
    }

    /// The configuration to serve with.
    pub fn config(&self) -> RustlsConfig {
        self.config.clone()
    }

    /// When the serving certificate (the first in the file) expires, in Unix seconds.
    pub fn not_after(&self) -> Result<i64, TlsError> {
        not_after(&self.cert)
    }

    /// Reloads the configuration whenever a file changes; a bad new file keeps the old one.
    /// `loaded` is called with the new certificate's expiry (Unix seconds) after each reload.
    pub fn watch(&self, loaded: impl Fn(i64) + Send + 'static) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut seen = this.stamps();
            loop {
                tokio::time::sleep(WATCH_EVERY).await;
                let now = this.stamps();
                if now == seen {
                    continue;
                }
                seen = now;
                match server_config(&this.cert, &this.key, this.client_ca.as_deref()) {
                    Ok(server) => {
                        this.config.reload_from_config(Arc::new(server));
                        tracing::info!(cert = %this.cert.display(), "TLS certificate reloaded");
                        match not_after(&this.cert) {
                            Ok(secs) => loaded(secs),
                            Err(err) => tracing::warn!(
                                cert = %this.cert.display(),
                                "cannot read the reloaded certificate's expiry: {}",
                                Chain(&err)
                            ),
                        }
                    }
                    Err(err) => tracing::warn!(
                        cert = %this.cert.display(),
                        "new TLS files not usable, keeping the old ones: {}",
                        Chain(&err)
                    ),
                }
            }
        });
    }

    fn stamps(&self) -> Vec<Option<SystemTime>> {
        [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }
}

/// The notAfter of the first certificate in a PEM file, in Unix seconds.
pub fn not_after(cert: &Path) -> Result<i64, TlsError> {
    let unreadable = |source| TlsError::Certificates {
        path: cert.to_owned(),
        source,
    };
    let first = CertificateDer::pem_file_iter(cert)
        .map_err(unreadable)?
        .next()
        .ok_or_else(|| TlsError::NoCertificate(cert.to_owned()))?
        .map_err(unreadable)?;
    let (_, parsed) =
        x509_parser::parse_x509_certificate(&first).map_err(|e| TlsError::NotX509 {
            path: cert.to_owned(),
            why: e.to_string(),
        })?;
    Ok(parsed.validity().not_after.timestamp())
}

/// A rustls server configuration (ring provider, HTTP/1.1) from PEM files.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<ServerConfig, TlsError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|source| TlsError::Certificates {
            path: cert.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.to_owned(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).map_err(|source| TlsError::ClientCaFile {
                path: ca.to_owned(),
                source,
            })? {
                roots.add(c.map_err(|source| TlsError::ClientCa {
                    path: ca.to_owned(),
                    source,
                })?)?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    Ok(config)
}
