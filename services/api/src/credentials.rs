//! API keys and bearer tokens: minting (shown once, stored as SHA-256), and the
//! [`Authenticator`] the auth layer asks. Positive lookups are cached for at most
//! [`AUTH_CACHE_TTL`], so a deleted key or app stops working within that bound while a new
//! key works at once (misses are never cached).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;
use weir_layers::auth::{
    messages as auth_messages, AuthContext, Authenticate, Credential, Presented,
};
use weir_layers::rate_limit::{Rate, RateCounter};
use weir_layers::{AuthKind, BoxError, BoxFuture, HttpError, MatchedRoute};

use crate::runtime::accounts::TokenSigner;
use crate::store::{KeyKind, KeyRow, Store, TokenRow};
use crate::util::sha256_hex;

/// Prefix of app keys.
pub const APP_KEY_PREFIX: &str = "app-";
/// Prefix of knowledge keys.
pub const DATASET_KEY_PREFIX: &str = "dataset-";
/// Random characters after a key's prefix.
pub const KEY_RANDOM_LEN: usize = 24;
/// Prefix of `/openapi/v1` account tokens.
pub const TOKEN_PREFIX: &str = "dfoa_";
/// Random characters after a token's prefix (as `token_urlsafe(32)`).
pub const TOKEN_RANDOM_LEN: usize = 43;
/// Keys an app may have (Dify's limit per resource).
pub const MAX_APP_KEYS: usize = 10;
/// How long a positive credential lookup is trusted.
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(10);

/// The scope strings of `/openapi/v1` tokens.
pub mod scopes {
    /// Everything.
    pub const FULL: &str = weir_layers::auth::FULL_SCOPE;
    /// Read apps.
    pub const APPS_READ: &str = "apps:read";
    /// Read apps permitted to external SSO users.
    pub const APPS_READ_PERMITTED_EXTERNAL: &str = "apps:read:permitted-external";
    /// Run apps.
    pub const APPS_RUN: &str = "apps:run";
    /// Read the workspace.
    pub const WORKSPACE_READ: &str = "workspace:read";
    /// Change the workspace.
    pub const WORKSPACE_WRITE: &str = "workspace:write";
    /// Every known scope.
    pub const ALL: [&str; 6] = [
        FULL,
        APPS_READ,
        APPS_READ_PERMITTED_EXTERNAL,
        APPS_RUN,
        WORKSPACE_READ,
        WORKSPACE_WRITE,
    ];
}

/// 403 messages of app checks (Service API §1.2).
pub mod messages {
    /// The key's app was deleted.
    pub const APP_GONE: &str = "The app no longer exists.";
    /// App status is not `normal`.
    pub const APP_ABNORMAL: &str = "The app's status is abnormal.";
    /// The app's API switch is off.
    pub const APP_API_DISABLED: &str = "The app's API service has been disabled.";
    /// The workspace is archived.
    pub const WORKSPACE_ARCHIVED: &str = "The workspace's status is archived.";
    /// Knowledge key of a workspace that is not normal.
    pub const TENANT_GONE: &str = "Tenant does not exist.";
}

/// A credential could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The app does not exist.
    #[error("app {0} not found")]
    AppNotFound(String),
    /// A scope is not one of [`scopes::ALL`].
    #[error("unknown scope {0:?} (known: {known})", known = scopes::ALL.join(", "))]
    UnknownScope(String),
    /// No scope given.
    #[error("at least one scope is required")]
    NoScope,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

fn random_key(prefix: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + KEY_RANDOM_LEN);
    key.push_str(prefix);
    Alphanumeric.append_string(&mut rand::thread_rng(), &mut key, KEY_RANDOM_LEN);
    key
}

fn hint(key: &str) -> String {
    let shown: String = key
        .chars()
        .take(key.find('-').map_or(4, |i| i + 5))
        .collect();
    format!("{shown}…")
}

/// Mints an app key for `app_id`; returns it (the only time it is seen in clear).
pub async fn create_app_key(store: &Store, app_id: &str) -> Result<String, MintError> {
    let app = store
        .app(app_id)
        .await?
        .ok_or_else(|| MintError::AppNotFound(app_id.to_owned()))?;
    let key = random_key(APP_KEY_PREFIX);
    store
        .insert_key(
            KeyKind::App,
            &app.workspace_id,
            Some(&app.id),
            &sha256_hex(&key),
            &hint(&key),
        )
        .await?;
    Ok(key)
}

/// Mints an app key in the console: stored hashed for lookups, and sealed so the console
/// can show it again. Returns the listing and the key.
pub async fn create_console_app_key(
    store: &Store,
    secrets: &crate::secrets::Secrets,
    workspace_id: &str,
    app_id: &str,
) -> Result<(crate::store::KeyListing, String), MintError> {
    let key = random_key(APP_KEY_PREFIX);
    let listing = store
        .insert_sealed_app_key(
            workspace_id,
            app_id,
            &sha256_hex(&key),
            &hint(&key),
            &secrets.seal(&key),
        )
        .await?;
    Ok((listing, key))
}

/// Mints a knowledge key for a workspace.
pub async fn create_dataset_key(store: &Store, workspace_id: &str) -> Result<String, MintError> {
    let key = random_key(DATASET_KEY_PREFIX);
    store
        .insert_key(
            KeyKind::Dataset,
            workspace_id,
            None,
            &sha256_hex(&key),
            &hint(&key),
        )
        .await?;
    Ok(key)
}

/// Parses a comma-separated scope list, refusing unknown scopes.
pub fn parse_scopes(list: &str) -> Result<Vec<String>, MintError> {
    let mut out = Vec::new();
    for scope in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !scopes::ALL.contains(&scope) {
            return Err(MintError::UnknownScope(scope.to_owned()));
        }
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
    if out.is_empty() {
        return Err(MintError::NoScope);
    }
    Ok(out)
}

/// Mints an `/openapi/v1` bearer token with these scopes.
pub async fn create_token(
    store: &Store,
    workspace_id: &str,
    scope_list: &str,
    name: &str,
    expires_at: Option<i64>,
) -> Result<String, MintError> {
    let scopes = parse_scopes(scope_list)?;
    let mut token = String::from(TOKEN_PREFIX);
    const URLSAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::thread_rng();
    for _ in 0..TOKEN_RANDOM_LEN {
        token.push(URLSAFE[rng.gen_range(0..URLSAFE.len())] as char);
    }
    store
        .insert_token(
            workspace_id,
            name,
            TOKEN_PREFIX,
            &sha256_hex(&token),
            &scopes.join(","),
            expires_at,
        )
        .await?;
    Ok(token)
}

/// A cached lookup.
#[derive(Clone)]
enum Cached {
    Key(KeyRow),
    Token(TokenRow),
}

/// The database-backed [`Authenticate`] of the auth layer, with a short positive cache and
/// the per-token rate limit of `/openapi/v1` (counted before the lookup).
pub struct Authenticator {
    store: Store,
    tokens: TokenSigner,
    cache: RwLock<HashMap<String, (Cached, Instant)>>,
    ttl: Duration,
    token_rate: Rate,
    token_counter: Arc<dyn RateCounter>,
}

impl Authenticator {
    /// An authenticator over `store` (`token_rate`: per-token limit, `0/m` = off) that
    /// checks console sessions and passports with `tokens`.
    pub fn new(
        store: Store,
        tokens: TokenSigner,
        token_rate: Rate,
        token_counter: Arc<dyn RateCounter>,
    ) -> Arc<Self> {
        Arc::new(Authenticator {
            store,
            tokens,
            cache: RwLock::new(HashMap::new()),
            ttl: AUTH_CACHE_TTL,
            token_rate,
            token_counter,
        })
    }

    /// The store.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The signer of session tokens and passports.
    pub(crate) fn tokens(&self) -> &TokenSigner {
        &self.tokens
    }

    fn cached(&self, hash: &str) -> Option<Cached> {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        cache
            .get(hash)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(c, _)| c.clone())
    }

    fn remember(&self, hash: String, value: Cached) {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= 10_000 {
            let ttl = self.ttl;
            cache.retain(|_, (_, at)| at.elapsed() < ttl);
        }
        cache.insert(hash, (value, Instant::now()));
    }

    /// Forgets the cached lookup of the token with this id (after revoking it).
    pub fn forget_token_id(&self, id: &str) {
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (c, _)| !matches!(c, Cached::Token(t) if t.id == id));
    }

    /// Forgets every cached lookup (revocation takes effect at once on this instance).
    pub fn forget_all(&self) {
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    async fn key(&self, hash: String) -> Result<Option<KeyRow>, BoxError> {
        if let Some(Cached::Key(row)) = self.cached(&hash) {
            return Ok(Some(row));
        }
        let row = self.store.key_by_hash(&hash).await?;
        if let Some(row) = &row {
            self.remember(hash, Cached::Key(row.clone()));
            let (store, id) = (self.store.clone(), row.id.clone());
            tokio::spawn(async move {
                let _ = store.touch_key(&id).await;
            });
        }
        Ok(row)
    }

    async fn token(&self, hash: String) -> Result<Option<TokenRow>, BoxError> {
        if let Some(Cached::Token(row)) = self.cached(&hash) {
            return Ok(Some(row));
        }
        let row = self.store.token_by_hash(&hash).await?;
        if let Some(row) = &row {
            self.remember(hash, Cached::Token(row.clone()));
        }
        Ok(row)
    }

    async fn resolve(&self, kind: AuthKind, token: &str) -> Result<AuthContext, BoxError> {
        let hash = sha256_hex(token);
        let invalid = || HttpError::unauthorized(auth_messages::INVALID_TOKEN);
        match kind {
            AuthKind::AppKey => {
                let row = self.key(hash).await?.ok_or_else(invalid)?;
                if row.kind != KeyKind::App.as_str() {
                    return Err(invalid().into());
                }
                if !row.app_exists {
                    return Err(HttpError::forbidden(messages::APP_GONE).into());
                }
                if row.app_status.as_deref() != Some("normal") {
                    return Err(HttpError::forbidden(messages::APP_ABNORMAL).into());
                }
                if !row.app_enable_api {
                    return Err(HttpError::forbidden(messages::APP_API_DISABLED).into());
                }
                if row.workspace_status == "archived" {
                    return Err(HttpError::forbidden(messages::WORKSPACE_ARCHIVED).into());
                }
                Ok(AuthContext {
                    credential: Credential::AppKey,
                    key_id: row.id.into(),
                    workspace_id: row.workspace_id.into(),
                    app_id: row.app_id.map(Into::into),
                    scopes: Arc::new([]),
                    subject: None,
                    role: None,
                })
            }
            AuthKind::DatasetKey => {
                let row = self.key(hash).await?.ok_or_else(invalid)?;
                if row.kind != KeyKind::Dataset.as_str() {
                    return Err(invalid().into());
                }
                if row.workspace_status != "normal" {
                    return Err(HttpError::unauthorized(messages::TENANT_GONE).into());
                }
                Ok(AuthContext {
                    credential: Credential::DatasetKey,
                    key_id: row.id.into(),
                    workspace_id: row.workspace_id.into(),
                    app_id: None,
                    scopes: Arc::new([]),
                    subject: None,
                    role: None,
                })
            }
            AuthKind::Bearer(_) => {
                if !token.starts_with(TOKEN_PREFIX) {
                    return Err(HttpError::unauthorized(TOKEN_INVALID).into());
                }
                if let Err(wait) = self
                    .token_counter
                    .hit(&format!("token:{hash}"), self.token_rate)
                    .await
                {
                    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                    return Err(HttpError::too_many_requests(TOKEN_RATE_LIMITED, Some(secs)).into());
                }
                let row = self
                    .token(hash)
                    .await?
                    .filter(|t| t.revoked_at.is_none())
                    .ok_or_else(|| HttpError::unauthorized(TOKEN_INVALID))?;
                if row.expires_at.is_some_and(|e| e <= crate::util::now()) {
                    return Err(HttpError::new(
                        http::StatusCode::UNAUTHORIZED,
                        TOKEN_EXPIRED_CODE,
                        TOKEN_EXPIRED,
                    )
                    .with_hint(TOKEN_EXPIRED_HINT)
                    .into());
                }
                Ok(AuthContext {
                    credential: Credential::BearerToken,
                    key_id: row.id.into(),
                    workspace_id: row.workspace_id.into(),
                    app_id: None,
                    scopes: row.scopes.split(',').map(str::to_owned).collect(),
                    subject: None,
                    role: None,
                })
            }
            AuthKind::None | AuthKind::Console { .. } | AuthKind::Passport => Err(invalid().into()),
        }
    }
}

/// 429 message of the per-token limit.
pub const TOKEN_RATE_LIMITED: &str =
    "This user has exceeded an allotted request count. Try again later.";
/// 401 message of an unknown, revoked or malformed bearer token.
pub const TOKEN_INVALID: &str = "Invalid or unknown bearer token.";
/// 401 code of an expired bearer token.
pub const TOKEN_EXPIRED_CODE: &str = "token_expired";
/// 401 message of an expired bearer token.
pub const TOKEN_EXPIRED: &str = "Your session has expired.";
/// Hint of an expired bearer token.
pub const TOKEN_EXPIRED_HINT: &str =
    "Re-authenticate to continue (e.g. re-run your login command).";

impl Authenticate for Authenticator {
    fn authenticate<'a>(
        &'a self,
        route: &'a MatchedRoute,
        credential: Presented<'a>,
    ) -> BoxFuture<'a, Result<AuthContext, BoxError>> {
        match credential {
            Presented::Bearer(token) => Box::pin(self.resolve(route.meta.auth, token)),
            Presented::Session { access, csrf } => Box::pin(self.session(route, access, csrf)),
            Presented::Passport(passport) => Box::pin(self.passport(passport)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{scratch_stores, test_app};

    #[test]
    fn key_shapes() {
        let key = random_key(APP_KEY_PREFIX);
        assert_eq!(key.len(), 4 + 24);
        assert!(key[4..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(hint("app-abcdefgh"), "app-abcd…");
    }

    #[test]
    fn scopes_are_checked() {
        assert_eq!(
            parse_scopes("apps:read, apps:run,apps:read").unwrap(),
            vec!["apps:read", "apps:run"]
        );
        assert!(matches!(
            parse_scopes("apps:write"),
            Err(MintError::UnknownScope(_))
        ));
        assert!(matches!(parse_scopes(" , "), Err(MintError::NoScope)));
    }

    #[tokio::test]
    async fn keys_are_stored_hashed_and_resolve() {
        for db in scratch_stores().await {
            let store = &db.store;
            let (ws, app) = test_app(store, "chat").await;
            let key = create_app_key(store, &app).await.unwrap();
            assert!(
                store.key_by_hash(&key).await.unwrap().is_none(),
                "not stored in clear"
            );
            let auth = Authenticator::new(
                store.clone(),
                TokenSigner::new(b"test"),
                Rate::new(0, Duration::from_secs(60)),
                Arc::new(weir_layers::rate_limit::MemoryRateCounter::new()),
            );
            let ctx = auth.resolve(AuthKind::AppKey, &key).await.unwrap();
            assert_eq!(ctx.app_id.as_deref(), Some(app.as_str()));
            // A dataset key is not an app key, and the other way round.
            let dkey = create_dataset_key(store, &ws).await.unwrap();
            assert!(auth.resolve(AuthKind::AppKey, &dkey).await.is_err());
            assert!(auth.resolve(AuthKind::DatasetKey, &key).await.is_err());
            assert!(auth.resolve(AuthKind::DatasetKey, &dkey).await.is_ok());
            // Disabled API → 403 once the cache forgets.
            store.set_app_api_enabled(&app, false).await.unwrap();
            auth.forget_all();
            let err = auth.resolve(AuthKind::AppKey, &key).await.unwrap_err();
            let http = err.downcast_ref::<HttpError>().unwrap();
            assert_eq!(
                (http.status_code().as_u16(), http.message()),
                (403, messages::APP_API_DISABLED)
            );
            // Deleted app → its key is gone with it.
            store.delete_app(&app).await.unwrap();
            auth.forget_all();
            let err = auth.resolve(AuthKind::AppKey, &key).await.unwrap_err();
            assert_eq!(
                err.downcast_ref::<HttpError>()
                    .unwrap()
                    .status_code()
                    .as_u16(),
                401
            );
        }
    }
}
