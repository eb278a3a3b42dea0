//! Which area handles which operation. The only module that imports the areas.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::Response;

use crate::areas::{
    admin, agent, backups, bulk, cluster, exec, files, governance, health, ports, sandboxes,
    sharing, templates, user, warm_pool, webhooks,
};
use crate::core::state::Shared;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

/// Run one matched, authenticated call (the pipeline's [`crate::http::server::Dispatch`]).
pub(crate) fn dispatch(
    shared: Arc<Shared>,
    call: Call,
) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
    Box::pin(async move {
        let s = &*shared;
        let c = &call;
        match call.op {
            "healthz" => health::healthz(s, c),
            "readyz" => health::readyz(s, c),
            "listSandboxes" => sandboxes::list(s, c),
            "createSandbox" => sandboxes::create(s, c),
            "getSandbox" => sandboxes::get(s, c),
            "deleteSandbox" => sandboxes::delete(s, c),
            "updateSandbox" => sandboxes::patch(s, c),
            "stopSandbox" => sandboxes::stop(s, c),
            "resumeSandbox" => sandboxes::resume(s, c),
            "cloneSandbox" => sandboxes::clone(s, c),
            "bulkCreateSandboxes" => bulk::create(s, c),
            "bulkSandboxAction" => bulk::action(s, c),
            "listBackups" => backups::list(s, c),
            "createBackup" => backups::create(s, c),
            "restoreBackup" => backups::restore(s, c),
            "deleteBackup" => backups::delete(s, c),
            "execCommand" => exec::run(shared.clone(), call).await,
            "listFiles" => files::list(s, c),
            "readFile" => files::read(s, c),
            "writeFile" => files::write(s, c),
            "downloadArchive" => files::archive(s, c),
            "listPorts" => ports::list(s, c),
            "forwardPort" => ports::forward(s, c),
            "removePort" => ports::remove(s, c),
            "getSharing" => sharing::get(s, c),
            "shareSandbox" => sharing::share(s, c),
            "revokeShare" => sharing::revoke(s, c),
            "createShareLink" => sharing::create_link(s, c),
            "configureAgent" => agent::configure(shared.clone(), call).await,
            "getInstallLog" => agent::install_log(s, c),
            "invokeAgent" => agent::invoke(shared.clone(), call).await,
            "cancelInvoke" => agent::cancel(s, c),
            "listTemplates" => templates::list(s, c),
            "createTemplate" => templates::create(s, c),
            "getTemplate" => templates::get(s, c),
            "updateTemplate" => templates::update(s, c),
            "deleteTemplate" => templates::delete(s, c),
            "createWebhook" => webhooks::create(s, c),
            "listWebhooks" => webhooks::list(s, c),
            "deleteWebhook" => webhooks::delete(s, c),
            "listWebhookDeliveries" => webhooks::deliveries(s, c),
            "listPolicies" => governance::list(s, c),
            "setClusterPolicy" => governance::set_cluster(s, c),
            "getNamespacePolicy" => governance::get_namespace(s, c),
            "setNamespacePolicy" => governance::set_namespace(s, c),
            "deleteNamespacePolicy" => governance::delete_namespace(s, c),
            "getEffectivePolicy" => governance::effective(s, c),
            "listAuditEvents" => admin::audit_events(s, c),
            "getUsageAnalytics" => admin::usage(s, c),
            "getCostEstimates" => admin::costs(s, c),
            "adminListSandboxes" => admin::sandboxes(s, c),
            "adminGetSharing" => admin::sharing(s, c),
            "getCurrentUser" => user::me(s, c),
            "getPreferences" => user::get_preferences(s, c),
            "setPreferences" => user::set_preferences(s, c),
            "listApiKeys" => user::list_keys(s, c),
            "createApiKey" => user::create_key(s, c),
            "revokeApiKey" => user::revoke_key(s, c),
            "getWarmPoolStatus" => warm_pool::status(s, c),
            "setWarmPoolConfig" => warm_pool::set_config(s, c),
            "getClusterStatus" => cluster::status(s, c),
            "getClusterNodes" => cluster::nodes(s, c),
            "getHeadroom" => cluster::headroom(s, c),
            "setHeadroom" => cluster::set_headroom(s, c),
            _ => respond::http_error(404, "404 page not found"),
        }
    })
}
