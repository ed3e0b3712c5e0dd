//! cosign's encrypted private key (`cosign.key`): scrypt, then NaCl secretbox.
//!
//! What `cosign generate-key-pair` writes: PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (or the older
//! `ENCRYPTED COSIGN PRIVATE KEY`) around JSON naming the key derivation (`scrypt`, with its `N`,
//! `r`, `p` and salt) and the cipher (`nacl/secretbox`, XSalsa20-Poly1305, with its nonce); the
//! plaintext is a PKCS#8 DER ECDSA P-256 key.

use base64::Engine as _;
use p256::pkcs8::DecodePrivateKey as _;
use serde::Deserialize;

use crate::OciError;

/// The PEM labels of cosign's encrypted private keys: today's, and the one older cosign wrote.
pub const COSIGN_KEY_LABELS: [&str; 2] = [
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];
/// The environment variable cosign reads a private key's password from.
pub const COSIGN_PASSWORD_VAR: &str = "COSIGN_PASSWORD";
/// The most memory a key file may make scrypt use (128 · N · r bytes): 1 GiB.
const SCRYPT_MAX_MEMORY: u64 = 1 << 30;
/// The most scrypt parallelism a key file may ask for (time grows with it).
const SCRYPT_MAX_P: u32 = 16;

/// The JSON body of a cosign encrypted private key.
#[derive(Debug, Deserialize)]
struct CosignKey {
    kdf: CosignKdf,
    cipher: CosignCipher,
    ciphertext: String,
}

#[derive(Debug, Deserialize)]
struct CosignKdf {
    name: String,
    params: Option<ScryptParams>,
    #[serde(default)]
    salt: String,
}

#[derive(Debug, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N", alias = "n")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Debug, Deserialize)]
struct CosignCipher {
    name: String,
    #[serde(default)]
    nonce: String,
}

/// Decrypts a cosign encrypted private key; `name` says where it came from, for errors.
pub(crate) fn decrypt(
    pem: &str,
    password: &[u8],
    name: &str,
) -> Result<p256::ecdsa::SigningKey, OciError> {
    use crypto_secretbox::aead::{Aead as _, KeyInit as _};

    let fail = |reason: String| OciError::Key {
        path: name.to_owned(),
        reason,
    };
    let (label, body) = pem_rfc7468::decode_vec(pem.trim().as_bytes())
        .map_err(|e| fail(format!("not a PEM file: {e}")))?;
    if !COSIGN_KEY_LABELS.contains(&label) {
        return Err(fail(format!(
            "PEM label `{label}` is not a cosign encrypted private key (`{}`)",
            COSIGN_KEY_LABELS.join("` or `")
        )));
    }
    let key: CosignKey = serde_json::from_slice(&body)
        .map_err(|e| fail(format!("not cosign's encrypted key JSON: {e}")))?;
    if key.kdf.name != "scrypt" {
        return Err(fail(format!(
            "key derivation `{}` is not supported (cosign's is `scrypt`)",
            key.kdf.name
        )));
    }
    if key.cipher.name != "nacl/secretbox" {
        return Err(fail(format!(
            "cipher `{}` is not supported (cosign's is `nacl/secretbox`)",
            key.cipher.name
        )));
    }
    let params = key
        .kdf
        .params
        .ok_or_else(|| fail("kdf.params (scrypt's N, r, p) is missing".to_owned()))?;
    let memory = 128u64
        .checked_mul(params.n)
        .and_then(|m| m.checked_mul(u64::from(params.r)));
    if !params.n.is_power_of_two()
        || params.n < 2
        || memory.is_none_or(|m| m > SCRYPT_MAX_MEMORY)
        || params.p > SCRYPT_MAX_P
    {
        return Err(fail(format!(
            "scrypt N={} r={} p={} is out of range (N a power of two, 128·N·r at most \
             {SCRYPT_MAX_MEMORY} bytes, p at most {SCRYPT_MAX_P})",
            params.n, params.r, params.p
        )));
    }
    let log_n = u8::try_from(params.n.trailing_zeros())
        .map_err(|e| fail(format!("scrypt N={}: {e}", params.n)))?;
    let scrypt_params = scrypt::Params::new(log_n, params.r, params.p, 32).map_err(|e| {
        fail(format!(
            "scrypt N={} r={} p={}: {e}",
            params.n, params.r, params.p
        ))
    })?;
    let decode = |field: &str, text: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| fail(format!("{field} is not base64: {e}")))
    };
    let salt = decode("kdf.salt", &key.kdf.salt)?;
    let nonce: [u8; 24] = decode("cipher.nonce", &key.cipher.nonce)?
        .try_into()
        .map_err(|n: Vec<u8>| fail(format!("cipher.nonce is {} bytes, not 24", n.len())))?;
    let ciphertext = decode("ciphertext", &key.ciphertext)?;

    let mut secret = zeroize::Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, &salt, &scrypt_params, secret.as_mut_slice())
        .map_err(|e| fail(format!("scrypt: {e}")))?;
    let der = crypto_secretbox::XSalsa20Poly1305::new(&(*secret).into())
        .decrypt(&nonce.into(), ciphertext.as_slice())
        .map(zeroize::Zeroizing::new)
        .map_err(|_| {
            fail(format!(
                "the password is wrong (`${COSIGN_PASSWORD_VAR}`): the key does not \
                 decrypt with it"
            ))
        })?;
    p256::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(|e| {
        fail(format!(
            "decrypted, but not a PKCS#8 ECDSA P-256 private key: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use p256::pkcs8::DecodePublicKey as _;

    fn data(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    fn read(name: &str) -> String {
        std::fs::read_to_string(data(name)).unwrap()
    }

    /// Replaces the base64 JSON body of a cosign key with `json`, keeping its PEM label.
    fn with_body(pem: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let (label, body) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        edit(&mut json);
        pem_rfc7468::encode_string(
            label,
            pem_rfc7468::LineEnding::LF,
            &serde_json::to_vec(&json).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn cosign_key_decrypts_to_the_key_of_its_cosign_pub() {
        let key = decrypt(
            &read("policy-controller-cosign.key"),
            b"",
            "policy-controller-cosign.key",
        )
        .unwrap();
        let public =
            p256::ecdsa::VerifyingKey::from_public_key_pem(&read("policy-controller-cosign.pub"))
                .unwrap();
        assert_eq!(*key.verifying_key(), public);
    }

    #[test]
    fn sigstore_labelled_cosign_key_decrypts_with_its_password() {
        let pem = read("cosign-sigstore-hello.key");
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
        let key = decrypt(&pem, b"hello", "cosign-sigstore-hello.key").unwrap();
        let other = decrypt(
            &read("policy-controller-cosign.key"),
            b"",
            "policy-controller-cosign.key",
        )
        .unwrap();
        assert_ne!(key.verifying_key(), other.verifying_key());
    }

    #[test]
    fn wrong_cosign_password_is_named() {
        let err = decrypt(
            &read("cosign-sigstore-hello.key"),
            b"hell",
            "keys/cosign.key",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("keys/cosign.key"), "{err}");
        assert!(err.contains("password is wrong"), "{err}");
        assert!(err.contains("$COSIGN_PASSWORD"), "{err}");
    }

    #[test]
    fn other_kdf_or_cipher_is_named() {
        let pem = read("cosign-sigstore-hello.key");
        let kdf = with_body(&pem, |json| json["kdf"]["name"] = "argon2id".into());
        let err = decrypt(&kdf, b"hello", "k.key").unwrap_err().to_string();
        assert!(err.contains("k.key") && err.contains("`argon2id`"), "{err}");
        let cipher = with_body(&pem, |json| json["cipher"]["name"] = "aes-256-gcm".into());
        let err = decrypt(&cipher, b"hello", "k.key").unwrap_err().to_string();
        assert!(
            err.contains("k.key") && err.contains("`aes-256-gcm`"),
            "{err}"
        );
    }

    #[test]
    fn oversized_scrypt_parameters_are_refused_before_deriving() {
        let pem = read("cosign-sigstore-hello.key");
        let huge = with_body(&pem, |json| {
            json["kdf"]["params"]["N"] = (1u64 << 40).into()
        });
        let err = decrypt(&huge, b"hello", "k.key").unwrap_err().to_string();
        assert!(err.contains("out of range"), "{err}");
        let odd = with_body(&pem, |json| json["kdf"]["params"]["N"] = 1000.into());
        let err = decrypt(&odd, b"hello", "k.key").unwrap_err().to_string();
        assert!(err.contains("N=1000"), "{err}");
    }
}
