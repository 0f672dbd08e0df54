//! The operator CLI (docs/OPERATING.md): `serve`, `migrate`, `app …`, `key create`,
//! `token create`, `account create|reset-password`. Errors print one line on stderr and exit non-zero.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use weir_api::store::Store;
use weir_api::{apps, credentials};

use crate::config::{Config, LogFormat};
use crate::server::{shutdown_signal, Server};

/// weir: Dify's backend API on a tower middleware stack.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about)]
pub struct Cli {
    /// Config file (default: ./weir.toml if it exists; env WEIR_CONFIG).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run pending migrations, then serve HTTP until SIGINT/SIGTERM.
    Serve,
    /// Run pending migrations and exit.
    Migrate,
    /// Manage apps.
    #[command(subcommand)]
    App(AppCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage `/openapi/v1` bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage console accounts (the password is read from `WEIR_ACCOUNT_PASSWORD`, else
    /// from one line of standard input; never from the command line).
    #[command(subcommand)]
    Account(AccountCommand),
}

/// `weir account …`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create a console account in the workspace; prints its id. The first account is the
    /// first admin (owner), as the console's setup page makes it.
    Create {
        /// E-mail (the login).
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Role: owner, admin, editor, normal or dataset_operator.
        #[arg(long, default_value = "owner")]
        role: String,
    },
    /// Set an account's password.
    ResetPassword {
        /// E-mail of the account.
        #[arg(long)]
        email: String,
    },
}

/// Roles an account may have.
pub const ROLES: [&str; 5] = ["owner", "admin", "editor", "normal", "dataset_operator"];

/// The new password: `WEIR_ACCOUNT_PASSWORD`, else the first line of standard input.
fn read_password() -> Result<String, Box<dyn std::error::Error>> {
    if let Ok(p) = std::env::var("WEIR_ACCOUNT_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn account_command(config: &Config, cmd: AccountCommand) -> CliResult {
    use weir_api::console::auth::{hash, new_account};
    let store = open_store(config).await?;
    let result: CliResult = async {
        match cmd {
            AccountCommand::Create { email, name, role } => {
                if !ROLES.contains(&role.as_str()) {
                    return Err(
                        format!("unknown role {role:?} (one of {})", ROLES.join(", ")).into(),
                    );
                }
                let password = read_password()?;
                let mut account = new_account(&email, &name, &password, None)?;
                account.password_hash = hash(password).await.map_err(|e| e.to_string())?;
                let taken = |e: weir_api::store::StoreError| -> Box<dyn std::error::Error> {
                    match e {
                        weir_api::store::StoreError::Conflict(_) => {
                            format!("an account with e-mail {email} exists").into()
                        }
                        other => other.into(),
                    }
                };
                let id = if store.setup_at().await?.is_none() && role == "owner" {
                    let title = format!("{}'s Workspace", account.name);
                    store
                        .setup_first_admin(&account, &title)
                        .await
                        .map_err(taken)?
                } else {
                    store.insert_account(&account, &role).await.map_err(taken)?
                };
                println!("{id}");
                Ok(())
            }
            AccountCommand::ResetPassword { email } => {
                let account = store
                    .account_by_email(&email)
                    .await?
                    .ok_or_else(|| format!("no account with e-mail {email}"))?;
                let password = read_password()?;
                if !weir_api::runtime::accounts::password_ok(&password) {
                    return Err(weir_api::runtime::accounts::PASSWORD_RULE.into());
                }
                let hashed = hash(password).await.map_err(|e| e.to_string())?;
                store
                    .update_account(
                        &account.id,
                        &weir_api::store::ProfileChange::PasswordHash(hashed),
                    )
                    .await?;
                Ok(())
            }
        }
    }
    .await;
    store.close().await;
    result
}

/// `weir app …`.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Import a Dify DSL file as a new app; prints its id.
    Import {
        /// The DSL file.
        file: PathBuf,
        /// Name of the new app (default: the file's).
        #[arg(long)]
        name: Option<String>,
    },
    /// List apps: ID, MODE, NAME separated by tabs.
    List,
    /// Print an app as DSL YAML.
    Export {
        /// The app.
        app_id: String,
    },
    /// Delete an app and its keys.
    Delete {
        /// The app.
        app_id: String,
    },
}

/// `weir key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an app key (or, with --knowledge, a workspace knowledge key); prints it.
    Create {
        /// The app (app keys).
        app_id: Option<String>,
        /// Create a knowledge (dataset) key for the workspace.
        #[arg(long)]
        knowledge: bool,
    },
}

/// `weir token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bearer token with these scopes; prints it.
    Create {
        /// Comma-separated scopes (full, apps:read, apps:run, workspace:read, workspace:write…).
        #[arg(long)]
        scopes: String,
        /// A name for the token.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

/// A command failed; its message is the one line printed.
pub type CliResult = Result<(), Box<dyn std::error::Error>>;

/// Installs the log subscriber on stderr.
pub fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}

async fn open_store(config: &Config) -> Result<Store, Box<dyn std::error::Error>> {
    Ok(Store::open_with(&config.database_url, &config.database).await?)
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> CliResult {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => {
            init_logging(&config);
            crate::server::raise_open_files_limit();
            let server = Server::new(config).await?;
            let bound = server.bind().await?;
            tracing::info!(addr = %bound.local_addr(), version = weir_api::VERSION, "weir listening");
            bound.serve(shutdown_signal()).await;
            Ok(())
        }
        Command::Migrate => {
            open_store(&config).await?.close().await;
            Ok(())
        }
        Command::App(cmd) => app_command(&config, cmd).await,
        Command::Account(cmd) => account_command(&config, cmd).await,
        Command::Key(KeyCommand::Create { app_id, knowledge }) => {
            let store = open_store(&config).await?;
            let key = match (app_id, knowledge) {
                (None, true) => {
                    let ws = store.default_workspace_id().await?;
                    credentials::create_dataset_key(&store, &ws).await?
                }
                (Some(app_id), false) => credentials::create_app_key(&store, &app_id).await?,
                (Some(_), true) => {
                    return Err("--knowledge keys belong to the workspace: give no APP_ID".into())
                }
                (None, false) => {
                    return Err(
                        "give an APP_ID, or --knowledge for a workspace knowledge key".into(),
                    )
                }
            };
            println!("{key}");
            store.close().await;
            Ok(())
        }
        Command::Token(TokenCommand::Create { scopes, name }) => {
            let store = open_store(&config).await?;
            let ws = store.default_workspace_id().await?;
            let token = credentials::create_token(&store, &ws, &scopes, &name, None).await?;
            println!("{token}");
            store.close().await;
            Ok(())
        }
    }
}

async fn app_command(config: &Config, cmd: AppCommand) -> CliResult {
    let store = open_store(config).await?;
    let result = match cmd {
        AppCommand::Import { file, name } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let ws = store.default_workspace_id().await?;
            let tools = weir_api::tools::ToolRegistry::new(&config.services);
            let secrets = weir_api::secrets::Secrets::from_settings(&config.services);
            let imported =
                apps::import(&store, &tools, &secrets, &ws, &text, name.as_deref()).await?;
            if imported.status == weir_api::dsl::ImportStatus::CompletedWithWarnings {
                eprintln!(
                    "warning: DSL version {} is older than {}; imported anyway",
                    imported.version,
                    weir_api::dsl::CURRENT_VERSION
                );
            }
            println!("{}", imported.app_id);
            Ok(())
        }
        AppCommand::List => {
            let ws = store.default_workspace_id().await?;
            for app in store.apps(&ws).await? {
                println!("{}\t{}\t{}", app.id, app.mode, app.name);
            }
            Ok(())
        }
        AppCommand::Export { app_id } => {
            let app = store
                .app(&app_id)
                .await?
                .ok_or_else(|| format!("app {app_id} not found"))?;
            let secrets = weir_api::secrets::Secrets::from_settings(&config.services);
            print!("{}", apps::export(&app, &secrets, false));
            Ok(())
        }
        AppCommand::Delete { app_id } => {
            if store.delete_app(&app_id).await? {
                Ok(())
            } else {
                Err(format!("app {app_id} not found").into())
            }
        }
    };
    store.close().await;
    result
}
