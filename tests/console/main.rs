//! The console API (`/console/api`) as Dify's web frontend calls it: sessions in cookies
//! with the CSRF double submit, the boot calls, apps, the easy-UI configuration, debugging
//! and logs. A `Browser` keeps the cookie jar.

#[path = "../common/mod.rs"]
mod common;

mod apps;
mod session;

use common::console::{admin, Browser, ADMIN_EMAIL, ADMIN_PASSWORD};
use common::{Options, TestServer};
use serde_json::{json, Value};
