//! Small shared helpers: ids, clocks, hashing.

use sha2::{Digest, Sha256};

/// A new time-ordered UUID (v7) as lowercase hyphenated text; ordering by id is creation
/// order, which gives stable paging.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A fresh web-app site code: 16 random lowercase alphanumerics.
pub fn new_site_code() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

/// Unix seconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Unix seconds as Dify's naive ISO-8601 text (`2025-01-16T14:30:29`).
pub fn iso(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// SHA-256 of `text` as lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether two byte strings are equal, in time that does not depend on where they differ
/// (signatures, keys, tokens).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Whether `s` is a UUID in any of its text forms.
pub fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// `s` as a canonical lowercase hyphenated UUID, if it is one.
pub fn canonical_uuid(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s.trim()).ok().map(|u| u.to_string())
}

/// An error and its sources, `a: b: c`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_ordered() {
        let a = new_id();
        let b = new_id();
        assert!(a < b);
        assert!(is_uuid(&a));
    }

    #[test]
    fn iso_is_naive_utc() {
        assert_eq!(iso(1_737_037_829), "2025-01-16T14:30:29");
    }

    #[test]
    fn hashes() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
