//! Logging to standard error: the filter from the configuration (or
//! `RUST_LOG`), reloadable on SIGHUP; text (colours only on a terminal) or
//! JSON lines.

use anyhow::Result;
use crispin_server::Config;
use crispin_server::config::{LogFormat, log_filter};
use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

pub struct Logging {
    filter: reload::Handle<EnvFilter, Registry>,
}

/// The filter in force: `RUST_LOG` when set, else the configuration's.
/// Both must parse: a typo is an error, not silence.
fn filter(config: &Config) -> Result<EnvFilter> {
    match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => {
            log_filter(&spec).map_err(|e| anyhow::anyhow!("RUST_LOG: {e}"))
        }
        _ => Ok(log_filter(&config.log)?),
    }
}

pub fn init(config: &Config) -> Result<Logging> {
    let (filter, handle) = reload::Layer::new(filter(config)?);
    let output = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init()?;
    Ok(Logging { filter: handle })
}

impl Logging {
    /// A new filter from a reloaded configuration (the format stays).
    pub fn reload(&self, config: &Config) -> Result<()> {
        self.filter.reload(filter(config)?)?;
        Ok(())
    }
}
