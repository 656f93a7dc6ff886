//! The client-credentials provider against wiremock servers on loopback: the exact request, the
//! success parse, every error class, and hostile bodies.

mod assertion;
mod cached;
mod fixtures;
mod hostile;
mod rejections;
mod request;
mod success;
mod transport;
