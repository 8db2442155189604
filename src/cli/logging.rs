//! Where log records go: stderr, as text for people or JSON for log shippers. Under
//! systemd, when stderr is the journal's stream (`JOURNAL_STREAM` names its device
//! and inode), each record starts with its syslog priority (`<3>` error … `<7>`
//! debug), which journald reads as the entry's level: `journalctl -p err -u driftd`
//! then shows driftd's errors.

use std::fmt;
use std::io::IsTerminal;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::LogFormat;

/// Installs the global subscriber: `filter` as `RUST_LOG` reads, in `format`.
pub fn init(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let journal = stderr_is_journal();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => {
            // `json()` also sets the JSON field formatter the event format needs.
            let event = tracing_subscriber::fmt::format().json();
            logs.json()
                .event_format(Prioritized {
                    inner: event,
                    journal,
                })
                .init()
        }
        LogFormat::Text => {
            let ansi = !journal && std::io::stderr().is_terminal();
            let event = tracing_subscriber::fmt::format().with_ansi(ansi);
            logs.with_ansi(ansi)
                .event_format(Prioritized {
                    inner: event,
                    journal,
                })
                .init()
        }
    }
}

/// Whether stderr is the stream systemd connected to the journal: `JOURNAL_STREAM`
/// is `<device>:<inode>` of it (systemd.exec(5)); an inherited variable with another
/// stderr does not count.
fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some(want) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    want.to_str() == Some(&format!("{}:{}", meta.dev(), meta.ino()))
}

/// syslog's priority of a level, as sd-daemon(3) prefixes read it.
fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// A record format, with the `<priority>` prefix when stderr is the journal.
struct Prioritized<F> {
    inner: F,
    journal: bool,
}

impl<S, N, F> FormatEvent<S, N> for Prioritized<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if self.journal {
            write!(writer, "<{}>", priority(event.metadata().level()))?;
        }
        self.inner.format_event(ctx, writer, event)
    }
}
