//! The HTTP layer: the listener and request pipeline, the gorilla/mux-like matcher, the
//! auth middleware and gates, fault injection and request recording, and the helpers areas
//! use to read a call and write a response. It imports the core, never an area.

pub(crate) mod auth;
pub(crate) mod call;
pub(crate) mod faults;
pub(crate) mod mux;
pub(crate) mod respond;
pub(crate) mod server;
