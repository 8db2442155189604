//! `driftd config check`.

use clap::Subcommand;

use super::ConfigArg;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file; exit 1 with the key and line of the first error.
    Check(ConfigArg),
}

pub(super) fn config(c: ConfigCommand) -> Result<(), Box<dyn std::error::Error>> {
    let ConfigCommand::Check(arg) = c;
    let config = Config::load(&arg.config)?;
    let rules = crate::alerting::configured_rules(&config)?;
    println!(
        "{}: ok ({} source(s), brokers {}, store {}, http {}, {} rule(s))",
        arg.config.display(),
        config.sources.len(),
        config.kafka.brokers.join(","),
        config.storage.path.display(),
        config.http.bind,
        rules.rules.len()
    );
    Ok(())
}
