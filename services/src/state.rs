//! The shared state every handler gets: store, settings, metrics, authenticator.

use std::sync::Arc;

use weir_layers::metrics::Metrics;

use crate::credentials::Authenticator;
use crate::settings::Settings;
use crate::store::Store;

/// Shared state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    settings: Settings,
    metrics: Metrics,
    authenticator: Arc<Authenticator>,
}

impl AppState {
    /// State over an opened store.
    pub fn new(store: Store, settings: Settings, metrics: Metrics) -> Self {
        let authenticator = Authenticator::new(store.clone());
        AppState {
            inner: Arc::new(Inner {
                store,
                settings,
                metrics,
                authenticator,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The authenticator of the auth layer.
    pub fn authenticator(&self) -> Arc<Authenticator> {
        self.inner.authenticator.clone()
    }
}
