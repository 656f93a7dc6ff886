//! Younium over real loopback HTTP: the exact request, the success parse, every error class,
//! hostile bodies, and the whole flow through the cache against the test kit's mock.

mod end_to_end;
mod errors;
mod hostile;
mod request;
mod success;
mod support;
