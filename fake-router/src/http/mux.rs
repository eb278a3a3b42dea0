//! The Router's route table and a matcher that behaves like its gorilla/mux setup.

/// Every operation the FakeRouter serves: `(operationId, METHOD, path template)`.
///
/// The order is the Router's registration order for the routes it serves; `{path}` in the
/// two file routes matches the rest of the path, slashes included (gorilla's `{path:.*}`).
pub const OPERATIONS: &[(&str, &str, &str)] = &[
    ("healthz", "GET", "/healthz"),
    ("readyz", "GET", "/readyz"),
    ("listSandboxes", "GET", "/api/v1/sandboxes"),
    ("createSandbox", "POST", "/api/v1/sandboxes"),
    ("getSandbox", "GET", "/api/v1/sandboxes/{id}"),
    ("deleteSandbox", "DELETE", "/api/v1/sandboxes/{id}"),
    ("updateSandbox", "PATCH", "/api/v1/sandboxes/{id}"),
    ("stopSandbox", "POST", "/api/v1/sandboxes/{id}/stop"),
    ("resumeSandbox", "POST", "/api/v1/sandboxes/{id}/resume"),
    ("cloneSandbox", "POST", "/api/v1/sandboxes/{id}/clone"),
    ("bulkCreateSandboxes", "POST", "/api/v1/sandboxes/bulk"),
    ("bulkSandboxAction", "POST", "/api/v1/sandboxes/bulk-action"),
    ("listBackups", "GET", "/api/v1/sandboxes/{id}/backups"),
    ("createBackup", "POST", "/api/v1/sandboxes/{id}/backups"),
    (
        "restoreBackup",
        "POST",
        "/api/v1/sandboxes/{id}/backups/{snapshotName}/restore",
    ),
    (
        "deleteBackup",
        "DELETE",
        "/api/v1/sandboxes/{id}/backups/{snapshotName}",
    ),
    ("execCommand", "POST", "/api/v1/sandboxes/{id}/exec"),
    ("listFiles", "GET", "/api/v1/sandboxes/{id}/files/"),
    ("readFile", "GET", "/api/v1/sandboxes/{id}/files/{path}"),
    ("writeFile", "PUT", "/api/v1/sandboxes/{id}/files/{path}"),
    ("downloadArchive", "GET", "/api/v1/sandboxes/{id}/archive"),
    ("listPorts", "GET", "/api/v1/sandboxes/{id}/ports"),
    ("forwardPort", "POST", "/api/v1/sandboxes/{id}/ports"),
    (
        "removePort",
        "DELETE",
        "/api/v1/sandboxes/{id}/ports/{port}",
    ),
    ("getSharing", "GET", "/api/v1/sandboxes/{id}/share"),
    ("shareSandbox", "POST", "/api/v1/sandboxes/{id}/share"),
    (
        "revokeShare",
        "DELETE",
        "/api/v1/sandboxes/{id}/share/{userId}",
    ),
    (
        "createShareLink",
        "POST",
        "/api/v1/sandboxes/{id}/share-links",
    ),
    ("configureAgent", "POST", "/api/v1/sandboxes/{id}/configure"),
    (
        "getInstallLog",
        "GET",
        "/api/v1/sandboxes/{id}/configure/install-log",
    ),
    ("invokeAgent", "POST", "/api/v1/sandboxes/{id}/invoke"),
    (
        "cancelInvoke",
        "POST",
        "/api/v1/sandboxes/{id}/invoke/cancel",
    ),
    ("listTemplates", "GET", "/api/v1/templates"),
    ("createTemplate", "POST", "/api/v1/templates"),
    ("getTemplate", "GET", "/api/v1/templates/{name}"),
    ("updateTemplate", "PUT", "/api/v1/templates/{name}"),
    ("deleteTemplate", "DELETE", "/api/v1/templates/{name}"),
    ("createWebhook", "POST", "/api/v1/webhooks"),
    ("listWebhooks", "GET", "/api/v1/webhooks"),
    ("deleteWebhook", "DELETE", "/api/v1/webhooks/{id}"),
    (
        "listWebhookDeliveries",
        "GET",
        "/api/v1/webhooks/{id}/deliveries",
    ),
    ("listPolicies", "GET", "/api/v1/governance/policies"),
    ("setClusterPolicy", "PUT", "/api/v1/governance/policies"),
    (
        "getNamespacePolicy",
        "GET",
        "/api/v1/governance/policies/{namespace}",
    ),
    (
        "setNamespacePolicy",
        "PUT",
        "/api/v1/governance/policies/{namespace}",
    ),
    (
        "deleteNamespacePolicy",
        "DELETE",
        "/api/v1/governance/policies/{namespace}",
    ),
    ("getEffectivePolicy", "GET", "/api/v1/governance/effective"),
    ("listAuditEvents", "GET", "/api/v1/audit/events"),
    ("getUsageAnalytics", "GET", "/api/v1/analytics/usage"),
    ("getCostEstimates", "GET", "/api/v1/analytics/costs"),
    ("adminListSandboxes", "GET", "/api/v1/admin/sandboxes"),
    ("adminGetSharing", "GET", "/api/v1/admin/sharing"),
    ("getCurrentUser", "GET", "/api/v1/user/me"),
    ("getPreferences", "GET", "/api/v1/user/preferences"),
    ("setPreferences", "PUT", "/api/v1/user/preferences"),
    ("listApiKeys", "GET", "/api/v1/user/api-keys"),
    ("createApiKey", "POST", "/api/v1/user/api-keys"),
    ("revokeApiKey", "DELETE", "/api/v1/user/api-keys/{keyId}"),
    ("getWarmPoolStatus", "GET", "/api/v1/warmpool/status"),
    ("setWarmPoolConfig", "PUT", "/api/v1/warmpool/config"),
    ("getClusterStatus", "GET", "/api/v1/cluster/status"),
    ("getClusterNodes", "GET", "/api/v1/cluster/nodes"),
    ("getHeadroom", "GET", "/api/v1/cluster/headroom"),
    ("setHeadroom", "PUT", "/api/v1/cluster/headroom"),
];

/// A matched operation and its path variables (decoded).
#[derive(Debug)]
pub(crate) struct Matched {
    pub op: &'static str,
    pub params: Vec<(&'static str, String)>,
}

/// What the mux makes of a (method, decoded path).
#[derive(Debug)]
pub(crate) enum Routed {
    Op(Matched),
    /// `OPTIONS` on any path (the CORS catch-all).
    Options,
    /// The mux's own 404 (`404 page not found`).
    NotFound,
    /// The mux's own 405 (empty body).
    MethodNotAllowed,
}

fn match_template(template: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut params = Vec::new();
    let mut rest = path;
    let tsegs: Vec<&'static str> = template.split('/').collect();
    for (i, tseg) in tsegs.iter().enumerate() {
        let last = i == tsegs.len() - 1;
        if i > 0 {
            rest = rest.strip_prefix('/')?;
        }
        if *tseg == "{path}" && last {
            params.push(("path", rest.to_string()));
            return Some(params);
        }
        let end = rest.find('/').unwrap_or(rest.len());
        let seg = &rest[..end];
        if let Some(name) = tseg.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            if seg.is_empty() {
                return None;
            }
            params.push((name, seg.to_string()));
        } else if *tseg != seg {
            return None;
        }
        rest = &rest[end..];
    }
    rest.is_empty().then_some(params)
}

/// Route a request the way the Router's mux does (see router-api.md §1.1).
pub(crate) fn route(method: &str, path: &str) -> Routed {
    for (op, m, template) in OPERATIONS {
        if let Some(params) = match_template(template, path) {
            if *m == method {
                return Routed::Op(Matched { op, params });
            }
            // A wrong method on the last route registered escapes the subrouter's 404.
            if *op == "cancelInvoke" {
                return Routed::MethodNotAllowed;
            }
        }
    }
    if method == "OPTIONS" {
        return Routed::Options;
    }
    if path.starts_with("/api/v1") {
        Routed::NotFound
    } else {
        // The OPTIONS catch-all matches every path, so the mux reports a method mismatch.
        Routed::MethodNotAllowed
    }
}

/// Admin-gated operations (`requireAdmin`).
pub(crate) fn admin_only(op: &str) -> bool {
    matches!(
        op,
        "createTemplate"
            | "updateTemplate"
            | "deleteTemplate"
            | "setClusterPolicy"
            | "setNamespacePolicy"
            | "deleteNamespacePolicy"
            | "listAuditEvents"
            | "getUsageAnalytics"
            | "getCostEstimates"
            | "adminListSandboxes"
            | "adminGetSharing"
            | "setWarmPoolConfig"
            | "getClusterNodes"
            | "setHeadroom"
    )
}

/// The action group a sandbox-scoped key needs for an operation, or `None` when scoped keys
/// may not call it at all (router-api.md §1.7).
pub(crate) fn scope_group(op: &str) -> Option<&'static str> {
    Some(match op {
        "execCommand" => "run-command",
        "listFiles" | "readFile" | "downloadArchive" => "files:read",
        "writeFile" => "files:write",
        "listPorts" | "forwardPort" | "removePort" => "ports",
        "configureAgent" | "getInstallLog" => "agent:configure",
        "invokeAgent" | "cancelInvoke" => "agent:invoke",
        "resumeSandbox" => "resume",
        "stopSandbox" => "stop",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, path: &str) -> String {
        match route(method, path) {
            Routed::Op(m) => format!("{}{:?}", m.op, m.params),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn matches_like_the_mux() {
        assert_eq!(op("GET", "/api/v1/sandboxes"), "listSandboxes[]");
        assert_eq!(op("GET", "/api/v1/sandboxes/"), "NotFound");
        assert_eq!(op("GET", "/api/v1/sandboxes/d/files"), "NotFound");
        assert_eq!(
            op("GET", "/api/v1/sandboxes/d/files/"),
            "listFiles[(\"id\", \"d\")]"
        );
        assert_eq!(
            op("PUT", "/api/v1/sandboxes/d/files/workspace/a/b.txt"),
            "writeFile[(\"id\", \"d\"), (\"path\", \"workspace/a/b.txt\")]"
        );
        assert_eq!(op("POST", "/api/v1/templates/x"), "NotFound");
        assert_eq!(
            op("GET", "/api/v1/sandboxes/d/invoke/cancel"),
            "MethodNotAllowed"
        );
        assert_eq!(op("POST", "/healthz"), "MethodNotAllowed");
        assert_eq!(op("GET", "/api/v2/x"), "MethodNotAllowed");
        assert_eq!(op("OPTIONS", "/api/v1/x"), "Options");
        assert_eq!(
            op("POST", "/api/v1/sandboxes/bulk"),
            "bulkCreateSandboxes[]"
        );
    }

    #[test]
    fn sixty_four_operations() {
        assert_eq!(OPERATIONS.len(), 64);
    }
}
