//! Progress on stderr, only when stderr is a terminal (silent in pipes, logs and tests).

use std::io::IsTerminal;
use std::time::Duration;

use agenttier::TransferOptions;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

fn shown() -> bool {
    std::io::stderr().is_terminal()
}

/// Transfer options reporting to a bar labelled `label`, and the bar to finish.
pub fn transfer(label: &str) -> (TransferOptions, Option<ProgressBar>) {
    if !shown() {
        return (TransferOptions::default(), None);
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_owned());
    let b = bar.clone();
    let options = TransferOptions::default().progress(move |p| {
        if let Some(total) = p.total {
            b.set_length(total);
        }
        b.set_position(p.done);
    });
    (options, Some(bar))
}

/// A spinner with `message` while waiting.
pub fn spinner(message: &str) -> Option<ProgressBar> {
    if !shown() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

/// Clears a bar or spinner.
pub fn finish(bar: Option<ProgressBar>) {
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}
