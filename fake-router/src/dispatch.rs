//! Which area handles which operation. The only module that imports the areas.
//!
//! The match on [`Op`] is exhaustive with no wildcard arm: an operation added to
//! openapi.yaml does not compile until an area handles it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::Response;

use crate::areas::{
    admin, agent, backups, bulk, cluster, exec, files, governance, health, ports, preview,
    sandboxes, sharing, templates, terminal, user, warm_pool, webhooks,
};
use crate::core::ops::Op;
use crate::core::state::Shared;
use crate::http::call::Call;
use crate::http::respond::Body;
use crate::http::server::Handlers;

/// What the pipeline runs behind its gates.
pub(crate) const HANDLERS: Handlers = Handlers {
    op: dispatch,
    metrics: health::metrics,
    terminal: terminal::open,
    preview: preview::proxy,
};

/// Run one matched, authenticated call.
fn dispatch(
    shared: Arc<Shared>,
    call: Call,
) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
    Box::pin(async move {
        let s = &*shared;
        let c = &call;
        match call.op {
            Op::Healthz => health::healthz(s, c),
            Op::Readyz => health::readyz(s, c),
            Op::ListSandboxes => sandboxes::list(s, c),
            Op::CreateSandbox => sandboxes::create(s, c),
            Op::GetSandbox => sandboxes::get(s, c),
            Op::DeleteSandbox => sandboxes::delete(s, c),
            Op::UpdateSandbox => sandboxes::patch(s, c),
            Op::StopSandbox => sandboxes::stop(s, c),
            Op::ResumeSandbox => sandboxes::resume(s, c),
            Op::CloneSandbox => sandboxes::clone(s, c),
            Op::BulkCreateSandboxes => bulk::create(s, c),
            Op::BulkSandboxAction => bulk::action(s, c),
            Op::ListBackups => backups::list(s, c),
            Op::CreateBackup => backups::create(s, c),
            Op::RestoreBackup => backups::restore(s, c),
            Op::DeleteBackup => backups::delete(s, c),
            Op::ExecCommand => exec::run(shared.clone(), call).await,
            Op::ListFiles => files::list(s, c),
            Op::ReadFile => files::read(s, c),
            Op::WriteFile => files::write(s, c),
            Op::DownloadArchive => files::archive(s, c),
            Op::ListPorts => ports::list(s, c),
            Op::ForwardPort => ports::forward(s, c),
            Op::RemovePort => ports::remove(s, c),
            Op::GetSharing => sharing::get(s, c),
            Op::ShareSandbox => sharing::share(s, c),
            Op::RevokeShare => sharing::revoke(s, c),
            Op::CreateShareLink => sharing::create_link(s, c),
            Op::ConfigureAgent => agent::configure(shared.clone(), call).await,
            Op::GetInstallLog => agent::install_log(s, c),
            Op::InvokeAgent => agent::invoke(shared.clone(), call).await,
            Op::CancelInvoke => agent::cancel(s, c),
            Op::ListTemplates => templates::list(s, c),
            Op::CreateTemplate => templates::create(s, c),
            Op::GetTemplate => templates::get(s, c),
            Op::UpdateTemplate => templates::update(s, c),
            Op::DeleteTemplate => templates::delete(s, c),
            Op::CreateWebhook => webhooks::create(shared.clone(), call).await,
            Op::ListWebhooks => webhooks::list(s, c),
            Op::DeleteWebhook => webhooks::delete(s, c),
            Op::ListWebhookDeliveries => webhooks::deliveries(s, c),
            Op::ListPolicies => governance::list(s, c),
            Op::SetClusterPolicy => governance::set_cluster(s, c),
            Op::GetNamespacePolicy => governance::get_namespace(s, c),
            Op::SetNamespacePolicy => governance::set_namespace(s, c),
            Op::DeleteNamespacePolicy => governance::delete_namespace(s, c),
            Op::GetEffectivePolicy => governance::effective(s, c),
            Op::ListAuditEvents => admin::audit_events(s, c),
            Op::GetUsageAnalytics => admin::usage(s, c),
            Op::GetCostEstimates => admin::costs(s, c),
            Op::AdminListSandboxes => admin::sandboxes(s, c),
            Op::AdminGetSharing => admin::sharing(s, c),
            Op::GetCurrentUser => user::me(s, c),
            Op::GetPreferences => user::get_preferences(s, c),
            Op::SetPreferences => user::set_preferences(s, c),
            Op::ListApiKeys => user::list_keys(s, c),
            Op::CreateApiKey => user::create_key(s, c),
            Op::RevokeApiKey => user::revoke_key(s, c),
            Op::GetWarmPoolStatus => warm_pool::status(s, c),
            Op::SetWarmPoolConfig => warm_pool::set_config(s, c),
            Op::GetClusterStatus => cluster::status(s, c),
            Op::GetClusterNodes => cluster::nodes(s, c),
            Op::GetHeadroom => cluster::headroom(s, c),
            Op::SetHeadroom => cluster::set_headroom(s, c),
        }
    })
}
