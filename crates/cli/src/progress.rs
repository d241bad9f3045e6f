//! Download progress on stderr, shared by `pull` and `install`: a bar per layer when stderr is
//! a terminal, plain log lines otherwise.

use std::sync::Arc;

use trustpull_downloader::{ProgressEvent, ProgressObserver};

/// The observer for this process: bars on a terminal, log lines otherwise.
pub fn observer(quiet: bool) -> Arc<dyn ProgressObserver> {
    if quiet {
        Arc::new(trustpull_downloader::NoProgress)
    } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        Arc::new(BarProgress::new())
    } else {
        Arc::new(LogProgress)
    }
}

/// Progress as plain log lines on stderr (when stderr is not a terminal).
#[derive(Debug)]
struct LogProgress;

impl ProgressObserver for LogProgress {
    fn on_event(&self, event: &ProgressEvent) {
        if let Some(line) = describe_event(event) {
            eprintln!("{line}");
        }
    }
}

/// The log line for an event, if it gets one (byte counts do not).
fn describe_event(event: &ProgressEvent) -> Option<String> {
    Some(match event {
        ProgressEvent::Resolved {
            reference,
            digest,
            media_type,
        } => {
            format!("resolved {reference} to {digest} ({media_type})")
        }
        ProgressEvent::ServedBy {
            upstream,
            host,
            skipped,
        } => {
            let via = if host == upstream {
                format!("served by {host} itself")
            } else {
                format!("served by {host}, a mirror of {upstream}")
            };
            if skipped.is_empty() {
                via
            } else {
                format!("{via} (skipped: {})", skipped.join("; "))
            }
        }
        ProgressEvent::PlatformSelected { platform, digest } => {
            format!("selected {platform}: {digest}")
        }
        ProgressEvent::Verified { digest, identity } => {
            format!("verified {digest}: signed by {identity}")
        }
        ProgressEvent::Unverified { digest, reason } => {
            format!("warning: {digest} NOT verified: {reason}")
        }
        ProgressEvent::LayerStarted {
            index,
            count,
            digest,
            size,
        } => {
            format!("layer {}/{count} {digest} ({size} bytes)", index + 1)
        }
        ProgressEvent::Extracting { index, count, .. } => {
            format!("extracting layer {}/{count}", index + 1)
        }
        _ => return None,
    })
}

/// Progress bars on stderr (when stderr is a terminal): one per layer download.
#[derive(Debug)]
struct BarProgress {
    bars: indicatif::MultiProgress,
    layers: std::sync::Mutex<
        std::collections::HashMap<trustpull_policy::Digest, indicatif::ProgressBar>,
    >,
}

impl BarProgress {
    fn new() -> Self {
        Self {
            bars: indicatif::MultiProgress::new(),
            layers: std::sync::Mutex::new(Default::default()),
        }
    }

    fn bar(&self, digest: &trustpull_policy::Digest) -> Option<indicatif::ProgressBar> {
        self.layers.lock().ok().and_then(|m| m.get(digest).cloned())
    }
}

impl ProgressObserver for BarProgress {
    fn on_event(&self, event: &ProgressEvent) {
        match event {
            ProgressEvent::LayerStarted {
                index,
                count,
                digest,
                size,
            } => {
                let bar = self.bars.add(indicatif::ProgressBar::new(*size));
                let style = indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix(format!(
                    "layer {}/{count} {}",
                    index + 1,
                    &digest.hex()[..12]
                ));
                if let Ok(mut m) = self.layers.lock() {
                    m.insert(digest.clone(), bar);
                }
            }
            ProgressEvent::LayerBytes {
                digest, received, ..
            } => {
                if let Some(bar) = self.bar(digest) {
                    bar.set_position(*received);
                }
            }
            ProgressEvent::LayerFinished { digest } => {
                if let Some(bar) = self.bar(digest) {
                    bar.finish();
                }
            }
            other => {
                if let Some(line) = describe_event(other) {
                    let _ = self.bars.println(line);
                }
            }
        }
    }
}
