//! `driftd state show`.

use clap::{Args, Subcommand};

use super::ConfigArg;
use crate::config::Config;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print the checkpointed counts and offsets as JSON.
    Show(StateShowArgs),
}

#[derive(Debug, Args)]
pub struct StateShowArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Also print every window bucket (large: meant for comparing two stores).
    #[arg(long)]
    pub buckets: bool,
}

pub(super) fn state(c: StateCommand) -> Result<(), Box<dyn std::error::Error>> {
    let StateCommand::Show(arg) = c;
    let config = Config::load(&arg.config.config)?;
    let store = Store::open(&config.storage.path)?;
    let mut state = store.load()?;
    let buckets = arg
        .buckets
        .then_some(&store as &dyn crate::window::StoredBuckets);
    println!(
        "{}",
        serde_json::to_string_pretty(&state.summary(buckets)?)?
    );
    Ok(())
}
