//! `driftd reference import|show|capture|list`: the profiles in the store.

use std::path::PathBuf;

use clap::Subcommand;

use super::OptionalConfigArg;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum ReferenceCommand {
    /// Build a reference profile from a CSV or JSON-lines file and store it.
    Import {
        #[arg(long)]
        model: String,
        #[arg(long, default_value = crate::event::UNVERSIONED)]
        version: String,
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        config: OptionalConfigArg,
    },
    /// Print a model's newest profile (a summary; --full for every edge and count).
    Show {
        model: String,
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        config: OptionalConfigArg,
    },
    /// Freeze a past window of the daemon's own data as the model's new reference:
    /// the buckets between --from and --to, in the current profile's bins (stop the
    /// daemon first; it uses the new profile from its next start).
    Capture {
        #[arg(long)]
        model: String,
        /// Capture one version's buckets (default: every version).
        #[arg(long)]
        version: Option<String>,
        /// Start, RFC 3339 or epoch ms (buckets starting at or after it).
        #[arg(long)]
        from: String,
        /// End, RFC 3339 or epoch ms (buckets starting before it).
        #[arg(long)]
        to: String,
        #[command(flatten)]
        config: OptionalConfigArg,
    },
    /// List every stored profile.
    List {
        #[command(flatten)]
        config: OptionalConfigArg,
    },
}

pub(super) fn reference(c: ReferenceCommand) -> Result<(), Box<dyn std::error::Error>> {
    match c {
        ReferenceCommand::Import {
            model,
            version,
            file,
            config,
        } => {
            let config = config.load()?;
            crate::event::check_name("model", &model)?;
            crate::event::check_name("version", &version)?;
            let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let profile = crate::reference::profile_file(
                &file,
                &model,
                &version,
                &config.profile.settings(),
                &created,
            )?;
            Store::open(&config.storage.path)?.put_reference(&profile)?;
            println!(
                "imported {} ({} rows, {} features) from {}",
                profile.id,
                profile.rows,
                profile.features.len(),
                file.display()
            );
            Ok(())
        }
        ReferenceCommand::Show {
            model,
            version,
            full,
            config,
        } => {
            let config = config.load()?;
            let store = Store::open(&config.storage.path)?;
            let profile = store
                .latest_reference(&model, version.as_deref())?
                .ok_or_else(|| format!("no reference profile for model `{model}`"))?;
            let out = if full {
                serde_json::to_value(&profile)?
            } else {
                profile.summary()
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        ReferenceCommand::Capture {
            model,
            version,
            from,
            to,
            config,
        } => {
            let config = config.load()?;
            let parse = |what: &str, s: &str| {
                crate::base::time::parse_timestamp(s)
                    .ok_or_else(|| format!("--{what} `{s}` is not RFC 3339 or epoch milliseconds"))
            };
            let (from_ms, to_ms) = (parse("from", &from)?, parse("to", &to)?);
            if to_ms <= from_ms {
                return Err("--to must be after --from".into());
            }
            let store = Store::open(&config.storage.path)?;
            let base = store
                .latest_reference(&model, version.as_deref())?
                .ok_or_else(|| {
                    format!("model `{model}` has no reference profile to take bins from")
                })?;
            let window = store.load()?.windows_mut().range(
                &model,
                version.as_deref(),
                Some(&base),
                (from_ms, to_ms - 1),
                &store,
            )?;
            if window.events == 0 {
                return Err(format!("no events of `{model}` between {from} and {to}").into());
            }
            let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let captured = base.captured(
                window.events,
                &window.features,
                (&from, &to),
                from_ms,
                created,
            );
            store.put_reference(&captured)?;
            println!(
                "captured {} ({} events from {from} to {to})",
                captured.id, captured.rows
            );
            Ok(())
        }
        ReferenceCommand::List { config } => {
            let config = config.load()?;
            let store = Store::open(&config.storage.path)?;
            println!(
                "{:<20} {:<12} {:<28} {:<22} {:>10} {:>8}  checksum",
                "model", "version", "id", "created", "rows", "features"
            );
            for p in store.references()? {
                println!(
                    "{:<20} {:<12} {:<28} {:<22} {:>10} {:>8}  {}",
                    p.model,
                    p.version,
                    p.id,
                    p.created_at,
                    p.rows,
                    p.features.len(),
                    p.source_checksum
                );
            }
            Ok(())
        }
    }
}
