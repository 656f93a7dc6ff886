//! Noyo over real loopback HTTP: the exact request, milliseconds and the JWT's `exp`, every error
//! class, hostile bodies, and the whole flow through the cache against the test kit's mock.

mod end_to_end;
mod errors;
mod hostile;
mod lifetime;
mod request;
mod support;
