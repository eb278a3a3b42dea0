//! One module per Router area. Each imports the core and the HTTP helpers, never another
//! area; the dispatcher above them picks the handler for an operation.

pub(crate) mod admin;
pub(crate) mod agent;
pub(crate) mod backups;
pub(crate) mod bulk;
pub(crate) mod cluster;
pub(crate) mod exec;
pub(crate) mod files;
pub(crate) mod governance;
pub(crate) mod health;
pub(crate) mod ports;
pub(crate) mod preview;
pub(crate) mod sandboxes;
pub(crate) mod sharing;
pub(crate) mod templates;
pub(crate) mod terminal;
pub(crate) mod user;
pub(crate) mod warm_pool;
pub(crate) mod webhooks;
