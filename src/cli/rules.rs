//! `driftd rules check|test`.

use std::path::PathBuf;

use clap::Subcommand;

use super::OptionalConfigArg;

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate rule files (or directories of them), like `promtool check rules`.
    /// Without paths, the files of `[alerting] rules` in the configuration. Exit 1
    /// with the file, line, rule and key of the first error.
    Check {
        paths: Vec<PathBuf>,
        #[command(flatten)]
        config: OptionalConfigArg,
    },
    /// Run rule unit tests (input series, expected alerts), like `promtool test rules`.
    /// Exit 1 when a test fails.
    Test {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub(super) fn rules(c: RulesCommand) -> Result<(), Box<dyn std::error::Error>> {
    match c {
        RulesCommand::Check { paths, config } => {
            let config = config.load()?;
            let windows = config.windows.names();
            let paths = if paths.is_empty() {
                if config.alerting.rules.is_empty() {
                    vec![PathBuf::from("rules")]
                } else {
                    config.alerting.rules.clone()
                }
            } else {
                paths
            };
            let set = crate::rules::load_rules(&paths, Some(&windows))?;
            for file in &set.files {
                let n = set.rules.iter().filter(|r| &r.file == file).count();
                println!("{}: {n} rule(s) ok", file.display());
            }
            Ok(())
        }
        RulesCommand::Test { files } => {
            let mut failed = 0;
            for file in &files {
                for case in crate::rules::unit::run_file(file)? {
                    if case.failures.is_empty() {
                        println!("ok    {}: {}", file.display(), case.name);
                    } else {
                        failed += 1;
                        println!("FAIL  {}: {}", file.display(), case.name);
                        for f in &case.failures {
                            println!("      {f}");
                        }
                    }
                }
            }
            if failed > 0 {
                return Err(format!("{failed} rule test(s) failed").into());
            }
            Ok(())
        }
    }
}
