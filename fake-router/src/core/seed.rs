//! What a FakeRouter starts with unless told otherwise.

use serde_json::{Value, json};

/// The templates every FakeRouter starts with.
pub(crate) fn defaults() -> Vec<(String, Value)> {
    vec![
        (
            "general-coding".to_string(),
            json!({
                "mode": "code",
                "description": "General-purpose coding sandbox",
                "image": {"repository": "ghcr.io/agenttier/sandbox-general", "pullPolicy": "IfNotPresent"},
                "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
                "storage": {"size": "10Gi", "mountPath": "/workspace"},
                "timeout": "8h0m0s",
                "idleTimeout": "30m0s",
            }),
        ),
        (
            "agent-python".to_string(),
            json!({
                "mode": "agent",
                "description": "Python agent runtime",
                "image": {"repository": "ghcr.io/agenttier/sandbox-python", "pullPolicy": "IfNotPresent"},
                "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
                "storage": {"size": "10Gi", "mountPath": "/workspace"},
                "harness": {
                    "agent": {
                        "entrypoint": ["python", "/workspace/agent.py"],
                        "workingDir": "/workspace",
                        "maxConcurrentInvokes": 4,
                        "defaultInvokeTimeout": "30m0s",
                    }
                },
            }),
        ),
    ]
}
