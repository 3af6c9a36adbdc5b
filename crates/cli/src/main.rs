//! `rosetta`: the admin CLI operators script against, and the server.
//!
//! Every command that creates something prints one line, or with `--json` exactly one JSON object
//! with `id` (ULID) and `uuid` plus the fields it set. Wrong input is one line on stderr and a
//! non-zero exit; each command is one transaction, so nothing is half written.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rosetta::server::{openapi, serve, ServeDialect, ServeOptions};
use rosetta_core::key::{parse_scopes, KeyStyle};
use rosetta_core::store::NewApiKey;
use rosetta_core::*;
use rosetta_store::seed::SeedOptions;
use rosetta_store::DieselStore;
use serde_json::{json, Map, Value};

#[derive(Parser, Debug)]
#[command(
    name = "rosetta",
    version,
    about = "One WhatsApp Business inbox store, served in three API dialects"
)]
struct Cli {
    /// sqlite://PATH (embedded, the default) or postgres://USER@HOST:PORT/DB.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        default_value = "sqlite://rosetta.db",
        hide_env_values = true
    )]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Try Rosetta: a seeded demo database, one key per dialect, all three dialects and the webhook
    /// route, and ready-to-paste commands.
    Demo(rosetta::demo::DemoArgs),
    /// Apply pending migrations.
    Migrate,
    /// Copy a SQLite database while it is served (a consistent snapshot, checked), with its key
    /// file beside the copy. For PostgreSQL use pg_dump (README, Deployment).
    Backup {
        /// Where the copy goes (must not exist); the key file goes to FILE.secret-key.
        #[arg(long, value_name = "FILE")]
        to: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Put a backup in place of the SQLite database at --database-url, which no server may be
    /// using. The backup is checked first; a database already there is kept beside it
    /// (`.before-restore-<time>`).
    Restore {
        /// The backup (made by `rosetta backup`); its key file FILE.secret-key comes with it.
        #[arg(long, value_name = "FILE")]
        from: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// WhatsApp accounts (phone numbers connected to an organization).
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Users (agents).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Received media.
    Media {
        #[command(subcommand)]
        command: MediaCommand,
    },
    /// Tags on contacts.
    Tag {
        #[command(subcommand)]
        command: TagCommand,
    },
    /// API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Fill an organization with realistic synthetic data (the same for the same --seed).
    Seed(SeedArgs),
    /// Start the HTTP server.
    Serve(Box<ServeArgs>),
    /// Run a stand-in for Meta's Graph API (for tests and demos; never what a production
    /// configuration reaches): it takes sends for one number with one token (read from standard
    /// input), answers wamids, and posts signed status webhooks (sent, delivered, read) to
    /// --webhook-url. Point `serve --graph-api-url` at the address it prints.
    Standin(StandinArgs),
    /// Print a dialect's OpenAPI document.
    Openapi {
        #[arg(long, value_enum)]
        dialect: DialectArg,
    },
}

#[derive(clap::Args, Debug)]
struct StandinArgs {
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    /// The number (Meta's phone_number_id) it takes sends for.
    #[arg(long)]
    phone_number_id: String,
    /// Where status webhooks go (Rosetta's /webhooks/whatsapp), signed with WHATSAPP_APP_SECRET.
    #[arg(long)]
    webhook_url: Option<String>,
    #[arg(long, env = "WHATSAPP_APP_SECRET", hide_env_values = true)]
    whatsapp_app_secret: Option<String>,
}

#[derive(Subcommand, Debug)]
enum MediaCommand {
    /// Removes the files of messages received longer ago than --older-than (`30d`, `12h`, `90m`,
    /// `3600s`); those messages then say their file was pruned. A file a newer message shares stays.
    Prune {
        #[arg(long, value_parser = rosetta::parse_duration)]
        older_than: std::time::Duration,
        /// The media store (as `serve` is given it).
        #[command(flatten)]
        media: rosetta::server::MediaStore,
    },
}

#[derive(Subcommand, Debug)]
enum OrgCommand {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum AccountCommand {
    Create {
        #[arg(long, value_parser = org_id)]
        org: Id,
        #[arg(long)]
        phone_number_id: String,
        #[arg(long)]
        phone_number: String,
        #[arg(long)]
        name: Option<String>,
        /// Read the account's Graph API access token from standard input (never from the command
        /// line, which lands in shell history and `ps`); it is stored encrypted.
        #[arg(long)]
        token_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// Set (or replace) an account's Graph API access token, read from standard input; it is
    /// stored encrypted with ROSETTA_SECRET_KEY (or, for SQLite, the key file beside the database).
    SetToken {
        #[arg(long, value_parser = account_id)]
        account: Id,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    Create {
        #[arg(long, value_parser = org_id)]
        org: Id,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum TagCommand {
    /// Creates the tag if new and attaches it to the contact.
    Add {
        #[arg(long, value_parser = org_id)]
        org: Id,
        #[arg(long, value_parser = contact_id)]
        contact: Id,
        #[arg(long)]
        name: String,
        #[arg(long)]
        color: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Creates a key and prints its secret, once.
    Create {
        #[arg(long, value_parser = org_id)]
        org: Id,
        #[arg(long)]
        name: Option<String>,
        /// Comma-separated; every scope when left out.
        #[arg(long)]
        scopes: Option<String>,
        #[arg(long, value_enum, default_value = "wacrm")]
        style: DialectArg,
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36500))]
        expires_in_days: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Revokes a key at once.
    Revoke {
        #[arg(long, value_parser = key_id)]
        key_id: Id,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
struct SeedArgs {
    #[arg(long, value_parser = org_id)]
    org: Id,
    #[arg(long, default_value_t = 1000)]
    conversations: u64,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=1000))]
    messages_per_conversation: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ServeArgs {
    #[arg(long, value_enum, default_value = "all")]
    dialect: ServeDialect,
    #[command(flatten)]
    options: ServeOptions,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DialectArg {
    Wacrm,
    Kirim,
    Envelope,
}

impl DialectArg {
    fn dialect(self) -> Dialect {
        match self {
            DialectArg::Wacrm => Dialect::Wacrm,
            DialectArg::Kirim => Dialect::Kirim,
            DialectArg::Envelope => Dialect::Envelope,
        }
    }
    fn key_style(self) -> KeyStyle {
        match self {
            DialectArg::Wacrm => KeyStyle::Wacrm,
            DialectArg::Kirim => KeyStyle::Kirim,
            DialectArg::Envelope => KeyStyle::Envelope,
        }
    }
}

fn org_id(s: &str) -> Result<Id, String> {
    Id::parse_any(EntityKind::Organization, s).map_err(|e| e.to_string())
}
fn contact_id(s: &str) -> Result<Id, String> {
    Id::parse_any(EntityKind::Contact, s).map_err(|e| e.to_string())
}
fn account_id(s: &str) -> Result<Id, String> {
    Id::parse_any(EntityKind::Account, s).map_err(|e| e.to_string())
}
/// An access token from standard input (a prompt on stderr when it is a terminal).
fn token_from_stdin() -> Result<AccessToken, String> {
    use std::io::{IsTerminal, Read};
    if std::io::stdin().is_terminal() {
        eprintln!("Paste the access token, then press Enter and Ctrl-D:");
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the token from standard input: {e}"))?;
    AccessToken::new(&text).map_err(explain)
}
fn key_id(s: &str) -> Result<Id, String> {
    Id::parse_any(EntityKind::ApiKey, s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    rosetta::run_main(|| run(cli))
}

fn open(url: &str, pool_size: u32) -> Result<DieselStore, String> {
    let options = rosetta_store::StoreOptions {
        pool_size,
        ..Default::default()
    };
    DieselStore::open_with(url, options).map_err(|e| e.to_string())
}

/// Turns a domain error into the one line an operator reads.
fn explain(e: Error) -> String {
    match e {
        Error::NotFound(kind) => format!("{} not found", kind.noun()),
        Error::Invalid { message, .. } => message,
        Error::InvalidCursor(c) => format!("invalid cursor: {c}"),
        Error::NotMember => "user is not a member of this organization".into(),
        Error::Conflict(m) => m,
        e @ (Error::WindowClosed | Error::NotConfigured) => e.to_string(),
        Error::Unavailable(m) => format!("database unavailable: {m}"),
        Error::Internal(m) => format!("internal error: {m}"),
    }
}

/// The output of a command that made something: `id` (ULID), `uuid`, then the fields it set.
fn created(json_out: bool, noun: &str, id: Id, fields: Vec<(&str, Value)>) {
    if json_out {
        let mut object = Map::new();
        object.insert("id".into(), json!(id.to_string()));
        object.insert("uuid".into(), json!(id.uuid().hyphenated().to_string()));
        for (k, v) in fields {
            object.insert(k.into(), v);
        }
        println!("{}", Value::Object(object));
    } else {
        let detail: Vec<String> = fields
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k}={}", v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
            .collect();
        println!("{noun} {id} (uuid {}) {}", id.uuid().hyphenated(), detail.join(" "));
    }
}

/// What `backup` and `restore` did, as one line or one JSON object.
fn print_copy(json_out: bool, what: &str, report: &rosetta_store::backup::Report) {
    let key = report.key_file.as_ref().map(|p| p.display().to_string());
    if json_out {
        println!(
            "{}",
            json!({"path": report.path.display().to_string(), "bytes": report.bytes,
                   "schema_version": report.schema_version, "key_file": key})
        );
    } else {
        println!(
            "{what} {} ({} bytes, schema {}){}",
            report.path.display(),
            report.bytes,
            report.schema_version,
            key.map(|k| format!(", key file {k}"))
                .unwrap_or_else(|| ", no key file (the key is ROSETTA_SECRET_KEY's)".into())
        );
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let url = cli.database_url.clone();
    match cli.command {
        Command::Migrate => {
            let store = open(&url, 1)?;
            println!(
                "{} migration(s) applied to {}",
                store.migrations_applied(),
                rosetta_store::db::redact(&url)
            );
            Ok(())
        }
        Command::Backup { to, json } => {
            let store = DieselStore::open_with(
                &url,
                rosetta_store::StoreOptions {
                    pool_size: 1,
                    migrate: false,
                    ..Default::default()
                },
            )
            .map_err(|e| e.to_string())?;
            let report = rosetta_store::backup::backup(&store, &to)?;
            print_copy(json, "backed up to", &report);
            Ok(())
        }
        Command::Restore { from, json } => {
            let report = rosetta_store::backup::restore(&from, &url)?;
            print_copy(json, "restored", &report);
            Ok(())
        }
        Command::Org {
            command: OrgCommand::Create { name, json },
        } => {
            let org = open(&url, 1)?.create_organization(&name).map_err(explain)?;
            created(json, "organization", org.id, vec![("name", json!(org.name))]);
            Ok(())
        }
        Command::Account {
            command:
                AccountCommand::Create {
                    org,
                    phone_number_id,
                    phone_number,
                    name,
                    token_stdin,
                    json,
                },
        } => {
            // Read before anything is written, so a bad token leaves no account behind.
            let token = token_stdin.then(token_from_stdin).transpose()?;
            let a = open(&url, 1)?
                .create_account_with_token(org, &phone_number_id, &phone_number, name.as_deref(), token.as_ref())
                .map_err(explain)?;
            created(
                json,
                "account",
                a.id,
                vec![
                    ("org", json!(org.to_string())),
                    ("phone_number_id", json!(a.phone_number_id)),
                    ("phone_number", json!(a.phone_number)),
                    ("name", json!(a.name)),
                ],
            );
            Ok(())
        }
        Command::Account {
            command: AccountCommand::SetToken { account },
        } => {
            let token = token_from_stdin()?;
            let store = open(&url, 1)?;
            let org = store.account_org(account).map_err(explain)?;
            store.set_account_token(org, account, &token).map_err(explain)?;
            println!("access token set for account {account}");
            Ok(())
        }
        Command::User {
            command: UserCommand::Create { org, name, email, json },
        } => {
            let u = open(&url, 1)?.create_user(org, &name, &email).map_err(explain)?;
            created(
                json,
                "user",
                u.id,
                vec![
                    ("org", json!(org.to_string())),
                    ("name", json!(u.name)),
                    ("email", json!(u.email)),
                ],
            );
            Ok(())
        }
        Command::Tag {
            command:
                TagCommand::Add {
                    org,
                    contact,
                    name,
                    color,
                    json,
                },
        } => {
            let t = open(&url, 1)?
                .attach_tag(org, contact, &name, color.as_deref())
                .map_err(explain)?;
            created(
                json,
                "tag",
                t.id,
                vec![
                    ("org", json!(org.to_string())),
                    ("contact", json!(contact.to_string())),
                    ("name", json!(t.name)),
                    ("color", json!(t.color)),
                ],
            );
            Ok(())
        }
        Command::Key {
            command:
                KeyCommand::Create {
                    org,
                    name,
                    scopes,
                    style,
                    expires_in_days,
                    json,
                },
        } => {
            let scopes = parse_scopes(scopes.as_deref())?;
            let expires_at = expires_in_days.map(|d| Timestamp::now().plus_days(i64::from(d)));
            let made = open(&url, 1)?
                .create_api_key(
                    org,
                    NewApiKey {
                        name,
                        style: style.key_style(),
                        scopes,
                        expires_at,
                    },
                )
                .map_err(explain)?;
            let k = &made.key;
            created(
                json,
                "key",
                k.id,
                vec![
                    ("org", json!(org.to_string())),
                    ("name", json!(k.name)),
                    ("style", json!(k.style.as_str())),
                    ("scopes", json!(k.scopes)),
                    ("expires_at", json!(k.expires_at.map(|t| t.to_rfc3339()))),
                    ("key", json!(made.secret)),
                ],
            );
            if !json {
                eprintln!("The key is shown only this once: store it now.");
            }
            Ok(())
        }
        Command::Key {
            command: KeyCommand::Revoke { key_id, json },
        } => {
            let k = open(&url, 1)?.revoke_api_key(key_id).map_err(explain)?;
            created(
                json,
                "revoked key",
                k.id,
                vec![("revoked_at", json!(k.revoked_at.map(|t| t.to_rfc3339())))],
            );
            Ok(())
        }
        Command::Seed(args) => seed(&url, args),
        Command::Demo(args) => rosetta::demo::run(args),
        Command::Serve(args) => {
            let args = *args;
            serve(&url, args.dialect, args.options)
        }
        Command::Openapi { dialect } => {
            print!("{}", openapi(dialect.dialect())?);
            Ok(())
        }
        Command::Standin(args) => standin(args),
        Command::Media {
            command: MediaCommand::Prune { older_than, media },
        } => {
            let blobs = media.open(&url)?;
            let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(open(&url, 2)?);
            let before =
                rosetta_core::Timestamp(rosetta_core::Timestamp::now().millis() - older_than.as_millis() as i64);
            let (files, deleted) = actix_web::rt::System::new()
                .block_on(rosetta_media::prune(store, &blobs, before))
                .map_err(explain)?;
            println!("pruned {files} files ({deleted} blobs deleted)");
            Ok(())
        }
    }
}

fn standin(args: StandinArgs) -> Result<(), String> {
    let token = token_from_stdin()?;
    let standin = rosetta_graph::standin::StandIn::start(&args.bind).map_err(|e| format!("stand-in: {e}"))?;
    standin.allow(&args.phone_number_id, token.expose());
    match (&args.webhook_url, &args.whatsapp_app_secret) {
        (Some(url), Some(secret)) => standin.report_to(url, secret),
        (Some(_), None) => return Err("--webhook-url needs WHATSAPP_APP_SECRET to sign the status webhooks".into()),
        _ => {}
    }
    // The address on stdout, alone, for scripts; the rest on stderr.
    println!("{}", standin.url());
    use std::io::Write;
    std::io::stdout().flush().ok();
    eprintln!(
        "stand-in for Meta's Graph API at {} (number {}); stop it with Ctrl-C",
        standin.url(),
        args.phone_number_id
    );
    loop {
        std::thread::park();
    }
}

fn seed(url: &str, args: SeedArgs) -> Result<(), String> {
    let store = open(url, 2)?;
    let bar = indicatif::ProgressBar::new(args.conversations);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} seeding [{bar:40}] {pos}/{len} conversations ({per_sec}, eta {eta})",
            )
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let started = std::time::Instant::now();
    let options = SeedOptions {
        conversations: args.conversations,
        messages_per_conversation: args.messages_per_conversation,
        seed: args.seed,
    };
    let report = store
        .seed(args.org, &options, &mut |done| bar.set_position(done))
        .map_err(explain)?;
    bar.finish_and_clear();
    let summary = json!({
        "org": args.org.to_string(),
        "accounts": report.accounts,
        "users": report.users,
        "tags": report.tags,
        "contacts": report.contacts,
        "conversations": report.conversations,
        "messages": report.messages,
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "seeded {} conversations, {} messages, {} contacts in {:.1}s",
            report.conversations,
            report.messages,
            report.contacts,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
