//! Console accounts and web-app passports, without HTTP: Dify's password rule, Argon2id
//! password hashes, and the HMAC-signed tokens of console sessions (access and CSRF tokens)
//! and of web-app passports. Tokens are signed with a key derived from `secret_key`, so they
//! stay valid across restarts and on every instance that shares the key.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Lifetime of an access (and CSRF) token: Dify's `ACCESS_TOKEN_EXPIRE_MINUTES` default.
pub const ACCESS_TOKEN_TTL_S: i64 = 60 * 60;
/// Lifetime of a refresh token: Dify's `REFRESH_TOKEN_EXPIRE_DAYS` default.
pub const REFRESH_TOKEN_TTL_S: i64 = 30 * 86_400;
/// Window in which failed logins of one e-mail are counted.
pub const LOGIN_FAILURE_WINDOW_S: i64 = 86_400;
/// Failed logins after which an e-mail is locked out for the rest of the window.
pub const LOGIN_MAX_FAILURES: i64 = 5;
/// Dify's message for a password that breaks the rule.
pub const PASSWORD_RULE: &str =
    "Password must contain letters and numbers, and the length must be greater than 8.";

/// Whether a password follows Dify's rule: at least 8 characters, a letter and a digit.
pub fn password_ok(password: &str) -> bool {
    password.chars().count() >= 8
        && password.chars().any(|c| c.is_ascii_alphabetic())
        && password.chars().any(|c| c.is_ascii_digit())
}

/// An Argon2id hash of `password` (PHC string, random salt). Slow by design: call it off
/// the async threads.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes are a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password with default parameters")
        .to_string()
}

/// Whether `password` matches a stored hash. Slow by design: call it off the async threads.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// What a token is for; a token of one kind is refused as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A console session's access token: the account id.
    Access,
    /// A console session's CSRF token: the account id.
    Csrf,
    /// A web-app passport: app id, end-user id, site code.
    Passport,
}

impl TokenKind {
    fn tag(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Csrf => "csrf",
            TokenKind::Passport => "passport",
        }
    }
}

/// Why a token was refused; the texts are Dify's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token at all.
    #[error("Invalid token.")]
    Malformed,
    /// Signed with another key, or altered.
    #[error("Invalid token signature.")]
    Signature,
    /// Past its expiry.
    #[error("Token has expired.")]
    Expired,
    /// A valid token of another kind.
    #[error("Invalid Authorization token.")]
    WrongKind,
}

/// Signs and checks tokens with a key derived from `secret_key`.
#[derive(Clone)]
pub struct TokenSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner").finish_non_exhaustive()
    }
}

type HmacSha256 = Hmac<Sha256>;

impl TokenSigner {
    /// The signer of one `secret_key`.
    pub fn new(secret_key: &[u8]) -> Self {
        let mut key = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, secret_key)
            .expand(b"weir console tokens v1", &mut key)
            .expect("32 bytes is a valid HKDF length");
        TokenSigner { key }
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload);
        mac
    }

    /// A token of `kind` carrying `fields` (none may contain `|`), valid until `expires_at`
    /// (Unix seconds) or for ever.
    pub fn sign(&self, kind: TokenKind, fields: &[&str], expires_at: Option<i64>) -> String {
        let mut nonce = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut nonce);
        let payload = format!(
            "{}|{}|{}|{}",
            kind.tag(),
            fields.join("|"),
            expires_at.map_or_else(|| "-".to_owned(), |e| e.to_string()),
            URL_SAFE_NO_PAD.encode(nonce)
        );
        let sig = self.mac(payload.as_bytes()).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// The fields of a valid, unexpired token of `kind`.
    pub fn verify(
        &self,
        kind: TokenKind,
        token: &str,
        now: i64,
    ) -> Result<Vec<String>, TokenError> {
        let (payload, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed)?;
        self.mac(&payload)
            .verify_slice(&sig)
            .map_err(|_| TokenError::Signature)?;
        let payload = String::from_utf8(payload).map_err(|_| TokenError::Malformed)?;
        let mut parts: Vec<&str> = payload.split('|').collect();
        if parts.len() < 3 {
            return Err(TokenError::Malformed);
        }
        parts.pop(); // nonce
        let expiry = parts.pop().ok_or(TokenError::Malformed)?;
        if parts.remove(0) != kind.tag() {
            return Err(TokenError::WrongKind);
        }
        if expiry != "-" {
            let at: i64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
            if at <= now {
                return Err(TokenError::Expired);
            }
        }
        Ok(parts.into_iter().map(str::to_owned).collect())
    }
}

/// A fresh refresh token: 128 random hex characters, as Dify's.
pub fn new_refresh_token() -> String {
    let mut raw = [0u8; 64];
    rand::thread_rng().fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_rule_is_difys() {
        assert!(password_ok("abcdefg1"));
        assert!(!password_ok("abcdefgh"));
        assert!(!password_ok("12345678"));
        assert!(!password_ok("abc123"));
    }

    #[test]
    fn hashes_verify_only_their_password() {
        let h = hash_password("s3cret-pass");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret-pass", &h));
        assert!(!verify_password("s3cret-pasS", &h));
        assert!(!verify_password("s3cret-pass", "not a hash"));
    }

    #[test]
    fn tokens_carry_their_fields_and_refuse_the_rest() {
        let s = TokenSigner::new(b"key one");
        let t = s.sign(TokenKind::Access, &["acc-1"], Some(1_000));
        assert_eq!(
            s.verify(TokenKind::Access, &t, 999),
            Ok(vec!["acc-1".to_owned()])
        );
        assert_eq!(
            s.verify(TokenKind::Access, &t, 1_000),
            Err(TokenError::Expired)
        );
        assert_eq!(s.verify(TokenKind::Csrf, &t, 0), Err(TokenError::WrongKind));
        let other = TokenSigner::new(b"key two");
        assert_eq!(
            other.verify(TokenKind::Access, &t, 0),
            Err(TokenError::Signature)
        );
        assert_eq!(
            s.verify(TokenKind::Access, "garbage", 0),
            Err(TokenError::Malformed)
        );
        let p = s.sign(TokenKind::Passport, &["app", "user", "code"], None);
        assert_eq!(
            s.verify(TokenKind::Passport, &p, i64::MAX).unwrap(),
            vec!["app", "user", "code"]
        );
        // Two tokens of the same second differ.
        assert_ne!(t, s.sign(TokenKind::Access, &["acc-1"], Some(1_000)));
        assert_eq!(new_refresh_token().len(), 128);
    }
}
