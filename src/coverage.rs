//! Which facade method reaches each operation of `openapi.yaml`.
//!
//! A test reads the spec and fails when an operation has no entry here (or an entry names an
//! operation the spec no longer has), and another checks the README lists every method.

/// `(operationId, facade method)` for all 64 operations of the spec.
///
/// ```
/// let (op, method) = agenttier::coverage::FACADE[0];
/// assert_eq!((op, method), ("healthz", "Client::healthz"));
/// ```
pub const FACADE: &[(&str, &str)] = &[
    // health
    ("healthz", "Client::healthz"),
    ("readyz", "Client::readyz"),
    // sandboxes
    ("listSandboxes", "Client::list_sandboxes"),
    ("createSandbox", "Client::create_sandbox"),
    ("getSandbox", "Client::get_sandbox"),
    ("deleteSandbox", "Sandbox::delete"),
    ("updateSandbox", "Sandbox::update"),
    ("stopSandbox", "Sandbox::stop"),
    ("resumeSandbox", "Sandbox::resume"),
    ("cloneSandbox", "Sandbox::clone_sandbox"),
    // bulk
    ("bulkCreateSandboxes", "Client::create_sandboxes"),
    ("bulkSandboxAction", "Client::bulk_action"),
    // backups
    ("listBackups", "Backups::list"),
    ("createBackup", "Backups::create"),
    ("restoreBackup", "Backups::restore"),
    ("deleteBackup", "Backups::delete"),
    // exec
    ("execCommand", "Sandbox::exec"),
    // files
    ("listFiles", "Files::list"),
    ("readFile", "Files::read"),
    ("writeFile", "Files::write"),
    ("downloadArchive", "Files::archive"),
    // ports
    ("listPorts", "Ports::list"),
    ("forwardPort", "Ports::forward"),
    ("removePort", "Ports::remove"),
    // sharing
    ("getSharing", "Sharing::get"),
    ("shareSandbox", "Sharing::grant"),
    ("revokeShare", "Sharing::revoke"),
    ("createShareLink", "Sharing::create_link"),
    // agent
    ("configureAgent", "Agent::configure"),
    ("getInstallLog", "Agent::install_log"),
    ("invokeAgent", "Agent::invoke"),
    ("cancelInvoke", "Agent::cancel"),
    // templates
    ("listTemplates", "Templates::list"),
    ("createTemplate", "Templates::create"),
    ("getTemplate", "Templates::get"),
    ("updateTemplate", "Templates::update"),
    ("deleteTemplate", "Templates::delete"),
    // webhooks
    ("createWebhook", "Webhooks::create"),
    ("listWebhooks", "Webhooks::list"),
    ("deleteWebhook", "Webhooks::delete"),
    ("listWebhookDeliveries", "Webhooks::deliveries"),
    // governance
    ("listPolicies", "Governance::list"),
    ("setClusterPolicy", "Governance::set_cluster"),
    ("getNamespacePolicy", "Governance::get"),
    ("setNamespacePolicy", "Governance::set"),
    ("deleteNamespacePolicy", "Governance::delete"),
    ("getEffectivePolicy", "Governance::effective"),
    // admin and insight
    ("listAuditEvents", "Admin::audit_events"),
    ("getUsageAnalytics", "Admin::usage"),
    ("getCostEstimates", "Admin::costs"),
    ("adminListSandboxes", "Admin::sandboxes"),
    ("adminGetSharing", "Admin::sharing"),
    // user
    ("getCurrentUser", "User::me"),
    ("getPreferences", "User::preferences"),
    ("setPreferences", "User::set_preferences"),
    ("listApiKeys", "ApiKeys::list"),
    ("createApiKey", "ApiKeys::create"),
    ("revokeApiKey", "ApiKeys::revoke"),
    // warm pool
    ("getWarmPoolStatus", "WarmPool::status"),
    ("setWarmPoolConfig", "WarmPool::configure"),
    // cluster
    ("getClusterStatus", "Cluster::status"),
    ("getClusterNodes", "Cluster::nodes"),
    ("getHeadroom", "Cluster::headroom"),
    ("setHeadroom", "Cluster::set_headroom"),
];
