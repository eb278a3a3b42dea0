//! The selected context's cluster: where its API server is and how to trust it, for the
//! Kubernetes API calls of `crate::connect` (discovery).

use std::io::Read;

use base64::Engine as _;

use super::Kubeconfig;
use super::file::nonempty;
use crate::{Error, Result};

/// Most read of a `certificate-authority` file.
const MAX_CA_FILE: u64 = 1 << 20;

/// A kubeconfig cluster's API server and how to trust it.
pub(crate) struct ClusterAccess {
    /// `server`.
    pub(crate) server: String,
    /// The PEM of `certificate-authority-data` (decoded), else of the `certificate-authority` file.
    pub(crate) certificate_authority: Option<Vec<u8>>,
    /// `insecure-skip-tls-verify`.
    pub(crate) insecure_skip_tls_verify: bool,
}

impl Kubeconfig {
    /// The cluster of the selected context.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `kubeconfig`) when the context names no cluster, the
    /// cluster is missing or has no `server`, or its CA cannot be read or decoded.
    pub(crate) fn cluster(&self) -> Result<ClusterAccess> {
        let shown = self.path.display();
        let bad = |message: String| Error::invalid("kubeconfig", message);
        let context = self
            .context
            .as_deref()
            .ok_or_else(|| bad(format!("kubeconfig {shown} sets no current-context")))?;
        let entry = self
            .file
            .contexts
            .iter()
            .flatten()
            .find(|c| c.name == context)
            .and_then(|c| c.context.as_ref())
            .ok_or_else(|| bad(format!("kubeconfig {shown} has no context `{context}`")))?;
        let name = nonempty(&entry.cluster).ok_or_else(|| {
            bad(format!(
                "context `{context}` in kubeconfig {shown} names no cluster"
            ))
        })?;
        let cluster = self
            .file
            .clusters
            .iter()
            .flatten()
            .find(|c| c.name == name)
            .and_then(|c| c.cluster.as_ref())
            .ok_or_else(|| bad(format!("cluster `{name}` is not in kubeconfig {shown}")))?;
        let server = nonempty(&cluster.server).ok_or_else(|| {
            bad(format!(
                "cluster `{name}` in kubeconfig {shown} has no server"
            ))
        })?;
        let certificate_authority =
            if let Some(data) = nonempty(&cluster.certificate_authority_data) {
                let compact: String = data.split_whitespace().collect();
                let pem = base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .map_err(|_| {
                        bad(format!(
                            "the certificate-authority-data of cluster `{name}` in kubeconfig \
                         {shown} is not base64"
                        ))
                    })?;
                Some(pem)
            } else if let Some(file) = nonempty(&cluster.certificate_authority) {
                // client-go resolves it against the kubeconfig's directory.
                let path = self.path.parent().unwrap_or(&self.path).join(file);
                let mut pem = Vec::new();
                std::fs::File::open(&path)
                    .and_then(|f| f.take(MAX_CA_FILE).read_to_end(&mut pem))
                    .map_err(|e| {
                        bad(format!(
                            "cannot read the certificate-authority {} of cluster `{name}`: {e}",
                            path.display()
                        ))
                    })?;
                Some(pem)
            } else {
                None
            };
        Ok(ClusterAccess {
            server: server.to_owned(),
            certificate_authority,
            insecure_skip_tls_verify: cluster.insecure_skip_tls_verify == Some(true),
        })
    }
}
