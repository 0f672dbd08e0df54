//! Secrets at rest: secret environment variables of workflows (and, later, provider keys
//! stored in the database) are sealed with ChaCha20-Poly1305 under a key derived from the
//! operator's `secret_key` (HKDF-SHA256). A sealed value is text, `weir-secret:v1:` then
//! base64 of nonce and ciphertext; anything without that prefix is a value stored before
//! sealing existed, read as it is and sealed on the next write.
//!
//! The key that signs file URLs and this one come from the same `secret_key` (configured,
//! or generated once into the data directory), so a CLI import and the server agree.

use std::path::Path;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use serde_json::Value;

use crate::settings::Settings;

/// The prefix of sealed values.
pub const SEALED_PREFIX: &str = "weir-secret:v1:";
/// The DSL pointer of a workflow's environment variables.
const ENV_POINTER: &str = "/workflow/environment_variables";

/// A sealed value could not be opened (another `secret_key`, or damaged).
#[derive(Debug, thiserror::Error)]
#[error("a stored secret cannot be decrypted: was secret_key changed?")]
pub struct OpenError;

/// The operator's secret: the configured `secret_key`, else a random one kept in the data
/// directory (created on first use) so that it survives restarts.
pub fn secret_key(settings: &Settings) -> Vec<u8> {
    if !settings.secret_key.is_empty() {
        return settings.secret_key.as_bytes().to_vec();
    }
    let path = settings.data_dir.join("secret_key");
    if let Ok(existing) = std::fs::read(&path) {
        if !existing.is_empty() {
            return existing;
        }
    }
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let _ = std::fs::create_dir_all(&settings.data_dir);
    write_private(&path, key.as_bytes());
    key.into_bytes()
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    if let Ok(mut f) = file {
        let _ = f.write_all(bytes);
    }
}

/// Seals and opens secrets with the key of one `secret_key`.
#[derive(Clone)]
pub struct Secrets {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets")
    }
}

impl Secrets {
    /// The sealer of `settings` (see [`secret_key`]).
    pub fn from_settings(settings: &Settings) -> Secrets {
        Secrets::new(&secret_key(settings))
    }

    /// The sealer whose key is derived from `secret`.
    pub fn new(secret: &[u8]) -> Secrets {
        let mut key = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(Some(b"weir"), secret)
            .expand(b"secrets at rest v1", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Secrets {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    /// `plain` sealed (a fresh nonce each time).
    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .expect("ChaCha20-Poly1305 encryption of an in-memory buffer does not fail");
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&sealed);
        format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// The plain text of a stored value (values stored before sealing pass through).
    pub fn open(&self, stored: &str) -> Result<String, OpenError> {
        let Some(encoded) = stored.strip_prefix(SEALED_PREFIX) else {
            return Ok(stored.to_owned());
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| OpenError)?;
        if raw.len() < 12 {
            return Err(OpenError);
        }
        let (nonce, sealed) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| OpenError)?;
        String::from_utf8(plain).map_err(|_| OpenError)
    }

    /// Seals the values of secret variables in a list of environment variables (values
    /// already sealed stay as they are).
    pub fn seal_variables(&self, vars: &mut Value) {
        for value in secret_values_mut(vars) {
            if let Some(plain) = value.as_str().filter(|v| !v.starts_with(SEALED_PREFIX)) {
                *value = Value::String(self.seal(plain));
            }
        }
    }

    /// Opens the values of secret variables in a list of environment variables.
    pub fn open_variables(&self, vars: &mut Value) -> Result<(), OpenError> {
        for value in secret_values_mut(vars) {
            if let Some(stored) = value.as_str() {
                *value = Value::String(self.open(stored)?);
            }
        }
        Ok(())
    }

    /// Seals the secret variables of a DSL document.
    pub fn seal_document(&self, doc: &mut Value) {
        if let Some(vars) = doc.pointer_mut(ENV_POINTER) {
            self.seal_variables(vars);
        }
    }

    /// Opens the secret variables of a DSL document.
    pub fn open_document(&self, doc: &mut Value) -> Result<(), OpenError> {
        match doc.pointer_mut(ENV_POINTER) {
            Some(vars) => self.open_variables(vars),
            None => Ok(()),
        }
    }
}

/// The `value`s of the `secret` variables of a list.
fn secret_values_mut(vars: &mut Value) -> impl Iterator<Item = &mut Value> {
    vars.as_array_mut()
        .into_iter()
        .flatten()
        .filter(|v| v.get("value_type").and_then(Value::as_str) == Some("secret"))
        .filter_map(|v| v.get_mut("value"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sealed_values_open_only_with_their_key() {
        let s = Secrets::new(b"one");
        let sealed = s.seal("sk-123");
        assert!(sealed.starts_with(SEALED_PREFIX) && !sealed.contains("sk-123"));
        assert_ne!(sealed, s.seal("sk-123"), "a fresh nonce each time");
        assert_eq!(s.open(&sealed).unwrap(), "sk-123");
        assert!(Secrets::new(b"two").open(&sealed).is_err());
        assert_eq!(s.open("legacy plain").unwrap(), "legacy plain");
    }

    #[test]
    fn only_secret_variables_are_sealed() {
        let s = Secrets::new(b"k");
        let mut doc = json!({"workflow": {"environment_variables": [
            {"name": "token", "value_type": "secret", "value": "abc"},
            {"name": "base", "value_type": "string", "value": "http://x"},
        ]}});
        s.seal_document(&mut doc);
        let vars = &doc["workflow"]["environment_variables"];
        assert!(vars[0]["value"]
            .as_str()
            .unwrap()
            .starts_with(SEALED_PREFIX));
        assert_eq!(vars[1]["value"], "http://x");
        let twice = {
            let mut d = doc.clone();
            s.seal_document(&mut d);
            d
        };
        assert_eq!(twice, doc, "sealing is idempotent");
        s.open_document(&mut doc).unwrap();
        assert_eq!(doc["workflow"]["environment_variables"][0]["value"], "abc");
    }
}
