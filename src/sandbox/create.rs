//! Creating a sandbox without ever making a duplicate or reporting a false conflict.
//!
//! The Router has no idempotency key: a create whose answer was lost (a connection cut after
//! sending, a gateway's 502/503/504, a timeout) may or may not have happened. Such an outcome
//! is resolved by reading the sandbox by name, not by a second POST; only when reading within
//! the policy's [`read_back_window`](crate::RetryPolicy::read_back_window) finds nothing is the
//! create sent again (as the policy allows). A second create that then meets "already exists"
//! is our first one, made visible late: it is read and returned too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::Sandbox;
use crate::operations::op;
use crate::pipeline::retry::{self, Budget, Hint, Judge, RetryPolicy, Stop};
use crate::types::{CreateSandboxRequest, CreateSandboxResponse, SandboxSummary};
use crate::{CallOptions, Client, Error, Result};

/// One create attempt's failure, with whether sending it again is known to be safe.
struct Attempt {
    error: Error,
    /// Reading found nothing for the whole window: the create did not happen.
    absent: bool,
}

impl Judge for Attempt {
    fn hint(&self) -> Hint {
        if self.absent {
            Hint::NotSent
        } else {
            self.error.hint()
        }
    }
}

/// Sends `request` until it is created (or found), within the client's options.
pub(crate) async fn create_without_duplicates(
    client: &Client,
    request: &CreateSandboxRequest,
) -> Result<Sandbox> {
    let options = client.options();
    let defaults = &client.pipeline().defaults;
    let policy = options
        .retry
        .clone()
        .unwrap_or_else(|| defaults.retry.clone());
    let now = Instant::now();
    let mut deadline = now.checked_add(options.timeout.unwrap_or(defaults.timeout));
    if let Some(at) = options.deadline {
        let at = Instant::from_std(at);
        deadline = Some(deadline.map_or(at, |d| d.min(at)));
    }
    // Each request runs once inside this engine, within the overall deadline.
    let once = client.with_options(
        deadline
            .map(|d| CallOptions::new().deadline(d.into_std()))
            .unwrap_or_default()
            .retry(RetryPolicy::none()),
    );
    let budget = Budget {
        op: &op::CREATE_SANDBOX,
        policy: &policy,
        deadline,
        cancel: options.cancel.as_ref(),
    };
    let unknown_before = AtomicBool::new(false);
    let outcome = retry::run(&budget, |_| async {
        let call = once.call(&op::CREATE_SANDBOX, &[])?.json(request);
        let sent = match call {
            Ok(call) => once.json::<CreateSandboxResponse>(call).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(created) => created_handle(client, created),
            Err(error @ Error::AlreadyExists(_)) if unknown_before.load(Ordering::Relaxed) => {
                // Our earlier create happened after all.
                match find(&once, &request.name, &policy, deadline).await {
                    Some(summary) => Ok(found_handle(client, summary)),
                    None => Err(Attempt {
                        error,
                        absent: false,
                    }),
                }
            }
            Err(error) if error.outcome_unknown() => {
                unknown_before.store(true, Ordering::Relaxed);
                tracing::debug!(sandbox = %request.name, %error, "create outcome unknown; reading it back");
                match find(&once, &request.name, &policy, deadline).await {
                    Some(summary) => Ok(found_handle(client, summary)),
                    None => Err(Attempt {
                        error,
                        absent: true,
                    }),
                }
            }
            Err(error) => Err(Attempt {
                error,
                absent: false,
            }),
        }
    })
    .await;
    match outcome {
        Ok((sb, _)) => Ok(sb),
        Err(Stop::Failed(attempt, _)) => Err(attempt.error),
        Err(Stop::Cancelled(_)) => Err(Error::Cancelled {
            operation: op::CREATE_SANDBOX.name,
        }),
    }
}

/// Reads `name` until it shows up, for at most the policy's read-back window (once, when the
/// policy allows no retries; never past the deadline).
async fn find(
    client: &Client,
    name: &str,
    policy: &RetryPolicy,
    deadline: Option<Instant>,
) -> Option<SandboxSummary> {
    let window = if policy.max_retries == 0 {
        Duration::ZERO
    } else {
        policy.read_back_window
    };
    let mut until = Instant::now() + window;
    if let Some(d) = deadline {
        until = until.min(d);
    }
    // A few reads spread over the window, the first at once.
    let mut pause = (window / 16).max(Duration::from_millis(1));
    loop {
        let read = match client.call(&op::GET_SANDBOX, &[name]) {
            Ok(call) => client.json::<SandboxSummary>(call).await,
            Err(e) => Err(e),
        };
        match read {
            Ok(summary) => return Some(summary),
            Err(e) if e.is_not_found() || e.is_retryable() => {}
            Err(_) => return None,
        }
        if Instant::now() + pause >= until {
            return None;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1).max(window / 4));
    }
}

fn created_handle(
    client: &Client,
    created: CreateSandboxResponse,
) -> std::result::Result<Sandbox, Attempt> {
    let mut sb = client
        .sandbox(created.sandbox_id)
        .map_err(|error| Attempt {
            error,
            absent: false,
        })?;
    sb.namespace = Some(created.namespace);
    Ok(sb)
}

fn found_handle(client: &Client, summary: SandboxSummary) -> Sandbox {
    Sandbox {
        client: client.clone(),
        id: summary.sandbox_id.clone(),
        namespace: Some(summary.namespace.clone()),
        last: Some(summary),
    }
}

impl From<Error> for Attempt {
    fn from(error: Error) -> Self {
        Attempt {
            error,
            absent: false,
        }
    }
}
