//! Log set-up: `tracing` to stderr, filtered by `CHAKA_LOG` (default `info`). Nothing in chaka
//! logs ID numbers, phones, names, PINs, codes or card digits; the privacy tests check it.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are ignored.
pub fn init() {
    init_with_default("info");
}

/// Like [`init`], with another default level when `CHAKA_LOG` is not set.
pub fn init_with_default(level: &str) {
    let filter = EnvFilter::try_from_env("CHAKA_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
