//! Running scenarios: the context they get, what they create, cleanup, and the leftover check.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use agenttier::{CancellationToken, Client, Error};
use serde_json::{Map, Value};

use crate::report::{Failure, Leftover, Outcome, Report, ScenarioResult};
use crate::{Options, new_prefix};

/// Why a step failed: a request, or a check on what came back.
#[derive(Debug)]
pub(crate) enum StepError {
    /// A request failed.
    Api(Error),
    /// An answer was not what the contract says.
    Check(String),
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        StepError::Api(e)
    }
}

/// `Err(StepError::Check(..))` unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::runner::StepError::Check(format!($($fmt)+)));
        }
    };
}
pub(crate) use ensure;

/// Something a scenario created, to remove after it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Resource {
    Sandbox(String),
    ApiKey(String),
    Webhook(String),
    Share { sandbox: String, identity: String },
    Backup { sandbox: String, snapshot: String },
    Template(String),
    Policy(String),
    Preferences(Map<String, Value>),
}

/// What a scenario gets: the client, the options, the names, and the record of what it made.
pub(crate) struct Ctx {
    pub client: Client,
    pub options: Options,
    pub prefix: String,
    created: Mutex<Vec<Resource>>,
    steps: Mutex<Vec<String>>,
    current: Mutex<String>,
    skipped: Mutex<Option<String>>,
}

impl Ctx {
    /// A name with the run prefix: `<prefix>-<suffix>`.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.prefix)
    }

    /// Run one named step; its error becomes a [`Failure`] naming the step.
    pub async fn step<T>(
        &self,
        name: &str,
        fut: impl Future<Output = Result<T, StepError>>,
    ) -> Result<T, Failure> {
        *self.current.lock().unwrap() = name.to_string();
        if self.options.verbose {
            eprintln!("    .. {name}");
        }
        match fut.await {
            Ok(v) => {
                self.steps.lock().unwrap().push(name.to_string());
                Ok(v)
            }
            Err(StepError::Api(e)) => Err(Failure::request(name, &e)),
            Err(StepError::Check(m)) => Err(Failure::check(name, m)),
        }
    }

    /// Report the scenario as skipped (when the scenario then returns `Ok`): the target lacks
    /// something it needs, found out through the API.
    pub fn skip(&self, why: impl Into<String>) {
        *self.skipped.lock().unwrap() = Some(why.into());
    }

    /// Record something created, so it is removed after the scenario whatever happens.
    pub fn track(&self, r: Resource) {
        self.created.lock().unwrap().push(r);
    }

    /// The scenario removed it itself.
    pub fn untrack(&self, r: &Resource) {
        let mut created = self.created.lock().unwrap();
        if let Some(i) = created.iter().rposition(|x| x == r) {
            created.remove(i);
        }
    }
}

pub(crate) type Run = for<'a> fn(&'a Ctx) -> futures::future::BoxFuture<'a, Result<(), Failure>>;

/// One scenario of the suite.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// Its name (for `--only`, `--skip` and the report).
    pub name: &'static str,
    /// What it checks, in one line.
    pub about: &'static str,
    /// Whether it needs admin credentials (it is skipped otherwise).
    pub admin: bool,
    pub(crate) run: Run,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .field("admin", &self.admin)
            .finish()
    }
}

/// Runs `scenarios` against `client` and returns the report (see [`crate::run`]). Never panics on a Router's
/// answer; every failure is in the report.
///
/// Cancelling `cancel` (the binary does on Ctrl-C) stops the running scenario at its current
/// step, skips the rest, and still runs every cleanup and the leftover check.
pub(crate) async fn run_scenarios(
    scenarios: &[Scenario],
    client: &Client,
    options: &Options,
    cancel: CancellationToken,
) -> Report {
    let started = Instant::now();
    let prefix = options.prefix.clone().unwrap_or_else(new_prefix);
    let admin = match client.user().me().await {
        Ok(me) => Some(me.is_admin),
        Err(e) => {
            eprintln!(
                "could not tell whether the credentials are admin (GET /api/v1/user/me): {e}"
            );
            None
        }
    };
    let mut results = Vec::new();
    for sc in scenarios {
        let skip = if cancel.is_cancelled() {
            Some("run cancelled".to_string())
        } else if !options.only.is_empty() && !options.only.iter().any(|n| n == sc.name) {
            Some("not selected (--only)".to_string())
        } else if options.skip.iter().any(|n| n == sc.name) {
            Some("skipped (--skip)".to_string())
        } else if sc.admin && admin != Some(true) {
            Some(match admin {
                Some(_) => "needs admin credentials (user/me says isAdmin false)".to_string(),
                None => "needs admin credentials (could not be determined)".to_string(),
            })
        } else {
            None
        };
        if let Some(why) = skip {
            results.push(ScenarioResult {
                name: sc.name,
                about: sc.about,
                outcome: Outcome::Skipped(why),
                steps: Vec::new(),
                cleanup_errors: Vec::new(),
                duration: Default::default(),
            });
            continue;
        }
        if options.verbose {
            eprintln!("  {} ...", sc.name);
        }
        let ctx = Arc::new(Ctx {
            client: client.clone(),
            options: options.clone(),
            prefix: prefix.clone(),
            created: Mutex::new(Vec::new()),
            steps: Mutex::new(Vec::new()),
            current: Mutex::new("start".to_string()),
            skipped: Mutex::new(None),
        });
        let t0 = Instant::now();
        let outcome = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                let step = ctx.current.lock().unwrap().clone();
                Err(Failure::check(step, "cancelled during this step (Ctrl-C)"))
            }
            r = (sc.run)(&ctx) => r,
        };
        let cleanup_errors = cleanup(&ctx).await;
        let outcome = match (outcome, cleanup_errors.first()) {
            (Err(f), _) => Outcome::Failed(f),
            (Ok(()), Some(first)) => Outcome::Failed(Failure::check("cleanup", first.clone())),
            (Ok(()), None) => match ctx.skipped.lock().unwrap().take() {
                Some(why) => Outcome::Skipped(why),
                None => Outcome::Passed,
            },
        };
        let steps = ctx.steps.lock().unwrap().clone();
        results.push(ScenarioResult {
            name: sc.name,
            about: sc.about,
            outcome,
            steps,
            cleanup_errors,
            duration: t0.elapsed(),
        });
    }
    let leftovers = leftovers(client, &prefix, admin == Some(true)).await;
    Report {
        target: client.base_url().to_string(),
        prefix,
        admin,
        results,
        leftovers,
        cancelled: cancel.is_cancelled(),
        duration: started.elapsed(),
    }
}

/// Removes what the scenario left recorded, newest first. Missing objects count as removed.
async fn cleanup(ctx: &Ctx) -> Vec<String> {
    let created: Vec<Resource> = std::mem::take(&mut *ctx.created.lock().unwrap());
    let c = &ctx.client;
    let mut errors = Vec::new();
    let mut deleted_sandboxes = Vec::new();
    for r in created.into_iter().rev() {
        let res: Result<(), Error> = async {
            match &r {
                Resource::Sandbox(id) => {
                    let sb = c.sandbox(id.as_str())?;
                    match sb.delete().await {
                        Ok(_) => deleted_sandboxes.push(sb),
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e),
                    }
                }
                Resource::ApiKey(id) => drop(c.api_keys().revoke(id).await?),
                Resource::Webhook(id) => c.webhooks().delete(id).await?,
                Resource::Share { sandbox, identity } => drop(
                    c.sandbox(sandbox.as_str())?
                        .sharing()
                        .revoke(identity)
                        .await?,
                ),
                Resource::Backup { sandbox, snapshot } => drop(
                    c.sandbox(sandbox.as_str())?
                        .backups()
                        .delete(snapshot)
                        .await?,
                ),
                Resource::Template(name) => c.templates().delete(name).await?,
                Resource::Policy(ns) => c.governance().delete(ns).await?,
                Resource::Preferences(prefs) => drop(c.user().set_preferences(prefs).await?),
            }
            Ok(())
        }
        .await;
        match res {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => errors.push(format!(
                "removing {r:?}: {}",
                Failure::request("cleanup", &e)
            )),
        }
    }
    for sb in deleted_sandboxes {
        if let Err(e) = sb.wait_until_deleted_with(ctx.options.wait.clone()).await {
            errors.push(format!("waiting for sandbox {} to go: {e}", sb.id()));
        }
    }
    errors
}

/// Lists everything still carrying the prefix.
async fn leftovers(client: &Client, prefix: &str, admin: bool) -> Vec<Leftover> {
    let mut out = Vec::new();
    let mine = |s: &str| s.starts_with(prefix);
    let failed = |what: &str, e: Error| Leftover {
        kind: "check",
        name: format!(
            "could not list {what}: {}",
            Failure::request("leftovers", &e)
        ),
    };
    match client.list_sandboxes().await {
        Ok(list) => {
            for s in list.iter().filter(|s| mine(&s.name)) {
                out.push(Leftover {
                    kind: "sandbox",
                    name: format!("{} ({})", s.name, s.phase()),
                });
                match client.sandbox(s.name.as_str()) {
                    Ok(sb) => match sb.sharing().get().await {
                        Ok(sh) => {
                            for p in sh.users.iter().chain(sh.groups.iter()) {
                                out.push(Leftover {
                                    kind: "share grant",
                                    name: format!("{} on {}", p.identity, s.name),
                                });
                            }
                        }
                        Err(e) if e.status() == Some(403) || e.is_not_found() => {}
                        Err(e) => out.push(failed("share grants", e)),
                    },
                    Err(e) => out.push(failed("share grants", e)),
                }
            }
        }
        Err(e) => out.push(failed("sandboxes", e)),
    }
    match client.api_keys().list().await {
        Ok(keys) => out.extend(keys.iter().filter(|k| mine(&k.name)).map(|k| Leftover {
            kind: "api key",
            name: format!("{} ({})", k.name, k.id),
        })),
        Err(e) => out.push(failed("API keys", e)),
    }
    match client.webhooks().list().await {
        Ok(hooks) => out.extend(
            hooks
                .iter()
                .filter(|w| w.url.contains(prefix) || w.sandbox_id.as_deref().is_some_and(mine))
                .map(|w| Leftover {
                    kind: "webhook",
                    name: format!("{} ({})", w.id, w.url),
                }),
        ),
        Err(e) => out.push(failed("webhooks", e)),
    }
    match client.user().preferences().await {
        Ok(prefs) => out.extend(prefs.keys().filter(|k| mine(k)).map(|k| Leftover {
            kind: "preference",
            name: k.clone(),
        })),
        Err(e) => out.push(failed("preferences", e)),
    }
    if admin {
        match client.templates().list().await {
            Ok(ts) => out.extend(ts.iter().filter(|t| mine(&t.name)).map(|t| Leftover {
                kind: "template",
                name: t.name.clone(),
            })),
            Err(e) => out.push(failed("templates", e)),
        }
        match client.governance().list().await {
            Ok(p) => {
                out.extend(
                    p.namespaces
                        .iter()
                        .filter(|n| mine(&n.namespace))
                        .map(|n| Leftover {
                            kind: "policy",
                            name: n.namespace.clone(),
                        }),
                )
            }
            Err(e) => out.push(failed("policies", e)),
        }
    }
    out
}
