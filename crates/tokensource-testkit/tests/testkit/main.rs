//! The mock servers, driven by a plain HTTP client: each protocol as documented, the faults, and
//! the protected API.

mod api;
mod faults;
mod noyo;
mod oauth2;
mod support;
mod tls;
mod younium;
