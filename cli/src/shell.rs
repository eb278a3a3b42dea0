//! `sandbox shell`: the Router's terminal WebSocket on this terminal (raw mode, window size,
//! resizes), or a plain pipe when stdin is not a terminal.

use std::io::{IsTerminal, Read};

use agenttier::Sandbox;
use agenttier::terminal::TerminalEvent;
use tokio::io::AsyncWriteExt;

use crate::Failure;

/// Restores the terminal's mode when dropped (also on Ctrl-C's early exit and on errors).
struct RawMode;

impl RawMode {
    fn enable() -> Result<RawMode, Failure> {
        crossterm::terminal::enable_raw_mode()
            .map_err(|e| Failure::Message(format!("cannot put the terminal in raw mode: {e}")))?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Runs the session until the remote side closes it.
pub async fn run(sandbox: Sandbox, namespace: Option<String>) -> Result<(), Failure> {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut builder = sandbox.terminal();
    if let Some(ns) = namespace {
        builder = builder.namespace(ns);
    }
    if interactive && let Ok((cols, rows)) = crossterm::terminal::size() {
        builder = builder.size(cols, rows);
    }
    let mut term = builder.connect().await?;
    let _raw = if interactive {
        Some(RawMode::enable()?)
    } else {
        None
    };

    // Blocking reads of stdin on a thread of their own: a read cannot be cancelled, so it must
    // not sit in the select below.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });

    #[cfg(unix)]
    let mut winch =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
    let mut stdin_open = true;
    let mut out = tokio::io::stdout();
    loop {
        #[cfg(unix)]
        let resized = async {
            match winch.as_mut() {
                Some(s) if interactive => s.recv().await,
                _ => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let resized = std::future::pending::<Option<()>>();
        tokio::select! {
            ev = term.next_event() => match ev {
                None | Some(Ok(TerminalEvent::Closed { .. })) => break,
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(TerminalEvent::Output(s))) => {
                    out.write_all(s.as_bytes()).await?;
                    out.flush().await?;
                }
                Some(Ok(TerminalEvent::Error(m))) => {
                    return Err(Failure::Message(format!("terminal: {m}")));
                }
                Some(Ok(_)) => {}
            },
            chunk = rx.recv(), if stdin_open => match chunk {
                Some(bytes) => term.write(String::from_utf8_lossy(&bytes).into_owned()).await?,
                None => {
                    // End of input: end the remote shell too, so a piped script finishes.
                    stdin_open = false;
                    term.write("\nexit\n").await?;
                }
            },
            Some(()) = resized => {
                if let Ok((cols, rows)) = crossterm::terminal::size() {
                    term.resize(cols, rows).await?;
                }
            }
        }
    }
    term.close().await;
    Ok(())
}
